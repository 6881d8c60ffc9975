#!/usr/bin/env bash
# Figure 4 analogue: decode step time vs position, MQA Transformer / Hawk /
# Griffin at equal parameters, batch 1 and 16 (bench/README.md).
# Writes bench/results/decode_latency.csv (+ .png, .meta.txt) and
# decode_latency_check.csv (real prefill vs the synthetic state at one position).
# usage: bench/fig_decode_latency.sh [decode_latency options...]   e.g. --threads 2
#        Extra options go to the sweep and to the check (which then sets its own --batch);
#        defaults take ~3-4 minutes on 2 idle cores. PLOT_ONLY=1: redraw from the CSV only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/plot_common.sh
if [ "${PLOT_ONLY:-0}" != 1 ]; then # PLOT_ONLY=1: redraw the PNG from the existing CSV
  run_figure decode_latency --positions 0:8192:256 "$@"
  # the method check: a real prefill of 1024 tokens against the synthetic state
  "$build/bench/decode_latency" "$@" --check-prefill 1024 --batch 1,4 --out "$res/decode_latency_check.csv"
  # the flatness check of issue 5 (Hawk at 4096 within 10 % of 16): the two
  # positions in turn six times, 9 steps each, so drift falls on both (three
  # times left single pairs to the host's jumps between its plateaus)
  "$build/bench/decode_latency" "$@" --positions 16,4096,16,4096,16,4096,16,4096,16,4096,16,4096 --steps 9 \
    --out "$res/decode_latency_16_vs_4096.csv"
  finish_figure decode_latency
fi

csv=$res/decode_latency.csv
split_csv "$csv"
batches=$(awk -F, 'NR > 1 { print $7 }' "$csv" | sort -nu | tr '\n' ' ')
n=$(echo $batches | wc -w)
params=$(awk -F, 'NR > 1 && $1 == "griffin" { printf "%.0fM", $2 / 1e6; exit }' "$csv")
gwin=$(awk -F, 'NR > 1 && $1 == "griffin" { print $4; exit }' "$csv")
{
  echo "set terminal $GP_TERM"
  echo "set output '$res/decode_latency.png'"
  echo "set datafile separator ','"
  echo "set multiplot layout 2,$n title 'Decode on $(nproc) cores, ${params} parameters each (Griffin window $gwin)'"
  echo "set grid; set key top left; set autoscale xfix"
  for row in step total; do
    for B in $batches; do
      if [ $row = step ]; then
        echo "set title 'batch $B: time of one decode step'; set xlabel 'position'; set ylabel 'ms per step'"
        col=10
      else
        echo "set title 'batch $B: time to sample N tokens (empty prompt)'; set xlabel 'N tokens'; set ylabel 'seconds (integrated)'"
        col=14
      fi
      echo "plot for [a in 'mqa hawk griffin'] '$split/'.a.'.csv' using 8:((\$7 == $B) ? \$$col : NaN) with linespoints pt 7 ps 0.5 title a"
    done
  done
  echo "unset multiplot"
} | gnuplot
echo "wrote $csv, $res/decode_latency_check.csv, $res/decode_latency_16_vs_4096.csv, $res/decode_latency.png" >&2
