// The last step of dk's batch reduction (CUDA backward): the fused backward
// kernels leave one partial sum of conj(V)·DZ per pair group (launch.hpp), and
// launch_partial_sum adds a channel's groups. All buffers are complex fp32 in
// the kernel's visit order; the operation is elementwise in n, so the order
// itself never matters here. Re IFFT of the sum is Σ_b dk_b exactly (DESIGN §3).
// Frequency-sparse plans mask their spectra here too (launch_mask_spectrum).
//
// Deterministic by construction: each output element is owned by one thread,
// which adds the groups in increasing order, in fp32, with no atomics; the bits
// depend on nothing but the inputs and the number of groups.
//
// No CUDA headers here, so plain C++ (the executor) can include it.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FFC_HD __host__ __device__ __forceinline__
#else
#define FFC_HD inline
#endif

namespace ffc::cuda {

// One complex product-accumulate: acc += conj(a) · b.
struct Cplx {
    float re, im;
};
FFC_HD Cplx conj_mul_add(Cplx acc, Cplx a, Cplx b) {
    // conj(a)·b = (a.re·b.re + a.im·b.im) + i·(a.re·b.im − a.im·b.re)
    acc.re += a.re * b.re + a.im * b.im;
    acc.im += a.re * b.im - a.im * b.re;
    return acc;
}

// acc[c][n] (=, or += when accumulating: batches split into pair chunks, added
// in increasing order) Σ_{g < groups} part[c][g][n], g in increasing order, on
// `stream` (a cudaStream_t). part: float2 [channels][groups][n], acc:
// [channels][n], n the FFT size (a multiple of 2). overlap_previous: a
// programmatic launch (sm_90 code only, as FusedParams::overlap_previous): its
// threads wait for the previous kernel first, and the next programmatic launch
// may start at once. Launch errors are left for the caller's cudaGetLastError().
void launch_partial_sum(const void *part, void *acc, int64_t channels, int64_t groups, int64_t n, int accumulate,
                        bool overlap_previous, void *stream);

// Frequency-sparse plans (src/sparse): zeroes spectrum[r][i] for every row
// r < rows and every position i < n with mask[i] == 0 (the plan's mask in the
// executor's spectrum layout, device memory); kept positions are not touched.
// spectrum: float2 [rows][n]. An ordinary launch on `stream`.
void launch_mask_spectrum(void *spectrum, const uint8_t *mask, int64_t rows, int64_t n, void *stream);

}  // namespace ffc::cuda
