#!/usr/bin/env bash
# `mpirun -np 2 griffin train` (data parallel, docs/distributed.md) on
# loopback, against the same command in one process:
#   - 2 ranks of --batch 2 give the losses and weights of one process of
#     --batch 4 up to float reassociation (relative loss difference <= 1e-5
#     at each of 20 steps; also with a loss mask and --accum 2), and
#     `mpirun -np 1` gives exactly one process's
#   - two 2-rank runs are bit-identical (log, weights, optimizer shards)
#   - SIGKILL of one rank mid-run: the other exits within 60 s with one line
#     naming the lost rank; the last checkpoint resumes on 2 ranks bit for
#     bit, and on 1 process (re-sharded) and a 1-process checkpoint on 2
#     ranks to within the same 1e-5
#   - ranks given other flags, or the same flags but other data, stop before
#     the first step with one error line; a rank that cannot start stops all
#
# Why 1e-5: one process sums a weight's gradient over its 4 rows in one
# matrix product, 2 ranks over 2 rows each and then add the two sums: the
# same terms in another order, float rounding (~1e-7 relative) a step,
# which AdamW carries into the next steps' losses; 20 steps measured
# ~2e-7 here, so 1e-5 leaves room while any real difference (a row taken
# twice, a wrong scale: 1e-2 and more) still fails.
#
# usage: tests/test_dist.sh [BUILD_DIR]. Prints a line per failed check and
# "test_dist: N passed, N failed"; exit 1 on a failure. Skipped (exit 0,
# "skipped") when mpirun is not installed or griffin was built without MPI.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$PWD/$build/griffin
tmp=$(mktemp -d /tmp/griffin-dist.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "test_dist: FAIL: $*"; failed=$((failed + 1)); }

if ! command -v mpirun >/dev/null 2>&1; then echo "test_dist: skipped (no mpirun: apt-get install openmpi-bin)"; exit 0; fi
if ! ldd "$bin" | grep -q libmpi; then echo "test_dist: skipped ($bin was built without MPI)"; exit 0; fi
# root in containers and CI; more ranks than cores allowed; loopback only
# no single-copy (CMA) transfers: containers often forbid process_vm_readv
MPI="mpirun --oversubscribe --allow-run-as-root --mca btl_tcp_if_include lo --mca btl_vader_single_copy_mechanism none"
export OMPI_MCA_rmaps_base_oversubscribe=1

cat >"$tmp/tiny.json" <<'EOF'
{"model_type":"recurrent_gemma","hidden_size":64,"intermediate_size":192,"num_hidden_layers":3,
 "num_attention_heads":2,"num_key_value_heads":1,"head_dim":32,"lru_width":64,"attention_window_size":16,
 "vocab_size":256,"block_types":["recurrent","recurrent","attention"]}
EOF
# tokens: a deterministic stream of 20,000 ids < 256 with BOS (2) now and then
python3 - "$tmp/data.npy" <<'EOF'
import struct, sys
n = 20000
ids = [2 if i % 97 == 0 else (i * 7919 + (i >> 3) * 31) % 253 + 3 for i in range(n)]
hdr = "{'descr': '<u2', 'fortran_order': False, 'shape': (%d,), }" % n
hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + struct.pack("<%dH" % n, *ids))
EOF
"$bin" task selective-copy --examples 400 --seq 48 --out "$tmp/task/sc" >/dev/null 2>&1 || fail "griffin task"
cat >"$tmp/tiny_task.json" <<'EOF'
{"model_type":"recurrent_gemma","hidden_size":64,"intermediate_size":192,"num_hidden_layers":2,
 "num_attention_heads":2,"num_key_value_heads":1,"head_dim":32,"lru_width":64,"attention_window_size":16,
 "vocab_size":64,"block_types":["recurrent","attention"]}
EOF

COMMON="--config $tmp/tiny.json --data $tmp/data.npy --seq 32 --eval-every 0 --threads 1 --warmup 5 --lr 3e-3"

# losses A B TOL: every step's loss in A/log.csv within TOL (relative) of B's
losses() {
  python3 - "$1/log.csv" "$2/log.csv" "$3" <<'EOF'
import csv, sys
# a resumed run's log repeats the steps after its checkpoint: the last line of a step counts
a = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(sys.argv[1]))}
b = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(open(sys.argv[2]))}
tol = float(sys.argv[3])
if sorted(a) != sorted(b) or not a: sys.exit("steps: %d vs %d" % (len(a), len(b)))
worst = max(abs(a[k] - b[k]) / abs(b[k]) for k in b)
print("worst relative loss difference %.3g over %d steps" % (worst, len(a)), file=sys.stderr)
sys.exit(0 if worst <= tol else "relative difference %.3g > %g" % (worst, tol))
EOF
}

# 1. 2 ranks x 2 rows = 1 process x 4 rows
"$bin" train $COMMON --batch 4 --steps 20 --out "$tmp/one" 2>"$tmp/one.err" || fail "one process: $(tail -1 "$tmp/one.err")"
$MPI -np 2 "$bin" train $COMMON --batch 2 --steps 20 --out "$tmp/two" 2>"$tmp/two.err" || fail "2 ranks: $(tail -3 "$tmp/two.err")"
if losses "$tmp/two" "$tmp/one" 1e-5 2>"$tmp/cmp.err"; then pass; else fail "2 ranks vs 1 process: $(cat "$tmp/cmp.err")"; fi
cat "$tmp/cmp.err"
grep -q "data parallel over 2 ranks, 2 rows each" "$tmp/two.err" && pass || fail "no data-parallel line: $(head -3 "$tmp/two.err")"
[ "$(grep -c '^step ' "$tmp/two.err")" = 20 ] && pass || fail "progress lines: $(grep -c '^step ' "$tmp/two.err") (one rank prints 20)"
[ -f "$tmp/two/latest/optimizer_shards.json" ] && [ -f "$tmp/two/latest/optimizer-00002-of-00002.safetensors" ] && pass ||
  fail "no sharded optimizer state in $(ls "$tmp/two/latest")"
# the weights: as close as the losses
python3 - "$tmp/one/latest/model.safetensors" "$tmp/two/latest/model.safetensors" <<'EOF' && pass || fail "weights differ"
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); return b[8 + n:], h
da, ha = load(sys.argv[1]); db, hb = load(sys.argv[2])
worst = 0.0
for k, v in ha.items():
    if k == "__metadata__": continue
    s, e = v["data_offsets"]; x = struct.unpack("<%df" % ((e - s) // 4), da[s:e]); y = struct.unpack("<%df" % ((e - s) // 4), db[s:e])
    scale = max(1e-6, max(abs(t) for t in x))
    worst = max(worst, max(abs(p - q) for p, q in zip(x, y)) / scale)
print("weights: worst difference %.3g of the tensor's largest" % worst, file=sys.stderr)
sys.exit(0 if worst < 1e-4 else 1)
EOF

# with a loss mask (rows of whole examples; targets counted over all ranks) and --accum 2
TASK="--config $tmp/tiny_task.json --data $tmp/task/sc.tokens.npy --mask $tmp/task/sc.mask.npy --seq 48 --eval-every 0 --threads 1 --warmup 3 --accum 2"
"$bin" train $TASK --batch 4 --steps 12 --out "$tmp/mone" 2>"$tmp/mone.err" || fail "masked one: $(tail -1 "$tmp/mone.err")"
$MPI -np 2 "$bin" train $TASK --batch 2 --steps 12 --out "$tmp/mtwo" 2>"$tmp/mtwo.err" || fail "masked 2 ranks: $(tail -3 "$tmp/mtwo.err")"
if losses "$tmp/mtwo" "$tmp/mone" 1e-5 2>"$tmp/cmp.err"; then pass; else fail "masked, accum 2: $(cat "$tmp/cmp.err")"; fi

# mpirun -np 1: one process as without mpirun, exactly
$MPI -np 1 "$bin" train $COMMON --batch 4 --steps 20 --out "$tmp/np1" 2>/dev/null || fail "-np 1 run"
cmp -s "$tmp/np1/latest/model.safetensors" "$tmp/one/latest/model.safetensors" &&
  cmp -s <(cut -d, -f2 "$tmp/np1/log.csv") <(cut -d, -f2 "$tmp/one/log.csv") && pass || fail "mpirun -np 1 differs from one process"

# 3 ranks, and many buckets (1000 floats: shards and buckets straddle),
# sent during the backward and after it: the sums are added in rank order
# whatever the buckets, so all three are the same bits, and one process of
# --batch 6 within 1e-5
"$bin" train $COMMON --batch 6 --steps 10 --out "$tmp/one6" 2>/dev/null || fail "one process, batch 6"
$MPI -np 3 "$bin" train $COMMON --batch 2 --steps 10 --out "$tmp/three" 2>"$tmp/three.err" || fail "3 ranks: $(tail -2 "$tmp/three.err")"
GRIFFIN_DP_BUCKET=1000 $MPI -x GRIFFIN_DP_BUCKET -np 3 "$bin" train $COMMON --batch 2 --steps 10 --out "$tmp/three_b" 2>/dev/null ||
  fail "3 ranks, small buckets"
GRIFFIN_DP_BUCKET=1000 GRIFFIN_DP_OVERLAP=0 $MPI -x GRIFFIN_DP_BUCKET -x GRIFFIN_DP_OVERLAP -np 3 "$bin" train $COMMON --batch 2 \
  --steps 10 --out "$tmp/three_c" 2>/dev/null || fail "3 ranks, small buckets, no overlap"
if losses "$tmp/three" "$tmp/one6" 1e-5 2>"$tmp/cmp.err"; then pass; else fail "3 ranks vs 1 process: $(cat "$tmp/cmp.err")"; fi
for v in three_b three_c; do
  cmp -s "$tmp/three/latest/model.safetensors" "$tmp/$v/latest/model.safetensors" && pass || fail "$v: other weights than one bucket's"
done

# 2. two 2-rank runs: the same bits
$MPI -np 2 "$bin" train $COMMON --batch 2 --steps 20 --out "$tmp/two_b" 2>/dev/null || fail "2 ranks, again"
for f in model.safetensors optimizer-00001-of-00002.safetensors optimizer-00002-of-00002.safetensors; do
  cmp -s "$tmp/two/latest/$f" "$tmp/two_b/latest/$f" && pass || fail "rerun: $f differs"
done
cmp -s <(cut -d, -f1-4 "$tmp/two/log.csv") <(cut -d, -f1-4 "$tmp/two_b/log.csv") && pass || fail "rerun: log differs"

# 3. a rank killed mid-run, then resumed
LONG="$COMMON --steps 60 --save-every 10"
$MPI -np 2 "$bin" train $LONG --batch 2 --out "$tmp/ref2" 2>/dev/null || fail "reference 2-rank run"
"$bin" train $LONG --batch 4 --out "$tmp/ref1" 2>/dev/null || fail "reference 1-process run"
# kill_after OUT STEP CMD...: run CMD, SIGKILL its last griffin process once OUT/step-STEP exists
kill_after() {
  local out=$1 step=$2
  shift 2
  "$@" >"$out.log" 2>&1 &
  local job=$! i=0
  while [ ! -e "$out/step-$(printf %08d "$step")" ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
  local victim
  # a rank, not mpirun (whose command line holds the same words)
  victim=$(pgrep -f -- "^$bin train .*--out $out" | tail -1)
  [ -n "$victim" ] && kill -KILL "$victim"
  local t0=$SECONDS
  wait $job 2>/dev/null
  echo $((SECONDS - t0)) >"$out.secs"
}
kill_after "$tmp/k2" 20 $MPI -np 2 "$bin" train $LONG --batch 2 --out "$tmp/k2"
secs=$(cat "$tmp/k2.secs")
[ "$secs" -le 60 ] && pass || fail "the other rank took ${secs} s to exit"
grep -q "griffin: error: rank [01] of 2: lost rank [01] (pid" "$tmp/k2.log" && pass ||
  fail "no line naming the lost rank: $(grep griffin "$tmp/k2.log" | tail -3)"
[ "$(grep -c 'griffin: error' "$tmp/k2.log")" = 1 ] && pass || fail "error lines: $(grep 'griffin: error' "$tmp/k2.log")"
step=$(readlink "$tmp/k2/latest")
case "$step" in step-000000[2-6]0) pass ;; *) fail "latest after the kill: '$step'" ;; esac
cp -r "$tmp/k2" "$tmp/k2to1"
# on 2 ranks: bit for bit
$MPI -np 2 "$bin" train --resume "$tmp/k2" --data "$tmp/data.npy" 2>"$tmp/r.err" || fail "resume on 2: $(tail -2 "$tmp/r.err")"
cmp -s "$tmp/k2/latest/model.safetensors" "$tmp/ref2/latest/model.safetensors" && pass || fail "resumed on 2 ranks: weights differ from the unbroken run"
python3 - "$tmp/k2/log.csv" "$tmp/ref2/log.csv" <<'EOF' && pass || fail "resumed on 2 ranks: losses differ"
import csv, sys
a = {r["step"]: r["loss"] for r in csv.DictReader(open(sys.argv[1]))}
b = {r["step"]: r["loss"] for r in csv.DictReader(open(sys.argv[2]))}
sys.exit(0 if len(b) == 60 and all(a.get(k) == v for k, v in b.items()) else 1)
EOF
# on 1 process: re-sharded 2 -> 1
"$bin" train --resume "$tmp/k2to1" --data "$tmp/data.npy" --threads 1 2>"$tmp/r1.err" || fail "resume on 1: $(tail -2 "$tmp/r1.err")"
[ -f "$tmp/k2to1/latest/optimizer.safetensors" ] && pass || fail "1-process resume: no optimizer.safetensors"
if losses "$tmp/k2to1" "$tmp/ref2" 1e-5 2>"$tmp/cmp.err"; then pass; else fail "2 -> 1 ranks: $(cat "$tmp/cmp.err")"; fi
# a 1-process run killed, resumed on 2 ranks: re-sharded 1 -> 2
kill_after "$tmp/k1" 20 "$bin" train $LONG --batch 4 --out "$tmp/k1"
$MPI -np 2 "$bin" train --resume "$tmp/k1" --data "$tmp/data.npy" --threads 1 2>"$tmp/r2.err" || fail "resume 1 -> 2: $(tail -2 "$tmp/r2.err")"
if losses "$tmp/k1" "$tmp/ref1" 1e-5 2>"$tmp/cmp.err"; then pass; else fail "1 -> 2 ranks: $(cat "$tmp/cmp.err")"; fi
# a run of 4 rows cannot go on 3 ranks
$MPI -np 3 "$bin" train --resume "$tmp/k1" --data "$tmp/data.npy" --steps 70 --threads 1 2>"$tmp/r3.err" && fail "3 ranks for 4 rows ran" ||
  { grep -q "does not split over 3 ranks" "$tmp/r3.err" && pass || fail "3 ranks: $(grep griffin "$tmp/r3.err" | head -2)"; }

# 4. ranks that disagree
$MPI -np 1 "$bin" train $COMMON --batch 2 --steps 3 --out "$tmp/dis" : -np 1 "$bin" train $COMMON --batch 2 --steps 3 --lr 1e-3 --out "$tmp/dis" \
  2>"$tmp/dis.err" && fail "ranks with other flags ran"
grep -q "griffin: error: rank 1 disagrees with rank 0 on the command line" "$tmp/dis.err" && pass || fail "flags: $(grep griffin "$tmp/dis.err")"
[ "$(grep -c 'griffin: error' "$tmp/dis.err")" = 1 ] && pass || fail "flags: error lines: $(grep 'griffin: error' "$tmp/dis.err")"
[ -e "$tmp/dis/log.csv" ] && [ -n "$(sed -n 2p "$tmp/dis/log.csv")" ] && fail "a step ran" || pass
# the same flags, other data: /dev/fd/3 is another file on each rank
head -c 30000 "$tmp/data.npy" >/dev/null
python3 - "$tmp/data.npy" "$tmp/data2.npy" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-2] ^= 1; open(sys.argv[2], "wb").write(bytes(b))
EOF
FD="--config $tmp/tiny.json --data /dev/fd/3 --seq 32 --eval-every 0 --threads 1 --batch 2 --steps 3 --out $tmp/dis2"
$MPI -np 1 bash -c "exec 3<$tmp/data.npy; exec $bin train $FD" : -np 1 bash -c "exec 3<$tmp/data2.npy; exec $bin train $FD" \
  2>"$tmp/dis2.err" && fail "ranks with other data ran"
grep -q "griffin: error: rank 1 disagrees with rank 0 on the training data (--data)" "$tmp/dis2.err" && pass ||
  fail "data: $(grep griffin "$tmp/dis2.err")"
# a rank that cannot start (its data is not a token file): it says why, and no rank waits
head -c 100 /dev/zero >"$tmp/bad.npy"
SECONDS=0
$MPI -np 1 bash -c "exec 3<$tmp/data.npy; exec $bin train $FD" : -np 1 bash -c "exec 3<$tmp/bad.npy; exec $bin train $FD" \
  2>"$tmp/dis3.err" && fail "a rank without data ran"
[ $SECONDS -lt 60 ] && grep -q "griffin: error: rank 1 of 2: /dev/fd/3" "$tmp/dis3.err" && pass ||
  fail "a rank that cannot start (${SECONDS} s): $(grep griffin "$tmp/dis3.err")"

echo "test_dist: $passed passed, $failed failed"
[ $failed = 0 ]
