// The fused FFT-convolution kernel: one CTA convolves PAIRS sequence pairs
// entirely in shared memory — one read of u and the gates, one write of y.
//
// Mathematics (DESIGN §3, src/monarch/monarch.hpp). N = r_0 · … · r_{p-1}; the
// outer SMALL0, SMALL1 ("small", at most two, radix 2 to 16) run on CUDA cores
// in fp32; the other stages, all radix 16, run on tensor cores:
//
//   * A tensor-core stage is a complex 16×16 DFT applied to 16 data columns at once,
//     written as a real product Y(16 × 32) = X(16 × 32) · Bᵀ(32 × 32) with
//     mma.sync.m16n8k16 (bf16 in, fp32 accumulate). Data is the A operand, so the
//     accumulator of one DFT is directly the A operand of the next: the last
//     forward stage, the multiplication by the spectrum and the first inverse
//     stage run in registers without touching shared memory.
//   * Precision: each operand is split into bf16 hi + lo parts and three products
//     are accumulated (hi·hi + lo·hi + hi·lo): ~2^-17 relative error per stage and
//     the exponent range of fp32, so intermediates never overflow or flush. The
//     only rounding that matters is the final one to the output dtype.
//   * The inverse runs in the conjugate-carried domain: IDFT(x) = conj(DFT(conj x)),
//     so it reuses the forward DFT fragments. Carrying D' = conj(D), inverse stage s
//     is D' ← F_s(T_s ⊙ D'); the twiddle T_s is applied in the epilogue of the
//     stage before. The output is conj(D') / N.
//   * Two-for-one: pair (a, b) of one channel is packed as v_a + i·v_b; because k
//     is real, y_a = Re and y_b = Im of the inverse transform.
//   * Zero padding: when L ≤ N/2 and stage 0 is a tensor-core stage, its upper
//     eight input rows are zero (skipped) and only its lower eight outputs of the
//     final inverse stage are needed (skipped).
//
// Shared memory: PAIRS × N complex fp32, XOR-swizzled (swizzle()) so that every
// stage's accesses are free of bank conflicts, plus a two-level twiddle table.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/launch.hpp"
#include "cuda/spectral_reduce.hpp"

// Tuning knobs, fixed at build time (bench/tune_build.sh compares settings on a GPU):
//   FFC_FUSED_MIN_BLOCKS       resident 256-thread CTAs per SM the register budget targets
//                              (FFC_FUSED_MIN_BLOCKS·256 threads: 128-thread CTAs get twice as many)
// Measured on the H100 (2026-11-22, forward fp16, ms): 3 CTAs per SM spill and lose
// (16K: 10.07 against 7.97). Batching several columns per thread in the CUDA-core
// stages (to overlap distributed shared-memory latency) cost registers and gained
// nothing (8K: 3.29 against 3.22), so those stages take one column at a time.
#ifndef FFC_FUSED_MIN_BLOCKS
#define FFC_FUSED_MIN_BLOCKS 2
#endif

namespace ffc::cuda::fused {

// ---------------------------------------------------------------------------
// Compile-time geometry of one variant.
// ---------------------------------------------------------------------------
template <int N_, int SMALL0, int SMALL1, int NUM_TC, int PAIRS_, int THREADS_, int CLUSTER_ = 1>
struct Geometry {
    static constexpr int N = N_;
    // Hopper thread-block clusters: with CLUSTER = C > 1 one pair is split over C
    // CTAs, each holding N_LOCAL = N/C consecutive positions in its shared memory.
    // Only the outermost stage (a CUDA-core stage, columns of stride N/r0) pairs
    // elements of different CTAs; it reads and writes the partners' parts
    // through distributed shared memory. Every later stage works inside blocks of
    // N/r0 ≤ N/C elements (r0 ≥ C), so it stays local.
    static constexpr int CLUSTER = CLUSTER_;
    static constexpr int N_LOCAL = N_ / CLUSTER_;
    static constexpr int PAIRS = PAIRS_;
    static constexpr int THREADS = THREADS_;
    static constexpr int WARPS = THREADS / 32;
    // Resident CTAs per SM the register budget is tuned for (__launch_bounds__):
    // the same threads per SM whatever the CTA size.
    static constexpr int min_blocks_per_sm = THREADS >= 512 ? 1 : FFC_FUSED_MIN_BLOCKS * 256 / THREADS;
    // The multi-pass rows pass of the one-CTA 128-thread variants has a kernel
    // of its own (fused_rows_kernel) that fits a fifth CTA per SM (96 registers
    // instead of 128, no spills): its CTAs wait on memory at every barrier, and
    // one more per SM hides more of that (H100: 1M forward 7.6 % faster, 256K
    // 8.4 %). The other modes lose 1–2 % at 1K–4K with five, six CTAs lose in
    // both, and an 8K rows kernel of its own (two or three 256-thread CTAs) was
    // slower than the general one, so those keep it.
    static constexpr bool rows_kernel = THREADS == 128 && CLUSTER == 1;
    static constexpr int min_blocks_rows = min_blocks_per_sm + 1;
    // The 256-point variants' convolution kernel also fits a fifth CTA (96
    // registers, no spills): 1-2 % faster on the H100 (twelfth session, three
    // interleaved rounds: forward fp16 0.0827 -> 0.0813 ms, bf16 0.0810 -> 0.0790,
    // forward + backward fp16 0.317 -> 0.314). At 512 and for 8K's two-CTA
    // clusters the same budget spills.
    static constexpr bool conv_fifth_cta = THREADS == 128 && CLUSTER == 1 && N == 256;
    static constexpr int min_blocks_conv = min_blocks_per_sm + (conv_fifth_cta ? 1 : 0);
    // Every variant has the fused backward kernel (fused_backward_kernel); the
    // multi-pass dk kernel (fused_rows_dk_kernel) only the one-CTA ones, since
    // the planner never picks a cluster variant as a multi-pass inner kernel.
    static constexpr bool rows_dk_kernel = CLUSTER == 1;
    // Their V pass stashes V's spectrum for the DZ pass's conj(V)·DZ; each thread
    // reads back only what it wrote. Where a CTA has two slots or more, both
    // kernels run both passes of a pair (of a row) at once, the V
    // pass in slot 2i and the DZ pass in slot 2i + 1 (PassLoop::backward_paired,
    // rows_dk_paired): the warp that takes tile t of V takes tile t of DZ next,
    // so V's spectrum waits for conj(V)·DZ in a tile of shared memory per warp,
    // not in a stash of every pair in global memory (H100, backward fp16, two
    // interleaved rounds: fused 256 0.220 -> 0.184 ms, 2K 1.414–1.426 ->
    // 1.287–1.294; multi-pass 128K 174.2–174.6 -> 162.0–162.6, 512K 740 -> 691).
    static constexpr bool backward_paired = PAIRS >= 2;  // (a cluster variant has one slot)
    static constexpr int backward_items_per_cta = backward_paired ? PAIRS / 2 : PAIRS;
    // (4K runs them with two slots: DkGeometry.) The others (8K and 16K, and
    // the cluster variants) keep the stash in global memory. A stash of whole spectra in shared memory (a
    // second data buffer, three CTAs per SM) took 4 % off the multi-pass
    // backward with 2K and 4K rows (its global stash reached DRAM) but was 0–4 %
    // slower in the fused backward; the paired passes beat it in both.
    static constexpr int num_small = (SMALL0 > 1 ? 1 : 0) + (SMALL1 > 1 ? 1 : 0);
    static constexpr int num_stages = num_small + NUM_TC;
    // With two tensor-core stages or more, the last two (inner sizes 16 and 1)
    // act on the same 256-element tiles along their two axes: the middle stage
    // runs both, and their inverses, in registers (a fragment transpose between
    // them instead of a shared-memory pass). middle_first: the first stage the
    // middle stage runs.
    static constexpr bool inner_pair = NUM_TC >= 2;
    static constexpr int middle_first = num_stages - 1 - (inner_pair ? 1 : 0);

    // Twice the slots and threads (DkGeometry).
    using Doubled = Geometry<N_, SMALL0, SMALL1, NUM_TC, 2 * PAIRS_, 2 * THREADS_, CLUSTER_>;
    // P slots per CTA (TransformGeometry).
    template <int P>
    using WithPairs = Geometry<N_, SMALL0, SMALL1, NUM_TC, P, THREADS_, CLUSTER_>;

    static constexpr int radix(int s) { return s < num_small ? (s == 0 ? SMALL0 : SMALL1) : 16; }
    static constexpr int inner(int s) {
        int m = 1;
        for (int i = s + 1; i < num_stages; ++i) m *= radix(i);
        return m;
    }
    static constexpr int twiddle_count = 64 + N / 64;
    // data (fp32 complex) + twiddle table + one 32-byte descriptor per slot, and
    // for paired dk passes one stashed tile of 2 KiB per warp after the descriptors
    static constexpr size_t smem_for(int pairs, int warps, bool paired) {
        return size_t(pairs) * N_LOCAL * 8 + size_t(twiddle_count) * 8 + size_t(pairs) * 32 +
               (paired ? size_t(warps) * 2048 : 0);
    }
    static constexpr size_t smem_bytes = smem_for(PAIRS, WARPS, false);
    static constexpr size_t backward_smem_bytes = smem_for(PAIRS, WARPS, backward_paired);  // the dk kernels'
    // Doubled's backward_smem_bytes (DkGeometry), without instantiating it.
    static constexpr size_t doubled_dk_smem_bytes = smem_for(2 * PAIRS, 2 * WARPS, true);

    // Twiddle tables of the tensor-core passes, in visit order (see tc_twiddle_table):
    // forward stage S applies T_S for S in [num_small, p-2]; inverse stage S
    // applies T_{S-1} for S in [max(1, num_small), p-1] (S = p-1 is the middle stage).
    static constexpr int fwd_tables = num_stages - 1 - num_small;
    static constexpr int inv_first = num_small > 1 ? num_small : 1;
    static constexpr int twiddle_tables = fwd_tables + (num_stages - inv_first);
    static constexpr int table_index(int s, bool inverse) { return inverse ? fwd_tables + (s - inv_first) : s - num_small; }
    // A pass's twiddles repeat with a period of tiles (tc_twiddle_table), so a table
    // stores one period: forward stage S (inner M ≥ 16) depends on the tile only
    // through mt mod M/16; inverse stage S through mt mod (M/16)·r_{S−1} (M ≥ 16)
    // or not at all (M = 1).
    static constexpr int table_period(int t) {
        const bool inverse = t >= fwd_tables;
        const int s = inverse ? inv_first + (t - fwd_tables) : num_small + t;
        const int m = inner(s);
        if (!inverse) return m / 16;
        return m == 1 ? 1 : (m / 16) * radix(s - 1);
    }
    static constexpr size_t table_offset(int t) {  // in float4 (one tile = 128)
        size_t o = 0;
        for (int i = 0; i < t; ++i) o += size_t(table_period(i)) * 128;
        return o;
    }
    static constexpr int max_table_period() {
        int m = 0;
        for (int i = 0; i < twiddle_tables; ++i) m = table_period(i) > m ? table_period(i) : m;
        return m;
    }
    static constexpr size_t table_bytes = table_offset(twiddle_tables) * 16;

    static_assert(NUM_TC >= 1, "the innermost stage must be a tensor-core stage");
    static_assert(CLUSTER == 1 || ((CLUSTER == 2 || CLUSTER == 4 || CLUSTER == 8) && PAIRS == 1 && num_small >= 1 && SMALL0 >= CLUSTER),
                  "a cluster splits one pair; its cross-CTA stage 0 is a CUDA-core stage whose columns reach every CTA");
    static_assert(SMALL1 <= 1 || SMALL0 > 1, "small factors are listed first");
    static_assert(inner(-1) == N, "factors must multiply to N");
    static_assert(N >= 256 && (N & (N - 1)) == 0, "N is a power of two >= 256");
    static_assert(THREADS % 32 == 0, "whole warps");
};

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------
__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
    return make_float2(fmaf(a.x, b.x, -a.y * b.y), fmaf(a.x, b.y, a.y * b.x));
}
// conj(x · K), K = kx + i·ky, in the conjugate-carried domain: bit for bit
// conj(cmul(x, K)), with the conjugation's sign inside the multiply-adds
// rather than a negation of its own.
__device__ __forceinline__ float2 carried_product(float2 x, float kx, float ky) {
    return make_float2(fmaf(x.x, kx, -(x.y * ky)), fmaf(-x.x, ky, -(x.y * kx)));
}

// Cluster primitives (sm_90); on older targets a cluster variant is never
// launched (its registry entry needs sm_90), and these degrade to the 1-CTA case.
__device__ __forceinline__ int cluster_rank() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    return int(cooperative_groups::this_cluster().block_rank());
#else
    return 0;
#endif
}
// Full cluster barrier: release and acquire at cluster scope, for a CTA that
// wrote into its partners' shared memory (on the H100: a GPU-scope MEMBAR and
// two error barriers before the arrive).
__device__ __forceinline__ void cluster_barrier() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
#else
    __syncthreads();
#endif
}
// Cluster barrier for a CTA whose writes since the last one went to its own
// shared memory only: the release fence is restricted to shared::cta (a
// CTA-scope MEMBAR instead of the GPU-scope one), which is all the partners'
// distributed reads after the barrier need.
__device__ __forceinline__ void cluster_barrier_after_local_writes() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile(
        "fence.release.sync_restrict::shared::cta.cluster;\n\t"
        "barrier.cluster.arrive.relaxed.aligned;\n\t"
        "barrier.cluster.wait.acquire.aligned;" ::: "memory");
#else
    __syncthreads();
#endif
}
// Split cluster barrier with no memory ordering: arrive at kernel entry and wait
// before the first distributed access (a partner's shared memory exists once it
// runs); arrive and wait before exit after distributed reads (whose values are
// in registers by then), so that no CTA leaves while a partner still reads it.
__device__ __forceinline__ void cluster_arrive_relaxed() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void cluster_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.wait.aligned;" ::: "memory");
#endif
}
// Programmatic dependent launch (sm_90, FusedParams::overlap_previous). A
// kernel launched with it may start before the previous kernel in the stream
// has finished: it waits here before its middle stage, which is where a
// convolution first reads the spectrum (the instruction returns at once for a
// launch without it). The spectrum kernel and the convolutions let such a
// dependant launch as soon as every one of their CTAs has started.
__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_dependent_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Generic pointer to `p` (a shared-memory address of this CTA) in CTA `rank` of the cluster.
__device__ __forceinline__ float2 *cluster_map(float2 *p, int rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    return cooperative_groups::this_cluster().map_shared_rank(p, unsigned(rank));
#else
    return p;
#endif
}
template <class G>
__device__ __forceinline__ int cta_rank() {
    if constexpr (G::CLUSTER > 1) return cluster_rank();
    else return 0;
}
// Barrier after a stage: cluster-wide where the cross-CTA stage 0 is involved
// (before it: its distributed reads; after it: its distributed writes).
enum class Sync { cta, cluster_after_local_writes, cluster_after_remote_writes };
template <class G>
__device__ __forceinline__ void stage_barrier(Sync sync) {
    if constexpr (G::CLUSTER > 1) {
        if (sync == Sync::cluster_after_remote_writes) {
            cluster_barrier();
            return;
        }
        if (sync == Sync::cluster_after_local_writes) {
            cluster_barrier_after_local_writes();
            return;
        }
    }
    __syncthreads();
}

// cos(2πm/16), m = 0..15, correctly rounded to float. A switch on a
// compile-time m folds to a constant; with a run-time m it is a short select
// chain rather than a local-memory table.
__device__ __forceinline__ float cos16(int m) {
    constexpr float c1 = 0.92387953251128674f, c2 = 0.70710678118654752f, c3 = 0.38268343236508977f;
    const int a = m & 15;
    const int r = a & 7;  // cos(x + π) = −cos(x)
    const float v = r == 0 ? 1.0f : r == 1 ? c1 : r == 2 ? c2 : r == 3 ? c3 : r == 4 ? 0.0f : r == 5 ? -c3 : r == 6 ? -c2 : -c1;
    return a < 8 ? v : -v;
}
// exp(-2πi m / 16)
__device__ __forceinline__ float2 w16(int m) { return make_float2(cos16(m), -cos16(m + 12)); }

// x · w16(E) for a compile-time E. A product with a constant 0 or 1 is not
// folded away in IEEE arithmetic, so the multiples of π/2 are written as the
// exact swaps and sign flips they are, and the odd multiples of π/4 share one
// factor between both parts (two products instead of four).
template <int E>
__device__ __forceinline__ float2 mul_w16(float2 x) {
    constexpr int e = E & 15;
    constexpr float h = 0.70710678118654752f;  // √½
    if constexpr (e == 0) return x;
    else if constexpr (e == 4) return make_float2(x.y, -x.x);
    else if constexpr (e == 8) return make_float2(-x.x, -x.y);
    else if constexpr (e == 12) return make_float2(-x.y, x.x);
    else if constexpr (e == 2) return make_float2(h * (x.x + x.y), h * (x.y - x.x));
    else if constexpr (e == 6) return make_float2(h * (x.y - x.x), -h * (x.x + x.y));
    else if constexpr (e == 10) return make_float2(-h * (x.x + x.y), h * (x.x - x.y));
    else if constexpr (e == 14) return make_float2(h * (x.x - x.y), h * (x.x + x.y));
    else return cmul(x, w16(e));
}

// Swizzled storage slot of logical element n (a bijection within each group of 16).
// Bits 0..3 are XORed with a fold of the higher bits so that (a) radix-16 stages
// whose column stride is 16^k and (b) the innermost stage, whose columns are
// blocks of 16, hit 16 distinct 8-byte bank pairs per half-warp. See the
// analysis in docs/architecture.md ("Shared-memory layout").
// The map is linear over GF(2): swizzle(a ^ b) == swizzle(a) ^ swizzle(b), which
// lets a stage combine per-tile, per-lane and compile-time parts of an address.
__host__ __device__ constexpr int swizzle(int n) {
    int s = ((n >> 4) & 1) | (((n >> 5) & 1) << 3);
    s ^= ((n >> 5) & 3) << 2;
    s ^= ((n >> 9) & 3) << 2;
    s ^= ((n >> 13) & 3) << 2;
    s ^= ((n >> 17) & 3) << 2;
    return n ^ s;
}

__device__ __forceinline__ uint32_t bf16x2_bits(__nv_bfloat162 v) { return *reinterpret_cast<uint32_t *>(&v); }

// Splits (a, b) into bf16 pairs hi and lo with a ≈ hi.x + lo.x, b ≈ hi.y + lo.y.
__device__ __forceinline__ void split_bf16x2(float a, float b, uint32_t &hi, uint32_t &lo) {
    hi = bf16x2_bits(__floats2bfloat162_rn(a, b));
    // hi's halves back as floats by shift and mask (a bf16 is the top half of
    // an fp32): the library conversion goes through 16-bit register moves.
    const float ha = __uint_as_float(hi << 16), hb = __uint_as_float(hi & 0xffff0000u);
    lo = bf16x2_bits(__floats2bfloat162_rn(a - ha, b - hb));
}

__device__ __forceinline__ void mma_bf16_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    // Not volatile: the instruction is pure, and letting the compiler schedule it
    // freely interleaves independent mma chains with loads.
    asm(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---------------------------------------------------------------------------
// The 16-point DFT as mma B fragments (hi and lo parts).
//
// Real layout of a 16-row k-tile κ: rows 0..7 are Re x_{8κ+0..7}, rows 8..15
// Im x_{8κ+0..7}. An 8-column n-tile t holds outputs k = 8(t>>1) + 0..7, real
// parts for even t, imaginary parts for odd t. With that ordering the thread
// that loads x_j for j ∈ {2q, 2q+1, 2q+8, 2q+9} receives exactly y_k for the same
// k set, so every stage reads and writes the same elements.
//
// Only the (κ = 0, t = 0) fragment is stored (4 registers instead of 32): with
// θ = 2πjk/16 it holds b0 = cos θ (Re in → Re out) and b1 = sin θ (Im in → Re
// out), and every other fragment follows by exact sign flips:
//   t odd  (Im out):   (b0, b1) → (−b1, b0)
//   t ≥ 2  (k + 8):    multiply by (−1)^j: negate the upper (odd-j) bf16 halves
//   κ = 1  (j + 8):    multiply by (−1)^k = (−1)^g: negate both halves if g is odd
// Negation commutes with the hi/lo split, so the same holds for the lo parts.
// ---------------------------------------------------------------------------
struct DftFragments {
    uint32_t b0[2], b1[2];  // [hi, lo] of the (κ = 0, t = 0) fragment
    uint32_t odd_g_sign;    // 0x80008000 when this lane's g is odd, else 0
};

__device__ __forceinline__ void make_dft_fragments(DftFragments &f, int lane) {
    const int g = lane >> 2, q = lane & 3;
    float c[2], sn[2];
#pragma unroll
    for (int e = 0; e < 2; ++e) {
        const float2 w = w16((2 * q + e) * g);  // exp(−iθ) = (cos θ, −sin θ)
        c[e] = w.x;
        sn[e] = -w.y;
    }
    split_bf16x2(c[0], c[1], f.b0[0], f.b0[1]);
    split_bf16x2(sn[0], sn[1], f.b1[0], f.b1[1]);
    f.odd_g_sign = (g & 1) ? 0x80008000u : 0u;
}

// The fragment registers (b0, b1) of tile (κ, t), part hl (0 = hi, 1 = lo).
template <int KT, int T, int HL>
__device__ __forceinline__ void dft_fragment(const DftFragments &f, uint32_t &b0, uint32_t &b1) {
    uint32_t x0 = f.b0[HL], x1 = f.b1[HL];
    if constexpr (T >= 2) {
        x0 ^= 0x80000000u;
        x1 ^= 0x80000000u;
    }
    if constexpr (T & 1) {
        b0 = x1 ^ 0x80008000u;
        b1 = x0;
    } else {
        b0 = x0;
        b1 = x1;
    }
    if constexpr (KT == 1) {
        b0 ^= f.odd_g_sign;
        b1 ^= f.odd_g_sign;
    }
}

// ---------------------------------------------------------------------------
// Twiddles: W_{r_s·inner_s}^{k1·n2} = W_N^{k1·n2·N/(r_s·inner_s)}, looked up in a
// two-level table (W_N^(e & 63) · W_N^(e & ~63)), both parts exact to fp32.
// ---------------------------------------------------------------------------
struct Twiddles {
    const float2 *lo;     // 64 entries (shared memory)
    const float2 *hi;     // N/64 entries (shared memory)
    const float4 *tables; // per-pass tables of the tensor-core stages (global, L1/L2-resident)
    __device__ __forceinline__ float2 operator()(int e) const { return cmul(hi[e >> 6], lo[e & 63]); }
};

template <class G, int S>
__device__ __forceinline__ int twiddle_exponent(unsigned n) {
    constexpr unsigned r = G::radix(S), m = G::inner(S), stride = G::N / (r * m);
    const unsigned k1 = (n / m) % r, n2 = n % m;  // powers of two: shifts and masks
    return int(k1 * n2 * stride);
}

// ---------------------------------------------------------------------------
// In-register DFT of a small power-of-two size (radix-2 decimation in time).
// ---------------------------------------------------------------------------
template <int R, int K = 0>
__device__ __forceinline__ void small_butterflies(float2 (&x)[R], const float2 (&ev)[R / 2], const float2 (&od)[R / 2]) {
    if constexpr (K < R / 2) {
        const float2 t = mul_w16<K * (16 / R)>(od[K]);
        x[K] = make_float2(ev[K].x + t.x, ev[K].y + t.y);
        x[K + R / 2] = make_float2(ev[K].x - t.x, ev[K].y - t.y);
        small_butterflies<R, K + 1>(x, ev, od);
    }
}

template <int R>
__device__ __forceinline__ void small_dft(float2 (&x)[R]) {
    if constexpr (R > 1) {
        float2 ev[R / 2], od[R / 2];
#pragma unroll
        for (int i = 0; i < R / 2; ++i) { ev[i] = x[2 * i]; od[i] = x[2 * i + 1]; }
        small_dft<R / 2>(ev);
        small_dft<R / 2>(od);
        small_butterflies<R>(x, ev, od);
    }
}

// w[j] = W_N^(j·e), 0 < j < R (j·e < N), from one table read (two at R = 16:
// e and 8e) and products by squaring, at most four deep. Each product adds
// about 1.5 fp32 ulp, so w[j] is within about 15 ulp (1e-6 relative): far below
// the tensor-core stages' 2^-17. (Indices are constants after unrolling, so w
// stays in registers.)
template <int R>
__device__ __forceinline__ void twiddle_powers(const Twiddles &tw, int e, float2 (&w)[R]) {
    static_assert(R == 2 || R == 4 || R == 8 || R == 16, "a power-of-two radix up to 16");
    w[1] = tw(e);
    if constexpr (R == 16) w[8] = tw(8 * e);
#pragma unroll
    for (int j = 2; j < R; ++j) {
        if (R == 16 && j == 8) continue;
        w[j] = j > 8 ? cmul(w[8], w[j - 8]) : j % 2 ? cmul(w[j - 1], w[1]) : cmul(w[j / 2], w[j / 2]);
    }
}

// The twiddles a CUDA-core stage S applies in its epilogue (those of stage TW,
// S or S − 1) to its column's elements n0 + j·m, j < R. Their exponents are
// affine in j (twiddle_exponent: for TW = S, k1 = j and n2 is the column's;
// for TW = S − 1, k1 is the column's and n2 grows by m), so the twiddles are
// W^e(0) · d^j with d = W^(e(m) − e(0)): a table read or three per column and
// one or two products per element, instead of a table read (two loads and a
// product) per element. For TW = S, e(0) = 0 (twiddle_powers); otherwise, up
// to radix 8, a running product from W^e(0) (at most seven steps, about 12
// ulp), and at radix 16 W^e(0) times twiddle_powers.
template <class G, int S, int TW, int R>
__device__ __forceinline__ void apply_stage_twiddles(float2 (&x)[R], unsigned n0, const Twiddles &tw) {
    constexpr unsigned m = G::inner(S);
    if constexpr (TW == S) {
        float2 w[R];
        twiddle_powers<R>(tw, twiddle_exponent<G, TW>(n0 + m), w);
#pragma unroll
        for (int j = 1; j < R; ++j) x[j] = cmul(x[j], w[j]);
    } else if constexpr (R == 16) {
        const int e0 = twiddle_exponent<G, TW>(n0);
        float2 w[R];
        twiddle_powers<R>(tw, twiddle_exponent<G, TW>(n0 + m) - e0, w);
        const float2 w0 = tw(e0);
        x[0] = cmul(x[0], w0);
#pragma unroll
        for (int j = 1; j < R; ++j) x[j] = cmul(x[j], cmul(w[j], w0));
    } else {
        const int e0 = twiddle_exponent<G, TW>(n0);
        const float2 d = tw(twiddle_exponent<G, TW>(n0 + m) - e0);
        float2 w = tw(e0);
#pragma unroll
        for (int j = 0; j < R; ++j) {
            x[j] = cmul(x[j], w);
            if (j + 1 < R) w = cmul(w, d);
        }
    }
}

// A CUDA-core stage (factor 2, 4, 8 or 16; always outer to the tensor-core
// stages, so inner ≥ 16 and a half-warp touches 16 consecutive elements). TW: stage whose twiddle the
// epilogue applies, or -1.
template <class G, int S, int TW>
__device__ __forceinline__ void small_stage(float2 *sdata, const Twiddles &tw, float2 *const *parts) {
    constexpr int r = G::radix(S), m = G::inner(S), cols = G::N / r;
    constexpr int local_cols = cols * G::PAIRS / G::CLUSTER;  // columns are block-major: a CTA's share is contiguous
    // The outermost stage of a cluster variant spans every CTA of the cluster (see Geometry).
    constexpr bool cross = G::CLUSTER > 1 && S == 0;
    // Columns per iteration: the cross-CTA stage issues the loads of two columns
    // before the first DFT, so that more distributed-shared-memory latency
    // overlaps (radix ≤ 8; radix 16 already has 16 loads in flight).
    constexpr int U = (cross && r <= 8 && local_cols % (2 * G::THREADS) == 0) ? 2 : 1;
    const unsigned first = cta_rank<G>() * local_cols;
#pragma unroll 1
    for (unsigned c = threadIdx.x; c < local_cols; c += U * G::THREADS) {
        float2 *s[U];
        unsigned n0[U], base_swz[U];  // unsigned: the divisions and remainders below are shifts and masks
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const unsigned gc = first + c + u * G::THREADS;
            const unsigned slot = gc / cols, cc = gc % cols;
            s[u] = sdata + slot * G::N_LOCAL;
            n0[u] = (cc / m) * r * m + cc % m;
            // n0 and j·m occupy disjoint bits, so the swizzle splits (it is linear).
            base_swz[u] = swizzle(n0[u]);
        }
        auto at = [&](int u, int j) -> float2 & {
            const unsigned slot_index = base_swz[u] ^ swizzle(j * m);  // the swizzle keeps bits above 3: the owning CTA
            // Cross-CTA: n0 < m ≤ N_LOCAL, so the owner is (j·m) / N_LOCAL, known
            // once j is unrolled — parts[] is indexed by constants and stays in
            // registers instead of a local-memory table.
            if constexpr (cross) return parts[(j * m) / G::N_LOCAL][slot_index % G::N_LOCAL];
            else return s[u][slot_index];
        };
        float2 x[U][r];
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
            for (int j = 0; j < r; ++j) x[u][j] = at(u, j);
#pragma unroll
        for (int u = 0; u < U; ++u) {
            small_dft<r>(x[u]);
            if constexpr (TW >= 0) apply_stage_twiddles<G, S, TW>(x[u], n0[u], tw);
#pragma unroll
            for (int j = 0; j < r; ++j) at(u, j) = x[u][j];
        }
    }
}

// Element positions handled by one thread in one m-tile of a radix-16 stage:
// rows (data columns) g and g+8, DFT indices j ∈ {2q, 2q+1, 2q+8, 2q+9}.
// A position is tile_base | lane_offset | element_offset (disjoint bits), so its
// swizzled slot is the XOR of the three parts' slots.
__host__ __device__ constexpr int tc_j(int q, int jj) { return 2 * q + (jj & 1) + 8 * (jj >> 1); }

template <int M>
__device__ __forceinline__ int tc_lane_offset(int g, int q) {
    if constexpr (M >= 16) return g + 2 * q * M;  // columns are consecutive
    else return g * 16 + 2 * q;                    // innermost: columns are blocks of 16
}
template <int M>
__host__ __device__ constexpr int tc_element_offset(int r, int jj) {
    return M >= 16 ? 8 * r + ((jj & 1) + 8 * (jj >> 1)) * M : 8 * r * 16 + (jj & 1) + 8 * (jj >> 1);
}
template <int M>
__host__ __device__ constexpr int tc_tile_base(unsigned mt) {
    if constexpr (M >= 16) return (mt / (M / 16)) * 16 * M + (mt % (M / 16)) * 16;
    else return mt * 256;
}

// Element (r, jj) of the thread's tile at slot_base (= swizzle(tile_base) ^
// swizzle(lane_offset)). The three parts of a position have disjoint bits and
// the swizzle changes only bits 0..3, so its slot is (slot_base ^ the element
// offset's swizzled low nibble) + the offset's bits above 3: two or four base
// addresses per thread and compile-time offsets (immediates of the shared-memory
// instructions) instead of an address computation per element.
template <int M, class Complex>  // float2 or const float2
__device__ __forceinline__ Complex &tc_element(Complex *s, int slot_base, int r, int jj) {
    const int offset = tc_element_offset<M>(r, jj);
    return s[(slot_base ^ (swizzle(offset) & 15)) + (offset & ~15)];
}

// Loads the thread's 8 elements and splits them into A fragments (hi, lo).
template <int M>
__device__ __forceinline__ void tc_load(const float2 *s, int slot_base, bool upper_zero, uint32_t (&ah)[2][4],
                                        uint32_t (&al)[2][4]) {
    float2 x[2][4];
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int jj = 0; jj < 4; ++jj)
            x[r][jj] = (jj >= 2 && upper_zero) ? make_float2(0.f, 0.f)
                                               : tc_element<M>(s, slot_base, r, jj);
#pragma unroll
    for (int kt = 0; kt < 2; ++kt) {
        split_bf16x2(x[0][2 * kt].x, x[0][2 * kt + 1].x, ah[kt][0], al[kt][0]);
        split_bf16x2(x[1][2 * kt].x, x[1][2 * kt + 1].x, ah[kt][1], al[kt][1]);
        split_bf16x2(x[0][2 * kt].y, x[0][2 * kt + 1].y, ah[kt][2], al[kt][2]);
        split_bf16x2(x[1][2 * kt].y, x[1][2 * kt + 1].y, ah[kt][3], al[kt][3]);
    }
}

// Twiddle tables of the tensor-core passes. For every tile, a thread's eight
// twiddles (rows r = 0, 1; indices jj = 0..3) are four float4 at
// table[((tile mod period) · 4 + i) · 32 + lane], i = 2r + jj/2, so each load
// instruction of a warp reads 512 contiguous bytes. Built once per plan by build_twiddle_tables
// from the Monarch definition (twiddle_exponent), in double precision.
template <class G, int S, bool INVERSE>
__device__ __forceinline__ const float4 *tc_twiddle_table(const Twiddles &tw, unsigned mt) {
    constexpr int t = G::table_index(S, INVERSE);
    return tw.tables + G::table_offset(t) + size_t(mt % G::table_period(t)) * 128 + (threadIdx.x & 31);
}

// A thread's eight twiddles of one tile (four float4 of a table, issued together
// so that their loads overlap the DFT) and the twiddle of element (r, jj) among them.
__device__ __forceinline__ void tc_load_twiddles(const float4 *table, float4 (&twv)[4]) {
#pragma unroll
    for (int i = 0; i < 4; ++i) twv[i] = __ldg(table + 32 * i);
}
__device__ __forceinline__ float2 tc_twiddle(const float4 (&twv)[4], int r, int jj) {
    const float4 w = twv[2 * r + jj / 2];
    return (jj & 1) ? make_float2(w.z, w.w) : make_float2(w.x, w.y);
}

// y = DFT16 applied to the A fragments; acc[t] as documented for DftFragments.
// The loops run product-major and tile-minor so that consecutive mma
// instructions write different accumulators: four independent chains keep the
// tensor pipe busy instead of waiting on each accumulation.
template <int KT, int HL_B>
__device__ __forceinline__ void tc_mma_product(const DftFragments &f, const uint32_t (&a)[2][4], int tiles,
                                               float (&acc)[4][4]) {
    uint32_t b0, b1;
    dft_fragment<KT, 0, HL_B>(f, b0, b1);
    mma_bf16_16816(acc[0], a[KT], b0, b1);
    dft_fragment<KT, 1, HL_B>(f, b0, b1);
    mma_bf16_16816(acc[1], a[KT], b0, b1);
    if (tiles == 4) {
        dft_fragment<KT, 2, HL_B>(f, b0, b1);
        mma_bf16_16816(acc[2], a[KT], b0, b1);
        dft_fragment<KT, 3, HL_B>(f, b0, b1);
        mma_bf16_16816(acc[3], a[KT], b0, b1);
    }
}

template <int KT>
__device__ __forceinline__ void tc_mma_k_tile(const DftFragments &f, const uint32_t (&ah)[2][4],
                                              const uint32_t (&al)[2][4], int tiles, float (&acc)[4][4]) {
    // Small terms first, then the dominant hi·hi product.
    tc_mma_product<KT, 0>(f, al, tiles, acc);  // lo(x) · hi(F)
    tc_mma_product<KT, 1>(f, ah, tiles, acc);  // hi(x) · lo(F)
    tc_mma_product<KT, 0>(f, ah, tiles, acc);  // hi(x) · hi(F)
}

__device__ __forceinline__ void tc_dft(const DftFragments &f, const uint32_t (&ah)[2][4], const uint32_t (&al)[2][4],
                                       bool upper_in_zero, bool upper_out_unused, float (&acc)[4][4]) {
#pragma unroll
    for (int t = 0; t < 4; ++t)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[t][i] = 0.f;
    const int tiles = upper_out_unused ? 2 : 4;
    tc_mma_k_tile<0>(f, ah, al, tiles, acc);
    if (!upper_in_zero) tc_mma_k_tile<1>(f, ah, al, tiles, acc);
}

// Output element (row r, index jj) of the accumulators, as a complex value.
__device__ __forceinline__ float2 tc_out(const float (&acc)[4][4], int r, int jj) {
    const int t = 2 * (jj >> 1);      // n-tile of the real part; +1 holds the imaginary part
    const int i = 2 * r + (jj & 1);   // c0..c3: (row g, col 2q), (g, 2q+1), (g+8, 2q), (g+8, 2q+1)
    return make_float2(acc[t][i], acc[t + 1][i]);
}

// Re-packs complex values held in accumulator layout into A fragments.
__device__ __forceinline__ void tc_repack(const float2 (&z)[2][4], uint32_t (&ah)[2][4], uint32_t (&al)[2][4]) {
#pragma unroll
    for (int kt = 0; kt < 2; ++kt) {
        split_bf16x2(z[0][2 * kt].x, z[0][2 * kt + 1].x, ah[kt][0], al[kt][0]);
        split_bf16x2(z[1][2 * kt].x, z[1][2 * kt + 1].x, ah[kt][1], al[kt][1]);
        split_bf16x2(z[0][2 * kt].y, z[0][2 * kt + 1].y, ah[kt][2], al[kt][2]);
        split_bf16x2(z[1][2 * kt].y, z[1][2 * kt + 1].y, ah[kt][3], al[kt][3]);
    }
}

// Transposes an 8×8 matrix of 16-bit values held in mma fragment layout (lane
// holds row lane/4, columns 2·(lane%4) and +1) into the same layout.
__device__ __forceinline__ uint32_t transpose_8x8_b16(uint32_t a) {
    uint32_t d;
    asm("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(d) : "r"(a));
    return d;
}

// Complex values of one 256-element tile in accumulator layout (x[r][jj]: row
// g + 8r, column tc_j(q, jj)) → A fragments of the transposed tile (row and
// column swapped): exactly what tc_load gives for the stage along the tile's
// other axis, from the same fp32 values (so the same bits as a pass through
// shared memory). Each 8×8 block of real or imaginary parts, hi and lo, is one
// movmatrix: block (r, h) of x is block (h, r) of the result.
__device__ __forceinline__ void tc_transpose_repack(const float2 (&x)[2][4], uint32_t (&ah)[2][4],
                                                    uint32_t (&al)[2][4]) {
#pragma unroll
    for (int kt = 0; kt < 2; ++kt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            uint32_t hi, lo;
            split_bf16x2(x[kt][2 * h].x, x[kt][2 * h + 1].x, hi, lo);
            ah[kt][h] = transpose_8x8_b16(hi);
            al[kt][h] = transpose_8x8_b16(lo);
            split_bf16x2(x[kt][2 * h].y, x[kt][2 * h + 1].y, hi, lo);
            ah[kt][2 + h] = transpose_8x8_b16(hi);
            al[kt][2 + h] = transpose_8x8_b16(lo);
        }
}

// What one slot of a CTA holds: rows of u, gates and y for batch elements a and
// b of one channel (b absent for the last pair of an odd batch), and the
// channel's spectrum. Computed once per CTA into shared memory, so the 64-bit
// divisions happen PAIRS times per CTA, not per element.
// The part of each row of a windowed slot (FusedParams::window_step) that
// lies inside its sequence: positions [begin, end) of the window.
struct WindowBounds {
    uint16_t begin[2], end[2];  // rows a and b
};
struct SlotDesc {
    int64_t row_a, row_b;       // element offsets of the rows, -1 = absent (windows: of position lead)
    const float2 *spectrum;     // conv mode
    union {
        float2 *spectrum_out;   // spectrum mode
        WindowBounds window;    // mode_conv over windows
    };
};
static_assert(sizeof(SlotDesc) == 32, "smem accounting assumes 32-byte descriptors");

// L2 eviction priorities for mode_rows_dk's short-lived buffers (PTX
// createpolicy + .L2::cache_hint). Its stash and partial sums are re-read by the
// same thread a pass or a pair later, while every Z row streams through the L2
// once: evict_last asks to keep the former, evict-first accesses (ld/st .cs)
// the latter. (Measured on the H100: a hint, not a guarantee — with no L2 set
// aside for persisting accesses the stash still reaches DRAM at 8K and 16K rows.)
__device__ __forceinline__ uint64_t l2_policy(bool keep) {
    uint64_t policy;
    if (keep) asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
    else asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    return policy;
}
// Coherent (not .nc) 16-byte accesses with an L2 policy. The stores are ordered
// with every other access of the thread (volatile, memory clobber); a load
// needs no clobber: what it reads was stored before a barrier, or by a store
// that depends on the load.
__device__ __forceinline__ float4 load_l2(const float4 *a, uint64_t policy) {
    float4 v;
    asm volatile("ld.global.L2::cache_hint.v4.f32 {%0, %1, %2, %3}, [%4], %5;"
                 : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                 : "l"(a), "l"(policy));
    return v;
}
__device__ __forceinline__ void store_l2(float4 *a, float4 v, uint64_t policy) {
    asm volatile("st.global.L2::cache_hint.v4.f32 [%0], {%1, %2, %3, %4}, %5;" ::"l"(a), "f"(v.x), "f"(v.y), "f"(v.z),
                 "f"(v.w), "l"(policy)
                 : "memory");
}

// The passes of mode_rows_dk and of the fused backward (launch.hpp), in the
// order a slot runs them for each pair of its group; dk_none in every other mode.
enum DkPass : int { dk_none = 0, dk_v = 1, dk_dz = 2 };

// What a kernel loops over (run_pass): one pass of any mode but mode_rows_dk;
// mode_rows_dk's two passes per pair of a group; the fused backward's two
// mode_conv passes per pair of a group.
// backward_paired, rows_dk_paired: the same with the V pass and the DZ pass
// of a pair (a row) in two slots of one pass (Geometry::backward_paired).
enum class PassLoop { single, rows_dk, backward, backward_paired, rows_dk_paired };

// What a (mode, pass) does. Spectrum input (no pass of mode_rows_dk): the middle
// stage reads the spectrum to invert from global memory (no load, no forward stages).
__device__ __forceinline__ bool spectrum_input(FusedMode m) {
    return m == mode_inverse || m == mode_rows_inverse;
}
// Complex fp32 rows in (natural order; no zero padding to skip).
__device__ __forceinline__ bool rows_input(FusedMode m) {
    return m == mode_rows || m == mode_rows_transform || m == mode_rows_dk;
}
// Complex fp32 rows out (natural order, in place).
__device__ __forceinline__ bool rows_output(FusedMode m) {
    return m == mode_rows || m == mode_rows_inverse || m == mode_rows_dk;
}
// Forward transform only: no product, no inverse.
__device__ __forceinline__ bool transform_only(FusedMode m, const FusedParams &p, DkPass k) {
    return m == mode_spectrum || m == mode_rows_transform || (k == dk_v && !p.dk_inverse_v) ||
           (k == dk_dz && !p.dk_inverse_dz);
}
// The rows buffer of a pass: Z_dz for mode_rows_dk's second pass, else rows.
__device__ __forceinline__ void *rows_buffer(const FusedParams &p, DkPass k) { return k == dk_dz ? p.rows2 : p.rows; }
// Pairs a slot of mode_rows_dk walks through: the longest group, ceil(P / G).
__device__ __forceinline__ int dk_iterations(const FusedParams &p) {
    return int((p.pairs_per_channel + p.dk_pair_groups - 1) / p.dk_pair_groups);
}

// PAIRED: slots 2i and 2i + 1 hold the V and DZ passes of item i (PassLoop::backward_paired).
template <class G, bool PAIRED>
__device__ __forceinline__ SlotDesc make_slot_desc(const FusedParams &p, FusedMode mode, int slot, DkPass kind,
                                                   int iteration) {
    SlotDesc d{-1, -1, nullptr, nullptr};
    // see FusedParams::item_offset
    const int64_t local = PAIRED ? int64_t(blockIdx.x) * (G::PAIRS / 2) + slot / 2
                                 : int64_t(blockIdx.x / G::CLUSTER) * G::PAIRS + slot;
    if (local >= p.items) return d;
    const int64_t item = p.item_offset + local;
    if (kind != dk_none && mode == mode_conv) {  // the fused backward: pair group g of channel h (launch.hpp)
        const int64_t groups = p.dk_pair_groups, P = p.pairs_per_channel;
        const int64_t g = local % groups, h = p.item_offset + local / groups;
        const int64_t in_chunk = g * P / groups + iteration;
        if (in_chunk >= (g + 1) * P / groups) return d;  // this group has fewer pairs
        const int64_t pair = p.dk_pair_offset + in_chunk, ba = 2 * pair, bb = 2 * pair + 1;
        d.row_a = (ba * p.channels + h) * p.seq_len;
        d.row_b = bb < p.batch ? (bb * p.channels + h) * p.seq_len : -1;
        if (p.spectrum) d.spectrum = static_cast<const float2 *>(p.spectrum) + h * G::N;
        // As in mode_rows_dk: where the V pass stashes V, where the DZ pass keeps the partial sum.
        if (p.dk_partial) d.spectrum_out = static_cast<float2 *>(kind == dk_v ? p.dk_stash : p.dk_partial) + local * G::N;
        return d;
    }
    if (kind != dk_none) {  // mode_rows_dk: launch-local rows (launch.hpp)
        const int64_t M = p.rows_per_seq, groups = p.dk_pair_groups, P = p.pairs_per_channel;
        const int64_t j = local % M, g = (local / M) % groups, c = local / (M * groups);
        const int64_t pair = g * P / groups + iteration;
        if (pair >= (g + 1) * P / groups) return d;  // this group has fewer pairs
        // row_a: the pass's row, in rows (V) or rows2 (DZ). spectrum_out: where the
        // V pass stashes V, where the DZ pass keeps the partial sum.
        d.row_a = ((c * P + pair) * M + j) * G::N;
        const float2 *kspec = static_cast<const float2 *>(p.spectrum);
        if (kspec) d.spectrum = kspec + (c * M + j) * G::N;
        d.spectrum_out = static_cast<float2 *>(kind == dk_v ? p.dk_stash : p.dk_partial) + local * G::N;
        return d;
    }
    if (p.mode == mode_spectrum) {  // one channel per slot
        d.row_a = item * p.kernel_len;
        d.spectrum_out = static_cast<float2 *>(p.spectrum_out) + local * G::N;
    } else if (p.mode == mode_inverse) {  // one spectrum per slot, one fp32 row out
        d.row_a = item * p.kernel_len;
        d.spectrum = static_cast<const float2 *>(p.spectrum) + local * G::N;
    } else if (p.mode == mode_rows_transform) {  // one complex row in, its spectrum out
        d.row_a = item * G::N;
        d.spectrum_out = static_cast<float2 *>(p.spectrum_out) + local * G::N;
    } else if (p.mode == mode_rows) {  // one complex row per slot, in place
        // Item (c·M + r)·P + pair is row r of that pair of channel c (launch.hpp):
        // the channel's P pairs take spectrum row r one after another, so it is
        // read from HBM once and from the L2 by the other P − 1.
        // A frequency-sparse plan visits only the kept rows (FusedParams::kept_rows).
        const int64_t M = p.rows_per_seq, P = p.pairs_per_channel, R = p.kept_row_count ? p.kept_row_count : M;
        const int64_t c = item / (R * P), pair = item % P;
        const int64_t r = p.kept_row_count ? int64_t(__ldg(p.kept_rows + item / P % R)) : item / P % R;
        const int64_t row = (c * P + pair) * M + r;
        d.row_a = row * G::N;
        d.spectrum = static_cast<const float2 *>(p.spectrum) + (c * M + r) * G::N;
        if (p.spectrum_out) d.spectrum_out = static_cast<float2 *>(p.spectrum_out) + row * G::N;
    } else if (p.mode == mode_rows_inverse) {  // one spectrum row in, one complex row out
        d.row_a = item * G::N;
        d.spectrum = static_cast<const float2 *>(p.spectrum) + local * G::N;
    } else if (p.window_step) {  // mode_conv: two windows of one channel (FusedParams::window_step)
        const int64_t h = item / p.pairs_per_channel, pair = item % p.pairs_per_channel;
        const int64_t windows = p.batch * p.windows_per_seq;
        // Window w = b·W + j starts at position j·step − lead of sequence (b, h);
        // its row offset is that of position j·step (≥ 0), so that −1 still marks
        // an absent row.
        auto window = [&](int64_t w, int part) {
            const int64_t b = w / p.windows_per_seq, start = (w % p.windows_per_seq) * p.window_step;
            const int64_t first = p.window_lead - start, last = p.seq_len - start + p.window_lead;
            d.window.begin[part] = uint16_t(first > 0 ? first : 0);
            d.window.end[part] = uint16_t(last < G::N ? last : G::N);
            return (b * p.channels + h) * p.seq_len + start;
        };
        d.window = WindowBounds{{0, 0}, {0, 0}};
        d.row_a = window(2 * pair, 0);
        d.row_b = 2 * pair + 1 < windows ? window(2 * pair + 1, 1) : -1;
        d.spectrum = static_cast<const float2 *>(p.spectrum) + h * G::N;
    } else {  // mode_conv: a pair of one channel
        const int64_t h = item / p.pairs_per_channel, pair = item % p.pairs_per_channel;
        const int64_t ba = 2 * pair, bb = 2 * pair + 1;
        d.row_a = (ba * p.channels + h) * p.seq_len;
        d.row_b = bb < p.batch ? (bb * p.channels + h) * p.seq_len : -1;
        d.spectrum = static_cast<const float2 *>(p.spectrum) + h * G::N;
    }
    return d;
}

// A radix-16 tensor-core stage along axis S; TW as for small_stage.
template <class G, int S, int TW>
__device__ __forceinline__ void tc_stage(float2 *sdata, const Twiddles &tw, const DftFragments &f, bool upper_in_zero,
                                         bool upper_out_unused) {
    constexpr int M = G::inner(S);
    constexpr int tiles = G::N / 256;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int lane_swz = swizzle(tc_lane_offset<M>(lane >> 2, lane & 3));
    constexpr int local_tiles = tiles * G::PAIRS / G::CLUSTER;  // a CTA's tiles cover its half
    const int first = cta_rank<G>() * local_tiles;
#pragma unroll 1
    for (int lt = warp; lt < local_tiles; lt += G::WARPS) {
        // Unsigned: division by the constant powers of two is then a shift.
        const unsigned t = first + lt;
        float2 *s = sdata + (t / tiles) * G::N_LOCAL;
        const unsigned mt = t % tiles;
        const int base = tc_tile_base<M>(mt);
        const int slot_base = swizzle(base) ^ lane_swz;
        float4 twv[4];  // issued before the DFT so the loads overlap it
        if constexpr (TW >= 0) {
            const float4 *table = tc_twiddle_table<G, S, TW != S>(tw, mt);
            tc_load_twiddles(table, twv);
        }
        uint32_t ah[2][4], al[2][4];
        tc_load<M>(s, slot_base, upper_in_zero, ah, al);
        float acc[4][4];
        tc_dft(f, ah, al, upper_in_zero, upper_out_unused, acc);
#pragma unroll
        for (int r = 0; r < 2; ++r)
#pragma unroll
            for (int jj = 0; jj < 4; ++jj) {
                if (jj >= 2 && upper_out_unused) continue;
                float2 v = tc_out(acc, r, jj);
                if constexpr (TW >= 0) v = cmul(v, tc_twiddle(twv, r, jj));
                tc_element<M>(s, slot_base, r, jj) = v;
            }
    }
}

// Where a thread keeps float4 i of its tile in its warp's stash (the paired
// passes, Geometry::backward_paired): lanes side by side, so no bank conflicts.
__device__ __forceinline__ int warp_stash_index(int i, int lane) { return int(threadIdx.x / 32 * 4 + i) * 32 + lane; }

// The innermost stage: forward DFT, then either store the spectrum (spectrum
// mode) or multiply by it, conjugate, and run the first inverse DFT in registers.
// With G::inner_pair the stage before it (inner size 16, the same tiles along
// their other axis) runs here too, forward before and inverse after, with the
// tile transposed in registers in between. Spectrum layout ("visit order"):
// [tile][lane][row r][jj] complex fp32, so each thread reads 64 contiguous bytes.
// zero_upper_in / lower_half_out: forward_stages' and inverse_stages' flags, for
// when the middle stage's first stage is stage 0. PAIRED: the pass of slot s is
// s's parity (dk_v, dk_dz), not pass_kind, a warp visits tile t of V and then
// of DZ, and V waits in the warp's tile of stash_smem (otherwise in
// FusedParams::dk_stash).
template <class G, bool PAIRED>
__device__ __forceinline__ void middle_stage(float2 *sdata, const Twiddles &tw, const DftFragments &f,
                                             const FusedParams &p, FusedMode mode, const SlotDesc *slots,
                                             DkPass pass_kind, bool dk_add, bool dk_last, bool zero_upper_in,
                                             bool lower_half_out, float4 *stash_smem) {
    constexpr int S = G::num_stages - 1;
    static_assert(S >= 1, "at least two stages");
    constexpr bool PAIR = G::inner_pair;
    constexpr int S2 = S - 1;  // with PAIR: the stage of inner size 16, run here too
    // Stage 0's zero padding: the upper half of the forward input is zero, the
    // upper half of the inverse output unused (as in tc_stage).
    const bool pair_upper_in_zero = PAIR && S2 == 0 && zero_upper_in;
    const bool pair_upper_out_unused = PAIR && S2 == 0 && lower_half_out;
    constexpr int tiles = G::N / 256;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // The tile's shared-memory addresses: the pair's stage (inner size 16) loads
    // and stores; without a pair, the innermost stage does.
    const int lane_swz = swizzle(tc_lane_offset<PAIR ? 16 : 1>(lane >> 2, lane & 3));
    constexpr int local_tiles = tiles * G::PAIRS / G::CLUSTER;
    static_assert(!PAIRED || (G::CLUSTER == 1 && local_tiles / 2 % G::WARPS == 0), "every warp visits whole tile pairs");
    const int first = cta_rank<G>() * local_tiles;
#pragma unroll 1
    for (int lt = warp; lt < local_tiles; lt += G::WARPS) {
        unsigned slot, mt;
        if constexpr (PAIRED) {
            // The warp's k-th visit: tile pair j = (k/2)·WARPS + warp, V (k even), then DZ.
            const unsigned k = lt / G::WARPS, j = (k / 2) * G::WARPS + warp;
            slot = 2 * (j / tiles) + k % 2;
            mt = j % tiles;
        } else {
            const unsigned t = first + lt;
            slot = t / tiles;
            mt = t % tiles;
        }
        const DkPass kind = PAIRED ? (slot % 2 ? dk_dz : dk_v) : pass_kind;
        float2 *s = sdata + slot * G::N_LOCAL;
        static_assert(tc_tile_base<16>(1) == tc_tile_base<1>(1), "both axes of the pair see the same tiles");
        const int base = tc_tile_base<1>(mt);
        const int slot_base = swizzle(base) ^ lane_swz;
        uint32_t ah[2][4], al[2][4];
        float acc[4][4];
        const size_t vofs = (size_t(mt) * 32 + lane) * 8;
        const SlotDesc &info = slots[slot];
        // The spectrum (L2-resident, shared by the pairs of a channel) is fetched
        // before the forward DFT so its latency overlaps the tensor-core work.
        const float4 *kv = info.spectrum ? reinterpret_cast<const float4 *>(info.spectrum + vofs) : nullptr;
        float4 k4v[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) k4v[i] = kv ? __ldg(kv + i) : make_float4(0.f, 0.f, 0.f, 0.f);
        if (!spectrum_input(mode)) {
            if constexpr (PAIR) {
                // Stage S2 forward (tc_stage<G, S2, S2>), twiddled, transposed.
                float4 twv[4];
                const float4 *table = tc_twiddle_table<G, S2, false>(tw, mt);
                tc_load_twiddles(table, twv);
                tc_load<16>(s, slot_base, pair_upper_in_zero, ah, al);
                tc_dft(f, ah, al, pair_upper_in_zero, false, acc);
                float2 x[2][4];
#pragma unroll
                for (int r = 0; r < 2; ++r)
#pragma unroll
                    for (int jj = 0; jj < 4; ++jj) x[r][jj] = cmul(tc_out(acc, r, jj), tc_twiddle(twv, r, jj));
                tc_transpose_repack(x, ah, al);
            } else {
                tc_load<1>(s, slot_base, false, ah, al);
            }
            tc_dft(f, ah, al, false, false, acc);
        }
        if (kind == dk_dz && info.spectrum_out) {  // dk's partial sum: (+)= conj(V) · DZ
            // V's spectrum, stashed by the V pass: written in this launch, so read
            // with coherent loads, by the thread that wrote it (its last read). The
            // partial sum is kept in the L2 until the group's last pair. Every
            // load is issued before the first is used. (Issuing them before the
            // DFT, to overlap it, costs spills.)
            float4 *const part = reinterpret_cast<float4 *>(info.spectrum_out + vofs);
            const uint64_t keep = l2_policy(true), part_policy = dk_last ? l2_policy(false) : keep;
            float4 v4[4], old4[4];
            if constexpr (PAIRED) {
#pragma unroll
                for (int i = 0; i < 4; ++i) v4[i] = stash_smem[warp_stash_index(i, lane)];
            } else {
                const int64_t stash_slot = int64_t(blockIdx.x / G::CLUSTER) * G::PAIRS + slot;
                const float4 *const stash =
                    reinterpret_cast<const float4 *>(static_cast<const float2 *>(p.dk_stash) + stash_slot * G::N + vofs);
#pragma unroll
                for (int i = 0; i < 4; ++i) v4[i] = load_l2(stash + i, l2_policy(false));
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) old4[i] = dk_add ? load_l2(part + i, keep) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float4 v = v4[i], old = old4[i];
                const float2 a = tc_out(acc, i >> 1, 2 * (i & 1)), b = tc_out(acc, i >> 1, 2 * (i & 1) + 1);
                const Cplx s0 = conj_mul_add(Cplx{old.x, old.y}, Cplx{v.x, v.y}, Cplx{a.x, a.y});
                const Cplx s1 = conj_mul_add(Cplx{old.z, old.w}, Cplx{v.z, v.w}, Cplx{b.x, b.y});
                store_l2(part + i, make_float4(s0.re, s0.im, s1.re, s1.im), part_policy);
            }
        } else if (info.spectrum_out && !spectrum_input(mode) && !p.window_step) {  // the forward spectrum, in visit order
            float4 *o = reinterpret_cast<float4 *>(info.spectrum_out + vofs);
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int jj = 0; jj < 4; jj += 2) {
                    const float2 a = tc_out(acc, r, jj), b = tc_out(acc, r, jj + 1);
                    const float4 v = make_float4(a.x, a.y, b.x, b.y);
                    if (kind != dk_v) o[r * 2 + jj / 2] = v;
                    else if constexpr (PAIRED)
                        stash_smem[warp_stash_index(r * 2 + jj / 2, lane)] = v;
                    else store_l2(o + r * 2 + jj / 2, v, l2_policy(true));  // the stash
                }
        }
        if (transform_only(mode, p, kind)) continue;
        float2 z[2][4];
        if (spectrum_input(mode)) {
            // The spectrum itself is the product to invert.
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int jj = 0; jj < 4; jj += 2) {
                    const float4 k4 = k4v[r * 2 + jj / 2];
                    z[r][jj] = make_float2(k4.x, -k4.y);  // conjugate-carried domain
                    z[r][jj + 1] = make_float2(k4.z, -k4.w);
                }
        } else {
            const float ksign = p.conj_spectrum || kind == dk_dz ? -1.f : 1.f;
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int jj = 0; jj < 4; jj += 2) {
                    const float4 k4 = k4v[r * 2 + jj / 2];
                    z[r][jj] = carried_product(tc_out(acc, r, jj), k4.x, ksign * k4.y);
                    z[r][jj + 1] = carried_product(tc_out(acc, r, jj + 1), k4.z, ksign * k4.w);
                }
        }
        float4 twv[4];
        const float4 *table = tc_twiddle_table<G, S, true>(tw, mt);
        tc_load_twiddles(table, twv);
        tc_repack(z, ah, al);
        tc_dft(f, ah, al, false, false, acc);
        if constexpr (!PAIR) {
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int jj = 0; jj < 4; ++jj)
                    tc_element<1>(s, slot_base, r, jj) = cmul(tc_out(acc, r, jj), tc_twiddle(twv, r, jj));
        } else {
            float2 x[2][4];
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int jj = 0; jj < 4; ++jj) x[r][jj] = cmul(tc_out(acc, r, jj), tc_twiddle(twv, r, jj));
            // Stage S2 inverse (tc_stage<G, S2, S2 - 1>): its twiddles, if any,
            // are T_{S2-1}'s.
            constexpr bool inverse_twiddle = S2 >= 1;
            if constexpr (inverse_twiddle) {
                const float4 *table2 = tc_twiddle_table<G, S2, true>(tw, mt);
                tc_load_twiddles(table2, twv);
            }
            tc_transpose_repack(x, ah, al);
            tc_dft(f, ah, al, false, pair_upper_out_unused, acc);
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int jj = 0; jj < 4; ++jj) {
                    if (jj >= 2 && pair_upper_out_unused) continue;
                    float2 v = tc_out(acc, r, jj);
                    if constexpr (inverse_twiddle) v = cmul(v, tc_twiddle(twv, r, jj));
                    tc_element<16>(s, slot_base, r, jj) = v;
                }
        }
    }
}

// Forward stages 0 .. middle_first-1 (each followed by a barrier). stage0_done:
// load_stage0 ran stage 0 (direct I/O); only its barrier is left.
template <class G, int S>
__device__ __forceinline__ void forward_stages(float2 *sdata, const Twiddles &tw, const DftFragments &f, bool zero_upper,
                                               float2 *const *parts, bool stage0_done) {
    if constexpr (S < G::middle_first) {
        if constexpr (S < G::num_small) {
            if (S != 0 || !stage0_done) small_stage<G, S, S>(sdata, tw, parts);
        } else {
            tc_stage<G, S, S>(sdata, tw, f, S == 0 && zero_upper, false);
        }
        // Stage 0 (in a cluster) wrote into the partners' parts.
        stage_barrier<G>(S == 0 ? Sync::cluster_after_remote_writes : Sync::cta);
        forward_stages<G, S + 1>(sdata, tw, f, zero_upper, parts, stage0_done);
    }
}

// Inverse stages middle_first-1 .. 0 (conjugate-carried; each followed by a
// barrier). stage0_direct: stop before stage 0, which store_stage0 runs.
template <class G, int S>
__device__ __forceinline__ void inverse_stages(float2 *sdata, const Twiddles &tw, const DftFragments &f,
                                               bool lower_half_only, float2 *const *parts, bool stage0_direct) {
    if constexpr (S >= 0) {
        if (S == 0 && stage0_direct) return;
        if constexpr (S < G::num_small) small_stage<G, S, S - 1>(sdata, tw, parts);
        else tc_stage<G, S, S - 1>(sdata, tw, f, false, S == 0 && lower_half_only);
        // Stage 0 (in a cluster) is preceded and followed by cluster-wide
        // barriers: before it the partners' writes were local, after it remote.
        stage_barrier<G>(S == 1 ? Sync::cluster_after_local_writes : S == 0 ? Sync::cluster_after_remote_writes : Sync::cta);
        inverse_stages<G, S - 1>(sdata, tw, f, lower_half_only, parts, stage0_direct);
    }
}

// ---------------------------------------------------------------------------
// Global-memory I/O
// ---------------------------------------------------------------------------
// V: the elements of T in a 16-byte access (the widest); unpack and pack: two
// 16-bit elements in one 32-bit word, element 0 the low half. Global accesses
// are kept as 32-bit words (ElementWord) and converted two elements per word:
// an array of 16-bit elements instead makes the compiler move every half into
// a register of its own (a dozen extra instructions per 16-byte access).
template <typename T> struct Vec16;
template <> struct Vec16<float> {
    static constexpr int V = 4;  // one element per word
};
template <> struct Vec16<__half> {
    static constexpr int V = 8;
    __device__ static __forceinline__ float2 unpack(uint32_t w) {
        __half2 h;
        memcpy(&h, &w, 4);
        return __half22float2(h);
    }
    __device__ static __forceinline__ uint32_t pack(float a, float b) {
        const __half2 h = __floats2half2_rn(a, b);
        uint32_t w;
        memcpy(&w, &h, 4);
        return w;
    }
};
template <> struct Vec16<__nv_bfloat16> {
    static constexpr int V = 8;
    __device__ static __forceinline__ float2 unpack(uint32_t w) {  // a bf16 is the top half of an fp32
        return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
    }
    __device__ static __forceinline__ uint32_t pack(float a, float b) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
        uint32_t w;
        memcpy(&w, &h, 4);
        return w;
    }
};

// The register type of one global access of BYTES bytes, and its 32-bit words.
template <int BYTES> struct RawAccess;
template <> struct RawAccess<2> { using type = unsigned short; };
template <> struct RawAccess<4> { using type = uint32_t; };
template <> struct RawAccess<8> { using type = uint2; };
template <> struct RawAccess<16> { using type = uint4; };
__device__ __forceinline__ uint32_t word(uint32_t v, int) { return v; }
__device__ __forceinline__ uint32_t word(const uint2 &v, int k) { return k == 0 ? v.x : v.y; }
__device__ __forceinline__ uint32_t word(const uint4 &v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }
template <class Raw> __device__ __forceinline__ Raw from_words(const uint32_t (&w)[sizeof(Raw) / 4]);
template <> __device__ __forceinline__ uint32_t from_words<uint32_t>(const uint32_t (&w)[1]) { return w[0]; }
template <> __device__ __forceinline__ uint2 from_words<uint2>(const uint32_t (&w)[2]) { return make_uint2(w[0], w[1]); }
template <> __device__ __forceinline__ uint4 from_words<uint4>(const uint32_t (&w)[4]) {
    return make_uint4(w[0], w[1], w[2], w[3]);
}
// Element i of an access of T elements, as the register of a one-element access.
template <typename T, class Raw>
__device__ __forceinline__ typename RawAccess<int(sizeof(T))>::type element(const Raw &w, int i) {
    if constexpr (sizeof(T) == 4) return word(w, i);
    else return static_cast<unsigned short>(word(w, i / 2) >> (16 * (i & 1)));
}

// E adjacent elements of T as one global access (Raw), converted to and from
// floats: two 16-bit elements per 32-bit word, element 2k the low half of word k.
template <typename T, int E>
struct ElementWord {
    static constexpr int BYTES = E * int(sizeof(T));
    using Raw = typename RawAccess<BYTES>::type;
    __device__ static __forceinline__ void unpack(const Raw &w, float (&v)[E]) {
        if constexpr (sizeof(T) == 4) {
#pragma unroll
            for (int k = 0; k < E; ++k) v[k] = __uint_as_float(word(w, k));
        } else if constexpr (E == 1) {
            v[0] = Vec16<T>::unpack(uint32_t(w)).x;
        } else {
#pragma unroll
            for (int k = 0; k < E / 2; ++k) {
                const float2 f = Vec16<T>::unpack(word(w, k));
                v[2 * k] = f.x;
                v[2 * k + 1] = f.y;
            }
        }
    }
    // Rounded to T (round to nearest even).
    __device__ static __forceinline__ Raw pack(const float (&v)[E]) {
        if constexpr (sizeof(T) == 4) {
            uint32_t w[E];
#pragma unroll
            for (int k = 0; k < E; ++k) w[k] = __float_as_uint(v[k]);
            return from_words<Raw>(w);
        } else if constexpr (E == 1) {
            return Raw(Vec16<T>::pack(v[0], 0.f) & 0xffffu);
        } else {
            uint32_t w[E / 2];
#pragma unroll
            for (int k = 0; k < E / 2; ++k) w[k] = Vec16<T>::pack(v[2 * k], v[2 * k + 1]);
            return from_words<Raw>(w);
        }
    }
    // x ⊙ gate, the gate being one access.
    __device__ static __forceinline__ void gate(const Raw &gate, float (&x)[E]) {
        float g[E];
        unpack(gate, g);
#pragma unroll
        for (int i = 0; i < E; ++i) x[i] *= g[i];
    }
};

// Predicated global accesses of one 16-, 32-, 64- or 128-bit word: an element
// outside its row (n ≥ L, an absent sequence) is skipped by a predicate rather
// than a branch, so that a thread's accesses issue back to back. A skipped
// load leaves zero. u and the gates are read once: the loads do not allocate in
// L1 (which is left to the twiddle tables); y is written once: streaming
// (evict-first) stores.
__device__ __forceinline__ void load_if(bool pred, const void *p, unsigned short &w) {
    w = 0;
    asm("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %1, 0;\n\t@q ld.global.nc.L1::no_allocate.b16 %0, [%2];\n\t}"
        : "+h"(w)
        : "r"(int(pred)), "l"(p));
}
__device__ __forceinline__ void load_if(bool pred, const void *p, uint32_t &w) {
    w = 0;
    asm("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %1, 0;\n\t@q ld.global.nc.L1::no_allocate.b32 %0, [%2];\n\t}"
        : "+r"(w)
        : "r"(int(pred)), "l"(p));
}
__device__ __forceinline__ void load_if(bool pred, const void *p, uint2 &w) {
    w = make_uint2(0u, 0u);
    asm("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %2, 0;\n\t@q ld.global.nc.L1::no_allocate.v2.b32 {%0, %1}, [%3];\n\t}"
        : "+r"(w.x), "+r"(w.y)
        : "r"(int(pred)), "l"(p));
}
__device__ __forceinline__ void load_if(bool pred, const void *p, uint4 &w) {
    w = make_uint4(0u, 0u, 0u, 0u);
    asm("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %4, 0;\n\t@q ld.global.nc.L1::no_allocate.v4.b32 {%0, %1, %2, %3}, [%5];\n\t}"
        : "+r"(w.x), "+r"(w.y), "+r"(w.z), "+r"(w.w)
        : "r"(int(pred)), "l"(p));
}
__device__ __forceinline__ void store_if(bool pred, void *p, unsigned short w) {
    asm volatile("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %0, 0;\n\t@q st.global.cs.b16 [%1], %2;\n\t}" ::"r"(int(pred)),
                 "l"(p), "h"(w)
                 : "memory");
}
__device__ __forceinline__ void store_if(bool pred, void *p, uint32_t w) {
    asm volatile("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %0, 0;\n\t@q st.global.cs.b32 [%1], %2;\n\t}" ::"r"(int(pred)),
                 "l"(p), "r"(w)
                 : "memory");
}
__device__ __forceinline__ void store_if(bool pred, void *p, uint2 w) {
    asm volatile("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %0, 0;\n\t@q st.global.cs.v2.b32 [%1], {%2, %3};\n\t}" ::"r"(int(pred)),
                 "l"(p), "r"(w.x), "r"(w.y)
                 : "memory");
}

__device__ __forceinline__ void store_if(bool pred, void *p, uint4 w) {
    asm volatile("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %0, 0;\n\t@q st.global.cs.v4.b32 [%1], {%2, %3, %4, %5};\n\t}" ::"r"(int(pred)),
                 "l"(p), "r"(w.x), "r"(w.y), "r"(w.z), "r"(w.w)
                 : "memory");
}

// True when rows of L elements of T, laid end to end in tensors whose
// addresses OR to bits, all start on a boundary of E elements, so that E
// consecutive elements of a row can move as one access.
template <typename T, int E>
__device__ __forceinline__ bool rows_aligned(uintptr_t bits, int64_t L) {
    return (bits & (E * sizeof(T) - 1)) == 0 && L % E == 0;
}
// The same for every tensor of p.
template <typename T, int E>
__device__ __forceinline__ bool rows_aligned(const FusedParams &p) {
    const uintptr_t bits = reinterpret_cast<uintptr_t>(p.u) | reinterpret_cast<uintptr_t>(p.in_gate) |
                           reinterpret_cast<uintptr_t>(p.out_gate) | reinterpret_cast<uintptr_t>(p.y) |
                           reinterpret_cast<uintptr_t>(p.out_gate2) | reinterpret_cast<uintptr_t>(p.y2);
    return rows_aligned<T, E>(bits, p.seq_len);
}

// Where index idx of a CTA's I/O loop (over slots, then positions, E
// consecutive positions per access) lands: its slot and first position.
template <class G, int E>
__device__ __forceinline__ void io_position(unsigned idx, unsigned n_begin, unsigned &slot, unsigned &n) {
    constexpr unsigned per_slot = G::N_LOCAL / E;  // unsigned: / and % are shifts and masks
    slot = idx / per_slot;
    n = n_begin + (idx % per_slot) * E;
}

// The element-wise I/O passes (load_rows, store_rows) move E consecutive
// elements of a row per access, E the widest (up to 16 bytes) that the rows'
// alignment allows: L = 4090 in fp16 takes 4-byte accesses, not 2-byte ones.
// A thread issues a chunk of independent accesses per tensor before it uses
// any: four, or in the load pass eight of 2 bytes (odd L in 16-bit I/O) except
// in the backward's paired passes (eight there took the 4K backward kernel to
// 128 registers).

// Loads (gated) inputs of every slot into shared memory as complex pairs
// (v_a + i·v_b), E elements per access; zero padding and empty slots become
// zeros. The loop runs over all (slot, access) pairs so every thread works at
// every N. PAIRED: the odd slots read p_odd's inputs (PassLoop::backward_paired).
// WINDOWS: the slots are overlap-save windows (FusedParams::window_step), each
// row read within its SlotDesc::window bounds.
template <typename T, int E, class G, bool PAIRED, bool WINDOWS = false>
__device__ __forceinline__ void load_rows(float2 *sdata, const FusedParams &p, const FusedParams &p_odd,
                                          const SlotDesc *slots) {
    using W = ElementWord<T, E>;
    const T *const u_even = static_cast<const T *>(p.u), *const u_odd = static_cast<const T *>(p_odd.u);
    const T *const ig_even = static_cast<const T *>(p.in_gate), *const ig_odd = static_cast<const T *>(p_odd.in_gate);
    const unsigned L = unsigned(p.seq_len);
    // The CTA's elements: all of them, or its N_LOCAL positions in a cluster.
    constexpr int total = G::PAIRS * (G::N_LOCAL / E);
    constexpr int want = E * sizeof(T) < 4 && !PAIRED ? 8 : 4;  // (above)
    constexpr int iters = (total + G::THREADS - 1) / G::THREADS, chunk = iters < want ? iters : want;
    constexpr bool exact = total % (chunk * G::THREADS) == 0;  // every index of every chunk in range
    const unsigned n_begin = cta_rank<G>() * G::N_LOCAL;
#pragma unroll 1
    for (int it = 0; it < iters; it += chunk) {
        typename W::Raw ua[chunk], ga[chunk], ub[chunk], gb[chunk];
        int slot[chunk];
        unsigned n0[chunk];
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            const unsigned idx = (it + c) * G::THREADS + threadIdx.x;
            unsigned at;
            io_position<G, E>(idx, n_begin, at, n0[c]);
            const bool live = exact || idx < total;
            slot[c] = live ? int(at) : -1;
            const SlotDesc d = slots[live ? at : 0];
            bool in_a, in_b;
            int64_t ra = d.row_a, rb = d.row_b;
            if constexpr (WINDOWS) {  // positions [begin, end) of each window; rows point at position lead
                const unsigned n = n0[c];
                in_a = live && ra >= 0 && n >= d.window.begin[0] && n < d.window.end[0];
                in_b = live && rb >= 0 && n >= d.window.begin[1] && n < d.window.end[1];
                ra -= p.window_lead;
                rb -= p.window_lead;
            } else {
                const bool in = live && n0[c] < L;
                in_a = in && ra >= 0;
                in_b = in && rb >= 0;
            }
            const bool odd = PAIRED && at % 2 != 0;
            const T *const u = odd ? u_odd : u_even, *const ig = odd ? ig_odd : ig_even;
            // A skipped access's address (an absent row is −1) is never dereferenced.
            load_if(in_a, u + ra + n0[c], ua[c]);
            load_if(in_a && ig, ig + ra + n0[c], ga[c]);
            load_if(in_b, u + rb + n0[c], ub[c]);
            load_if(in_b && ig, ig + rb + n0[c], gb[c]);
        }
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            if (slot[c] < 0) continue;
            float2 *s = sdata + slot[c] * G::N_LOCAL;
            const int base_swz = swizzle(int(n0[c]));  // n0 is a multiple of E: n0 + i == n0 ^ i
            float a[E], b[E];
            W::unpack(ua[c], a);
            W::unpack(ub[c], b);
            if (PAIRED && slot[c] % 2 != 0 ? ig_odd : ig_even) {
                W::gate(ga[c], a);
                W::gate(gb[c], b);
            }
#pragma unroll
            for (int i = 0; i < E; ++i) s[base_swz ^ swizzle(i)] = make_float2(a[i], b[i]);
        }
    }
}

// ---------------------------------------------------------------------------
// The element passes on their common case: 16-byte accesses, every slot of the
// CTA holding both rows, no windows (load_rows_full, store_rows_full; the
// general passes above handle the rest). As in RowsPass, access c of thread t
// is access c·THREADS + t of the CTA, so its slot and position are a constant
// plus one per-thread term each: slot(c) + t / per_slot and n_t + off(c),
// n_t = n_begin + E·(t mod per_slot). A row's address is then computed once
// per slot and every access adds an immediate; no access is predicated off
// but those past L, and nothing is zero-filled but the smem of those. (The
// general passes spend about 20 instructions per 16-byte access on 64-bit
// address arithmetic, slot descriptors and predicates: at 4K half of the I/O
// passes' instructions, 14 % of the forward kernel's.)
// ---------------------------------------------------------------------------
template <class G, int E>
struct ElementPass {
    static constexpr int per_slot = G::N_LOCAL / E;  // accesses per row
    static constexpr int iters = G::PAIRS * per_slot / G::THREADS;
    static constexpr bool usable = (G::PAIRS * per_slot) % G::THREADS == 0 &&
                                   (per_slot % G::THREADS == 0 || G::THREADS % per_slot == 0) && iters >= 1 &&
                                   iters <= 8;
    static constexpr int chunk = iters < 4 ? iters : 4;  // accesses per tensor in flight (more spill in fp32)
    static constexpr int slot(int c) { return c * G::THREADS / per_slot; }
    static constexpr int off(int c) { return E * (c * G::THREADS % per_slot); }
    // The thread's terms: slot(c) + thread_slot(), position thread_position() + off(c).
    __device__ static unsigned thread_slot() { return threadIdx.x / per_slot; }
    __device__ static unsigned thread_position() { return cta_rank<G>() * G::N_LOCAL + E * (threadIdx.x % per_slot); }
    // Every position of the CTA lies below L: the passes need no predicate.
    __device__ static bool below_length(const FusedParams &p) { return p.seq_len >= (cta_rank<G>() + 1) * G::N_LOCAL; }
};

// A thread's shared-memory slots in the element passes: element i of access c
// is position n_t + off(c) + i of slot slot(c) + t / per_slot. n_t and off(c)
// have disjoint bits and the swizzle changes bits 0..3 only, so its slot is
// (the thread's part with its low nibble XORed by a constant) plus a constant:
// sixteen per-thread addresses, one per low nibble, made once, and every access
// adds an immediate (instead of a dozen address instructions per access).
template <class G, int E>
struct ElementSlots {
    const float2 *nibble[16];
    __device__ __forceinline__ ElementSlots(const float2 *sdata, unsigned t_slot, unsigned n_t) {
        const int swz_t = swizzle(int(n_t));
        const float2 *const s = sdata + t_slot * G::N_LOCAL + (swz_t & ~15);
#pragma unroll
        for (int j = 0; j < 16; ++j) nibble[j] = s + ((swz_t & 15) ^ j);
    }
    // Element i of access c (c, i compile-time after unrolling).
    __device__ __forceinline__ float2 *at(int c, int i) const {
        const int k = swizzle(ElementPass<G, E>::off(c));
        return const_cast<float2 *>(nibble[(k & 15) ^ i]) + ElementPass<G, E>::slot(c) * G::N_LOCAL + (k & ~15);
    }
};

// A 16-byte read-once load (as load_if) that leaves w undefined when skipped:
// its value is used only under the same condition, so nothing is zero-filled.
__device__ __forceinline__ void load_once_if(bool pred, const void *p, uint4 &w) {
    asm("{\n\t.reg .pred q;\n\tsetp.ne.b32 q, %4, 0;\n\t@q ld.global.nc.L1::no_allocate.v4.b32 {%0, %1, %2, %3}, [%5];\n\t}"
        : "=r"(w.x), "=r"(w.y), "=r"(w.z), "=r"(w.w)
        : "r"(int(pred)), "l"(p));
}

// BOUNDED: some accesses lie at or past L (zero padding); otherwise none does
// and the pass has no branch at all.
template <typename T, class G, bool PAIRED, bool BOUNDED>
__device__ __forceinline__ void load_rows_full(float2 *sdata, const FusedParams &p, const FusedParams &p_odd,
                                               const SlotDesc *slots) {
    constexpr int E = Vec16<T>::V;
    using W = ElementWord<T, E>;
    using X = ElementPass<G, E>;
    constexpr int chunk = X::chunk;
    const unsigned t_slot = X::thread_slot(), n_t = X::thread_position();
    const unsigned L = unsigned(p.seq_len);
    const ElementSlots<G, E> at(sdata, t_slot, n_t);
#pragma unroll
    for (int c0 = 0; c0 < X::iters; c0 += chunk) {
        uint4 ua[chunk], ga[chunk], ub[chunk], gb[chunk];
        bool in[chunk];
#pragma unroll
        for (int k = 0; k < chunk; ++k) {
            const int c = c0 + k;
            const unsigned slot = X::slot(c) + t_slot;
            const bool odd = PAIRED && slot % 2 != 0;
            const T *const u = static_cast<const T *>(odd ? p_odd.u : p.u);
            const T *const ig = static_cast<const T *>(odd ? p_odd.in_gate : p.in_gate);
            // The rows' addresses at n_t: the same for every access of a slot.
            const SlotDesc &d = slots[slot];
            const T *const a = u + (d.row_a + n_t), *const b = u + (d.row_b + n_t);
            const T *const ga_row = ig + (d.row_a + n_t), *const gb_row = ig + (d.row_b + n_t);
            in[k] = !BOUNDED || n_t + X::off(c) < L;
            load_once_if(in[k], a + X::off(c), ua[k]);
            load_once_if(in[k], b + X::off(c), ub[k]);
            load_once_if(in[k] && ig, ga_row + X::off(c), ga[k]);
            load_once_if(in[k] && ig, gb_row + X::off(c), gb[k]);
        }
#pragma unroll
        for (int k = 0; k < chunk; ++k) {
            const int c = c0 + k;
            const unsigned slot = X::slot(c) + t_slot;
            if (!in[k]) {  // zero padding
#pragma unroll
                for (int i = 0; i < E; ++i) *at.at(c, i) = make_float2(0.f, 0.f);
                continue;
            }
            float a[E], b[E];
            W::unpack(ua[k], a);
            W::unpack(ub[k], b);
            if (PAIRED && slot % 2 != 0 ? p_odd.in_gate : p.in_gate) {
                W::gate(ga[k], a);
                W::gate(gb[k], b);
            }
#pragma unroll
            for (int i = 0; i < E; ++i) *at.at(c, i) = make_float2(a[i], b[i]);
        }
    }
}

// The address bits of the tensors the load pass reads (p_odd's too when PAIRED).
template <bool PAIRED>
__device__ __forceinline__ uintptr_t input_bits(const FusedParams &p, const FusedParams &p_odd) {
    uintptr_t bits = reinterpret_cast<uintptr_t>(p.u) | reinterpret_cast<uintptr_t>(p.in_gate);
    if (PAIRED) bits |= reinterpret_cast<uintptr_t>(p_odd.u) | reinterpret_cast<uintptr_t>(p_odd.in_gate);
    return bits;
}
// load_rows with the widest access that every row of the inputs allows, E or
// narrower.
template <typename T, class G, bool PAIRED, int E>
__device__ __forceinline__ void load_rows_widest(float2 *sdata, const FusedParams &p, const FusedParams &p_odd,
                                                 const SlotDesc *slots) {
    if constexpr (E > 1) {
        if (!rows_aligned<T, E>(input_bits<PAIRED>(p, p_odd), p.seq_len))
            return load_rows_widest<T, G, PAIRED, E / 2>(sdata, p, p_odd, slots);
    }
    load_rows<T, E, G, PAIRED>(sdata, p, p_odd, slots);
}
// ---------------------------------------------------------------------------
// Shifted blocks: 16-byte accesses for rows that start off the 16-byte grid
//
// At odd L most rows start between 16-byte boundaries, and the element-wise
// passes above fall back to 2-byte accesses (4-byte in fp32). Where
// the tensors start on 16-byte boundaries and both rows of a slot sit at the
// same offset m = (row start) mod V (they lie H·L elements apart: H·L % V == 0),
// the passes below still move aligned 16-byte blocks: access k of a CTA's range
// [n_begin, n_begin + N_LOCAL) of a row covers the positions
// [n0 − m, n0 − m + V), n0 = n_begin + k·V, and each element goes to (or comes
// from) shared memory at its own position. The first block of the range
// starts m positions early, in the row before or in the partner CTA's range:
// its first m elements stand instead for the range's last m positions, which
// no other block covers ("wrapped"). Element accesses remain for loads where
// wrapped positions hold data (the first block of a cluster CTA that is not
// the last, or L > N − m), for stores at the first and last block of each row
// (the bytes beyond them belong to the neighbouring rows). A 16-byte load that
// reaches into a neighbouring row stays inside the tensor: the tensor starts
// on the grid and its length B·H·L is a multiple of V, so it ends on it.
// ---------------------------------------------------------------------------
template <int E>
struct ShiftedBlock {
    int m;     // the row's start mod E
    int n0;    // position of element m (a multiple of E)
    int low;   // elements i < m are positions low + (E − m + i): n0 − E, or the range's last group (wrapped)
    int swz_n0, swz_low;
    __device__ __forceinline__ ShiftedBlock(int n0_, int m_, int n_begin, int n_local)
        : m(m_), n0(n0_), low(n0_ == n_begin ? n_begin + n_local - E : n0_ - E), swz_n0(swizzle(n0_)),
          swz_low(swizzle(low)) {}
    __device__ __forceinline__ int start() const { return n0 - m; }  // the aligned block's first position
    // The first block of a range at m > 0: its elements i < m are the range's last positions.
    __device__ __forceinline__ bool wraps() const { return m > 0 && low > n0; }
    // (i − m) mod E: the offset of element i in its group of E positions.
    __device__ __forceinline__ int pos(int i) const { return (i < m ? low : n0) + ((i - m) & (E - 1)); }
    // Its shared-memory index: low and n0 are multiples of E, so the offset is an XOR.
    __device__ __forceinline__ int index(int i) const { return (i < m ? swz_low : swz_n0) ^ ((i - m) & (E - 1)); }
    // Whether the block at n0 wraps onto positions below L, whose loads then go
    // an element at a time (computed before the block itself, to pick the loads).
    __device__ static __forceinline__ bool wraps_onto_data(int n0, int m, int n_begin, int n_local, int L) {
        return n0 == n_begin && m > 0 && n_begin + n_local - m < L;
    }
};

// The E elements of block b of the row at `row`, one access each, zero at
// positions ≥ L: for the blocks that a 16-byte access may not read.
template <typename T, int E>
__device__ __forceinline__ typename ElementWord<T, E>::Raw load_elements(const T *row, const ShiftedBlock<E> &b, int L) {
    uint32_t w[E * sizeof(T) / 4];
#pragma unroll
    for (int k = 0; k < E * int(sizeof(T)) / 4; ++k) {
        if constexpr (sizeof(T) == 4) {
            load_if(b.pos(k) < L, row + b.pos(k), w[k]);
        } else {
            unsigned short lo, hi;
            load_if(b.pos(2 * k) < L, row + b.pos(2 * k), lo);
            load_if(b.pos(2 * k + 1) < L, row + b.pos(2 * k + 1), hi);
            w[k] = uint32_t(lo) | uint32_t(hi) << 16;
        }
    }
    return from_words<typename ElementWord<T, E>::Raw>(w);
}

// True when the shifted passes serve every row of tensors whose addresses OR
// to bits (see above) and beat the narrower accesses: at odd L. Rows aligned to
// two elements keep their 4- or 8-byte accesses, faster up to 2K (H100, fp16
// forward, ms, L = N − 2: 256 0.084 against 0.098 shifted, 2K 0.556 against
// 0.589, 4K equal); at odd L the shifted blocks won at every fused size
// (N − 7: 256 0.096 → 0.083, 4K 1.37 → 1.07, 64K 42.4 → 38.7).
template <typename T>
__device__ __forceinline__ bool rows_shiftable(uintptr_t bits, const FusedParams &p) {
    return (bits & 15) == 0 && (p.channels * p.seq_len) % Vec16<T>::V == 0 && p.seq_len % 2 != 0;
}

// load_rows with shifted blocks; the same loop over (slot, access) pairs.
template <typename T, class G, bool PAIRED>
__device__ __forceinline__ void load_rows_shifted(float2 *sdata, const FusedParams &p, const FusedParams &p_odd,
                                                  const SlotDesc *slots) {
    constexpr int E = Vec16<T>::V;
    using W = ElementWord<T, E>;
    const T *const u_even = static_cast<const T *>(p.u), *const u_odd = static_cast<const T *>(p_odd.u);
    const T *const ig_even = static_cast<const T *>(p.in_gate), *const ig_odd = static_cast<const T *>(p_odd.in_gate);
    const int L = int(p.seq_len);
    constexpr int total = G::PAIRS * (G::N_LOCAL / E);
    // Two accesses per tensor and row in flight (32 bytes): four took the
    // backward kernels to 128 registers and spills.
    constexpr int iters = (total + G::THREADS - 1) / G::THREADS, chunk = iters < 2 ? iters : 2;
    constexpr bool exact = total % (chunk * G::THREADS) == 0;
    const int n_begin = cta_rank<G>() * G::N_LOCAL;
#pragma unroll 1
    for (int it = 0; it < iters; it += chunk) {
        typename W::Raw ua[chunk], ga[chunk], ub[chunk], gb[chunk];
        int slot[chunk], n0[chunk], m[chunk];
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            const unsigned idx = (it + c) * G::THREADS + threadIdx.x;
            unsigned at, n;
            io_position<G, E>(idx, n_begin, at, n);
            n0[c] = int(n);
            const bool live = exact || idx < total;
            slot[c] = live ? int(at) : -1;
            const SlotDesc d = slots[live ? at : 0];
            m[c] = int(d.row_a & (E - 1));
            const int start = n0[c] - m[c];
            const bool in = live && start < L;
            const bool in_a = in && d.row_a >= 0, in_b = in && d.row_b >= 0;
            const bool odd = PAIRED && at % 2 != 0;
            const T *const u = odd ? u_odd : u_even, *const ig = odd ? ig_odd : ig_even;
            // Element loads where wrapped positions hold data (rare: a branch, not
            // predicated accesses).
            if ((in_a || in_b) && ShiftedBlock<E>::wraps_onto_data(n0[c], m[c], n_begin, G::N_LOCAL, L)) {
                const ShiftedBlock<E> b(n0[c], m[c], n_begin, G::N_LOCAL);
                ua[c] = load_elements<T, E>(u + d.row_a, b, in_a ? L : 0);
                ga[c] = load_elements<T, E>(ig + d.row_a, b, in_a && ig ? L : 0);
                ub[c] = load_elements<T, E>(u + d.row_b, b, in_b ? L : 0);
                gb[c] = load_elements<T, E>(ig + d.row_b, b, in_b && ig ? L : 0);
            } else {
                // A skipped access's address is never dereferenced.
                load_if(in_a, u + d.row_a + start, ua[c]);
                load_if(in_a && ig, ig + d.row_a + start, ga[c]);
                load_if(in_b, u + d.row_b + start, ub[c]);
                load_if(in_b && ig, ig + d.row_b + start, gb[c]);
            }
        }
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            if (slot[c] < 0) continue;
            const bool odd = PAIRED && slot[c] % 2 != 0;
            const T *const ig = odd ? ig_odd : ig_even;
            const ShiftedBlock<E> b(n0[c], m[c], n_begin, G::N_LOCAL);
            float a[E], v[E];
            W::unpack(ua[c], a);
            W::unpack(ub[c], v);
            if (ig) {
                W::gate(ga[c], a);
                W::gate(gb[c], v);
            }
            float2 *const s = sdata + slot[c] * G::N_LOCAL;
#pragma unroll
            for (int i = 0; i < E; ++i) {
                // A wide access also reads the neighbouring rows' elements: zero past L
                // (a select, which also drops a NaN there).
                const bool valid = b.pos(i) < L;
                s[b.index(i)] = make_float2(valid ? a[i] : 0.f, valid ? v[i] : 0.f);
            }
        }
    }
}

// Rows off the 16-byte grid, out of line: inlined, the narrower accesses (three
// widths) sat in the kernel's pass loop beside the 16-byte path, and the fused
// backward at 256 took 7 % longer although its loops were leaner (instruction
// fetch, we think); a second call site cost the 4K kernels registers.
template <typename T, class G, bool PAIRED>
__device__ __noinline__ void load_rows_unaligned(float2 *sdata, const FusedParams &p, const FusedParams &p_odd,
                                                 const SlotDesc *slots) {
    if (rows_shiftable<T>(input_bits<PAIRED>(p, p_odd), p)) load_rows_shifted<T, G, PAIRED>(sdata, p, p_odd, slots);
    else load_rows_widest<T, G, PAIRED, Vec16<T>::V / 2>(sdata, p, p_odd, slots);
}
// The overlap-save windows' load pass (FusedParams::window_step): 16-byte
// accesses where L and the tensors allow them (a window starts a multiple of 8
// positions after its sequence: step and reach are), else one element at a
// time. Not inlined, so that the kernels' own load pass stays as it was
// (inlined as well, it grew the 256 forward kernel by half and cost it 2 %),
// and the two widths apart (together, fp16 spilled 12 bytes).
template <typename T, class G, int E>
__device__ __noinline__ void load_windows_of(float2 *sdata, const FusedParams &p, const SlotDesc *slots) {
    load_rows<T, E, G, false, true>(sdata, p, p, slots);
}
template <typename T, class G>
__device__ __forceinline__ void load_windows(float2 *sdata, const FusedParams &p, const SlotDesc *slots) {
    constexpr int V = Vec16<T>::V;
    if (rows_aligned<T, V>(input_bits<false>(p, p), p.seq_len)) load_windows_of<T, G, V>(sdata, p, slots);
    else load_windows_of<T, G, 1>(sdata, p, slots);
}
// FULL_PASSES: the element passes may take their common case (ElementPass):
// the single-pass modes. (The backward's pass loops keep the general passes:
// inlined there, the common case's registers made its kernels spill.)
template <typename T, class G, bool PAIRED, bool FULL_PASSES>
__device__ __forceinline__ void load_inputs(float2 *sdata, const FusedParams &p, const FusedParams &p_odd,
                                            const SlotDesc *slots, bool slots_full) {
    constexpr int V = Vec16<T>::V;
    if constexpr (!PAIRED && G::CLUSTER == 1) {
        if (p.window_step) return load_windows<T, G>(sdata, p, slots);
    }
    if (rows_aligned<T, V>(input_bits<PAIRED>(p, p_odd), p.seq_len)) {
        if constexpr (FULL_PASSES && !PAIRED && ElementPass<G, V>::usable) {
            if (slots_full) {
                if (ElementPass<G, V>::below_length(p))
                    return load_rows_full<T, G, PAIRED, false>(sdata, p, p_odd, slots);
                return load_rows_full<T, G, PAIRED, true>(sdata, p, p_odd, slots);
            }
        }
        load_rows<T, V, G, PAIRED>(sdata, p, p_odd, slots);
    } else {
        load_rows_unaligned<T, G, PAIRED>(sdata, p, p_odd, slots);
    }
}

// Loads the filters of mode_spectrum (fp32, one channel per slot, zero from K
// on) as complex values with a zero imaginary part. Each thread issues its
// loads before it stores any: a loop of single loads, as before, waited on one
// DRAM latency per element (32 per thread), and every forward without a
// precomputed spectrum waits for this kernel before its middle stage.
template <class G>
__device__ __forceinline__ void load_filters(float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                             unsigned n_begin) {
    constexpr int per_cta = G::PAIRS * G::N_LOCAL;
    static_assert(per_cta % (4 * G::THREADS) == 0, "a variant whose filter loads do not divide evenly");
    const unsigned K = unsigned(p.kernel_len);
    if ((reinterpret_cast<uintptr_t>(p.k) & 15) == 0 && K % 4 == 0) {
        // Four consecutive positions per float4 (rows start at multiples of K).
        constexpr int iters = per_cta / (4 * G::THREADS);
        float4 v[iters];
        unsigned slot[iters], n[iters];
#pragma unroll
        for (int c = 0; c < iters; ++c) {
            const unsigned idx = c * G::THREADS + threadIdx.x;
            io_position<G, 4>(idx, n_begin, slot[c], n[c]);
            const int64_t row = slots[slot[c]].row_a;
            v[c] = row >= 0 && n[c] < K ? __ldg(reinterpret_cast<const float4 *>(p.k + row + n[c]))
                                        : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int c = 0; c < iters; ++c) {
            float2 *const s = sdata + slot[c] * G::N_LOCAL;
            const int swz = swizzle(int(n[c]));  // n is a multiple of 4: n + i == n ^ i
            s[swz] = make_float2(v[c].x, 0.f);
            s[swz ^ swizzle(1)] = make_float2(v[c].y, 0.f);
            s[swz ^ swizzle(2)] = make_float2(v[c].z, 0.f);
            s[swz ^ swizzle(3)] = make_float2(v[c].w, 0.f);
        }
        return;
    }
    constexpr int iters = per_cta / G::THREADS, chunk = iters % 8 == 0 ? 8 : 4;
#pragma unroll 1
    for (int it = 0; it < iters; it += chunk) {
        float v[chunk];
        unsigned slot[chunk], n[chunk];
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            const unsigned idx = (it + c) * G::THREADS + threadIdx.x;
            io_position<G, 1>(idx, n_begin, slot[c], n[c]);
            const int64_t row = slots[slot[c]].row_a;
            v[c] = row >= 0 && n[c] < K ? __ldg(p.k + row + n[c]) : 0.f;
        }
#pragma unroll
        for (int c = 0; c < chunk; ++c) sdata[slot[c] * G::N_LOCAL + swizzle(int(n[c]))] = make_float2(v[c], 0.f);
    }
}

// Writes y = out_gate ⊙ conj(D')/N for n < L, E elements per access: the real
// part is sequence a, the imaginary part sequence b. Same loop structure as
// load_rows. PAIRED: the odd slots write y_odd with gate_odd; a null y skips
// its slots. WINDOWS: each window's kept positions (FusedParams::window_keep)
// before its end (load_rows).
template <typename T, int E, class G, bool PAIRED, bool WINDOWS = false>
__device__ __forceinline__ void store_rows(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                           void *y_even, const void *gate_even, void *y_odd, const void *gate_odd) {
    using W = ElementWord<T, E>;
    const unsigned L = unsigned(p.seq_len);
    const int64_t shift = WINDOWS ? p.window_lead : 0;  // a window's row offset is that of its position lead
    const unsigned keep = unsigned(p.window_keep), keep_end = unsigned(p.window_keep + p.window_step);
    constexpr float scale = 1.0f / float(G::N);
    constexpr int total = G::PAIRS * (G::N_LOCAL / E);
    constexpr int want = 4;  // (eight 2-byte accesses made the 256 variants' store function spill)
    constexpr int iters = (total + G::THREADS - 1) / G::THREADS, chunk = iters < want ? iters : want;
    constexpr bool exact = total % (chunk * G::THREADS) == 0;  // every index of every chunk in range
    const unsigned n_begin = cta_rank<G>() * G::N_LOCAL;
#pragma unroll 1
    for (int it = 0; it < iters; it += chunk) {
        typename W::Raw ga[chunk], gb[chunk];
        int slot[chunk];
        unsigned n0[chunk];
        int64_t ra[chunk], rb[chunk];
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            const unsigned idx = (it + c) * G::THREADS + threadIdx.x;
            unsigned at;
            io_position<G, E>(idx, n_begin, at, n0[c]);
            const bool odd = PAIRED && at % 2 != 0;
            const bool live = (exact || idx < total) && (!PAIRED || (odd ? y_odd : y_even));
            const bool out = live && (WINDOWS ? n0[c] >= keep && n0[c] < keep_end : n0[c] < L);
            slot[c] = out ? int(at) : -1;
            const T *const og = static_cast<const T *>(odd ? gate_odd : gate_even);
            const SlotDesc d = slots[out ? at : 0];
            ra[c] = d.row_a;
            rb[c] = d.row_b;
            if constexpr (WINDOWS) {  // a position past the sequence's end counts as an absent row
                if (n0[c] >= d.window.end[0]) ra[c] = -1;
                if (n0[c] >= d.window.end[1]) rb[c] = -1;
            }
            // A skipped access's address (an absent row is −1) is never dereferenced.
            load_if(out && og && ra[c] >= 0, og + ra[c] - shift + n0[c], ga[c]);
            load_if(out && og && rb[c] >= 0, og + rb[c] - shift + n0[c], gb[c]);
        }
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            if (slot[c] < 0) continue;
            const bool odd = PAIRED && slot[c] % 2 != 0;
            const T *const og = static_cast<const T *>(odd ? gate_odd : gate_even);
            T *const y = static_cast<T *>(odd ? y_odd : y_even);
            const float2 *s = sdata + slot[c] * G::N_LOCAL;
            const int base_swz = swizzle(int(n0[c]));
            float oa[E], ob[E];
#pragma unroll
            for (int i = 0; i < E; ++i) {
                const float2 v = s[base_swz ^ swizzle(i)];
                oa[i] = v.x * scale;
                ob[i] = -v.y * scale;
            }
            if (og) {
                W::gate(ga[c], oa);
                W::gate(gb[c], ob);
            }
            store_if(ra[c] >= 0, y + ra[c] - shift + n0[c], W::pack(oa));
            store_if(rb[c] >= 0, y + rb[c] - shift + n0[c], W::pack(ob));
        }
    }
}

// store_rows with shifted blocks (see load_rows_shifted). A block wholly inside
// [0, L) is one 16-byte store; the first and last of each row are stored an
// element at a time, the bytes beyond them belonging to the neighbouring rows.
template <typename T, class G, bool PAIRED>
__device__ __forceinline__ void store_rows_shifted(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                                   void *y_even, const void *gate_even, void *y_odd,
                                                   const void *gate_odd) {
    constexpr int E = Vec16<T>::V;
    using W = ElementWord<T, E>;
    const int L = int(p.seq_len);
    constexpr float scale = 1.0f / float(G::N);
    constexpr int total = G::PAIRS * (G::N_LOCAL / E);
    // One access per tensor and row in flight: two made ptxas spill in the 256
    // variants' forward kernel (96 registers).
    constexpr int iters = (total + G::THREADS - 1) / G::THREADS, chunk = 1;
    constexpr bool exact = total % (chunk * G::THREADS) == 0;
    const int n_begin = cta_rank<G>() * G::N_LOCAL;
#pragma unroll 1
    for (int it = 0; it < iters; it += chunk) {
        typename W::Raw ga[chunk], gb[chunk];
        int slot[chunk], n0[chunk], m[chunk];
        int64_t ra[chunk], rb[chunk];
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            const unsigned idx = (it + c) * G::THREADS + threadIdx.x;
            unsigned at, n;
            io_position<G, E>(idx, n_begin, at, n);
            n0[c] = int(n);
            const bool odd = PAIRED && at % 2 != 0;
            const SlotDesc d = slots[(exact || idx < total) ? at : 0];
            m[c] = int(d.row_a & (E - 1));
            const int start = n0[c] - m[c];
            const bool out = (exact || idx < total) && start < L && (!PAIRED || (odd ? y_odd : y_even));
            slot[c] = out ? int(at) : -1;
            ra[c] = d.row_a;
            rb[c] = d.row_b;
            const T *const og = static_cast<const T *>(odd ? gate_odd : gate_even);
            const bool in_a = out && og && d.row_a >= 0, in_b = out && og && d.row_b >= 0;
            // The gates as in load_rows_shifted.
            if ((in_a || in_b) && ShiftedBlock<E>::wraps_onto_data(n0[c], m[c], n_begin, G::N_LOCAL, L)) {
                const ShiftedBlock<E> b(n0[c], m[c], n_begin, G::N_LOCAL);
                ga[c] = load_elements<T, E>(og + d.row_a, b, in_a ? L : 0);
                gb[c] = load_elements<T, E>(og + d.row_b, b, in_b ? L : 0);
            } else {
                load_if(in_a, og + d.row_a + start, ga[c]);
                load_if(in_b, og + d.row_b + start, gb[c]);
            }
        }
#pragma unroll
        for (int c = 0; c < chunk; ++c) {
            if (slot[c] < 0) continue;
            const bool odd = PAIRED && slot[c] % 2 != 0;
            const T *const og = static_cast<const T *>(odd ? gate_odd : gate_even);
            T *const y = static_cast<T *>(odd ? y_odd : y_even);
            const ShiftedBlock<E> b(n0[c], m[c], n_begin, G::N_LOCAL);
            const float2 *const s = sdata + slot[c] * G::N_LOCAL;
            float oa[E], ob[E];
#pragma unroll
            for (int i = 0; i < E; ++i) {
                const float2 v = s[b.index(i)];
                oa[i] = v.x * scale;
                ob[i] = -v.y * scale;
            }
            if (og) {
                W::gate(ga[c], oa);
                W::gate(gb[c], ob);
            }
            const typename W::Raw wa = W::pack(oa), wb = W::pack(ob);
            const int start = b.start();
            if (!b.wraps() && start >= 0 && start + E <= L) {  // wholly inside the row
                store_if(ra[c] >= 0, y + ra[c] + start, wa);
                store_if(rb[c] >= 0, y + rb[c] + start, wb);
            } else {
                // A row's first or last block, an element at a time (aligned pieces
                // of 2, 4 and 8 bytes, each picked by a select chain, were slower:
                // 4K forward at L = N − 7 1.073 → 1.096 ms).
#pragma unroll
                for (int i = 0; i < E; ++i) {
                    const int n = b.pos(i);
                    store_if(ra[c] >= 0 && n < L, y + ra[c] + n, element<T>(wa, i));
                    store_if(rb[c] >= 0 && n < L, y + rb[c] + n, element<T>(wb, i));
                }
            }
        }
    }
}

// The overlap-save windows' store pass (see load_windows).
template <typename T, class G>
__device__ __noinline__ void store_windows(const float2 *sdata, const FusedParams &p, const SlotDesc *slots, void *y,
                                           const void *gate) {
    constexpr int V = Vec16<T>::V;
    const uintptr_t bits = reinterpret_cast<uintptr_t>(y) | reinterpret_cast<uintptr_t>(gate);
    if (rows_aligned<T, V>(bits, p.seq_len)) store_rows<T, V, G, false, true>(sdata, p, slots, y, gate, y, gate);
    else store_rows<T, 1, G, false, true>(sdata, p, slots, y, gate, y, gate);
}
// store_rows on the common case (ElementPass): the stores of every slot's
// rows, positions below L, y and its gate addressed from one row address per slot.
__device__ __forceinline__ void store_once(void *p, const uint4 &w) {
    asm volatile("st.global.cs.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(w.x), "r"(w.y), "r"(w.z), "r"(w.w)
                 : "memory");
}
template <typename T, class G, bool PAIRED, bool BOUNDED>
__device__ __forceinline__ void store_rows_full(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                                void *y_even, const void *gate_even, void *y_odd,
                                                const void *gate_odd) {
    constexpr int E = Vec16<T>::V;
    using W = ElementWord<T, E>;
    using X = ElementPass<G, E>;
    constexpr int chunk = X::chunk;
    constexpr float scale = 1.0f / float(G::N);
    const unsigned t_slot = X::thread_slot(), n_t = X::thread_position();
    const unsigned L = unsigned(p.seq_len);
    const ElementSlots<G, E> at(sdata, t_slot, n_t);
#pragma unroll
    for (int c0 = 0; c0 < X::iters; c0 += chunk) {
        uint4 ga[chunk], gb[chunk];
        bool out[chunk];
#pragma unroll
        for (int k = 0; k < chunk; ++k) {
            const int c = c0 + k;
            const unsigned slot = X::slot(c) + t_slot;
            const bool odd = PAIRED && slot % 2 != 0;
            const T *const og = static_cast<const T *>(odd ? gate_odd : gate_even);
            out[k] = (!BOUNDED || n_t + X::off(c) < L) && (!PAIRED || (odd ? y_odd : y_even));
            const SlotDesc &d = slots[slot];
            const T *const ga_row = og + (d.row_a + n_t), *const gb_row = og + (d.row_b + n_t);
            load_once_if(out[k] && og, ga_row + X::off(c), ga[k]);
            load_once_if(out[k] && og, gb_row + X::off(c), gb[k]);
        }
#pragma unroll
        for (int k = 0; k < chunk; ++k) {
            if (!out[k]) continue;
            const int c = c0 + k;
            const unsigned slot = X::slot(c) + t_slot;
            const bool odd = PAIRED && slot % 2 != 0;
            const void *const og = odd ? gate_odd : gate_even;
            T *const y = static_cast<T *>(odd ? y_odd : y_even);
            const SlotDesc &d = slots[slot];
            float oa[E], ob[E];
#pragma unroll
            for (int i = 0; i < E; ++i) {
                const float2 v = *at.at(c, i);
                oa[i] = v.x * scale;
                ob[i] = -v.y * scale;
            }
            if (og) {
                W::gate(ga[k], oa);
                W::gate(gb[k], ob);
            }
            T *const ya = y + (d.row_a + n_t), *const yb = y + (d.row_b + n_t);
            store_once(ya + X::off(c), W::pack(oa));
            store_once(yb + X::off(c), W::pack(ob));
        }
    }
}

// store_rows with the widest access that every row of this call's outputs and
// gates allows.
template <typename T, class G, bool PAIRED, int E = Vec16<T>::V>
__device__ __forceinline__ void store_outputs(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                              void *y_even, const void *gate_even, void *y_odd, const void *gate_odd) {
    if constexpr (!PAIRED && G::CLUSTER == 1 && E == Vec16<T>::V) {
        if (p.window_step) return store_windows<T, G>(sdata, p, slots, y_even, gate_even);
    }
    if constexpr (E > 1) {
        const uintptr_t bits = reinterpret_cast<uintptr_t>(y_even) | reinterpret_cast<uintptr_t>(gate_even) |
                               reinterpret_cast<uintptr_t>(y_odd) | reinterpret_cast<uintptr_t>(gate_odd);
        if (!rows_aligned<T, E>(bits, p.seq_len)) {
            if constexpr (E == Vec16<T>::V) {
                if (rows_shiftable<T>(bits, p))
                    return store_rows_shifted<T, G, PAIRED>(sdata, p, slots, y_even, gate_even, y_odd, gate_odd);
            }
            return store_outputs<T, G, PAIRED, E / 2>(sdata, p, slots, y_even, gate_even, y_odd, gate_odd);
        }
    }
    store_rows<T, E, G, PAIRED>(sdata, p, slots, y_even, gate_even, y_odd, gate_odd);
}

template <class G, bool PAIRED>
__device__ __noinline__ void store_all_outputs(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                               void *y, const void *og, void *y_odd, const void *og_odd) {
    if (p.io == io_f16) store_outputs<__half, G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd);
    else if (p.io == io_bf16) store_outputs<__nv_bfloat16, G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd);
    else store_outputs<float, G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd);
}

// The store pass: store_rows_full where it applies (inlined: as part of the
// noinline function above, its registers cost spills there), else the above.
template <typename T, class G, bool PAIRED>
__device__ __forceinline__ bool store_outputs_full(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                                   void *y, const void *og, void *y_odd, const void *og_odd) {
    constexpr int V = Vec16<T>::V;
    if constexpr (!ElementPass<G, V>::usable) {
        return false;
    } else {
        const uintptr_t bits = reinterpret_cast<uintptr_t>(y) | reinterpret_cast<uintptr_t>(og) |
                               reinterpret_cast<uintptr_t>(y_odd) | reinterpret_cast<uintptr_t>(og_odd);
        if (p.window_step || !rows_aligned<T, V>(bits, p.seq_len)) return false;
        if (ElementPass<G, V>::below_length(p)) store_rows_full<T, G, PAIRED, false>(sdata, p, slots, y, og, y_odd, og_odd);
        else store_rows_full<T, G, PAIRED, true>(sdata, p, slots, y, og, y_odd, og_odd);
        return true;
    }
}
template <class G, bool PAIRED, bool FULL_PASSES>
__device__ __forceinline__ void store_all(const float2 *sdata, const FusedParams &p, const SlotDesc *slots,
                                          bool slots_full, void *y, const void *og, void *y_odd, const void *og_odd) {
    if (FULL_PASSES && !PAIRED && slots_full) {  // (FULL_PASSES as in load_inputs)
        if (p.io == io_f16 ? store_outputs_full<__half, G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd)
            : p.io == io_bf16 ? store_outputs_full<__nv_bfloat16, G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd)
                              : store_outputs_full<float, G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd))
            return;
    }
    store_all_outputs<G, PAIRED>(sdata, p, slots, y, og, y_odd, og_odd);
}

// ---------------------------------------------------------------------------
// Direct I/O at the outermost stage
//
// When stage 0 is a CUDA-core stage, its columns (stride N/r) can be read
// straight from global memory and the inverse stage 0's outputs written straight
// to it: the load and store passes through shared memory, and the barriers
// between them and stage 0, disappear. In a cluster that halves the distributed
// shared-memory traffic too (stage 0 only writes to the partners, its inverse
// only reads from them) and leaves one full cluster barrier of four.
// Up to radix 8 a thread takes two adjacent columns, so every global access is
// two adjacent elements (32 contiguous threads: 128 contiguous bytes of fp16)
// and every shared-memory access the 16 bytes of two swizzle-adjacent slots; at
// radix 16 one column (64 contiguous bytes per warp access).
// The partners' memory is addressed with 32-bit shared::cluster addresses
// (mapa): with 64-bit generic pointers the radix-16 stage spilled (124-176
// bytes, sm_90).
// ---------------------------------------------------------------------------
template <class G>
struct DirectIo {
    static constexpr int r = G::radix(0), cols = G::N / r;  // a column's stride is cols (= inner(0))
    static constexpr int local_cols = cols * G::PAIRS / G::CLUSTER;
    // Columns per thread: two adjacent ones up to radix 8 (every access moves two
    // elements), one at radix 16, whose 16 elements per column already fill the
    // register budget (there adjacent lanes share two-element loads through a
    // shuffle: load_stage0). Either way every global load moves two elements,
    // so direct I/O needs 2-element aligned rows.
    static constexpr int E = r <= 8 ? 2 : 1;
    // Cluster variants only: in the one-CTA variants (two or more CTAs per SM,
    // whose load and store passes overlap the other CTAs' stages) it was slower
    // on the H100 (forward fp16, ms: 512 0.157 → 0.188, 1K 0.284 → 0.313, 8K
    // 2.53 → 2.87, 16K 5.83 → 6.20). Every thread runs the same number of
    // iterations (the cluster wait in load_stage0 is reached by all of them).
    // The registry's direct_io column (generate_kernels.py) repeats this rule
    // for the planner; each generated .cu checks that the two agree.
    static constexpr bool usable = G::CLUSTER > 1 && G::num_small >= 1 && local_cols % (E * G::THREADS) == 0;
    // Both rows of the CTA's pair there (its columns are one slot's) and L = N:
    // no access needs a predicate but the gates' (with every access predicated
    // on its own, ptxas kept the 32 predicates of a column in a register's bits
    // and spent as many instructions on them as on the loads).
    __device__ static bool unpredicated(const SlotDesc &d, unsigned L) {
        return d.row_a >= 0 && d.row_b >= 0 && L >= unsigned(G::N);
    }
    // Whether position n of the row at `row` is read or written; PREDICATED
    // false where unpredicated() holds.
    template <bool PREDICATED>
    __device__ static bool live(unsigned n, int64_t row, unsigned L) {
        return !PREDICATED || (n < L && row >= 0);
    }
};

// Distributed shared memory through 32-bit shared::cluster addresses: one
// register per partner instead of a 64-bit generic pointer (the radix-16 stage 0
// needs the registers), and no generic-to-shared conversion per access.
__device__ __forceinline__ uint32_t cluster_address(const void *local, int rank) {
    uint32_t a = uint32_t(__cvta_generic_to_shared(local));
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(a) : "r"(a), "r"(rank));
#endif
    return a;
}
// Accesses of E consecutive slots starting at an address aligned to E·8 bytes.
// volatile with a memory clobber: ordered with the cluster barriers around them.
template <int E>
__device__ __forceinline__ void cluster_store(uint32_t a, const float2 (&v)[E]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if constexpr (E == 2)
        asm volatile("st.shared::cluster.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(a), "f"(v[0].x), "f"(v[0].y), "f"(v[1].x),
                     "f"(v[1].y)
                     : "memory");
    else
        asm volatile("st.shared::cluster.v2.f32 [%0], {%1, %2};" ::"r"(a), "f"(v[0].x), "f"(v[0].y) : "memory");
#endif
}
template <int E>
__device__ __forceinline__ void cluster_load(uint32_t a, float2 (&v)[E]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if constexpr (E == 2)
        asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];"
                     : "=f"(v[0].x), "=f"(v[0].y), "=f"(v[1].x), "=f"(v[1].y)
                     : "r"(a)
                     : "memory");
    else
        asm volatile("ld.shared::cluster.v2.f32 {%0, %1}, [%2];" : "=f"(v[0].x), "=f"(v[0].y) : "r"(a) : "memory");
#endif
}

// Where element j of the thread's columns (starting at n0, swizzled base_swz)
// lives: the owning CTA's buffer and, in it, the E consecutive slots {i, i ^ 1}
// (i ^ 1 = swizzle(n + 1) for an even n) as a byte address, plus whether they
// are swapped (element n in the second slot). Cross-CTA: n0 < cols ≤ N_LOCAL,
// so the owner is (j·cols) / N_LOCAL, a constant once j is unrolled.
template <class G>
__device__ __forceinline__ uint32_t direct_slot_address(const uint32_t (&part)[G::CLUSTER], unsigned base_swz, int j,
                                                        bool &swapped) {
    using D = DirectIo<G>;
    const unsigned i = (base_swz ^ unsigned(swizzle(j * D::cols))) % G::N_LOCAL;
    swapped = D::E == 2 && (i & 1);
    return part[(j * D::cols) / G::N_LOCAL] + 8 * (D::E == 2 ? i & ~1u : i);
}
template <class G>
__device__ __forceinline__ void cluster_parts(float2 *local_data, uint32_t (&part)[G::CLUSTER]) {
#pragma unroll
    for (int i = 0; i < G::CLUSTER; ++i) part[i] = cluster_address(local_data, i);
}

// Forward stage 0 fed straight from global memory: x = in_gate ⊙ u of both
// sequences of the pair (zero beyond L), DFT, twiddle T_0, written to the
// owning CTAs' shared memory. The partners' memory may be written only once
// they run: every thread arrives on the cluster barrier at kernel entry
// (run_pass) and waits here, after its first loads are in flight.
template <typename T, class G>
__device__ __forceinline__ void load_stage0(float2 *local_data, const Twiddles &tw, const FusedParams &p,
                                            const SlotDesc *slots) {
    using D = DirectIo<G>;
    constexpr int r = D::r, cols = D::cols, E = D::E;
    static_assert(G::PAIRS == 1, "one slot per cluster");
    uint32_t part[G::CLUSTER];
    cluster_parts<G>(local_data, part);
    const T *u = static_cast<const T *>(p.u);
    const T *ig = static_cast<const T *>(p.in_gate);
    const unsigned L = unsigned(p.seq_len);
    const unsigned first = cta_rank<G>() * D::local_cols;
    const SlotDesc d = slots[0];  // (the CTAs' columns are one slot's)
    // Rows of absent sequences read as row 0 with every access skipped.
    const int64_t row_a = d.row_a >= 0 ? d.row_a : 0, row_b = d.row_b >= 0 ? d.row_b : 0;
#pragma unroll 1
    for (unsigned c = E * threadIdx.x; c < D::local_cols; c += E * G::THREADS) {
        const unsigned n0 = (first + c) % cols;
        // Every global load moves the two-element word of two adjacent columns.
        // Up to radix 8 the thread owns both columns and loads all r elements. At
        // radix 16 (one column per thread) lanes 2k and 2k + 1 hold adjacent
        // columns: each loads half of the elements (the even lane j < 8, the odd
        // one j ≥ 8) and hands its partner the other column's products, half the
        // loads of 16-bit accesses for a shuffle per value handed over.
        using W = ElementWord<T, 2>;
        constexpr int count = E == 2 ? r : r / 2;  // elements loaded
        const bool odd = E == 1 && (threadIdx.x & 1);
        const unsigned nw = n0 & ~1u, jb = odd ? count : 0;  // the words' first column and element
        // Element k's words lie k·cols after the first one's: the rows are
        // addressed once and every access adds an immediate (formed per access,
        // the 64-bit address took 8 instructions).
        const unsigned nb = nw + jb * cols;
        const T *const ua_row = u + (row_a + nb), *const ub_row = u + (row_b + nb);
        const T *const ga_row = ig + (row_a + nb), *const gb_row = ig + (row_b + nb);
        typename W::Raw ua[count], ga[count], ub[count], gb[count];
        auto load_words = [&](auto predicated) {
            constexpr bool P = decltype(predicated)::value;
#pragma unroll
            for (int k = 0; k < count; ++k) {
                // (the word's second element is below L too: L is even)
                const bool in_a = D::template live<P>(nb + k * cols, d.row_a, L);
                const bool in_b = D::template live<P>(nb + k * cols, d.row_b, L);
                load_if(in_a, ua_row + k * cols, ua[k]);
                load_if(in_a && ig, ga_row + k * cols, ga[k]);
                load_if(in_b, ub_row + k * cols, ub[k]);
                load_if(in_b && ig, gb_row + k * cols, gb[k]);
            }
        };
        if (D::unpredicated(d, L)) load_words(std::false_type{});
        else load_words(std::true_type{});
        if (c == E * threadIdx.x) cluster_wait();  // (every thread, in its first iteration)
        float2 x[E][r];  // [column n0 + e][j]
#pragma unroll
        for (int k = 0; k < count; ++k) {
            float a[2], b[2];  // columns nw and nw + 1
            W::unpack(ua[k], a);
            W::unpack(ub[k], b);
            if (ig) {
                float wa[2], wb[2];
                W::unpack(ga[k], wa);
                W::unpack(gb[k], wb);
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    a[e] *= wa[e];
                    b[e] *= wb[e];
                }
            }
            if constexpr (E == 2) {
#pragma unroll
                for (int e = 0; e < 2; ++e) x[e][k] = make_float2(a[e], b[e]);
            } else {
                // Own column: element jb + k; the partner's: handed over.
                const float2 mine = odd ? make_float2(a[1], b[1]) : make_float2(a[0], b[0]);
                const float2 theirs = odd ? make_float2(a[0], b[0]) : make_float2(a[1], b[1]);
                const float2 got = make_float2(__shfl_xor_sync(0xffffffffu, theirs.x, 1),
                                               __shfl_xor_sync(0xffffffffu, theirs.y, 1));
                x[0][k] = odd ? got : mine;  // constant indices: selects, no local array
                x[0][count + k] = odd ? mine : got;
            }
        }
#pragma unroll
        for (int e = 0; e < E; ++e) small_dft<r>(x[e]);
        const unsigned base_swz = swizzle(int(n0));
        // T_0 of element j of column n is W_N^(j·n) (twiddle_exponent<G, 0>: k1 = j,
        // n2 = n, stride 1; 1 at j = 0).
        float2 w[E][r];
#pragma unroll
        for (int e = 0; e < E; ++e) twiddle_powers<r>(tw, int(n0 + e), w[e]);
#pragma unroll
        for (int j = 0; j < r; ++j) {
            float2 v[E];
#pragma unroll
            for (int e = 0; e < E; ++e) v[e] = j ? cmul(x[e][j], w[e][j]) : x[e][j];
            bool swapped;
            const uint32_t a = direct_slot_address<G>(part, base_swz, j, swapped);
            if constexpr (E == 2) {
                if (swapped) {
                    const float2 t = v[0];
                    v[0] = v[1];
                    v[1] = t;
                }
            }
            cluster_store<E>(a, v);
        }
    }
}

// Inverse stage 0 written straight to global memory: y = out_gate ⊙ conj(D')/N
// (and y2 with out_gate2) for n < L. Reads the owning CTAs' shared memory; the
// caller keeps every CTA of the cluster alive until all are done reading.
template <typename T, class G>
__device__ __forceinline__ void store_stage0(float2 *local_data, const FusedParams &p, const SlotDesc *slots) {
    using D = DirectIo<G>;
    constexpr int r = D::r, cols = D::cols, E = D::E;
    using A = ElementWord<T, E>;
    constexpr float scale = 1.0f / float(G::N);
    uint32_t part[G::CLUSTER];
    cluster_parts<G>(local_data, part);
    const unsigned L = unsigned(p.seq_len);
    const unsigned first = cta_rank<G>() * D::local_cols;
    const SlotDesc d = slots[0];  // as in load_stage0
    const bool full = D::unpredicated(d, L);
#pragma unroll 1
    for (unsigned c = E * threadIdx.x; c < D::local_cols; c += E * G::THREADS) {
        const unsigned n0 = (first + c) % cols;
        const unsigned base_swz = swizzle(int(n0));
        // Both outputs of the convolution (y2: backward), each with its gate. The
        // first output's gates are requested before the partners' elements, so
        // that the two latencies overlap.
        // (as in load_stage0: rows addressed at n0, element j an immediate j·cols on)
        const int64_t row_a = (d.row_a >= 0 ? d.row_a : 0) + n0, row_b = (d.row_b >= 0 ? d.row_b : 0) + n0;
        // predicated: std::false_type when full (DirectIo::unpredicated), else std::true_type.
        auto in_row = [&](auto predicated, int j, int64_t row) {
            return D::template live<decltype(predicated)::value>(n0 + j * cols, row, L);
        };
        typename A::Raw wa[r], wb[r];
        auto load_gates = [&](auto predicated, const T *og) {
#pragma unroll
            for (int j = 0; j < r; ++j) {
                load_if(og && in_row(predicated, j, d.row_a), og + row_a + j * cols, wa[j]);
                load_if(og && in_row(predicated, j, d.row_b), og + row_b + j * cols, wb[j]);
            }
        };
        if (full) load_gates(std::false_type{}, static_cast<const T *>(p.out_gate));
        else load_gates(std::true_type{}, static_cast<const T *>(p.out_gate));
        float2 x[E][r];  // every input; only the outputs are cut at L
#pragma unroll
        for (int j = 0; j < r; ++j) {
            bool swapped;
            float2 v[E];
            cluster_load<E>(direct_slot_address<G>(part, base_swz, j, swapped), v);
#pragma unroll
            for (int e = 0; e < E; ++e) x[e][j] = swapped ? v[E - 1 - e] : v[e];  // (constant indices: no local array)
        }
#pragma unroll
        for (int e = 0; e < E; ++e) small_dft<r>(x[e]);
        auto store_outputs = [&](auto predicated) {
#pragma unroll
            for (int out = 0; out < 2; ++out) {
                T *y = static_cast<T *>(out == 0 ? p.y : p.y2);
                const T *og = static_cast<const T *>(out == 0 ? p.out_gate : p.out_gate2);
                if (!y) continue;
                if (out == 1) load_gates(predicated, og);
#pragma unroll
                for (int j = 0; j < r; ++j) {
                    // Re is sequence a, −Im sequence b (conj(D')/N).
                    float a[E], b[E];
#pragma unroll
                    for (int e = 0; e < E; ++e) {
                        a[e] = x[e][j].x * scale;
                        b[e] = -x[e][j].y * scale;
                    }
                    if (og) {
                        float ga[E], gb[E];
                        A::unpack(wa[j], ga);
                        A::unpack(wb[j], gb);
#pragma unroll
                        for (int e = 0; e < E; ++e) {
                            a[e] *= ga[e];
                            b[e] *= gb[e];
                        }
                    }
                    store_if(in_row(predicated, j, d.row_a), y + row_a + j * cols, A::pack(a));
                    store_if(in_row(predicated, j, d.row_b), y + row_b + j * cols, A::pack(b));
                }
            }
        };
        if (full) store_outputs(std::false_type{});
        else store_outputs(std::true_type{});
    }
}

// ---------------------------------------------------------------------------
// The kernel
// ---------------------------------------------------------------------------
// threadIdx.x, opaque to common-subexpression elimination (asm volatile), so
// that what is computed from it late in the kernel is not kept live from early on.
__device__ __forceinline__ unsigned fresh_thread_index() {
    unsigned t;
    asm volatile("mov.u32 %0, %%tid.x;" : "=r"(t));
    return t;
}

// The complex-row load and store passes (rows modes), with every position a
// thread touches known up to one term: float4 c of thread t (two consecutive
// elements) is float4 c·THREADS + t of the CTA, i.e. positions n_t + off(c) and
// n_t + off(c) + 1 of slot(c), n_t = n_begin + 2t. Each slot's positions are a
// whole number of rounds (per_slot a multiple of THREADS) and a thread has at
// most 16 float4 (all its loads in flight at once; every variant has 16), so
// the loops unroll fully, slot(c) and off(c) are constants, and n_begin, 2t
// and off(c) have disjoint bits: the swizzle of a position is the thread's
// part XOR a constant (one instruction), the global address the thread's plus
// an immediate. (With a loop over a computed index the store pass took about
// 50 instructions per 16 bytes; 1M forward 654 → 627 ms.)
template <class G>
struct RowsPass {
    static constexpr int per_slot = G::N_LOCAL / 2;  // float4 per slot
    static constexpr int iters = G::PAIRS * per_slot / G::THREADS;
    static_assert(per_slot % G::THREADS == 0 && iters <= 16, "a variant the rows passes do not cover");
    static constexpr int slot(int c) { return c * G::THREADS / per_slot; }
    static constexpr int off(int c) { return 2 * (c * G::THREADS % per_slot); }
};

// One pass of the kernel over the CTA's slots: load, forward stages, middle
// stage, inverse stages, store, as the mode (and the dk loops' pass) asks.
// LOOP = single: every mode but mode_rows_dk (kind = dk_none); rows_dk:
// mode_rows_dk, with `mode` the constant mode_rows_dk so that the other modes'
// paths fold away; backward: the fused backward's passes, `mode` the constant
// mode_conv; backward_paired: both at once, p's pass in the even slots and
// p_odd's in the odd ones (p_odd is p in every other loop). Separate
// instantiations keep the pass loops out of the other modes' code (a loop
// around a pass costs them registers).
template <class G, PassLoop LOOP>
__device__ __forceinline__ void run_pass(const FusedParams &p, const FusedParams &p_odd, FusedMode mode, DkPass kind,
                                         int iteration, bool load_twiddles) {
    constexpr bool DK = LOOP != PassLoop::single;
    constexpr bool PAIRED = LOOP == PassLoop::backward_paired || LOOP == PassLoop::rows_dk_paired;
    constexpr bool ROWS_DK = LOOP == PassLoop::rows_dk || LOOP == PassLoop::rows_dk_paired;
    // The frame, set up here rather than passed in: with the shared-memory
    // pointers handed over from the kernel, the compiler lost track of their
    // address space in the cluster variants (generic accesses, 2 % at 16K-32K).
    extern __shared__ float4 smem_raw[];
    float2 *const local_data = reinterpret_cast<float2 *>(smem_raw);
    float2 *const tw_table = local_data + size_t(G::PAIRS) * G::N_LOCAL;
    SlotDesc *const slots = reinterpret_cast<SlotDesc *>(tw_table + G::twiddle_count);
    // Every stage addresses elements by their position n in [0, N). In a cluster
    // this CTA holds positions [rank·N_LOCAL, (rank+1)·N_LOCAL), so the data view is
    // offset accordingly; `parts` are all CTAs' buffers for the cross-CTA stage 0.
    const int rank = cta_rank<G>();
    float2 *const sdata = local_data - rank * G::N_LOCAL;
    float2 *parts[G::CLUSTER];
#pragma unroll
    for (int i = 0; i < G::CLUSTER; ++i) parts[i] = G::CLUSTER > 1 ? cluster_map(local_data, i) : local_data;
    const int n_begin = rank * G::N_LOCAL;
    // (the multi-pass dk kernel's mode_rows_dk excepted: nothing after it is programmatic)
    if (mode == mode_spectrum || mode == mode_conv) allow_dependent_grid();

    if (load_twiddles) {
        const float2 *twg = static_cast<const float2 *>(p.twiddles);
        for (int i = threadIdx.x; i < G::twiddle_count; i += G::THREADS) tw_table[i] = __ldg(twg + i);
    }
    // slots_full: every slot holds both rows (the element passes' common case).
    bool slot_full = true;
    if (threadIdx.x < G::PAIRS) {
        const bool odd = PAIRED && threadIdx.x % 2 != 0;
        const SlotDesc d =
            make_slot_desc<G, PAIRED>(odd ? p_odd : p, mode, threadIdx.x, PAIRED ? (odd ? dk_dz : dk_v) : kind, iteration);
        slots[threadIdx.x] = d;
        slot_full = d.row_a >= 0 && d.row_b >= 0;
    }
    // Direct I/O at stage 0 (DirectIo) for the modes that read u and the gates,
    // the fused backward's passes included (each pass arrives here and waits in
    // load_stage0, so a CTA writes into a partner only once the partner has
    // finished its previous pass). The condition is the same in every CTA of a
    // cluster.
    constexpr bool DIRECT_IO = (!DK || LOOP == PassLoop::backward) && DirectIo<G>::usable;
    bool direct = false;
    if constexpr (DIRECT_IO) {
        constexpr int E = 2;  // elements per global access (two columns, or two lanes' columns at radix 16)
        direct = mode == mode_conv &&
                 (p.io == io_f16 ? rows_aligned<__half, E>(p) : p.io == io_bf16 ? rows_aligned<__nv_bfloat16, E>(p)
                                                                               : rows_aligned<float, E>(p));
        if constexpr (G::CLUSTER > 1) {
            if (direct) cluster_arrive_relaxed();  // load_stage0 waits
        }
    }
    const bool slots_full = __syncthreads_and(slot_full);
    const Twiddles tw{tw_table, tw_table + 64, static_cast<const float4 *>(p.twiddle_tables)};

    if (direct) {
        if constexpr (DIRECT_IO) {
            if (p.io == io_f16) load_stage0<__half, G>(local_data, tw, p, slots);
            else if (p.io == io_bf16) load_stage0<__nv_bfloat16, G>(local_data, tw, p, slots);
            else load_stage0<float, G>(local_data, tw, p, slots);
        }
    } else if (spectrum_input(mode)) {
        // Nothing to load: the middle stage reads the spectrum from global memory.
    } else if (rows_input(mode)) {
        // Two complex values per float4. PAIRED: the even slots' rows are Z_v, the odd ones' Z_dz.
        const float4 *const rows_even = static_cast<const float4 *>(rows_buffer(p, PAIRED ? dk_v : kind));
        const float4 *const rows_odd = static_cast<const float4 *>(rows_buffer(p, dk_dz));
        // Each element is read once, by the thread that later overwrites it (in
        // place). mode_rows_dk: streaming, coherent loads; the other modes keep
        // the read-only path (__ldcs there cost 2 % at 1M). A thread issues all
        // its loads (16) before it stores any: one at a time, the pass waited on
        // a DRAM latency per 16 bytes (8 at a time: 4M forward 3168 ms, 16 at a
        // time 3147; no spills). Float4 c of thread t is positions n_t + off(c)
        // of slot(c) (RowsPass).
        const unsigned n_t = n_begin + 2 * threadIdx.x;
        const int swz_t = swizzle(int(n_t));
        float4 v[RowsPass<G>::iters];
#pragma unroll
        for (int c = 0; c < RowsPass<G>::iters; ++c) {
            const int64_t row = slots[RowsPass<G>::slot(c)].row_a;
            const float4 *const rows = PAIRED && RowsPass<G>::slot(c) % 2 != 0 ? rows_odd : rows_even;
            v[c] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (row >= 0) {
                const float4 *src = rows + (row + n_t) / 2 + RowsPass<G>::off(c) / 2;  // row, n_t, off even
                v[c] = ROWS_DK ? __ldcs(src) : __ldg(src);
            }
        }
#pragma unroll
        for (int c = 0; c < RowsPass<G>::iters; ++c) {
            float2 *s = sdata + RowsPass<G>::slot(c) * G::N_LOCAL;
            const int swz = swz_t ^ swizzle(RowsPass<G>::off(c));
            s[swz] = make_float2(v[c].x, v[c].y);
            s[swz ^ swizzle(1)] = make_float2(v[c].z, v[c].w);
        }
    } else if (ROWS_DK) {
        // (every pass of mode_rows_dk is one of the above)
    } else if (mode == mode_spectrum) {
        load_filters<G>(sdata, p, slots, n_begin);
    } else if (p.io == io_f16) {
        load_inputs<__half, G, PAIRED, !DK>(sdata, p, p_odd, slots, slots_full);
    } else if (p.io == io_bf16) {
        load_inputs<__nv_bfloat16, G, PAIRED, !DK>(sdata, p, p_odd, slots, slots_full);
    } else {
        load_inputs<float, G, PAIRED, !DK>(sdata, p, p_odd, slots, slots_full);
    }
    // Built after the loads so the fragment registers are not live across them.
    DftFragments f;
    make_dft_fragments(f, threadIdx.x & 31);
    // Stage 0 reads the partners' parts in a cluster (with direct I/O it ran
    // already: forward_stages issues its barrier).
    if (!direct) stage_barrier<G>(Sync::cluster_after_local_writes);

    // (a window is N long: its sequence's length says nothing about its zeros)
    const int64_t valid_len = mode == mode_spectrum             ? p.kernel_len
                              : rows_input(mode) || p.window_step ? G::N
                                                                : p.seq_len;
    const bool rows_out = rows_output(mode);  // full complex rows
    const int64_t out_len = mode == mode_inverse ? p.kernel_len : rows_out || p.window_step ? G::N : p.seq_len;
    if (!spectrum_input(mode)) forward_stages<G, 0>(sdata, tw, f, 2 * valid_len <= G::N, parts, direct);
    // FusedParams::overlap_previous: the convolutions and the fused backward's
    // passes (after its first pass it returns at once) read the spectrum, dk's
    // inverse its accumulated spectrum, only from here on.
    if (mode == mode_conv || mode == mode_inverse) wait_for_previous_grid();
    middle_stage<G, PAIRED>(sdata, tw, f, p, mode, slots, kind, iteration > 0 || p.dk_accumulate,
                            DK && iteration + 1 == dk_iterations(p), 2 * valid_len <= G::N, 2 * out_len <= G::N,
                            reinterpret_cast<float4 *>(slots + G::PAIRS));  // the stash: after the descriptors
    // After the forward stages' last cluster barrier nothing touches the
    // partner's memory any more, so leaving here is safe in a cluster too.
    if (PAIRED ? transform_only(mode, p, dk_v) && transform_only(mode, p, dk_dz) : transform_only(mode, p, kind)) return;
    // Before the next stage, or (the middle stage ran stage 0) before the stores.
    stage_barrier<G>(G::middle_first <= 1 ? Sync::cluster_after_local_writes : Sync::cta);
    inverse_stages<G, G::middle_first - 1>(sdata, tw, f, 2 * out_len <= G::N, parts, direct);
    if (direct) {
        if constexpr (DIRECT_IO) {
            if (p.io == io_f16) store_stage0<__half, G>(local_data, p, slots);
            else if (p.io == io_bf16) store_stage0<__nv_bfloat16, G>(local_data, p, slots);
            else store_stage0<float, G>(local_data, p, slots);
            if constexpr (G::CLUSTER > 1) {  // no CTA leaves while a partner still reads its part
                cluster_arrive_relaxed();
                cluster_wait();
            }
        }
        return;
    }
    // inverse_stages ended with a cluster barrier after stage 0: from here on each
    // CTA reads only its own half.

    if (rows_out) {
        // In place: the middle stage, before the barriers above, read every
        // spectrum element this CTA overwrites here (mode_rows_inverse; in a
        // cluster a CTA's tiles are the same element range as its part of the
        // row), and no other CTA reads them.
        constexpr float scale = 1.0f / float(G::N);
        float4 *const rows_even = static_cast<float4 *>(rows_buffer(p, PAIRED ? dk_v : kind));
        float4 *const rows_odd = static_cast<float4 *>(rows_buffer(p, dk_dz));
        // The thread index read afresh: otherwise the compiler keeps the load
        // pass's shared-memory addresses live through every stage (spilled).
        const unsigned n_t = n_begin + 2 * fresh_thread_index();
        const int swz_t = swizzle(int(n_t));
#pragma unroll
        for (int c = 0; c < RowsPass<G>::iters; ++c) {
            const int64_t row = slots[RowsPass<G>::slot(c)].row_a;
            if (row < 0) continue;
            const float2 *s = sdata + RowsPass<G>::slot(c) * G::N_LOCAL;
            const int swz = swz_t ^ swizzle(RowsPass<G>::off(c));
            const float2 a = s[swz], b = s[swz ^ swizzle(1)];
            const float4 v = make_float4(a.x * scale, -a.y * scale, b.x * scale, -b.y * scale);  // conj(D')/N
            float4 *const rows = PAIRED && RowsPass<G>::slot(c) % 2 != 0 ? rows_odd : rows_even;
            float4 *dst = rows + (row + n_t) / 2 + RowsPass<G>::off(c) / 2;
            if constexpr (ROWS_DK) __stcs(dst, v);  // Z is read again only after the launch
            else *dst = v;
        }
        return;
    }
    if (!DK && mode == mode_inverse) {
        constexpr float scale = 1.0f / float(G::N);
        const int K = int(p.kernel_len);
#pragma unroll 1
        for (int idx = threadIdx.x; idx < G::PAIRS * G::N_LOCAL; idx += G::THREADS) {
            const int slot = idx / G::N_LOCAL, n = n_begin + idx % G::N_LOCAL;
            const int64_t row = slots[slot].row_a;
            if (row >= 0 && n < K) p.real_out[row + n] = sdata[slot * G::N_LOCAL + swizzle(n)].x * scale;  // Re conj(D')/N
        }
        return;
    }

    // Up to two gated outputs of the same convolution (the second for backward).
    // PAIRED: the V pass's one output (even slots) and the DZ pass's two (odd).
    if constexpr (ROWS_DK) return;
    if constexpr (PAIRED) {
        if (p.y || p_odd.y)
            store_all<G, true, !DK>(sdata, p, slots, slots_full, p.y, p.out_gate, p_odd.y, p_odd.out_gate);
        if (p_odd.y2) store_all<G, true, !DK>(sdata, p, slots, slots_full, nullptr, nullptr, p_odd.y2, p_odd.out_gate2);
    } else {
        if (p.y) store_all<G, false, !DK>(sdata, p, slots, slots_full, p.y, p.out_gate, p.y, p.out_gate);
        if (p.y2) store_all<G, false, !DK>(sdata, p, slots, slots_full, p.y2, p.out_gate2, p.y2, p.out_gate2);
    }
}

// Both kernels take their parameters as __grid_constant__: store_all_outputs
// (not inlined) takes them by reference, and without it every thread first
// copies the whole FusedParams to its stack (184 bytes a thread: 10 % of the
// forward at 256–4K and at 1M on the H100).

// Every mode but mode_rows_dk: one pass.
template <class G>
__global__ void __launch_bounds__(G::THREADS, G::min_blocks_conv)
    fused_conv_kernel(const __grid_constant__ FusedParams p) {
    run_pass<G, PassLoop::single>(p, p, p.mode, dk_none, 0, true);
}

// mode_spectrum or mode_inverse (MODE) in a geometry of their own
// (TransformGeometry), for the variants where that has fewer slots; the mode a
// constant, so that the other modes' paths fold away.
template <class G, FusedMode MODE>
__global__ void __launch_bounds__(G::THREADS, G::min_blocks_per_sm)
    fused_transform_kernel(const __grid_constant__ FusedParams p) {
    run_pass<G, PassLoop::single>(p, p, MODE, dk_none, 0, true);
}

// mode_rows, the multi-pass inner pass, of the variants with G::rows_kernel: the
// mode a constant (the other modes' paths fold away) and its own register
// budget (Geometry::min_blocks_rows).
template <class G>
__global__ void __launch_bounds__(G::THREADS, G::min_blocks_rows)
    fused_rows_kernel(const __grid_constant__ FusedParams p) {
    run_pass<G, PassLoop::single>(p, p, mode_rows, dk_none, 0, true);
}

// The dk kernels' pass loop: for each pair (row) of the slot's group, the V
// pass and the DZ pass, one after the other (ONE_BY_ONE, two passes of
// v_pass's and dz_pass's parameters) or side by side in one pass
// (SIDE_BY_SIDE, Geometry::backward_paired). Passes reuse shared memory: the
// barrier before each separates the previous pass's last reads from this
// pass's writes (in a cluster the last cross-CTA stage of a pass ends with a
// cluster barrier).
template <class G, PassLoop ONE_BY_ONE, PassLoop SIDE_BY_SIDE>
__device__ __forceinline__ void run_dk_passes(const FusedParams &v_pass, const FusedParams &dz_pass, FusedMode mode) {
    constexpr int passes_per_pair = G::backward_paired ? 1 : 2;
    const int passes = dk_iterations(v_pass) * passes_per_pair;
#pragma unroll 1
    for (int pass = 0; pass < passes; ++pass) {
        if (pass > 0) __syncthreads();
        if constexpr (G::backward_paired) {
            run_pass<G, SIDE_BY_SIDE>(v_pass, dz_pass, mode, dk_none, pass, pass == 0);
        } else {
            const bool dz = pass % 2 != 0;
            const FusedParams &p = dz ? dz_pass : v_pass;
            run_pass<G, ONE_BY_ONE>(p, p, mode, dz ? dk_dz : dk_v, pass / 2, pass == 0);
        }
    }
}

// mode_rows_dk: both passes of each row pair of the slot's group (launch.hpp;
// its V and DZ rows are rows and rows2 of the same parameters). A kernel of its
// own, so that its loop and its extra live values stay out of the other modes'
// register allocation.
template <class G>
__global__ void __launch_bounds__(G::THREADS, G::min_blocks_per_sm)
    fused_rows_dk_kernel(const __grid_constant__ FusedParams p) {
    run_dk_passes<G, PassLoop::rows_dk, PassLoop::rows_dk_paired>(p, p, mode_rows_dk);
}

// The fused backward (launch.hpp, FusedKernelEntry::launch_backward): both
// passes of every pair of the slot's group, each a mode_conv pass of its own
// parameter set (both are __grid_constant__, so neither is copied).
template <class G>
__global__ void __launch_bounds__(G::THREADS, G::min_blocks_per_sm)
    fused_backward_kernel(const __grid_constant__ FusedParams v_pass, const __grid_constant__ FusedParams dz_pass) {
    run_dk_passes<G, PassLoop::backward, PassLoop::backward_paired>(v_pass, dz_pass, mode_conv);
}

// Fills the twiddle tables (tc_twiddle_table's layout) from the Monarch
// definition, in double precision. One warp per (table, tile); run once per plan.
template <class G>
__global__ void build_twiddle_tables(float4 *tables) {
    const int table = blockIdx.y, mt = blockIdx.x, lane = threadIdx.x;
    if (mt >= G::table_period(table)) return;  // one period per table
    const bool inverse = table >= G::fwd_tables;
    const int s = inverse ? G::inv_first + (table - G::fwd_tables) : G::num_small + table;
    const int tw_stage = inverse ? s - 1 : s;
    const int m = G::inner(s);
    const int base = m >= 16 ? (mt / (m / 16)) * 16 * m + (mt % (m / 16)) * 16 : mt * 256;
    const int g = lane >> 2, q = lane & 3;
    const int r2 = G::radix(tw_stage), m2 = G::inner(tw_stage), stride = G::N / (r2 * m2);
    float v[8];
#pragma unroll 1
    for (int i = 0; i < 4; ++i) {
#pragma unroll 1
        for (int h = 0; h < 2; ++h) {
            const int r = i >> 1, jj = 2 * (i & 1) + h;
            const int j = tc_j(q, jj), row = g + 8 * r;
            const int n = m >= 16 ? base + row + j * m : base + row * 16 + j;
            const int e = ((n / m2) % r2) * (n % m2) * stride;  // twiddle_exponent of stage tw_stage
            double sn, cs;
            sincospi(2.0 * double(e) / double(G::N), &sn, &cs);
            v[2 * h] = float(cs);
            v[2 * h + 1] = float(-sn);
        }
        tables[G::table_offset(table) + size_t(mt) * 128 + 32 * i + lane] = make_float4(v[0], v[1], v[2], v[3]);
    }
}

// ---------------------------------------------------------------------------
// Host side of one instantiation
// ---------------------------------------------------------------------------
template <class G, class Kernel>
void prepare_kernel(Kernel kernel, int min_blocks, size_t smem_bytes = G::smem_bytes) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes));
    // Ask for no more shared memory than the CTAs that registers allow need, so
    // the rest of the unified L1 holds the twiddle tables (otherwise the driver
    // may pick a larger carveout and the tables spill to L2).
    int device = 0, smem_per_sm = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device);
    if (smem_per_sm > 0) {
        const size_t needed = size_t(min_blocks) * (smem_bytes + 1024);
        const int percent = int((needed * 100 + size_t(smem_per_sm) - 1) / size_t(smem_per_sm));
        cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, percent < 100 ? percent : 100);
    }
}

// The geometry the dk kernels (fused_backward_kernel, fused_rows_dk_kernel) of
// variant G run with: G's, or for a one-slot 128-thread variant (4K) two slots
// of 256 threads, so that they pair their passes (Geometry::backward_paired;
// the same twiddle tables). H100, backward fp16, two interleaved rounds: 4K
// 3.020–3.133 -> 2.987–3.026 ms, 1M 1507–1515 -> 1466–1470.
// The doubled kernels must fit every device the variant runs on: at most 99 KiB
// of shared memory (the least opt-in per block of sm_80 and newer, sm_86/sm_89),
// which leaves 8K (161 KiB doubled) out; a cluster splits one slot, so its
// variants keep theirs. (A specialisation, so that Geometry::Doubled is
// instantiated only where it is used.)
template <class G, bool DOUBLE = G::CLUSTER == 1 && G::PAIRS == 1 && G::doubled_dk_smem_bytes <= size_t(99) * 1024>
struct DkGeometryOf {
    using type = G;
};
template <class G>
struct DkGeometryOf<G, true> {
    using type = typename G::Doubled;
    static_assert(type::backward_smem_bytes == G::doubled_dk_smem_bytes, "Geometry::doubled_dk_smem_bytes");
};
template <class G>
using DkGeometry = typename DkGeometryOf<G>::type;

// The geometry of the filter transforms (mode_spectrum: k's spectrum;
// mode_inverse: dk from its summed spectrum) where the executor asks for it
// (FusedParams::narrow_transform). Their items are channels, a few hundred,
// not pairs, and at 256 and 512 the variants' 16 and 8 slots make too few CTAs
// for the GPU (at 256, 768 channels are 48 CTAs on 132 SMs, each warp
// transforming four filters one after the other). The transform kernel takes
// at most one slot per warp: the same tiles, layouts and tables, so the same
// bits. H100, H = 768, graph replay, µs: 256: the spectrum 5.5 -> 4.0, forward
// B = 64 61.0 -> 57.8, B = 8 15.3 -> 13.8, backward B = 64 154.4 -> 143.8,
// B = 8 34.0 -> 32.6; 512: the spectrum 6.4 -> 5.8, forward B = 64 125.6 ->
// 122.1, backward B = 8 72.3 -> 67.6 (docs/performance.md, twenty-seventh
// session). At 1K and 2K (one slot) the spectrum did not get shorter, and the
// convolution launched behind it started later (1K, B = 8: 41 -> 45), so those
// keep their slots.
template <class G>
constexpr int transform_pairs() {
    if (G::CLUSTER > 1 || G::N > 512) return G::PAIRS;
    return G::WARPS < G::PAIRS ? G::WARPS : G::PAIRS;
}
template <class G>
using TransformGeometry = typename G::template WithPairs<transform_pairs<G>()>;

// The launch attribute that groups a cluster variant's CTAs into clusters.
template <class G>
cudaLaunchAttribute cluster_dimension() {
    cudaLaunchAttribute a;
    a.id = cudaLaunchAttributeClusterDimension;
    a.val.clusterDim.x = G::CLUSTER;
    a.val.clusterDim.y = 1;
    a.val.clusterDim.z = 1;
    return a;
}

// A launch of `kernel` over `items` items, items_per_cta per CTA (per cluster
// of G::CLUSTER CTAs), optionally programmatic (FusedParams::overlap_previous).
template <class G, class... Params>
void launch_kernel(void (*kernel)(Params...), int64_t items, int items_per_cta, int threads, size_t smem,
                   bool overlap_previous, void *stream, const Params &...params) {
    const int64_t blocks = (items + items_per_cta - 1) / items_per_cta * G::CLUSTER;
    cudaLaunchAttribute attribute[2];
    unsigned attributes = 0;
    if constexpr (G::CLUSTER > 1) attribute[attributes++] = cluster_dimension<G>();
    if (overlap_previous) {
        attribute[attributes].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute[attributes].val.programmaticStreamSerializationAllowed = 1;
        ++attributes;
    }
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(unsigned(blocks));
    config.blockDim = dim3(unsigned(threads));
    config.dynamicSmemBytes = smem;
    config.stream = static_cast<cudaStream_t>(stream);
    config.attrs = attribute;
    config.numAttrs = attributes;
    cudaLaunchKernelEx(&config, kernel, params...);
}

// Resident slots of the fused backward kernel on the current device (0: none
// fits): CTAs per SM times SMs, or for a cluster variant the clusters that fit
// at once, times the kernel's items per CTA (per cluster).
template <class GB>
int64_t backward_slots() {
    int64_t units = 0;
    if constexpr (GB::CLUSTER == 1) {
        int device = 0, sms = 0, ctas = 0;
        if (cudaGetDevice(&device) != cudaSuccess ||
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&ctas, fused_backward_kernel<GB>, GB::THREADS,
                                                          GB::backward_smem_bytes) != cudaSuccess)
            return 0;
        units = int64_t(sms) * ctas;
    } else {
        cudaLaunchAttribute cluster = cluster_dimension<GB>();
        cudaLaunchConfig_t config = {};
        config.gridDim = dim3(GB::CLUSTER);
        config.blockDim = dim3(GB::THREADS);
        config.dynamicSmemBytes = GB::backward_smem_bytes;
        config.attrs = &cluster;
        config.numAttrs = 1;
        int clusters = 0;
        if (cudaOccupancyMaxActiveClusters(&clusters, fused_backward_kernel<GB>, &config) != cudaSuccess) return 0;
        units = clusters;
    }
    return units * GB::backward_items_per_cta;
}

// Sets the kernels' attributes on the current device. programmatic_launch:
// whether the convolution kernel that runs here has the programmatic-launch
// wait: only code compiled for sm_90 or newer does (PTX JIT-compiled from an
// older virtual architecture has none, and a programmatic launch would then
// race), and such code runs only on such devices.
template <class G>
FusedKernelInfo prepare() {
    using GB = DkGeometry<G>;
    static_assert(GB::table_bytes == G::table_bytes && GB::twiddle_count == G::twiddle_count, "shared tables");
    FusedKernelInfo info;
    prepare_kernel<G>(fused_conv_kernel<G>, G::min_blocks_conv);
    cudaFuncAttributes attributes = {};
    info.programmatic_launch =
        cudaFuncGetAttributes(&attributes, fused_conv_kernel<G>) == cudaSuccess && attributes.ptxVersion >= 90;
    if constexpr (G::rows_kernel) prepare_kernel<G>(fused_rows_kernel<G>, G::min_blocks_rows);
    if constexpr (G::rows_dk_kernel)
        prepare_kernel<GB>(fused_rows_dk_kernel<GB>, GB::min_blocks_per_sm, GB::backward_smem_bytes);
    prepare_kernel<GB>(fused_backward_kernel<GB>, GB::min_blocks_per_sm, GB::backward_smem_bytes);
    info.backward_slots = backward_slots<GB>();
    info.dk_items_per_cta = GB::backward_items_per_cta;
    using GT = TransformGeometry<G>;
    if constexpr (GT::PAIRS < G::PAIRS) {
        static_assert(GT::table_bytes == G::table_bytes && GT::twiddle_count == G::twiddle_count, "shared tables");
        // With the convolution kernel's shared-memory carveout: an SM runs CTAs
        // of two kernels side by side only under one carveout, and the
        // convolution launched programmatically behind the spectrum would
        // otherwise wait for each SM to drain and switch (H100, 256, B = 8, H =
        // 768, forward in graph replay: 16.0 µs with one kernel, 24.9 with a
        // carveout of the transform's own).
        prepare_kernel<G>(fused_transform_kernel<GT, mode_spectrum>, G::min_blocks_conv);
        prepare_kernel<G>(fused_transform_kernel<GT, mode_inverse>, G::min_blocks_conv);
    }
    info.transform_items_per_cta = GT::PAIRS;
    {
        int device = 0, sms = 0, ctas = 0;
        if (cudaGetDevice(&device) == cudaSuccess &&
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) == cudaSuccess &&
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&ctas, fused_conv_kernel<G>, G::THREADS, G::smem_bytes) ==
                cudaSuccess)
            info.conv_resident_ctas = int64_t(sms) * ctas / G::CLUSTER;
    }
    return info;
}

template <class G>
size_t table_bytes() {
    return G::table_bytes;
}

template <class G>
void build_tables(void *dst, void *stream) {
    if constexpr (G::twiddle_tables > 0)
        build_twiddle_tables<G><<<dim3(G::max_table_period(), G::twiddle_tables), dim3(32), 0,
                                  static_cast<cudaStream_t>(stream)>>>(
            static_cast<float4 *>(dst));
}

template <class G>
void launch(const FusedParams &p, void *stream) {
    if constexpr (G::rows_dk_kernel) {
        if (p.mode == mode_rows_dk) {
            using GB = DkGeometry<G>;
            launch_kernel<G>(fused_rows_dk_kernel<GB>, p.items, GB::backward_items_per_cta, GB::THREADS,
                             GB::backward_smem_bytes, p.overlap_previous != 0, stream, p);
            return;
        }
    }
    if constexpr (G::rows_kernel) {
        if (p.mode == mode_rows) {
            launch_kernel<G>(fused_rows_kernel<G>, p.items, G::PAIRS, G::THREADS, G::smem_bytes, p.overlap_previous != 0,
                             stream, p);
            return;
        }
    }
    using GT = TransformGeometry<G>;
    if constexpr (GT::PAIRS < G::PAIRS) {
        if (p.narrow_transform && (p.mode == mode_spectrum || p.mode == mode_inverse)) {
            launch_kernel<GT>(p.mode == mode_spectrum ? fused_transform_kernel<GT, mode_spectrum>
                                                      : fused_transform_kernel<GT, mode_inverse>,
                              p.items, GT::PAIRS, GT::THREADS, GT::smem_bytes, p.overlap_previous != 0, stream, p);
            return;
        }
    }
    launch_kernel<G>(fused_conv_kernel<G>, p.items, G::PAIRS, G::THREADS, G::smem_bytes, p.overlap_previous != 0,
                     stream, p);
}

// The fused backward: one launch over the launch's items (pair groups).
// Ordinary stream order: the kernel spectrum is read in every pass's middle
// stage, and nothing is gained by overlapping the launch before it.
template <class G>
void launch_backward(const FusedParams &v_pass, const FusedParams &dz_pass, void *stream) {
    using GB = DkGeometry<G>;
    launch_kernel<GB>(fused_backward_kernel<GB>, v_pass.items, GB::backward_items_per_cta, GB::THREADS,
                      GB::backward_smem_bytes, v_pass.overlap_previous != 0, stream, v_pass, dz_pass);
}

}  // namespace ffc::cuda::fused

// One instantiation per generated .cu file.
#define FFC_DEFINE_FUSED_KERNEL(NAME, N, SMALL0, SMALL1, NUM_TC, PAIRS, THREADS, CLUSTER)        \
    namespace ffc::cuda::generated {                                                            \
    using NAME##_geometry =                                                                     \
        ::ffc::cuda::fused::Geometry<N, SMALL0, SMALL1, NUM_TC, PAIRS, THREADS, CLUSTER>;         \
    ::ffc::cuda::FusedKernelInfo prepare_##NAME() {                                               \
        return ::ffc::cuda::fused::prepare<NAME##_geometry>();                                  \
    }                                                                                           \
    size_t table_bytes_##NAME() { return ::ffc::cuda::fused::table_bytes<NAME##_geometry>(); }   \
    void build_tables_##NAME(void *dst, void *stream) {                                          \
        ::ffc::cuda::fused::build_tables<NAME##_geometry>(dst, stream);                          \
    }                                                                                           \
    void launch_##NAME(const ::ffc::cuda::FusedParams &p, void *stream) {                       \
        ::ffc::cuda::fused::launch<NAME##_geometry>(p, stream);                                 \
    }                                                                                           \
    void launch_backward_##NAME(const ::ffc::cuda::FusedParams &v_pass,                         \
                                const ::ffc::cuda::FusedParams &dz_pass, void *stream) {        \
        ::ffc::cuda::fused::launch_backward<NAME##_geometry>(v_pass, dz_pass, stream);          \
    }                                                                                           \
    }
