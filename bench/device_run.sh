#!/usr/bin/env bash
# One full GPU run, for the lent GPU machine (or any CUDA box): build, GPU tests,
# compute-sanitizer on a sample, the benchmark. Logs go to $OUT (default
# /tmp/ffc-device); the short bench table is printed last.
#
#   bash bench/device_run.sh [all|tests|bench|sanitize] [extra ffc_bench args...]
#
# Before carrying the tree to a machine without Catch2/FFTW, run
# bench/prepare_device_deps.sh here: it fills .device/ (carry it).
set -uo pipefail
what=${1:-all}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/ffc-device}
mkdir -p "$out"
build=$root/build-device
deps=$root/.device
archs=${FFC_CUDA_ARCHS:-90}

log() { echo "[device_run $(date +%H:%M:%S)] $*"; }

if [ -d "$deps" ]; then
    sed "s|^prefix=.*|prefix=$deps|" "$deps/lib/pkgconfig/fftw3.pc.in" > "$deps/lib/pkgconfig/fftw3.pc"
    export CMAKE_PREFIX_PATH=$deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
    export PKG_CONFIG_PATH=$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    export LD_LIBRARY_PATH=$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export CPATH=$deps/include${CPATH:+:$CPATH}
fi
export PATH=/usr/local/cuda/bin:$PATH

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

log "configure + build (CUDA archs $archs)"
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$archs" \
        -DFFC_BUILD_DOCS=OFF && cmake --build "$build" -j"$(nproc)"; } > "$out/build.log" 2>&1; then
    tail -60 "$out/build.log"
    log "BUILD FAILED"
    exit 1
fi
grep -E "registers|spill" "$out/build.log" | head -5 || true

status=0
if [ "$what" = all ] || [ "$what" = tests ]; then
    log "GPU tests"
    "$build/tests/ffc_tests" "[gpu]" --durations yes > "$out/gpu_tests.log" 2>&1 || status=1
    grep -E "passed|failed|FAILED|error" "$out/gpu_tests.log" | tail -15
fi
if [ "$what" = all ] || [ "$what" = sanitize ]; then
    log "compute-sanitizer (memcheck, racecheck, synccheck) on [sanitize]"
    for tool in memcheck racecheck synccheck; do
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$build/tests/ffc_tests" "[sanitize]" \
            > "$out/sanitize_$tool.log" 2>&1 || status=1
        echo "  $tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|passed|failed' "$out/sanitize_$tool.log" | tr '\n' ' ')"
    done
fi
if [ "$what" = all ] || [ "$what" = bench ]; then
    log "benchmark"
    "$build/bench/ffc_bench" --json "$out/bench.json" "$@" > "$out/bench.log" 2>&1 || status=1
    sed -n '/^Candidates/,$p' "$out/bench.log"
fi
log "done (status $status)"
exit $status
