#!/usr/bin/env bash
# The quality cost of each weight type on a trained model: held-out loss
# (griffin eval on the same windows) and the logits' distance from F32 on
# 8 held-out windows of 128 tokens, for F32, BF16, Q8 and Q4.
#   1. the Debian English corpus (experiments/corpus/fetch_corpus.sh);
#   2. a Griffin trained on it (configs/griffin-demo.json, STEPS steps,
#      default 600: about 5 minutes on 2 cores), or MODEL=DIR to take one;
#   3. griffin quantize to bf16 / q8 / q4, then griffin eval and griffin
#      forward on each (bf16 / q8 / q4 also with --float-inputs).
# Writes bench/results/quant_quality.csv.
#
# usage: bench/quant_quality.sh [WORKDIR]     (env: STEPS, MODEL, GRIFFIN)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${GRIFFIN:-build/griffin}
work=${1:-build/quant-quality}
steps=${STEPS:-600}
out=bench/results/quant_quality.csv
mkdir -p "$work" bench/results
say() { echo "quant_quality: $*" >&2; }

GRIFFIN=$bin bash experiments/corpus/fetch_corpus.sh "$work/corpus" >&2
val=$work/corpus/val.npy
model=${MODEL:-}
if [ -z "$model" ]; then
  model=$work/run/latest
  if [ ! -e "$model/model.safetensors" ]; then
    say "training a Griffin for $steps steps"
    rm -rf "$work/run"
    "$bin" train --config configs/griffin-demo.json --data "$work/corpus/train.npy" --val "$val" \
      --tokenizer "$work/corpus/tokenizer.model" --out "$work/run" --steps "$steps" --batch 8 --seq 128 \
      --lr 2e-3 --warmup 20 --eval-every 0 --save-every "$steps" >&2
  fi
fi
# 8 held-out windows of 128 tokens as an int32 [8, 128] token file
python3 - "$val" "$work/tokens.npy" <<'PY'
import struct, sys
raw = open(sys.argv[1], 'rb').read()
hlen = struct.unpack('<H', raw[8:10])[0]
header = raw[10:10 + hlen].decode()
width = 2 if "'<u2'" in header else 4
data = raw[10 + hlen:]
ids = [int.from_bytes(data[i:i + width], 'little') for i in range(0, 8 * 128 * width, width)]
h = "{'descr': '<i4', 'fortran_order': False, 'shape': (8, 128), }"
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
open(sys.argv[2], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<%di' % len(ids), *ids))
PY
echo "weights,weight_mib,val_loss,val_loss_delta,max_abs_logit_diff,mean_abs_logit_diff,rel_logit_diff,top1_agreement" > "$out"
f32_loss=
# bf16 / q8 / q4 twice: with the default inputs (bfloat16 or int8 where the CPU
# has AVX512-BF16 or AVX512-VNNI)
# and with --float-inputs (what every other CPU computes)
for t in f32 bf16 q8 q4 bf16-float-inputs q8-float-inputs q4-float-inputs; do
  dir=$model
  flag=
  case $t in
    *-float-inputs) dir=$work/${t%%-*}; flag=--float-inputs ;;
    f32) ;;
    *) dir=$work/$t; "$bin" quantize --model "$model" --out "$dir" --type "$t" >&2 ;;
  esac
  loss=$("$bin" eval --model "$dir" --data "$val" --seq 128 --windows 64 $flag | sed -n 's/.*loss \([0-9.]*\).*/\1/p' | head -n 1)
  [ -n "$f32_loss" ] || f32_loss=$loss
  "$bin" forward --model "$dir" --tokens "$work/tokens.npy" --out "$work/logits-$t.npy" $flag
  mib=$(du -m "$dir/model.safetensors" | cut -f1)
  python3 - "$work/logits-f32.npy" "$work/logits-$t.npy" "$t" "$mib" "$loss" "$f32_loss" >> "$out" <<'PY'
import array, struct, sys
def load(p):
    raw = open(p, 'rb').read()
    hlen = struct.unpack('<H', raw[8:10])[0]
    a = array.array('f'); a.frombytes(raw[10 + hlen:]); return a
a, b = load(sys.argv[1]), load(sys.argv[2])
V = 4096 if len(a) % 4096 == 0 else None
d = [abs(x - y) for x, y in zip(a, b)]
ref = max(abs(x) for x in a)
rows = len(a) // V
agree = sum(1 for r in range(rows)
            if max(range(V), key=lambda i: a[r * V + i]) == max(range(V), key=lambda i: b[r * V + i])) / rows
t, mib, loss, f32 = sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
print(f"{t},{mib},{loss:.4f},{loss - f32:+.4f},{max(d):.4g},{sum(d) / len(d):.4g},{max(d) / ref:.4g},{agree:.4f}")
PY
  say "$(tail -n 1 "$out")"
done
column -s, -t "$out"
