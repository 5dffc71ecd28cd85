// The multi-pass CUDA path: the outer passes (M-point column DFTs with the
// four-step twiddle, fp32 on CUDA cores) and the host-side orchestration that
// runs pass 1 → the inner fused kernel in mode_rows → pass 3, chunk by chunk,
// for forward and for both convolutions of backward (plus dk's reduction and
// inverse).
// See multipass.hpp for the mathematics and tests/tools/emulate_multipass.py for
// a NumPy model of exactly these index, twiddle and scale conventions.
//
// Outer kernels. A CTA (256 threads) takes one sequence pair and a tile of TN
// consecutive columns n2 for all M rows n1: a [M][TN] complex fp32 tile of
// kTile = 4096 elements (32 KiB of static shared memory), TN = 4096 / M. Loads
// and stores run along n2, so a warp touches consecutive addresses of one row
// (u, gates, y in the I/O dtype, two elements per thread when aligned; Z as
// float4 = two complex values). The column DFT is a Stockham autosort FFT along
// n1 in shared memory with radix-16 stages (then one of 2, 4 or 8), each thread
// holding 16 complex values in registers per stage; every twiddle is computed
// with sincospif from an exactly representable argument (powers of two), so all
// twiddles are correctly rounded fp32 values.
//
// Zero padding: rows n1 ≥ ceil(L / N_in) of A are zero and are not loaded (with
// L ≤ N/2 that is at least the upper half); pass 3 stores only t < L.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda/cuda_util.hpp"
#include "cuda/launch.hpp"
#include "cuda/multipass.hpp"
#include "cuda/spectral_reduce.hpp"

#include "cuda/fused_tables.hpp"
#include "plan/planner.hpp"

namespace ffc::cuda {
namespace mp {

constexpr int kThreads = 256;
constexpr int kTile = 4096;                     // complex elements per CTA tile
constexpr int kPerThread = kTile / kThreads;    // 16 complex values per thread per stage
constexpr int kMaxOuter = 256;                  // largest M (TN = 16)

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
};

__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
    return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 cadd(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 csub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }

// exp(∓2πi·num/den) for integers with 2·num < 2^24 and den a power of two: the
// argument 2·num/den is exact in fp32, sincospif is faithfully rounded.
template <bool INV>
__device__ __forceinline__ float2 root(int num, float den) {
    float s, c;
    sincospif(float(2 * num) / den, &s, &c);
    return make_float2(c, INV ? s : -s);
}

// cos(2πj/16), j in 0..15, as constants after unrolling.
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

constexpr int ilog2(int r) { return r <= 1 ? 0 : 1 + ilog2(r / 2); }
constexpr int bitrev(int i, int bits) {
    int r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    return r;
}

// In-register R-point DFT (R ≤ 16), natural order in and out: radix-2 DIT.
template <int R, bool INV>
__device__ __forceinline__ void dft(float2 (&v)[R]) {
    constexpr int bits = ilog2(R);
#pragma unroll
    for (int i = 0; i < R; ++i) {
        const int j = bitrev(i, bits);
        if (i < j) {
            const float2 t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
    }
#pragma unroll
    for (int len = 2; len <= R; len <<= 1) {
#pragma unroll
        for (int i = 0; i < R; i += len) {
#pragma unroll
            for (int q = 0; q < len / 2; ++q) {
                const int e = q * (16 / len);  // W_len^q = W_16^e
                const float2 w = make_float2(cos16(e), INV ? cos16(e - 4) : -cos16(e - 4));
                const float2 a = v[i + q];
                const float2 b = q == 0 ? v[i + q + len / 2] : cmul(v[i + q + len / 2], w);
                v[i + q] = cadd(a, b);
                v[i + q + len / 2] = csub(a, b);
            }
        }
    }
}

// One Stockham stage of radix R on the [M][TN] tile (column DFT along rows):
// butterfly j reads rows j + r·M/R, applies W_{NS·R}^(r·(j mod NS)), does the
// R-point DFT and writes rows (j / NS)·NS·R + j mod NS + r·NS.
template <int M, int R, int NS, bool INV>
__device__ __forceinline__ void stage(float2 *s) {
    constexpr int TN = kTile / M;
    constexpr int ITER = kPerThread / R;
    float2 v[ITER][R];
#pragma unroll
    for (int it = 0; it < ITER; ++it) {
        const int b = threadIdx.x + it * kThreads, c = b % TN, j = b / TN;
#pragma unroll
        for (int r = 0; r < R; ++r) v[it][r] = s[(j + r * (M / R)) * TN + c];
    }
    __syncthreads();
#pragma unroll
    for (int it = 0; it < ITER; ++it) {
        const int b = threadIdx.x + it * kThreads, c = b % TN, j = b / TN;
        const int k = j % NS;
        if constexpr (NS > 1) {
#pragma unroll
            for (int r = 1; r < R; ++r) v[it][r] = cmul(v[it][r], root<INV>(r * k, float(NS * R)));
        }
        dft<R, INV>(v[it]);
        const int dst = (j / NS) * NS * R + k;
#pragma unroll
        for (int r = 0; r < R; ++r) s[(dst + r * NS) * TN + c] = v[it][r];
    }
    __syncthreads();
}

template <int M, int NS, bool INV>
__device__ __forceinline__ void column_dft(float2 *s) {
    if constexpr (NS < M) {
        constexpr int R = M / NS >= 16 ? 16 : M / NS;
        stage<M, R, NS, INV>(s);
        column_dft<M, NS * R, INV>(s);
    }
}

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Two consecutive elements x[t], x[t+1] (t even); zero beyond L.
template <typename T>
__device__ __forceinline__ float2 load2(const T *x, int64_t t, int64_t L, bool vec) {
    if (vec) {  // L even and x 2-element aligned: t < L implies t + 1 < L
        if (t >= L) return make_float2(0.f, 0.f);
        if constexpr (sizeof(T) == 4) {
            return __ldg(reinterpret_cast<const float2 *>(x + t));
        } else {
            const unsigned bits = __ldg(reinterpret_cast<const unsigned *>(x + t));
            T lo, hi;
            const unsigned short l = bits & 0xffffu, h = bits >> 16;
            memcpy(&lo, &l, 2);
            memcpy(&hi, &h, 2);
            return make_float2(to_f(lo), to_f(hi));
        }
    }
    return make_float2(t < L ? to_f(x[t]) : 0.f, t + 1 < L ? to_f(x[t + 1]) : 0.f);
}

template <typename T>
__device__ __forceinline__ void store2(T *y, int64_t t, int64_t L, bool vec, float a, float b) {
    if (t >= L) return;
    if (vec) {
        if constexpr (sizeof(T) == 4) {
            *reinterpret_cast<float2 *>(y + t) = make_float2(a, b);
        } else {
            const T lo = from_f<T>(a), hi = from_f<T>(b);
            unsigned short l, h;
            memcpy(&l, &lo, 2);
            memcpy(&h, &hi, 2);
            *reinterpret_cast<unsigned *>(y + t) = unsigned(l) | (unsigned(h) << 16);
        }
        return;
    }
    y[t] = from_f<T>(a);
    if (t + 1 < L) y[t + 1] = from_f<T>(b);
}

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

// Pass 1: Z[k1][n2] = W_N^(n2·k1) · Σ_n1 (v_a + i·v_b)[N_in·n1 + n2] · W_M^(n1·k1).
template <int M, typename T>
__global__ void __launch_bounds__(kThreads) outer_forward(const OuterParams p) {
    constexpr int TN = kTile / M;
    __shared__ float4 smem[kTile / 2];
    float2 *s = reinterpret_cast<float2 *>(smem);
    const int64_t tiles = p.n_in / TN;
    const int64_t local = blockIdx.x / tiles;
    const int64_t c0 = (blockIdx.x % tiles) * TN;
    const Rows rows = pair_rows(p, p.item_offset + local);
    const T *x = static_cast<const T *>(p.x);
    const T *g = static_cast<const T *>(p.gate);
    const int64_t L = p.seq_len;
    const bool vec = p.vec != 0;

#pragma unroll 4
    for (int idx = threadIdx.x; idx < kTile / 2; idx += kThreads) {
        const int n1 = idx / (TN / 2), c = 2 * (idx % (TN / 2));
        float4 e = make_float4(0.f, 0.f, 0.f, 0.f);
        if (n1 < p.rows) {
            const int64_t t = p.n_in * n1 + c0 + c;
            float2 a = load2(x + rows.a, t, L, vec);
            if (g) {
                const float2 ga = load2(g + rows.a, t, L, vec);
                a.x *= ga.x;
                a.y *= ga.y;
            }
            float2 b = make_float2(0.f, 0.f);
            if (rows.b >= 0) {
                b = load2(x + rows.b, t, L, vec);
                if (g) {
                    const float2 gb = load2(g + rows.b, t, L, vec);
                    b.x *= gb.x;
                    b.y *= gb.y;
                }
            }
            e = make_float4(a.x, b.x, a.y, b.y);  // (v_a + i v_b)[t], [t + 1]
        }
        smem[(n1 * TN + c) / 2] = e;
    }
    __syncthreads();
    column_dft<M, 1, false>(s);

    float4 *z = reinterpret_cast<float4 *>(p.z + local * M * p.n_in);
#pragma unroll 4
    for (int idx = threadIdx.x; idx < kTile / 2; idx += kThreads) {
        const int k1 = idx / (TN / 2), c = 2 * (idx % (TN / 2));
        const int n2 = int(c0) + c;
        const float4 v = smem[(k1 * TN + c) / 2];
        const float2 w0 = root<false>(n2 * k1, p.n), w1 = root<false>((n2 + 1) * k1, p.n);
        const float2 a = cmul(make_float2(v.x, v.y), w0), b = cmul(make_float2(v.z, v.w), w1);
        z[(int64_t(k1) * p.n_in + n2) / 2] = make_float4(a.x, a.y, b.x, b.y);
    }
}

// Pass 3: w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) · conj(W_N^(n2·k1)) · Z[k1][n2];
// y_a = Re w' ⊙ out_gate_a, y_b = Im w' ⊙ out_gate_b, for t < L.
template <int M, typename T>
__global__ void __launch_bounds__(kThreads) outer_inverse(const OuterParams p) {
    constexpr int TN = kTile / M;
    __shared__ float4 smem[kTile / 2];
    float2 *s = reinterpret_cast<float2 *>(smem);
    const int64_t tiles = p.n_in / TN;
    const int64_t local = blockIdx.x / tiles;
    const int64_t c0 = (blockIdx.x % tiles) * TN;

    const float4 *z = reinterpret_cast<const float4 *>(p.z + local * M * p.n_in);
#pragma unroll 4
    for (int idx = threadIdx.x; idx < kTile / 2; idx += kThreads) {
        const int k1 = idx / (TN / 2), c = 2 * (idx % (TN / 2));
        const int n2 = int(c0) + c;
        const float4 v = __ldg(z + (int64_t(k1) * p.n_in + n2) / 2);
        const float2 w0 = root<true>(n2 * k1, p.n), w1 = root<true>((n2 + 1) * k1, p.n);
        const float2 a = cmul(make_float2(v.x, v.y), w0), b = cmul(make_float2(v.z, v.w), w1);
        smem[(k1 * TN + c) / 2] = make_float4(a.x, a.y, b.x, b.y);
    }
    __syncthreads();
    column_dft<M, 1, true>(s);

    const Rows rows = pair_rows(p, p.item_offset + local);
    const int64_t L = p.seq_len;
    const bool vec = p.vec != 0;
    constexpr float scale = 1.0f / float(M);
    // Up to two gated outputs of the same w' (the second for backward).
#pragma unroll 1
    for (int out = 0; out < 2; ++out) {
        T *y = static_cast<T *>(out == 0 ? p.y : p.y2);
        const T *g = static_cast<const T *>(out == 0 ? p.gate : p.gate2);
        if (!y) continue;
        for (int idx = threadIdx.x; idx < p.rows * (TN / 2); idx += kThreads) {
            const int n1 = idx / (TN / 2), c = 2 * (idx % (TN / 2));
            const int64_t t = p.n_in * n1 + c0 + c;
            if (t >= L) continue;
            const float4 v = smem[(n1 * TN + c) / 2];  // (w'[t], w'[t + 1])
            float2 ya = make_float2(v.x * scale, v.z * scale), yb = make_float2(v.y * scale, v.w * scale);
            if (g) {
                const float2 ga = load2(g + rows.a, t, L, vec);
                ya.x *= ga.x;
                ya.y *= ga.y;
            }
            store2(y + rows.a, t, L, vec, ya.x, ya.y);
            if (rows.b >= 0) {
                if (g) {
                    const float2 gb = load2(g + rows.b, t, L, vec);
                    yb.x *= gb.x;
                    yb.y *= gb.y;
                }
                store2(y + rows.b, t, L, vec, yb.x, yb.y);
            }
        }
    }
}

// Host-side dispatch over M and the element type.
template <int M, typename T>
void launch_pass(bool inverse, const OuterParams &p, int64_t items, cudaStream_t stream) {
    constexpr int TN = kTile / M;
    const int64_t blocks = items * (p.n_in / TN);
    if (blocks > int64_t(0x7fffffff)) fail(FFC_ERROR_NOT_SUPPORTED, "multi-pass chunk too large for one launch");
    if (inverse) outer_inverse<M, T><<<unsigned(blocks), kThreads, 0, stream>>>(p);
    else outer_forward<M, T><<<unsigned(blocks), kThreads, 0, stream>>>(p);
}

template <typename T>
void launch_pass_m(int m, bool inverse, const OuterParams &p, int64_t items, cudaStream_t stream) {
    switch (m) {
    case 2: return launch_pass<2, T>(inverse, p, items, stream);
    case 4: return launch_pass<4, T>(inverse, p, items, stream);
    case 8: return launch_pass<8, T>(inverse, p, items, stream);
    case 16: return launch_pass<16, T>(inverse, p, items, stream);
    case 32: return launch_pass<32, T>(inverse, p, items, stream);
    case 64: return launch_pass<64, T>(inverse, p, items, stream);
    case 128: return launch_pass<128, T>(inverse, p, items, stream);
    case 256: return launch_pass<256, T>(inverse, p, items, stream);
    default: fail(FFC_ERROR_INTERNAL, "multi-pass: unsupported outer size " + std::to_string(m));
    }
}

void launch_outer(IoType io, int m, bool inverse, const OuterParams &p, int64_t items, void *stream) {
    if (items <= 0) return;
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
    if (m_ < 2 || m_ > mp::kMaxOuter || (m_ & (m_ - 1)) != 0 || n_in_ < uint64_t(mp::kTile / m_))
        fail(FFC_ERROR_INTERNAL, "multi-pass: unsupported split " + std::to_string(m_) + " x " + std::to_string(n_in_));
    inner_ = find_fused_kernel(v->name);
    if (!inner_) fail(FFC_ERROR_NO_KERNEL, std::string("kernel ") + v->name + " is not compiled into this build");
    inner_pairs_per_cta_ = std::max(1, v->pairs_per_cta);
    // Z of one chunk is aimed at the L2 (passes 2 and 3 then re-read what the
    // previous pass wrote from it); at least one pair's Z whatever its size.
    const size_t l2 = decision.caps.l2_bytes ? decision.caps.l2_bytes : (size_t(32) << 20);
    chunk_budget_ = std::max(l2 / 8 * 5, size_t(n_) * 8);

    DeviceGuard guard(device_);
    inner_->prepare();
    check(cudaGetLastError(), "cudaFuncSetAttribute");
    tables_ = std::make_unique<FusedTables>(*inner_, n_in_, device_);  // the inner kernel's, for N_in
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
    w.w_v = w.z + chunk_bytes;
    w.w_dz = w.w_v + chunk_bytes;
    w.acc = w.w_dz + chunk_bytes;
    w.total = w.acc + mp::round_up(size_t(w.chunk.channels) * seq, 256);
    return w;
}

size_t MultipassExecutor::workspace_size(const Shape &s) const { return layout(s).total; }

void MultipassExecutor::launch_inner(const FusedParams &p, void *stream, const char *what) const {
    const int64_t blocks = mp::ceil_div(p.items, inner_pairs_per_cta_);
    if (blocks > int64_t(0x7fffffff)) fail(FFC_ERROR_NOT_SUPPORTED, "multi-pass chunk too large for one launch");
    inner_->launch(p, stream);
    check(cudaGetLastError(), what);
}

void MultipassExecutor::compute_spectrum(const SpectrumArgs &a) const {
    DeviceGuard guard(device_);
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
    mp::launch_outer(io_f32, m_, false, o, s.channels, a.stream);

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
}

void MultipassExecutor::convolve(const Conv &c, const Shape &s, int64_t h0, int64_t C, int64_t p0, int64_t P, void *z,
                                 void *w_out, void *stream) const {
    const bool outputs = c.any_output();
    if (!outputs && !w_out) return;
    const int64_t pairs = s.pairs();
    const int64_t items = C * P;  // contiguous: whole channels (P = pairs), or pairs of one channel (C = 1)
    const IoType io = IoType(int(dtype_));
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
    o.pairs_per_channel = pairs;
    o.item_offset = h0 * pairs + p0;
    o.n_in = int64_t(n_in_);
    o.n = float(n_);
    o.rows = int(std::min<int64_t>(m_, mp::ceil_div(s.seq_len, int64_t(n_in_))));
    o.vec = vec ? 1 : 0;

    // Pass 1: Z of the chunk's pairs, gated on input.
    o.x = c.x;
    o.gate = c.gate_in;
    mp::launch_outer(io, m_, false, o, items, stream);

    // Pass 2: the rows. Local row i of the chunk is row i % M of item i / M; the
    // spectrum rows of the chunk's channels start at channel h0.
    FusedParams p;
    p.io = io_f32;
    p.rows = z;
    p.spectrum_out = w_out;  // by local row: the chunk's spectra, item-major
    p.twiddles = tables_->twiddles();
    p.twiddle_tables = tables_->pass_tables();
    p.batch = 1;
    p.seq_len = int64_t(n_in_);
    p.kernel_len = int64_t(n_in_);
    p.rows_per_seq = m_;
    p.channels = C;
    p.pairs_per_channel = P;  // = pairs when C > 1
    p.items = items * m_;
    if (!outputs) {  // only the spectrum (dk's W_v or W_dz)
        p.mode = mode_rows_transform;
        launch_inner(p, stream, "multi-pass: inner rows transform");
        return;
    }
    p.mode = mode_rows;
    p.spectrum = static_cast<const float2 *>(c.spectrum) + h0 * int64_t(n_);
    p.conj_spectrum = c.conj ? 1 : 0;
    launch_inner(p, stream, "multi-pass: inner rows pass");

    // Pass 3: up to two gated outputs of w'.
    o.x = nullptr;
    o.gate = c.gate_out;
    o.y = c.y;
    o.gate2 = c.gate_out2;
    o.y2 = c.y2;
    mp::launch_outer(io, m_, true, o, items, stream);
}

void MultipassExecutor::forward(const ForwardArgs &a) const {
    DeviceGuard guard(device_);
    const Shape &s = a.shape;
    const Layout w = layout(s);
    char *const base = static_cast<char *>(a.workspace);
    const void *spectrum = a.spectrum;
    if (!spectrum) {
        SpectrumArgs sa;
        sa.shape = s;
        sa.k = a.k;
        sa.spectrum = base + w.kspec;
        sa.stream = a.stream;
        compute_spectrum(sa);
        spectrum = base + w.kspec;
    }
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
            convolve(c, s, h0, C, p0, std::min(w.chunk.pairs, pairs - p0), base + w.z, nullptr, a.stream);
    }
}

void MultipassExecutor::dk_inverse(const Shape &s, int64_t h0, int64_t C, void *acc, float *dk, void *stream) const {
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
    mp::launch_outer(io_f32, m_, true, o, C, stream);
}

void MultipassExecutor::backward(const BackwardArgs &a) const {
    DeviceGuard guard(device_);
    const Shape &s = a.shape;
    const Layout w = layout(s);
    char *const base = static_cast<char *>(a.workspace);
    // Outputs may not overlap inputs (header), so the order of the launches is free.
    const bool want_dv = a.du || a.d_in_gate;
    if (a.d_out_gate || want_dv) {  // K is multiplied only by a convolution with outputs
        SpectrumArgs sa;
        sa.shape = s;
        sa.k = a.k;
        sa.spectrum = base + w.kspec;
        sa.stream = a.stream;
        compute_spectrum(sa);
    }
    const void *kspec = base + w.kspec;

    // A: the z-convolution, d_out_gate = dy ⊙ z; emits W_v.
    Conv conv_z;
    conv_z.x = a.u;
    conv_z.gate_in = a.in_gate;
    conv_z.spectrum = kspec;
    conv_z.y = a.d_out_gate;
    conv_z.gate_out = a.dy;
    // B: the correlation, du = in_gate ⊙ dv and d_in_gate = u ⊙ dv; emits W_dz.
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
    void *const w_v = a.dk ? base + w.w_v : nullptr;
    void *const w_dz = a.dk ? base + w.w_dz : nullptr;
    void *const acc = base + w.acc;
    const int64_t H = s.channels, pairs = s.pairs();
    for (int64_t h0 = 0; h0 < H; h0 += w.chunk.channels) {
        const int64_t C = std::min(w.chunk.channels, H - h0);
        for (int64_t p0 = 0; p0 < pairs; p0 += w.chunk.pairs) {
            const int64_t P = std::min(w.chunk.pairs, pairs - p0);
            convolve(conv_z, s, h0, C, p0, P, z, w_v, a.stream);
            convolve(conv_dv, s, h0, C, p0, P, z, w_dz, a.stream);
            if (a.dk) {
                // Pair chunks of a channel are added in increasing p0, each in
                // increasing pair order: the sum's order (and bits) are fixed.
                launch_spectral_reduce(w_v, w_dz, acc, C, P, int64_t(n_), p0 > 0 ? 1 : 0, a.stream);
                check(cudaGetLastError(), "backward: dk reduction");
            }
        }
        if (a.dk) dk_inverse(s, h0, C, acc, a.dk, a.stream);
    }
}

}  // namespace ffc::cuda
