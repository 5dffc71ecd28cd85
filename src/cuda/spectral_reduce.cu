// The deterministic last step of dk's batch reduction; see spectral_reduce.hpp.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/spectral_reduce.hpp"

namespace ffc::cuda {
namespace {

// acc[c] (+)= Σ_g part[c][g], g in increasing order. One thread per two
// adjacent spectrum elements of one channel (a 16-byte float4: both complex
// values), grid-stride over channels·n/2; consecutive threads read consecutive
// 16-byte vectors of each group's row, so every access is coalesced.
__global__ void partial_sum_kernel(const float4 *__restrict__ part, float4 *__restrict__ acc, int64_t channels,
                                   int64_t groups, int64_t half_n, int accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // A programmatic launch (launch_partial_sum): the backward kernel's partial
    // sums are complete only after this wait; dk's inverse may launch at once
    // (it waits for this grid in turn).
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
    const int64_t total = channels * half_n;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t c = i / half_n, j = i - c * half_n;
        float4 s = accumulate ? acc[i] : make_float4(0.f, 0.f, 0.f, 0.f);
        const float4 *first = part + c * groups * half_n + j;
        // Eight loads in flight before the first add (one at a time, each group
        // cost a DRAM latency); the adds stay in order: group 0, 1, 2, ...
        constexpr int batch = 8;
        for (int64_t g0 = 0; g0 < groups; g0 += batch) {
            float4 v[batch];
#pragma unroll
            for (int u = 0; u < batch; ++u)
                if (g0 + u < groups) v[u] = __ldg(first + (g0 + u) * half_n);
#pragma unroll
            for (int u = 0; u < batch; ++u) {
                if (g0 + u >= groups) break;
                s.x += v[u].x;
                s.y += v[u].y;
                s.z += v[u].z;
                s.w += v[u].w;
            }
        }
        acc[i] = s;
    }
}

// Positions are owned by one thread each; a kept position is neither read nor
// written, a dropped one is overwritten with zero (no read of the spectrum).
__global__ void mask_spectrum_kernel(float2 *__restrict__ spectrum, const uint8_t *__restrict__ mask, int64_t rows,
                                     int64_t n) {
    const int64_t total = rows * n;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
        if (!__ldg(mask + i % n)) spectrum[i] = make_float2(0.f, 0.f);
}

int64_t reduce_blocks(int64_t total, int threads) {
    // Enough CTAs to fill any current GPU several times over; the grid-stride
    // loop covers the rest. The result does not depend on the grid size.
    return std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 16);
}

}  // namespace

void launch_partial_sum(const void *part, void *acc, int64_t channels, int64_t groups, int64_t n, int accumulate,
                        bool overlap_previous, void *stream) {
    const int64_t half_n = n / 2, total = channels * half_n;
    if (total <= 0) return;
    constexpr int threads = 256;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(unsigned(reduce_blocks(total, threads)));
    config.blockDim = dim3(unsigned(threads));
    config.stream = static_cast<cudaStream_t>(stream);
    config.attrs = attribute;
    config.numAttrs = overlap_previous ? 1 : 0;
    cudaLaunchKernelEx(&config, partial_sum_kernel, static_cast<const float4 *>(part), static_cast<float4 *>(acc),
                       channels, groups, half_n, accumulate);
}

void launch_mask_spectrum(void *spectrum, const uint8_t *mask, int64_t rows, int64_t n, void *stream) {
    const int64_t total = rows * n;
    if (total <= 0) return;
    constexpr int threads = 256;
    mask_spectrum_kernel<<<unsigned(reduce_blocks(total, threads)), threads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<float2 *>(spectrum), mask, rows, n);
}

}  // namespace ffc::cuda
