// The batch reduction of the dk spectrum (CUDA backward): for every channel c of
// a chunk and every spectrum element n,
//
//     acc[c][n] (=, or += when accumulating) Σ_{p < pairs} conj(w_v[c·pairs + p][n]) · w_dz[c·pairs + p][n]
//
// with w_v, w_dz the spectra of the packed pairs (v_a + i·v_b, dz_a + i·dz_b)
// written by the fused kernel's mode_transform, and acc the input of its
// mode_inverse (Re IFFT(acc) = Σ_b dk_b exactly, DESIGN §3). All three buffers
// are complex fp32 in the kernel's visit order; the operation is elementwise in
// n, so the order itself never matters here.
//
// Deterministic by construction: each acc element is owned by one thread, which
// adds the pairs in increasing p, in fp32, with no atomics; the bits depend on
// nothing but the inputs and `pairs`.
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

// Enqueues the reduction on `stream` (a cudaStream_t). w_v, w_dz: [channels·pairs][n]
// complex fp32 (float2), acc: [channels][n]. n is the FFT size (a multiple of 2).
// `accumulate` = 0 overwrites acc, 1 adds to it (for batches split into pair
// chunks; the chunks are reduced in increasing order, so that too is fixed).
// Launch errors are left for the caller's cudaGetLastError().
void launch_spectral_reduce(const void *w_v, const void *w_dz, void *acc, int64_t channels, int64_t pairs, int64_t n,
                            int accumulate, void *stream);

// The multi-pass backward's second step of the same sum (mode_rows_dk leaves one
// partial sum per pair group): acc[c][n] (=, or += when accumulating)
// Σ_{g < groups} part[c][g][n], g in increasing order, one thread per element:
// deterministic as above. part: float2 [channels][groups][n], acc: [channels][n].
void launch_partial_sum(const void *part, void *acc, int64_t channels, int64_t groups, int64_t n, int accumulate,
                        void *stream);

}  // namespace ffc::cuda
