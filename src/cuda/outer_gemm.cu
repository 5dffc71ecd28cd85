// The multi-pass outer passes as cuBLASLt batched complex GEMMs plus three
// elementwise kernels (gate + pair, four-step twiddle, gated output). See
// outer_gemm.hpp for the shapes and the contract; multipass.cu holds the direct
// kernels these must agree with (same Z layout, gates, zero padding and scale).
#include "cuda/outer_gemm.hpp"

#include <cuComplex.h>
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "cuda/cuda_util.hpp"
#include "cuda/outer_twiddles.hpp"
#include "monarch/monarch.hpp"

namespace ffc::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocksX = 65536;  // per item; never reached in practice (span ≤ N ≤ 2^22)
constexpr int64_t kMaxBlocksY = 65535;  // gridDim.y limit: larger chunks loop over items

// ---------------------------------------------------------------------------
// Element conversions (fp32 arithmetic; round-to-nearest on the way out).
// ---------------------------------------------------------------------------
template <typename T> struct Elem;
template <> struct Elem<float> {
    __device__ static __forceinline__ float load(const float *p) { return *p; }
    __device__ static __forceinline__ float from_float(float v) { return v; }
};
template <> struct Elem<__half> {
    __device__ static __forceinline__ float load(const __half *p) { return __half2float(*p); }
    __device__ static __forceinline__ __half from_float(float v) { return __float2half_rn(v); }
};
template <> struct Elem<__nv_bfloat16> {
    __device__ static __forceinline__ float load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
    __device__ static __forceinline__ __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
};

// v · g[t], g NULL = ones (then v is passed through unchanged, as in the direct path's v · 1).
template <typename T>
__device__ __forceinline__ float gate_at(float v, const T *g, int64_t t) {
    return g ? v * Elem<T>::load(g + t) : v;
}

// Pass 1 input: scratch[i][t] = (g_a·x_a)[t] + i·(g_b·x_b)[t] for t < span =
// rows·N_in (the GEMM's k extent), zero at t ≥ L and in the imaginary part when
// the pair has no second row; item i's matrix starts at scratch + i·stride (the
// GEMM's batch stride, N). Grid: x over t, y over items.
template <typename T>
__global__ void __launch_bounds__(kThreads) gate_pair(const mp::OuterParams p, int64_t items, int64_t span,
                                                      int64_t stride, float2 *__restrict__ scratch) {
    const T *__restrict__ x = static_cast<const T *>(p.x);
    const T *__restrict__ g = static_cast<const T *>(p.gate);
    const int64_t L = p.seq_len;
    for (int64_t i = blockIdx.y; i < items; i += gridDim.y) {
        const mp::Rows r = mp::pair_rows(p, p.item_offset + i);
        const bool has_b = r.b >= 0;
        const T *xa = x + r.a, *xb = has_b ? x + r.b : nullptr;
        const T *ga = g ? g + r.a : nullptr, *gb = g && has_b ? g + r.b : nullptr;
        float2 *out = scratch + i * stride;
        for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < span;
             t += int64_t(gridDim.x) * kThreads) {
            float2 v = make_float2(0.f, 0.f);
            if (t < L) {
                v.x = gate_at(Elem<T>::load(xa + t), ga, t);
                if (has_b) v.y = gate_at(Elem<T>::load(xb + t), gb, t);
            }
            out[t] = v;
        }
    }
}

// Z[i][k1][n2] *= W_N^(n2·k1) (CONJ: its conjugate), in place, t = k1·N_in + n2
// < span = M·N_in. The twiddle is the plan table's hi·lo product in double,
// rounded once (outer_twiddles.hpp): the values the direct kernels use. k1 = 0
// or n2 = 0 is exactly 1 and skipped (no read-modify-write).
template <bool CONJ>
__global__ void __launch_bounds__(kThreads) apply_twiddle(const mp::OuterParams p, int64_t items, int64_t span,
                                                    int64_t stride, int n_in_shift, float2 *__restrict__ z) {
    const double2 *lo = static_cast<const double2 *>(p.twiddles);
    const int bits = p.twiddle_lo_bits;
    const double2 *hi = lo + (int64_t(1) << bits);
    const int64_t col_mask = (int64_t(1) << n_in_shift) - 1;
    for (int64_t i = blockIdx.y; i < items; i += gridDim.y) {
        float2 *zi = z + i * stride;
        for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < span;
             t += int64_t(gridDim.x) * kThreads) {
            const int64_t k1 = t >> n_in_shift, n2 = t & col_mask;
            if (k1 == 0 || n2 == 0) continue;
            const double2 wd = outer::root(lo, hi, bits, uint32_t(n2 * k1));  // n2·k1 < N ≤ 2^22
            const float2 w = make_float2(outer::round_component(wd.x), outer::round_component(wd.y));
            const float2 v = zi[t];
            zi[t] = CONJ ? make_float2(v.x * w.x + v.y * w.y, v.y * w.x - v.x * w.y)   // v · conj(w)
                         : make_float2(v.x * w.x - v.y * w.y, v.x * w.y + v.y * w.x);  // v · w
        }
    }
}

// One gated output: y[a + t] = T(Re w'[t] · g_a[t]), y[b + t] = T(Im w'[t] ·
// g_b[t]) when the pair has a second row (g NULL = ones).
template <typename T>
__device__ __forceinline__ void store_gated(T *__restrict__ y, const T *__restrict__ g, const mp::Rows &r,
                                            int64_t t, float2 w) {
    y[r.a + t] = Elem<T>::from_float(gate_at(w.x, g ? g + r.a : nullptr, t));
    if (r.b >= 0) y[r.b + t] = Elem<T>::from_float(gate_at(w.y, g ? g + r.b : nullptr, t));
}

// Pass 3 output: w' = scratch[i][t] (already scaled by 1/M) for t < L; y with
// gate and y2 with gate2, each only when its pointer is set.
template <typename T>
__global__ void __launch_bounds__(kThreads) gated_output(const mp::OuterParams p, int64_t items, int64_t stride,
                                                         const float2 *__restrict__ scratch) {
    T *y = static_cast<T *>(p.y);
    T *y2 = static_cast<T *>(p.y2);
    const T *g = static_cast<const T *>(p.gate);
    const T *g2 = static_cast<const T *>(p.gate2);
    const int64_t L = p.seq_len;
    for (int64_t i = blockIdx.y; i < items; i += gridDim.y) {
        const mp::Rows r = mp::pair_rows(p, p.item_offset + i);
        const float2 *w = scratch + i * stride;
        for (int64_t t = int64_t(blockIdx.x) * kThreads + threadIdx.x; t < L; t += int64_t(gridDim.x) * kThreads) {
            const float2 v = w[t];
            if (y) store_gated(y, g, r, t, v);
            if (y2) store_gated(y2, g2, r, t, v);
        }
    }
}

// A 2-D grid: x covers `span` elements of one item, y the items (both capped;
// the kernels loop over what the cap leaves).
dim3 grid_for(int64_t items, int64_t span) {
    const int64_t bx = std::min<int64_t>(std::max<int64_t>((span + kThreads - 1) / kThreads, 1), kMaxBlocksX);
    const int64_t by = std::min<int64_t>(std::max<int64_t>(items, 1), kMaxBlocksY);
    return dim3(unsigned(bx), unsigned(by), 1);
}

template <typename T>
void launch_gate_pair(const mp::OuterParams &o, int64_t items, int64_t span, int64_t stride, float2 *scratch,
                      cudaStream_t s) {
    gate_pair<T><<<grid_for(items, span), kThreads, 0, s>>>(o, items, span, stride, scratch);
}

template <typename T>
void launch_gated_output(const mp::OuterParams &o, int64_t items, int64_t stride, const float2 *scratch,
                         cudaStream_t s) {
    gated_output<T><<<grid_for(items, o.seq_len), kThreads, 0, s>>>(o, items, stride, scratch);
}

// ---------------------------------------------------------------------------
// cuBLASLt plumbing.
// ---------------------------------------------------------------------------
[[noreturn]] void lt_fail(cublasStatus_t st, const char *what) {
    const ffc_status_t code = st == CUBLAS_STATUS_ALLOC_FAILED      ? FFC_ERROR_OUT_OF_MEMORY
                              : st == CUBLAS_STATUS_NOT_SUPPORTED ? FFC_ERROR_NOT_SUPPORTED
                                                                  : FFC_ERROR_CUDA;
    fail(code, std::string("cuBLASLt: ") + what + " failed: " + cublasLtGetStatusString(st));
}

void lt_check(cublasStatus_t st, const char *what) {
    if (st != CUBLAS_STATUS_SUCCESS) lt_fail(st, what);
}

// Owners of the per-call descriptors, so that nothing leaks when a step throws.
struct OpDesc {
    cublasLtMatmulDesc_t d = nullptr;
    OpDesc() {
        lt_check(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_C_32F), "cublasLtMatmulDescCreate");
        const cublasOperation_t n = CUBLAS_OP_N;
        lt_check(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &n, sizeof(n)),
                 "setting the GEMM's transa");
        lt_check(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof(n)),
                 "setting the GEMM's transb");
    }
    ~OpDesc() { cublasLtMatmulDescDestroy(d); }
    OpDesc(const OpDesc &) = delete;
    OpDesc &operator=(const OpDesc &) = delete;
};

// Column-major complex fp32 rows × cols (leading dimension ld), `batch`
// matrices `stride` elements apart (0: one matrix shared by the batch).
struct Layout {
    cublasLtMatrixLayout_t d = nullptr;
    Layout(uint64_t rows, uint64_t cols, int64_t ld, int batch, int64_t stride) {
        lt_check(cublasLtMatrixLayoutCreate(&d, CUDA_C_32F, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        const cublasLtOrder_t order = CUBLASLT_ORDER_COL;
        lt_check(cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_ORDER, &order, sizeof(order)),
                 "setting a matrix layout's order");
        lt_check(cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch)),
                 "setting a matrix layout's batch count");
        lt_check(cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                  sizeof(stride)),
                 "setting a matrix layout's batch stride");
    }
    ~Layout() { cublasLtMatrixLayoutDestroy(d); }
    Layout(const Layout &) = delete;
    Layout &operator=(const Layout &) = delete;
};

struct Preference {
    cublasLtMatmulPreference_t d = nullptr;
    Preference() { lt_check(cublasLtMatmulPreferenceCreate(&d), "cublasLtMatmulPreferenceCreate"); }
    ~Preference() { cublasLtMatmulPreferenceDestroy(d); }
    Preference(const Preference &) = delete;
    Preference &operator=(const Preference &) = delete;
    void set_u64(cublasLtMatmulPreferenceAttributes_t a, uint64_t v, const char *what) {
        lt_check(cublasLtMatmulPreferenceSetAttribute(d, a, &v, sizeof(v)), what);
    }
    void set_u32(cublasLtMatmulPreferenceAttributes_t a, uint32_t v, const char *what) {
        lt_check(cublasLtMatmulPreferenceSetAttribute(d, a, &v, sizeof(v)), what);
    }
};

// The largest power of two (≤ 256) the address is a multiple of: the heuristic
// otherwise assumes 256-byte aligned operands and may pick a kernel that needs them.
uint32_t alignment_of(const void *ptr) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(ptr);
    uint32_t al = 256;
    while (al > 1 && a % al != 0) al /= 2;
    return al;
}

// D = alpha · A · B (beta = 0, C = D), batched; the shapes are in the layouts.
void matmul(cublasLtHandle_t lt, const Layout &a, const void *pa, const Layout &b, const void *pb, const Layout &d,
            void *pd, cuComplex alpha, cudaStream_t stream, const char *what) {
    OpDesc op;
    Preference pref;
    pref.set_u64(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, 0, "setting the GEMM's workspace limit");
    pref.set_u32(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(pa), "setting the GEMM's A alignment");
    pref.set_u32(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(pb), "setting the GEMM's B alignment");
    pref.set_u32(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(pd), "setting the GEMM's C alignment");
    pref.set_u32(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(pd), "setting the GEMM's D alignment");

    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(lt, op.d, a.d, b.d, d.d, d.d, pref.d, 1, &result, &found);
    if (st != CUBLAS_STATUS_SUCCESS)
        lt_fail(st, (std::string("cublasLtMatmulAlgoGetHeuristic (") + what + ")").c_str());
    if (found == 0) fail(FFC_ERROR_NOT_SUPPORTED, std::string("cuBLASLt: no algorithm for the ") + what);

    const cuComplex beta = make_cuComplex(0.f, 0.f);
    lt_check(cublasLtMatmul(lt, op.d, &alpha, pa, a.d, pb, b.d, &beta, pd, d.d, pd, d.d, &result.algo, nullptr, 0,
                            stream),
             what);
}

}  // namespace

// ---------------------------------------------------------------------------
// OuterGemm
// ---------------------------------------------------------------------------

OuterGemm::OuterGemm(uint64_t n, int m, int device) : n_(n), m_(m), device_(device) {
    if (m < 2 || (m & (m - 1)) != 0 || n % uint64_t(m) != 0 || !is_pow2(n))
        fail(FFC_ERROR_INTERNAL, "multi-pass GEMM: unsupported split of N = " + std::to_string(n) + " by M = " +
                                     std::to_string(m));
    n_in_ = n / uint64_t(m);

    // F_M[k1][n1] = W_M^(n1·k1 mod M), rounded once to fp32; symmetric, so its
    // row- and column-major images are the same array.
    const size_t mm = size_t(m) * size_t(m);
    std::vector<cuComplex> f(mm), fc(mm);
    for (int k1 = 0; k1 < m; ++k1)
        for (int n1 = 0; n1 < m; ++n1) {
            const monarch::cdouble w = monarch::unit_root(uint64_t(m), uint64_t(n1) * uint64_t(k1) % uint64_t(m));
            const size_t idx = size_t(k1) * size_t(m) + size_t(n1);
            f[idx] = make_cuComplex(float(w.real()), float(w.imag()));
            fc[idx] = make_cuComplex(float(w.real()), -float(w.imag()));
        }

    try {
        cublasLtHandle_t lt = nullptr;
        lt_check(cublasLtCreate(&lt), "cublasLtCreate");
        lt_ = lt;
        const size_t bytes = mm * sizeof(cuComplex);
        check(cudaMalloc(&f_, bytes), "cudaMalloc (multi-pass GEMM outer DFT matrix)");
        check(cudaMalloc(&f_conj_, bytes), "cudaMalloc (multi-pass GEMM outer DFT matrix)");
        check(cudaMemcpy(f_, f.data(), bytes, cudaMemcpyHostToDevice), "uploading the multi-pass GEMM DFT matrix");
        check(cudaMemcpy(f_conj_, fc.data(), bytes, cudaMemcpyHostToDevice),
              "uploading the multi-pass GEMM DFT matrix");
        check(cudaDeviceSynchronize(), "uploading the multi-pass GEMM DFT matrix");
    } catch (...) {
        // The destructor does not run for a throwing constructor; the device is current here.
        if (f_) cudaFree(f_);
        if (f_conj_) cudaFree(f_conj_);
        if (lt_) cublasLtDestroy(static_cast<cublasLtHandle_t>(lt_));
        f_ = f_conj_ = lt_ = nullptr;
        throw;
    }
}

OuterGemm::~OuterGemm() {
    if (!f_ && !f_conj_ && !lt_) return;
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess) return;
    cudaSetDevice(device_);  // the plan's memory and handle belong to its device
    if (f_) cudaFree(f_);
    if (f_conj_) cudaFree(f_conj_);
    if (lt_) cublasLtDestroy(static_cast<cublasLtHandle_t>(lt_));
    cudaSetDevice(previous);
}

void OuterGemm::check_pass(const mp::OuterParams &o, int64_t items, const void *scratch, const char *pass) const {
    const std::string what = std::string("multi-pass GEMM, ") + pass + " pass: ";
    if (!scratch) fail(FFC_ERROR_INTERNAL, what + "no scratch");
    if (!o.twiddles) fail(FFC_ERROR_INTERNAL, what + "no outer twiddle table");
    if (o.rows < 1 || o.rows > m_ || uint64_t(o.n_in) != n_in_)
        fail(FFC_ERROR_INTERNAL, what + "parameters do not match the plan");
    if (items > int64_t(0x7fffffff)) fail(FFC_ERROR_INTERNAL, what + "chunk too large for one GEMM");
}

void OuterGemm::forward(IoType io, const mp::OuterParams &o, int64_t items, void *scratch, void *stream) const {
    if (items <= 0) return;
    check_pass(o, items, scratch, "forward");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    float2 *a = static_cast<float2 *>(scratch);
    const int64_t n_in = int64_t(n_in_), stride = int64_t(n_);  // items are N complex apart in scratch and Z
    const int batch = int(items);

    // Gate and pair the `rows` rows that hold data (A^T, N_in × rows).
    const int64_t span = int64_t(o.rows) * n_in;
    if (io == io_f16) launch_gate_pair<__half>(o, items, span, stride, a, s);
    else if (io == io_bf16) launch_gate_pair<__nv_bfloat16>(o, items, span, stride, a, s);
    else launch_gate_pair<float>(o, items, span, stride, a, s);
    check(cudaGetLastError(), "multi-pass GEMM: gate and pair");

    // Z'^T (N_in × M) = A^T (N_in × rows) · F_M[0:rows, :] (rows × M, ld M).
    const Layout la(uint64_t(n_in), uint64_t(o.rows), n_in, batch, stride);
    const Layout lb(uint64_t(o.rows), uint64_t(m_), m_, batch, 0);
    const Layout ld(uint64_t(n_in), uint64_t(m_), n_in, batch, stride);
    matmul(static_cast<cublasLtHandle_t>(lt_), la, a, lb, f_, ld, o.z, make_cuComplex(1.f, 0.f), s,
           "multi-pass forward outer GEMM");

    apply_twiddle<false><<<grid_for(items, int64_t(n_)), kThreads, 0, s>>>(o, items, int64_t(n_), stride,
                                                                     log2_exact(n_in_), o.z);
    check(cudaGetLastError(), "multi-pass GEMM: forward twiddle");
}

void OuterGemm::inverse(IoType io, const mp::OuterParams &o, int64_t items, void *scratch, void *stream) const {
    if (items <= 0) return;
    check_pass(o, items, scratch, "inverse");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    float2 *w = static_cast<float2 *>(scratch);
    const int64_t n_in = int64_t(n_in_), stride = int64_t(n_);
    const int batch = int(items);

    // Undo the four-step twiddle in place (Z is consumed).
    apply_twiddle<true><<<grid_for(items, int64_t(n_)), kThreads, 0, s>>>(o, items, int64_t(n_), stride,
                                                                    log2_exact(n_in_), o.z);
    check(cudaGetLastError(), "multi-pass GEMM: inverse twiddle");

    // W'^T (N_in × rows) = Zu^T (N_in × M) · conj(F_M)[:, 0:rows] (M × rows, ld M) / M:
    // only the rows below L are computed.
    const Layout la(uint64_t(n_in), uint64_t(m_), n_in, batch, stride);
    const Layout lb(uint64_t(m_), uint64_t(o.rows), m_, batch, 0);
    const Layout ld(uint64_t(n_in), uint64_t(o.rows), n_in, batch, stride);
    matmul(static_cast<cublasLtHandle_t>(lt_), la, o.z, lb, f_conj_, ld, w, make_cuComplex(1.f / float(m_), 0.f),
           s, "multi-pass inverse outer GEMM");

    if (io == io_f16) launch_gated_output<__half>(o, items, stride, w, s);
    else if (io == io_bf16) launch_gated_output<__nv_bfloat16>(o, items, stride, w, s);
    else launch_gated_output<float>(o, items, stride, w, s);
    check(cudaGetLastError(), "multi-pass GEMM: gated output");
}

}  // namespace ffc::cuda
