// The multi-pass CUDA path: the outer passes (M-point column DFTs with the
// four-step twiddle, fp32 on CUDA cores) and the host-side orchestration that
// runs pass 1 → the inner fused kernel in mode_rows → pass 3, chunk by chunk,
// for forward and for both convolutions of backward (plus dk's reduction and
// inverse).
// See multipass.hpp for the mathematics and tests/tools/emulate_multipass.py for
// a NumPy model of exactly these index, twiddle and scale conventions.
//
// Outer kernels. A CTA of 256 threads takes one sequence pair and a tile of TN
// consecutive columns n2 for all M rows; every value is loaded (or stored) by
// the thread that transforms it. Each thread owns column pairs (n2, n2 + 1), so
// global accesses are two elements wide (u, gates, y: 4 bytes in 16-bit, 8 in
// fp32; Z: one float4) and a warp's 32 lanes cover consecutive pairs of a row
// (128 contiguous bytes of a 16-bit row, 512 of Z: whole cache lines). A thread
// issues all its loads (every row × u_a, u_b, gate_a, gate_b; pass 3: every
// row of Z) before it uses any: up to 256 bytes in flight per thread. Element
// offsets inside a row are ints (t < N ≤ 2^22). Every access is a whole
// aligned two-element word except at row edges; rows that do not start on a
// word boundary (odd L) straddle words (load_raw, store_pair), and the
// choice (`vec`: every row on the boundary and L even) is one uniform branch
// per batch of loads or stores, not per element.
//
//  M ≤ 16 (outer_*_reg): thread (warp w, lane l) owns the V/2 column pairs
//    c0 + 32V·w + 64j + 2l, V = max(2, 16/M) (16 values per thread for M ≤ 8, 32
//    at M = 16; TN = 256·V), and does the whole column DFT in registers
//    (recursive radix-2, constant twiddles of W_16): no shared memory, no barrier.
//  M ≥ 32 (outer_*_smem): M = P·16, n1 = 16p + q, k1 = kp + P·kq, TN = 8192/M,
//    32 values per thread. Stage 1: thread (column pair cp, g < P) holds rows
//    16p + q for its 16/P values of q and all p, does P-point DFTs over p,
//    multiplies by W_M^(q·kp) (fp32 table) and writes the [kp][q][pair] tile
//    (64 KiB of dynamic shared memory, float4 per pair, conflict-free); one
//    barrier; stage 2: the thread with kp = g reads the 16 values of q, does a
//    16-point DFT over q and holds k1 = g + P·kq. Pass 3 is the mirror image
//    (stage 1 on rows kp + P·kq of Z, stage 2 writes rows 16p + q).
//  The four-step twiddle W_N^(n2·k1) is built in double per column from the
//  plan's two-level table (OuterTables) as a chain of complex products and
//  rounded once: no sincos, no division, and every value is the correctly
//  rounded fp32 twiddle (outer_twiddles.hpp; checked value by value by
//  tests/test_outer_twiddles.cpp).
//
// Cache policy: u and the gates are read once (ld.global.cs: evict-first; the
// 16-bit ones with a 128-byte L2 fetch, load_streaming_line), y is
// written once (st.global.cs); Z is written and read with the default policy
// (what of a chunk's Z is still in the L2 when the next pass reads it is a bonus,
// unless the plan chose L2-sized chunks: plan::Intermediates).
//
// Zero padding: elements t ≥ L are zero and are not loaded, so rows n1 ≥
// ceil(L / N_in) of A are never read (with L ≤ N/2 at least the upper half);
// pass 3 stores only t < L.
//
// Registers (ptxas, sm_90, 2 CTAs of 256 threads per SM): ≤ 128 everywhere. The
// pass-1 kernels spill in the code for rows off the word grid: 24–72 bytes in
// 16-bit at M = 16 and 64–256, 84–104 in fp32 at M = 16 and M ≥ 32; their aligned path (SASS of
// three of them inspected) holds no spill code. Separate instantiations for the
// two paths were tried: ptxas then gave the aligned ones spills of up to 44
// bytes that they do not have here.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "cuda/chunk_budgets.hpp"
#include "cuda/cuda_util.hpp"
#include "cuda/launch.hpp"
#include "cuda/multipass.hpp"
#include "cuda/outer_gemm.hpp"
#include "cuda/outer_params.cuh"
#include "cuda/outer_tables.hpp"
#include "cuda/outer_twiddles.hpp"
#include "cuda/spectral_reduce.hpp"

#include "cuda/fused_tables.hpp"
#include "plan/planner.hpp"

namespace ffc::cuda {
namespace mp {

constexpr int kThreads = 256;
constexpr int kTile = 8192;                     // complex elements per CTA tile of the M ≥ 32 kernels; N_in ≥ kTile / M
constexpr int kMaxOuter = 256;                  // largest M (TN = 32)
constexpr int kMaxRegisterOuter = 16;           // M ≤ 16: the column DFT in registers
constexpr int kSmemBytes = kTile * 8;           // M ≥ 32: the [kp][q][pair] exchange tile

__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
    return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 cmul_conj(float2 a, float2 b) {  // a · conj(b)
    return make_float2(a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y);
}
__device__ __forceinline__ float2 cadd(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 csub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }
__device__ __forceinline__ float2 cscale(float2 a, float s) { return make_float2(a.x * s, a.y * s); }

// cos(2πj/16), j in 0..15, as constants after unrolling (correctly rounded literals).
__device__ __forceinline__ constexpr float cos16(int j) {
    constexpr float c1 = 0.923879532511286756f, c2 = 0.707106781186547524f, c3 = 0.382683432365089772f;
    switch (j & 15) {
    case 0: return 1.f;
    case 1: return c1;
    case 2: return c2;
    case 3: return c3;
    case 4: return 0.f;
    case 5: return -c3;
    case 6: return -c2;
    case 7: return -c1;
    case 8: return -1.f;
    case 9: return -c1;
    case 10: return -c2;
    case 11: return -c3;
    case 12: return 0.f;
    case 13: return c3;
    case 14: return c2;
    default: return c1;
    }
}

// v · W_16^e (conjugated when INV), e known after unrolling; quarter turns are exact.
template <bool INV>
__device__ __forceinline__ float2 rot16(float2 v, int e) {
    switch (e & 15) {
    case 0: return v;
    case 4: return INV ? make_float2(-v.y, v.x) : make_float2(v.y, -v.x);  // ·(±i)
    case 8: return make_float2(-v.x, -v.y);
    case 12: return INV ? make_float2(v.y, -v.x) : make_float2(-v.y, v.x);
    default: {
        const float2 w = make_float2(cos16(e), INV ? cos16(e - 4) : -cos16(e - 4));
        return cmul(v, w);
    }
    }
}

// In-register R-point DFT (R ≤ 16, a power of two), natural order in and out:
// recursive radix-2 decimation in time (even/odd split, every index affine in
// the unrolled loop counters, so everything stays in registers).
// Forward: X[k] = Σ_n v[n] W_R^(nk); INV: conjugate roots (no scaling).
template <int R, bool INV>
__device__ __forceinline__ void dft(float2 (&v)[R]) {
    if constexpr (R > 1) {
        float2 e[R / 2], o[R / 2];
#pragma unroll
        for (int i = 0; i < R / 2; ++i) {
            e[i] = v[2 * i];
            o[i] = v[2 * i + 1];
        }
        dft<R / 2, INV>(e);
        dft<R / 2, INV>(o);
#pragma unroll
        for (int k = 0; k < R / 2; ++k) {
            const float2 b = rot16<INV>(o[k], k * (16 / R));  // W_R^k = W_16^(k·16/R)
            v[k] = cadd(e[k], b);
            v[k + R / 2] = csub(e[k], b);
        }
    }
}

// ---------------------------------------------------------------------------
// Global I/O of the 16-bit and fp32 tensors in words of two consecutive
// elements. Raw is one word's bits; ld/st access one word at a word-aligned
// address, ld_first/st_first its first element only, join(a, b) is the word
// (second element of a, first element of b). Reads of u and the gates are
// streaming (ld.global.cs), so are stores of y.
// ---------------------------------------------------------------------------
template <typename T> struct Io;

template <> struct Io<float> {
    using Raw = float2;
    __device__ static __forceinline__ Raw ld(const float *x) { return __ldcs(reinterpret_cast<const float2 *>(x)); }
    __device__ static __forceinline__ Raw ld_first(const float *x) { return make_float2(__ldcs(x), 0.f); }
    __device__ static __forceinline__ Raw one() { return make_float2(1.f, 1.f); }
    __device__ static __forceinline__ Raw join(Raw a, Raw b) { return make_float2(a.y, b.x); }
    __device__ static __forceinline__ Raw shfl_down(Raw r) {
        return make_float2(__shfl_down_sync(0xffffffffu, r.x, 1), __shfl_down_sync(0xffffffffu, r.y, 1));
    }
    __device__ static __forceinline__ float2 to_float2(Raw r) { return r; }
    __device__ static __forceinline__ Raw pack(float2 v) { return v; }
    __device__ static __forceinline__ void st(float *y, Raw b) { __stcs(reinterpret_cast<float2 *>(y), b); }
    __device__ static __forceinline__ void st_first(float *y, Raw b) { __stcs(y, b.x); }
};

// A streaming 4-byte load whose L2 miss fetches the whole 128-byte line: at M =
// 256 a CTA's tile is 32 columns, so it reads 64-byte halves of lines whose other
// half the neighbouring CTA reads about when it does. H100, forward fp16,
// against plain ld.global.cs: 128K −2 %, 512K–4M −1 % (two interleaved rounds;
// a 256-byte fetch gained nothing).
__device__ __forceinline__ unsigned load_streaming_line(const unsigned *x) {
    unsigned v;
    asm("ld.global.cs.L2::128B.b32 %0, [%1];" : "=r"(v) : "l"(x));
    return v;
}

template <typename T, typename T2>  // (__half, __half2), (__nv_bfloat16, __nv_bfloat162)
struct Io16 {
    using Raw = unsigned;
    __device__ static __forceinline__ Raw ld(const T *x) {
        return load_streaming_line(reinterpret_cast<const unsigned *>(x));
    }
    __device__ static __forceinline__ Raw ld_first(const T *x) {
        return __ldcs(reinterpret_cast<const unsigned short *>(x));
    }
    __device__ static __forceinline__ Raw join(Raw a, Raw b) { return __byte_perm(a, b, 0x5432); }
    __device__ static __forceinline__ Raw shfl_down(Raw r) { return __shfl_down_sync(0xffffffffu, r, 1); }
    __device__ static __forceinline__ T2 as2(Raw r) {
        T2 h;
        memcpy(&h, &r, 4);
        return h;
    }
    __device__ static __forceinline__ Raw bits(T2 h) {
        Raw r;
        memcpy(&r, &h, 4);
        return r;
    }
    __device__ static __forceinline__ void st(T *y, Raw b) { __stcs(reinterpret_cast<unsigned *>(y), b); }
    __device__ static __forceinline__ void st_first(T *y, Raw b) {
        __stcs(reinterpret_cast<unsigned short *>(y), static_cast<unsigned short>(b & 0xffffu));
    }
};
template <> struct Io<__half> : Io16<__half, __half2> {
    __device__ static __forceinline__ Raw one() { return 0x3c003c00u; }  // (1.0, 1.0)
    __device__ static __forceinline__ float2 to_float2(Raw r) { return __half22float2(as2(r)); }
    __device__ static __forceinline__ Raw pack(float2 v) { return bits(__floats2half2_rn(v.x, v.y)); }
};
template <> struct Io<__nv_bfloat16> : Io16<__nv_bfloat16, __nv_bfloat162> {
    __device__ static __forceinline__ Raw one() { return 0x3f803f80u; }  // (1.0, 1.0)
    __device__ static __forceinline__ float2 to_float2(Raw r) { return __bfloat1622float2(as2(r)); }
    __device__ static __forceinline__ Raw pack(float2 v) { return bits(__floats2bfloat162_rn(v.x, v.y)); }
};

// Rows that do not start on a word boundary: odd L puts every other row of a
// tensor off it, and so can a tensor's own base. A thread still owns the pair
// x[t], x[t + 1] (t even), which then straddles two words: it reads the word
// ending in x[t] and takes x[t + 1] from the next lane (load_raw), and stores
// the word (y[t + 1], y[t + 2]) with the next lane's first element
// (store_pair). Single-element accesses remain at row and run edges. (H100,
// fp16, L = N − 7: with two 2-byte accesses per pair, passes 1 and 3 had taken
// 2.0–2.3× their aligned time, for the same DRAM bytes.)
template <typename T>
__device__ __forceinline__ bool off_word(const T *row) {
    return (reinterpret_cast<uintptr_t>(row) / sizeof(T)) % 2 != 0;
}


// Stores b = (y[t], y[t + 1]) of a row (t even; positions ≥ L are not
// written). Lanes in runs of RUN hold consecutive pairs of one row; every lane
// of the warp calls this (the off-word case shuffles). Off-word, a lane stores
// the word (y[t + 1], y[t + 2]) with its run successor's first element; the
// run's first lane stores y[t] alone, its last y[t + 1] alone.
template <typename T, int RUN>
__device__ __forceinline__ void store_pair(T *y, int t, int L, bool off, typename Io<T>::Raw b) {
    if (!off) {
        if (t + 1 < L) Io<T>::st(y + t, b);
        else if (t < L) Io<T>::st_first(y + t, b);
        return;
    }
    const typename Io<T>::Raw next = Io<T>::shfl_down(b);  // (y[t + 2], y[t + 3]) of the next lane
    const int lane = threadIdx.x % RUN;
    if (t >= L) return;
    if (lane == 0) Io<T>::st_first(y + t, b);
    if (t + 2 < L && lane != RUN - 1) Io<T>::st(y + t + 1, Io<T>::join(b, next));
    else if (t + 1 < L) Io<T>::st_first(y + t + 1, Io<T>::join(b, b));
}

__device__ __forceinline__ float2 fmul2(float2 a, float2 b) { return make_float2(a.x * b.x, a.y * b.y); }

// Loads raw pairs of up to four rows (u_a, u_b, gate_a, gate_b) at element t =
// n_in·row(r) + col(j) of each, all issued before any is used; a row whose flag
// is off reads as `fill`. Elements at t ≥ L read as zero (so rows ≥ ceil(L /
// N_in) are never touched). t < N ≤ 2^22 fits an int. p.vec (every row on the
// word grid and L even): one word per pair.
//
// Otherwise rows may be off the word grid (odd L, or a tensor's base) and a
// row's last element stands alone. The batch reads, per pair, the word holding
// x[t] ((x[t − 1], x[t]) off the grid); x[t + 1] is then the next lane's,
// shuffled down after the batch, except at a run's last lane (lanes in runs of
// RUN hold consecutive pairs of a row) and at the row's end, which read it
// alone (one more batch per tensor, issued before its shuffles). The word
// before x[0] of an off-grid row starts inside the row's allocation (which
// begins on a 256-byte boundary, and x[0] is not on one); every other word
// read holds an element of the row. The loads are predicated, not branched
// around, so that the batch is issued before any of it is used (H100, L = N −
// 7: loads behind branches, each used at once, had made pass 1 take 1.9× its
// aligned time).
template <typename T, int RUN, int NP, int NR, int K, class RowOf, class ColOf>
__device__ __forceinline__ void load_raw(const OuterParams &p, RowOf row, ColOf col, const T *const (&src)[K],
                                         const bool (&on)[K], const typename Io<T>::Raw (&fill)[K],
                                         typename Io<T>::Raw (&out)[K][NP][NR]) {
    using R = typename Io<T>::Raw;
    const int L = int(p.seq_len), n_in = int(p.n_in);
    if (p.vec) {
#pragma unroll
        for (int r = 0; r < NR; ++r)
#pragma unroll
            for (int j = 0; j < NP; ++j) {
                const int t = n_in * row(r) + col(j);
                const bool ok = t < L;  // L even: then t + 1 < L too
#pragma unroll
                for (int k = 0; k < K; ++k) out[k][j][r] = ok && on[k] ? Io<T>::ld(src[k] + t) : fill[k];
            }
        return;
    }
    int off[K];
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = off_word(src[k]) ? 1 : 0;
#pragma unroll
    for (int r = 0; r < NR; ++r)
#pragma unroll
        for (int j = 0; j < NP; ++j) {
            const int t = n_in * row(r) + col(j);
#pragma unroll
            for (int k = 0; k < K; ++k)  // the word holding x[t], where it lies in the row
                out[k][j][r] = on[k] && t + 1 - off[k] < L ? Io<T>::ld(src[k] + t - off[k]) : R{};
        }
    const bool run_end = threadIdx.x % RUN == RUN - 1;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        if (off[k]) {
            R alone[NP][NR];
#pragma unroll
            for (int r = 0; r < NR; ++r)
#pragma unroll
                for (int j = 0; j < NP; ++j) {
                    const int t = n_in * row(r) + col(j);
                    const bool read = on[k] && t + 1 < L && (run_end || t + 2 >= L);
                    alone[j][r] = read ? Io<T>::ld_first(src[k] + t + 1) : R{};
                }
#pragma unroll
            for (int r = 0; r < NR; ++r)
#pragma unroll
                for (int j = 0; j < NP; ++j) {
                    const int t = n_in * row(r) + col(j);
                    const R next = Io<T>::shfl_down(out[k][j][r]);  // (x[t + 1], x[t + 2]) of the next lane
                    const R second = run_end || t + 2 >= L ? alone[j][r] : next;
                    out[k][j][r] = on[k] && t < L ? Io<T>::join(out[k][j][r], second) : fill[k];
                }
        } else {
#pragma unroll
            for (int r = 0; r < NR; ++r)
#pragma unroll
                for (int j = 0; j < NP; ++j) {
                    const int t = n_in * row(r) + col(j);
                    if (on[k] && t + 1 == L) out[k][j][r] = Io<T>::ld_first(src[k] + t);  // the row's last element
                    if (!on[k] || t >= L) out[k][j][r] = fill[k];
                }
        }
    }
}

// Gated inputs of one pair at NR rows n1 = row(r) and NP column pairs n2 = col(j):
// x0[j][r] = (v_a + i·v_b)[t], x1[j][r] = (v_a + i·v_b)[t + 1], t = n_in·n1 + n2.
// A missing gate reads as ones, a missing second row as zeros. 16-bit: one
// batch of 4·NP·NR loads (as many registers of raw bits, converted in place);
// fp32 takes twice the registers per load, so its two rows go in two batches.
template <typename T, int RUN, int NP, int NR, class RowOf, class ColOf>
__device__ __forceinline__ void load_inputs(const OuterParams &p, const Rows &rows, RowOf row, ColOf col,
                                            float2 (&x0)[NP][NR], float2 (&x1)[NP][NR]) {
    using R = typename Io<T>::Raw;
    const T *u = static_cast<const T *>(p.x);
    const T *g = static_cast<const T *>(p.gate);
    const bool has_b = rows.b >= 0, gated = g != nullptr;
    const T *ua = u + rows.a, *ub = u + (has_b ? rows.b : 0);
    const T *ga = gated ? g + rows.a : u, *gb = gated ? g + (has_b ? rows.b : 0) : u;
    float2 va[NP][NR], vb[NP][NR];
    if constexpr (sizeof(T) == 4) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            R raw[2][NP][NR];
            const T *const src[2] = {half ? ub : ua, half ? gb : ga};
            const bool on[2] = {half ? has_b : true, gated && (half ? has_b : true)};
            const R fill[2] = {R{}, Io<T>::one()};
            load_raw<T, RUN, NP, NR>(p, row, col, src, on, fill, raw);
#pragma unroll
            for (int r = 0; r < NR; ++r)
#pragma unroll
                for (int j = 0; j < NP; ++j) {
                    const float2 v = fmul2(Io<T>::to_float2(raw[0][j][r]), Io<T>::to_float2(raw[1][j][r]));
                    if (half) vb[j][r] = v;
                    else va[j][r] = v;
                }
        }
    } else {
        R raw[4][NP][NR];
        const T *const src[4] = {ua, ub, ga, gb};
        const bool on[4] = {true, has_b, gated, gated && has_b};
        const R fill[4] = {R{}, R{}, Io<T>::one(), Io<T>::one()};
        load_raw<T, RUN, NP, NR>(p, row, col, src, on, fill, raw);
#pragma unroll
        for (int r = 0; r < NR; ++r)
#pragma unroll
            for (int j = 0; j < NP; ++j) {
                va[j][r] = fmul2(Io<T>::to_float2(raw[0][j][r]), Io<T>::to_float2(raw[2][j][r]));
                vb[j][r] = fmul2(Io<T>::to_float2(raw[1][j][r]), Io<T>::to_float2(raw[3][j][r]));
            }
    }
#pragma unroll
    for (int r = 0; r < NR; ++r)
#pragma unroll
        for (int j = 0; j < NP; ++j) {
            x0[j][r] = make_float2(va[j][r].x, vb[j][r].x);  // (v_a + i v_b)[t]
            x1[j][r] = make_float2(va[j][r].y, vb[j][r].y);  // (v_a + i v_b)[t + 1]
        }
}

// One gated output of pass 3 for one row of the pair (y and g already offset to
// the row; part 0 = real, 1 = imaginary): y[t] = w'_part[t] ⊙ g[t] at t < L,
// w' already scaled by 1/M (x0: w'[t], x1: w'[t + 1]). The gates are loaded in
// batches of RB rows (all rows in 16-bit, a quarter in fp32) before the stores.
// Lanes in runs of RUN hold consecutive column pairs of a row (store_pair).
template <typename T, int RUN, int NP, int NR, class RowOf, class ColOf>
__device__ __forceinline__ void store_row(const OuterParams &p, T *y, const T *g, int part, RowOf row, ColOf col,
                                          const float2 (&x0)[NP][NR], const float2 (&x1)[NP][NR]) {
    using R = typename Io<T>::Raw;
    constexpr int RB = sizeof(T) == 4 && NR % 4 == 0 ? NR / 4 : NR;
    const int L = int(p.seq_len), n_in = int(p.n_in);
#pragma unroll
    for (int r0 = 0; r0 < NR; r0 += RB) {
        auto rowb = [&](int r) { return row(r0 + r); };
        R gr[1][NP][RB];
        const T *const src[1] = {g ? g : y};
        const bool on[1] = {g != nullptr};
        const R fill[1] = {Io<T>::one()};
        load_raw<T, RUN, NP, RB>(p, rowb, col, src, on, fill, gr);
        // The gated output pair (y[t], y[t + 1]) of row r0 + r, column pair j.
        auto word = [&](int r, int j) {
            const float2 a = x0[j][r0 + r], b = x1[j][r0 + r];
            return Io<T>::pack(fmul2(part == 0 ? make_float2(a.x, b.x) : make_float2(a.y, b.y),
                                     Io<T>::to_float2(gr[0][j][r])));
        };
        if (p.vec) {
#pragma unroll
            for (int r = 0; r < RB; ++r)
#pragma unroll
                for (int j = 0; j < NP; ++j) {
                    const int t = n_in * rowb(r) + col(j);
                    if (t < L) Io<T>::st(y + t, word(r, j));
                }
        } else {
            const bool off = off_word(y);
#pragma unroll
            for (int r = 0; r < RB; ++r)
#pragma unroll
                for (int j = 0; j < NP; ++j) store_pair<T, RUN>(y, n_in * rowb(r) + col(j), L, off, word(r, j));
        }
    }
}

// Both gated outputs of pass 3 (y with gate, then y2 with gate2), both rows of
// the pair. Written out twice rather than as a loop over the two outputs: the
// loop form makes ptxas spill the 64 data registers.
template <typename T, int RUN, int NP, int NR, class RowOf, class ColOf>
__device__ __forceinline__ void store_outputs(const OuterParams &p, const Rows &rows, RowOf row, ColOf col,
                                              const float2 (&x0)[NP][NR], const float2 (&x1)[NP][NR]) {
    if (p.y) {
        T *y = static_cast<T *>(p.y);
        const T *g = static_cast<const T *>(p.gate);
        store_row<T, RUN>(p, y + rows.a, g ? g + rows.a : nullptr, 0, row, col, x0, x1);
        if (rows.b >= 0) store_row<T, RUN>(p, y + rows.b, g ? g + rows.b : nullptr, 1, row, col, x0, x1);
    }
    if (p.y2) {
        T *y = static_cast<T *>(p.y2);
        const T *g = static_cast<const T *>(p.gate2);
        store_row<T, RUN>(p, y + rows.a, g ? g + rows.a : nullptr, 0, row, col, x0, x1);
        if (rows.b >= 0) store_row<T, RUN>(p, y + rows.b, g ? g + rows.b : nullptr, 1, row, col, x0, x1);
    }
}

// The plan table's three parts (outer_twiddles.hpp).
struct Tables {
    const double2 *lo, *hi;
    const float2 *wm;
    int bits;
};
template <int M>
__device__ __forceinline__ Tables tables(const OuterParams &p) {
    Tables t;
    t.bits = p.twiddle_lo_bits;
    t.lo = static_cast<const double2 *>(p.twiddles);
    t.hi = t.lo + (int64_t(1) << t.bits);
    t.wm = reinterpret_cast<const float2 *>(t.hi + ((p.n_in * M) >> t.bits));
    return t;
}
__device__ __forceinline__ float2 to_twiddle(double2 w) {
    return make_float2(outer::round_component(w.x), outer::round_component(w.y));
}

// v[k] ← v[k] · w_k (CONJ: · conj(w_k)) for k = K0 .. R−1, with w_K0 = first and
// w_k = w_(k−1) · step in double (outer_twiddles.hpp). One column at a time, so
// only one chain's doubles are live.
template <int R, int K0, bool CONJ>
__device__ __forceinline__ void apply_chain(float2 (&v)[R], double2 first, double2 step) {
    double2 w = first;
#pragma unroll
    for (int k = K0; k < R; ++k) {
        if (k > K0) w = outer::mul(w, step);
        v[k] = CONJ ? cmul_conj(v[k], to_twiddle(w)) : cmul(v[k], to_twiddle(w));
    }
}

// ---------------------------------------------------------------------------
// M ≤ 16: the column DFT in registers. Thread (warp w, lane l) owns the V / 2
// column pairs n2 = c0 + w·32V + 64j + 2l (+1), j < V / 2, and all M rows.
// ---------------------------------------------------------------------------
template <int M>
struct RegGeometry {
    // Columns per thread: 16 values per thread for M ≤ 8 (more make ptxas spill
    // the twiddle-table reads), 32 at M = 16.
    static constexpr int V = 16 / M > 2 ? 16 / M : 2;
    static constexpr int NP = V / 2;          // column pairs per thread
    static constexpr int TN = kThreads * V;   // columns per CTA (≤ kTile / M)
    static constexpr int RUN = 32;            // a warp's lanes hold consecutive pairs of a row
    static_assert(M >= 2 && M <= kMaxRegisterOuter && NP >= 1 && TN <= kTile / M, "register geometry");
};

template <int M>
__device__ __forceinline__ int reg_first_column(const OuterParams &p, int64_t &local) {
    using G = RegGeometry<M>;
    const int64_t tiles = p.n_in / G::TN;
    local = blockIdx.x / tiles;
    const int c0 = int(blockIdx.x % tiles) * G::TN;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    return c0 + warp * (32 * G::V) + 2 * lane;
}

// Pass 1: Z[k1][n2] = W_N^(n2·k1) · Σ_n1 (v_a + i·v_b)[N_in·n1 + n2] · W_M^(n1·k1).
template <int M, typename T>
__global__ void __launch_bounds__(kThreads, 2) outer_forward_reg(const OuterParams p) {
    using G = RegGeometry<M>;
    int64_t local;
    const int cbase = reg_first_column<M>(p, local);
    const Rows rows = pair_rows(p, p.item_offset + local);
    auto row = [](int r) { return r; };
    auto col = [cbase](int j) { return cbase + 64 * j; };

    float2 x0[G::NP][M], x1[G::NP][M];  // columns n2 and n2 + 1 of pair j, rows 0..M-1
    load_inputs<T, G::RUN>(p, rows, row, col, x0, x1);
#pragma unroll
    for (int j = 0; j < G::NP; ++j) {
        dft<M, false>(x0[j]);
        dft<M, false>(x1[j]);
    }

    const Tables tb = tables<M>(p);
    float4 *z = reinterpret_cast<float4 *>(p.z + local * M * p.n_in);
    const int half_row = int(p.n_in) / 2;  // float4 per row of Z
#pragma unroll
    for (int j = 0; j < G::NP; ++j) {
        // W_N^(n2·k1) = ω^k1, ω = W_N^(n2); k1 = 0 is 1 and not multiplied.
        const int n2 = col(j);
        const double2 w0 = outer::root(tb.lo, tb.hi, tb.bits, uint32_t(n2));
        apply_chain<M, 1, false>(x0[j], w0, w0);
        const double2 w1 = outer::root(tb.lo, tb.hi, tb.bits, uint32_t(n2 + 1));
        apply_chain<M, 1, false>(x1[j], w1, w1);
        float4 *zc = z + n2 / 2;  // Z[k1][n2], Z[k1][n2 + 1] = zc[k1 · n_in / 2]
#pragma unroll
        for (int k1 = 0; k1 < M; ++k1)
            if (!row_skipped(p, k1))
                zc[k1 * half_row] = make_float4(x0[j][k1].x, x0[j][k1].y, x1[j][k1].x, x1[j][k1].y);
    }
}

// Pass 3: w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) · conj(W_N^(n2·k1)) · Z[k1][n2];
// y_a = Re w' ⊙ out_gate_a, y_b = Im w' ⊙ out_gate_b, for t < L (and y2 with gate2).
template <int M, typename T>
__global__ void __launch_bounds__(kThreads, 2) outer_inverse_reg(const OuterParams p) {
    using G = RegGeometry<M>;
    int64_t local;
    const int cbase = reg_first_column<M>(p, local);
    auto row = [](int r) { return r; };
    auto col = [cbase](int j) { return cbase + 64 * j; };

    const float4 *z = reinterpret_cast<const float4 *>(p.z + local * M * p.n_in);
    const int half_row = int(p.n_in) / 2;  // float4 per row of Z
    float4 zv[G::NP][M];
#pragma unroll
    for (int j = 0; j < G::NP; ++j)
#pragma unroll
        for (int k1 = 0; k1 < M; ++k1)
            zv[j][k1] = row_skipped(p, k1) ? make_float4(0.f, 0.f, 0.f, 0.f) : __ldg(z + col(j) / 2 + k1 * half_row);

    const Tables tb = tables<M>(p);
    float2 x0[G::NP][M], x1[G::NP][M];
#pragma unroll
    for (int j = 0; j < G::NP; ++j) {
        const int n2 = col(j);
#pragma unroll
        for (int k1 = 0; k1 < M; ++k1) {
            x0[j][k1] = make_float2(zv[j][k1].x, zv[j][k1].y);
            x1[j][k1] = make_float2(zv[j][k1].z, zv[j][k1].w);
        }
        const double2 w0 = outer::root(tb.lo, tb.hi, tb.bits, uint32_t(n2));
        apply_chain<M, 1, true>(x0[j], w0, w0);
        const double2 w1 = outer::root(tb.lo, tb.hi, tb.bits, uint32_t(n2 + 1));
        apply_chain<M, 1, true>(x1[j], w1, w1);
        dft<M, true>(x0[j]);
        dft<M, true>(x1[j]);
        constexpr float scale = 1.0f / float(M);
#pragma unroll
        for (int n1 = 0; n1 < M; ++n1) {
            x0[j][n1] = cscale(x0[j][n1], scale);
            x1[j][n1] = cscale(x1[j][n1], scale);
        }
    }
    const Rows rows = pair_rows(p, p.item_offset + local);  // late: fewer live registers
    store_outputs<T, G::RUN>(p, rows, row, col, x0, x1);
}

// ---------------------------------------------------------------------------
// M ≥ 32: two register stages around one shared-memory exchange. Thread t is
// (column pair cp = t mod HP, group g = t / HP < P): columns n2 = c0 + 2cp (+1).
// Exchange tile: float4 s[(kp·16 + q)·HP + cp] (columns n2, n2 + 1).
// ---------------------------------------------------------------------------
template <int M>
struct SmemGeometry {
    static constexpr int P = M / 16;    // first-stage radix (over p)
    static constexpr int G1 = 16 / P;   // values of q per thread in the P-point stage
    static constexpr int TN = kTile / M;
    static constexpr int HP = TN / 2;   // column pairs per CTA
    static constexpr int RUN = HP < 32 ? HP : 32;  // lanes holding consecutive pairs of a row
    static_assert(M > kMaxRegisterOuter && M <= kMaxOuter && HP * P == kThreads, "shared-memory geometry");
};

template <int M>
__device__ __forceinline__ int smem_column(const OuterParams &p, int64_t &local, int &g) {
    using G = SmemGeometry<M>;
    const int64_t tiles = p.n_in / G::TN;
    local = blockIdx.x / tiles;
    g = threadIdx.x / G::HP;
    return int(blockIdx.x % tiles) * G::TN + 2 * int(threadIdx.x % G::HP);
}

// The chain of W_N^(n2·(kp + P·kq)), kq = 0..15: α·β^kq with α = W_N^(n2·kp),
// β = W_N^(n2·P) (outer_twiddles.hpp).
struct ChainStart {
    double2 alpha, beta;
};
template <int M>
__device__ __forceinline__ ChainStart chain_start(const Tables &tb, int n2, int kp) {
    return ChainStart{outer::root(tb.lo, tb.hi, tb.bits, uint32_t(n2 * kp)),
                      outer::root(tb.lo, tb.hi, tb.bits, uint32_t(n2 * SmemGeometry<M>::P))};
}

template <int M, typename T>
__global__ void __launch_bounds__(kThreads, 2) outer_forward_smem(const OuterParams p) {
    using G = SmemGeometry<M>;
    extern __shared__ float4 smem[];
    int64_t local;
    int g;
    const int n2 = smem_column<M>(p, local, g);
    const int cp = threadIdx.x % G::HP;
    const Rows rows = pair_rows(p, p.item_offset + local);
    // Stage 1 data: [i][p] = rows 16p + q_i, q_i = g·G1 + i; one "column pair" (j = 0).
    auto row = [g](int r) { return 16 * (r % G::P) + g * G::G1 + r / G::P; };
    auto col = [n2](int) { return n2; };
    float2 xa[1][16], xb[1][16];
    load_inputs<T, G::RUN>(p, rows, row, col, xa, xb);

    const Tables tb = tables<M>(p);
#pragma unroll
    for (int i = 0; i < G::G1; ++i) {
        float2 va[G::P], vb[G::P];
#pragma unroll
        for (int k = 0; k < G::P; ++k) {
            va[k] = xa[0][i * G::P + k];
            vb[k] = xb[0][i * G::P + k];
        }
        dft<G::P, false>(va);
        dft<G::P, false>(vb);
        const int q = g * G::G1 + i;
#pragma unroll
        for (int kp = 0; kp < G::P; ++kp) {
            if (kp > 0) {
                const float2 w = __ldg(tb.wm + q * kp);  // W_M^(q·kp), q·kp < M
                va[kp] = cmul(va[kp], w);
                vb[kp] = cmul(vb[kp], w);
            }
            smem[(kp * 16 + q) * G::HP + cp] = make_float4(va[kp].x, va[kp].y, vb[kp].x, vb[kp].y);
        }
    }
    // The first stage-2 twiddle chain's table reads, issued before the barrier.
    const ChainStart sa = chain_start<M>(tb, n2, g);
    __syncthreads();

    // Stage 2: kp = g, 16-point DFT over q, outputs k1 = g + P·kq.
    float2 ya[16], yb[16];
#pragma unroll
    for (int q = 0; q < 16; ++q) {
        const float4 v = smem[(g * 16 + q) * G::HP + cp];
        ya[q] = make_float2(v.x, v.y);
        yb[q] = make_float2(v.z, v.w);
    }
    dft<16, false>(ya);
    dft<16, false>(yb);
    apply_chain<16, 0, false>(ya, sa.alpha, sa.beta);
    const ChainStart sb = chain_start<M>(tb, n2 + 1, g);
    apply_chain<16, 0, false>(yb, sb.alpha, sb.beta);
    float4 *zc = reinterpret_cast<float4 *>(p.z + local * M * p.n_in) + n2 / 2;
    const int half_row = int(p.n_in) / 2;  // float4 per row of Z
    const uint32_t skip = row_skip_bits16(p, g, G::P);
#pragma unroll
    for (int kq = 0; kq < 16; ++kq)
        if (!((skip >> kq) & 1))
            zc[(g + G::P * kq) * half_row] = make_float4(ya[kq].x, ya[kq].y, yb[kq].x, yb[kq].y);
}

template <int M, typename T>
__global__ void __launch_bounds__(kThreads, 2) outer_inverse_smem(const OuterParams p) {
    using G = SmemGeometry<M>;
    extern __shared__ float4 smem[];
    int64_t local;
    int g;
    const int n2 = smem_column<M>(p, local, g);
    const int cp = threadIdx.x % G::HP;

    // Stage 1 (kp = g): rows k1 = g + P·kq of Z.
    const float4 *z = reinterpret_cast<const float4 *>(p.z + local * M * p.n_in);
    const int half_row = int(p.n_in) / 2;  // float4 per row of Z
    float4 zv[16];
    const uint32_t skip = row_skip_bits16(p, g, G::P);
#pragma unroll
    for (int kq = 0; kq < 16; ++kq)
        zv[kq] = (skip >> kq) & 1 ? make_float4(0.f, 0.f, 0.f, 0.f) : __ldg(z + n2 / 2 + (g + G::P * kq) * half_row);

    const Tables tb = tables<M>(p);
    float2 ya[16], yb[16];
#pragma unroll
    for (int kq = 0; kq < 16; ++kq) {
        ya[kq] = make_float2(zv[kq].x, zv[kq].y);
        yb[kq] = make_float2(zv[kq].z, zv[kq].w);
    }
    {
        const ChainStart sa = chain_start<M>(tb, n2, g);
        apply_chain<16, 0, true>(ya, sa.alpha, sa.beta);
        const ChainStart sb = chain_start<M>(tb, n2 + 1, g);
        apply_chain<16, 0, true>(yb, sb.alpha, sb.beta);
    }
    dft<16, true>(ya);  // kq -> q
    dft<16, true>(yb);
#pragma unroll
    for (int q = 0; q < 16; ++q) {
        if (q > 0 && g > 0) {
            const float2 w = __ldg(tb.wm + q * g);  // conj(W_M^(q·kp)), q·kp < M
            ya[q] = cmul_conj(ya[q], w);
            yb[q] = cmul_conj(yb[q], w);
        }
        smem[(g * 16 + q) * G::HP + cp] = make_float4(ya[q].x, ya[q].y, yb[q].x, yb[q].y);
    }
    __syncthreads();

    // Stage 2: P-point inverse DFTs over kp for q_i = g·G1 + i; outputs [i][p] = row 16p + q_i.
    auto row = [g](int r) { return 16 * (r % G::P) + g * G::G1 + r / G::P; };
    auto col = [n2](int) { return n2; };
    float2 x0[1][16], x1[1][16];
    constexpr float scale = 1.0f / float(M);
#pragma unroll
    for (int i = 0; i < G::G1; ++i) {
        const int q = g * G::G1 + i;
        float2 va[G::P], vb[G::P];
#pragma unroll
        for (int kp = 0; kp < G::P; ++kp) {
            const float4 v = smem[(kp * 16 + q) * G::HP + cp];
            va[kp] = make_float2(v.x, v.y);
            vb[kp] = make_float2(v.z, v.w);
        }
        dft<G::P, true>(va);
        dft<G::P, true>(vb);
#pragma unroll
        for (int k = 0; k < G::P; ++k) {
            x0[0][i * G::P + k] = cscale(va[k], scale);
            x1[0][i * G::P + k] = cscale(vb[k], scale);
        }
    }
    const Rows rows = pair_rows(p, p.item_offset + local);  // late: fewer live registers
    store_outputs<T, G::RUN>(p, rows, row, col, x0, x1);
}

// Columns per CTA tile (a launch covers items × n_in / TN tiles).
template <int M>
constexpr int tile_columns() {
    if constexpr (M <= kMaxRegisterOuter) return RegGeometry<M>::TN;
    else return SmemGeometry<M>::TN;
}

// M ≥ 32: the 64 KiB of dynamic shared memory need the opt-in, once per kernel
// and device (at plan creation through prepare_outer, or at the first launch).
template <int M, typename T, bool INV>
void configure() {
    if constexpr (M > kMaxRegisterOuter) {
        static std::atomic<uint64_t> configured{0};
        int device = 0;
        check(cudaGetDevice(&device), "cudaGetDevice");
        const uint64_t bit = device < 64 ? uint64_t(1) << device : 0;
        if (bit && (configured.load(std::memory_order_acquire) & bit)) return;
        auto kernel = INV ? outer_inverse_smem<M, T> : outer_forward_smem<M, T>;
        check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes),
              "cudaFuncSetAttribute (multi-pass outer pass)");
        configured.fetch_or(bit, std::memory_order_acq_rel);
    }
}

template <int M>
void configure_all() {
    configure<M, __half, false>();
    configure<M, __half, true>();
    configure<M, __nv_bfloat16, false>();
    configure<M, __nv_bfloat16, true>();
    configure<M, float, false>();
    configure<M, float, true>();
}

// Plan creation (the plan's device current): the attributes of outer size m.
void prepare_outer(int m) {
    switch (m) {
    case 32: return configure_all<32>();
    case 64: return configure_all<64>();
    case 128: return configure_all<128>();
    case 256: return configure_all<256>();
    default: return;  // M ≤ 16: no shared memory
    }
}

// Host-side dispatch over M and the element type.
template <int M, typename T, bool INV>
void launch_pass(const OuterParams &p, int64_t items, cudaStream_t stream) {
    constexpr int TN = tile_columns<M>();
    const int64_t blocks = items * (p.n_in / TN);
    if (blocks > int64_t(0x7fffffff)) fail(FFC_ERROR_NOT_SUPPORTED, "multi-pass chunk too large for one launch");
    if constexpr (M <= kMaxRegisterOuter) {
        auto kernel = INV ? outer_inverse_reg<M, T> : outer_forward_reg<M, T>;
        kernel<<<unsigned(blocks), kThreads, 0, stream>>>(p);
    } else {
        configure<M, T, INV>();
        auto kernel = INV ? outer_inverse_smem<M, T> : outer_forward_smem<M, T>;
        kernel<<<unsigned(blocks), kThreads, kSmemBytes, stream>>>(p);
    }
}

template <typename T>
void launch_pass_m(int m, bool inverse, const OuterParams &p, int64_t items, cudaStream_t stream) {
    auto go = [&](auto fwd, auto inv) { inverse ? inv(p, items, stream) : fwd(p, items, stream); };
    switch (m) {
    case 2: return go(launch_pass<2, T, false>, launch_pass<2, T, true>);
    case 4: return go(launch_pass<4, T, false>, launch_pass<4, T, true>);
    case 8: return go(launch_pass<8, T, false>, launch_pass<8, T, true>);
    case 16: return go(launch_pass<16, T, false>, launch_pass<16, T, true>);
    case 32: return go(launch_pass<32, T, false>, launch_pass<32, T, true>);
    case 64: return go(launch_pass<64, T, false>, launch_pass<64, T, true>);
    case 128: return go(launch_pass<128, T, false>, launch_pass<128, T, true>);
    case 256: return go(launch_pass<256, T, false>, launch_pass<256, T, true>);
    default: fail(FFC_ERROR_INTERNAL, "multi-pass: unsupported outer size " + std::to_string(m));
    }
}

void launch_outer(IoType io, int m, bool inverse, const OuterParams &p, int64_t items, void *stream) {
    if (items <= 0) return;
    if (!p.twiddles) fail(FFC_ERROR_INTERNAL, "multi-pass: outer pass without the plan's outer table");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (io == io_f16) launch_pass_m<__half>(m, inverse, p, items, s);
    else if (io == io_bf16) launch_pass_m<__nv_bfloat16>(m, inverse, p, items, s);
    else launch_pass_m<float>(m, inverse, p, items, s);
    check(cudaGetLastError(), inverse ? "multi-pass: outer inverse pass" : "multi-pass: outer forward pass");
}

bool aligned(const void *ptr, size_t a) { return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % a == 0; }

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace mp

// ---------------------------------------------------------------------------
// Host orchestration
// ---------------------------------------------------------------------------

MultipassExecutor::MultipassExecutor(const plan::Decision &decision, int device)
    : n_(decision.fft_size), dtype_(decision.dtype), device_(device) {
    const plan::KernelVariant *v = decision.chosen.kernel;
    if (!v) fail(FFC_ERROR_INTERNAL, "multi-pass plan without an inner kernel variant");
    n_in_ = v->fft_size;
    if (n_in_ == 0 || n_ % n_in_ != 0) fail(FFC_ERROR_INTERNAL, "multi-pass: inner size does not divide N");
    m_ = int(n_ / n_in_);
    kept_row_count_ = m_;
    const bool gemm = decision.chosen.outer == plan::OuterImpl::cublaslt;
    const int max_outer = gemm ? plan::kMaxGemmOuter : mp::kMaxOuter;
    if (m_ < 2 || m_ > max_outer || (m_ & (m_ - 1)) != 0 || (!gemm && n_in_ < uint64_t(mp::kTile / m_)))
        fail(FFC_ERROR_INTERNAL, "multi-pass: unsupported split " + std::to_string(m_) + " x " + std::to_string(n_in_));
    inner_ = find_fused_kernel(v->name);
    if (!inner_) fail(FFC_ERROR_NO_KERNEL, std::string("kernel ") + v->name + " is not compiled into this build");
    inner_pairs_per_cta_ = std::max(1, v->pairs_per_cta);
    // Bytes of Z per chunk: the planner's choice (HBM round trip or L2-sized),
    // or the testing override; at least one pair's Z.
    const size_t override = chunk_budgets().multipass;
    chunk_budget_ = std::max(override ? override : decision.chosen.chunk_bytes, size_t(n_) * 8);

    DeviceGuard guard(device_);
    check(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_), "cudaDeviceGetAttribute");
    const FusedKernelInfo info = inner_->prepare();
    check(cudaGetLastError(), "cudaFuncSetAttribute");
    inner_rows_dk_items_per_cta_ = std::max(1, info.dk_items_per_cta);
    if (!gemm) mp::prepare_outer(m_);
    tables_ = std::make_unique<FusedTables>(*inner_, n_in_, device_);  // the inner kernel's, for N_in
    outer_tables_ = std::make_unique<OuterTables>(n_, m_, device_);     // the outer passes' twiddles
    if (gemm) gemm_ = std::make_unique<OuterGemm>(n_, m_, device_);
}

MultipassExecutor::~MultipassExecutor() = default;

// Whole channels when all pairs of one channel fit the budget, otherwise pairs of
// one channel, split evenly.
MultipassExecutor::Chunking MultipassExecutor::chunking(const Shape &s) const {
    const size_t item_bytes = size_t(n_) * 8;
    const int64_t pairs = s.pairs();
    Chunking c;
    const size_t per_channel = size_t(pairs) * item_bytes;
    if (per_channel <= chunk_budget_) {
        const int64_t most = std::max<int64_t>(1, std::min<int64_t>(s.channels, int64_t(chunk_budget_ / per_channel)));
        c.channels = mp::ceil_div(s.channels, mp::ceil_div(s.channels, most));
        c.pairs = pairs;
    } else {
        const int64_t most = std::max<int64_t>(1, int64_t(chunk_budget_ / item_bytes));
        c.channels = 1;
        c.pairs = mp::ceil_div(pairs, mp::ceil_div(pairs, most));
    }
    return c;
}

MultipassExecutor::Layout MultipassExecutor::layout(const Shape &s) const {
    const size_t seq = size_t(n_) * 8;  // one sequence's Z or spectrum: N complex fp32
    Layout w;
    w.chunk = chunking(s);
    const size_t chunk_bytes = mp::round_up(size_t(w.chunk.items()) * seq, 256);
    w.kspec = 0;
    w.z = mp::round_up(size_t(s.channels) * seq, 256);
    w.z2 = w.z + chunk_bytes;
    w.dk_part = w.z2 + chunk_bytes;
    w.acc = w.dk_part + chunk_bytes;
    w.scratch = w.acc + mp::round_up(size_t(w.chunk.channels) * seq, 256);
    w.total = w.scratch + (gemm_ ? chunk_bytes : 0);
    return w;
}

size_t MultipassExecutor::workspace_size(const Shape &s) const { return layout(s).total; }

void MultipassExecutor::launch_inner(const FusedParams &p, void *stream, const char *what) const {
    const int per_cta = p.mode == mode_rows_dk ? inner_rows_dk_items_per_cta_ : inner_pairs_per_cta_;
    const int64_t blocks = mp::ceil_div(p.items, per_cta);
    if (blocks > int64_t(0x7fffffff)) fail(FFC_ERROR_NOT_SUPPORTED, "multi-pass chunk too large for one launch");
    inner_->launch(p, stream);
    check(cudaGetLastError(), what);
}

void MultipassExecutor::outer_pass(IoType io, bool inverse, const mp::OuterParams &o, int64_t items, void *scratch,
                                   void *stream) const {
    if (!gemm_) return mp::launch_outer(io, m_, inverse, o, items, stream);
    if (inverse) gemm_->inverse(io, o, items, scratch, stream);
    else gemm_->forward(io, o, items, scratch, stream);
}

// ffc_kernel_spectrum_compute has no workspace: with cuBLASLt outer passes the
// GEMM's other operand (one channel, N·8 bytes) is allocated stream-ordered for
// the call (cudaMallocAsync, capturable), the only allocation the library makes
// outside plan creation; forward and backward use their workspace's scratch.
void MultipassExecutor::compute_spectrum(const SpectrumArgs &a) const {
    DeviceGuard guard(device_);
    if (!gemm_) return spectrum(a, nullptr, 0);
    const size_t bytes = size_t(n_) * 8;
    cudaStream_t st = static_cast<cudaStream_t>(a.stream);
    void *scratch = nullptr;
    check(cudaMallocAsync(&scratch, bytes, st), "cudaMallocAsync (kernel spectrum scratch, cuBLASLt outer passes)");
    try {
        spectrum(a, scratch, bytes);
    } catch (...) {
        (void)cudaFreeAsync(scratch, st);
        throw;
    }
    check(cudaFreeAsync(scratch, st), "cudaFreeAsync (kernel spectrum scratch)");
}

const void *MultipassExecutor::workspace_spectrum(const Shape &s, const float *k, char *base, const Layout &w,
                                                  void *stream) const {
    SpectrumArgs sa;
    sa.shape = s;
    sa.k = k;
    sa.spectrum = base + w.kspec;
    sa.stream = stream;
    spectrum(sa, base + w.scratch, w.total - w.scratch);
    return sa.spectrum;
}

void MultipassExecutor::spectrum(const SpectrumArgs &a, void *scratch, size_t scratch_bytes) const {
    const Shape &s = a.shape;
    // Pass 1 on k: one real "sequence" per channel (B = 1, L = K, no gate), fp32.
    mp::OuterParams o;
    o.x = a.k;
    o.z = static_cast<float2 *>(a.spectrum);
    o.batch = 1;
    o.channels = s.channels;
    o.seq_len = s.kernel_len;
    o.pairs_per_channel = 1;
    o.n_in = int64_t(n_in_);
    o.n = float(n_);
    o.rows = int(std::min<int64_t>(m_, mp::ceil_div(s.kernel_len, int64_t(n_in_))));
    o.vec = (s.kernel_len % 2 == 0 && mp::aligned(a.k, 8)) ? 1 : 0;
    o.twiddles = outer_tables_->data();
    o.twiddle_lo_bits = outer_tables_->lo_bits();
    if (!gemm_) {
        mp::launch_outer(io_f32, m_, false, o, s.channels, a.stream);
    } else {
        // As many channels at a time as the scratch holds (each item is one channel).
        const int64_t per = std::max<int64_t>(1, int64_t(scratch_bytes / (size_t(n_) * 8)));
        for (int64_t h0 = 0; h0 < s.channels; h0 += per) {
            mp::OuterParams oc = o;
            oc.item_offset = h0;
            oc.z = static_cast<float2 *>(a.spectrum) + h0 * int64_t(n_);
            gemm_->forward(io_f32, oc, std::min(per, s.channels - h0), scratch, a.stream);
        }
    }

    // Inner transform of every row, in place (each CTA reads its rows before it
    // writes them, and no other CTA touches them).
    FusedParams p;
    p.mode = mode_rows_transform;
    p.io = io_f32;
    p.rows = a.spectrum;
    p.spectrum_out = a.spectrum;
    p.twiddles = tables_->twiddles();
    p.twiddle_tables = tables_->pass_tables();
    p.batch = 1;
    p.channels = s.channels * m_;
    p.seq_len = int64_t(n_in_);
    p.kernel_len = int64_t(n_in_);
    p.pairs_per_channel = 1;
    p.rows_per_seq = 1;
    p.items = s.channels * m_;
    launch_inner(p, a.stream, "multi-pass: spectrum rows");
    if (mask_) {
        launch_mask_spectrum(a.spectrum, mask_, s.channels, int64_t(n_), a.stream);
        check(cudaGetLastError(), "multi-pass: frequency mask");
    }
}

void MultipassExecutor::set_spectrum_mask(const std::vector<uint8_t> &mask, const uint8_t *device_mask) {
    mask_ = device_mask;
    if (gemm_) return;  // the cuBLASLt outer passes (M up to 1024) run every row
    std::vector<uint16_t> kept;
    uint64_t skip[4] = {0, 0, 0, 0};
    for (int r = 0; r < m_; ++r) {
        const auto first = mask.begin() + int64_t(r) * int64_t(n_in_);
        if (std::any_of(first, first + int64_t(n_in_), [](uint8_t v) { return v != 0; }))
            kept.push_back(uint16_t(r));
        else
            skip[r >> 6] |= uint64_t(1) << (r & 63);
    }
    if (int64_t(kept.size()) == m_) return;
    std::copy(skip, skip + 4, row_skip_);
    kept_row_count_ = int64_t(kept.size());
    if (kept.empty()) return;
    kept_rows_ = std::make_unique<DeviceBuffer>(kept.size() * sizeof(uint16_t), device_, "cudaMalloc (kept spectrum rows)");
    check(cudaMemcpy(kept_rows_->get(), kept.data(), kept.size() * sizeof(uint16_t), cudaMemcpyHostToDevice),
          "kept spectrum rows upload");
}

mp::OuterParams MultipassExecutor::chunk_outer(const Conv &c, const Shape &s, int64_t h0, int64_t p0, void *z) const {
    const size_t va = 2 * dtype_size(dtype_);
    // Two-element accesses need an even row length and 2-element aligned tensors
    // (every tensor either outer pass touches).
    const bool vec = s.seq_len % 2 == 0 && mp::aligned(c.x, va) && mp::aligned(c.gate_in, va) &&
                     mp::aligned(c.y, va) && mp::aligned(c.gate_out, va) && mp::aligned(c.y2, va) &&
                     mp::aligned(c.gate_out2, va);
    mp::OuterParams o;
    o.z = static_cast<float2 *>(z);
    o.batch = s.batch;
    o.channels = s.channels;
    o.seq_len = s.seq_len;
    o.pairs_per_channel = s.pairs();
    o.item_offset = h0 * s.pairs() + p0;
    o.n_in = int64_t(n_in_);
    o.n = float(n_);
    o.rows = int(std::min<int64_t>(m_, mp::ceil_div(s.seq_len, int64_t(n_in_))));
    o.vec = vec ? 1 : 0;
    o.twiddles = outer_tables_->data();
    o.twiddle_lo_bits = outer_tables_->lo_bits();
    return o;
}

void MultipassExecutor::pass1(const Conv &c, mp::OuterParams o, int64_t items, void *scratch, void *stream) const {
    o.x = c.x;
    o.gate = c.gate_in;
    outer_pass(IoType(int(dtype_)), false, o, items, scratch, stream);
}

void MultipassExecutor::pass3(const Conv &c, mp::OuterParams o, int64_t items, void *scratch, void *stream) const {
    o.x = nullptr;
    o.gate = c.gate_out;
    o.y = c.y;
    o.gate2 = c.gate_out2;
    o.y2 = c.y2;
    outer_pass(IoType(int(dtype_)), true, o, items, scratch, stream);
}

FusedParams MultipassExecutor::rows_params(int64_t C, int64_t P) const {
    FusedParams p;
    p.io = io_f32;
    p.twiddles = tables_->twiddles();
    p.twiddle_tables = tables_->pass_tables();
    p.batch = 1;
    p.seq_len = int64_t(n_in_);
    p.kernel_len = int64_t(n_in_);
    p.rows_per_seq = m_;
    p.channels = C;
    p.pairs_per_channel = P;  // = pairs when C > 1
    return p;
}

void MultipassExecutor::convolve(const Conv &c, const Shape &s, int64_t h0, int64_t C, int64_t p0, int64_t P,
                                 void *z, void *scratch, void *stream) const {
    if (!c.any_output()) return;
    const int64_t items = C * P;  // contiguous: whole channels (P = pairs), or pairs of one channel (C = 1)
    mp::OuterParams o = chunk_outer(c, s, h0, p0, z);
    // Frequency-sparse: rows of Z whose filter row is dropped whole are never
    // stored, visited or read (set_spectrum_mask).
    std::copy(row_skip_, row_skip_ + 4, o.row_skip);

    // Pass 1: Z of the chunk's pairs, gated on input.
    pass1(c, o, items, scratch, stream);

    // Pass 2: the rows. Row i of the chunk's Z is row i % M of item i / M, and
    // the launch visits them spectrum row by spectrum row (launch.hpp,
    // mode_rows); the spectrum rows of the chunk's channels start at channel h0.
    FusedParams p = rows_params(C, P);
    p.mode = mode_rows;
    p.rows = z;
    p.items = items * kept_rows();
    if (kept_row_count_ < m_) {
        p.kept_rows = kept_rows_ ? static_cast<const uint16_t *>(kept_rows_->get()) : nullptr;
        p.kept_row_count = kept_row_count_;
    }
    p.spectrum = static_cast<const float2 *>(c.spectrum) + h0 * int64_t(n_);
    p.conj_spectrum = c.conj ? 1 : 0;
    if (p.items > 0) launch_inner(p, stream, "multi-pass: inner rows pass");

    // Pass 3: up to two gated outputs of w'.
    pass3(c, o, items, scratch, stream);
}

int64_t MultipassExecutor::dk_pair_groups(int64_t C, int64_t P) const {
    // G = P, or 2G ≤ P so that the stash fits beside the partial sums.
    const int64_t forced = chunk_budgets().dk_pair_groups;
    if (forced > 0) return 2 * forced <= P ? forced : P;
    // The fewest groups (the most pairs summed on chip) that still give the
    // launch FFC_MP_DK_ITEMS_PER_SM items per SM; groups divide P when they can,
    // so that no slot idles through a shorter group's last pair.
    const int64_t target = int64_t(FFC_MP_DK_ITEMS_PER_SM) * sm_count_;
    for (int64_t g = 1; g < P; ++g)
        if (P % g == 0 && C * g * m_ >= target) return g;
    return P;
}

void MultipassExecutor::forward(const ForwardArgs &a) const {
    DeviceGuard guard(device_);
    const Shape &s = a.shape;
    const Layout w = layout(s);
    char *const base = static_cast<char *>(a.workspace);
    const void *spectrum = a.spectrum ? a.spectrum : workspace_spectrum(s, a.k, base, w, a.stream);
    Conv c;
    c.x = a.u;
    c.gate_in = a.in_gate;
    c.spectrum = spectrum;
    c.y = a.y;
    c.gate_out = a.out_gate;
    const int64_t H = s.channels, pairs = s.pairs();
    for (int64_t h0 = 0; h0 < H; h0 += w.chunk.channels) {
        const int64_t C = std::min(w.chunk.channels, H - h0);
        for (int64_t p0 = 0; p0 < pairs; p0 += w.chunk.pairs)
            convolve(c, s, h0, C, p0, std::min(w.chunk.pairs, pairs - p0), base + w.z, base + w.scratch, a.stream);
    }
}

void MultipassExecutor::dk_inverse(const Shape &s, int64_t h0, int64_t C, void *acc, float *dk, void *scratch,
                                   void *stream) const {
    // A masked filter's gradient sees only the kept bins.
    if (mask_) {
        launch_mask_spectrum(acc, mask_, C, int64_t(n_), stream);
        check(cudaGetLastError(), "backward: dk frequency mask");
    }
    // Inner inverse of each of the C·M spectrum rows, in place: acc row i ←
    // IFFT_{N_in}(acc row i) in natural order, scaled by 1/N_in.
    FusedParams p;
    p.mode = mode_rows_inverse;
    p.io = io_f32;
    p.spectrum = acc;
    p.rows = acc;
    p.twiddles = tables_->twiddles();
    p.twiddle_tables = tables_->pass_tables();
    p.batch = 1;
    p.channels = C * m_;
    p.seq_len = int64_t(n_in_);
    p.kernel_len = int64_t(n_in_);
    p.pairs_per_channel = 1;
    p.rows_per_seq = 1;
    p.items = C * m_;
    launch_inner(p, stream, "backward: dk rows inverse");

    // Pass 3 with one real "sequence" per channel (B = 1, L = K, fp32): item h of
    // the launch reads acc + (h − h0)·N and writes dk + h·K (pair_rows: row a of
    // pair 0 of channel h), for s < K; the imaginary part (b) is absent.
    mp::OuterParams o;
    o.z = static_cast<float2 *>(acc);
    o.y = dk;
    o.batch = 1;
    o.channels = s.channels;
    o.seq_len = s.kernel_len;
    o.pairs_per_channel = 1;
    o.item_offset = h0;
    o.n_in = int64_t(n_in_);
    o.n = float(n_);
    o.rows = int(std::min<int64_t>(m_, mp::ceil_div(s.kernel_len, int64_t(n_in_))));
    o.vec = (s.kernel_len % 2 == 0 && mp::aligned(dk, 8)) ? 1 : 0;
    o.twiddles = outer_tables_->data();
    o.twiddle_lo_bits = outer_tables_->lo_bits();
    outer_pass(io_f32, true, o, C, scratch, stream);
}

void MultipassExecutor::backward(const BackwardArgs &a) const {
    DeviceGuard guard(device_);
    const Shape &s = a.shape;
    const Layout w = layout(s);
    char *const base = static_cast<char *>(a.workspace);
    // Outputs may not overlap inputs (header), so the order of the launches is free.
    const bool want_dv = a.du || a.d_in_gate;
    // K is multiplied only by a convolution with outputs (the caller's spectrum, if given).
    const void *kspec = !(a.d_out_gate || want_dv) ? nullptr
                        : a.spectrum                ? a.spectrum
                                                    : workspace_spectrum(s, a.k, base, w, a.stream);

    // A: the z-convolution, d_out_gate = dy ⊙ z (and V for dk).
    Conv conv_z;
    conv_z.x = a.u;
    conv_z.gate_in = a.in_gate;
    conv_z.spectrum = kspec;
    conv_z.y = a.d_out_gate;
    conv_z.gate_out = a.dy;
    // B: the correlation, du = in_gate ⊙ dv and d_in_gate = u ⊙ dv (and DZ for dk).
    Conv conv_dv;
    conv_dv.x = a.dy;
    conv_dv.gate_in = a.out_gate;
    conv_dv.spectrum = kspec;
    conv_dv.conj = true;
    conv_dv.y = a.du;
    conv_dv.gate_out = a.in_gate;
    conv_dv.y2 = a.d_in_gate;
    conv_dv.gate_out2 = a.u;

    void *const z = base + w.z;
    void *const scratch = base + w.scratch;
    const int64_t H = s.channels, pairs = s.pairs();
    for (int64_t h0 = 0; h0 < H; h0 += w.chunk.channels) {
        const int64_t C = std::min(w.chunk.channels, H - h0);
        for (int64_t p0 = 0; p0 < pairs; p0 += w.chunk.pairs) {
            const int64_t P = std::min(w.chunk.pairs, pairs - p0);
            if (!a.dk) {
                convolve(conv_z, s, h0, C, p0, P, z, scratch, a.stream);
                convolve(conv_dv, s, h0, C, p0, P, z, scratch, a.stream);
                continue;
            }
            // With dk both convolutions share one inner launch (mode_rows_dk): Z_v
            // and Z_dz side by side, V never leaves the chip's reach, and the
            // batch sum of conj(V)·DZ is formed there, per pair group. Pair chunks
            // of a channel follow in increasing p0, each group's pairs in
            // increasing order: the sum's order (and bits) are fixed.
            const int64_t items = C * P;
            const mp::OuterParams o_v = chunk_outer(conv_z, s, h0, p0, z);
            const mp::OuterParams o_dz = chunk_outer(conv_dv, s, h0, p0, base + w.z2);
            pass1(conv_z, o_v, items, scratch, a.stream);
            pass1(conv_dv, o_dz, items, scratch, a.stream);
            const int64_t groups = dk_pair_groups(C, P);
            FusedParams p = rows_params(C, P);
            p.mode = mode_rows_dk;
            p.rows = z;
            p.rows2 = base + w.z2;
            p.spectrum = kspec ? static_cast<const float2 *>(kspec) + h0 * int64_t(n_) : nullptr;
            p.dk_pair_groups = groups;
            p.dk_partial = groups == 1 ? base + w.acc : base + w.dk_part;
            // V's stash: [dk_part] with one group (the sums go to [acc]); with one
            // pair per group the product overwrites its own V there; otherwise
            // the stash follows the partial sums (2G ≤ P, dk_pair_groups).
            p.dk_stash = base + w.dk_part + (groups > 1 && groups < P ? size_t(C * groups) * n_ * 8 : 0);
            p.dk_accumulate = groups == 1 && p0 > 0 ? 1 : 0;
            p.dk_inverse_v = a.d_out_gate ? 1 : 0;
            p.dk_inverse_dz = want_dv ? 1 : 0;
            p.items = C * groups * m_;
            launch_inner(p, a.stream, "backward: inner rows with dk");
            if (conv_z.any_output()) pass3(conv_z, o_v, items, scratch, a.stream);
            if (conv_dv.any_output()) pass3(conv_dv, o_dz, items, scratch, a.stream);
            if (groups > 1) {
                launch_partial_sum(base + w.dk_part, base + w.acc, C, groups, int64_t(n_), p0 > 0 ? 1 : 0, false, a.stream);
                check(cudaGetLastError(), "backward: dk partial sums");
            }
        }
        if (a.dk) dk_inverse(s, h0, C, base + w.acc, a.dk, scratch, a.stream);
    }
}

}  // namespace ffc::cuda
