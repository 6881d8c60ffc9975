#!/usr/bin/env bash
# Figure 3 analogue: training step time vs sequence length at a fixed number
# of tokens per batch, MQA Transformer / Hawk / Griffin at equal parameters
# (bench/README.md). Writes bench/results/train_step_time.csv (+ .png, .meta.txt).
# usage: bench/fig_train_step_time.sh [train_step_time options...]   e.g. --seq 256,1024,4096
#        Defaults (14M parameters, 4096 tokens per step) take ~4 minutes on 2 idle cores.
#        PLOT_ONLY=1: redraw the PNG from the existing CSV only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/plot_common.sh
if [ "${PLOT_ONLY:-0}" != 1 ]; then # PLOT_ONLY=1: redraw the PNG from the existing CSV
  run_figure train_step_time "$@"
  finish_figure train_step_time
fi

csv=$res/train_step_time.csv
split_csv "$csv"
params=$(awk -F, 'NR > 1 && $1 == "griffin" { printf "%.1fM", $2 / 1e6; exit }' "$csv")
tokens=$(awk -F, 'NR > 1 { print $5; exit }' "$csv")
gwin=$(awk -F, 'NR > 1 && $1 == "griffin" { print $4; exit }' "$csv")
# the reference of the right panel: MQA at the shortest sequence (the paper's
# Figure 3 normalises by MQA at its shortest length)
ref=$(awk -F, 'NR > 1 && $1 == "mqa" { if (!seen || $6 < t) { t = $6; r = $9; seen = 1 } } END { if (seen) print r }' "$csv")
{
  echo "set terminal $GP_TERM"
  echo "set output '$res/train_step_time.png'"
  echo "set datafile separator ','"
  echo "set multiplot layout 1,2 title 'Training step (forward + backward), ${tokens} tokens per step, ${params} parameters each, Griffin window $gwin, $(nproc) cores'"
  echo "set grid; set key top left; set logscale x 2; set offsets graph 0.05, graph 0.05, 0, 0; set xlabel 'sequence length T (rows = tokens / T)'; set yrange [0:*]"
  echo "set title 'time per step'; set ylabel 'seconds'"
  echo "plot for [a in 'mqa hawk griffin'] '$split/'.a.'.csv' using 6:9 with linespoints pt 7 lw 2 title a"
  if [ -n "$ref" ]; then
    echo "set title 'relative to MQA at the shortest T'; set ylabel 'step time / MQA at the shortest T'"
    echo "plot for [a in 'mqa hawk griffin'] '$split/'.a.'.csv' using 6:(\$9 / $ref) with linespoints pt 7 lw 2 title a"
  else
    echo "set title 'achieved model GFLOP/s (estimate)'; set ylabel 'GFLOP/s'"
    echo "plot for [a in 'mqa hawk griffin'] '$split/'.a.'.csv' using 6:15 with linespoints pt 7 lw 2 title a"
  fi
  echo "unset multiplot"
} | gnuplot
echo "wrote $csv, $res/train_step_time.png" >&2
