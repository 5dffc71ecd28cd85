#!/usr/bin/env bash
# One full GPU run, for the lent GPU machine (or any CUDA box): build, GPU tests,
# compute-sanitizer on a sample, the benchmark. Logs go to $OUT (default
# /tmp/ffc-device); the short bench table is printed last.
#
#   bash bench/device_run.sh [all|tests|python|bench|conv1d|partial|sparse|sanitize|profile|breakdown|source] [extra ffc_bench args...]
#
# "all" is tests + sanitize + bench + conv1d + partial + sparse; "partial" (and
# "sparse", for frequency-sparse plans) runs the
# partial convolution's tests, memcheck and racecheck on its [sanitize] tests
# and its benchmark; "conv1d" runs the short
# convolution's tests, memcheck on them, its benchmark and PyTorch's conv1d; "profile" runs Nsight Compute on one
# convolution launch per size in $FFC_PROFILE_SIZES (default 256,4096);
# "breakdown" sums Nsight Compute's per-kernel times of a forward and a backward.
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
archs=${FFC_CUDA_ARCHS:-90}

log() { echo "[device_run $(date +%H:%M:%S)] $*"; }

. "$root/bench/device_env.sh"

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
    "$build/tests/ffc_tests" "${FFC_GPU_TESTS:-[gpu]}" --durations yes > "$out/gpu_tests.log" 2>&1 || status=1
    grep -E "passed|failed|FAILED|error" "$out/gpu_tests.log" | tail -15
fi
if [ "$what" = all ] || [ "$what" = python ]; then
    log "Python binding tests against the CUDA build (PyTorch / CuPy on the GPU)"
    FLASHFFTCONV_LIBRARY="$build/libflashfftconv.so" PYTHONDONTWRITEBYTECODE=1 \
        python3 -m pytest -q -p no:cacheprovider "$root/bindings/python/tests" > "$out/python_tests.log" 2>&1 || status=1
    tail -3 "$out/python_tests.log"
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
if [ "$what" = all ] || [ "$what" = conv1d ]; then
    log "short depthwise convolution: [conv1d][gpu] tests, memcheck, benchmark, PyTorch baseline"
    "$build/tests/ffc_tests" "[conv1d][gpu]" > "$out/conv1d_tests.log" 2>&1 || status=1
    tail -2 "$out/conv1d_tests.log"
    compute-sanitizer --tool memcheck --error-exitcode 9 "$build/tests/ffc_tests" "[conv1d][gpu]" \
        > "$out/conv1d_memcheck.log" 2>&1 || status=1
    echo "  memcheck: $(grep -E 'ERROR SUMMARY|passed|failed' "$out/conv1d_memcheck.log" | tr '\n' ' ')"
    python3 "$root/bench/conv1d_torch.py" > "$out/conv1d_torch.log" 2>&1 || true
    "$build/bench/conv1d_bench" --json "$out/conv1d_bench.json" > "$out/conv1d_bench.log" 2>&1 || status=1
    cat "$out/conv1d_torch.log" "$out/conv1d_bench.log"
fi
if [ "$what" = all ] || [ "$what" = partial ]; then
    log "partial convolution: [partial][gpu] tests, memcheck on a sample, benchmark"
    "$build/tests/ffc_tests" "[partial][gpu]" --durations yes > "$out/partial_tests.log" 2>&1 || status=1
    grep -E "passed|failed|FAILED" "$out/partial_tests.log" | tail -5
    for tool in memcheck racecheck; do
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$build/tests/ffc_tests" "[partial][sanitize]" \
            > "$out/partial_$tool.log" 2>&1 || status=1
        echo "  $tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|passed|failed' "$out/partial_$tool.log" | tr '\n' ' ')"
    done
    stdbuf -oL "$build/bench/partial_bench" --json "$out/partial_bench.json" > "$out/partial_bench.log" 2>&1 || status=1
    cat "$out/partial_bench.log"
fi
if [ "$what" = all ] || [ "$what" = sparse ]; then
    log "frequency-sparse plans: [sparse][gpu] tests, memcheck and racecheck on a sample, benchmark"
    "$build/tests/ffc_tests" "[sparse][gpu]" --durations yes > "$out/sparse_tests.log" 2>&1 || status=1
    grep -E "passed|failed|FAILED" "$out/sparse_tests.log" | tail -5
    for tool in memcheck racecheck; do
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$build/tests/ffc_tests" "[sparse][sanitize]" \
            > "$out/sparse_$tool.log" 2>&1 || status=1
        echo "  $tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|passed|failed' "$out/sparse_$tool.log" | tr '\n' ' ')"
    done
    stdbuf -oL "$build/bench/sparse_bench" --json "$out/sparse_bench.json" > "$out/sparse_bench.log" 2>&1 || status=1
    cat "$out/sparse_bench.log"
fi
if [ "$what" = profile ] || [ -n "${FFC_PROFILE:-}" ]; then
    log "ncu profile"
    metrics=l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed
    for reason in barrier long_scoreboard short_scoreboard mio_throttle math_pipe_throttle wait not_selected lg_throttle dispatch_stall no_instructions; do
        metrics=$metrics,smsp__average_warps_issue_stalled_${reason}_per_issue_active.ratio
    done
    for n in $(echo "${FFC_PROFILE_SIZES:-256,4096}" | tr ',' ' '); do
        # Each forward is two launches (spectrum, convolution): skip 3 to land on a convolution.
        ncu --clock-control none -k regex:fused_conv_kernel --launch-skip 3 --launch-count 1 \
            --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
            --section SchedulerStats --metrics "$metrics" \
            "$build/bench/ffc_bench" --sizes "$n" --dtypes fp16 --reps 3 --no-candidates > "$out/ncu_$n.txt" 2>&1 || status=1
        echo "== ncu N=$n"
        grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Block Limit|Memory Throughput|Compute \(SM\)|Stall|bank_conflicts|wavefronts|hmma|inst_executed|dram__|Warp Cycles Per Issued|Issue Slots|Eligible|issue_stalled" "$out/ncu_$n.txt" | head -50
    done
fi
if [ "$what" = breakdown ]; then
    # Per-kernel time and DRAM bytes of one forward and one backward per size in
    # $FFC_PROFILE_SIZES (all launches of the run, the bench's baselines included).
    for n in $(echo "${FFC_PROFILE_SIZES:-65536,1048576}" | tr ',' ' '); do
        for dir in forward backward; do
            ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
                --csv --print-units base "$build/bench/ffc_bench" --sizes "$n" --dtypes fp16 --reps 3 \
                --no-candidates "--$dir" > "$out/breakdown_${n}_$dir.csv" 2>&1 || status=1
            echo "== breakdown N=$n $dir (warm-up + 3 reps, every launch)"
            python3 "$root/bench/ncu_breakdown.py" < "$out/breakdown_${n}_$dir.csv" | head -14
        done
    done
fi
if [ "$what" = source ]; then
    # Stall sampling for one convolution launch, per SASS instruction; bench/sass_stalls.py
    # groups it by loop (stage). -lineinfo, which the build sets, maps it to source.
    n=${FFC_PROFILE_SIZES:-4096}
    ncu --clock-control none -k regex:fused_conv_kernel --launch-skip 3 --launch-count 1 \
        --section SourceCounters --section WarpStateStats -o "$out/source_$n" -f \
        "$build/bench/ffc_bench" --sizes "$n" --dtypes fp16 --reps 3 --no-candidates > "$out/ncu_source_run.txt" 2>&1 || status=1
    # Per SASS instruction: executed count and stall samples by reason.
    ncu -i "$out/source_$n.ncu-rep" --page source --csv --print-source sass > "$out/source_sass_$n.csv" 2>&1 || status=1
    rm -f "$out/source_$n.ncu-rep"
    wc -c "$out/source_sass_$n.csv"
    head -c 600 "$out/source_sass_$n.csv"; echo
fi
log "done (status $status)"
exit $status
