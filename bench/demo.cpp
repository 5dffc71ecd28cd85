// ffc_demo: one real gated causal convolution through the public C API, checked
// against an fp64 reference.
//
//   ffc_demo [--cpu] [--dtype fp16|bf16] [--B n] [--H n] [--L n] [--K n] [--N n] [--reps n]
//
// It runs on the CUDA backend when one is available (compiled in and a device
// present), otherwise on the CPU backend, prints the planner's description of the
// plan, the time per call, and the rel-L2 error against an FFTW fp64 reference
// computed from the same (already rounded) inputs. It exits with 1 when the error
// exceeds the DESIGN §3 tolerance (2× the error of correctly rounding the exact
// result: 4.1e-4 for fp16, 3.3e-3 for bf16), with 2 on any API or usage error.
//
// Only the public header is used: this is what a downstream program looks like.
#include <fftw3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "flashfftconv/flashfftconv.h"

#if FFC_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace {

// ----------------------------------------------------------------- utilities

[[noreturn]] void die(const char *what, ffc_status_t st) {
    std::fflush(stdout);  // keep the report in order when both streams go to one log
    char msg[512];
    ffc_last_error_message(msg, sizeof msg);
    std::fprintf(stderr, "ffc_demo: %s failed: %s (%d): %s\n", what, ffc_status_string(st), int(st), msg);
    std::exit(2);
}
#define FFC_CHECK(call)                              \
    do {                                             \
        const ffc_status_t st_ = (call);             \
        if (st_ != FFC_SUCCESS) die(#call, st_);     \
    } while (0)

#if FFC_WITH_CUDA
#define CUDA_CHECK(call)                                                                             \
    do {                                                                                             \
        const cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess) {                                                                     \
            std::fprintf(stderr, "ffc_demo: %s failed: %s\n", #call, cudaGetErrorString(e_));        \
            std::exit(2);                                                                            \
        }                                                                                            \
    } while (0)
#endif

// fp16 / bf16 encoding, round to nearest even. The demo stores its inputs in the
// I/O dtype and decodes the very same bits for the reference, so the measured
// error is the library's alone.
uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

uint16_t to_bf16(float f) {
    const uint32_t u = bits_of(f);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);  // finite inputs only
}
float from_bf16(uint16_t h) { return float_of(uint32_t(h) << 16); }

uint16_t to_fp16(float f) {
    // Via double arithmetic: scale into fp16's grid and let rint() round to even.
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    double a = std::fabs(double(f));
    if (a >= 65520.0) return uint16_t(sign | 0x7c00);              // overflow -> Inf
    int e;
    std::frexp(a, &e);                                              // a = m * 2^e, m in [0.5, 1)
    const int exp = std::max(e - 1, -14);                           // subnormals share exponent -14
    const double q = std::rint(std::ldexp(a, 10 - exp));            // 11 significant bits
    uint32_t bits = uint32_t(q);
    if (bits == 0) return sign;
    uint32_t biased = uint32_t(exp + 15);
    if (bits >= 2048) { bits >>= 1; ++biased; }                     // rounding carried into the exponent
    if (bits < 1024) return uint16_t(sign | bits);                  // subnormal
    return uint16_t(sign | (biased << 10) | (bits & 0x3ffu));
}
float from_fp16(uint16_t h) {
    const int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    const float mag = exp == 0 ? std::ldexp(float(man), -24) : std::ldexp(float(man | 0x400), exp - 25);
    return (h & 0x8000) ? -mag : mag;
}

struct Options {
    bool force_cpu = false;
    bool sizes_given = false;
    ffc_dtype_t dtype = FFC_DTYPE_FP16;
    int64_t B = 0, H = 0, L = 0, K = 0, N = 0;
    int reps = 0;
};

void usage() {
    std::fprintf(stderr,
                 "usage: ffc_demo [--cpu] [--dtype fp16|bf16] [--B n] [--H n] [--L n] [--K n] [--N n] [--reps n]\n");
    std::exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> long long {
            if (i + 1 >= argc) usage();
            char *end = nullptr;
            const long long v = std::strtoll(argv[++i], &end, 10);
            if (*end != '\0' || v < 1) usage();
            return v;
        };
        if (a == "--cpu") o.force_cpu = true;
        else if (a == "--dtype") {
            if (i + 1 >= argc) usage();
            const std::string t = argv[++i];
            if (t == "fp16") o.dtype = FFC_DTYPE_FP16;
            else if (t == "bf16") o.dtype = FFC_DTYPE_BF16;
            else usage();
        }
        else if (a == "--B") { o.B = value(); o.sizes_given = true; }
        else if (a == "--H") { o.H = value(); o.sizes_given = true; }
        else if (a == "--L") { o.L = value(); o.sizes_given = true; }
        else if (a == "--K") { o.K = value(); o.sizes_given = true; }
        else if (a == "--N") { o.N = value(); o.sizes_given = true; }
        else if (a == "--reps") o.reps = int(value());
        else usage();
    }
    return o;
}

// Fills what the command line left open. Default problem: a kernel as long as the
// sequence; the GPU one is larger but stays within the fused path (N <= 16K).
// The default N is the smallest power of two with L + K - 1 <= N, which makes
// the convolution causal (no circular wrap-around): N = 2L here.
void fill_defaults(Options &o, bool gpu) {
    if (o.B == 0) o.B = gpu ? 16 : 4;
    if (o.H == 0) o.H = gpu ? 256 : 32;
    if (o.L == 0) o.L = gpu ? 8192 : 4096;
    if (o.K == 0) o.K = o.L;
    if (o.N == 0) {
        o.N = FFC_MIN_FFT_SIZE;
        while (o.N < o.L + o.K - 1 && o.N < int64_t(FFC_MAX_FFT_SIZE)) o.N *= 2;
    }
    if (o.reps == 0) o.reps = gpu ? 20 : 3;
}

// ------------------------------------------------------------ fp64 reference
//
// y = out_gate ⊙ z, z[t] = Σ_s k[s] v[(t − s) mod N] for t < L, v = in_gate ⊙ u,
// by FFTW in double, one sequence at a time, channels spread over threads.
// Returns the rel-L2 error ||y − y_ref|| / ||y_ref||.
double reference_error(const Options &o, const std::vector<float> &u, const std::vector<float> &k,
                       const std::vector<float> &ig, const std::vector<float> &og, const std::vector<float> &y) {
    const int64_t n = o.N, nc = n / 2 + 1;
    double *rin = fftw_alloc_real(size_t(n));
    fftw_complex *spec = fftw_alloc_complex(size_t(nc));
    // Planned once here: FFTW's planner is not thread-safe, its execution is.
    const fftw_plan fwd = fftw_plan_dft_r2c_1d(int(n), rin, spec, FFTW_ESTIMATE);
    const fftw_plan inv = fftw_plan_dft_c2r_1d(int(n), spec, rin, FFTW_ESTIMATE);
    fftw_free(rin);
    fftw_free(spec);

    const unsigned workers = std::max(1u, std::min(std::thread::hardware_concurrency(), 16u));
    std::vector<double> err2(workers, 0.0), ref2(workers, 0.0);
    std::vector<std::thread> pool;
    for (unsigned w = 0; w < workers; ++w) {
        pool.emplace_back([&, w] {
            // New-array execution is thread-safe with fftw_malloc'd (equally aligned) buffers.
            double *x = fftw_alloc_real(size_t(n));
            fftw_complex *kf = fftw_alloc_complex(size_t(nc));
            fftw_complex *xf = fftw_alloc_complex(size_t(nc));
            for (int64_t h = w; h < o.H; h += workers) {
                std::fill(x, x + n, 0.0);
                for (int64_t s = 0; s < o.K; ++s) x[s] = k[size_t(h * o.K + s)];
                fftw_execute_dft_r2c(fwd, x, kf);
                for (int64_t b = 0; b < o.B; ++b) {
                    const size_t row = size_t((b * o.H + h) * o.L);
                    std::fill(x, x + n, 0.0);
                    for (int64_t t = 0; t < o.L; ++t) x[t] = double(ig[row + t]) * double(u[row + t]);
                    fftw_execute_dft_r2c(fwd, x, xf);
                    for (int64_t f = 0; f < nc; ++f) {
                        const double re = xf[f][0] * kf[f][0] - xf[f][1] * kf[f][1];
                        const double im = xf[f][0] * kf[f][1] + xf[f][1] * kf[f][0];
                        xf[f][0] = re;
                        xf[f][1] = im;
                    }
                    fftw_execute_dft_c2r(inv, xf, x);
                    for (int64_t t = 0; t < o.L; ++t) {
                        const double ref = double(og[row + t]) * x[t] / double(n);
                        const double d = double(y[row + t]) - ref;
                        err2[w] += d * d;
                        ref2[w] += ref * ref;
                    }
                }
            }
            fftw_free(x);
            fftw_free(kf);
            fftw_free(xf);
        });
    }
    for (std::thread &t : pool) t.join();
    fftw_destroy_plan(fwd);
    fftw_destroy_plan(inv);
    double e = 0, r = 0;
    for (unsigned w = 0; w < workers; ++w) { e += err2[w]; r += ref2[w]; }
    return std::sqrt(e / r);
}

// ------------------------------------------------------------------ running

struct HostTensors {
    std::vector<uint16_t> u, ig, og, y;  // I/O dtype bits
    std::vector<float> k;
};

// Runs `run` (which returns its own time in ms) `reps` times; the median.
template <class F>
double median_ms(int reps, F &&run) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) t.push_back(run());
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double run_cpu(ffc_plan_t plan, const ffc_shape_t &shape, HostTensors &h, int reps) {
    size_t ws_size = 0;
    FFC_CHECK(ffc_plan_get_workspace_size(plan, &shape, &ws_size));
    std::vector<unsigned char> ws(ws_size);
    void *wsp = ws_size ? ws.data() : nullptr;
    auto call = [&] {
        const auto t0 = std::chrono::steady_clock::now();
        FFC_CHECK(ffc_conv_forward(plan, &shape, h.u.data(), h.k.data(), h.ig.data(), h.og.data(), h.y.data(), wsp,
                                   ws_size, nullptr));
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    call();  // warm-up
    return median_ms(reps, call);
}

#if FFC_WITH_CUDA
double run_gpu(ffc_plan_t plan, const ffc_shape_t &shape, HostTensors &h, int reps) {
    size_t ws_size = 0;
    FFC_CHECK(ffc_plan_get_workspace_size(plan, &shape, &ws_size));
    const size_t io_bytes = h.u.size() * sizeof(uint16_t), k_bytes = h.k.size() * sizeof(float);
    void *u, *ig, *og, *y, *ws = nullptr;
    float *k;
    CUDA_CHECK(cudaMalloc(&u, io_bytes));
    CUDA_CHECK(cudaMalloc(&ig, io_bytes));
    CUDA_CHECK(cudaMalloc(&og, io_bytes));
    CUDA_CHECK(cudaMalloc(&y, io_bytes));
    CUDA_CHECK(cudaMalloc(&k, k_bytes));
    if (ws_size) CUDA_CHECK(cudaMalloc(&ws, ws_size));
    CUDA_CHECK(cudaMemcpy(u, h.u.data(), io_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(ig, h.ig.data(), io_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(og, h.og.data(), io_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(k, h.k.data(), k_bytes, cudaMemcpyHostToDevice));
    cudaStream_t stream;
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaStreamCreate(&stream));
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    auto call = [&] {
        CUDA_CHECK(cudaEventRecord(start, stream));
        FFC_CHECK(ffc_conv_forward(plan, &shape, u, k, ig, og, y, ws, ws_size, stream));
        CUDA_CHECK(cudaEventRecord(stop, stream));
        CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        return double(ms);
    };
    call();  // warm-up
    const double ms = median_ms(reps, call);
    CUDA_CHECK(cudaMemcpy(h.y.data(), y, io_bytes, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
    CUDA_CHECK(cudaStreamDestroy(stream));
    for (void *p : {u, ig, og, y, static_cast<void *>(k), ws}) CUDA_CHECK(cudaFree(p));
    return ms;
}
#endif

}  // namespace

int main(int argc, char **argv) {
    Options opt = parse(argc, argv);
    std::printf("libflashfftconv %s %s\n", ffc_version_string(), ffc_build_info());

    bool gpu = !opt.force_cpu && ffc_backend_available(FFC_BACKEND_CUDA);
#if !FFC_WITH_CUDA
    // The library may have a CUDA backend while this program was built without
    // the CUDA runtime; then it cannot allocate device memory, so it stays on the CPU.
    if (gpu) std::printf("note: ffc_demo was built without CUDA; using the CPU backend\n");
    gpu = false;
#endif
    fill_defaults(opt, gpu);

    ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
    desc.fft_size = uint64_t(opt.N);
    desc.dtype = opt.dtype;
    desc.backend = gpu ? FFC_BACKEND_CUDA : FFC_BACKEND_CPU;
    ffc_plan_t plan = nullptr;
    ffc_status_t st = ffc_plan_create(&plan, &desc);
    if (gpu && (st == FFC_ERROR_NO_KERNEL || st == FFC_ERROR_NOT_SUPPORTED)) {
        // The CUDA backend does not (yet) cover this size: say so and show the CPU path.
        char msg[512];
        ffc_last_error_message(msg, sizeof msg);
        std::printf("note: the CUDA backend cannot run N = %lld (%s: %s); using the CPU backend\n",
                    (long long)opt.N, ffc_status_string(st), msg);
        gpu = false;
        if (!opt.sizes_given) {  // the CPU-sized default problem
            opt.B = opt.H = opt.L = opt.K = opt.N = 0;
            opt.reps = 0;
            fill_defaults(opt, false);
            desc.fft_size = uint64_t(opt.N);
        }
        desc.backend = FFC_BACKEND_CPU;
        st = ffc_plan_create(&plan, &desc);
    }
    if (st != FFC_SUCCESS) die("ffc_plan_create", st);

    const char *dtype_name = opt.dtype == FFC_DTYPE_FP16 ? "fp16" : "bf16";
    std::printf("backend: %s%s\n", gpu ? "CUDA" : "CPU",
                gpu ? "" : (ffc_backend_available(FFC_BACKEND_CUDA) ? "" : " (no CUDA device)"));
    std::printf("problem: gated causal convolution, B=%lld H=%lld L=%lld K=%lld N=%lld, %s I/O, fp32 k\n",
                (long long)opt.B, (long long)opt.H, (long long)opt.L, (long long)opt.K, (long long)opt.N, dtype_name);

    size_t need = 0;
    st = ffc_plan_describe(plan, nullptr, 0, &need);  // size query
    if (st != FFC_ERROR_BUFFER_TOO_SMALL) die("ffc_plan_describe (size query)", st);
    std::string text(need, '\0');
    FFC_CHECK(ffc_plan_describe(plan, &text[0], need, nullptr));
    std::printf("\n%s\n", text.c_str());

    // Gaussian data (the distribution DESIGN §3's tolerances are stated for),
    // k scaled so that z has unit variance and fp16 cannot overflow.
    const size_t elems = size_t(opt.B * opt.H * opt.L), k_elems = size_t(opt.H * opt.K);
    HostTensors h;
    std::mt19937_64 rng(20231113);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    auto encode = [&](float v) { return opt.dtype == FFC_DTYPE_FP16 ? to_fp16(v) : to_bf16(v); };
    auto decode = [&](uint16_t b) { return opt.dtype == FFC_DTYPE_FP16 ? from_fp16(b) : from_bf16(b); };
    for (auto *t : {&h.u, &h.ig, &h.og}) {
        t->resize(elems);
        for (uint16_t &x : *t) x = encode(gauss(rng));
    }
    h.y.assign(elems, 0);
    h.k.resize(k_elems);
    const float k_scale = 1.0f / std::sqrt(float(opt.K));
    for (float &x : h.k) x = gauss(rng) * k_scale;

    const ffc_shape_t shape = {opt.B, opt.H, opt.L, opt.K};
    double ms;
#if FFC_WITH_CUDA
    ms = gpu ? run_gpu(plan, shape, h, opt.reps) : run_cpu(plan, shape, h, opt.reps);
#else
    ms = run_cpu(plan, shape, h, opt.reps);
#endif
    ffc_plan_destroy(plan);

    // Minimal traffic: read u and both gates, write y (dtype), read k (fp32).
    const double bytes = 4.0 * double(elems) * 2.0 + double(k_elems) * 4.0;
    std::printf("time: %.3f ms per call (median of %d), %.1f GB/s of minimal I/O\n", ms, opt.reps,
                bytes / (ms * 1e-3) / 1e9);

    std::vector<float> u(elems), ig(elems), og(elems), y(elems);
    for (size_t i = 0; i < elems; ++i) {
        u[i] = decode(h.u[i]);
        ig[i] = decode(h.ig[i]);
        og[i] = decode(h.og[i]);
        y[i] = decode(h.y[i]);
    }
    const double err = reference_error(opt, u, h.k, ig, og, y);
    const double tol = opt.dtype == FFC_DTYPE_FP16 ? 4.1e-4 : 3.3e-3;
    const bool ok = err <= tol;  // false for NaN too
    std::printf("error: rel-L2 %.3e against the fp64 reference; tolerance %.1e (DESIGN §3): %s\n", err, tol,
                ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
