#!/usr/bin/env bash
# Same-machine A/B of whole source trees, for the GPU machine: each argument
# NAME=DIR builds ffc_bench from the tree at DIR (relative to the repository
# root, or absolute) into build-ab-NAME, then the settings are timed in turn,
# $FFC_AB_ROUNDS rounds (default 2), interleaved so that clock drift hits all
# alike. Bench arguments: $FFC_AB_BENCH_ARGS (default: forward, fp16, the
# planner's pick, at the fused sizes).
#
#   git archive HEAD~1 | (mkdir -p ab/old && tar -x -C ab/old)   # here, before carrying
#   bash bench/ab_trees.sh old=ab/old new=.
#
# NAME=@BUILD (a build directory, relative to the root) times a tree built
# already, e.g. new=@build-device after device_run.sh. With FFC_AB_BUILD_ONLY=1
# the script builds and stops (to build while the GPU runs something else).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/ffc-device}
mkdir -p "$out"
. "$root/bench/device_env.sh"
args=${FFC_AB_BENCH_ARGS:---forward --no-candidates --dtypes fp16 --sizes 256,1024,4096,16384,32768}
names=()
for setting in "$@"; do
    name=${setting%%=*}
    dir=${setting#*=}
    if [ "${dir#@}" != "$dir" ]; then
        prebuilt=$root/${dir#@}
        [ -x "$prebuilt/bench/ffc_bench" ] || { echo "== $name: no $prebuilt/bench/ffc_bench"; continue; }
        ln -sfn "$prebuilt" "$root/build-ab-$name"
        names+=("$name")
        continue
    fi
    case $dir in /*) ;; *) dir=$root/$dir ;; esac
    build=$root/build-ab-$name
    echo "== build $name from $dir"
    if ! { cmake -S "$dir" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${FFC_CUDA_ARCHS:-90}" \
            -DFFC_BUILD_DOCS=OFF -DFFC_BUILD_TESTS=OFF && cmake --build "$build" -j"$(nproc)" --target ffc_bench; } \
            > "$out/ab_build_$name.log" 2>&1; then
        tail -30 "$out/ab_build_$name.log"
        continue
    fi
    names+=("$name")
done
[ -n "${FFC_AB_BUILD_ONLY:-}" ] && exit 0
for round in $(seq "${FFC_AB_ROUNDS:-2}"); do
    for name in "${names[@]}"; do
        # shellcheck disable=SC2086
        "$root/build-ab-$name/bench/ffc_bench" $args > "$out/ab_${name}_$round.log" 2>&1
        echo "== round $round: $name"
        # Forward rows: time and kernel; forward + backward rows (with "|"): also the backward alone.
        grep -E "^(fp16|bf16)" "$out/ab_${name}_$round.log" |
            awk '{bwd = ($8 == "|") ? " (bwd " $9 ")" : ""; printf "   %s N=%-8s %9s ms%s  %s\n", $1, $2, $3, bwd, $NF}'
    done
done
