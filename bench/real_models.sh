#!/bin/bash
# Speed and resident memory of models of RecurrentGemma's real shapes, with
# random weights (no download): decode at batch 1 and prefill tokens/s, and
# the peak resident set of the whole `griffin generate` run (/usr/bin/time -v).
#
#   bench/real_models.sh [--reps 3] [--prompt 64] [-n 16] DIR...
#
# Each DIR a model directory (see bench/REPORT.md, "RecurrentGemma-2B and
# -9B shapes", for how the random ones are written: build/bench/random_model
# then griffin quantize). Prints one line per model: the medians over --reps
# runs, the largest peak RSS, and `griffin info`'s tensor bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3 PROMPT=64 GEN=16 BIN=${BIN:-build/griffin}
dirs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --prompt) PROMPT=$2; shift 2 ;;
        -n) GEN=$2; shift 2 ;;
        -h|--help) sed -n 2,11p "$0"; exit 0 ;;
        *) dirs+=("$1"); shift ;;
    esac
done
[ -x /usr/bin/time ] || { echo "real_models.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
IDS=$(python3 -c "print(','.join(str((i*7919)%250000+3) for i in range($PROMPT)))")
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; prompt $PROMPT ids, $GEN generated; $REPS runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-28s %-6s %12s %10s %10s %10s\n" model type "tensor GiB" "prefill" "decode" "peak RSS"
for d in "${dirs[@]}"; do
    tmp=$(mktemp)
    for r in $(seq "$REPS"); do
        /usr/bin/time -v "$BIN" generate --model "$d" --prompt-ids "$IDS" -n "$GEN" --temp 0 --no-eos \
            >/dev/null 2>"$tmp.err" || { cat "$tmp.err" >&2; exit 1; }
        line=$(sed -nE 's/.*\(([0-9.]+) tokens\/s\);.*\(([0-9.]+) tokens\/s.*/\1 \2/p' "$tmp.err")
        rss=$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$tmp.err")
        echo "$line $rss" >>"$tmp"
    done
    type=$("$BIN" info --model "$d" | sed -nE 's/^weights: *([A-Za-z0-9]+),.*/\1/p')
    bytes=$("$BIN" info --model "$d" | sed -nE 's/^tensor data:.*\(([0-9]+) bytes\)/\1/p')
    p=$(cut -d' ' -f1 "$tmp" | median) dd=$(cut -d' ' -f2 "$tmp" | median) rss=$(cut -d' ' -f3 "$tmp" | sort -g | tail -1)
    awk -v m="$(basename "$d")" -v t="$type" -v b="$bytes" -v p="$p" -v d="$dd" -v r="$rss" \
        'BEGIN {printf "%-28s %-6s %12.2f %10.2f %10.2f %7.2f GiB\n", m, t, b / 2^30, p, d, r / 2^20}'
    rm -f "$tmp" "$tmp.err"
done
