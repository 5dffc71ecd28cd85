// The registry of precompiled CUDA kernel variants, as plain data. The rows come
// from src/cuda/generated/kernel_table.inc (written by generate_kernels.py), so this
// file compiles without CUDA: the planner can price and test every variant on a
// CPU-only build, and kernels_compiled() tells whether they can actually launch.
#include "plan/kernel_variant.hpp"

#include "plan/device_caps.hpp"

#ifndef FFC_WITH_CUDA
#define FFC_WITH_CUDA 0
#endif

namespace ffc::plan {

const std::vector<KernelVariant> &kernel_table() {
    // Function-local static: built once, thread-safe, never modified afterwards.
    static const std::vector<KernelVariant> table = {
// Row format: (name, fft_size, num_factors, {factors}, threads, pairs_per_cta, smem_bytes, min_sm, cluster,
// direct_io, tensor_stages).
// The braced factor list contains commas, which the preprocessor does not treat as
// grouping, so everything after num_factors travels as __VA_ARGS__; it lines up
// with KernelVariant's remaining members in declaration order.
#define FFC_KERNEL_VARIANT(name, fft_size, num_factors, ...) \
    KernelVariant{name, KernelKind::fused_conv, fft_size, num_factors, __VA_ARGS__},
#include "cuda/generated/kernel_table.inc"
#undef FFC_KERNEL_VARIANT
    };
    return table;
}

bool kernels_compiled() { return FFC_WITH_CUDA != 0; }

bool KernelVariant::can_implement(uint64_t n, const DeviceCaps &caps) const {
    return n == fft_size && caps.sm() >= min_sm && smem_bytes <= caps.smem_per_block && cluster <= caps.max_cluster;
}

}  // namespace ffc::plan
