#!/bin/bash
# Decode and prefill speed while other busy processes share the cores.
#
#   [PROMPT=200] [GEN=128] bench/busy_machine.sh [--bin build/griffin] [--model DIR] [--reps 5] [--busy "0 1 2"]
#
# For each count of competing workers (`stress-ng --cpu N`: N processes that
# spin on a core each) it runs `griffin generate` with --threads 1, the
# default, --threads 2 and --threads 1 again, --reps times, each time in a
# shuffled order, and
# prints the median prefill and decode tokens/s of each, with the default's
# ratio to --threads 1 and to its own speed on the quiet machine. Then, per
# sitting, the pairs: each repetition's default against its own --threads 1
# run, and (the control) its second --threads 1 run against the first: the
# ratio of their mean speeds with a 95 % bootstrap interval, and the median
# of the paired ratios. Two settings that run the same code give a
# control-like interval: that is the noise floor a difference must clear. Without --model it
# writes a random model of the demo's shape (configs/griffin-demo.json) with
# `griffin init` into a temporary folder. Needs stress-ng (Debian: apt-get
# install stress-ng). Other processes on the machine add noise: the medians
# of several runs are what to compare, and `uptime` is printed with them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/griffin MODEL= REPS=5 BUSY="0 1 2" PROMPT=${PROMPT:-200} GEN=${GEN:-128}
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --busy) BUSY=$2; shift 2 ;;
        -h|--help) sed -n 2,15p "$0"; exit 0 ;;
        *) echo "busy_machine.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
command -v stress-ng >/dev/null || { echo "busy_machine.sh: needs stress-ng (apt-get install stress-ng)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "busy_machine.sh: $BIN is not built (make)" >&2; exit 1; }
TMP=$(mktemp -d)
STRESS=
cleanup() {
    [ -n "$STRESS" ] && kill "$STRESS" 2>/dev/null && wait "$STRESS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
if [ -z "$MODEL" ]; then
    MODEL=$TMP/model
    "$BIN" init --config configs/griffin-demo.json --out "$MODEL" --seed 1 >/dev/null 2>&1 || { echo "busy_machine.sh: griffin init failed" >&2; exit 1; }
fi
V=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$MODEL/config.json")
IDS=$(python3 -c "import sys; v=int(sys.argv[1]); print(','.join(str((i*7919)%(v-3)+3) for i in range($PROMPT)))" "$V")

# one run: "prefill decode" tokens/s
run() {
    local t=$1 args=()
    [ "$t" != default ] && args=(--threads "$t")
    "$BIN" generate --model "$MODEL" --prompt-ids "$IDS" -n $GEN --temp 0 --no-eos "${args[@]}" 2>&1 >/dev/null |
        sed -nE 's/.*\(([0-9.]+) tokens\/s\);.*\(([0-9.]+) tokens\/s.*/\1 \2/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $BIN; model $MODEL; prompt $PROMPT, $GEN generated; $REPS runs each"
printf "%-5s %-8s %10s %10s %9s %9s %9s %9s  %s\n" busy threads prefill decode "pf/t1" "dec/t1" "pf/quiet" "dec/quiet" load
declare -A QUIET
for n in $BUSY; do
    if [ "$n" -gt 0 ]; then
        stress-ng --cpu "$n" --timeout 3600s >/dev/null 2>&1 &
        STRESS=$!
        sleep 1
    fi
    for t in 1 default 2 1b; do : >"$TMP/r_$t"; done
    for r in $(seq "$REPS"); do
        # each repetition in its own order (seeded): a run's place in the
        # sequence moved its speed by up to 15 % beside busy processes
        for t in $(python3 -c "import random, sys; o = ['1', 'default', '2', '1b']; random.Random(int(sys.argv[1])).shuffle(o); print(*o)" "$n$r"); do
            run "${t%b}" >>"$TMP/r_$t"
        done
    done
    load=$(cut -d' ' -f1 /proc/loadavg)
    declare -A P D
    for t in 1 default 2; do
        P[$t]=$(cut -d' ' -f1 "$TMP/r_$t" | median)
        D[$t]=$(cut -d' ' -f2 "$TMP/r_$t" | median)
        [ "$n" = 0 ] && QUIET[p$t]=${P[$t]} && QUIET[d$t]=${D[$t]}
    done
    for t in 1 default 2; do
        qp=${QUIET[p$t]:-} qd=${QUIET[d$t]:-}
        awk -v n="$n" -v t="$t" -v p="${P[$t]}" -v d="${D[$t]}" -v p1="${P[1]}" -v d1="${D[1]}" \
            -v qp="$qp" -v qd="$qd" -v load="$load" 'BEGIN {
            printf "%-5s %-8s %10.1f %10.1f %9.2f %9.2f %9s %9s  %s\n", n, t, p, d, p / p1, d / d1,
                qp ? sprintf("%.2f", p / qp) : "-", qd ? sprintf("%.2f", d / qd) : "-", load }'
    done
    python3 - "$TMP" "$n" <<'PY'
import random, statistics, sys
tmp, n = sys.argv[1], sys.argv[2]
rows = {t: [tuple(map(float, l.split())) for l in open(f"{tmp}/r_{t}") if l.strip()] for t in ("1", "default", "1b")}
rng = random.Random(1)
# Beside busy processes a run may get a whole core or share one, at the
# scheduler's choice, so the speeds are bimodal and a median of a few runs
# jumps between the modes: the ratio of the mean speeds (pairs resampled for
# the interval) is the steadier figure; the median of the paired ratios is
# printed beside it.
def ci(pairs):
    def ratio(ps):
        return sum(a for a, _ in ps) / sum(b for _, b in ps)
    rs = sorted(ratio(rng.choices(pairs, k=len(pairs))) for _ in range(2000))
    return ratio(pairs), rs[50], rs[1949], statistics.median(a / b for a, b in pairs)
for what, i in (("prefill", 0), ("decode", 1)):
    for name, t in (("default / t1", "default"), ("control: t1 again / t1", "1b")):
        k = min(len(rows[t]), len(rows["1"]))
        if k < 3:
            continue
        m, lo, hi, med = ci([(rows[t][j][i], rows["1"][j][i]) for j in range(k)])
        print(f"#   busy {n}: {what} {name}: ratio of means over {k} pairs {m:.3f} (95 % interval {lo:.3f} .. {hi:.3f});"
              f" median of the paired ratios {med:.3f}")
PY
    if [ -n "$STRESS" ]; then
        kill "$STRESS" 2>/dev/null; wait "$STRESS" 2>/dev/null || true
        STRESS=
    fi
done
