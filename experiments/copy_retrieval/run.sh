#!/usr/bin/env bash
# Copy and retrieval (the paper's section 6.2 and appendix H at CPU scale):
# small MQA Transformer, Hawk and Griffin models of about the same size
# trained on selective copying, induction heads and phonebook lookup
# (`griffin task`; the loss counts only the answer tokens), then
#   - held-out accuracy against training steps,
#   - selective copying and induction heads evaluated at 1x, 2x, 4x, 8x the
#     training length,
#   - phonebook accuracy against the number of entries in the book, trained
#     on books of 4..12 entries and evaluated on 4..48.
#
# usage: experiments/copy_retrieval/run.sh [WORKDIR (default build/exp-copy-retrieval)]
#   env: STEPS (default 1500), GRIFFIN (the binary)
# Writes experiments/copy_retrieval/results/: accuracy_vs_steps.csv,
# length_extrapolation.csv, phonebook.csv, models.csv and a PNG of each.
name=copy_retrieval
source "$(dirname "$0")/../common.sh"
work=${1:-build/exp-copy-retrieval}
steps=${STEPS:-1500}
L=64 # training length of selective copying and induction heads
mkdir -p "$work"

# The task files: training sets (seed 1), held-out sets (seed 2) at the
# training length and at 2x..8x, phonebooks of fixed sizes (seed 3).
task() { "$bin" task "$@" > /dev/null; }
task selective-copy --out "$work/sc-train" --examples 60000 --seq $L --data-tokens 8 --seed 1
task induction-heads --out "$work/ih-train" --examples 60000 --seq $L --seed 1
for m in 1 2 4 8; do
  task selective-copy --out "$work/sc-val-$m" --examples 200 --seq $(( m * L )) --data-tokens 8 --seed 2
  task induction-heads --out "$work/ih-val-$m" --examples 200 --seq $(( m * L )) --seed 2
done
pb="--name-len 2 --number-len 3"
task phonebook --out "$work/pb-train" --examples 60000 --entries 12 --min-entries 4 $pb --seed 1
task phonebook --out "$work/pb-val" --examples 200 --entries 12 --min-entries 4 $pb --seed 2
book_sizes="4 8 12 16 24 32 48"
for e in $book_sizes; do task phonebook --out "$work/pb-$e" --examples 200 --entries "$e" $pb --seed 3; done
pb_T=127 # rows of the phonebook runs: 128 tokens, a book of 12 entries is 92

echo "task,model,step,val_loss,token_accuracy,exact_match" > "$results/accuracy_vs_steps.csv"
echo "task,model,train_length,eval_length,ratio,token_accuracy,exact_match,loss" > "$results/length_extrapolation.csv"
echo "model,entries,tokens,token_accuracy,exact_match,loss" > "$results/phonebook.csv"
echo "model,params,layers,width,mlp,window" > "$results/models.csv"
for arch in mqa hawk griffin; do
  # width 64, 3 blocks (Griffin: recurrent, recurrent, local attention), 2
  # heads; MQA attends globally and gets a wider MLP to make up for its
  # smaller blocks (within 3 % of the others' parameters); Griffin's window
  # is half the training length
  window=32 mlp=192
  [ "$arch" = mqa ] && window=4096 mlp=208
  write_config "$work/$arch.json" "$arch" 64 64 3 2 "$window" "$mlp"
  for t in sc ih pb; do
    T=$(( L - 1 )) val=$work/$t-val-1
    [ $t = pb ] && T=$pb_T val=$work/pb-val
    run=$work/$t-$arch
    say "training $arch on $t for $steps steps"
    rm -rf "$run"
    "$bin" train --config "$work/$arch.json" --data "$work/$t-train.tokens.npy" --mask "$work/$t-train.mask.npy" \
      --val "$val.tokens.npy" --val-mask "$val.mask.npy" \
      --out "$run" --steps "$steps" --batch 32 --seq $T --lr 3e-3 --warmup 50 --eval-every 100 \
      --eval-windows 200 --save-every "$steps" --seed 1 > "$run.log" 2>&1
    paste -d, <(log_column "$run" val_loss) <(log_column "$run" val_token_acc | cut -d, -f2) \
      <(log_column "$run" val_exact_acc | cut -d, -f2) |
      awk -F, -v t=$t -v a=$arch '{ print t "," a "," $1 "," $2 "," $3 "," $4 }' >> "$results/accuracy_vs_steps.csv"
    if [ $t = pb ]; then
      for e in $book_sizes; do
        len=$(( 1 + (e + 1) * 7 ))
        r=$(eval_masked "$run/latest" "$work/pb-$e" $(( len - 1 )))
        echo "$arch,$e,$len,$r" >> "$results/phonebook.csv"
      done
    else
      for m in 1 2 4 8; do
        r=$(eval_masked "$run/latest" "$work/$t-val-$m" $(( m * L - 1 )))
        echo "$t,$arch,$L,$(( m * L )),$m,$r" >> "$results/length_extrapolation.csv"
      done
    fi
  done
  echo "$arch,$(params "$work/$t-$arch/latest"),3,64,$mlp,$window" >> "$results/models.csv"
done

# accuracy against steps: exact match of the held-out examples, one panel a task
gnuplot <<EOF
set terminal pngcairo size 1400,430
set output "$results/accuracy_vs_steps.png"
set datafile separator ","
set multiplot layout 1,3
set key bottom right
set grid
set yrange [0:1.02]
set xlabel "training step (32 rows a step)"
set ylabel "held-out exact match"
do for [t in "sc ih pb"] {
  set title (t eq "sc" ? "selective copying (length $L, 8 tokens)" : t eq "ih" ? "induction heads (length $L)" : "phonebook (4-12 entries)")
  plot for [a in "mqa hawk griffin"] "< grep '^".t.",".a.",' $results/accuracy_vs_steps.csv" using 3:6 with linespoints title a
}
unset multiplot
EOF
plot_done "$results/accuracy_vs_steps.png"

gnuplot <<EOF
set terminal pngcairo size 1000,430
set output "$results/length_extrapolation.png"
set datafile separator ","
set multiplot layout 1,2
set key bottom left
set grid
set yrange [0:1.02]
set logscale x 2
set xtics ("1x" 1, "2x" 2, "4x" 4, "8x" 8)
set xlabel "evaluation length / training length ($L)"
set ylabel "held-out exact match"
do for [t in "sc ih"] {
  set title (t eq "sc" ? "selective copying" : "induction heads")
  plot for [a in "mqa hawk griffin"] "< grep '^".t.",".a.",' $results/length_extrapolation.csv" using 5:7 with linespoints title a
}
unset multiplot
EOF
plot_done "$results/length_extrapolation.png"

gnuplot <<EOF
set terminal pngcairo size 700,450
set output "$results/phonebook.png"
set datafile separator ","
set title "Phonebook lookup: trained on books of 4-12 entries"
set key top right
set grid
set yrange [0:1.02]
set xlabel "entries in the book"
set ylabel "exact match of the number"
set arrow from 12, graph 0 to 12, graph 1 nohead dashtype 2
plot for [a in "mqa hawk griffin"] "< grep '^".a.",' $results/phonebook.csv" using 2:5 with linespoints title a
EOF
plot_done "$results/phonebook.png"
column -s, -t "$results/length_extrapolation.csv" >&2
column -s, -t "$results/phonebook.csv" >&2
