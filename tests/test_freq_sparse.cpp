// Frequency-sparse plans (ffc_plan_desc_t::freq_mask, DESIGN §4): the dense
// convolution with the filter's spectrum masked, forward and backward.
//
// The oracle is the fp64 FFT reference with the same mask applied to the
// filter's spectrum (and to dk's spectral sum: the exact gradient of the
// masked filter). Tolerances are the precision rule's, as for dense plans.
// Masks cover the Monarch-row form (G dividing the outer size, whose rows a
// multi-pass plan skips), small G, the free per-bin mask (G = N), all zeros and
// all ones.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "api_harness.hpp"
#include "flashfftconv/flashfftconv.h"
#include "flashfftconv/flashfftconv.hpp"
#include "oracle.hpp"

using ffc_test::Case;
using ffc_test::HostTensor;
using ffc_test::Problem;
using ffc_test::Memory;
using ffc_test::Outputs;
using ffc_test::Wanted;
using ffc_test::bitwise_equal;
using ffc_test::run_api;
using Catch::Matchers::Contains;

namespace {

// A symmetric mask of G entries: the `kept` residues nearest 0 on each side
// (min(j, G − j) < kept), or a random symmetric one (kept < 0).
std::vector<uint8_t> block_mask(uint32_t G, int kept, ffc_test::Rng *rng = nullptr) {
    std::vector<uint8_t> m(G, 0);
    for (uint32_t j = 0; j < G; ++j) {
        const uint32_t mirror = (G - j) & (G - 1);
        if (mirror < j) {
            m[j] = m[mirror];
        } else if (kept >= 0) {
            m[j] = std::min(j, G - j) < uint32_t(kept);
        } else {
            m[j] = rng->normal() > 0 ? 7 : 0;  // any nonzero byte keeps
        }
    }
    return m;
}

struct SparsePlan {
    ffc_plan_t handle = nullptr;
    SparsePlan(int64_t n, ffc_dtype_t dtype, ffc_backend_t backend, const std::vector<uint8_t> &mask) {
        ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
        d.fft_size = uint64_t(n);
        d.dtype = dtype;
        d.backend = backend;
        d.freq_mask = mask.empty() ? nullptr : mask.data();
        d.freq_mask_len = uint32_t(mask.size());
        FFC_TEST_REQUIRE_OK(ffc_plan_create(&handle, &d));
    }
    ~SparsePlan() { ffc_plan_destroy(handle); }
    SparsePlan(const SparsePlan &) = delete;
    SparsePlan &operator=(const SparsePlan &) = delete;
    std::string describe() const {
        std::vector<char> buf(1 << 16);
        FFC_TEST_REQUIRE_OK(ffc_plan_describe(handle, buf.data(), buf.size(), nullptr));
        return buf.data();
    }
};


// The CUDA backend's tolerance factor for fp32 outputs and dk (cuda_test_util.hpp).
double fp32_factor(bool cuda) { return cuda ? 128.0 : 1.0; }

void check_against_oracle(const Problem &p, const std::vector<uint8_t> &mask, const Outputs &o, bool cuda,
                          Wanted w = {}) {
    const Case &c = p.c;
    const ffc_test::ConvProblem cp = c.problem(c.n);
    ffc_test::ConvInputs in = p.inputs();
    in.freq_mask = mask.data();
    in.freq_mask_len = int64_t(mask.size());
    const ffc_test::ErrorScales sc = ffc_test::error_scales(cp, in, p.dy.data());
    auto tol = [&](const std::vector<double> &ref, double scale) {
        const double t = ffc_test::tolerance(ref, c.dtype, c.n, scale);
        return c.dtype == FFC_DTYPE_FP32 ? t * fp32_factor(cuda) : t;
    };
    auto check = [&](const char *name, const HostTensor &out, const std::vector<double> &ref, double scale) {
        const double e = ffc_test::rel_l2(out, ref), t = tol(ref, scale);
        INFO(name << ": rel-L2 " << e << ", tolerance " << t);
        CHECK(e <= t);
    };
    check("y", o.y, ffc_test::reference_forward(cp, in), sc.y);
    const ffc_test::BackwardReference ref = ffc_test::reference_backward(cp, in, p.dy.data());
    if (w.du) check("du", o.du, ref.du, sc.du);
    else CHECK(ffc_test::all_poisoned(o.du));
    if (w.dk) {
        const double e = ffc_test::rel_l2(o.dk, ref.dk), t = ffc_test::dk_tolerance(ref.dk, c.n, sc.dk) * fp32_factor(cuda);
        INFO("dk: rel-L2 " << e << ", tolerance " << t);
        CHECK(e <= t);
    } else {
        CHECK(ffc_test::all_poisoned(o.dk));
    }
    if (!c.gated) return;
    if (w.d_in_gate) check("d_in_gate", o.d_in_gate, ref.d_in_gate, sc.d_in_gate);
    else CHECK(ffc_test::all_poisoned(o.d_in_gate));
    if (w.d_out_gate) check("d_out_gate", o.d_out_gate, ref.d_out_gate, sc.d_out_gate);
    else CHECK(ffc_test::all_poisoned(o.d_out_gate));
}

// The masks one size is tested with: Monarch rows (G = 16 and 4: divisors of
// every outer size), few blocks kept, random symmetric ones at G = 64 and the
// free per-bin mask G = N, and G = 2 (even bins only).
std::vector<std::vector<uint8_t>> masks_for(int64_t n, ffc_test::Rng &rng) {
    return {block_mask(16, 3), block_mask(4, 1), block_mask(2, 1), block_mask(64, -1, &rng),
            block_mask(uint32_t(n), -1, &rng), block_mask(256, 20)};
}

// Forward and every gradient against the oracle, over masks, dtypes, gates and
// shapes (L = N, L = N/2, odd L, K < N, odd B) at size n.
void check_sizes(ffc_backend_t backend, bool cuda, const std::vector<int64_t> &sizes) {
    for (int64_t n : sizes)
        for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_BF16, FFC_DTYPE_FP32}) {
            ffc_test::Rng rng;
            int i = 0;
            for (const std::vector<uint8_t> &mask : masks_for(n, rng)) {
                const SparsePlan plan(n, dt, backend, mask);
                const Case shapes[] = {{n, 3, 2, n, n / 3}, {n, 2, 3, n / 2, n / 2}, {n, 1, 2, n - 37, 5}};
                const Case &cs = shapes[i++ % 3];
                Case c = cs;
                c.dtype = dt;
                c.gated = i % 2 == 1;
                INFO(c.str() << ", mask of " << mask.size() << ", seed " << rng.seed());
                const Problem p(c, rng);
                check_against_oracle(p, mask, run_api(plan.handle, p, cuda), cuda);
            }
        }
}

// Mask of ones == the dense plan, bit for bit; the precomputed spectrum path
// == ffc_conv_forward, bit for bit; a mask of zeros gives zeros.
void check_identities(ffc_backend_t backend, bool cuda, int64_t n) {
    ffc_test::Rng rng;
    INFO("N = " << n << ", seed " << rng.seed());
    const Case c{n, 3, 2, n - 3, n / 4, FFC_DTYPE_BF16, true};
    const Problem p(c, rng);
    {
        const SparsePlan ones(n, c.dtype, backend, std::vector<uint8_t>(8, 1)), dense(n, c.dtype, backend, {});
        CHECK(bitwise_equal(run_api(ones.handle, p, cuda), run_api(dense.handle, p, cuda)));
    }
    {
        const SparsePlan zeros(n, c.dtype, backend, std::vector<uint8_t>(4, 0));
        const Outputs o = run_api(zeros.handle, p, cuda);
        for (const HostTensor *t : {&o.y, &o.du, &o.d_in_gate, &o.d_out_gate})
            for (int64_t i = 0; i < t->count(); ++i) REQUIRE(t->at(i) == 0.0);
        for (float v : o.dk) REQUIRE(v == 0.0f);
    }
    {
        const std::vector<uint8_t> mask = block_mask(32, 5);
        const SparsePlan plan(n, c.dtype, backend, mask);
        Memory mem;
        mem.cuda = cuda;
        const ffc_shape_t s = c.shape();
        size_t ws_size = 0, spec_size = 0;
        FFC_TEST_REQUIRE_OK(ffc_plan_get_workspace_size(plan.handle, &s, &ws_size));
        FFC_TEST_REQUIRE_OK(ffc_kernel_spectrum_get_size(plan.handle, &s, &spec_size));
        void *ws = mem.alloc(ws_size), *spec = mem.alloc(spec_size);
        const void *u = mem.put(p.u.data(), p.u.bytes());
        const void *ig = mem.put(p.ig.data(), p.ig.bytes()), *og = mem.put(p.og.data(), p.og.bytes());
        const float *k = static_cast<const float *>(mem.put(p.k.data(), p.k.size() * sizeof(float)));
        void *y1 = mem.output(c.dtype, c.elements()), *y2 = mem.output(c.dtype, c.elements());
        FFC_TEST_REQUIRE_OK(ffc_conv_forward(plan.handle, &s, u, k, ig, og, y1, ws, ws_size, nullptr));
        FFC_TEST_REQUIRE_OK(ffc_kernel_spectrum_compute(plan.handle, &s, k, spec, spec_size, nullptr));
        FFC_TEST_REQUIRE_OK(ffc_conv_forward_spectrum(plan.handle, &s, u, spec, spec_size, ig, og, y2, ws, ws_size, nullptr));
        HostTensor h1(c.dtype, c.elements()), h2(c.dtype, c.elements());
        mem.get(h1.data(), y1, h1.bytes());
        mem.get(h2.data(), y2, h2.bytes());
        CHECK(h1.bitwise_equal(h2));
        ffc_test::ConvInputs in = p.inputs();
        in.freq_mask = mask.data();
        in.freq_mask_len = int64_t(mask.size());
        const std::vector<double> ref = ffc_test::reference_forward(c.problem(c.n), in);
        const ffc_test::ErrorScales sc = ffc_test::error_scales(c.problem(c.n), in);
        CHECK(ffc_test::rel_l2(h1, ref) <= ffc_test::tolerance(ref, c.dtype, n, sc.y));
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// Contract: validation
// ---------------------------------------------------------------------------

TEST_CASE("freq_mask: invalid masks are refused with a reason, no plan is made", "[cpu][api][sparse]") {
    const ffc_plan_t sentinel = reinterpret_cast<ffc_plan_t>(uintptr_t(0x1234));
    ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
    d.fft_size = 1024;
    d.backend = FFC_BACKEND_CPU;
    std::vector<uint8_t> mask;
    auto expect = [&](ffc_status_t want, const char *text) {
        ffc_plan_t plan = sentinel;
        const ffc_status_t st = ffc_plan_create(&plan, &d);
        INFO(ffc_test::last_error_text());
        CHECK(st == want);
        CHECK_THAT(ffc_test::last_error_text(), Contains(text));
        CHECK(plan == nullptr);
        if (st == FFC_SUCCESS) ffc_plan_destroy(plan);
    };
    SECTION("not symmetric") {
        mask = {1, 1, 0, 0};  // entry 1 kept, entry 3 = G - 1 dropped
        d.freq_mask = mask.data();
        d.freq_mask_len = 4;
        expect(FFC_ERROR_INVALID_ARGUMENT, "symmetric");
    }
    SECTION("length not a power of two, zero, or above N") {
        mask.assign(2048, 1);
        d.freq_mask = mask.data();
        for (uint32_t len : {3u, 6u, 0u, 2048u}) {
            INFO("len " << len);
            d.freq_mask_len = len;
            expect(FFC_ERROR_INVALID_ARGUMENT, "freq_mask_len");
        }
    }
    SECTION("a length without a mask") {
        d.freq_mask_len = 8;
        expect(FFC_ERROR_INVALID_ARGUMENT, "freq_mask is NULL");
    }
    SECTION("descriptor versions before 3 reserve the slots") {
        mask.assign(8, 1);
        d.freq_mask = mask.data();
        d.freq_mask_len = 8;
        d.version = 2;
        expect(FFC_ERROR_INVALID_DESCRIPTOR, "version 3");
    }
    SECTION("not with FFC_PLAN_PARTIAL") {
        mask.assign(8, 1);
        d.freq_mask = mask.data();
        d.freq_mask_len = 8;
        d.flags = FFC_PLAN_PARTIAL;
        expect(FFC_ERROR_NOT_SUPPORTED, "FFC_PLAN_PARTIAL");
    }
}

TEST_CASE("freq_mask: the plan says what it keeps; the C++ wrapper sets the mask", "[cpu][api][sparse]") {
    flashfftconv::Plan plan(flashfftconv::PlanDesc().fft_size(4096).backend(flashfftconv::Backend::cpu).frequency_mask(block_mask(16, 3)));
    const std::string text = plan.describe();
    CHECK_THAT(text, Contains("frequency-sparse"));
    CHECK_THAT(text, Contains("kept 5 of 16"));
    CHECK_THAT(text, Contains("sparse work"));
    // A copy of the descriptor owns its own mask.
    flashfftconv::PlanDesc a = flashfftconv::PlanDesc().fft_size(256).backend(flashfftconv::Backend::cpu).frequency_mask({1, 0});
    const flashfftconv::PlanDesc b = a;
    a.frequency_mask({});
    CHECK(b.c_desc().freq_mask_len == 2);
    CHECK(b.c_desc().freq_mask != nullptr);
    CHECK(a.c_desc().freq_mask == nullptr);
}

// ---------------------------------------------------------------------------
// CPU backend
// ---------------------------------------------------------------------------

TEST_CASE("freq_mask: forward and all four gradients are the masked convolution's", "[cpu][sparse]") {
    check_sizes(FFC_BACKEND_CPU, false, {256, 1024, 4096});
}

TEST_CASE("freq_mask: ones are the dense plan, zeros give zeros, the spectrum path matches", "[cpu][sparse]") {
    check_identities(FFC_BACKEND_CPU, false, 1024);
}

// ---------------------------------------------------------------------------
// CUDA backend (fused sizes and multi-pass sizes, whose dropped rows are skipped)
// ---------------------------------------------------------------------------

TEST_CASE("freq_mask: CUDA forward and gradients at fused sizes", "[gpu][sparse]") {
    if (!ffc_backend_available(FFC_BACKEND_CUDA)) return;
    check_sizes(FFC_BACKEND_CUDA, true, {256, 1024, 4096, 16384});
}

TEST_CASE("freq_mask: CUDA identities", "[gpu][sparse][sanitize]") {
    if (!ffc_backend_available(FFC_BACKEND_CUDA)) return;
    for (int64_t n : {int64_t(512), int64_t(1) << 18}) check_identities(FFC_BACKEND_CUDA, true, n);
}

TEST_CASE("freq_mask: CUDA multi-pass plans skip dropped rows and stay exact", "[gpu][sparse][sanitize]") {
    if (!ffc_backend_available(FFC_BACKEND_CUDA)) return;
    for (int64_t n : {int64_t(1) << 18, int64_t(1) << 20}) {
        for (int kept : {1, 3}) {
            const std::vector<uint8_t> mask = block_mask(16, kept);
            const SparsePlan plan(n, FFC_DTYPE_FP16, FFC_BACKEND_CUDA, mask);
            const std::string text = plan.describe();
            INFO(text);
            CHECK_THAT(text, Contains("rows of the decomposition skipped"));
            ffc_test::Rng rng;
            const Case c{n, 3, 2, n / 2 + 5, 1000, FFC_DTYPE_FP16, true};
            INFO(c.str() << ", kept " << kept << " of 16 blocks, seed " << rng.seed());
            const Problem p(c, rng);
            check_against_oracle(p, mask, run_api(plan.handle, p, true), true);
            // Each gradient alone: without dk, backward runs the skipping convolutions.
            for (int which = 0; which < 4; ++which) {
                const Wanted w{which == 0, which == 1, which == 2, which == 3};
                INFO("only output " << which << " (du, dk, d_in_gate, d_out_gate)");
                check_against_oracle(p, mask, run_api(plan.handle, p, true, w), true, w);
            }
        }
        // A free mask keeps rows whole nowhere: nothing skipped, still exact.
        ffc_test::Rng rng;
        const std::vector<uint8_t> mask = block_mask(uint32_t(n), -1, &rng);
        const SparsePlan plan(n, FFC_DTYPE_BF16, FFC_BACKEND_CUDA, mask);
        CHECK_THAT(plan.describe(), Contains("none skipped"));
        const Case c{n, 2, 2, n, 333, FFC_DTYPE_BF16, false};
        INFO(c.str() << ", free mask, seed " << rng.seed());
        const Problem p(c, rng);
        check_against_oracle(p, mask, run_api(plan.handle, p, true), true);
    }
}
