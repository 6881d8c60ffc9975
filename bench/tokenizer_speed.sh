#!/usr/bin/env bash
# Encoding speed: `griffin tokenize` against `spm_encode` on the same ~10 MB
# of mixed text (prose, code, numbers, many scripts, emoji), for the four
# fixture models (Gemma-like BPE, nmt_nfkc BPE, nmt_nfkc unigram, unigram
# with byte fallback). Each figure is the best of three wall times; griffin's
# output (1 thread and all cores) is first checked to equal spm_encode's byte
# for byte, since a fast wrong tokenizer is worth nothing.
#
# The machine's own limit is read the same way: the time `cat` and `wc -l`
# take to stream the same file (a memory-read floor no tokenizer beats), and
# griffin's speed is also given as a share of the faster of the two.
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

best_of_3() { # prints the best wall time in seconds of the shell command $1
  local best="" t0 t1
  for _ in 1 2 3; do
    t0=$(date +%s.%N)
    sh -c "$1" >/dev/null
    t1=$(date +%s.%N)
    best=$(awk -v a="$t0" -v b="$t1" -v c="$best" 'BEGIN { d = b - a; if (c == "" || d < c) c = d; printf "%.3f", c }')
  done
  echo "$best"
}
rate() { awk -v mb="$mb" -v s="$1" 'BEGIN { printf "%.1f", mb / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

nproc=$(nproc)
# sed quits on its first match: `| head` would give sed SIGPIPE under pipefail
cpu=$(sed -n '/^model name/{s/^model name[[:space:]]*: //p;q}' /proc/cpuinfo)
spm_version=$(spm_encode --version 2>&1 || true)
cat "$big" >/dev/null # page cache warm for every run
# one pass takes milliseconds, about what starting a process does: time 20
# passes in one process and divide
per_pass() { awk -v s="$1" 'BEGIN { printf "%.4f", s / 20 }'; }
twenty=""
for _ in $(seq 20); do twenty+="'$big' "; done
t_cat=$(per_pass "$(best_of_3 "cat $twenty")")
t_wc=$(per_pass "$(best_of_3 "wc -l $twenty")")
floor=$(awk -v a="$t_cat" -v b="$t_wc" 'BEGIN { print (a < b ? a : b) }')
echo "machine: ${cpu:-unknown CPU}, $nproc cores; ${spm_version%%$'\n'*}"
echo "input: $big, $mb MB"
echo "memory-read floor, per pass over the input: cat ${t_cat} s = $(rate "$t_cat") MB/s; wc -l ${t_wc} s = $(rate "$t_wc") MB/s"
echo

for m in gemma_bpe nfkc_bpe nfkc_unigram unigram_bytes; do
  model=$out/$m.model
  spm_encode --model="$model" --output_format=id <"$big" >"$out/$m.big.spm.ids"
  for threads in 1 "$nproc"; do
    "$bin" tokenize --tokenizer "$model" --threads "$threads" <"$big" >"$out/$m.big.griffin.ids"
    cmp -s "$out/$m.big.spm.ids" "$out/$m.big.griffin.ids" ||
      { echo "bench: $m: griffin's ids (--threads $threads) differ from spm_encode's on $big" >&2; exit 1; }
  done
  rm -f "$out/$m.big.spm.ids" "$out/$m.big.griffin.ids"
done
echo "griffin tokenize (--threads 1 and --threads $nproc) gives spm_encode's ids byte for byte on all $mb MB, every model."
echo

echo "| model | input MB | spm_encode s | MB/s | griffin 1 thread s | MB/s | × spm | griffin $nproc threads s | MB/s | × spm | 1 thread / floor | $nproc threads / floor |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for m in gemma_bpe nfkc_bpe nfkc_unigram unigram_bytes; do
  model=$out/$m.model
  t_spm=$(best_of_3 "spm_encode --model='$model' --output_format=id < '$big'")
  t_1=$(best_of_3 "'$bin' tokenize --tokenizer '$model' --threads 1 < '$big'")
  t_n=$(best_of_3 "'$bin' tokenize --tokenizer '$model' --threads $nproc < '$big'")
  echo "| $m | $mb | $t_spm | $(rate "$t_spm") | $t_1 | $(rate "$t_1") | $(ratio "$t_spm" "$t_1") |" \
    "$t_n | $(rate "$t_n") | $(ratio "$t_spm" "$t_n") |" \
    "$(awk -v a="$floor" -v b="$t_1" 'BEGIN { printf "%.2f%%", 100 * a / b }') |" \
    "$(awk -v a="$floor" -v b="$t_n" 'BEGIN { printf "%.2f%%", 100 * a / b }') |"
done
