#!/usr/bin/env bash
# Data-parallel training speed on this machine: training tokens/s of one
# process (1 thread, all threads) against `mpirun -np 2` (one thread per
# rank; the gradient exchange overlapped with the backward, and not), same
# model, same global batch, same steps. Each variant runs REPEAT times and
# keeps its best (the machine may be shared). Ratios are to one process on
# the same cores in the same sitting.
#   bench/dp_speed.sh [CONFIG] [STEPS] [REPEAT]
#   (default configs/griffin-demo.json, 30 steps, 3 repeats; writes
#   bench/results/dp_speed.csv and .meta.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/griffin-demo.json}
steps=${2:-30}
repeat=${3:-3}
bin=build/griffin
data=demo/corpus/train.npy
[ -x "$bin" ] || { echo "dp_speed: build first (make)" >&2; exit 1; }
[ -f "$data" ] || { echo "dp_speed: no $data (make demo)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "dp_speed: no mpirun (apt-get install openmpi-bin)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/griffin-dpspeed.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
B=8 T=256
common="--config $config --data $data --seq $T --steps $steps --eval-every 0 --save-every 0 --warmup 5"
MPI="mpirun --allow-run-as-root --bind-to core"
out=bench/results/dp_speed.csv
mkdir -p bench/results
bash bench/machine_info.sh >bench/results/dp_speed.meta.txt

# tokens/s of a run: the last step's average since the start (log.csv)
rate() { tail -1 "$1/log.csv" | cut -d, -f6; }
best() { # NAME CMD...: best tokens/s of REPEAT runs
  local name=$1 b=0 r
  shift
  for i in $(seq "$repeat"); do
    rm -rf "$tmp/run"
    "$@" --out "$tmp/run" >/dev/null 2>"$tmp/err" || { echo "dp_speed: $name failed: $(tail -2 "$tmp/err")" >&2; exit 1; }
    r=$(rate "$tmp/run")
    b=$(python3 -c "print(max($b, $r))")
  done
  echo "$b"
}
one1=$(best "1 process, 1 thread" "$bin" train $common --batch $B --threads 1)
one2=$(best "1 process, 2 threads" "$bin" train $common --batch $B --threads 2)
two=$(best "2 ranks" $MPI -np 2 "$bin" train $common --batch $((B / 2)) --threads 1)
two_seq=$(best "2 ranks, no overlap" env GRIFFIN_DP_OVERLAP=0 $MPI -x GRIFFIN_DP_OVERLAP -np 2 "$bin" train $common --batch $((B / 2)) --threads 1)
params=$("$bin" info --config "$config" 2>/dev/null | sed -n 's/^parameters: *\([0-9,]*\).*/\1/p' | tr -d , | head -1)
{
  echo "variant,processes,threads_each,tokens_per_s,vs_one_process_same_cores"
  echo "one process,1,1,$one1,1.000"
  python3 - "$one1" "$one2" "$two" "$two_seq" <<'EOF'
import sys
o1, o2, t, ts = map(float, sys.argv[1:])
print("one process,1,2,%.1f,1.000" % o2)
print("mpirun -np 2 (overlap),2,1,%.1f,%.3f" % (t, t / o2))
print("mpirun -np 2 (no overlap),2,1,%.1f,%.3f" % (ts, ts / o2))
EOF
} >"$out"
echo "config $config (${params:-?} parameters), global batch $B x $T tokens, $steps steps, best of $repeat"
column -s, -t "$out"
echo "(the 2-process and 2-thread rows use the same 2 cores: the ratio is to one process with 2 threads)"
echo "wrote $out"
