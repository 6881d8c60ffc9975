#!/usr/bin/env bash
# Runs every shell example of README.md as written: each ```sh / ```bash
# block, in order, with `bash -e` from a scratch folder laid out like the
# repository after `make demo` (build/, configs/, demo/run/latest,
# demo/corpus/docs.txt). A block preceded by a line
#   <!-- no-test: why -->
# is skipped (the set-up commands, and anything that needs a download such
# as a RecurrentGemma checkpoint); any other block that fails fails the
# check. A block that leaves a process in the background (a server) has it
# killed when the block ends: each block runs in a process group of its own.
#
# The demo model: the real one when `make demo` made it (demo/run/latest
# and its Debian corpus demo/corpus/docs.txt); otherwise a stand-in of the
# same shape (`griffin init` of configs/griffin-demo.json, random weights)
# with the Gemma-like test tokenizer, and the corpus made of the lines of
# docs/*.md. `make demo` takes minutes and needs Debian's archive, while the
# examples only have to run as written: their flags and paths, not the
# quality of the text, are what this checks, so a stand-in serves and keeps
# the check offline and quick (about a minute on 2 cores, mostly the short
# training run).
#
# usage: tests/check_readme.sh [BUILD]   (default build; needs BUILD/griffin
#        and the spm fixtures, `make spm-fixtures`, when there is no demo)
# Prints "readme: N blocks ok, M skipped", or the failing block and its
# output, and exits 1.
set -u
cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)
build=${1:-build}
readme=${README_FILE:-README.md} # another file: to check the checker
[ -x "$build/griffin" ] || { echo "readme: $build/griffin is not built"; exit 1; }

work=$(mktemp -d /tmp/griffin-readme.XXXXXX)
trap 'rm -rf "$work"' EXIT
# README's paths: build/griffin is the build under test, whatever its folder
ln -s "$repo/$build" "$work/build"
ln -s "$repo/configs" "$work/configs"
mkdir -p "$work/demo/run" "$work/demo/corpus"
if [ -z "${README_FIXTURE:-}" ] && [ -e demo/run/latest/model.safetensors ] && [ -s demo/corpus/docs.txt ]; then
  ln -s "$repo/demo/run/latest" "$work/demo/run/latest"
  ln -s "$repo/demo/corpus/docs.txt" "$work/demo/corpus/docs.txt"
  model="the demo model"
else
  fixtures=${GRIFFIN_SPM_FIXTURES:-build/spm-fixtures}
  [ -s "$fixtures/gemma_bpe.model" ] || { echo "readme: no demo and no $fixtures/gemma_bpe.model (make spm-fixtures)"; exit 1; }
  "$build/griffin" init --config configs/griffin-demo.json --out "$work/demo/run/latest" --seed 1 >/dev/null 2>&1 ||
    { echo "readme: griffin init of the stand-in demo model failed"; exit 1; }
  cp "$fixtures/gemma_bpe.model" "$work/demo/run/latest/tokenizer.model"
  grep -h -v '^[[:space:]]*$' docs/*.md > "$work/demo/corpus/docs.txt"
  model="a stand-in of the demo model"
fi

# The blocks, each as "<skip> <first line number>\n" then its lines, ended
# by a NUL. A marker applies to the next block when only blank lines come
# between them.
ran=0 skipped=0 times=
while IFS= read -r -d '' block; do
  [ -n "${block//[[:space:]]/}" ] || continue
  head=${block%%$'\n'*}
  body=${block#*$'\n'}
  skip=${head%% *}
  line=${head#* }
  if [ "$skip" = 1 ]; then skipped=$((skipped + 1)); continue; fi
  out="$work/block-$line.log"
  # A process group of its own (setsid, which does not fork here: a
  # background job is not a group leader), so a server it started in the
  # background goes with it.
  t0=$SECONDS
  (cd "$work" && exec setsid bash -e -c "$body") </dev/null >"$out" 2>&1 &
  pid=$!
  for ((t = 0; t < 1200; t++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -- -"$pid" 2>/dev/null
    wait "$pid"
    echo "readme: $readme:$line: the block ran past 10 minutes (with $model):"
    sed 's/^/  | /' <<< "$body"
    exit 1
  fi
  wait "$pid"
  rc=$?
  kill -- -"$pid" 2>/dev/null # what it left in the background
  if [ "$rc" != 0 ]; then
    echo "readme: $readme:$line: the block failed with exit $rc (with $model):"
    sed 's/^/  | /' <<< "$body"
    tail -n 20 "$out" | sed 's/^/  > /'
    exit 1
  fi
  ran=$((ran + 1))
  times="$times line $line: $((SECONDS - t0)) s;"
done < <(awk '
  /^<!-- no-test/ { skip = 1; next }
  !fence && /^```(sh|bash)[[:space:]]*$/ { fence = 1; start = FNR; body = ""; next }
  fence && /^```[[:space:]]*$/ { fence = 0; printf "%d %d\n%s%c", skip, start, body, 0; skip = 0; next }
  fence { body = body $0 "\n"; next }
  /[^[:space:]]/ { skip = 0 }
' "$readme")
echo "readme: $ran blocks ok, $skipped skipped (with $model;$times)"
