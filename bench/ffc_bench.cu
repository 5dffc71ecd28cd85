// ffc_bench: gated forward FFT convolution on the GPU, against the cuFFT
// baseline and the memory floor (DESIGN §6); then forward + backward.
//
//   ffc_bench [--sizes 256,1024,...] [--dtypes fp16,bf16] [--reps 20] [--json out.json]
//             [--no-candidates] [--forward] [--backward] [--kernel NAME] [--trim D]
//
// --forward / --backward run only that section; by default both run. --kernel
// makes "ours" a forced candidate (force_kernel NAME) instead of the planner's pick.
// --trim D: L = N − D in both sections (rows that are not 16-byte aligned when
// D is not a multiple of 8).
//
// Shape: gated forward, B = 64 and H = 768, with B and H reduced for large N and
// every time scaled linearly to B = 64, H = 768. L = N (no zero padding).
//  * ours      ffc_conv_forward through the public API (planner's pick), and every
//              compiled candidate for N (each forced by its kernel name, so every
//              row times a different kernel; printed as factors:kernel).
//  * cuFFT     what an eager PyTorch user gets: gate kernel (u·in_gate → fp32,
//              zero-padded), R2C of k and of v, pointwise multiply, C2R, and an
//              output kernel (scale, out_gate, cast).
//  * floor     minimal HBM bytes (read u, in_gate, out_gate, k; write y) over the
//              device-to-device copy bandwidth measured in the same run.
//  * error     rel-L2 against an fp64 FFTW reference on a sample of sequences,
//              with the DESIGN §3 tolerance (2 × the error of correct rounding).
//
// Backward section (same shapes and scaling), per N:
//  * ours      ffc_conv_forward + ffc_conv_backward with all four gradients
//              (du, dk, d_in_gate, d_out_gate); the backward alone too.
//  * cuFFT     what autograd through torch.fft runs: the forward above, but
//              keeping V = R2C(v) (the product goes to a new buffer); then
//              dz = out_gate·dy and d_out_gate = dy·z kernels, R2C of dz,
//              DV = DZ·conj(Kf), C2R → dv, du = in_gate·dv and d_in_gate = u·dv
//              kernels, dk = C2R(Σ_b conj(V_b)·DZ_b) (one fused multiply-reduce
//              kernel, which flatters the baseline) and a slice to K taps.
//  * floor     backward: read dy, u, in_gate, out_gate, k; write du, d_in_gate,
//              d_out_gate, dk. Forward + backward: the sum of both floors.
//  * error     rel-L2 of du (sampled sequences) and dk (sampled channels, all
//              batch elements) against fp64 FFTW; tolerances: du 2 × rounding,
//              dk the CUDA fp32 rule of the tests (2·log2(N)·2^-17·(1 + S/||dk||)).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cufft.h>
#include <fftw3.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flashfftconv/flashfftconv.h"

#define CUDA_OK(x)                                                                                      \
    do {                                                                                                \
        cudaError_t e_ = (x);                                                                           \
        if (e_ != cudaSuccess) {                                                                        \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));    \
            std::exit(2);                                                                               \
        }                                                                                               \
    } while (0)
#define CUFFT_OK(x)                                                                           \
    do {                                                                                      \
        cufftResult r_ = (x);                                                                 \
        if (r_ != CUFFT_SUCCESS) {                                                            \
            std::fprintf(stderr, "%s:%d: %s: cufft error %d\n", __FILE__, __LINE__, #x, int(r_)); \
            std::exit(2);                                                                     \
        }                                                                                     \
    } while (0)

namespace {

// ---------------------------------------------------------------- device helpers
__device__ __forceinline__ uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

template <typename T> __device__ __forceinline__ T cast_to(float v);
template <> __device__ __forceinline__ float cast_to<float>(float v) { return v; }
template <> __device__ __forceinline__ __half cast_to<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 cast_to<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T> __device__ __forceinline__ float cast_from(T v);
template <> __device__ __forceinline__ float cast_from<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float cast_from<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

// Standard normal values (Box–Muller on a counter hash), times `scale`, plus `shift`.
template <typename T>
__global__ void fill_normal(T *p, size_t n, uint64_t seed, float scale, float shift) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
        const uint64_t h = splitmix(seed ^ splitmix(i));
        const float u1 = (float((h >> 40) & 0xffffff) + 0.5f) / 16777216.0f;
        const float u2 = float((h >> 16) & 0xffffff) / 16777216.0f;
        p[i] = cast_to<T>(shift + scale * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2));
    }
}

// Baseline step 1: v = float(u) · float(in_gate), zero-padded to N.
template <typename T>
__global__ void gate_pad(const T *u, const T *g, float *v, int64_t rows, int64_t L, int64_t N) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * N; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / N, t = i % N;
        v[i] = t < L ? cast_from(u[r * L + t]) * cast_from(g[r * L + t]) : 0.f;
    }
}
__global__ void pad_k(const float *k, float *kp, int64_t H, int64_t K, int64_t N) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < H * N; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / N, t = i % N;
        kp[i] = t < K ? k[r * K + t] : 0.f;
    }
}
// Baseline step 3: V[b,h,f] *= Kf[h,f].
__global__ void spectral_multiply(cufftComplex *V, const cufftComplex *Kf, int64_t B, int64_t H, int64_t F) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H * F; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t h = (i / F) % H, f = i % F;
        const cufftComplex a = V[i], b = Kf[h * F + f];
        V[i] = make_cuFloatComplex(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
    }
}
// Baseline step 5: y = cast(z / N · out_gate) for t < L.
template <typename T>
__global__ void output_gate(const float *z, const T *og, T *y, int64_t rows, int64_t L, int64_t N) {
    const float inv = 1.0f / float(N);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * L; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / L, t = i % L;
        y[i] = cast_to<T>(z[r * N + t] * inv * cast_from(og[i]));
    }
}

// Backward baseline: out = cast(x · z / N) for t < L (z is N-padded fp32, unscaled).
template <typename T>
__global__ void scale_mul(const T *x, const float *z, T *out, int64_t rows, int64_t L, int64_t N) {
    const float inv = 1.0f / float(N);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * L; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / L, t = i % L;
        out[i] = cast_to<T>(z[r * N + t] * inv * cast_from(x[i]));
    }
}
// Backward baseline: P[b,h,f] = A[b,h,f] · (conj?) Kf[h,f] into a new buffer.
__global__ void spectral_multiply_to(const cufftComplex *A, const cufftComplex *Kf, cufftComplex *P, int64_t B,
                                     int64_t H, int64_t F, float ksign) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * H * F; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t h = (i / F) % H, f = i % F;
        const cufftComplex a = A[i], k = Kf[h * F + f];
        const float kx = k.x, ky = ksign * k.y;
        P[i] = make_cuFloatComplex(a.x * kx - a.y * ky, a.x * ky + a.y * kx);
    }
}
// Backward baseline: G[h,f] = Σ_b conj(V[b,h,f]) · DZ[b,h,f].
__global__ void correlate_reduce(const cufftComplex *V, const cufftComplex *DZ, cufftComplex *G, int64_t B, int64_t H,
                                 int64_t F) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < H * F; i += int64_t(gridDim.x) * blockDim.x) {
        float re = 0.f, im = 0.f;
        for (int64_t b = 0; b < B; ++b) {
            const cufftComplex v = V[b * H * F + i], d = DZ[b * H * F + i];
            re += v.x * d.x + v.y * d.y;
            im += v.x * d.y - v.y * d.x;
        }
        G[i] = make_cuFloatComplex(re, im);
    }
}
// Backward baseline: dk[h, s] = full[h, s] / N for s < K.
__global__ void slice_scale(const float *full, float *dk, int64_t H, int64_t K, int64_t N) {
    const float inv = 1.0f / float(N);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < H * K; i += int64_t(gridDim.x) * blockDim.x)
        dk[i] = full[(i / K) * N + i % K] * inv;
}

constexpr int kGrid = 132 * 16;

// Fills a 16-bit I/O tensor (fp16 or bf16) with shifted, scaled normal values.
void fill_io(void *p, size_t cnt, uint64_t seed, float scale, float shift, bool bf16) {
    if (bf16) fill_normal<<<kGrid, 256>>>(static_cast<__nv_bfloat16 *>(p), cnt, seed, scale, shift);
    else fill_normal<<<kGrid, 256>>>(static_cast<__half *>(p), cnt, seed, scale, shift);
}

// ---------------------------------------------------------------- host helpers
float half_bits_to_float(uint16_t h, bool bf16) {
    if (bf16) {
        uint32_t u = uint32_t(h) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    __half_raw r;
    r.x = h;
    return __half2float(__half(r));
}
float round_to(double v, bool bf16) {
    if (bf16) return __bfloat162float(__float2bfloat16_rn(float(v)));
    return __half2float(__float2half_rn(float(v)));
}

struct Timer {
    cudaEvent_t a, b;
    Timer() { cudaEventCreate(&a); cudaEventCreate(&b); }
    ~Timer() { cudaEventDestroy(a); cudaEventDestroy(b); }
    template <class F>
    double median_ms(F &&f, int reps) {
        for (int i = 0; i < 3; ++i) f();  // warm-up
        CUDA_OK(cudaDeviceSynchronize());
        std::vector<float> t(reps);
        for (int i = 0; i < reps; ++i) {
            cudaEventRecord(a);
            f();
            cudaEventRecord(b);
            CUDA_OK(cudaEventSynchronize(b));
            cudaEventElapsedTime(&t[i], a, b);
        }
        std::sort(t.begin(), t.end());
        return t[reps / 2];
    }
};

double copy_bandwidth_gbps(Timer &timer) {
    const size_t bytes = size_t(2) << 30;
    void *a = nullptr, *b = nullptr;
    CUDA_OK(cudaMalloc(&a, bytes));
    CUDA_OK(cudaMalloc(&b, bytes));
    CUDA_OK(cudaMemset(a, 1, bytes));
    const double ms = timer.median_ms([&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); }, 10);
    cudaFree(a);
    cudaFree(b);
    return 2.0 * bytes / (ms * 1e-3) / 1e9;  // bytes read + written
}

void bench_shape(uint64_t n, int64_t &B, int64_t &H) {
    B = n <= 8192 ? 64 : n <= 16384 ? 32 : n <= 32768 ? 16 : 8;
    H = n <= 65536 ? 768 : n <= 131072 ? 384 : n <= 262144 ? 192 : n <= 524288 ? 96 : n <= 1048576 ? 48 : n <= 2097152 ? 32 : 16;
}

std::string status_text(ffc_status_t st) {
    char msg[512];
    ffc_last_error_message(msg, sizeof msg);
    return std::string(ffc_status_string(st)) + ": " + msg;
}

struct Candidate {
    std::string kernel;
    double ms = -1;
    bool pick = false;
};

struct Row {
    uint64_t n;
    const char *dtype;
    int64_t B, H, L;
    double scale;
    double ours_ms = -1, cufft_ms, floor_ms;
    double err = -1, tol = -1, cufft_err = -1;
    std::string kernel, note;
    std::vector<Candidate> candidates;
};

// fp64 reference for one sequence (b, h): z = IFFT(FFT(v)·FFT(k)), t < L.
void reference(const std::vector<double> &v, const std::vector<double> &k, uint64_t n, std::vector<double> &z) {
    const size_t F = n / 2 + 1;
    std::vector<double> a(n), b(n);
    std::vector<double> a_spec(2 * F), k_spec(2 * F);
    fftw_complex *A = reinterpret_cast<fftw_complex *>(a_spec.data());
    fftw_complex *Kf = reinterpret_cast<fftw_complex *>(k_spec.data());
    std::copy(v.begin(), v.end(), a.begin());
    std::copy(k.begin(), k.end(), b.begin());
    fftw_plan pa = fftw_plan_dft_r2c_1d(int(n), a.data(), A, FFTW_ESTIMATE);
    fftw_plan pb = fftw_plan_dft_r2c_1d(int(n), b.data(), Kf, FFTW_ESTIMATE);
    fftw_execute(pa);
    fftw_execute(pb);
    for (size_t f = 0; f < F; ++f) {
        const double re = A[f][0] * Kf[f][0] - A[f][1] * Kf[f][1];
        const double im = A[f][0] * Kf[f][1] + A[f][1] * Kf[f][0];
        A[f][0] = re;
        A[f][1] = im;
    }
    fftw_plan pc = fftw_plan_dft_c2r_1d(int(n), A, a.data(), FFTW_ESTIMATE);
    fftw_execute(pc);
    z.resize(n);
    for (uint64_t t = 0; t < n; ++t) z[t] = a[t] / double(n);
    fftw_destroy_plan(pa);
    fftw_destroy_plan(pb);
    fftw_destroy_plan(pc);
}

// rel-L2 error of y (device, 16-bit) on sampled sequences, and the tolerance.
void measure_error(const void *d_y, const void *d_u, const void *d_ig, const void *d_og, const float *d_k, int64_t B,
                   int64_t H, int64_t L, uint64_t n, bool bf16, double &err, double &tol) {
    double num = 0, den = 0, rnd = 0;
    const int64_t samples[][2] = {{0, 0}, {1, 0}, {B - 1, H - 1}, {B / 2, H / 3}, {B > 2 ? 2 : 0, H - 1}};
    for (const auto &s : samples) {
        const int64_t b = s[0], h = s[1], row = (b * H + h) * L;
        std::vector<uint16_t> u(L), ig(L), og(L), y(L);
        std::vector<float> kf(n);
        CUDA_OK(cudaMemcpy(u.data(), static_cast<const uint16_t *>(d_u) + row, L * 2, cudaMemcpyDeviceToHost));
        CUDA_OK(cudaMemcpy(ig.data(), static_cast<const uint16_t *>(d_ig) + row, L * 2, cudaMemcpyDeviceToHost));
        CUDA_OK(cudaMemcpy(og.data(), static_cast<const uint16_t *>(d_og) + row, L * 2, cudaMemcpyDeviceToHost));
        CUDA_OK(cudaMemcpy(y.data(), static_cast<const uint16_t *>(d_y) + row, L * 2, cudaMemcpyDeviceToHost));
        CUDA_OK(cudaMemcpy(kf.data(), d_k + h * int64_t(n), n * 4, cudaMemcpyDeviceToHost));
        std::vector<double> v(L), k(n), z;
        for (int64_t t = 0; t < L; ++t) v[t] = double(half_bits_to_float(u[t], bf16)) * half_bits_to_float(ig[t], bf16);
        for (uint64_t t = 0; t < n; ++t) k[t] = kf[t];
        reference(v, k, n, z);
        for (int64_t t = 0; t < L; ++t) {
            const double ref = z[t] * half_bits_to_float(og[t], bf16);
            const double got = half_bits_to_float(y[t], bf16);
            num += (got - ref) * (got - ref);
            den += ref * ref;
            const double r = round_to(ref, bf16) - ref;
            rnd += r * r;
        }
    }
    err = std::sqrt(num / den);
    if (!std::isfinite(err)) err = 1e30;
    tol = 2.0 * std::sqrt(rnd / den);
}

// One row of ffc_plan_describe's candidate table, e.g.
//   "  4 x 16 x 16 x 16       fused_n16384_4x16cx16x16_c2   68128  ...  2292.8  ok"
// (columns: factors, kernel, smem, model terms, total, status: ok / chosen / infeasible: why).
struct TableRow {
    std::string factors;  // "4x16x16x16"
    std::string kernel;   // what force_kernel takes
    bool feasible = false, chosen = false;
};

// --kernel NAME: "ours" runs this candidate (force_kernel) instead of the planner's pick.
const char *g_force_kernel = nullptr;
// --trim D: L = N − D (forward and backward sections).
int64_t g_trim = 0;

std::vector<TableRow> candidate_table(const std::string &text) {
    std::vector<TableRow> rows;
    bool in_table = false;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.rfind("candidates", 0) == 0) { in_table = true; continue; }
        if (!in_table) continue;
        // Factors: numbers joined by " x ", then the kernel name.
        TableRow r;
        size_t i = line.find_first_not_of(' ');
        while (i != std::string::npos && i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) {
            size_t j = i;
            while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
            r.factors += (r.factors.empty() ? "" : "x") + line.substr(i, j - i);
            i = j;
            if (line.compare(i, 3, " x ") == 0) i += 3; else break;
        }
        if (r.factors.empty()) continue;  // the column header
        i = line.find_first_not_of(' ', i);
        if (i == std::string::npos) continue;
        const size_t k = line.find(' ', i);
        r.kernel = line.substr(i, k == std::string::npos ? std::string::npos : k - i);
        // Status: the last column; "infeasible: <reason>" may contain anything.
        r.feasible = line.find("  infeasible: ") == std::string::npos;
        r.chosen = r.feasible && line.size() >= 8 && line.compare(line.size() - 8, 8, "  chosen") == 0;
        rows.push_back(r);
    }
    return rows;
}

Row run_size(uint64_t n, ffc_dtype_t dtype, int reps, bool with_candidates, double bw_gbps, Timer &timer) {
    Row row{};
    row.n = n;
    row.dtype = dtype == FFC_DTYPE_BF16 ? "bf16" : "fp16";
    bench_shape(n, row.B, row.H);
    const int64_t B = row.B, H = row.H, L = int64_t(n) - g_trim, K = int64_t(n);
    row.L = L;
    row.scale = double(64 * 768) / double(B * H);
    const bool bf16 = dtype == FFC_DTYPE_BF16;
    const size_t elems = size_t(B) * H * L;

    void *u, *ig, *og, *y;
    float *k;
    CUDA_OK(cudaMalloc(&u, elems * 2));
    CUDA_OK(cudaMalloc(&ig, elems * 2));
    CUDA_OK(cudaMalloc(&og, elems * 2));
    CUDA_OK(cudaMalloc(&y, elems * 2));
    CUDA_OK(cudaMalloc(&k, size_t(H) * K * 4));
    auto fill = [&](void *p, size_t cnt, uint64_t seed, float scale, float shift) {
        fill_io(p, cnt, seed, scale, shift, bf16);
    };
    fill(u, elems, 11 + n, 1.0f, 0.0f);
    fill(ig, elems, 23 + n, 0.5f, 1.0f);
    fill(og, elems, 37 + n, 0.5f, 1.0f);
    fill_normal<<<kGrid, 256>>>(k, size_t(H) * K, 41 + n, 1.0f / std::sqrt(float(K)), 0.0f);
    CUDA_OK(cudaGetLastError());
    const ffc_shape_t shape = {B, H, L, K};

    // Memory floor: read u, in_gate, out_gate, k; write y.
    const double floor_bytes = 4.0 * double(elems) * 2 + double(H) * K * 4;
    row.floor_ms = floor_bytes / (bw_gbps * 1e9) * 1e3;

    // ---- ours: the planner's pick, then every compiled candidate
    auto time_plan = [&](const char *force_kernel, std::string &kernel, std::string &why) -> double {
        ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
        desc.fft_size = n;
        desc.dtype = dtype;
        desc.backend = FFC_BACKEND_CUDA;
        desc.force_kernel = force_kernel;  // NULL: the planner's pick
        ffc_plan_t plan = nullptr;
        ffc_status_t st = ffc_plan_create(&plan, &desc);
        if (st != FFC_SUCCESS) {
            why = status_text(st);
            return -1;
        }
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        ffc_plan_get_info(plan, &info);
        kernel = info.kernel_name;
        size_t ws_size = 0;
        ffc_plan_get_workspace_size(plan, &shape, &ws_size);
        void *ws = nullptr;
        CUDA_OK(cudaMalloc(&ws, std::max<size_t>(ws_size, 256)));
        st = ffc_conv_forward(plan, &shape, u, k, ig, og, y, ws, ws_size, nullptr);
        double ms = -1;
        if (st != FFC_SUCCESS) {
            why = status_text(st);
        } else {
            ms = timer.median_ms([&] { ffc_conv_forward(plan, &shape, u, k, ig, og, y, ws, ws_size, nullptr); }, reps);
        }
        CUDA_OK(cudaDeviceSynchronize());
        cudaFree(ws);
        ffc_plan_destroy(plan);
        return ms;
    };

    std::string why;
    row.ours_ms = time_plan(g_force_kernel, row.kernel, why);
    if (row.ours_ms >= 0) {
        measure_error(y, u, ig, og, k, B, H, L, n, bf16, row.err, row.tol);
    } else {
        row.note = why;
    }
    if (with_candidates && row.ours_ms >= 0) {
        // The candidates are the rows of the plan description's table. Each is
        // forced by its kernel name (the "kernel" column; for a multi-pass row,
        // the inner kernel), which identifies exactly one candidate for N: its
        // factors would not (a one-CTA kernel and its cluster split, or a fused
        // kernel and a multi-pass split, can share them).
        ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
        desc.fft_size = n;
        desc.dtype = dtype;
        desc.backend = FFC_BACKEND_CUDA;
        ffc_plan_t plan = nullptr;
        if (ffc_plan_create(&plan, &desc) == FFC_SUCCESS) {
            size_t need = 0;
            ffc_plan_describe(plan, nullptr, 0, &need);
            std::string text(need, '\0');
            ffc_plan_describe(plan, text.data(), need, nullptr);
            ffc_plan_destroy(plan);
            for (const TableRow &t : candidate_table(text)) {
                if (!t.feasible) continue;  // this device cannot run it
                Candidate c;
                std::string kname, cwhy;
                c.ms = time_plan(t.kernel.c_str(), kname, cwhy);
                if (c.ms >= 0 && kname != t.kernel) {  // cannot happen: the library runs the named kernel
                    std::fprintf(stderr, "N=%llu: forcing %s ran %s\n", (unsigned long long)n, t.kernel.c_str(), kname.c_str());
                    c.ms = -1;
                }
                if (c.ms < 0) std::fprintf(stderr, "N=%llu: candidate %s failed: %s\n", (unsigned long long)n, t.kernel.c_str(), cwhy.c_str());
                c.kernel = t.factors + ":" + t.kernel;
                c.pick = t.chosen;
                row.candidates.push_back(c);
            }
        }
    }

    // ---- cuFFT baseline
    {
        const size_t F = n / 2 + 1;
        float *v, *kp, *z;
        cufftComplex *V, *Kf;
        CUDA_OK(cudaMalloc(&v, size_t(B) * H * n * 4));
        CUDA_OK(cudaMalloc(&z, size_t(B) * H * n * 4));
        CUDA_OK(cudaMalloc(&V, size_t(B) * H * F * sizeof(cufftComplex)));
        CUDA_OK(cudaMalloc(&kp, size_t(H) * n * 4));
        CUDA_OK(cudaMalloc(&Kf, size_t(H) * F * sizeof(cufftComplex)));
        cufftHandle r2c, r2c_k, c2r;
        long long nn = (long long)n;
        size_t wsz = 0;
        CUFFT_OK(cufftCreate(&r2c));
        CUFFT_OK(cufftMakePlanMany64(r2c, 1, &nn, nullptr, 1, nn, nullptr, 1, F, CUFFT_R2C, B * H, &wsz));
        CUFFT_OK(cufftCreate(&r2c_k));
        CUFFT_OK(cufftMakePlanMany64(r2c_k, 1, &nn, nullptr, 1, nn, nullptr, 1, F, CUFFT_R2C, H, &wsz));
        CUFFT_OK(cufftCreate(&c2r));
        CUFFT_OK(cufftMakePlanMany64(c2r, 1, &nn, nullptr, 1, F, nullptr, 1, nn, CUFFT_C2R, B * H, &wsz));
        auto baseline = [&] {
            if (bf16) gate_pad<<<kGrid, 256>>>(static_cast<const __nv_bfloat16 *>(u), static_cast<const __nv_bfloat16 *>(ig), v, B * H, L, int64_t(n));
            else gate_pad<<<kGrid, 256>>>(static_cast<const __half *>(u), static_cast<const __half *>(ig), v, B * H, L, int64_t(n));
            pad_k<<<kGrid, 256>>>(k, kp, H, K, int64_t(n));
            cufftExecR2C(r2c_k, kp, Kf);
            cufftExecR2C(r2c, v, V);
            spectral_multiply<<<kGrid, 256>>>(V, Kf, B, H, int64_t(F));
            cufftExecC2R(c2r, V, z);
            if (bf16) output_gate<<<kGrid, 256>>>(z, static_cast<const __nv_bfloat16 *>(og), static_cast<__nv_bfloat16 *>(y), B * H, L, int64_t(n));
            else output_gate<<<kGrid, 256>>>(z, static_cast<const __half *>(og), static_cast<__half *>(y), B * H, L, int64_t(n));
        };
        row.cufft_ms = timer.median_ms(baseline, std::max(5, reps / 2));
        CUDA_OK(cudaGetLastError());
        double tol_unused;
        measure_error(y, u, ig, og, k, B, H, L, n, bf16, row.cufft_err, tol_unused);
        cufftDestroy(r2c);
        cufftDestroy(r2c_k);
        cufftDestroy(c2r);
        cudaFree(v);
        cudaFree(z);
        cudaFree(V);
        cudaFree(kp);
        cudaFree(Kf);
    }
    cudaFree(u);
    cudaFree(ig);
    cudaFree(og);
    cudaFree(y);
    cudaFree(k);
    return row;
}

// ---------------------------------------------------------------- backward section

// A status message as a JSON string body (quotes and backslashes dropped).
std::string json_safe(const std::string &s) {
    std::string r;
    for (char c : s)
        if (c != '"' && c != '\\' && c >= ' ') r += c;
    return r;
}

struct BwdRow {
    uint64_t n;
    const char *dtype;
    int64_t B, H, L;
    double scale;
    double ours_ms = -1, ours_fwd_ms = -1, ours_bwd_ms = -1;  // ours_ms: forward + backward, timed together
    double cufft_ms = -1, cufft_bwd_ms = -1;
    double floor_ms = 0, floor_bwd_ms = 0;
    double du_err = -1, du_tol = -1, dk_err = -1, dk_tol = -1;
    double cufft_du_err = -1, cufft_dk_err = -1;
    std::string kernel, note;
};

// fp64 products of spectra through FFTW, plans made once per size:
// product(a, b, conj_a)[t] = IFFT(op(FFT(a)) · FFT(b))[t], op = conj if conj_a,
// a and b zero-padded to n. conj(FFT(k))·FFT(dz) is the correlation dv, and
// conj(FFT(v))·FFT(dz) the correlation that dk sums.
class Fft64 {
public:
    explicit Fft64(uint64_t n) : n_(n), F_(n / 2 + 1), a_(n), b_(n), A_(2 * F_), B_(2 * F_) {
        pa_ = fftw_plan_dft_r2c_1d(int(n), a_.data(), cplx(A_), FFTW_ESTIMATE);
        pb_ = fftw_plan_dft_r2c_1d(int(n), b_.data(), cplx(B_), FFTW_ESTIMATE);
        pc_ = fftw_plan_dft_c2r_1d(int(n), cplx(A_), a_.data(), FFTW_ESTIMATE);
    }
    ~Fft64() {
        fftw_destroy_plan(pa_);
        fftw_destroy_plan(pb_);
        fftw_destroy_plan(pc_);
    }
    Fft64(const Fft64 &) = delete;
    Fft64 &operator=(const Fft64 &) = delete;
    std::vector<double> product(const std::vector<double> &a, const std::vector<double> &b, bool conj_a) {
        std::fill(a_.begin(), a_.end(), 0.0);
        std::fill(b_.begin(), b_.end(), 0.0);
        std::copy(a.begin(), a.end(), a_.begin());
        std::copy(b.begin(), b.end(), b_.begin());
        fftw_execute(pa_);
        fftw_execute(pb_);
        fftw_complex *A = cplx(A_), *Bs = cplx(B_);
        for (size_t f = 0; f < F_; ++f) {
            const double ar = A[f][0], ai = conj_a ? -A[f][1] : A[f][1];
            const double re = ar * Bs[f][0] - ai * Bs[f][1], im = ar * Bs[f][1] + ai * Bs[f][0];
            A[f][0] = re;
            A[f][1] = im;
        }
        fftw_execute(pc_);
        std::vector<double> r(n_);
        for (uint64_t t = 0; t < n_; ++t) r[t] = a_[t] / double(n_);
        return r;
    }

private:
    static fftw_complex *cplx(std::vector<double> &v) { return reinterpret_cast<fftw_complex *>(v.data()); }
    uint64_t n_;
    size_t F_;
    std::vector<double> a_, b_, A_, B_;
    fftw_plan pa_, pb_, pc_;
};

std::vector<double> read_row16(const void *d, int64_t offset, int64_t len, bool bf16) {
    std::vector<uint16_t> h(len);
    CUDA_OK(cudaMemcpy(h.data(), static_cast<const uint16_t *>(d) + offset, len * 2, cudaMemcpyDeviceToHost));
    std::vector<double> r(len);
    for (int64_t i = 0; i < len; ++i) r[i] = half_bits_to_float(h[i], bf16);
    return r;
}
std::vector<double> read_row32(const float *d, int64_t offset, int64_t len) {
    std::vector<float> h(len);
    CUDA_OK(cudaMemcpy(h.data(), d + offset, len * 4, cudaMemcpyDeviceToHost));
    return std::vector<double>(h.begin(), h.end());
}

// rel-L2 errors of du (sampled sequences) and dk (sampled channels, every batch
// element) against fp64, with their tolerances. K = N (the bench shape).
void measure_backward_error(const void *d_du, const float *d_dk, const void *d_u, const void *d_ig, const void *d_og,
                            const void *d_dy, const float *d_k, int64_t B, int64_t H, int64_t L, uint64_t n, bool bf16,
                            double &du_err, double &du_tol, double &dk_err, double &dk_tol) {
    const int64_t K = int64_t(n);
    Fft64 fft(n);
    auto gated = [](const std::vector<double> &x, const std::vector<double> &g) {
        std::vector<double> r(x.size());
        for (size_t i = 0; i < x.size(); ++i) r[i] = x[i] * g[i];
        return r;
    };
    // du = in_gate · IFFT(conj(K) · DZ)
    double num = 0, den = 0, rnd = 0;
    const int64_t samples[][2] = {{0, 0}, {1, 0}, {B - 1, H - 1}, {B / 2, H / 3}, {B > 2 ? 2 : 0, H - 1}};
    for (const auto &smp : samples) {
        const int64_t row = (smp[0] * H + smp[1]) * L;
        const std::vector<double> dz = gated(read_row16(d_dy, row, L, bf16), read_row16(d_og, row, L, bf16));
        const std::vector<double> ig = read_row16(d_ig, row, L, bf16), got = read_row16(d_du, row, L, bf16);
        const std::vector<double> dv = fft.product(read_row32(d_k, smp[1] * K, K), dz, true);
        for (int64_t t = 0; t < L; ++t) {
            const double ref = ig[t] * dv[t];
            num += (got[t] - ref) * (got[t] - ref);
            den += ref * ref;
            const double r = round_to(ref, bf16) - ref;
            rnd += r * r;
        }
    }
    du_err = std::sqrt(num / den);
    if (!std::isfinite(du_err)) du_err = 1e30;
    du_tol = 2.0 * std::sqrt(rnd / den);
    // dk[h] = Σ_b IFFT(conj(V_b) · DZ_b)[s < K]; its error scale S² = Σ_b (K/N)·||dz_b||²·||v_b||².
    num = den = 0;
    double scale2 = 0;
    const int64_t channels[] = {0, H - 1};
    for (int64_t h : channels) {
        std::vector<double> ref(K, 0.0);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t row = (b * H + h) * L;
            const std::vector<double> v = gated(read_row16(d_u, row, L, bf16), read_row16(d_ig, row, L, bf16));
            const std::vector<double> dz = gated(read_row16(d_dy, row, L, bf16), read_row16(d_og, row, L, bf16));
            const std::vector<double> c = fft.product(v, dz, true);
            double v2 = 0, z2 = 0;
            for (int64_t t = 0; t < L; ++t) {
                v2 += v[t] * v[t];
                z2 += dz[t] * dz[t];
            }
            scale2 += double(K) / double(n) * v2 * z2;
            for (int64_t s2 = 0; s2 < K; ++s2) ref[s2] += c[s2];
        }
        const std::vector<double> got = read_row32(d_dk, h * K, K);
        for (int64_t s2 = 0; s2 < K; ++s2) {
            num += (got[s2] - ref[s2]) * (got[s2] - ref[s2]);
            den += ref[s2] * ref[s2];
        }
    }
    dk_err = std::sqrt(num / den);
    if (!std::isfinite(dk_err)) dk_err = 1e30;
    // tests/cuda_test_util.hpp: the oracle's fp32 bound 2·log2(N)·2^-24·(1 + S/||ref||),
    // with the split-bf16 tensor-core unit roundoff 2^-17 in place of 2^-24.
    dk_tol = 2.0 * std::log2(double(n)) * std::ldexp(1.0, -17) * (1.0 + std::sqrt(scale2) / std::sqrt(den));
}

BwdRow run_backward_size(uint64_t n, ffc_dtype_t dtype, int reps, double bw_gbps, Timer &timer) {
    BwdRow row{};
    row.n = n;
    row.dtype = dtype == FFC_DTYPE_BF16 ? "bf16" : "fp16";
    bench_shape(n, row.B, row.H);
    const int64_t B = row.B, H = row.H, L = int64_t(n) - g_trim, K = int64_t(n);
    row.L = L;
    row.scale = double(64 * 768) / double(B * H);
    const bool bf16 = dtype == FFC_DTYPE_BF16;
    const size_t elems = size_t(B) * H * L;

    void *u, *ig, *og, *y, *dy, *du, *dig, *dog;
    float *k, *dk;
    for (void **p : {&u, &ig, &og, &y, &dy, &du, &dig, &dog}) CUDA_OK(cudaMalloc(p, elems * 2));
    CUDA_OK(cudaMalloc(&k, size_t(H) * K * 4));
    CUDA_OK(cudaMalloc(&dk, size_t(H) * K * 4));
    auto fill = [&](void *p, size_t cnt, uint64_t seed, float scale, float shift) {
        fill_io(p, cnt, seed, scale, shift, bf16);
    };
    fill(u, elems, 11 + n, 1.0f, 0.0f);
    fill(ig, elems, 23 + n, 0.5f, 1.0f);
    fill(og, elems, 37 + n, 0.5f, 1.0f);
    fill(dy, elems, 53 + n, 1.0f, 0.0f);
    fill_normal<<<kGrid, 256>>>(k, size_t(H) * K, 41 + n, 1.0f / std::sqrt(float(K)), 0.0f);
    CUDA_OK(cudaGetLastError());
    const ffc_shape_t shape = {B, H, L, K};

    // Floors: forward reads u, in_gate, out_gate, k and writes y; backward reads
    // dy, u, in_gate, out_gate, k and writes du, d_in_gate, d_out_gate, dk.
    const double fwd_bytes = 4.0 * double(elems) * 2 + double(H) * K * 4;
    const double bwd_bytes = 7.0 * double(elems) * 2 + 2.0 * double(H) * K * 4;
    row.floor_bwd_ms = bwd_bytes / (bw_gbps * 1e9) * 1e3;
    row.floor_ms = (fwd_bytes + bwd_bytes) / (bw_gbps * 1e9) * 1e3;

    // ---- ours
    {
        ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
        desc.fft_size = n;
        desc.dtype = dtype;
        desc.backend = FFC_BACKEND_CUDA;
        desc.force_kernel = g_force_kernel;
        ffc_plan_t plan = nullptr;
        ffc_status_t st = ffc_plan_create(&plan, &desc);
        if (st != FFC_SUCCESS) {
            row.note = status_text(st);
        } else {
            ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
            ffc_plan_get_info(plan, &info);
            row.kernel = info.kernel_name;
            size_t ws_size = 0;
            ffc_plan_get_workspace_size(plan, &shape, &ws_size);
            void *ws = nullptr;
            CUDA_OK(cudaMalloc(&ws, std::max<size_t>(ws_size, 256)));
            auto fwd = [&] { return ffc_conv_forward(plan, &shape, u, k, ig, og, y, ws, ws_size, nullptr); };
            auto bwd = [&] {
                return ffc_conv_backward(plan, &shape, dy, u, k, ig, og, du, dk, dig, dog, ws, ws_size, nullptr);
            };
            st = fwd();
            if (st == FFC_SUCCESS) st = bwd();
            if (st != FFC_SUCCESS) {
                row.note = status_text(st);
            } else {
                row.ours_fwd_ms = timer.median_ms([&] { fwd(); }, reps);
                row.ours_bwd_ms = timer.median_ms([&] { bwd(); }, reps);
                row.ours_ms = timer.median_ms([&] { fwd(); bwd(); }, reps);
                CUDA_OK(cudaDeviceSynchronize());
                measure_backward_error(du, dk, u, ig, og, dy, k, B, H, L, n, bf16, row.du_err, row.du_tol, row.dk_err,
                                       row.dk_tol);
            }
            CUDA_OK(cudaDeviceSynchronize());
            cudaFree(ws);
            ffc_plan_destroy(plan);
        }
    }

    // ---- cuFFT baseline (autograd through torch.fft)
    {
        const size_t F = n / 2 + 1;
        const size_t spec = size_t(B) * H * F * sizeof(cufftComplex);
        float *v, *z, *kp, *dkfull;
        cufftComplex *V, *P, *DZ, *Kf, *G;
        CUDA_OK(cudaMalloc(&v, elems / L * n * 4));  // v, then dz
        CUDA_OK(cudaMalloc(&z, elems / L * n * 4));  // z, then dv
        CUDA_OK(cudaMalloc(&V, spec));
        CUDA_OK(cudaMalloc(&P, spec));  // V·Kf, then DZ·conj(Kf)
        CUDA_OK(cudaMalloc(&DZ, spec));
        CUDA_OK(cudaMalloc(&kp, size_t(H) * n * 4));
        CUDA_OK(cudaMalloc(&dkfull, size_t(H) * n * 4));
        CUDA_OK(cudaMalloc(&Kf, size_t(H) * F * sizeof(cufftComplex)));
        CUDA_OK(cudaMalloc(&G, size_t(H) * F * sizeof(cufftComplex)));
        cufftHandle r2c, r2c_h, c2r, c2r_h;
        long long nn = (long long)n;
        size_t wsz = 0;
        CUFFT_OK(cufftCreate(&r2c));
        CUFFT_OK(cufftMakePlanMany64(r2c, 1, &nn, nullptr, 1, nn, nullptr, 1, F, CUFFT_R2C, B * H, &wsz));
        CUFFT_OK(cufftCreate(&r2c_h));
        CUFFT_OK(cufftMakePlanMany64(r2c_h, 1, &nn, nullptr, 1, nn, nullptr, 1, F, CUFFT_R2C, H, &wsz));
        CUFFT_OK(cufftCreate(&c2r));
        CUFFT_OK(cufftMakePlanMany64(c2r, 1, &nn, nullptr, 1, F, nullptr, 1, nn, CUFFT_C2R, B * H, &wsz));
        CUFFT_OK(cufftCreate(&c2r_h));
        CUFFT_OK(cufftMakePlanMany64(c2r_h, 1, &nn, nullptr, 1, F, nullptr, 1, nn, CUFFT_C2R, H, &wsz));
        const int64_t rows = B * H, N = int64_t(n);
        auto forward = [&] {
            if (bf16) gate_pad<<<kGrid, 256>>>(static_cast<const __nv_bfloat16 *>(u), static_cast<const __nv_bfloat16 *>(ig), v, rows, L, N);
            else gate_pad<<<kGrid, 256>>>(static_cast<const __half *>(u), static_cast<const __half *>(ig), v, rows, L, N);
            pad_k<<<kGrid, 256>>>(k, kp, H, K, N);
            cufftExecR2C(r2c_h, kp, Kf);
            cufftExecR2C(r2c, v, V);  // saved for dk
            spectral_multiply_to<<<kGrid, 256>>>(V, Kf, P, B, H, int64_t(F), 1.0f);
            cufftExecC2R(c2r, P, z);  // saved for d_out_gate
            if (bf16) output_gate<<<kGrid, 256>>>(z, static_cast<const __nv_bfloat16 *>(og), static_cast<__nv_bfloat16 *>(y), rows, L, N);
            else output_gate<<<kGrid, 256>>>(z, static_cast<const __half *>(og), static_cast<__half *>(y), rows, L, N);
        };
        auto backward = [&] {
            if (bf16) {
                using T = __nv_bfloat16;
                gate_pad<<<kGrid, 256>>>(static_cast<const T *>(dy), static_cast<const T *>(og), v, rows, L, N);  // dz
                scale_mul<<<kGrid, 256>>>(static_cast<const T *>(dy), z, static_cast<T *>(dog), rows, L, N);     // dy·z
            } else {
                using T = __half;
                gate_pad<<<kGrid, 256>>>(static_cast<const T *>(dy), static_cast<const T *>(og), v, rows, L, N);
                scale_mul<<<kGrid, 256>>>(static_cast<const T *>(dy), z, static_cast<T *>(dog), rows, L, N);
            }
            cufftExecR2C(r2c, v, DZ);
            spectral_multiply_to<<<kGrid, 256>>>(DZ, Kf, P, B, H, int64_t(F), -1.0f);
            cufftExecC2R(c2r, P, z);  // dv
            if (bf16) {
                using T = __nv_bfloat16;
                scale_mul<<<kGrid, 256>>>(static_cast<const T *>(ig), z, static_cast<T *>(du), rows, L, N);
                scale_mul<<<kGrid, 256>>>(static_cast<const T *>(u), z, static_cast<T *>(dig), rows, L, N);
            } else {
                using T = __half;
                scale_mul<<<kGrid, 256>>>(static_cast<const T *>(ig), z, static_cast<T *>(du), rows, L, N);
                scale_mul<<<kGrid, 256>>>(static_cast<const T *>(u), z, static_cast<T *>(dig), rows, L, N);
            }
            correlate_reduce<<<kGrid, 256>>>(V, DZ, G, B, H, int64_t(F));
            cufftExecC2R(c2r_h, G, dkfull);
            slice_scale<<<kGrid, 256>>>(dkfull, dk, H, K, N);
        };
        // Backward alone after one forward: it reuses z's buffer for dv, so a
        // repeated backward computes d_out_gate from stale values, in exactly the
        // same time. The results measured below come from a clean forward + backward.
        const int r = std::max(5, reps / 2);
        row.cufft_ms = timer.median_ms([&] { forward(); backward(); }, r);
        forward();
        row.cufft_bwd_ms = timer.median_ms(backward, r);
        forward();
        backward();
        CUDA_OK(cudaGetLastError());
        CUDA_OK(cudaDeviceSynchronize());
        double t1, t2;
        measure_backward_error(du, dk, u, ig, og, dy, k, B, H, L, n, bf16, row.cufft_du_err, t1, row.cufft_dk_err, t2);
        cufftDestroy(r2c);
        cufftDestroy(r2c_h);
        cufftDestroy(c2r);
        cufftDestroy(c2r_h);
        for (void *p : {(void *)v, (void *)z, (void *)V, (void *)P, (void *)DZ, (void *)kp, (void *)dkfull, (void *)Kf, (void *)G})
            cudaFree(p);
    }
    for (void *p : {u, ig, og, y, dy, du, dig, dog, (void *)k, (void *)dk}) cudaFree(p);
    return row;
}

}  // namespace

int main(int argc, char **argv) {
    std::vector<uint64_t> sizes;
    std::vector<ffc_dtype_t> dtypes = {FFC_DTYPE_FP16, FFC_DTYPE_BF16};
    int reps = 20;
    bool candidates = true;
    bool want_forward = false, want_backward = false;  // neither given: both
    std::string json;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--sizes") {
            std::string s = next();
            for (size_t p = 0; p < s.size();) {
                size_t q = s.find(',', p);
                if (q == std::string::npos) q = s.size();
                sizes.push_back(std::stoull(s.substr(p, q - p)));
                p = q + 1;
            }
        } else if (a == "--dtypes") {
            std::string s = next();
            dtypes.clear();
            if (s.find("fp16") != std::string::npos) dtypes.push_back(FFC_DTYPE_FP16);
            if (s.find("bf16") != std::string::npos) dtypes.push_back(FFC_DTYPE_BF16);
        } else if (a == "--reps") {
            reps = std::max(3, std::atoi(next().c_str()));
        } else if (a == "--json") {
            json = next();
        } else if (a == "--no-candidates") {
            candidates = false;
        } else if (a == "--forward") {
            want_forward = true;
        } else if (a == "--backward") {
            want_backward = true;
        } else if (a == "--kernel") {
            static std::string forced;
            forced = next();
            g_force_kernel = forced.c_str();
        } else if (a == "--trim") {
            g_trim = std::atoll(next().c_str());
        } else {
            std::fprintf(stderr,
                         "usage: %s [--sizes a,b,c] [--dtypes fp16,bf16] [--reps R] [--json FILE] [--no-candidates] "
                         "[--forward] [--backward] [--kernel NAME] [--trim D]\n",
                         argv[0]);
            return 2;
        }
    }
    if (!want_forward && !want_backward) want_forward = want_backward = true;
    if (sizes.empty())
        for (uint64_t n = FFC_MIN_FFT_SIZE; n <= FFC_MAX_FFT_SIZE; n *= 2) sizes.push_back(n);
    for (const uint64_t n : sizes)
        if (g_trim < 0 || uint64_t(g_trim) >= n) {
            std::fprintf(stderr, "ffc_bench: --trim %lld leaves no sequence at N = %llu\n", (long long)g_trim,
                         (unsigned long long)n);
            return 2;
        }
    if (!ffc_backend_available(FFC_BACKEND_CUDA)) {
        std::printf("ffc_bench: no CUDA device; nothing to measure (the demo runs on the CPU backend)\n");
        return 0;
    }
    cudaDeviceProp prop{};
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    Timer timer;
    const double bw = copy_bandwidth_gbps(timer);
    std::printf("device: %s, %d SMs; measured copy bandwidth %.0f GB/s; library %s\n", prop.name,
                prop.multiProcessorCount, bw, ffc_build_info());

    std::vector<Row> rows;
    for (ffc_dtype_t dt : dtypes)
        for (uint64_t n : want_forward ? sizes : std::vector<uint64_t>{}) {
            rows.push_back(run_size(n, dt, reps, candidates, bw, timer));
            const Row &r = rows.back();
            std::printf("  measured N=%-8llu %s: ours %.4g ms, cuFFT %.4g ms (unscaled, B=%lld H=%lld) %s\n",
                        (unsigned long long)r.n, r.dtype, r.ours_ms, r.cufft_ms, (long long)r.B, (long long)r.H,
                        r.note.c_str());
            std::fflush(stdout);
        }

    std::vector<BwdRow> brows;
    for (ffc_dtype_t dt : dtypes)
        for (uint64_t n : want_backward ? sizes : std::vector<uint64_t>{}) {
            brows.push_back(run_backward_size(n, dt, reps, bw, timer));
            const BwdRow &r = brows.back();
            std::printf("  measured N=%-8llu %s: ours fwd+bwd %.4g ms (bwd %.4g), cuFFT fwd+bwd %.4g ms (bwd %.4g) "
                        "(unscaled, B=%lld H=%lld) %s\n",
                        (unsigned long long)r.n, r.dtype, r.ours_ms, r.ours_bwd_ms, r.cufft_ms, r.cufft_bwd_ms,
                        (long long)r.B, (long long)r.H, r.note.c_str());
            std::fflush(stdout);
        }

    // Candidates beside the planner's pick.
    std::printf("\nCandidates (ms, scaled to B=64 H=768; * = planner's pick):\n");
    for (const Row &r : rows) {
        if (r.candidates.empty()) continue;
        std::printf("  N=%-8llu %s:", (unsigned long long)r.n, r.dtype);
        for (const Candidate &c : r.candidates)
            std::printf("  %s%s %.3f", c.pick ? "*" : "", c.kernel.c_str(), c.ms * r.scale);
        std::printf("\n");
    }

    if (!json.empty()) {
        FILE *f = std::fopen(json.c_str(), "w");
        if (f) {
            std::fprintf(f, "{\"device\":\"%s\",\"copy_gbps\":%.1f,\"rows\":[\n", prop.name, bw);
            for (size_t i = 0; i < rows.size(); ++i) {
                const Row &r = rows[i];
                std::fprintf(f,
                             "{\"n\":%llu,\"L\":%lld,\"dtype\":\"%s\",\"B\":%lld,\"H\":%lld,\"scale\":%.6g,\"ours_ms\":%.6g,"
                             "\"cufft_ms\":%.6g,\"floor_ms\":%.6g,\"rel_err\":%.4g,\"tol\":%.4g,\"cufft_rel_err\":%.4g,"
                             "\"kernel\":\"%s\",\"candidates\":[",
                             (unsigned long long)r.n, (long long)r.L, r.dtype, (long long)r.B, (long long)r.H, r.scale,
                             r.ours_ms * r.scale, r.cufft_ms * r.scale, r.floor_ms * r.scale, r.err, r.tol, r.cufft_err,
                             r.kernel.c_str());
                for (size_t j = 0; j < r.candidates.size(); ++j)
                    std::fprintf(f, "%s{\"kernel\":\"%s\",\"ms\":%.6g,\"pick\":%s}", j ? "," : "",
                                 r.candidates[j].kernel.c_str(), r.candidates[j].ms * r.scale,
                                 r.candidates[j].pick ? "true" : "false");
                std::fprintf(f, "]}%s\n", i + 1 < rows.size() ? "," : "");
            }
            std::fprintf(f, "],\"backward\":[\n");
            for (size_t i = 0; i < brows.size(); ++i) {
                const BwdRow &r = brows[i];
                std::fprintf(f,
                             "{\"n\":%llu,\"L\":%lld,\"dtype\":\"%s\",\"B\":%lld,\"H\":%lld,\"scale\":%.6g,"
                             "\"ours_ms\":%.6g,\"ours_fwd_ms\":%.6g,\"ours_bwd_ms\":%.6g,\"cufft_ms\":%.6g,\"cufft_bwd_ms\":%.6g,"
                             "\"floor_ms\":%.6g,\"floor_bwd_ms\":%.6g,\"du_rel_err\":%.4g,\"du_tol\":%.4g,"
                             "\"dk_rel_err\":%.4g,\"dk_tol\":%.4g,\"cufft_du_rel_err\":%.4g,\"cufft_dk_rel_err\":%.4g,"
                             "\"kernel\":\"%s\",\"note\":\"%s\"}%s\n",
                             (unsigned long long)r.n, (long long)r.L, r.dtype, (long long)r.B, (long long)r.H, r.scale,
                             r.ours_ms * r.scale, r.ours_fwd_ms * r.scale, r.ours_bwd_ms * r.scale, r.cufft_ms * r.scale,
                             r.cufft_bwd_ms * r.scale, r.floor_ms * r.scale, r.floor_bwd_ms * r.scale, r.du_err,
                             r.du_tol, r.dk_err, r.dk_tol, r.cufft_du_err, r.cufft_dk_err, r.kernel.c_str(),
                             json_safe(r.note).c_str(), i + 1 < brows.size() ? "," : "");
            }
            std::fprintf(f, "]}\n");
            std::fclose(f);
        }
    }

    bool ok = true;
    if (!rows.empty()) {
        std::printf("\nGated forward, ms scaled to B=64 H=768, L=N%s (floor = HBM bytes / measured copy bandwidth)\n",
                    g_trim ? ("-" + std::to_string(g_trim)).c_str() : "");
        std::printf("%-5s %-8s %9s %9s %9s %8s %8s %9s %9s %9s  %s\n", "dtype", "N", "ours", "cuFFT", "floor", "%floor",
                    "speedup", "rel_err", "tol", "cuFFTerr", "kernel");
    }
    for (const Row &r : rows) {
        const double ours = r.ours_ms * r.scale, base = r.cufft_ms * r.scale, fl = r.floor_ms * r.scale;
        if (r.ours_ms < 0) {
            std::printf("%-5s %-8llu %9s %9.3f %9.3f %8s %8s %9s %9s %9.2e  %s\n", r.dtype, (unsigned long long)r.n,
                        "n/a", base, fl, "-", "-", "-", "-", r.cufft_err, r.note.c_str());
            continue;
        }
        const bool pass = r.err <= r.tol;
        ok = ok && pass;
        std::printf("%-5s %-8llu %9.3f %9.3f %9.3f %7.1f%% %7.2fx %9.2e %9.2e %9.2e  %s%s\n", r.dtype,
                    (unsigned long long)r.n, ours, base, fl, 100.0 * fl / ours, base / ours, r.err, r.tol, r.cufft_err,
                    r.kernel.c_str(), pass ? "" : "  ERROR ABOVE TOLERANCE");
    }

    if (!brows.empty()) {
        std::printf("\nGated forward + backward (all four gradients), ms scaled to B=64 H=768, K=N, L=N%s\n"
                    "(floor: fwd+bwd = both passes' HBM bytes, bwd = read dy, u, gates, k; write du, gate grads, dk)\n",
                    g_trim ? ("-" + std::to_string(g_trim)).c_str() : "");
        std::printf("%-5s %-8s %9s %9s %9s %8s %8s | %9s %9s %9s %8s | %9s %9s %9s %9s  %s\n", "dtype", "N", "ours",
                    "cuFFT", "floor", "%floor", "speedup", "bwd", "cuFFTbwd", "bwdfloor", "%floor", "du_err", "du_tol",
                    "dk_err", "dk_tol", "kernel");
        for (const BwdRow &r : brows) {
            const double sc = r.scale;
            if (r.ours_ms < 0) {
                std::printf("%-5s %-8llu %9s %9.3f %9.3f %8s %8s | %9s %9.3f %9.3f %8s | %9s %9s %9s %9s  %s\n", r.dtype,
                            (unsigned long long)r.n, "n/a", r.cufft_ms * sc, r.floor_ms * sc, "-", "-", "n/a",
                            r.cufft_bwd_ms * sc, r.floor_bwd_ms * sc, "-", "-", "-", "-", "-", r.note.c_str());
                continue;
            }
            const bool pass = r.du_err <= r.du_tol && r.dk_err <= r.dk_tol;
            ok = ok && pass;
            std::printf("%-5s %-8llu %9.3f %9.3f %9.3f %7.1f%% %7.2fx | %9.3f %9.3f %9.3f %7.1f%% | %9.2e %9.2e %9.2e "
                        "%9.2e  %s%s\n",
                        r.dtype, (unsigned long long)r.n, r.ours_ms * sc, r.cufft_ms * sc, r.floor_ms * sc,
                        100.0 * r.floor_ms / r.ours_ms, r.cufft_ms / r.ours_ms, r.ours_bwd_ms * sc, r.cufft_bwd_ms * sc,
                        r.floor_bwd_ms * sc, 100.0 * r.floor_bwd_ms / r.ours_bwd_ms, r.du_err, r.du_tol, r.dk_err,
                        r.dk_tol, r.kernel.c_str(), pass ? "" : "  ERROR ABOVE TOLERANCE");
        }
        std::printf("cuFFT baseline errors (du, dk):");
        for (const BwdRow &r : brows)
            std::printf(" %s/%llu %.2e %.2e;", r.dtype, (unsigned long long)r.n, r.cufft_du_err, r.cufft_dk_err);
        std::printf("\n");
    }
    return ok ? 0 : 1;
}
