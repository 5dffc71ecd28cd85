// The deterministic batch reduction of the dk spectrum; see spectral_reduce.hpp.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/spectral_reduce.hpp"

namespace ffc::cuda {
namespace {

// One thread per two adjacent spectrum elements of one channel (a 16-byte
// float4: both complex values), grid-stride over channels·n/2. Consecutive
// threads read consecutive 16-byte vectors of each pair's spectrum row, so every
// access is coalesced; the pairs of a channel are n complex values apart.
__global__ void spectral_reduce_kernel(const float4 *__restrict__ w_v, const float4 *__restrict__ w_dz,
                                       float4 *__restrict__ acc, int64_t channels, int64_t pairs, int64_t half_n,
                                       int accumulate) {
    const int64_t total = channels * half_n;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t c = i / half_n, j = i - c * half_n;
        Cplx s0{0.f, 0.f}, s1{0.f, 0.f};
        if (accumulate) {
            const float4 a = acc[i];
            s0 = Cplx{a.x, a.y};
            s1 = Cplx{a.z, a.w};
        }
        const int64_t first = c * pairs * half_n + j;
#pragma unroll 4
        for (int64_t p = 0; p < pairs; ++p) {  // fixed order: pair 0, 1, 2, ...
            const float4 v = __ldg(w_v + first + p * half_n);
            const float4 d = __ldg(w_dz + first + p * half_n);
            s0 = conj_mul_add(s0, Cplx{v.x, v.y}, Cplx{d.x, d.y});
            s1 = conj_mul_add(s1, Cplx{v.z, v.w}, Cplx{d.z, d.w});
        }
        acc[i] = make_float4(s0.re, s0.im, s1.re, s1.im);
    }
}

// acc[c] (+)= Σ_g part[c][g], g in increasing order; same thread layout as above.
__global__ void partial_sum_kernel(const float4 *__restrict__ part, float4 *__restrict__ acc, int64_t channels,
                                   int64_t groups, int64_t half_n, int accumulate) {
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

int64_t reduce_blocks(int64_t total, int threads) {
    // Enough CTAs to fill any current GPU several times over; the grid-stride
    // loop covers the rest. The result does not depend on the grid size.
    return std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 16);
}

}  // namespace

void launch_partial_sum(const void *part, void *acc, int64_t channels, int64_t groups, int64_t n, int accumulate,
                        void *stream) {
    const int64_t half_n = n / 2, total = channels * half_n;
    if (total <= 0) return;
    constexpr int threads = 256;
    partial_sum_kernel<<<unsigned(reduce_blocks(total, threads)), threads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const float4 *>(part), static_cast<float4 *>(acc), channels, groups, half_n, accumulate);
}

void launch_spectral_reduce(const void *w_v, const void *w_dz, void *acc, int64_t channels, int64_t pairs, int64_t n,
                            int accumulate, void *stream) {
    const int64_t half_n = n / 2;
    const int64_t total = channels * half_n;
    if (total <= 0) return;
    constexpr int threads = 256;
    spectral_reduce_kernel<<<unsigned(reduce_blocks(total, threads)), threads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const float4 *>(w_v), static_cast<const float4 *>(w_dz), static_cast<float4 *>(acc), channels,
        pairs, half_n, accumulate);
}

}  // namespace ffc::cuda
