#!/usr/bin/env bash
# Checks the libraries' symbols:
#   - every global symbol libgriffin.a defines starts with gf_ (the library
#     shares a program's namespace with whatever else it links);
#   - libgriffin.so exports exactly the functions include/griffin.h and
#     include/griffin_train.h declare: no internal gf_ function (they are
#     hidden: -fvisibility=hidden, the headers' visibility pragma), nothing
#     without the prefix, and every declared function.
# Prints one closing line; exit status 1 on failure.
#
# usage: tests/check_symbols.sh [BUILD_DIR]   (default build)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cc=${CC:-cc}
archive=$build/libgriffin.a
shared=""
for f in "$build"/libgriffin.so.*.*.*; do [ -f "$f" ] && shared=$f; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
problems=()

[ -f "$archive" ] || { echo "check_symbols: FAILED: no $archive (make lib)"; exit 1; }
[ -n "$shared" ] || { echo "check_symbols: FAILED: no $build/libgriffin.so.X.Y.Z (make lib)"; exit 1; }

# The archive: global defined symbols (nm -g --defined-only: T, D, B, R, ...).
nm -g --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/archive"
n_archive=$(wc -l <"$tmp/archive")
[ "$n_archive" -gt 0 ] || problems+=("nm finds no global symbol in $archive")
while read -r s; do
  problems+=("$archive defines global '$s' (not gf_-prefixed: make it static or rename it)")
done < <(grep -v '^gf_' "$tmp/archive")

# The functions the public headers declare: identifiers gf_* followed by '(' in
# the preprocessed headers (comments gone).
printf '#include "griffin.h"\n#include "griffin_train.h"\n' |
  $cc -E -P -Iinclude -x c - 2>"$tmp/cpp.err" >"$tmp/headers" ||
  { cat "$tmp/cpp.err"; echo "check_symbols: FAILED: preprocessing the public headers"; exit 1; }
grep -oE '\bgf_[A-Za-z0-9_]+[[:space:]]*\(' "$tmp/headers" | sed 's/[[:space:]]*($//' | sort -u >"$tmp/declared"
n_declared=$(wc -l <"$tmp/declared")
[ "$n_declared" -gt 0 ] || problems+=("no function found in the public headers")

# The shared library's dynamic symbol table.
nm -D --defined-only "$shared" | awk 'NF == 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/exported"
n_exported=$(wc -l <"$tmp/exported")
while read -r s; do
  problems+=("$shared exports '$s' (not gf_-prefixed)")
done < <(grep -v '^gf_' "$tmp/exported")
while read -r s; do
  problems+=("$shared exports '$s', which the public headers do not declare (internal: it should be hidden)")
done < <(grep '^gf_' "$tmp/exported" | comm -23 - "$tmp/declared")
while read -r s; do
  problems+=("$shared does not export '$s', which the public headers declare")
done < <(comm -13 "$tmp/exported" "$tmp/declared")

if [ ${#problems[@]} -gt 0 ]; then
  printf '  %s\n' "${problems[@]}"
  echo "check_symbols: FAILED: ${#problems[@]} problem(s)"
  exit 1
fi
echo "check_symbols: OK: $archive's $n_archive global symbols all gf_; $(basename "$shared") exports exactly the $n_declared functions of griffin.h and griffin_train.h"
