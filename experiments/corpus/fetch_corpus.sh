#!/usr/bin/env bash
# An English training corpus from Debian's archive, and its token files:
#   1. apt-get download the packages and unpack them with dpkg-deb (no root,
#      nothing installed);
#   2. extract.py: documents, one per line, shuffled; SOURCES.md says what
#      each package gave and under which licence;
#   3. spm_train: a Gemma-like BPE tokenizer (4096 pieces, identity
#      normalisation, no dummy prefix, byte fallback, split digits, Gemma's
#      special ids);
#   4. griffin prepare: train.npy / val.npy (every 50th document held out)
#      and prepare.txt with the unigram baseline.
# Each stage is skipped when its output is already there.
#
# usage: experiments/corpus/fetch_corpus.sh OUTDIR   (GRIFFIN: the binary, default build/griffin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: fetch_corpus.sh OUTDIR}
griffin=${GRIFFIN:-$repo/build/griffin}
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)
start=$(date +%s)
say() { echo "fetch_corpus: $*" >&2; }

pkgs=(bible-kjv-text bible-kjv r-cran-janeaustenr)
if [ ! -e "$out/debs/.stamp" ]; then
  say "downloading ${pkgs[*]} from Debian's archive"
  # apt-get download writes into the current folder
  if ! (cd "$out/debs" && apt-get download -q "${pkgs[@]}" >/dev/null 2>"$out/debs/apt.log"); then
    say "apt-get download failed ($(tail -n 1 "$out/debs/apt.log")); run 'sudo apt-get update' (or tools/install-deps.sh) and try again"
    exit 1
  fi
  rm -rf "$out/pkgs"
  for deb in "$out"/debs/*.deb; do dpkg-deb -x "$deb" "$out/pkgs"; done
  touch "$out/debs/.stamp"
fi
if [ ! -s "$out/docs.txt" ]; then
  python3 "$here/extract.py" "$out/pkgs" "$out/docs.txt.tmp" "$out/SOURCES.md"
  mv "$out/docs.txt.tmp" "$out/docs.txt"
fi
if [ ! -s "$out/tokenizer.model" ]; then
  say "training the tokenizer (spm_train)"
  spm_train --input="$out/docs.txt" --model_prefix="$out/spm" --model_type=bpe --vocab_size=4096 \
    --normalization_rule_name=identity --add_dummy_prefix=false --remove_extra_whitespaces=false \
    --byte_fallback=true --split_digits=true --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 \
    --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' --unk_piece='<unk>' \
    --max_sentence_length=16384 --input_sentence_size=200000 --shuffle_input_sentence=true \
    --num_threads=2 --minloglevel=2 >"$out/spm.log" 2>&1 || { cat "$out/spm.log" >&2; exit 1; }
  mv "$out/spm.model" "$out/tokenizer.model"
fi
if [ ! -s "$out/val.npy" ]; then
  say "tokenizing (griffin prepare)"
  "$griffin" prepare --tokenizer "$out/tokenizer.model" --out "$out" --doc-per line --val-fraction 0.02 \
    "$out/docs.txt" >"$out/prepare.txt"
fi
cat "$out/SOURCES.md" "$out/prepare.txt" >&2
say "done in $(( $(date +%s) - start )) s"
