#!/usr/bin/env bash
# Run on the development machine before a GPU run: copies the two test
# dependencies the GPU machine's image lacks (Catch2's header and CMake package,
# FFTW's double-precision library, header and pkg-config file) into .device/,
# which is git-ignored and carried to the GPU machine with the working tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dst=$root/.device
rm -rf "$dst" && mkdir -p "$dst/include/catch2" "$dst/lib/cmake" "$dst/lib/pkgconfig"
cp /usr/include/catch2/catch.hpp "$dst/include/catch2/"
cp -r /usr/lib/cmake/Catch2 "$dst/lib/cmake/"
cp /usr/lib/libCatch2WithMain.a "$dst/lib/"
cp /usr/include/fftw3.h "$dst/include/"
cp -P /usr/lib/x86_64-linux-gnu/libfftw3.so /usr/lib/x86_64-linux-gnu/libfftw3.so.3* "$dst/lib/"
sed "s|^prefix=.*|prefix=$dst|; s|^libdir=.*|libdir=\${prefix}/lib|; s|^includedir=.*|includedir=\${prefix}/include|" \
    /usr/lib/x86_64-linux-gnu/pkgconfig/fftw3.pc > "$dst/lib/pkgconfig/fftw3.pc.in"
du -sh "$dst"
