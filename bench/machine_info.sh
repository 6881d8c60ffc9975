#!/usr/bin/env bash
# Prints what a figure was measured on, for bench/results/<name>.meta.txt:
# the CPU, cores, memory, the load when the run started (the machine may be
# shared: a busy CPU makes every figure slower), the commit, and, when
# build/griffin exists, its measured limits (memory read, sgemm).
# usage: bench/machine_info.sh [--limits]
set -uo pipefail
cd "$(dirname "$0")/.."
echo "date:        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD 2>/dev/null || rev="$rev (working tree differs)"
else
  rev=unknown
fi
echo "commit:      $rev"
echo "cpu:         $(sed -n '/^model name/{s/^model name[[:space:]]*: //p;q}' /proc/cpuinfo)"
echo "cores:       $(nproc)"
echo "memory:      $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "load (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${1:-}" = "--limits" ] && [ -x build/griffin ]; then
  build/griffin bench --limits-only --buffer-mb 256 2>&1 | sed 's/^/limits:      /'
fi
