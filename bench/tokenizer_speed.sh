#!/usr/bin/env bash
# Encoding speed: `griffin tokenize` against `spm_encode` on the same ~10 MB
# of mixed text (prose, code, numbers, many scripts, emoji), for the four
# fixture models (Gemma-like BPE, nmt_nfkc BPE, nmt_nfkc unigram, unigram
# with byte fallback). Each figure is the best of three runs; griffin's
# output is first checked to equal spm_encode's byte for byte.
#
# The machine's own limit is read the same way: the time `wc -l` takes to
# stream the same file (a memory-bandwidth floor no tokenizer beats), and
# each speed is also given as a fraction of that.
#
# usage: bench/tokenizer_speed.sh [OUTDIR]   (default build/bench-tokenizer)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench-tokenizer}
bin=${GRIFFIN_BIN:-build/griffin}
[ -x "$bin" ] || { echo "bench: $bin not built (run make)" >&2; exit 1; }
if [ ! -f "$out/.stamp" ]; then
  bash tests/tokenizer/build_fixtures.sh "$out"
fi
[ -f "$out/big.txt" ] || python3 tests/tokenizer/make_corpus.py "$out" --big
big=$out/big.txt
mb=$(awk -v b="$(wc -c <"$big")" 'BEGIN { printf "%.2f", b / 1e6 }')

best_of_3() { # prints the best wall time in seconds of the command "$@"
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    best=$(awk -v a="$t0" -v b="$t1" -v c="$best" 'BEGIN { d = b - a; if (c == "" || d < c) c = d; printf "%.3f", c }')
  done
  echo "$best"
}
rate() { awk -v mb="$mb" -v s="$1" 'BEGIN { printf "%.1f", mb / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

nproc=$(nproc)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
floor=$(best_of_3 wc -l "$big")
echo "machine: ${cpu:-unknown CPU}, $nproc cores; $(spm_encode --version 2>&1 | head -n 1)"
echo "input: $big, $mb MB; memory floor (wc -l): ${floor} s = $(rate "$floor") MB/s"
echo
echo "| model | spm_encode s | MB/s | griffin 1 thread s | MB/s | × spm | griffin $nproc threads s | MB/s | × spm | 1-thread share of floor |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in gemma_bpe nfkc_bpe nfkc_unigram unigram_bytes; do
  model=$out/$m.model
  spm_encode --model="$model" --output_format=id <"$big" >"$out/$m.big.spm.ids"
  "$bin" tokenize --tokenizer "$model" --threads "$nproc" <"$big" >"$out/$m.big.griffin.ids"
  cmp -s "$out/$m.big.spm.ids" "$out/$m.big.griffin.ids" ||
    { echo "bench: $m: griffin's ids differ from spm_encode's on $big" >&2; exit 1; }
  t_spm=$(best_of_3 sh -c "spm_encode --model='$model' --output_format=id < '$big'")
  t_1=$(best_of_3 sh -c "'$bin' tokenize --tokenizer '$model' --threads 1 < '$big'")
  t_n=$(best_of_3 sh -c "'$bin' tokenize --tokenizer '$model' --threads $nproc < '$big'")
  echo "| $m | $t_spm | $(rate "$t_spm") | $t_1 | $(rate "$t_1") | $(ratio "$t_spm" "$t_1") | $t_n | $(rate "$t_n") | $(ratio "$t_spm" "$t_n") | $(awk -v a="$floor" -v b="$t_1" 'BEGIN { printf "%.2f%%", 100 * a / b }') |"
  rm -f "$out/$m.big.spm.ids" "$out/$m.big.griffin.ids"
done
echo
echo "(identical ids to spm_encode on all $mb MB for every model)"
