#!/usr/bin/env bash
# Runs the cmocka test programs of one or more builds and prints one closing
# line, "tests: N passed, N failed, N skipped", summed over every program of
# every build.
# A program that dies without cmocka's summary (a sanitizer abort, a signal)
# counts as one failed test. Exit status 1 when anything failed.
#
# usage: tests/run.sh "PROGRAMS" BUILD_DIR[:LABEL] ...
set -u
programs=$1
shift
passed=0
failed=0
skipped=0
for spec in "$@"; do
  dir=${spec%%:*}
  label=${spec#*:}
  for p in $programs; do
    echo "=== [$label] $p"
    log=$(mktemp)
    GRIFFIN_BIN="$dir/griffin" "$dir/tests/$p" 2>&1 | tee "$log"
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
  done
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
