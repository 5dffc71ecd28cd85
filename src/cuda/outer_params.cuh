// The parameters of one multi-pass outer pass (pass 1 or pass 3; see
// multipass.hpp for the mathematics), shared by the two implementations of
// those passes: the direct CUDA-core kernels (multipass.cu) and the cuBLASLt
// GEMM path (outer_gemm.cu). Device header: CUDA translation units only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ffc::cuda::mp {

struct OuterParams {
    const void *x = nullptr;     // pass 1: u (or k); pass 3: unused
    const void *gate = nullptr;  // pass 1: in_gate; pass 3: out_gate (optional)
    void *y = nullptr;           // pass 3: y
    // pass 3, optional second output of the same convolution: y2 = gate2 ⊙ w'
    // (gate2 NULL = ones). Backward uses it for du and d_in_gate.
    void *y2 = nullptr;
    const void *gate2 = nullptr;
    float2 *z = nullptr;         // [items][M][n_in]
    int64_t batch = 0, channels = 0, seq_len = 0, pairs_per_channel = 0, item_offset = 0;
    int64_t n_in = 0;
    float n = 0;                 // N as fp32 (exact: a power of two)
    int rows = 0;                // rows n1 with data: ceil(seq_len / n_in), ≤ M
    int vec = 0;                 // 1: two-element vector accesses are legal
    // The plan's outer table (OuterTables::data(), lo_bits()): required.
    const void *twiddles = nullptr;
    int twiddle_lo_bits = 0;
    // Frequency-sparse plans: bit k1 set = row k1 of Z is dropped by the
    // filter's mask. Pass 1 does not store it, pass 3 reads it as zero (direct
    // outer kernels only; M ≤ 256).
    uint64_t row_skip[4] = {0, 0, 0, 0};
};

__device__ __forceinline__ bool row_skipped(const OuterParams &p, int k1) {
    return (p.row_skip[k1 >> 6] >> (k1 & 63)) & 1;
}
// Bit q set: row first + stride·q is skipped (q < 16; one register for a
// thread's rows instead of a lookup per access).
__device__ __forceinline__ uint32_t row_skip_bits16(const OuterParams &p, int first, int stride) {
    uint32_t bits = 0;
#pragma unroll
    for (int q = 0; q < 16; ++q) bits |= uint32_t(row_skipped(p, first + stride * q)) << q;
    return bits;
}

// The two batch rows a sequence pair (item = h·pairs + pair) is made of.
struct Rows {
    int64_t a, b;  // element offsets of the pair's two rows (b = -1: absent)
};
__device__ __forceinline__ Rows pair_rows(const OuterParams &p, int64_t item) {
    const int64_t h = item / p.pairs_per_channel, pair = item % p.pairs_per_channel;
    Rows r;
    r.a = (2 * pair * p.channels + h) * p.seq_len;
    r.b = 2 * pair + 1 < p.batch ? ((2 * pair + 1) * p.channels + h) * p.seq_len : -1;
    return r;
}

}  // namespace ffc::cuda::mp
