#!/usr/bin/env bash
# A/B comparison of build-time tuning knobs, for the GPU machine: each argument
# NAME=FLAGS builds the library and ffc_bench with CMAKE_CUDA_FLAGS and
# CMAKE_CXX_FLAGS = FLAGS into build-tune-NAME, then times the planner's pick (no
# candidates) at $FFC_TUNE_SIZES with $FFC_TUNE_BENCH_ARGS (default --forward).
# Prints one table per setting.
#
#   bash bench/tune_build.sh base= occ3=-DFFC_FUSED_MIN_BLOCKS=3
#   FFC_TUNE_BENCH_ARGS=--backward bash bench/tune_build.sh base= dk32=-DFFC_DK_CHUNK_MIB=32
#
# The knobs: FFC_FUSED_MIN_BLOCKS (top of src/cuda/fused_conv.cuh),
# FFC_DK_CHUNK_MIB (src/cuda/cuda_executor.cpp), FFC_MP_CHUNK_MIB (src/plan/planner.hpp: the HBM round trip's chunk).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/ffc-device}
mkdir -p "$out"
. "$root/bench/device_env.sh"
sizes=${FFC_TUNE_SIZES:-256,1024,4096,8192,16384,32768}
for setting in "$@"; do
    name=${setting%%=*}
    flags=${setting#*=}
    build=$root/build-tune-$name
    echo "== $name: CMAKE_CUDA_FLAGS='$flags'"
    if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${FFC_CUDA_ARCHS:-90}" \
            -DFFC_BUILD_DOCS=OFF -DCMAKE_CUDA_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" && cmake --build "$build" -j"$(nproc)" --target ffc_bench; } \
            > "$out/tune_build_$name.log" 2>&1; then
        tail -30 "$out/tune_build_$name.log"
        continue
    fi
    grep -E "spill" "$out/tune_build_$name.log" | grep -v " 0 bytes spill" | sed 's/^/   /' | head -5
    "$build/bench/ffc_bench" ${FFC_TUNE_BENCH_ARGS:---forward} --no-candidates --sizes "$sizes" --dtypes fp16 --reps "${FFC_TUNE_REPS:-20}" \
        > "$out/tune_$name.log" 2>&1
    # Forward rows: time and kernel; forward + backward rows (they have "|"): also the backward alone.
    grep -E "^fp16" "$out/tune_$name.log" |
        awk '{bwd = ($8 == "|") ? " (bwd " $9 ")" : ""; printf "   N=%-8s %9s ms%s  %s\n", $2, $3, bwd, $NF}'
done
