#!/usr/bin/env bash
# Writes the files of DIR (or the NAMEs given, relative to DIR) to stdout as
# one archive of the fuzz targets that take a folder (fuzz_common.h): each
# file after a line "--8<-- NAME", a symbolic link as "--8<-- NAME -> TARGET".
# Without NAMEs: every file and link of DIR and of its folders one level
# down, in sorted order.
#
# usage: pack.sh DIR [NAME...] > ARCHIVE
set -euo pipefail
dir=${1:?usage: pack.sh DIR [NAME...]}
shift
if [ $# -gt 0 ]; then
  names=("$@")
else
  mapfile -t names < <(cd "$dir" && find . -mindepth 1 -maxdepth 2 \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort)
fi
first=1
for n in "${names[@]}"; do
  [ $first = 1 ] || printf '\n'
  first=0
  if [ -L "$dir/$n" ]; then
    printf -- '--8<-- %s -> %s\n' "$n" "$(readlink "$dir/$n")"
  else
    printf -- '--8<-- %s\n' "$n"
    cat "$dir/$n"
  fi
done
