// The CPU backend, through the public C API, against the fp64 oracle.
//
// Every FFT size from 256 to 4,194,304 is covered. Small sizes run the full
// product of dtype × gating × L × K; larger sizes rotate through it, so every
// combination still appears while the suite stays within a few minutes on two
// cores. All outputs are NaN-poisoned before every call and the workspace is
// filled with NaN bytes, so an element the backend forgets to write (or a
// scratch value it forgets to initialise) fails the comparison.
//
// Set FFC_TEST_REPORT=1 to print every measured error next to its tolerance.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/half.hpp"
#include "common/types.hpp"
#include "cpu/monarch_fft.hpp"
#include "flashfftconv/flashfftconv.h"
#include "monarch/monarch.hpp"
#include "oracle.hpp"

using ffc_test::HostTensor;

namespace {

bool report_enabled() {
    static const bool on = [] {
        const char *e = std::getenv("FFC_TEST_REPORT");
        return e && *e && std::strcmp(e, "0") != 0;
    }();
    return on;
}

// ---------------------------------------------------------------------------
// Thin RAII helpers over the C API.
// ---------------------------------------------------------------------------

std::string last_error() {
    char buf[512];
    ffc_last_error_message(buf, sizeof buf);
    return buf;
}

#define FFC_REQUIRE_OK(call)                                              \
    do {                                                                  \
        const ffc_status_t st_ = (call);                                  \
        INFO(#call << " -> " << int(st_) << ": " << last_error());        \
        REQUIRE(st_ == FFC_SUCCESS);                                      \
    } while (0)

struct Plan {
    ffc_plan_t handle = nullptr;
    Plan(int64_t n, ffc_dtype_t dtype, int threads = 0, const std::vector<int> &factors = {}) {
        ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
        d.fft_size = uint64_t(n);
        d.dtype = dtype;
        d.backend = FFC_BACKEND_CPU;
        d.cpu_threads = threads;
        for (size_t i = 0; i < factors.size(); ++i) d.force_factors[i] = uint32_t(factors[i]);
        FFC_REQUIRE_OK(ffc_plan_create(&handle, &d));
    }
    ~Plan() { ffc_plan_destroy(handle); }
    Plan(const Plan &) = delete;
    Plan &operator=(const Plan &) = delete;
    operator ffc_plan_t() const { return handle; }

    std::vector<int> factors() const {
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(handle, &info) == FFC_SUCCESS);
        return std::vector<int>(info.factors, info.factors + info.num_factors);
    }
};

// Caller-owned workspace, refilled with NaN bytes before every call.
struct Workspace {
    std::vector<unsigned char> bytes;
    Workspace(ffc_plan_t plan, const ffc_shape_t &shape) {
        size_t need = 0;
        FFC_REQUIRE_OK(ffc_plan_get_workspace_size(plan, &shape, &need));
        bytes.resize(need);
    }
    void *fresh() {
        std::fill(bytes.begin(), bytes.end(), (unsigned char)0xff);  // 0xffffffff is a NaN in fp32
        return bytes.empty() ? nullptr : bytes.data();
    }
    size_t size() const { return bytes.size(); }
};

struct Config {
    int64_t n = 256, batch = 3, channels = 2, seq_len = 256, kernel_len = 256;
    ffc_dtype_t dtype = FFC_DTYPE_FP16;
    bool gated = false;

    ffc_shape_t shape() const { return ffc_shape_t{batch, channels, seq_len, kernel_len}; }
    ffc_test::ConvProblem problem() const {
        ffc_test::ConvProblem p;
        p.batch = batch; p.channels = channels; p.seq_len = seq_len; p.kernel_len = kernel_len;
        p.fft_size = n; p.dtype = dtype;
        return p;
    }
    std::string str() const { return problem().str() + (gated ? " gated" : " ungated"); }
    int64_t elements() const { return batch * channels * seq_len; }
};

// Inputs of one problem: fresh normal values, k scaled by 1/sqrt(K) so that z,
// the gradients and every fp16 value stay O(1), far from overflow.
struct Inputs {
    HostTensor u, in_gate, out_gate;
    std::vector<float> k;
    uint64_t seed;
    Inputs(const Config &c, ffc_test::Rng &rng) : seed(rng.seed()) {
        u = HostTensor(c.dtype, c.elements());
        ffc_test::fill_normal(u, rng);
        if (c.gated) {
            in_gate = HostTensor(c.dtype, c.elements());
            out_gate = HostTensor(c.dtype, c.elements());
            ffc_test::fill_normal(in_gate, rng);
            ffc_test::fill_normal(out_gate, rng);
        }
        k.resize(size_t(c.channels * c.kernel_len));
        ffc_test::fill_normal(k, rng, 1.0 / std::sqrt(double(c.kernel_len)));
    }
    ffc_test::ConvInputs view() const {
        ffc_test::ConvInputs v;
        v.u = u.data(); v.k = k.data(); v.in_gate = in_gate.data(); v.out_gate = out_gate.data();
        return v;
    }
};

struct Grads {
    HostTensor du, d_in_gate, d_out_gate;
    std::vector<float> dk;
    Grads(const Config &c) {
        du = HostTensor(c.dtype, c.elements());
        d_in_gate = HostTensor(c.dtype, c.gated ? c.elements() : 0);
        d_out_gate = HostTensor(c.dtype, c.gated ? c.elements() : 0);
        dk.resize(size_t(c.channels * c.kernel_len));
    }
    void poison_all() {
        ffc_test::poison(du);
        ffc_test::poison(d_in_gate);
        ffc_test::poison(d_out_gate);
        ffc_test::poison(dk);
    }
};

void run_forward(ffc_plan_t plan, const Config &c, const Inputs &in, HostTensor &y, Workspace &ws) {
    const ffc_shape_t s = c.shape();
    FFC_REQUIRE_OK(ffc_conv_forward(plan, &s, in.u.data(), in.k.data(), in.in_gate.data(), in.out_gate.data(), y.data(),
                                    ws.fresh(), ws.size(), nullptr));
}

struct Wanted {
    bool du = true, dk = true, d_in_gate = true, d_out_gate = true;
};

// k's spectrum (ffc_kernel_spectrum_compute) in host memory on the API's
// 16-byte boundary, poisoned before it is computed.
struct HostSpectrum {
    std::vector<double> storage;
    void *ptr = nullptr;
    size_t bytes = 0;
    HostSpectrum(ffc_plan_t plan, const ffc_shape_t &s, const float *k) {
        FFC_REQUIRE_OK(ffc_kernel_spectrum_get_size(plan, &s, &bytes));
        storage.resize(bytes / sizeof(double) + 2);  // 8-byte aligned: one spare for the shift to 16
        ptr = storage.data();
        if (reinterpret_cast<uintptr_t>(ptr) % 16) ptr = reinterpret_cast<char *>(ptr) + 8;
        std::memset(ptr, 0xff, bytes);
        FFC_REQUIRE_OK(ffc_kernel_spectrum_compute(plan, &s, k, ptr, bytes, nullptr));
    }
};

void run_backward(ffc_plan_t plan, const Config &c, const Inputs &in, const HostTensor &dy, Grads &g, Workspace &ws,
                  Wanted w = {}) {
    const ffc_shape_t s = c.shape();
    FFC_REQUIRE_OK(ffc_conv_backward(plan, &s, dy.data(), in.u.data(), in.k.data(), in.in_gate.data(), in.out_gate.data(),
                                     w.du ? g.du.data() : nullptr, w.dk ? g.dk.data() : nullptr,
                                     w.d_in_gate && c.gated ? g.d_in_gate.data() : nullptr,
                                     w.d_out_gate && c.gated ? g.d_out_gate.data() : nullptr, ws.fresh(), ws.size(),
                                     nullptr));
}

// One error measurement with its tolerance; failures say which output.
void check_error(const char *what, const Config &c, double err, double tol) {
    if (report_enabled())
        std::printf("  %-11s N=%-8lld %-4s %-8s L=%-8lld K=%-8lld err %.3e  tol %.3e  (%.2f of tol)\n", what,
                    (long long)c.n, ffc_test::dtype_label(c.dtype), c.gated ? "gated" : "ungated", (long long)c.seq_len,
                    (long long)c.kernel_len, err, tol, err / tol);
    INFO(what << ": rel-L2 error " << err << ", tolerance " << tol);
    CHECK(err <= tol);
}

// Forward + every backward output against the oracle, plus the adjoint identity
// on the library's own outputs.
void check_problem(const Config &c, ffc_plan_t plan) {
    ffc_test::Rng rng;
    INFO(c.str() << ", seed " << rng.seed());
    const Inputs in(c, rng);
    Workspace ws(plan, c.shape());
    const ffc_test::ConvProblem prob = c.problem();

    // Forward.
    HostTensor y(c.dtype, c.elements());
    ffc_test::poison(y);
    run_forward(plan, c, in, y, ws);
    const std::vector<double> y_ref = ffc_test::reference_forward(prob, in.view());
    const ffc_test::ErrorScales fwd_scale = ffc_test::error_scales(prob, in.view());
    check_error("y", c, ffc_test::rel_l2(y, y_ref), ffc_test::tolerance(y_ref, c.dtype, c.n, fwd_scale.y));

    // dy = y + rms(y)·noise: any dy is a valid input, and one correlated with y
    // makes the adjoint check below sensitive (<dy, y> ~ ||y||², not ~ ||y||²/sqrt(n)).
    const double y_rms = ffc_test::norm(y) / std::sqrt(double(c.elements()));
    HostTensor dy(c.dtype, c.elements());
    for (int64_t i = 0; i < c.elements(); ++i)
        ffc::store_from_float(dy.data(), i, int32_t(c.dtype), float(y.at(i) + y_rms * rng.normal()));

    Grads g(c);
    g.poison_all();
    run_backward(plan, c, in, dy, g, ws);
    const ffc_test::BackwardReference ref = ffc_test::reference_backward(prob, in.view(), dy.data());
    const ffc_test::ErrorScales sc = ffc_test::error_scales(prob, in.view(), dy.data());
    check_error("du", c, ffc_test::rel_l2(g.du, ref.du), ffc_test::tolerance(ref.du, c.dtype, c.n, sc.du));
    check_error("dk", c, ffc_test::rel_l2(g.dk, ref.dk), ffc_test::dk_tolerance(ref.dk, c.n, sc.dk));
    if (c.gated) {
        check_error("d_in_gate", c, ffc_test::rel_l2(g.d_in_gate, ref.d_in_gate),
                    ffc_test::tolerance(ref.d_in_gate, c.dtype, c.n, sc.d_in_gate));
        check_error("d_out_gate", c, ffc_test::rel_l2(g.d_out_gate, ref.d_out_gate),
                    ffc_test::tolerance(ref.d_out_gate, c.dtype, c.n, sc.d_out_gate));
    }

    // Adjoint identity <dy, y> = <du, u> (gated too: y = g_o ⊙ C(g_i ⊙ u) and
    // du = g_i ⊙ Cᵀ(g_o ⊙ dy)). Both sides use the library's outputs. An output x
    // with error scale S is within u_dt·||x|| + b·(||x|| + S) + eta·sqrt(n) of
    // the exact value in norm (u_dt: unit roundoff of the dtype, b: the fp32
    // bound, eta: absolute rounding error in the dtype's subnormal range), so by
    // Cauchy–Schwarz |<dy,y> − <du,u>| <= ||dy||·err(y) + ||u||·err(du).
    const double lhs = ffc_test::dot(dy, y), rhs = ffc_test::dot(g.du, in.u);
    const double ud = ffc_test::unit_roundoff(c.dtype), b32 = ffc_test::fp32_arithmetic_bound(c.n);
    const double eta = (c.dtype == FFC_DTYPE_FP16 ? std::ldexp(1.0, -25) : std::ldexp(1.0, -134)) *
                       std::sqrt(double(c.elements()));
    const double ny = ffc_test::norm(y), ndu = ffc_test::norm(g.du);
    const double err_y = ud * ny + b32 * (ny + fwd_scale.y) + eta;
    const double err_du = ud * ndu + b32 * (ndu + sc.du) + eta;
    const double bound = ffc_test::norm(dy) * err_y + ffc_test::norm(in.u) * err_du;
    INFO("adjoint: <dy,y> = " << lhs << ", <du,u> = " << rhs << ", bound " << bound);
    CHECK(std::fabs(lhs - rhs) <= bound);
    if (c.elements() >= 256) CHECK(std::fabs(lhs) > 10 * bound);  // the identity is not vacuous
}

std::string size_label(int64_t n) {
    if (n >= (1 << 20)) return std::to_string(n >> 20) + "M";
    if (n >= (1 << 10)) return std::to_string(n >> 10) + "K";
    return std::to_string(n);
}

// The L and K variants: L = N (circular), N/2 (with K <= N/2 + 1 the causal
// linear convolution) and an odd L; K = N or an odd K < N.
int64_t pick_len(int64_t n, int variant) {
    switch (variant % 3) {
    case 0: return n;
    case 1: return n / 2;
    default: return n / 2 + n / 8 + 1;  // odd
    }
}
int64_t pick_kernel(int64_t n, int variant) { return variant % 2 == 0 ? n : n / 2 - 3; }
// Combination v in 0..5 of the L and K variants (each (L, K) pair once).
int64_t combo_len(int64_t n, int v) { return pick_len(n, v % 3); }
int64_t combo_kernel(int64_t n, int v) { return pick_kernel(n, v / 3); }

const ffc_dtype_t kDtypes[] = {FFC_DTYPE_FP16, FFC_DTYPE_BF16, FFC_DTYPE_FP32};

// Runs the configurations for one N. `combos` (of the 6 L×K variants) per
// (dtype, gating) pair, chosen by rotating with the size so that neighbouring
// sizes cover different ones.
void accuracy_for_size(int64_t n, int64_t batch, int64_t channels, int combos) {
    const int lg = ffc::log2_exact(uint64_t(n));
    for (ffc_dtype_t dt : kDtypes) {
        Plan plan(n, dt);
        for (int gated = 0; gated < 2; ++gated) {
            for (int j = 0; j < combos; ++j) {
                const int v = (lg * 5 + int(dt) * 2 + gated * 3 + j) % 6;
                Config c;
                c.n = n; c.batch = batch; c.channels = channels; c.dtype = dt; c.gated = gated != 0;
                c.seq_len = combo_len(n, v);
                c.kernel_len = combo_kernel(n, v);
                check_problem(c, plan);
            }
        }
    }
}

// For N >= 1M: one configuration per dtype, alternating gating and rotating L, K.
void accuracy_large(int64_t n) {
    const int lg = ffc::log2_exact(uint64_t(n));
    for (ffc_dtype_t dt : kDtypes) {
        Plan plan(n, dt);
        const int v = (lg + int(dt)) % 6;
        Config c;
        c.n = n; c.channels = 1; c.dtype = dt;
        c.batch = (lg + int(dt)) % 2 == 0 ? 2 : 1;
        c.gated = (lg + int(dt)) % 2 == 1;
        c.seq_len = combo_len(n, v);
        c.kernel_len = combo_kernel(n, v);
        check_problem(c, plan);
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// The oracle and the transform engine themselves
// ---------------------------------------------------------------------------

TEST_CASE("cpu_backend: oracle's direct sums and FFTW paths agree", "[cpu][cpu_backend][oracle]") {
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    for (int64_t n : {256, 2048}) {
        for (int v = 0; v < 6; ++v) {
            Config c;
            c.n = n; c.batch = 3; c.channels = 2; c.gated = v % 2 == 1;
            c.dtype = kDtypes[v % 3];
            c.seq_len = v < 3 ? combo_len(n, 2 * v) : 1 + v;
            c.kernel_len = v < 3 ? combo_kernel(n, 2 * v) : n - v;
            INFO(c.str());
            const Inputs in(c, rng);
            const auto direct = ffc_test::reference_forward(c.problem(), in.view(), ffc_test::Method::direct);
            const auto fft = ffc_test::reference_forward(c.problem(), in.view(), ffc_test::Method::fft);
            std::vector<float> d32(direct.begin(), direct.end());
            CHECK(ffc_test::rel_l2(d32, fft) < 1e-6);  // float copy: the check itself is fp32-exact
            HostTensor dy(c.dtype, c.elements());
            ffc_test::fill_normal(dy, rng);
            const auto bd = ffc_test::reference_backward(c.problem(), in.view(), dy.data(), {}, ffc_test::Method::direct);
            const auto bf = ffc_test::reference_backward(c.problem(), in.view(), dy.data(), {}, ffc_test::Method::fft);
            auto close = [](const std::vector<double> &a, const std::vector<double> &b) {
                double e = 0, r = 0;
                for (size_t i = 0; i < a.size(); ++i) {
                    e += (a[i] - b[i]) * (a[i] - b[i]);
                    r += b[i] * b[i];
                }
                return a.size() == b.size() && std::sqrt(e) <= 1e-12 * std::sqrt(r);
            };
            for (size_t i = 0; i < direct.size(); ++i) REQUIRE(std::isfinite(direct[i]));
            CHECK(close(direct, fft));
            CHECK(close(bd.du, bf.du));
            CHECK(close(bd.dk, bf.dk));
            CHECK(close(bd.d_in_gate, bf.d_in_gate));
            CHECK(close(bd.d_out_gate, bf.d_out_gate));
            CHECK(bd.d_in_gate.empty() == !c.gated);
        }
    }
}

TEST_CASE("cpu_backend: MonarchFft matches the double-precision Monarch reference", "[cpu][cpu_backend]") {
    // White-box: the fp32 engine against src/monarch's literal stages, on
    // factorisations the planner may never pick (tiny N, radix 2..2048, chunks
    // narrower than the lane width, eight stages).
    const std::vector<std::vector<int>> factorisations = {
        {2}, {8}, {2, 2}, {4, 2}, {2, 8}, {16, 2}, {32}, {4, 4, 4}, {2, 2, 2, 2, 2, 2, 2, 2}, {16, 16}, {128, 2},
        {2, 128}, {8, 16, 4}, {64, 64}, {2048, 2}, {2, 1024}, {128, 32, 2}, {4, 2, 8, 16, 2}};
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    for (const auto &f : factorisations) {
        INFO("factors " << ::Catch::Detail::stringify(f));
        ffc::cpu::MonarchFft fft(f);
        const uint64_t n = fft.size();
        REQUIRE(fft.scratch_floats() <= ffc::cpu::MonarchFft::kMaxScratchFloats);
        std::vector<float> scratch(fft.scratch_floats() + 1);
        std::vector<std::complex<double>> x(n);
        std::vector<ffc::cpu::cfloat> xf(n);
        for (uint64_t i = 0; i < n; ++i) {
            xf[i] = ffc::cpu::cfloat(float(rng.normal()), float(rng.normal()));
            x[i] = std::complex<double>(xf[i].real(), xf[i].imag());
        }
        auto ref = x;
        ffc::monarch::forward_permuted(f, ref);
        auto got = xf;
        fft.forward(got.data(), scratch.data());
        double e = 0, r = 0;
        for (uint64_t i = 0; i < n; ++i) {
            e += std::norm(std::complex<double>(got[i].real(), got[i].imag()) - ref[i]);
            r += std::norm(ref[i]);
        }
        const double log2n = std::log2(double(n));
        // One transform: within the per-transform share of the fp32 bound.
        CHECK(std::sqrt(e / r) <= std::max(1.0, log2n) * std::ldexp(1.0, -24) * 2);
        fft.inverse_unscaled(got.data(), scratch.data());
        e = 0, r = 0;
        for (uint64_t i = 0; i < n; ++i) {
            e += std::norm(std::complex<double>(got[i].real(), got[i].imag()) / double(n) - x[i]);
            r += std::norm(x[i]);
        }
        CHECK(std::sqrt(e / r) <= 2 * std::max(1.0, log2n) * std::ldexp(1.0, -24) * 2);
    }
    CHECK_THROWS_AS(ffc::cpu::MonarchFft({4096}), ffc::Error);
}

// ---------------------------------------------------------------------------
// Accuracy at every N
// ---------------------------------------------------------------------------

TEST_CASE("cpu_backend: accuracy at N = 256 ... 4K (all dtype, gate, L, K combinations)", "[cpu][cpu_backend]") {
    for (int64_t n = 256; n <= 4096; n *= 2) {
        SECTION("N = " + size_label(n)) { accuracy_for_size(n, 3, 2, 6); }
    }
}

TEST_CASE("cpu_backend: accuracy at N = 8K ... 64K", "[cpu][cpu_backend]") {
    for (int64_t n = 8192; n <= 65536; n *= 2) {
        SECTION("N = " + size_label(n)) { accuracy_for_size(n, 3, 2, 2); }
    }
}

TEST_CASE("cpu_backend: accuracy at N = 128K ... 512K", "[cpu][cpu_backend]") {
    for (int64_t n = 131072; n <= 524288; n *= 2) {
        SECTION("N = " + size_label(n)) { accuracy_for_size(n, 3, 2, 1); }
    }
}

TEST_CASE("cpu_backend: accuracy at N = 1M", "[cpu][cpu_backend]") { accuracy_large(1 << 20); }
TEST_CASE("cpu_backend: accuracy at N = 2M", "[cpu][cpu_backend]") { accuracy_large(1 << 21); }
TEST_CASE("cpu_backend: accuracy at N = 4M", "[cpu][cpu_backend]") { accuracy_large(1 << 22); }

TEST_CASE("cpu_backend: edge shapes (L = 1, K = 1, B = 1, odd B, many channels)", "[cpu][cpu_backend]") {
    struct Shape { int64_t n, b, h, l, k; };
    const Shape shapes[] = {
        {256, 1, 1, 1, 1},     {256, 1, 1, 256, 1},   {256, 1, 1, 1, 256},  {256, 5, 3, 255, 129},
        {512, 7, 5, 300, 17},  {1024, 2, 9, 1023, 1024}, {4096, 1, 2, 4095, 3}, {256, 11, 1, 128, 128},
        {2048, 4, 4, 1, 2048},
    };
    for (const Shape &s : shapes) {
        for (ffc_dtype_t dt : kDtypes) {
            for (int gated = 0; gated < 2; ++gated) {
                Config c;
                c.n = s.n; c.batch = s.b; c.channels = s.h; c.seq_len = s.l; c.kernel_len = s.k;
                c.dtype = dt; c.gated = gated != 0;
                Plan plan(c.n, dt);
                // The adjoint check needs a non-degenerate problem; with L = 1
                // and K = 1 it still is (y = k0·u).
                check_problem(c, plan);
            }
        }
    }
}

TEST_CASE("cpu_backend: forced factorisations all give the oracle's result", "[cpu][cpu_backend]") {
    struct Forced { int64_t n; std::vector<int> f; };
    const Forced cases[] = {
        {4096, {64, 64}},       {4096, {16, 16, 16}},   {4096, {2, 128, 16}},          {4096, {128, 32}},
        {4096, {4, 8, 128}},    {4096, {2, 2, 2, 2, 2, 2, 2, 32}},                  {256, {2, 2, 2, 2, 2, 2, 2, 2}},
        {256, {16, 16}},        {256, {128, 2}},        {65536, {16, 16, 16, 16}},     {65536, {2, 4, 8, 128, 8}},
        {1 << 20, {128, 128, 64}},
    };
    for (const Forced &fc : cases) {
        Config c;
        c.n = fc.n; c.dtype = fc.n >= 65536 ? FFC_DTYPE_FP16 : FFC_DTYPE_FP32;
        c.batch = fc.n >= (1 << 20) ? 1 : 3; c.channels = fc.n >= (1 << 20) ? 1 : 2;
        c.seq_len = fc.n / 2 + 1; c.kernel_len = fc.n - 5; c.gated = true;
        INFO("factors " << ::Catch::Detail::stringify(fc.f));
        Plan plan(c.n, c.dtype, 0, fc.f);
        CHECK(plan.factors() == fc.f);
        check_problem(c, plan);
    }
}

// ---------------------------------------------------------------------------
// Contract checks
// ---------------------------------------------------------------------------

TEST_CASE("cpu_backend: a subset of backward outputs is computed, the others stay untouched", "[cpu][cpu_backend]") {
    for (int64_t n : {1024, 65536}) {
        Config c;
        c.n = n; c.batch = 3; c.channels = 2; c.seq_len = n - 7; c.kernel_len = n / 2 + 1; c.gated = true;
        c.dtype = FFC_DTYPE_BF16;
        Plan plan(c.n, c.dtype);
        ffc_test::Rng rng;
        INFO(c.str() << ", seed " << rng.seed());
        const Inputs in(c, rng);
        Workspace ws(plan, c.shape());
        HostTensor dy(c.dtype, c.elements());
        ffc_test::fill_normal(dy, rng);
        const auto ref = ffc_test::reference_backward(c.problem(), in.view(), dy.data());
        const auto sc = ffc_test::error_scales(c.problem(), in.view(), dy.data());
        Grads all(c);
        all.poison_all();
        run_backward(plan, c, in, dy, all, ws);
        for (int mask = 1; mask < 16; ++mask) {
            Wanted w;
            w.du = mask & 1; w.dk = mask & 2; w.d_in_gate = mask & 4; w.d_out_gate = mask & 8;
            INFO("du " << w.du << " dk " << w.dk << " d_in_gate " << w.d_in_gate << " d_out_gate " << w.d_out_gate);
            Grads g(c);
            g.poison_all();
            run_backward(plan, c, in, dy, g, ws, w);
            // Requested: correct, and bitwise what the all-outputs call gave.
            // Not requested: still poisoned, bit for bit.
            if (w.du) {
                CHECK(ffc_test::rel_l2(g.du, ref.du) <= ffc_test::tolerance(ref.du, c.dtype, c.n, sc.du));
                CHECK(g.du.bitwise_equal(all.du));
            } else {
                CHECK(ffc_test::all_poisoned(g.du));
            }
            if (w.dk) {
                CHECK(ffc_test::rel_l2(g.dk, ref.dk) <= ffc_test::dk_tolerance(ref.dk, c.n, sc.dk));
                CHECK(std::memcmp(g.dk.data(), all.dk.data(), g.dk.size() * sizeof(float)) == 0);
            } else {
                CHECK(ffc_test::all_poisoned(g.dk));
            }
            if (w.d_in_gate) {
                CHECK(ffc_test::rel_l2(g.d_in_gate, ref.d_in_gate) <=
                      ffc_test::tolerance(ref.d_in_gate, c.dtype, c.n, sc.d_in_gate));
                CHECK(g.d_in_gate.bitwise_equal(all.d_in_gate));
            } else {
                CHECK(ffc_test::all_poisoned(g.d_in_gate));
            }
            if (w.d_out_gate) {
                CHECK(ffc_test::rel_l2(g.d_out_gate, ref.d_out_gate) <=
                      ffc_test::tolerance(ref.d_out_gate, c.dtype, c.n, sc.d_out_gate));
                CHECK(g.d_out_gate.bitwise_equal(all.d_out_gate));
            } else {
                CHECK(ffc_test::all_poisoned(g.d_out_gate));
            }
        }
        // Ungated: only du and dk exist.
        Config cu = c;
        cu.gated = false;
        const Inputs iu(cu, rng);
        const auto ref_u = ffc_test::reference_backward(cu.problem(), iu.view(), dy.data());
        Grads g(cu);
        g.poison_all();
        Wanted w;
        w.du = false;
        run_backward(plan, cu, iu, dy, g, ws, w);
        CHECK(ffc_test::all_poisoned(g.du));
        const auto sc_u = ffc_test::error_scales(cu.problem(), iu.view(), dy.data());
        CHECK(ffc_test::rel_l2(g.dk, ref_u.dk) <= ffc_test::dk_tolerance(ref_u.dk, c.n, sc_u.dk));
    }
}

TEST_CASE("cpu_backend: a precomputed spectrum gives exactly ffc_conv_forward's result", "[cpu][cpu_backend]") {
    for (int64_t n : {256, 8192, 262144}) {
        for (ffc_dtype_t dt : kDtypes) {
            Config c;
            c.n = n; c.batch = 3; c.channels = 3; c.seq_len = n / 2 + 1; c.kernel_len = n / 2; c.dtype = dt;
            c.gated = dt != FFC_DTYPE_BF16;
            if (n > 65536) c.channels = 2;
            Plan plan(c.n, dt);
            ffc_test::Rng rng;
            INFO(c.str() << ", seed " << rng.seed());
            const Inputs in(c, rng);
            Workspace ws(plan, c.shape());
            const ffc_shape_t s = c.shape();
            const HostSpectrum spec(plan, s, in.k.data());
            CHECK(spec.bytes == size_t(c.channels) * size_t(n) * 8);
            void *const spectrum = spec.ptr;
            const size_t spec_bytes = spec.bytes;

            HostTensor y1(dt, c.elements()), y2(dt, c.elements());
            ffc_test::poison(y1);
            ffc_test::poison(y2);
            run_forward(plan, c, in, y1, ws);
            FFC_REQUIRE_OK(ffc_conv_forward_spectrum(plan, &s, in.u.data(), spectrum, spec_bytes, in.in_gate.data(),
                                                     in.out_gate.data(), y2.data(), ws.fresh(), ws.size(), nullptr));
            CHECK(y1.bitwise_equal(y2));
            const auto ref = ffc_test::reference_forward(c.problem(), in.view());
            CHECK(ffc_test::rel_l2(y2, ref) <= ffc_test::tolerance(ref, dt, n, ffc_test::error_scales(c.problem(), in.view()).y));
            // The spectrum is reusable: a second input with the same k.
            Inputs in2(c, rng);
            in2.k = in.k;
            ffc_test::poison(y2);
            FFC_REQUIRE_OK(ffc_conv_forward_spectrum(plan, &s, in2.u.data(), spectrum, spec_bytes, in2.in_gate.data(),
                                                     in2.out_gate.data(), y2.data(), ws.fresh(), ws.size(), nullptr));
            const auto ref2 = ffc_test::reference_forward(c.problem(), in2.view());
            CHECK(ffc_test::rel_l2(y2, ref2) <= ffc_test::tolerance(ref2, dt, n, ffc_test::error_scales(c.problem(), in2.view()).y));
        }
    }
}

TEST_CASE("cpu_backend: backward with a precomputed spectrum gives exactly ffc_conv_backward's gradients",
          "[cpu][cpu_backend]") {
    for (int64_t n : {256, 4096, 131072}) {
        for (ffc_dtype_t dt : kDtypes) {
            Config c;
            c.n = n; c.batch = 3; c.channels = 3; c.seq_len = n / 2 + 3; c.kernel_len = n / 4 + 1; c.dtype = dt;
            c.gated = dt != FFC_DTYPE_BF16;
            if (n > 4096) c.channels = 2;
            Plan plan(c.n, dt);
            ffc_test::Rng rng;
            INFO(c.str() << ", seed " << rng.seed());
            const Inputs in(c, rng);
            HostTensor dy(c.dtype, c.elements());
            ffc_test::fill_normal(dy, rng);
            Workspace ws(plan, c.shape());
            const ffc_shape_t s = c.shape();
            const HostSpectrum spec(plan, s, in.k.data());
            void *const spectrum = spec.ptr;
            const size_t spec_bytes = spec.bytes;

            Grads with_k(c), with_spectrum(c);
            with_k.poison_all();
            run_backward(plan, c, in, dy, with_k, ws);
            // Every output at once, then each alone (the others stay poisoned).
            for (int only = -1; only < 4; ++only) {
                Wanted w;
                if (only >= 0) w = Wanted{only == 0, only == 1, only == 2, only == 3};
                if (only >= 2 && !c.gated) continue;
                INFO("only " << only);
                with_spectrum.poison_all();
                FFC_REQUIRE_OK(ffc_conv_backward_spectrum(
                    plan, &s, dy.data(), in.u.data(), spectrum, spec_bytes, in.in_gate.data(), in.out_gate.data(),
                    w.du ? with_spectrum.du.data() : nullptr, w.dk ? with_spectrum.dk.data() : nullptr,
                    w.d_in_gate && c.gated ? with_spectrum.d_in_gate.data() : nullptr,
                    w.d_out_gate && c.gated ? with_spectrum.d_out_gate.data() : nullptr, ws.fresh(), ws.size(), nullptr));
                if (w.du) CHECK(with_spectrum.du.bitwise_equal(with_k.du));
                else CHECK(ffc_test::all_poisoned(with_spectrum.du));
                if (w.dk) CHECK(with_spectrum.dk == with_k.dk);
                else CHECK(ffc_test::all_poisoned(with_spectrum.dk));
                if (c.gated) {
                    if (w.d_in_gate) CHECK(with_spectrum.d_in_gate.bitwise_equal(with_k.d_in_gate));
                    else CHECK(ffc_test::all_poisoned(with_spectrum.d_in_gate));
                    if (w.d_out_gate) CHECK(with_spectrum.d_out_gate.bitwise_equal(with_k.d_out_gate));
                    else CHECK(ffc_test::all_poisoned(with_spectrum.d_out_gate));
                }
            }
            // A spectrum too small for the shape, and an output over the spectrum,
            // are refused before anything is written.
            with_spectrum.poison_all();
            CHECK(ffc_conv_backward_spectrum(plan, &s, dy.data(), in.u.data(), spectrum, spec_bytes - 1,
                                             in.in_gate.data(), in.out_gate.data(), with_spectrum.du.data(), nullptr,
                                             nullptr, nullptr, ws.fresh(), ws.size(), nullptr) == FFC_ERROR_BUFFER_TOO_SMALL);
            CHECK(ffc_conv_backward_spectrum(plan, &s, dy.data(), in.u.data(), spectrum, spec_bytes, in.in_gate.data(),
                                             in.out_gate.data(), nullptr, reinterpret_cast<float *>(spectrum), nullptr,
                                             nullptr, ws.fresh(), ws.size(), nullptr) == FFC_ERROR_INVALID_ARGUMENT);
            CHECK(ffc_test::all_poisoned(with_spectrum.du));
        }
    }
}

TEST_CASE("cpu_backend: in-place forward (y == u) equals the out-of-place result", "[cpu][cpu_backend]") {
    for (int64_t n : {256, 4096, 131072}) {
        for (ffc_dtype_t dt : kDtypes) {
            for (int threads : {1, 2, 3}) {
                Config c;
                c.n = n; c.batch = 5; c.channels = 3; c.seq_len = n - 1; c.kernel_len = n / 4; c.dtype = dt;
                c.gated = threads != 2;
                if (n > 4096) { c.batch = 3; c.channels = 2; }
                Plan plan(c.n, dt, threads);
                ffc_test::Rng rng;
                INFO(c.str() << " threads " << threads << ", seed " << rng.seed());
                const Inputs in(c, rng);
                Workspace ws(plan, c.shape());
                HostTensor y(dt, c.elements());
                ffc_test::poison(y);
                run_forward(plan, c, in, y, ws);
                HostTensor inout = in.u;  // a copy that becomes the output
                const ffc_shape_t s = c.shape();
                FFC_REQUIRE_OK(ffc_conv_forward(plan, &s, inout.data(), in.k.data(), in.in_gate.data(),
                                                in.out_gate.data(), inout.data(), ws.fresh(), ws.size(), nullptr));
                CHECK(inout.bitwise_equal(y));
            }
        }
    }
}

TEST_CASE("cpu_backend: results are bitwise deterministic across runs and thread counts", "[cpu][cpu_backend]") {
    for (int64_t n : {1024, 32768}) {
        Config c;
        c.n = n; c.batch = 7; c.channels = 5; c.seq_len = n / 2 + 3; c.kernel_len = n - 1; c.gated = true;
        c.dtype = FFC_DTYPE_FP16;
        ffc_test::Rng rng;
        INFO(c.str() << ", seed " << rng.seed());
        const Inputs in(c, rng);
        HostTensor dy(c.dtype, c.elements());
        ffc_test::fill_normal(dy, rng);

        HostTensor y_first;
        Grads g_first(c);
        bool have_first = false;
        for (int threads : {1, 2, 3, 4, 7, 16}) {
            Plan plan(c.n, c.dtype, threads);
            Workspace ws(plan, c.shape());
            for (int run = 0; run < 2; ++run) {
                INFO("threads " << threads << " run " << run);
                HostTensor y(c.dtype, c.elements());
                ffc_test::poison(y);
                run_forward(plan, c, in, y, ws);
                Grads g(c);
                g.poison_all();
                run_backward(plan, c, in, dy, g, ws);
                if (!have_first) {
                    y_first = y;
                    g_first = g;
                    have_first = true;
                    const auto ref = ffc_test::reference_backward(c.problem(), in.view(), dy.data());
                    const auto sc = ffc_test::error_scales(c.problem(), in.view(), dy.data());
                    CHECK(ffc_test::rel_l2(g.dk, ref.dk) <= ffc_test::dk_tolerance(ref.dk, n, sc.dk));
                    continue;
                }
                CHECK(std::memcmp(g.dk.data(), g_first.dk.data(), g.dk.size() * sizeof(float)) == 0);
                CHECK(y.bitwise_equal(y_first));
                CHECK(g.du.bitwise_equal(g_first.du));
                CHECK(g.d_in_gate.bitwise_equal(g_first.d_in_gate));
                CHECK(g.d_out_gate.bitwise_equal(g_first.d_out_gate));
            }
        }
    }
}

TEST_CASE("cpu_backend: concurrent calls on one plan with separate workspaces", "[cpu][cpu_backend]") {
    Config c;
    c.n = 8192; c.batch = 3; c.channels = 2; c.seq_len = 8192; c.kernel_len = 4000; c.gated = true;
    c.dtype = FFC_DTYPE_FP16;
    Plan plan(c.n, c.dtype, 2);
    ffc_test::Rng rng;
    INFO(c.str() << ", seed " << rng.seed());
    constexpr int kCallers = 4;
    std::vector<Inputs> inputs;
    for (int i = 0; i < kCallers; ++i) inputs.emplace_back(c, rng);
    std::vector<HostTensor> ys(kCallers, HostTensor(c.dtype, c.elements()));
    std::vector<ffc_status_t> status(kCallers, FFC_ERROR_INTERNAL);
    size_t need = 0;
    const ffc_shape_t s = c.shape();
    FFC_REQUIRE_OK(ffc_plan_get_workspace_size(plan, &s, &need));
    std::vector<std::vector<unsigned char>> wss(kCallers, std::vector<unsigned char>(need, 0xff));
    std::vector<std::thread> callers;
    for (int i = 0; i < kCallers; ++i)
        callers.emplace_back([&, i] {
            for (int rep = 0; rep < 3 && (rep == 0 || status[size_t(i)] == FFC_SUCCESS); ++rep)
                status[size_t(i)] = ffc_conv_forward(plan, &s, inputs[size_t(i)].u.data(), inputs[size_t(i)].k.data(),
                                                     inputs[size_t(i)].in_gate.data(), inputs[size_t(i)].out_gate.data(),
                                                     ys[size_t(i)].data(), wss[size_t(i)].data(), need, nullptr);
        });
    for (auto &t : callers) t.join();
    for (int i = 0; i < kCallers; ++i) {
        REQUIRE(status[size_t(i)] == FFC_SUCCESS);
        const auto ref = ffc_test::reference_forward(c.problem(), inputs[size_t(i)].view());
        const double scale = ffc_test::error_scales(c.problem(), inputs[size_t(i)].view()).y;
        CHECK(ffc_test::rel_l2(ys[size_t(i)], ref) <= ffc_test::tolerance(ref, c.dtype, c.n, scale));
    }
}

TEST_CASE("cpu_backend: workspace and spectrum sizes", "[cpu][cpu_backend]") {
    Plan plan(4096, FFC_DTYPE_FP16, 2);
    const ffc_shape_t small{1, 1, 100, 100}, big{8, 16, 4096, 4096};
    size_t ws_small = 0, ws_big = 0, spec = 0;
    FFC_REQUIRE_OK(ffc_plan_get_workspace_size(plan, &small, &ws_small));
    FFC_REQUIRE_OK(ffc_plan_get_workspace_size(plan, &big, &ws_big));
    CHECK(ws_small > 0);
    CHECK(ws_big >= ws_small);  // more parallel items can use more thread slots
    CHECK(ws_big < size_t(64) << 20);  // bounded by the thread count, not by B·H
    FFC_REQUIRE_OK(ffc_kernel_spectrum_get_size(plan, &big, &spec));
    CHECK(spec == size_t(16) * 4096 * 8);
    // One byte short is refused before anything is written.
    std::vector<uint16_t> u(100, 0), y(100, 0x7e5a);
    std::vector<float> k(100, 1.0f);
    std::vector<unsigned char> ws(ws_small);
    CHECK(ffc_conv_forward(plan, &small, u.data(), k.data(), nullptr, nullptr, y.data(), ws.data(), ws_small - 1,
                           nullptr) == FFC_ERROR_WORKSPACE_TOO_SMALL);
    CHECK(std::all_of(y.begin(), y.end(), [](uint16_t v) { return v == 0x7e5a; }));
    CHECK(ffc_conv_forward(plan, &small, u.data(), k.data(), nullptr, nullptr, y.data(), ws.data(), ws_small,
                           nullptr) == FFC_SUCCESS);
    CHECK(std::all_of(y.begin(), y.end(), [](uint16_t v) { return v == 0; }));
}
