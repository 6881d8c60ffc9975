#!/usr/bin/env bash
# Checks `make install`: installs into a temporary DESTDIR (PREFIX=/usr), builds
# tests/install_example.c against the installed tree with pkg-config, once
# against the shared library and once against the static one, and checks that
# both greedily decode the same ids as the installed `griffin generate`.
# Prints one closing line; exit status 1 on failure.
#
# usage: tests/check_install.sh [BUILD_DIR [MODEL_DIR]]
#   BUILD_DIR: the build to install (default build); MODEL_DIR: the model to
#   decode with (default tests/data/golden/hawk, on whose prompt 2,100,7 greedy
#   decoding does not just repeat the last token)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-tests/data/golden/hawk}
make=${MAKE:-make}
cc=${CC:-cc}
prompt=(2 100 7)
n=3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
fail() {
  echo "--- log"
  cat "$log"
  echo "check_install: FAILED: $*"
  exit 1
}

$make --no-print-directory BUILD="$build" install PREFIX=/usr DESTDIR="$tmp/root" >"$log" 2>&1 \
  || fail "make install PREFIX=/usr DESTDIR=$tmp/root"
usr=$tmp/root/usr
for f in bin/griffin include/griffin.h include/griffin_train.h lib/libgriffin.a \
         lib/libgriffin.so lib/libgriffin.so.0 lib/pkgconfig/griffin.pc; do
  [ -e "$usr/$f" ] || fail "not installed: /usr/$f"
done
[ -x "$usr/bin/griffin" ] || fail "/usr/bin/griffin is not executable"
[ -L "$usr/lib/libgriffin.so" ] && [ -L "$usr/lib/libgriffin.so.0" ] \
  || fail "libgriffin.so and libgriffin.so.0 are not symbolic links"
real=$(readlink "$usr/lib/libgriffin.so.0")
case "$real" in libgriffin.so.0.*) ;; *) fail "libgriffin.so.0 points to '$real'" ;; esac
[ -f "$usr/lib/$real" ] || fail "libgriffin.so.0 points to a missing $real"
soname=$(readelf -d "$usr/lib/$real" 2>&1 | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libgriffin.so.0 ] || fail "$real has soname '$soname'"

# pkg-config finds the tree through PKG_CONFIG_PATH; --define-prefix relocates
# griffin.pc's prefix=/usr to where it lies.
export PKG_CONFIG_PATH=$usr/lib/pkgconfig
pc() { pkg-config --define-prefix "$@" griffin; }
pc --exists || fail "pkg-config does not find griffin in $PKG_CONFIG_PATH"
cflags=$(pc --cflags) && libs=$(pc --libs) && static_libs=$(pc --static --libs) \
  || fail "pkg-config --cflags / --libs / --static --libs griffin"
echo "cflags: $cflags" >>"$log"
echo "libs: $libs" >>"$log"
echo "static libs: $static_libs" >>"$log"

# Against the shared library.
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror tests/install_example.c $cflags $libs -o "$tmp/example_shared" >>"$log" 2>&1 \
  || fail "building the example against the shared library"
# (readelf / ldd write to files: grep -q in a pipe would end them early, and
# pipefail would count their SIGPIPE as a failure.)
readelf -d "$tmp/example_shared" >"$tmp/dynamic" 2>&1
grep -q 'NEEDED.*\[libgriffin\.so\.0\]' "$tmp/dynamic" \
  || fail "the shared example does not need libgriffin.so.0"
LD_LIBRARY_PATH=$usr/lib ldd "$tmp/example_shared" >"$tmp/ldd" 2>&1
cat "$tmp/ldd" >>"$log"
grep -q "libgriffin\.so\.0 => $usr/lib/libgriffin\.so\.0 " "$tmp/ldd" \
  || fail "the shared example does not load $usr/lib/libgriffin.so.0"

# Against the static library: pkg-config --static's flags, with libgriffin.a
# asked for by name (-lgriffin would find the .so beside it).
static_libs=$(printf '%s\n' "$static_libs" | sed 's/-lgriffin\b/-l:libgriffin.a/')
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror tests/install_example.c $cflags $static_libs -o "$tmp/example_static" >>"$log" 2>&1 \
  || fail "building the example against the static library"
readelf -d "$tmp/example_static" >"$tmp/dynamic" 2>&1
if grep -q 'NEEDED.*libgriffin' "$tmp/dynamic"; then
  fail "the static example needs libgriffin.so"
fi

got_shared=$(LD_LIBRARY_PATH=$usr/lib "$tmp/example_shared" "$model" "$n" "${prompt[@]}" 2>>"$log") \
  || fail "the shared example failed on $model"
got_static=$("$tmp/example_static" "$model" "$n" "${prompt[@]}" 2>>"$log") \
  || fail "the static example failed on $model"
ids=$(IFS=,; echo "${prompt[*]}")
want=$("$usr/bin/griffin" generate --model "$model" --prompt-ids "$ids" -n "$n" --temp 0 --ids --no-eos 2>>"$log") \
  || fail "griffin generate failed on $model"
{
  echo "shared: $got_shared"
  echo "static: $got_static"
  echo "griffin generate: $want"
} >>"$log"
[ "$(wc -w <<<"$want")" -eq "$n" ] || fail "griffin generate printed '$want' (want $n ids)"
[ "$got_shared" = "$got_static" ] || fail "shared example printed '$got_shared', static '$got_static'"
[ "$got_shared" = "$want" ] || fail "the examples printed '$got_shared', griffin generate '$want'"
echo "check_install: OK: installed tree builds with pkg-config (shared and --static); both decode '$want' as griffin generate"
