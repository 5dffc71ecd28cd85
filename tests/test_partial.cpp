// Partial convolution (FFC_PLAN_PARTIAL): the causal linear convolution of any
// seq_len on a plan of FFT size N, by overlap-save windows (src/partial).
//
// The oracle is the same fp64 reference as everywhere, asked for the linear
// convolution: a reference FFT size of at least L + K − 1 means nothing wraps.
// Tolerances are the precision rule's (2× correct rounding for fp16/bf16, the
// fp32 bound of the plan's N for fp32 and dk; on CUDA with its documented
// split-bf16 factor). Every output is NaN-poisoned before each call and the
// workspace is filled with NaN bytes.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/executor.hpp"
#include "common/half.hpp"
#include "flashfftconv/flashfftconv.h"
#include "api_harness.hpp"
#include "oracle.hpp"
#include "plan/planner.hpp"

#if FFC_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/cuda_host.hpp"
#include "cuda_test_util.hpp"
#endif

using ffc_test::Case;
using ffc_test::HostTensor;
using ffc_test::Problem;
using ffc_test::Memory;
using ffc_test::Outputs;
using ffc_test::Wanted;
using ffc_test::bitwise_equal;
using ffc_test::run_api;

namespace {

int64_t next_pow2(int64_t x) {
    int64_t p = 1;
    while (p < x) p *= 2;
    return p;
}

// The oracle's problem for a partial case: an FFT size at which the
// convolution does not wrap.
ffc_test::ConvProblem linear_problem(const Case &c) {
    return c.problem(std::max<int64_t>(next_pow2(c.L + c.K - 1), 256));
}

// A partial plan through the public API.
struct PartialPlan {
    ffc_plan_t handle = nullptr;
    PartialPlan(int64_t n, ffc_dtype_t dtype, ffc_backend_t backend, uint32_t flags = FFC_PLAN_PARTIAL) {
        ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
        d.fft_size = uint64_t(n);
        d.dtype = dtype;
        d.backend = backend;
        d.flags = flags;
        FFC_TEST_REQUIRE_OK(ffc_plan_create(&handle, &d));
    }
    ~PartialPlan() { ffc_plan_destroy(handle); }
    PartialPlan(const PartialPlan &) = delete;
    PartialPlan &operator=(const PartialPlan &) = delete;
};


// The CUDA backend's tolerance factor for fp32 outputs and dk (see cuda_test_util.hpp).
double fp32_factor(bool cuda) { return cuda ? 128.0 : 1.0; }

void check_against_oracle(const Problem &p, const Outputs &o, bool cuda, Wanted w = {}) {
    const Case &c = p.c;
    const ffc_test::ConvProblem lp = linear_problem(c);
    const ffc_test::ConvInputs in = p.inputs();
    const ffc_test::ErrorScales sc = ffc_test::error_scales(lp, in, p.dy.data());
    auto tol = [&](const std::vector<double> &ref, double scale) {
        const double t = ffc_test::tolerance(ref, c.dtype, c.n, scale);
        return c.dtype == FFC_DTYPE_FP32 ? t * fp32_factor(cuda) : t;
    };
    const std::vector<double> y_ref = ffc_test::reference_forward(lp, in);
    const double ey = ffc_test::rel_l2(o.y, y_ref), ty = tol(y_ref, sc.y);
    INFO("y: rel-L2 " << ey << ", tolerance " << ty);
    CHECK(ey <= ty);

    const ffc_test::BackwardReference ref = ffc_test::reference_backward(lp, in, p.dy.data());
    if (w.du) {
        const double e = ffc_test::rel_l2(o.du, ref.du), t = tol(ref.du, sc.du);
        INFO("du: rel-L2 " << e << ", tolerance " << t);
        CHECK(e <= t);
    } else {
        CHECK(ffc_test::all_poisoned(o.du));
    }
    if (w.dk) {
        const double e = ffc_test::rel_l2(o.dk, ref.dk), t = ffc_test::dk_tolerance(ref.dk, c.n, sc.dk) * fp32_factor(cuda);
        INFO("dk: rel-L2 " << e << ", tolerance " << t);
        CHECK(e <= t);
    } else {
        CHECK(ffc_test::all_poisoned(o.dk));
    }
    if (!c.gated) return;
    if (w.d_in_gate) {
        const double e = ffc_test::rel_l2(o.d_in_gate, ref.d_in_gate), t = tol(ref.d_in_gate, sc.d_in_gate);
        INFO("d_in_gate: rel-L2 " << e << ", tolerance " << t);
        CHECK(e <= t);
    } else {
        CHECK(ffc_test::all_poisoned(o.d_in_gate));
    }
    if (w.d_out_gate) {
        const double e = ffc_test::rel_l2(o.d_out_gate, ref.d_out_gate), t = tol(ref.d_out_gate, sc.d_out_gate);
        INFO("d_out_gate: rel-L2 " << e << ", tolerance " << t);
        CHECK(e <= t);
    } else {
        CHECK(ffc_test::all_poisoned(o.d_out_gate));
    }
}

// Shapes that need windows (L + K − 1 > N) on a plan of N = 256 or 512, and two
// that do not: K = 1 (a window keeps all N), K = N/2 (the longest), L just
// above one window, L = N itself (linear, unlike the plain plan's circular
// result), odd L and B, one channel, a tail window that keeps a single output.
std::vector<Case> small_cases(ffc_dtype_t dt, bool gated) {
    std::vector<Case> v = {
        {256, 3, 2, 1000, 1}, {256, 3, 2, 1000, 5},  {256, 1, 3, 2049, 128}, {256, 2, 1, 257, 2},
        {256, 3, 2, 256, 7},  {512, 3, 2, 4099, 100}, {256, 1, 1, 2 * 128 + 1, 128},  // step 128: the last window keeps 1
        {256, 2, 2, 200, 57},                                                        // one window: the plain plan's path
    };
    for (Case &c : v) {
        c.dtype = dt;
        c.gated = gated;
    }
    return v;
}

const ffc_dtype_t kDtypes[] = {FFC_DTYPE_FP16, FFC_DTYPE_BF16, FFC_DTYPE_FP32};

// The library's own executors, wrapped with a small chunk budget: on the CPU
// (cuda = false) or the current CUDA device.
struct SmallChunks {
    ffc::plan::Decision decision;
    std::unique_ptr<ffc::Executor> exec;
    SmallChunks(int64_t n, ffc_dtype_t dtype, bool cuda, int64_t chunk_elements, bool in_place = true,
                const std::string &kernel = {}) {
        ffc::plan::DeviceCaps caps = ffc::plan::device_preset("cpu");
#if FFC_WITH_CUDA
        int device = 0;
        if (cuda) {
            device = ffc::cuda::current_device();
            caps = ffc::cuda::query_device_caps(device);
        }
#endif
        decision = ffc::plan::make_plan(uint64_t(n), ffc::DType(dtype), cuda ? ffc::Backend::cuda : ffc::Backend::cpu,
                                        caps, {}, kernel);
        std::unique_ptr<ffc::Executor> backend;
#if FFC_WITH_CUDA
        if (cuda) backend = ffc::make_cuda_executor(decision, device);
#endif
        if (!cuda) backend = ffc::make_cpu_executor(decision, 2);
        exec = ffc::make_partial_executor(std::move(backend), decision, chunk_elements, in_place);
    }
};

Outputs run_small_chunks(const SmallChunks &sc, const Problem &p, bool cuda) {
    Memory mem;
    mem.cuda = cuda;
    const ffc::Shape s{p.c.B, p.c.H, p.c.L, p.c.K};
    const size_t ws_size = sc.exec->workspace_size(s);
    void *ws = mem.alloc(ws_size);
    return ffc_test::run(
        p, mem, Wanted{},
        [&](const void *u, const float *k, const void *ig, const void *og, void *y) {
            ffc::ForwardArgs a;
            a.shape = s; a.u = u; a.k = k; a.in_gate = ig; a.out_gate = og; a.y = y;
            a.workspace = ws; a.workspace_size = ws_size;
            sc.exec->forward(a);
        },
        [&](const void *dy, const void *u, const float *k, const void *ig, const void *og, void *du, float *dk,
            void *dig, void *dog) {
            ffc::BackwardArgs a;
            a.shape = s; a.dy = dy; a.u = u; a.k = k; a.in_gate = ig; a.out_gate = og;
            a.du = du; a.dk = dk; a.d_in_gate = dig; a.d_out_gate = dog;
            a.workspace = ws; a.workspace_size = ws_size;
            sc.exec->backward(a);
        });
}

}  // namespace

// ---------------------------------------------------------------------------
// CPU backend
// ---------------------------------------------------------------------------

TEST_CASE("partial: forward and all four gradients are the causal linear convolution's, L > N", "[cpu][partial]") {
    for (ffc_dtype_t dt : kDtypes) {
        PartialPlan p256(256, dt, FFC_BACKEND_CPU), p512(512, dt, FFC_BACKEND_CPU);
        for (int gated = 0; gated < 2; ++gated)
            for (const Case &c : small_cases(dt, gated != 0)) {
                ffc_test::Rng rng;
                INFO(c.str() << ", seed " << rng.seed());
                const Problem p(c, rng);
                check_against_oracle(p, run_api(c.n == 256 ? p256.handle : p512.handle, p, false), false);
            }
    }
}

TEST_CASE("partial: small chunks (channels and windows split, dk summed over chunks) give the oracle's result",
          "[cpu][partial]") {
    // N = 256, chunks of 3 windows (odd: the pairs of two-for-one cross no
    // chunk) or 2·N elements: every channel's dk is the sum of several chunks.
    for (int64_t chunk : {int64_t(3) * 256, int64_t(2) * 256, int64_t(40) * 256}) {
        for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_FP32}) {
            const SmallChunks sc(256, dt, false, chunk);
            Case c{256, 3, 5, 1500, 77, dt, true};
            ffc_test::Rng rng;
            INFO(c.str() << ", chunk " << chunk << " elements, seed " << rng.seed());
            const Problem p(c, rng);
            const Outputs a = run_small_chunks(sc, p, false);
            check_against_oracle(p, a, false);
            // Deterministic: the same bits again (dk's chunk sums included).
            CHECK(bitwise_equal(a, run_small_chunks(sc, p, false)));
        }
    }
}

TEST_CASE("partial: without a wrap the result is the plain plan's, bit for bit", "[cpu][partial]") {
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    for (const Case &c : {Case{256, 3, 2, 200, 57, FFC_DTYPE_FP16, true}, Case{512, 2, 2, 512, 1, FFC_DTYPE_BF16, true},
                          Case{256, 1, 2, 129, 128, FFC_DTYPE_FP32, false}}) {
        INFO(c.str());
        const Problem p(c, rng);
        PartialPlan partial(c.n, c.dtype, FFC_BACKEND_CPU), plain(c.n, c.dtype, FFC_BACKEND_CPU, FFC_PLAN_DEFAULT);
        CHECK(bitwise_equal(run_api(partial.handle, p, false), run_api(plain.handle, p, false)));
    }
}

TEST_CASE("partial: each backward output alone; the others stay untouched", "[cpu][partial]") {
    PartialPlan plan(256, FFC_DTYPE_FP16, FFC_BACKEND_CPU);
    const Case c{256, 3, 2, 900, 60, FFC_DTYPE_FP16, true};
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    const Problem p(c, rng);
    for (int which = 0; which < 4; ++which) {
        Wanted w{which == 0, which == 1, which == 2, which == 3};
        INFO("only output " << which << " (du, dk, d_in_gate, d_out_gate)");
        check_against_oracle(p, run_api(plan.handle, p, false, w), false, w);
    }
}

TEST_CASE("partial: a precomputed spectrum gives exactly ffc_conv_forward's and ffc_conv_backward's results", "[cpu][partial]") {
    PartialPlan plan(256, FFC_DTYPE_BF16, FFC_BACKEND_CPU);
    const Case c{256, 3, 3, 1111, 100, FFC_DTYPE_BF16, true};
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    const Problem p(c, rng);
    const ffc_shape_t s = c.shape();
    size_t ws_size = 0, spec_size = 0;
    FFC_TEST_REQUIRE_OK(ffc_plan_get_workspace_size(plan.handle, &s, &ws_size));
    FFC_TEST_REQUIRE_OK(ffc_kernel_spectrum_get_size(plan.handle, &s, &spec_size));
    std::vector<unsigned char> ws(ws_size, 0xff), spec(spec_size, 0xff);
    FFC_TEST_REQUIRE_OK(ffc_kernel_spectrum_compute(plan.handle, &s, p.k.data(), spec.data(), spec_size, nullptr));
    HostTensor y1(c.dtype, c.elements()), y2(c.dtype, c.elements());
    ffc_test::poison(y1);
    ffc_test::poison(y2);
    FFC_TEST_REQUIRE_OK(ffc_conv_forward(plan.handle, &s, p.u.data(), p.k.data(), p.ig.data(), p.og.data(), y1.data(),
                                        ws.data(), ws_size, nullptr));
    FFC_TEST_REQUIRE_OK(ffc_conv_forward_spectrum(plan.handle, &s, p.u.data(), spec.data(), spec_size, p.ig.data(),
                                                 p.og.data(), y2.data(), ws.data(), ws_size, nullptr));
    CHECK(y1.bitwise_equal(y2));
    CHECK(!ffc_test::all_poisoned(y1));

    // And ffc_conv_backward_spectrum: ffc_conv_backward's gradients, bitwise.
    const size_t elems = size_t(c.elements());
    HostTensor g1[3] = {HostTensor(c.dtype, int64_t(elems)), HostTensor(c.dtype, int64_t(elems)),
                        HostTensor(c.dtype, int64_t(elems))};
    HostTensor g2[3] = {HostTensor(c.dtype, int64_t(elems)), HostTensor(c.dtype, int64_t(elems)),
                        HostTensor(c.dtype, int64_t(elems))};
    std::vector<float> dk1(size_t(c.H * c.K)), dk2(dk1.size());
    for (int i = 0; i < 3; ++i) {
        ffc_test::poison(g1[i]);
        ffc_test::poison(g2[i]);
    }
    ffc_test::poison(dk1);
    ffc_test::poison(dk2);
    FFC_TEST_REQUIRE_OK(ffc_conv_backward(plan.handle, &s, p.dy.data(), p.u.data(), p.k.data(), p.ig.data(), p.og.data(),
                                         g1[0].data(), dk1.data(), g1[1].data(), g1[2].data(), ws.data(), ws_size,
                                         nullptr));
    FFC_TEST_REQUIRE_OK(ffc_conv_backward_spectrum(plan.handle, &s, p.dy.data(), p.u.data(), spec.data(), spec_size,
                                                  p.ig.data(), p.og.data(), g2[0].data(), dk2.data(), g2[1].data(),
                                                  g2[2].data(), ws.data(), ws_size, nullptr));
    for (int i = 0; i < 3; ++i) {
        CHECK(g1[i].bitwise_equal(g2[i]));
        CHECK(!ffc_test::all_poisoned(g1[i]));
    }
    CHECK(std::memcmp(dk1.data(), dk2.data(), dk1.size() * sizeof(float)) == 0);
}

TEST_CASE("partial: argument errors get their status and write nothing", "[cpu][partial]") {
    PartialPlan plan(256, FFC_DTYPE_FP16, FFC_BACKEND_CPU);
    ffc_plan_t plain = nullptr;
    ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
    d.fft_size = 256;
    d.backend = FFC_BACKEND_CPU;
    REQUIRE(ffc_plan_create(&plain, &d) == FFC_SUCCESS);
    size_t ws = 0;

    // Shapes: the plain plan takes no L > N; the partial plan takes any L, but a
    // kernel above N/2 only without windows.
    ffc_shape_t s{1, 1, 257, 3};
    CHECK(ffc_plan_get_workspace_size(plain, &s, &ws) == FFC_ERROR_INVALID_SHAPE);
    CHECK(ffc_test::last_error_text().find("FFC_PLAN_PARTIAL") != std::string::npos);
    CHECK(ffc_plan_get_workspace_size(plan.handle, &s, &ws) == FFC_SUCCESS);
    s = ffc_shape_t{1, 1, 1000, 129};
    CHECK(ffc_plan_get_workspace_size(plan.handle, &s, &ws) == FFC_ERROR_INVALID_SHAPE);
    CHECK(ffc_test::last_error_text().find("N/2") != std::string::npos);
    s = ffc_shape_t{1, 1, 128, 129};  // L + K − 1 = 256: no window needed
    CHECK(ffc_plan_get_workspace_size(plan.handle, &s, &ws) == FFC_SUCCESS);
    s = ffc_shape_t{1, 1, 1000, 257};
    CHECK(ffc_plan_get_workspace_size(plan.handle, &s, &ws) == FFC_ERROR_INVALID_SHAPE);
    s = ffc_shape_t{int64_t(1) << 40, int64_t(1) << 10, int64_t(1) << 20, 3};
    CHECK(ffc_plan_get_workspace_size(plan.handle, &s, &ws) == FFC_ERROR_INVALID_SHAPE);

    // Unknown flag bits next to FFC_PLAN_PARTIAL.
    ffc_plan_t bad = nullptr;
    d.flags = FFC_PLAN_PARTIAL | 2u;
    CHECK(ffc_plan_create(&bad, &d) == FFC_ERROR_INVALID_FLAGS);
    CHECK(bad == nullptr);

    // y == u has no partial form; a short workspace is refused. y stays poisoned.
    const Case c{256, 1, 1, 1000, 10, FFC_DTYPE_FP16, false};
    ffc_test::Rng rng;
    const Problem p(c, rng);
    s = c.shape();
    REQUIRE(ffc_plan_get_workspace_size(plan.handle, &s, &ws) == FFC_SUCCESS);
    std::vector<unsigned char> work(ws);
    HostTensor inplace = p.u;
    CHECK(ffc_conv_forward(plan.handle, &s, inplace.data(), p.k.data(), nullptr, nullptr, inplace.data(), work.data(),
                           ws, nullptr) == FFC_ERROR_INVALID_ARGUMENT);
    CHECK(ffc_test::last_error_text().find("in-place") != std::string::npos);
    CHECK(inplace.bitwise_equal(p.u));
    HostTensor y(c.dtype, c.elements());
    ffc_test::poison(y);
    CHECK(ffc_conv_forward(plan.handle, &s, p.u.data(), p.k.data(), nullptr, nullptr, y.data(), work.data(), ws - 1,
                           nullptr) == FFC_ERROR_WORKSPACE_TOO_SMALL);
    CHECK(ffc_test::all_poisoned(y));

    // The description says what the plan does.
    size_t need = 0;
    ffc_plan_describe(plan.handle, nullptr, 0, &need);
    std::string text(need, '\0');
    REQUIRE(ffc_plan_describe(plan.handle, &text[0], need, nullptr) == FFC_SUCCESS);
    CHECK(text.find("partial (FFC_PLAN_PARTIAL)") != std::string::npos);
    ffc_plan_destroy(plain);
}

// ---------------------------------------------------------------------------
// CUDA backend
// ---------------------------------------------------------------------------
#if FFC_WITH_CUDA

TEST_CASE("partial cuda: fused and multi-pass plans, fp16/bf16/fp32, against the oracle", "[gpu][partial]") {
    // Several windows per sequence at each size; the last a multi-pass plan on
    // every GPU (N above the fused limit).
    const std::vector<Case> shapes = {
        {256, 3, 2, 3001, 100}, {1024, 2, 3, 5000, 512}, {4096, 3, 2, 20000, 1000},
        {16384, 1, 2, 100000, 4097}, {65536, 2, 1, 200000, 30000}, {262144, 1, 1, 600000, 100000},
    };
    for (const Case &shape : shapes)
        for (ffc_dtype_t dt : kDtypes) {
            Case c = shape;
            c.dtype = dt;
            c.gated = dt != FFC_DTYPE_BF16 || c.n < 65536;
            ffc_test::Rng rng;
            INFO(c.str() << ", seed " << rng.seed());
            const Problem p(c, rng);
            PartialPlan plan(c.n, dt, FFC_BACKEND_CUDA);
            const Outputs a = run_api(plan.handle, p, true);
            check_against_oracle(p, a, true);
            // dk is deterministic through the chunks too.
            CHECK(bitwise_equal(a, run_api(plan.handle, p, true)));
        }
}

// The forward's windows, and du's and d_in_gate's, read and written in place
// by the fused kernel (CudaExecutor::forward_windows and backward_windows, one
// launch each) against the same windows copied through the workspace by the
// same plan's kernel: the same bits, with k and with its precomputed spectrum
// (and the whole backward through the API, dk and d_out_gate still copied). Shapes: the first window's leading zeros
// (reach > 0), K = 1 (reach 0), an odd number of windows (the last pair has
// one), a last window that keeps 8 outputs, gated and ungated, the three
// dtypes, and 8K and 16K, where a partial plan takes a one-CTA kernel (a plain
// plan a cluster variant on sm_90); L not a multiple of 8 (element-wise
// accesses: odd, and even but not a multiple of 4).
TEST_CASE("partial cuda: windows in place give the copies' bits", "[gpu][partial][sanitize]") {
    const std::vector<Case> shapes = {
        {256, 3, 2, 3000, 100, FFC_DTYPE_FP16, true},   {512, 1, 3, 2056, 256, FFC_DTYPE_BF16, false},
        {1024, 5, 1, 4096, 1, FFC_DTYPE_FP32, true},    {2048, 2, 3, 9000, 700, FFC_DTYPE_FP16, true},
        {4096, 2, 2, 20000, 1000, FFC_DTYPE_BF16, true}, {8192, 1, 2, 30000, 3000, FFC_DTYPE_FP16, true},
        {16384, 1, 1, 50000, 5000, FFC_DTYPE_FP16, false}, {256, 1, 2, 3001, 100, FFC_DTYPE_FP16, true},
        {1024, 3, 2, 7777, 500, FFC_DTYPE_BF16, true},   {512, 2, 1, 2050, 100, FFC_DTYPE_FP32, true},
    };
    for (const Case &c : shapes) {
        ffc_test::Rng rng;
        INFO(c.str() << ", seed " << rng.seed());
        const Problem p(c, rng);
        PartialPlan plan(c.n, c.dtype, FFC_BACKEND_CUDA);
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        FFC_TEST_REQUIRE_OK(ffc_plan_get_info(plan.handle, &info));
        const std::string kernel = info.kernel_name;
        INFO("kernel " << kernel);
        CHECK(kernel.find("_c") == std::string::npos);  // one CTA per pair
        const SmallChunks copies(c.n, c.dtype, true, 0, /*in_place=*/false, kernel);
        const std::unique_ptr<ffc::Executor> backend = ffc::make_cuda_executor(copies.decision, ffc::cuda::current_device());
        const ffc::Shape s{c.B, c.H, c.L, c.K};
        const int64_t reach = (c.K - 1 + 7) / 8 * 8, step = c.n - reach;
        const ffc::WindowGrid grid{step, (c.L + step - 1) / step, reach, reach}, input_grid{step, grid.blocks, 0, 0};
        Memory mem;
        mem.cuda = true;
        const size_t spectrum_bytes = backend->spectrum_size(s);
        void *ws = mem.alloc(spectrum_bytes);
        void *spectrum = mem.alloc(spectrum_bytes);
        bool done_k = false, done_spectrum = false;
        const Wanted none{false, false, false, false};
        auto in_place = [&](bool with_spectrum, bool &done) {
            return ffc_test::run(
                p, mem, none,
                [&](const void *u, const float *k, const void *ig, const void *og, void *y) {
                    ffc::ForwardArgs a;
                    a.shape = s; a.u = u; a.in_gate = ig; a.out_gate = og; a.y = y;
                    a.workspace = ws; a.workspace_size = spectrum_bytes;
                    if (with_spectrum) {
                        ffc::SpectrumArgs sa;
                        sa.shape = s; sa.k = k; sa.spectrum = spectrum;
                        backend->compute_spectrum(sa);
                        a.spectrum = spectrum;
                    } else {
                        a.k = k;
                    }
                    done = backend->forward_windows(a, grid);
                },
                [](const void *, const void *, const float *, const void *, const void *, void *, float *, void *,
                   void *) {});
        };
        const Outputs with_k = in_place(false, done_k), with_spectrum = in_place(true, done_spectrum);
        // du and d_in_gate alone, over input windows.
        bool done_backward = false;
        const Outputs backward = ffc_test::run(
            p, mem, Wanted{true, false, true, false}, [](const void *, const float *, const void *, const void *, void *) {},
            [&](const void *dy, const void *u, const float *k, const void *ig, const void *og, void *du, float *,
                void *dig, void *) {
                ffc::BackwardArgs a;
                a.shape = s; a.dy = dy; a.u = u; a.k = k; a.in_gate = ig; a.out_gate = og;
                a.du = du; a.d_in_gate = dig;
                a.workspace = ws; a.workspace_size = spectrum_bytes;
                done_backward = backend->backward_windows(a, input_grid);
            });
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
        REQUIRE(done_k);
        REQUIRE(done_spectrum);
        REQUIRE(done_backward);
        const Outputs copied = run_small_chunks(copies, p, true);
        CHECK(with_k.y.bitwise_equal(copied.y));
        CHECK(with_spectrum.y.bitwise_equal(copied.y));
        CHECK(backward.du.bitwise_equal(copied.du));
        CHECK(backward.d_in_gate.bitwise_equal(copied.d_in_gate));
        // The partial plan takes the in-place paths, within the oracle's tolerance.
        const Outputs api = run_api(plan.handle, p, true);
        CHECK(bitwise_equal(api, copied));
        check_against_oracle(p, api, true);
    }
}

TEST_CASE("partial cuda: many channels split into chunks by the default budget", "[gpu][partial]") {
    // 70 windows × 4096 × 64 channels > 2^24 elements: two channel chunks.
    const Case c{4096, 2, 64, 70000, 2048, FFC_DTYPE_FP16, true};
    ffc_test::Rng rng;
    INFO(c.str() << ", seed " << rng.seed());
    const Problem p(c, rng);
    PartialPlan plan(c.n, c.dtype, FFC_BACKEND_CUDA);
    check_against_oracle(p, run_api(plan.handle, p, true), true);
}

TEST_CASE("partial cuda: small chunks (windows split, dk summed over chunks) give the oracle's result",
          "[gpu][partial][sanitize]") {
    for (int64_t chunk : {int64_t(3) * 1024, int64_t(8) * 1024}) {
        const SmallChunks sc(1024, FFC_DTYPE_FP16, true, chunk);
        const Case c{1024, 3, 3, 6000, 300, FFC_DTYPE_FP16, true};
        ffc_test::Rng rng;
        INFO(c.str() << ", chunk " << chunk << ", seed " << rng.seed());
        const Problem p(c, rng);
        const Outputs a = run_small_chunks(sc, p, true);
        check_against_oracle(p, a, true);
        CHECK(bitwise_equal(a, run_small_chunks(sc, p, true)));
    }
}

TEST_CASE("partial cuda: each backward output alone; the others stay untouched", "[gpu][partial][sanitize]") {
    const Case c{2048, 3, 2, 9000, 700, FFC_DTYPE_BF16, true};
    ffc_test::Rng rng;
    INFO(c.str() << ", seed " << rng.seed());
    const Problem p(c, rng);
    PartialPlan gpu(c.n, c.dtype, FFC_BACKEND_CUDA);
    for (int which = 0; which < 4; ++which) {
        Wanted w{which == 0, which == 1, which == 2, which == 3};
        INFO("only output " << which << " (du, dk, d_in_gate, d_out_gate)");
        check_against_oracle(p, run_api(gpu.handle, p, true, w), true, w);
    }
}

#endif
