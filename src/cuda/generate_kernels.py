#!/usr/bin/env python3
"""Generates the CUDA kernel registry: one .cu per fused-kernel instantiation
(FlashAttention style) plus kernel_table.inc, the plain-C++ description of every
variant that the planner reads. Run from anywhere; writes src/cuda/generated/.

Variants are chosen deliberately (nvcc time on CI is the budget): for each FFT
size two factorisations, so the planner's cost model always has a real choice.
The innermost radix-16 stages run on tensor cores; the outer ones (at most
two, radix 2 to 16) on CUDA cores in fp32. A name marks a CUDA-core radix-16
stage "16c" (fused_n4096_16cx16x16).
"""
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "generated")

MIN_SM = 80


def threads_for(n):
    """Threads of a one-CTA variant of size n (a cluster variant: of its part n / C).

    The register budget (128 a thread) allows 512 threads per SM. Up to 4K the
    shared memory (32 KiB a CTA) allows four CTAs per SM, so four warps each: a
    CTA's barriers and its load and store passes then stall a quarter of the SM
    instead of half (H100, forward fp16: 1K 0.285 -> 0.269 ms,
    2K 0.561 -> 0.501, 4K 1.141 -> 1.040). 8K (64 KiB) fits three CTAs: twelve
    warps of 128-thread CTAs were slower (2.66 against 2.53 ms) than two CTAs of
    eight. 16K uses 133 KiB of shared memory: one CTA per SM, so 16 warps.
    """
    if n <= 4096:
        return 128
    return 512 if n >= 16384 else 256


MAX_FUSED_LOG2 = 14  # 16K complex fp32 = 128 KiB of shared memory per CTA


def factorizations(log2n):
    """Two factorisations per size, small (CUDA-core) factors outermost, as
    (factors, number of CUDA-core stages).

    A: from 4K on, the two innermost radix-16 stages on tensor cores (the
       middle stage runs them in registers) and the rest in one or two
       CUDA-core stages of radix up to 16; below 4K one small factor and the
       radix-16 stages. A radix-16 stage on CUDA cores (fp32 butterflies, one
       shared-memory round trip) issues fewer instructions than one on tensor
       cores through shared memory (three bf16 products and the operand
       splits). H100, forward fp16, ms: 4K 0.956 (16x16x16, three tensor-core
       stages) against 0.888 (16cx16x16); as the multi-pass inner kernel at 1M
       643 against 615.
    B: one radix-16 stage fewer than three-or-more tensor-core stages would
       use, its work moved to two small fp32 stages (radix ≤ 8).
    """
    a, b = divmod(log2n, 4)
    if log2n >= 12:
        outer = 1 << (log2n - 8)
        small = [outer] if outer <= 16 else [outer // 16, 16]
        fa = (small + [16, 16], len(small))
    else:
        fa = (([1 << b] if b else []) + [16] * a, 1 if b else 0)
    tc = [16] * a
    if b == 0:
        fb = [4, 4] + tc[1:]
    elif b == 3:
        fb = [2, 4] + tc
    else:
        fb = [8, 1 << (b + 1)] + tc[1:]
    return [fa, (fb, 2)]


def factor_name(f, num_small):
    """"8x16cx16x16": the factors, a radix-16 CUDA-core stage marked c."""
    return "x".join("%d%s" % (x, "c" if i < num_small and x == 16 else "") for i, x in enumerate(f))


def pairs_per_cta(n):
    return max(1, 4096 // n)


def smem_bytes(n, pairs, cluster=1):
    # fp32 complex data (swizzled, no padding; a cluster CTA holds N / cluster) +
    # two-level twiddle table + a 32-byte descriptor per slot.
    # Must equal fused::Geometry::smem_bytes (src/cuda/fused_conv.cuh).
    return pairs * (n // cluster) * 8 + (64 + n // 64) * 8 + pairs * 32


# Hopper (sm_90) variants that split one pair over a thread-block cluster of C
# CTAs, each holding N / C elements; only the outermost stage (a CUDA-core stage
# of radix >= C) crosses CTAs, through distributed shared memory.
#   16K, C = 2: a single CTA needs 133 KiB and runs alone on its SM; two CTAs of
#               68 KiB each run like the 8K kernel, two pairs' halves per SM.
#   32K, C = 2: 16K elements (133 KiB) per CTA, 16 warps, one CTA per SM.
#   32K, C = 4: 8K elements (68 KiB) per CTA, two CTAs per SM; radix-8 outer stage.
# 32K complex fp32 (256 KiB) fits no single SM, so 32K is fused only with clusters.
CLUSTER_SIZES = {16384: [2], 32768: [2, 4]}
CLUSTER_MAX_LOG2 = 15

# Other cluster variants are listed explicitly (above 32K the two generic
# factorisations do not start with a small factor >= C):
#   8K,   C = 2: 4K elements (34 KiB) per CTA, four 128-thread CTAs per SM like
#               the one-CTA 4K kernel; 8 x 4 x 16^2 (H100, forward fp16: 2.43
#               ms against 2.57 for the one-CTA kernels; 2 x 16^3 with C = 2,
#               a tensor-core stage through shared memory more, took 2.72).
#   32K,  C = 8: 4K elements (34 KiB) per CTA, four 128-thread CTAs per SM
#               like 8K with C = 2; the same 8 x 16c x 16^2 as C = 4 (H100,
#               forward fp16: 10.36-10.44 ms against 10.57-10.75 for C = 4;
#               the same split at 16K, C = 4, took 4.64-4.80 against 4.36-4.41
#               for C = 2 and is not compiled).
#   64K,  C = 8: 8K elements (68 KiB) per CTA, two CTAs per SM; 16c x 16c x
#               16^2, both outer radix-16 stages on CUDA cores (one stage fewer
#               than 8 x 2 x 16^3, which is compiled too).
#   64K,  C = 4: 16K elements (133 KiB) per CTA, 16 warps, one CTA per SM; 4 x 4 x 16^3.
#   128K, C = 8: 16K elements per CTA, one CTA per SM; 8 x 4 x 16^3 (a candidate;
#               the multi-pass splits measure faster on the H100 and H200).
# 8 is the largest portable cluster size, so nothing larger is fused; above
# these sizes (and on devices without clusters) the multi-pass path runs.
# (N, factors, C, number of leading CUDA-core stages)
EXTRA_CLUSTER_VARIANTS = [
    (8192, [8, 4, 16, 16], 2, 2),
    (32768, [8, 16, 16, 16], 8, 2),
    (65536, [16, 16, 16, 16], 8, 2),
    (65536, [8, 2, 16, 16, 16], 8, 2),
    (65536, [4, 4, 16, 16, 16], 4, 2),
    (131072, [8, 4, 16, 16, 16], 8, 2),
]


def cluster_variant(base, name, c):
    """The sm_90 variant of `base` that splits one pair over a cluster of c CTAs."""
    n = base["n"]
    assert base["factors"][0] >= c, "the cross-CTA stage must pair elements of every CTA"
    return dict(base, name=name + "_c%d" % c, threads=threads_for(n // c), pairs=1, smem=smem_bytes(n, 1, c),
                min_sm=90, cluster=c)


def direct_io(v):
    """Whether the variant reads and writes global memory at stage 0 (fused::DirectIo::usable)."""
    r0, cols = v["factors"][0], v["n"] // v["factors"][0]
    local_cols = cols * v["pairs"] // v["cluster"]
    columns_per_thread = 2 if r0 <= 8 else 1
    return int(v["cluster"] > 1 and v["small"][0] > 1 and local_cols % (columns_per_thread * v["threads"]) == 0)


def base_variant(n, f, num_small):
    """Factors f of n, the first num_small on CUDA cores, the rest radix-16 tensor-core stages."""
    assert math.prod(f) == n, (n, f)
    assert 0 <= num_small <= 2 and all(x == 16 for x in f[num_small:])
    small = f[:num_small]
    return dict(n=n, factors=f, small=small + [1] * (2 - num_small), num_tc=len(f) - num_small,
                label=factor_name(f, num_small))


def variants():
    for log2n in range(8, CLUSTER_MAX_LOG2 + 1):
        n = 1 << log2n
        for f, num_small in factorizations(log2n):
            assert all(x in (2, 4, 8, 16) for x in f)
            base = base_variant(n, f, num_small)
            name = "fused_n%d_%s" % (n, base["label"])
            if log2n <= MAX_FUSED_LOG2:
                p = pairs_per_cta(n)
                yield dict(base, name=name, threads=threads_for(n), pairs=p, smem=smem_bytes(n, p), min_sm=MIN_SM,
                           cluster=1)
            for c in CLUSTER_SIZES.get(n, []):
                if f[0] >= c:  # the cross-CTA stage must pair elements of every CTA
                    yield cluster_variant(base, name, c)
    for n, f, c, num_small in EXTRA_CLUSTER_VARIANTS:
        assert num_small >= 1
        base = base_variant(n, f, num_small)
        yield cluster_variant(base, "fused_n%d_%s" % (n, base["label"]), c)


def write(path, text):
    # Rewrite only when the content changes, so rebuilds stay incremental.
    if os.path.exists(path) and open(path).read() == text:
        return
    with open(path, "w") as fh:
        fh.write(text)


def main():
    os.makedirs(OUT, exist_ok=True)
    vs = list(variants())
    head = "// Generated by src/cuda/generate_kernels.py. Do not edit.\n"

    rows = []
    for v in vs:
        f = v["factors"] + [0] * (8 - len(v["factors"]))
        rows.append('FFC_KERNEL_VARIANT("%s", %d, %d, {%s}, %d, %d, %d, %d, %d, %d, %d)' % (
            v["name"], v["n"], len(v["factors"]), ", ".join(map(str, f)),
            v["threads"], v["pairs"], v["smem"], v["min_sm"], v["cluster"], direct_io(v), v["num_tc"]))
    write(os.path.join(OUT, "kernel_table.inc"), head +
          "// FFC_KERNEL_VARIANT(name, fft_size, num_factors, {factors}, threads, pairs_per_cta, smem_bytes, min_sm, cluster,\n"
          "//                    direct_io, tensor_stages)\n" +
          "\n".join(rows) + "\n")

    keep = {"kernel_table.inc", "kernel_dispatch.cpp"}
    for v in vs:
        fn = v["name"] + ".cu"
        keep.add(fn)
        write(os.path.join(OUT, fn), head +
              '#include "cuda/fused_conv.cuh"\n\n'
              "FFC_DEFINE_FUSED_KERNEL(%s, %d, %d, %d, %d, %d, %d, %d)\n" % (
                  v["name"], v["n"], v["small"][0], v["small"][1], v["num_tc"], v["pairs"], v["threads"], v["cluster"]) +
              "static_assert(ffc::cuda::generated::%s_geometry::smem_bytes == %d, \"registry and kernel disagree\");\n" % (
                  v["name"], v["smem"]) +
              "static_assert(ffc::cuda::fused::DirectIo<ffc::cuda::generated::%s_geometry>::usable == %s,\n"
              "              \"registry and kernel disagree on direct I/O\");\n" % (v["name"], "true" if direct_io(v) else "false") +
              "static_assert(ffc::cuda::generated::%s_geometry::num_stages - ffc::cuda::generated::%s_geometry::num_small == %d,\n"
              "              \"registry and kernel disagree on the tensor-core stages\");\n" % (v["name"], v["name"], v["num_tc"]))

    decls = "".join("FusedKernelInfo prepare_%s();\nsize_t table_bytes_%s();\nvoid build_tables_%s(void *, void *);\n"
                    "void launch_%s(const FusedParams &, void *);\n"
                    "void launch_backward_%s(const FusedParams &, const FusedParams &, void *);\n" % ((v["name"],) * 5)
                    for v in vs)
    entries = "".join('    {"%s", &prepare_%s, &table_bytes_%s, &build_tables_%s, &launch_%s, &launch_backward_%s},\n' % (
        (v["name"],) * 6) for v in vs)
    write(os.path.join(OUT, "kernel_dispatch.cpp"), head +
          "// Static dispatch: registry name -> the instantiation's entry points.\n"
          "#include <cstring>\n\n#include \"cuda/launch.hpp\"\n\n"
          "namespace ffc::cuda {\nnamespace generated {\n" + decls + "}  // namespace generated\n\n"
          "using namespace generated;\n\n"
          "static const FusedKernelEntry kFusedKernels[] = {\n" + entries + "};\n\n"
          "const FusedKernelEntry *find_fused_kernel(const char *name) {\n"
          "    for (const FusedKernelEntry &e : kFusedKernels)\n"
          "        if (std::strcmp(e.name, name) == 0) return &e;\n"
          "    return nullptr;\n}\n\n}  // namespace ffc::cuda\n")

    for fn in os.listdir(OUT):
        if fn not in keep:
            os.remove(os.path.join(OUT, fn))
    print("wrote %d variants" % len(vs))


if __name__ == "__main__":
    main()
