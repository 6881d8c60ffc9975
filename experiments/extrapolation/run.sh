#!/usr/bin/env bash
# Long-context extrapolation (the paper's Figure 5 at CPU scale): an MQA
# Transformer, Hawk and Griffin of about the same size trained on the Debian
# English corpus with sequences of 256 tokens, then the held-out loss by
# position in sequences of 2048 (8x the training length).
#
# The held-out documents are read as one text with their BOS tokens taken
# out: few documents of this corpus are longer than 2048 tokens, and with
# the BOS in place every document would restart the models' positions and
# state, so no position past a document's length would be tested.
#
# usage: experiments/extrapolation/run.sh [WORKDIR (default build/exp-extrapolation)]
#   env: STEPS (default 1000), GRIFFIN (the binary), CORPUS (the corpus folder)
# Writes experiments/extrapolation/results/{loss_by_position.csv,models.csv,loss_by_position.png}.
name=extrapolation
source "$(dirname "$0")/../common.sh"
work=${1:-build/exp-extrapolation}
steps=${STEPS:-1000}
train_T=256 eval_T=2048 buckets=32
mkdir -p "$work"

fetch_corpus
strip_bos "$corpus_dir/val.npy" "$work/val_stream.npy"

csv=$results/loss_by_position.csv
echo "model,params,position_from,position_to,loss" > "$csv"
echo "model,params,train_seq,steps,final_train_loss,loss_below_train_length,loss_last_train_length" > "$results/models.csv"
for arch in mqa hawk griffin; do
  # width 128, 4 blocks, 2 heads of 64; MQA's attention is global (window
  # past the evaluation length), Griffin's local with a window of half the
  # training length, as the paper's Griffin has a window shorter than its
  # training sequences
  window=128
  [ "$arch" = mqa ] && window=4096
  write_config "$work/$arch.json" "$arch" 4096 128 4 2 "$window"
  say "training $arch for $steps steps of 8 x $train_T tokens"
  rm -rf "$work/$arch"
  t0=$(date +%s)
  "$bin" train --config "$work/$arch.json" --data "$corpus_dir/train.npy" --out "$work/$arch" \
    --steps "$steps" --batch 8 --seq $train_T --lr 2e-3 --warmup 50 --eval-every 0 \
    --save-every "$steps" --seed 1 > "$work/$arch.train.log" 2>&1
  secs=$(( $(date +%s) - t0 ))
  n=$(params "$work/$arch/latest")
  final=$(tail -n 1 "$work/$arch/log.csv" | cut -d, -f2)
  say "evaluating $arch ($n parameters) by position up to $eval_T"
  "$bin" eval --model "$work/$arch/latest" --data "$work/val_stream.npy" --seq $eval_T \
    --per-position --buckets $buckets > "$work/$arch.eval.txt"
  sed -n 's/^positions *\([0-9]*\)-\([0-9]*\) *loss \([0-9.]*\).*/\1,\2,\3/p' "$work/$arch.eval.txt" |
    sed "s/^/$arch,$n,/" >> "$csv"
  at_T=$(awk -F, -v a="$arch" -v T=$train_T '$1 == a && $3 < T { s += $5; k++ } END { printf "%.4f", s / k }' "$csv")
  at_8x=$(awk -F, -v a="$arch" -v T=$(( eval_T - train_T )) '$1 == a && $3 >= T { s += $5; k++ } END { printf "%.4f", s / k }' "$csv")
  echo "$arch,$n,$train_T,$steps,$final,$at_T,$at_8x" >> "$results/models.csv"
  say "$arch: trained in $secs s; loss $at_T below position $train_T, $at_8x over the last $train_T"
done

png=$results/loss_by_position.png
gnuplot <<EOF
set terminal pngcairo size 900,560
set output "$png"
set datafile separator ","
set title "Held-out loss by position, trained on $train_T-token sequences (Debian English corpus)"
set xlabel "position in the sequence (tokens)"
set ylabel "mean loss in a bucket of $(( eval_T / buckets )) positions (nats/token)"
set logscale x 2
set key top left
set grid
set arrow from $train_T, graph 0 to $train_T, graph 1 nohead dashtype 2
set label "training length" at $train_T, graph 0.95 offset 0.5,0
plot for [a in "mqa hawk griffin"] "< grep '^".a.",' $csv" using ((\$3 + \$4) / 2 + 1):5 with linespoints title a
EOF
plot_done "$png"
column -s, -t "$results/models.csv" >&2
