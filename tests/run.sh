#!/usr/bin/env bash
# Runs the cmocka test programs of one or more builds and prints one closing
# line, "tests: N passed, N failed, N skipped", summed over every program of
# every build.
#
# Every program runs once on the build's default kernel set (the best this
# CPU has). The programs of PER_SET (the model-level ones: goldens,
# quantised models, the reference, the CLI) then run again once for each
# lower kernel set the CPU supports (`griffin info --kernel-sets`), with
# GRIFFIN_ISA naming it, so that an AVX-512 or AMX machine also checks the
# AVX2 and scalar paths end to end.
# A program that dies without cmocka's summary (a sanitizer abort, a signal)
# counts as one failed test. Exit status 1 when anything failed.
#
# usage: tests/run.sh "PROGRAMS" BUILD_DIR:LABEL[:PER_SET] ...
#   (PER_SET: program names separated by spaces; none when left out)
set -u
programs=$1
shift
passed=0
failed=0
skipped=0

# run_one DIR LABEL PROGRAM [ISA]
run_one() {
  local dir=$1 label=$2 p=$3 isa=${4:-}
  echo "=== [$label] $p"
  local log rc ok bad skip
  log=$(mktemp)
  if [ -n "$isa" ]; then
    GRIFFIN_ISA="$isa" GRIFFIN_BIN="$dir/griffin" "$dir/tests/$p" 2>&1 | tee "$log"
  else
    env -u GRIFFIN_ISA GRIFFIN_BIN="$dir/griffin" "$dir/tests/$p" 2>&1 | tee "$log"
  fi
  rc=${PIPESTATUS[0]}
  ok=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -n 1)
  bad=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
  skip=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
  rm -f "$log"
  ok=${ok:-0}
  bad=${bad:-0}
  skip=${skip:-0}
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    echo "=== [$label] $p exited with status $rc without a cmocka summary: counted as a failure"
    bad=1
  fi
  passed=$((passed + ok))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
}

# CHECKS: commands (one a line) run once before the programs, each counted
# as one test: the checks of the architecture, the docs and the installed
# library (Makefile: LIB_CHECKS).
while IFS= read -r cmd; do
  [ -z "$cmd" ] && continue
  echo "=== [check] $cmd"
  if bash -c "$cmd"; then passed=$((passed + 1)); else
    echo "=== [check] failed: $cmd"
    failed=$((failed + 1))
  fi
done <<< "${CHECKS:-}"

for spec in "$@"; do
  dir=${spec%%:*}
  rest=${spec#*:}
  label=${rest%%:*}
  per_set=""
  [ "$rest" != "$label" ] && per_set=${rest#*:}
  for p in $programs; do run_one "$dir" "$label" "$p"; done
  [ -z "$per_set" ] && continue
  if ! sets=$(env -u GRIFFIN_ISA "$dir/griffin" info --kernel-sets); then
    echo "=== [$label] griffin info --kernel-sets failed: counted as a failure"
    failed=$((failed + 1))
    continue
  fi
  best=$(echo "$sets" | tail -n 1)
  echo "=== [$label] kernel sets of this CPU: $(echo $sets); default $best"
  for isa in $sets; do
    [ "$isa" = "$best" ] && continue
    for p in $per_set; do run_one "$dir" "$label/$isa" "$p" "$isa"; done
  done
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
