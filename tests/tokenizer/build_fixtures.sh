#!/usr/bin/env bash
# Builds the tokenizer tests' reference data in OUTDIR: the corpus and test
# lines (make_corpus.py), four models trained by Debian's spm_train (and two
# derived from them by mark_unused.py), and
# what spm_encode / spm_decode make of the test lines and of random ids.
# The C tests then only compare. Takes about 10 s on 2 cores.
#
# What spm_encode / spm_decode 0.1.97 do, which the fixtures pin down:
#   spm_encode splits stdin on '\n' only ('\r' stays part of the line, NUL is a
#   character), writes one line per input line (an empty one for empty input,
#   and a final '\n' even when the input had none); each byte of invalid UTF-8
#   reads as U+FFFD. spm_decode splits a line on ' ' (runs of spaces and
#   leading/trailing spaces make no empty ids), reads each field with atoi
#   (so "abc" is 0, "12x" is 12, tabs end a field, out-of-int values wrap),
#   and stops with exit status 255 at the first id outside [0, vocab).
#
# usage: tests/tokenizer/build_fixtures.sh OUTDIR
set -euo pipefail
out=${1:?usage: build_fixtures.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
for tool in spm_train spm_encode spm_decode python3; do
  command -v "$tool" >/dev/null || { echo "build_fixtures: $tool not found (bash tools/install-deps.sh installs it)" >&2; exit 1; }
done
mkdir -p "$out"
rm -f "$out/.stamp"
start=$(date +%s.%N)
python3 "$here/make_corpus.py" "$out"

common=(--input="$out/corpus.txt" --num_threads=2 --minloglevel=2 --input_sentence_size=0)
declare -A train_s
train() { # name, then spm_train flags
  local name=$1 t0; shift
  t0=$(date +%s.%N)
  spm_train "${common[@]}" --model_prefix="$out/$name" "$@" >"$out/$name.train.log" 2>&1 ||
    { cat "$out/$name.train.log" >&2; exit 1; }
  train_s[$name]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}
# Gemma's kind: BPE, identity normalisation, no dummy prefix, whitespace kept,
# byte fallback, digits split, Gemma's special ids and turn symbols.
train gemma_bpe --model_type=bpe --vocab_size=4000 --normalization_rule_name=identity \
  --add_dummy_prefix=false --remove_extra_whitespaces=false --byte_fallback=true --split_digits=true \
  --allow_whitespace_only_pieces=true --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 \
  --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' \
  --user_defined_symbols='<start_of_turn>,<end_of_turn>,<mask>,<2mass>,[@BOS@]' --character_coverage=0.9995
# spm_train's defaults: nmt_nfkc, dummy prefix, extra whitespace removed, no byte fallback.
train nfkc_bpe --model_type=bpe --vocab_size=3000
train nfkc_unigram --model_type=unigram --vocab_size=3000
# Unigram with byte fallback, identity, dummy prefix kept with whitespace, and
# user-defined and control symbols.
train unigram_bytes --model_type=unigram --vocab_size=2000 --byte_fallback=true \
  --normalization_rule_name=identity --add_dummy_prefix=true --remove_extra_whitespaces=false \
  --user_defined_symbols='<start_of_turn>,<end_of_turn>,foo_bar' --control_symbols='<ctrl1>,<ctrl2>' \
  --split_digits=true
# The same models with every third merged piece made UNUSED: BPE must undo
# merges that land on one (SentencePiece's resegmentation), unigram must never
# choose one.
for pair in gemma_bpe:bpe_unused unigram_bytes:unigram_unused; do
  python3 "$here/mark_unused.py" "$out/${pair%%:*}.model" "$out/${pair##*:}.model"
  cp "$out/${pair%%:*}.vocab" "$out/${pair##*:}.vocab"
  train_s[${pair##*:}]="0 (derived)"
done

lines() { wc -l <"$1" | tr -d ' '; }
same_lines() { # the C tests pair files line by line
  [ "$(lines "$1")" = "$(lines "$2")" ] ||
    { echo "build_fixtures: $2 has $(lines "$2") lines, $1 has $(lines "$1")" >&2; exit 1; }
}
for m in gemma_bpe nfkc_bpe nfkc_unigram unigram_bytes bpe_unused unigram_unused; do
  t0=$(date +%s.%N)
  model="$out/$m.model"
  # spm_train's .vocab is the fallback when spm_export_vocab is missing
  if command -v spm_export_vocab >/dev/null; then
    spm_export_vocab --model="$model" >"$out/$m.vocab"
  fi
  for set in lines lines_invalid long; do
    spm_encode --model="$model" --output_format=id <"$out/$set.txt" >"$out/$m.$set.ids"
    spm_decode --model="$model" --input_format=id <"$out/$m.$set.ids" >"$out/$m.$set.decoded"
    same_lines "$out/$set.txt" "$out/$m.$set.ids"
    same_lines "$out/$set.txt" "$out/$m.$set.decoded"
  done
  # Random id sequences, weighted towards what decoding treats specially:
  # control and unknown ids, byte pieces in any order (broken UTF-8), pieces
  # starting with U+2581 at the start of a line.
  python3 - "$out/$m.vocab" "$out/$m.random.ids" <<'PY'
import random, sys
vocab = [line.split("\t")[0] for line in open(sys.argv[1], encoding="utf-8")]
rng = random.Random(len(vocab))
# <0x0A> would put a newline in the decoded text and break the line pairing
special = [i for i, p in enumerate(vocab) if p.startswith("<") and p.endswith(">") and p != "<0x0A>"]
byte = [i for i, p in enumerate(vocab) if p.startswith("<0x") and p != "<0x0A>"] or special
space = [i for i, p in enumerate(vocab) if p.startswith("\u2581")] or [0]
anyid = [i for i, p in enumerate(vocab) if p != "<0x0A>"]
with open(sys.argv[2], "w") as f:
    for n in range(400):
        ids = []
        for _ in range(rng.randrange(0, 41) if n % 25 else 0):
            r = rng.random()
            ids.append(rng.choice(special if r < 0.15 else byte if r < 0.45 else space if r < 0.6 else anyid))
        if ids and rng.random() < 0.3:
            ids[0] = rng.choice(space)
        f.write(" ".join(map(str, ids)) + "\n")
PY
  spm_decode --model="$model" --input_format=id <"$out/$m.random.ids" >"$out/$m.random.decoded"
  same_lines "$out/$m.random.ids" "$out/$m.random.decoded"
  echo "build_fixtures: $m: $(lines "$out/$m.vocab") pieces, $(lines "$out/lines.txt") + $(lines "$out/lines_invalid.txt") test lines," \
    "$(lines "$out/$m.random.ids") random id lines; trained in ${train_s[$m]} s, encoded and decoded in" \
    "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
done
echo "build_fixtures: corpus $(wc -c <"$out/corpus.txt") bytes; done in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
touch "$out/.stamp"
