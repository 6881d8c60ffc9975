#!/usr/bin/env bash
# Makes the fuzz targets' seed corpora (tests/fuzz/corpus/NAME/) and the
# fixture model some targets load (tests/fuzz/data/model/), with griffin's
# own commands on tiny models: `init`, `quantize`, `forward`, `task`,
# `prepare`, a 2-step `train` (checkpoints), `chat`'s /save (snapshots); the
# tokenizers with Debian's spm_train (as tests/tokenizer/build_fixtures.sh),
# on ASCII lines of the tokenizer tests' corpus so that they stay a few KB.
# Everything is seeded and single-threaded: run again, it writes the same
# bytes (but for the spm_train models, whose training text is drawn from the
# Python sources make_corpus.py reads). Request bodies are written here as
# the OpenAI clients send them.
#
# usage: tests/fuzz/make_seeds.sh [GRIFFIN_BIN]    (default build/griffin)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
griffin=$(realpath "${1:-$root/build/griffin}")
fz=$root/tests/fuzz
for tool in "$griffin" spm_train python3; do
  command -v "$tool" >/dev/null || { echo "make_seeds: $tool not found" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export OMP_NUM_THREADS=1
g() { "$griffin" "$@" >/dev/null; }
pack() { bash "$fz/pack.sh" "$@"; }

rm -rf "$fz/corpus" "$fz/data"
mkdir -p "$fz/data/model"
for t in safetensors config model run npy token_data tokenizer encode checkpoint completions chat snapshot; do
  mkdir -p "$fz/corpus/$t"
done
C=$fz/corpus

# ---- tokenizers: Gemma-like BPE (turn pieces, byte fallback), unigram with
# user-defined and control pieces, unigram with a tiny custom normaliser
python3 "$root/tests/tokenizer/make_corpus.py" spm >/dev/null
LC_ALL=C awk '!/[\200-\377]/ && n++ < 4000' spm/corpus.txt >ascii.txt
spm() { spm_train --input=ascii.txt --num_threads=1 --minloglevel=2 "$@" >spm.log 2>&1 || { cat spm.log >&2; exit 1; }; }
spm --model_prefix=gemma_bpe --model_type=bpe --vocab_size=512 --normalization_rule_name=identity \
  --add_dummy_prefix=false --remove_extra_whitespaces=false --byte_fallback=true --split_digits=true \
  --allow_whitespace_only_pieces=true --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 \
  --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' \
  --user_defined_symbols='<start_of_turn>,<end_of_turn>' --character_coverage=1.0
spm --model_prefix=unigram_bytes --model_type=unigram --vocab_size=400 --byte_fallback=true \
  --normalization_rule_name=identity --add_dummy_prefix=true --remove_extra_whitespaces=false \
  --user_defined_symbols='<start_of_turn>,foo_bar' --control_symbols='<ctrl1>' --split_digits=true
printf '41\t61\n42\t62\n41 42\t61 62\n' >rule.tsv
spm --model_prefix=custom_norm --model_type=unigram --vocab_size=200 --normalization_rule_tsv=rule.tsv
cp gemma_bpe.model unigram_bytes.model custom_norm.model "$C/tokenizer/"
mkdir -p "$fz/data/tokenizers"
cp unigram_bytes.model custom_norm.model "$fz/data/tokenizers/"
# text for the fixed tokenizers: every 50th test line (scripts, emoji, code,
# controls), and a few of the lines of invalid UTF-8
awk 'NR % 50 == 0 { f = sprintf("'"$C"'/encode/line-%03d", NR); printf "%s", $0 > f; close(f) }' spm/lines.txt
awk 'NR % 15 == 0 { f = sprintf("'"$C"'/encode/invalid-%02d", NR); printf "%s", $0 > f; close(f) }' spm/lines_invalid.txt

# ---- models: a tiny Griffin (recurrent + attention), Hawk and MQA, 16 ids
micro() { # name, block types
  cat >"$1.json" <<JSON
{"vocab_size": 16, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
 "num_attention_heads": 2, "lru_width": 8, "attention_window_size": 4, "conv1d_width": 4,
 "logits_soft_cap": 30.0, "block_types": [$2]}
JSON
  g init --config "$1.json" --out "$1" --seed 1
}
micro griffin '"recurrent", "attention"'
micro hawk '"recurrent"'
micro mqa '"attention"'
for q in bf16 q8 q4; do g quantize --model griffin --out "griffin-$q" --type "$q" --threads 1; done
# sharded: griffin's tensors in two files and the index that names them
mkdir griffin-sharded
cp griffin/config.json griffin-sharded/
python3 - griffin/model.safetensors griffin-sharded <<'PY'
import json, struct, sys
src, out = sys.argv[1], sys.argv[2]
b = open(src, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
hdr = json.loads(b[8:8 + n]); data = b[8 + n:]
names = sorted(k for k in hdr if k != '__metadata__')
shards = {'model-00001-of-00002.safetensors': names[:len(names) // 2],
          'model-00002-of-00002.safetensors': names[len(names) // 2:]}
wmap = {}
for fn, part in shards.items():
    h, blobs, off = {}, [], 0
    for k in part:
        a, z = hdr[k]['data_offsets']
        h[k] = {'dtype': hdr[k]['dtype'], 'shape': hdr[k]['shape'], 'data_offsets': [off, off + z - a]}
        blobs.append(data[a:z]); off += z - a; wmap[k] = fn
    hj = json.dumps(h, separators=(',', ':')).encode()
    hj += b' ' * (-len(hj) % 8)
    open(f'{out}/{fn}', 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
json.dump({'metadata': {'total_size': len(data)}, 'weight_map': wmap}, open(f'{out}/model.safetensors.index.json', 'w'), indent=1)
PY
for m in griffin hawk mqa griffin-bf16 griffin-q8 griffin-q4; do
  cp "$m/model.safetensors" "$C/safetensors/$m.safetensors"
  pack "$m" config.json model.safetensors >"$C/model/$m"
  cp "$C/model/$m" "$C/run/$m"
done
pack griffin-sharded >"$C/model/griffin-sharded"
cp "$C/model/griffin-sharded" "$C/run/griffin-sharded"
{ cat "$C/run/griffin-q8"; printf '\n--8<-- tokens\n'; printf '\002\005\011\017\001\003\004\010'; } >"$C/run/griffin-q8-tokens"

# ---- configs: the repository's, a tiny one, and what init writes (Hugging Face's names)
cp "$root"/configs/*.json "$C/config/"
cp griffin.json "$C/config/micro.json"
cp griffin/config.json "$C/config/init-written.json"

# ---- .npy: a task's tokens and mask, prepared text, a token batch and its logits
g task selective-copy --out task/copy --examples 6 --seq 12 --symbols 4 --data-tokens 3 --seed 1
g task phonebook --out task/book --examples 3 --entries 2 --name-len 2 --number-len 2 --symbols 4 --seed 1
head -c 1500 ascii.txt >doc.txt
g prepare --tokenizer gemma_bpe.model --out prep --val-fraction 0.5 --doc-per line doc.txt
python3 - <<'PY'
import struct
def npy(path, descr, shape, fmt, vals):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ', '.join(map(str, shape)) + (',' if len(shape) == 1 else ''))
    h = d + ' ' * (-(10 + len(d) + 1) % 64) + '\n'
    open(path, 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<%d%s' % (len(vals), fmt), *vals))
npy('batch.npy', '<i4', (2, 5), 'i', [2, 5, 7, 9, 11, 2, 3, 4, 1, 0])
PY
g forward --model griffin --tokens batch.npy --prefill 2 --threads 1 --out logits.npy
cp task/copy.tokens.npy task/copy.mask.npy task/book.tokens.npy prep/train.npy batch.npy logits.npy "$C/npy/"
for t in copy book; do
  mkdir "td-$t"
  cp "task/$t.tokens.npy" "td-$t/tokens.npy"
  cp "task/$t.mask.npy" "td-$t/mask.npy"
  pack "td-$t" tokens.npy mask.npy >"$C/token_data/$t"
done
mkdir td-prep
cp prep/train.npy td-prep/tokens.npy
pack td-prep tokens.npy >"$C/token_data/prepared"

# ---- checkpoints: 2 steps of masked training on the copy task
"$griffin" train --config griffin.json --data task/copy.tokens.npy --mask task/copy.mask.npy --out run \
  --steps 2 --batch 2 --seq 12 --warmup 1 --eval-every 0 --save-every 2 --threads 1 >/dev/null
step=$(readlink run/latest)
pack run latest "$step/config.json" "$step/model.safetensors" "$step/optimizer.safetensors" \
  "$step/trainer_state.json" >"$C/checkpoint/run-latest"
pack "run/$step" config.json model.safetensors optimizer.safetensors trainer_state.json >"$C/checkpoint/step-folder"
cp "run/$step/optimizer.safetensors" "$C/safetensors/optimizer.safetensors"
# a data-parallel run's checkpoint: the optimizer state in shards and their
# manifest (optimizer_shards.json), when OpenMPI is here
if command -v mpirun >/dev/null && ldd "$griffin" | grep -q libmpi; then
  mpirun --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none -np 2 "$griffin" train \
    --config griffin.json --data task/copy.tokens.npy --mask task/copy.mask.npy --out run2 --steps 2 --batch 1 \
    --seq 12 --warmup 1 --eval-every 0 --save-every 2 --threads 1 >/dev/null 2>&1
  step=$(readlink run2/latest)
  pack "run2/$step" config.json model.safetensors optimizer_shards.json optimizer-00001-of-00002.safetensors \
    optimizer-00002-of-00002.safetensors trainer_state.json >"$C/checkpoint/sharded"
fi

# ---- the fixture model of the request and snapshot targets: 512 ids (the
# Gemma-like tokenizer's), two layers
cat >fixture.json <<'JSON'
{"vocab_size": 512, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
 "num_attention_heads": 2, "lru_width": 8, "attention_window_size": 8, "conv1d_width": 4,
 "block_types": ["recurrent", "attention"]}
JSON
g init --config fixture.json --out "$fz/data/model" --seed 1
cp gemma_bpe.model "$fz/data/model/tokenizer.model"

# ---- snapshots: `griffin chat` /save after a turn, and after two with stop strings
printf 'Hello\n/save %s\n' "$C/snapshot/one-turn.snap" |
  "$griffin" chat --model "$fz/data/model" -n 4 --seed 3 --threads 1 >/dev/null 2>&1
printf 'Hi there\nAnd again\n/save %s\n' "$C/snapshot/two-turns.snap" |
  "$griffin" chat --model "$fz/data/model" -n 3 --temp 0 --seed 4 --repeat-penalty 1.1 --stop 'ab' --threads 1 >/dev/null 2>&1
printf 'Once upon\n/save %s\n' "$C/snapshot/interactive.snap" |
  "$griffin" chat -i --model "$fz/data/model" -n 2 --seed 5 --threads 1 >/dev/null 2>&1

# ---- request bodies, as OpenAI clients send them
body() { printf '%s' "$2" >"$C/$1"; }
body completions/plain '{"model":"fuzz","prompt":"Once upon a time","max_tokens":3,"temperature":0}'
body completions/stream '{"model":"fuzz","prompt":["The cat"],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true},"seed":7}'
body completions/ids '{"prompt":[2,100,200,300],"max_tokens":2,"top_k":5,"top_p":0.9,"min_p":0.05,"repeat_penalty":1.2}'
body completions/stops '{"prompt":"a b c","max_completion_tokens":4,"stop":["\n","b c"],"ignore_eos":true,"n":1,"logprobs":null}'
body chat/plain '{"model":"fuzz","messages":[{"role":"user","content":"Hello!"}],"max_tokens":3,"temperature":0}'
body chat/system '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":" there"}]}],"max_tokens":2,"stream":true}'
body chat/turns '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello there."},{"role":"developer","content":"x"},{"role":"user","content":"More\n"}],"max_tokens":2,"seed":-3,"stop":"e"}'
body chat/tail-system '{"messages":[{"role":"user","content":"Q"},{"role":"assistant"},{"role":"system","content":"late"}],"max_tokens":1}'

du -sh "$fz/corpus" "$fz/data"
echo "make_seeds: $(find "$fz/corpus" -type f | wc -l) seeds in $fz/corpus, the fixture model in $fz/data/model"
