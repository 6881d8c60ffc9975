#!/usr/bin/env bash
# Figure 1(b) analogue: the largest decode throughput of MQA Transformer /
# Hawk / Griffin (equal parameters) when weights + batch x state share one
# memory budget, for generation lengths 512..4096 (bench/README.md).
# Writes bench/results/decode_throughput.csv (+ .png, .meta.txt).
# usage: bench/fig_decode_throughput.sh [decode_throughput options...]   e.g. --budget 3G
#        Defaults (2 GiB budget, batch cap 256) take ~2.5 minutes on 2 idle cores.
#        PLOT_ONLY=1: redraw the PNG from the existing CSV only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/plot_common.sh
if [ "${PLOT_ONLY:-0}" != 1 ]; then # PLOT_ONLY=1: redraw the PNG from the existing CSV
  run_figure decode_throughput "$@"
  finish_figure decode_throughput
fi

csv=$res/decode_throughput.csv
split_csv "$csv"
params=$(awk -F, 'NR > 1 && $1 == "griffin" { printf "%.0fM", $4 / 1e6; exit }' "$csv")
budget=$(awk -F, 'NR > 1 { printf "%.2f GiB", $7 / 1073741824; exit }' "$csv")
cap=$(awk -F, 'NR > 1 && $10 == "cap" { print $9; exit }' "$csv")
{
  echo "set terminal $GP_TERM"
  echo "set output '$res/decode_throughput.png'"
  echo "set datafile separator ','"
  echo "set multiplot layout 1,2 title 'Decode throughput, weights + batch x state <= $budget, ${params} parameters each, $(nproc) cores${cap:+ (batch capped at $cap)}'"
  echo "set grid; set key top right; set logscale x 2; set xtics (512, 1024, 2048, 4096, 8192); set xrange [*:*] noextend; set offsets graph 0.05, graph 0.05, 0, 0"
  echo "set title 'maximum throughput'; set xlabel 'tokens generated (empty prompt)'; set ylabel 'tokens / s'; set yrange [0:*]"
  echo "plot for [a in 'mqa hawk griffin'] '$split/'.a.'.csv' using 2:16 with linespoints pt 7 lw 2 title a"
  echo "set title 'batch: run (solid), would fit the budget (dashed)'; set ylabel 'sequences'; set logscale y 2; set yrange [*:*]; set key bottom left"
  echo "plot for [i=1:3] '$split/'.word('mqa hawk griffin', i).'.csv' using 2:9 with linespoints pt 7 lw 2 lc i title word('mqa hawk griffin', i), \\"
  echo "     for [i=1:3] '$split/'.word('mqa hawk griffin', i).'.csv' using 2:8 with linespoints pt 6 lw 1 dt 2 lc i notitle"
  echo "unset multiplot"
} | gnuplot
echo "wrote $csv, $res/decode_throughput.png" >&2
