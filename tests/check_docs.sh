#!/usr/bin/env bash
# Keeps the documents in shape: README.md stays a short newcomer's page (at
# most 300 lines; the details live in docs/), and every relative markdown
# link in README.md and docs/*.md names a file or folder that exists.
# Links to web addresses (scheme:...) and to anchors in the same file
# (#...) are not checked; an anchor after a path (path#anchor) is dropped
# before the path is checked. Links inside fenced code blocks are ignored.
#
# usage: tests/check_docs.sh   (from anywhere; it checks its own repository)
# Prints "docs: ok", or one line naming the problem and exits 1.
set -u
cd "$(dirname "$0")/.." || exit 1

max_lines=300
lines=$(wc -l < README.md)
if [ "$lines" -gt "$max_lines" ]; then
  echo "docs: README.md has $lines lines, more than $max_lines (move the details into docs/)"
  exit 1
fi

for doc in README.md docs/*.md; do
  [ -f "$doc" ] || continue
  dir=$(dirname "$doc")
  # Every (target) of a [text](target) or ![alt](target) outside ``` fences,
  # one "LINE TARGET" a line.
  links=$(awk '
    /^[ \t]*```/ { fence = !fence; next }
    fence { next }
    {
      line = $0
      while (match(line, /\]\([^)[:space:]]+(\)|[ \t])/)) {
        target = substr(line, RSTART + 2, RLENGTH - 3)
        print FNR " " target
        line = substr(line, RSTART + RLENGTH)
      }
    }' "$doc")
  while read -r lineno target; do
    [ -z "${target:-}" ] && continue
    case $target in
      \#*) continue ;;                      # an anchor in this file
      *:*) continue ;;                      # http:, https:, mailto:, ...
    esac
    path=${target%%#*}
    [ -z "$path" ] && continue
    case $path in
      /*) resolved=".$path" ;;              # from the repository root
      *) resolved="$dir/$path" ;;
    esac
    if [ ! -e "$resolved" ]; then
      echo "docs: $doc:$lineno: link to $target, but $resolved does not exist"
      exit 1
    fi
  done <<< "$links"
done

echo "docs: ok"
