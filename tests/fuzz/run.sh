#!/usr/bin/env bash
# Runs the libFuzzer targets that `make fuzz` built (docs/fuzzing.md).
#
#   run.sh regress BUILD NAME...   each target once over tests/fuzz/corpus/NAME
#                                  and tests/fuzz/findings/NAME (the inputs
#                                  of past findings; no mutation)
#   run.sh fuzz BUILD NAME...      each target for FUZZ_SECONDS (default 20)
#
# Fuzzing starts from the committed inputs and writes what it finds new into
# BUILD/corpus/NAME (the committed folders are only read), a crash into
# BUILD/artifacts/. One process per target, one after another, on one core
# (nice'd), with the limits below; each target's closing line of libFuzzer
# statistics (executions, coverage) is printed, then a summary line.
# FUZZ_FLAGS adds libFuzzer flags (e.g. -max_total_time for a long run).
set -uo pipefail
mode=${1:?usage: run.sh regress|fuzz BUILD NAME...}
build=${2:?usage: run.sh regress|fuzz BUILD NAME...}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
seconds=${FUZZ_SECONDS:-20}
# Memory: a target's input is at most 1 MiB (fuzz_common.h), and nothing the
# library makes of one needs more than a few tens of MiB; a single malloc of
# 256 MiB, or 2 GiB resident, is a finding (libFuzzer reports it with the
# input). An input that runs 10 s is one too (a hang).
limits=(-rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10)
# ASan's leak check at exit is on (libFuzzer reports leaks per input too);
# UBSan's reports abort (-fno-sanitize-recover at compile time).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1

dict_of() { # the dictionary each target uses
  case $1 in
    safetensors) echo safetensors ;;
    config) echo config ;;
    model|run|checkpoint) echo model ;;
    npy|token_data) echo npy ;;
    completions|chat) echo request ;;
    *) echo "" ;;
  esac
}

failed=0
total_execs=0
t_start=$(date +%s)
for name in "$@"; do
  bin=$build/fuzz/fuzz_$name
  corpus=$here/corpus/$name
  [ -x "$bin" ] || { echo "run.sh: $bin not built (make fuzz)" >&2; exit 1; }
  [ -d "$corpus" ] || { echo "run.sh: $corpus missing (tests/fuzz/make_seeds.sh)" >&2; exit 1; }
  log=$build/logs/$mode-$name.log
  mkdir -p "$build/logs" "$build/artifacts" "$build/corpus/$name"
  inputs=("$corpus")
  [ -d "$here/findings/$name" ] && inputs+=("$here/findings/$name")
  d=$(dict_of "$name")
  dict=()
  [ -n "$d" ] && dict=(-dict="$here/dict/$d.dict")
  t0=$(date +%s)
  if [ "$mode" = regress ]; then
    nice -n 19 "$bin" "${limits[@]}" -runs=0 "${inputs[@]}" >"$log" 2>&1
  else
    # shellcheck disable=SC2086
    nice -n 19 "$bin" "${limits[@]}" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$name-" ${FUZZ_FLAGS:-} "$build/corpus/$name" "${inputs[@]}" >"$log" 2>&1
  fi
  rc=$?
  t1=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  [ -z "$execs" ] && execs=$(printf '%s\n' "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
  total_execs=$((total_execs + ${execs:-0}))
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    echo "FAIL $name ($mode, exit $rc, $((t1 - t0)) s): see $log"
    grep -E 'ERROR|fuzz:|SUMMARY|runtime error|Test unit written' "$log" | head -8
  else
    echo "ok   $name ($mode, $((t1 - t0)) s, ${execs:-?} runs): $last"
  fi
done
echo "fuzz $mode: $# targets, $failed failed, $total_execs runs in $(( $(date +%s) - t_start )) s"
[ $failed -eq 0 ]
