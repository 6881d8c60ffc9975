#!/usr/bin/env bash
# Loss curve of a training run: OUT/log.csv (written by `griffin train`) to a
# PNG with gnuplot: the training loss per step (faint), its moving average,
# the held-out loss where it was measured, and, when given, a baseline drawn
# across (such as the unigram entropy `griffin prepare` prints).
#
# usage: tools/plot_loss.sh OUT [PNG (default OUT/loss.png)] [BASELINE_NATS [LABEL]]
set -euo pipefail
run=${1:?usage: tools/plot_loss.sh OUT [PNG] [BASELINE_NATS [LABEL]]}
png=${2:-$run/loss.png}
base=${3:-}
label=${4:-unigram baseline}
csv=$run/log.csv
[ -s "$csv" ] || { echo "plot_loss: $csv is missing or empty" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot_loss: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
# the columns the plot reads, by name, so a reordered log fails loudly
header=$(head -n 1 "$csv")
# (a run trained on a loss mask adds the held-out accuracies after them)
case "$header" in
  "step,loss,lr,grad_norm,tokens,tokens_per_s,elapsed_s,val_loss" | \
  "step,loss,lr,grad_norm,tokens,tokens_per_s,elapsed_s,val_loss,val_token_acc,val_exact_acc") ;;
  *) echo "plot_loss: $csv: unexpected header '$header'" >&2; exit 1 ;;
esac
base_plot=""
if [ -n "$base" ]; then base_plot=", $base with lines dt 2 lw 2 lc rgb '#555555' title '$label ($base)'"; fi
gnuplot <<GP
set terminal png size 1000,600 noenhanced
set output '$png'
set datafile separator ','
set key top right
set grid
set xlabel 'training tokens (millions)'
set ylabel 'loss (nats / token)'
set title 'griffin train: $run'
# exponential moving average of the training loss
ema = -1
smooth(x) = (ema < 0 ? ema = x : ema = 0.97 * ema + 0.03 * x)
plot '$csv' every ::1 using (\$5/1e6):2 with lines lc rgb '#c8d8f0' title 'train loss (per step)', \\
     '' every ::1 using (\$5/1e6):(smooth(\$2)) with lines lw 2 lc rgb '#1f5fbf' title 'train loss (moving average)', \\
     '' every ::1 using (\$5/1e6):(strlen(strcol(8)) > 0 ? \$8 : 1/0) with linespoints pt 7 ps 1 lw 2 lc rgb '#d62728' title 'held-out loss'$base_plot
GP
echo "plot_loss: wrote $png" >&2
