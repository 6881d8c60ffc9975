#!/usr/bin/env bash
# Scaling (the paper's Figure 1(a) at CPU scale): three sizes each of an MQA
# Transformer, Hawk and Griffin trained on the same tokens of the Debian
# English corpus (the same batches in the same order: one seed), then the
# held-out loss against the training FLOPs, on log axes.
#
# Training FLOPs = 6 x parameters x tokens (forward and backward of every
# matrix, the embedding's unembedding included) + 12 x width x the mean
# attended span x tokens for each attention block (its scores and weighted
# values, forward and backward); the RG-LRU's pointwise work is left out as
# the paper leaves it out.
#
# usage: experiments/scaling/run.sh [WORKDIR (default build/exp-scaling)]
#   env: STEPS (default 600: 1.2M tokens of 8 x 256), GRIFFIN, CORPUS,
#        PLOT_ONLY=1 (draw the figure again from results/scaling.csv)
# Writes experiments/scaling/results/{scaling.csv,scaling.png}.
name=scaling
source "$(dirname "$0")/../common.sh"
work=${1:-build/exp-scaling}
steps=${STEPS:-600}
B=8 T=256
mkdir -p "$work"
csv=$results/scaling.csv
if [ "${PLOT_ONLY:-0}" != 1 ]; then
fetch_corpus

echo "model,size,width,layers,params,tokens,train_flops,final_train_loss,val_loss" > "$csv"
# sizes: width x blocks (2 heads of width / 2 at 64, 4 above)
for size in "64 3 2" "128 4 2" "192 6 4"; do
  read -r width layers heads <<< "$size"
  for arch in mqa hawk griffin; do
    # the MQA Transformer's blocks are smaller, so it gets a wider MLP to
    # match the others' parameter count (within a few %); Griffin's local
    # attention window is 128, half the training length
    window=128 mlp=$(( 3 * width ))
    if [ "$arch" = mqa ]; then window=4096; mlp=$(( 3 * width + width / 4 )); fi
    tag=$arch-$width
    write_config "$work/$tag.json" "$arch" 4096 "$width" "$layers" "$heads" "$window" "$mlp"
    say "training $tag ($layers blocks) for $steps steps of $B x $T tokens"
    rm -rf "$work/$tag"
    "$bin" train --config "$work/$tag.json" --data "$corpus_dir/train.npy" --val "$corpus_dir/val.npy" \
      --out "$work/$tag" --steps "$steps" --batch $B --seq $T --lr 2e-3 --warmup 50 \
      --eval-every "$steps" --eval-windows 128 --save-every "$steps" --seed 1 > "$work/$tag.log" 2>&1
    n=$(params "$work/$tag/latest")
    n_attn=0
    case $arch in
      mqa) n_attn=$layers ;;
      griffin) n_attn=$(( layers / 3 )) ;;
    esac
    span=$(( (window < T ? window : T) / 2 ))
    tokens=$(( steps * B * T ))
    flops=$(awk -v n="$n" -v t="$tokens" -v a="$n_attn" -v w="$width" -v s="$span" \
      'BEGIN { printf "%.4g", 6 * n * t + 12 * a * w * s * t }')
    last=$(tail -n 1 "$work/$tag/log.csv")
    echo "$arch,$width,$width,$layers,$n,$tokens,$flops,$(echo "$last" | cut -d, -f2),$(echo "$last" | cut -d, -f8)" >> "$csv"
    say "$(tail -n 1 "$csv")"
  done
done
fi

gnuplot <<EOF
set terminal pngcairo size 800,520
set output "$results/scaling.png"
set datafile separator ","
set title "Held-out loss against training FLOPs ($(( steps * B * T )) tokens of the Debian corpus each)"
set logscale xy
# the losses span a few tenths: fit the axes to the points, not to decades
set autoscale fix
set offsets graph 0.08, graph 0.08, graph 0.1, graph 0.1
set xtics ("1e11" 1e11, "2e11" 2e11, "5e11" 5e11, "1e12" 1e12, "2e12" 2e12, "5e12" 5e12, "1e13" 1e13, \
  "2e13" 2e13, "5e13" 5e13, "1e14" 1e14, "2e14" 2e14, "5e14" 5e14, "1e15" 1e15)
set ytics ("2.5" 2.5, "3.0" 3.0, "3.5" 3.5, "3.8" 3.8, "4.0" 4.0, "4.2" 4.2, "4.4" 4.4, "4.6" 4.6, \
  "4.8" 4.8, "5.0" 5.0, "5.5" 5.5, "6.0" 6.0, "7.0" 7.0)
set xlabel "training FLOPs"
set ylabel "held-out loss (nats/token)"
set key top right
set grid
plot for [a in "mqa hawk griffin"] "< grep '^".a.",' $csv" using 7:9 with linespoints pointsize 1.5 title a
EOF
plot_done "$results/scaling.png"
column -s, -t "$csv" >&2
