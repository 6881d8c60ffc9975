#!/usr/bin/env bash
# Checks bench/dp_scaling_model.py, the analytic model of data-parallel
# training behind docs/distributed.md's "Scaling model":
#  - the parameters it counts from each config's shapes (its own reading of
#    shared/spec/model.md) equal, part by part, what `griffin info --config`
#    prints (the library's gf_config_sizes): two independent counts;
#  - its grid (the CSV) is whole and consistent with itself and with
#    griffin's count: bytes per rank = 2 (N-1)/N x 4 x griffin's parameters,
#    step = forward + backward + what is exposed, efficiency in (0, 1], the
#    ring no faster than the bandwidth bound, and each arrangement of the
#    exchange exposing no more than the one it improves on.
#
# usage: tests/check_dp_model.sh [BUILD]   (default build; needs BUILD/griffin)
# Prints "dp model: ok (N rows)", or the first problem, and exits 1.
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
bin=$build/griffin
[ -x "$bin" ] || { echo "dp model: $bin is missing (make first)"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

for cfg in configs/*.json; do
  # "parameters: N", then "embedding: N" ... as `--params` prints them
  "$bin" info --config "$cfg" | sed -nE \
    -e 's/^parameters: +([0-9]+).*/parameters: \1/p' \
    -e 's/^  (embedding|recurrent|attention): +([0-9]+).*/\1: \2/p' \
    -e 's/^  MLP: +([0-9]+).*/mlp: \1/p' | sort > "$tmp/griffin" || exit 1
  python3 bench/dp_scaling_model.py --params "$cfg" | grep -v ': 0$' | sort > "$tmp/model" \
    || { echo "dp model: --params $cfg failed"; exit 1; }
  grep -v ': 0$' "$tmp/griffin" > "$tmp/griffin.nz"
  [ -s "$tmp/griffin.nz" ] || { echo "dp model: no parameter lines from griffin info --config $cfg"; exit 1; }
  if ! diff "$tmp/griffin.nz" "$tmp/model" > "$tmp/diff"; then
    echo "dp model: $cfg: parameter counts differ from griffin info's: $(tr '\n' ' ' < "$tmp/diff")"
    exit 1
  fi
done

out=$(python3 bench/dp_scaling_model.py --csv "$tmp/grid.csv" 2>&1) \
  || { echo "dp model: the script failed: $(tail -1 <<< "$out")"; exit 1; }
p2b=$(sed -nE 's/^parameters: +([0-9]+).*/\1/p' < <("$bin" info --config configs/recurrentgemma-2b.json))
p9b=$(sed -nE 's/^parameters: +([0-9]+).*/\1/p' < <("$bin" info --config configs/recurrentgemma-9b.json))

python3 - "$tmp/grid.csv" "$p2b" "$p9b" <<'EOF'
import csv, sys
path, p2b, p9b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params = {"recurrentgemma-2b": p2b, "recurrentgemma-9b": p9b}
rows = list(csv.DictReader(open(path)))
def fail(msg):
    print("dp model: " + msg)
    sys.exit(1)
keys = set()
for r in rows:
    n, P = int(r["ranks"]), params.get(r["model"])
    if P is None:
        fail("unexpected model %s" % r["model"])
    where = "%s %s %s tokens %s Gb/s N=%d %s" % (r["model"], r["profile"], r["tokens_per_rank"],
                                                 r["link_gbit"], n, r["scheme"])
    if int(r["params"]) != P:
        fail("%s: %s parameters, griffin info says %d" % (where, r["params"], P))
    if abs(int(r["bytes_per_rank"]) - 2 * (n - 1) / n * 4 * P) > 1:
        fail("%s: %s bytes a rank, want 2(N-1)/N x 4 x %d" % (where, r["bytes_per_rank"], P))
    f = {k: float(r[k]) for k in ("forward_s", "backward_s", "exposed_rs_s", "exposed_ag_s", "step_s",
                                  "efficiency", "allreduce_ring_s", "allreduce_bound_s")}
    if abs(f["step_s"] - (f["forward_s"] + f["backward_s"] + f["exposed_rs_s"] + f["exposed_ag_s"])) > 1e-4 * f["step_s"]:
        fail("%s: step is not forward + backward + exposed" % where)
    if not 0 < f["efficiency"] <= 1 or min(f["exposed_rs_s"], f["exposed_ag_s"]) < 0:
        fail("%s: efficiency %g or a negative exposed time" % (where, f["efficiency"]))
    if abs(f["backward_s"] - 2 * f["forward_s"]) > 0.01 * f["backward_s"]:
        fail("%s: the backward is not twice the forward" % where)
    if f["allreduce_ring_s"] < f["allreduce_bound_s"]:
        fail("%s: the ring beats the bandwidth bound" % where)
    keys.add((r["model"], r["profile"], r["tokens_per_rank"], r["link_gbit"], n, r["scheme"]))
exposed = {k: None for k in keys}
for r in rows:
    k = (r["model"], r["profile"], r["tokens_per_rank"], r["link_gbit"], int(r["ranks"]), r["scheme"])
    exposed[k] = float(r["exposed_rs_s"]) + float(r["exposed_ag_s"])
for k, e in exposed.items():
    for worse, better in (("described", "bucketed"), ("bucketed", "improved")):
        if k[5] == better and e > exposed[k[:5] + (worse,)] * (1 + 1e-9):
            fail("%s exposes more than %s at %s" % (better, worse, k[:5]))
ranks = sorted({k[4] for k in keys})
if ranks[0] != 8 or ranks[-1] != 1024 or len(rows) != len(keys):
    fail("the grid is not 8..1024 ranks, one row a case (%d rows, %d cases)" % (len(rows), len(keys)))
print("dp model: ok (%d rows)" % len(rows))
EOF
