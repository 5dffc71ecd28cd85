// Description of one precompiled CUDA kernel variant, visible to the planner
// without CUDA (the table itself is generated: src/cuda/generated/kernel_table.inc).
// The launch code for each variant lives in its own generated .cu file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ffc::plan {

struct DeviceCaps;

enum class KernelKind : int { fused_conv = 0 };

struct KernelVariant {
    const char *name;        // e.g. "fused_n4096_16cx16x16" (16c: a radix-16 stage on CUDA cores)
    KernelKind kind;
    uint64_t fft_size;
    int num_factors;
    int factors[8];          // outermost first
    int threads;             // CTA size
    int pairs_per_cta;       // sequence pairs one CTA convolves
    size_t smem_bytes;       // dynamic shared memory per CTA
    int min_sm;              // lowest compute capability (e.g. 80)
    int cluster;             // CTAs per sequence pair (2: a Hopper thread-block cluster splits the pair)
    int direct_io;           // 1: stage 0 reads u and writes y in global memory (no load and store passes)
    int tensor_stages;       // the innermost stages that run on tensor cores; the outer ones run on CUDA cores

    // Whether stage i (0 = outermost) runs on tensor cores.
    bool tensor_stage(int i) const { return i >= num_factors - tensor_stages; }

    std::vector<int> factor_list() const { return std::vector<int>(factors, factors + num_factors); }
    // CUTLASS-style: can this variant run this size on this device?
    bool can_implement(uint64_t n, const DeviceCaps &caps) const;
};

// Every variant compiled into this build (empty table when CUDA is off is NOT the
// case: the table describes the variants the CUDA build would contain, so the
// planner can be tested on a CPU-only build; kernels_compiled() says whether the
// launch functions are actually present).
const std::vector<KernelVariant> &kernel_table();
bool kernels_compiled();

}  // namespace ffc::plan
