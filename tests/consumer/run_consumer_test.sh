#!/usr/bin/env bash
# Installs the build into a temporary prefix, checks the installed tree, then
# builds and runs tests/consumer/consumer.c against it twice: (a) as a CMake
# project using find_package(flashfftconv), (b) with `pkg-config --cflags --libs`.
#
# usage: run_consumer_test.sh CMAKE BUILD_DIR WORK_DIR C_COMPILER VERSION
set -euo pipefail
cmake=$1 build=$2 work=$3 cc=$4 version=$5
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

echo "== cmake --install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log"

# --- the installed tree -------------------------------------------------------
pc=$(find "$prefix" -name flashfftconv.pc)
[ -n "$pc" ] || { echo "FAIL: flashfftconv.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/flashfftconv/flashfftconv.h" \
         "$libdir/cmake/flashfftconv/flashfftconvConfig.cmake" \
         "$libdir/cmake/flashfftconv/flashfftconvConfigVersion.cmake"; do
  [ -f "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
# libflashfftconv.so -> libflashfftconv.so.MAJOR.MINOR -> libflashfftconv.so.X.Y.Z
[ -L "$libdir/libflashfftconv.so" ] || { echo "FAIL: the libflashfftconv.so development symlink is missing"; exit 1; }
soname=$(readlink "$libdir/libflashfftconv.so")
[ -L "$libdir/$soname" ] || { echo "FAIL: the SONAME symlink $soname is missing"; exit 1; }
[ -f "$libdir/libflashfftconv.so.$version" ] || { echo "FAIL: libflashfftconv.so.$version is missing"; exit 1; }
if find "$prefix" -name '*internal*' -o -name '*.a' -o -name '*ffc_objects*' | grep -q .; then
  echo "FAIL: build-tree-only artefacts were installed:"; find "$prefix" -name '*internal*' -o -name '*.a'; exit 1
fi
if find "$prefix" -path '*/src/*' | grep -q .; then echo "FAIL: private headers were installed"; exit 1; fi
echo "ok: installed tree ($soname)"

# Fails unless the executable resolves libflashfftconv from the installed prefix
# (and not from the build tree, which is also on disk).
check_resolves_to_prefix() {
  local exe=$1 resolved
  resolved=$(ldd "$exe" | awk '/libflashfftconv/ { print $3 }')
  case "$resolved" in
    "$prefix"/*) echo "ok: $(basename "$exe") loads $resolved" ;;
    *) echo "FAIL: $(basename "$exe") loads libflashfftconv from '$resolved', not from $prefix"; exit 1 ;;
  esac
}

# --- (a) CMake: find_package(flashfftconv) -------------------------------------
echo "== find_package(flashfftconv) consumer"
"$cmake" -S "$here/cmake_project" -B "$work/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
  -DFFC_EXPECTED_VERSION="$version" > "$work/cmake-configure.log" || { cat "$work/cmake-configure.log"; exit 1; }
grep 'found flashfftconv' "$work/cmake-configure.log"
"$cmake" --build "$work/cmake-build" > "$work/cmake-build.log" || { cat "$work/cmake-build.log"; exit 1; }
check_resolves_to_prefix "$work/cmake-build/consumer_cmake"
"$work/cmake-build/consumer_cmake"

# --- (b) pkg-config --------------------------------------------------------------
echo "== pkg-config consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists --print-errors "flashfftconv = $version"
cflags=$(pkg-config --cflags flashfftconv)
libs=$(pkg-config --libs flashfftconv)
pc_libdir=$(pkg-config --variable=libdir flashfftconv)
echo "pkg-config: cflags '$cflags', libs '$libs'"
[ "$pc_libdir" = "$libdir" ] || { echo "FAIL: the .pc file's libdir is $pc_libdir, installed to $libdir"; exit 1; }
# shellcheck disable=SC2086  # the flags are meant to be split
"$cc" -std=c99 -pedantic -Wall -Wextra -Werror $cflags "$here/consumer.c" -o "$work/consumer_pkgconfig" \
  $libs -Wl,-rpath,"$pc_libdir" -lm
check_resolves_to_prefix "$work/consumer_pkgconfig"
LD_LIBRARY_PATH="$pc_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/consumer_pkgconfig"

echo "ok: both consumers built and ran against the installed library"
