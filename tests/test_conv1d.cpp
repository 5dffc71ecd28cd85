// The short depthwise convolution (ffc_conv1d_*), through the public C API:
//
// - an fp64 oracle written here from the header's definition (forward as a
//   gather over taps, backward as the adjoint: a scatter over the forward's
//   terms), independent of the library's index arithmetic;
// - [cpu]: every dtype × layout × K × padding on odd shapes (L shorter than K
//   included), with and without bias, every subset of backward outputs, outputs
//   NaN-poisoned before every call (unrequested ones must stay poisoned),
//   bitwise determinism across runs and thread counts, concurrent calls, the
//   C++ wrapper, and every validation failure (documented status, non-empty
//   message naming the field, nothing written);
// - [gpu]: the same checks on the CUDA backend with device buffers, graph
//   capture, and the pointer checks (compiled in CUDA builds only).
//
// Tolerances. fp16 / bf16 outputs: 2 × the rel-L2 of correctly rounding the
// fp64 reference (DESIGN §3, ffc_test::rounding_rel_l2). fp32 outputs: a
// rigorous normwise bound of the summation error, see sum_tolerance() below.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "flashfftconv/flashfftconv.h"
#include "flashfftconv/flashfftconv.hpp"
#include "oracle.hpp"

using Catch::Matchers::Contains;
using ffc_test::HostTensor;
using ffc_test::Rng;

namespace {

// ---------------------------------------------------------------------------
// Small helpers over the C API
// ---------------------------------------------------------------------------

std::string last_error() {
    const size_t n = ffc_last_error_message(nullptr, 0);
    std::vector<char> buf(n + 1, '\0');
    ffc_last_error_message(buf.data(), buf.size());
    return std::string(buf.data());
}

#define C1D_REQUIRE_OK(call)                                                                     \
    do {                                                                                         \
        const ffc_status_t st_ = (call);                                                         \
        INFO(#call << " -> " << int(st_) << " (" << ffc_status_string(st_) << "): " << last_error()); \
        REQUIRE(st_ == FFC_SUCCESS);                                                             \
    } while (0)

// A failed call: the expected status and a non-empty message naming `field`.
void require_error(ffc_status_t got, ffc_status_t want, const std::string &field) {
    INFO("status " << int(got) << " (" << ffc_status_string(got) << "), want " << int(want) << " ("
                   << ffc_status_string(want) << ")");
    REQUIRE(got == want);
    const std::string msg = last_error();
    INFO("message: \"" << msg << "\"");
    REQUIRE_FALSE(msg.empty());
    CHECK_THAT(msg, Contains(field, Catch::CaseSensitive::No));
}

const char *layout_label(ffc_layout_t l) { return l == FFC_LAYOUT_BHL ? "BHL" : "BLH"; }

// ---------------------------------------------------------------------------
// One problem
// ---------------------------------------------------------------------------

struct Case {
    ffc_dtype_t dtype = FFC_DTYPE_FP32;
    ffc_layout_t layout = FFC_LAYOUT_BHL;
    int K = 3, pl = 2, pr = 0;
    int64_t B = 1, H = 1, L = 1;
    bool bias = true;

    int64_t out_len() const { return L + pl + pr - K + 1; }
    int64_t in_elems() const { return B * H * L; }
    int64_t out_elems() const { return B * H * out_len(); }
    std::string str() const {
        return std::string(ffc_test::dtype_label(dtype)) + " " + layout_label(layout) + " K=" + std::to_string(K) +
               " padding=" + std::to_string(pl) + "/" + std::to_string(pr) + " B=" + std::to_string(B) +
               " H=" + std::to_string(H) + " L=" + std::to_string(L) + " L_out=" + std::to_string(out_len()) +
               (bias ? " bias" : " no bias");
    }
};

// Element index of (b, h, t) in a tensor with `len` positions per sequence,
// written out here from the header's layout names (not the library's).
int64_t index_of(const Case &c, int64_t b, int64_t h, int64_t t, int64_t len) {
    return c.layout == FFC_LAYOUT_BHL ? (b * c.H + h) * len + t : (b * len + t) * c.H + h;
}

ffc_conv1d_desc_t make_desc(const Case &c, ffc_backend_t backend, int threads = 2) {
    ffc_conv1d_desc_t d = FFC_CONV1D_DESC_INIT;
    d.dtype = c.dtype;
    d.backend = backend;
    d.layout = c.layout;
    d.kernel_size = c.K;
    d.padding_left = c.pl;
    d.padding_right = c.pr;
    d.cpu_threads = threads;
    return d;
}

struct CPlan {
    ffc_conv1d_plan_t p = nullptr;
    explicit CPlan(const ffc_conv1d_desc_t &d) { C1D_REQUIRE_OK(ffc_conv1d_plan_create(&p, &d)); REQUIRE(p != nullptr); }
    CPlan(const Case &c, ffc_backend_t backend, int threads = 2) : CPlan(make_desc(c, backend, threads)) {}
    ~CPlan() { ffc_conv1d_plan_destroy(p); }
    CPlan(const CPlan &) = delete;
    CPlan &operator=(const CPlan &) = delete;
};

// Host inputs, drawn fresh and rounded to their types: x and dy in the I/O
// dtype, weight with variance 1/K (outputs of order 1), bias (when present).
struct Data {
    HostTensor x, dy;
    std::vector<float> w, bias;
    Data(const Case &c, Rng &rng)
        : x(c.dtype, c.in_elems()), dy(c.dtype, c.out_elems()), w(size_t(c.H * c.K)), bias(c.bias ? size_t(c.H) : 0) {
        ffc_test::fill_normal(x, rng);
        ffc_test::fill_normal(dy, rng);
        ffc_test::fill_normal(w, rng, 1.0 / std::sqrt(double(c.K)));
        ffc_test::fill_normal(bias, rng);
    }
    const float *bias_ptr() const { return bias.empty() ? nullptr : bias.data(); }
};

// Outputs, NaN-poisoned.
struct Outputs {
    HostTensor y, dx;
    std::vector<float> dw, db;
    explicit Outputs(const Case &c)
        : y(c.dtype, c.out_elems()), dx(c.dtype, c.in_elems()), dw(size_t(c.H * c.K)), db(size_t(c.H)) {
        poison();
    }
    void poison() {
        ffc_test::poison(y);
        ffc_test::poison(dx);
        ffc_test::poison(dw);
        ffc_test::poison(db);
    }
};

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---------------------------------------------------------------------------
// The fp64 oracle
// ---------------------------------------------------------------------------

// A reference result and, per element, the sum of the absolute values of the
// terms it is made of (the scale of any summation error); `terms` is the most
// terms one element sums.
struct Ref {
    std::vector<double> value, magnitude;
    int64_t terms = 0;
};

// y[b,h,t] = bias[h] + Σ_{j<K} w[h,j] · x[b,h,t + j − padding_left], x zero outside [0, L).
Ref oracle_forward(const Case &c, const Data &d) {
    const int64_t Lo = c.out_len();
    Ref r;
    r.value.assign(size_t(c.out_elems()), 0.0);
    r.magnitude.assign(size_t(c.out_elems()), 0.0);
    r.terms = c.K + (c.bias ? 1 : 0);
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t h = 0; h < c.H; ++h)
            for (int64_t t = 0; t < Lo; ++t) {
                double v = 0, m = 0;
                if (c.bias) {
                    v = d.bias[size_t(h)];
                    m = std::fabs(v);
                }
                for (int j = 0; j < c.K; ++j) {
                    const int64_t s = t + j - c.pl;
                    if (s < 0 || s >= c.L) continue;  // padding: a zero
                    const double term = double(d.w[size_t(h * c.K + j)]) * d.x.at(index_of(c, b, h, s, c.L));
                    v += term;
                    m += std::fabs(term);
                }
                const size_t i = size_t(index_of(c, b, h, t, Lo));
                r.value[i] = v;
                r.magnitude[i] = m;
            }
    return r;
}

struct BackwardRef {
    Ref dx, dw, db;
};

// The backward as the adjoint of the forward: each term w[h,j]·x[b,h,s] of
// y[b,h,t] sends dy[b,h,t]·w[h,j] to dx[b,h,s] and dy[b,h,t]·x[b,h,s] to
// dw[h,j]; each y[b,h,t] sends dy[b,h,t] to dbias[h]. (A scatter, where the
// header states gathers: the two must agree.)
BackwardRef oracle_backward(const Case &c, const Data &d) {
    const int64_t Lo = c.out_len();
    BackwardRef r;
    r.dx.value.assign(size_t(c.in_elems()), 0.0);
    r.dx.magnitude = r.dx.value;
    r.dx.terms = c.K;
    r.dw.value.assign(size_t(c.H * c.K), 0.0);
    r.dw.magnitude = r.dw.value;
    r.dw.terms = c.B * Lo;
    r.db.value.assign(size_t(c.H), 0.0);
    r.db.magnitude = r.db.value;
    r.db.terms = c.B * Lo;
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t h = 0; h < c.H; ++h)
            for (int64_t t = 0; t < Lo; ++t) {
                const double g = d.dy.at(index_of(c, b, h, t, Lo));
                r.db.value[size_t(h)] += g;
                r.db.magnitude[size_t(h)] += std::fabs(g);
                for (int j = 0; j < c.K; ++j) {
                    const int64_t s = t + j - c.pl;
                    if (s < 0 || s >= c.L) continue;
                    const size_t xi = size_t(index_of(c, b, h, s, c.L)), wi = size_t(h * c.K + j);
                    const double to_dx = g * double(d.w[wi]), to_dw = g * d.x.at(int64_t(xi));
                    r.dx.value[xi] += to_dx;
                    r.dx.magnitude[xi] += std::fabs(to_dx);
                    r.dw.value[wi] += to_dw;
                    r.dw.magnitude[wi] += std::fabs(to_dw);
                }
            }
    return r;
}

// ---------------------------------------------------------------------------
// Tolerances
// ---------------------------------------------------------------------------

constexpr double kU32 = 1.0 / 16777216.0;                 // 2^-24, fp32 unit roundoff
constexpr double kU64 = 1.0 / 9007199254740992.0;         // 2^-53, fp64 unit roundoff

// γ_n = n·u / (1 − n·u) (Higham, Accuracy and Stability of Numerical Algorithms, §3.1).
double gamma_n(int64_t n, double u) {
    const double nu = double(n) * u;
    return nu < 0.5 ? nu / (1.0 - nu) : std::numeric_limits<double>::infinity();
}

double norm2(const std::vector<double> &v) {
    long double s = 0;
    for (double x : v) s += (long double)x * x;
    return double(std::sqrt(s));
}

// The bound for an fp32 output that is a sum of at most n = r.terms terms
// (products of two values, or single values), accumulated in floating point
// with unit roundoff acc_u in ANY order, then rounded to fp32 (out_u = 2^-24)
// or not (out_u = 0: the fp32 accumulator is the result).
//
// Derivation. An inner product or sum of n terms t_i evaluated in any order,
// each product rounded (or fused), satisfies |ŝ − s| ≤ γ_n(acc_u) · Σ|t_i|
// (Higham, Lemma 3.1 and §3.1). Rounding ŝ to fp32 adds at most
// out_u·|ŝ| ≤ out_u·(|s| + |ŝ − s|). Per element:
//     |out − s| ≤ out_u·|s| + (1 + out_u) · γ_n(acc_u) · A,   A = Σ|t_i|,
// and by the triangle inequality in the 2-norm over all elements:
//     ||out − s|| / ||s|| ≤ out_u + (1 + out_u) · γ_n(acc_u) · ||A|| / ||s||.
// The oracle's own value s_ref is a double sum of the same terms, off from the
// exact s by at most γ_n(2^-53)·A: that is added to the bound (c = 1 on each
// part; the bound is a worst case, nothing is loosened beyond it).
double sum_tolerance(const Ref &r, double acc_u, double out_u) {
    const double ref_norm = norm2(r.value);
    if (ref_norm == 0) return 0;  // then the output must be exactly zero too
    return out_u + (1 + out_u) * (gamma_n(r.terms, acc_u) + gamma_n(r.terms, kU64)) * norm2(r.magnitude) / ref_norm;
}

// y and dx of the CPU backend: fp32 accumulation; 16-bit outputs are rounded once.
double io_tolerance(const Ref &r, ffc_dtype_t dtype) {
    if (dtype != FFC_DTYPE_FP32) return 2.0 * ffc_test::rounding_rel_l2(r.value, dtype);
    return sum_tolerance(r, kU32, 0.0);
}

// dweight and dbias of the CPU backend: double accumulation, rounded once to fp32.
double cpu_reduction_tolerance(const Ref &r) { return sum_tolerance(r, kU64, kU32); }

// FFC_TEST_REPORT=1 prints every measured error next to its tolerance.
bool report_enabled() {
    static const bool on = [] {
        const char *e = std::getenv("FFC_TEST_REPORT");
        return e && *e && std::strcmp(e, "0") != 0;
    }();
    return on;
}

void check_close(const char *what, double err, double tol) {
    if (report_enabled()) std::printf("conv1d %-8s rel-L2 %.3e  tolerance %.3e\n", what, err, tol);
    INFO(what << ": rel-L2 error " << err << ", tolerance " << tol);
    CHECK(err <= tol);
}

// ---------------------------------------------------------------------------
// The CPU correctness matrix
// ---------------------------------------------------------------------------

// Paddings for one K: causal, 'same' (PyTorch: the odd one on the right),
// valid, full, anti-causal, asymmetric (duplicates dropped).
std::vector<std::pair<int, int>> paddings(int K) {
    const int m = K - 1;
    const std::pair<int, int> all[] = {{m, 0}, {m / 2, m - m / 2}, {0, 0}, {m, m}, {0, m}, {m / 3, m - m / 4}};
    std::vector<std::pair<int, int>> out;
    for (const auto &p : all)
        if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    return out;
}

const int kKernelSizes[] = {1, 2, 3, 4, 5, 7, 31, 128};

// Shapes for one K: odd B, H, L; L longer than K; L shorter than K; L = 1.
// Those whose L_out would be < 1 for the padding are skipped by the caller.
struct Dims {
    int64_t B, H, L;
    bool bias;
};
std::vector<Dims> dims_for(int K) {
    return {{3, 5, 37, true}, {1, 3, K + 6, false}, {2, 7, std::max(1, K / 2), true}, {5, 1, 1, false}};
}

// Forward and backward (every subset of outputs, including none) of one case
// on the CPU backend against the oracle.
void run_cpu_case(const Case &c, int threads = 2) {
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const Data d(c, rng);
    const Ref ry = oracle_forward(c, d);
    const BackwardRef rb = oracle_backward(c, d);
    CPlan plan(c, FFC_BACKEND_CPU, threads);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};

    int64_t out_len = -1;
    C1D_REQUIRE_OK(ffc_conv1d_output_length(plan.p, c.L, &out_len));
    CHECK(out_len == c.out_len());
    size_t ws = 12345;
    C1D_REQUIRE_OK(ffc_conv1d_get_workspace_size(plan.p, &shape, &ws));
    CHECK(ws == 0);  // the CPU backend needs none

    Outputs o(c);
    C1D_REQUIRE_OK(ffc_conv1d_forward(plan.p, &shape, d.x.data(), d.w.data(), d.bias_ptr(), o.y.data(), nullptr, 0, nullptr));
    check_close("y", ffc_test::rel_l2(o.y, ry.value), io_tolerance(ry, c.dtype));

    for (int mask = 0; mask < 8; ++mask) {
        const bool want_dx = mask & 1, want_dw = mask & 2, want_db = mask & 4;
        INFO("backward outputs:" << (want_dx ? " dx" : "") << (want_dw ? " dweight" : "") << (want_db ? " dbias" : ""));
        o.poison();
        // Only what the requested outputs need: x for dweight, weight for dx.
        C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, d.dy.data(),
                                           want_dw ? d.x.data() : nullptr, want_dx ? d.w.data() : nullptr,
                                           want_dx ? o.dx.data() : nullptr, want_dw ? o.dw.data() : nullptr,
                                           want_db ? o.db.data() : nullptr, nullptr, 0, nullptr));
        if (want_dx) check_close("dx", ffc_test::rel_l2(o.dx, rb.dx.value), io_tolerance(rb.dx, c.dtype));
        else CHECK(ffc_test::all_poisoned(o.dx));
        if (want_dw) check_close("dweight", ffc_test::rel_l2(o.dw, rb.dw.value), cpu_reduction_tolerance(rb.dw));
        else CHECK(ffc_test::all_poisoned(o.dw));
        if (want_db) check_close("dbias", ffc_test::rel_l2(o.db, rb.db.value), cpu_reduction_tolerance(rb.db));
        else CHECK(ffc_test::all_poisoned(o.db));
        CHECK(ffc_test::all_poisoned(o.y));  // backward never writes y
    }
}

void run_cpu_matrix(ffc_dtype_t dtype) {
    int cases = 0, short_l = 0;
    for (ffc_layout_t layout : {FFC_LAYOUT_BHL, FFC_LAYOUT_BLH})
        for (int K : kKernelSizes)
            for (const auto &pad : paddings(K))
                for (const Dims &dm : dims_for(K)) {
                    Case c;
                    c.dtype = dtype;
                    c.layout = layout;
                    c.K = K;
                    c.pl = pad.first;
                    c.pr = pad.second;
                    c.B = dm.B;
                    c.H = dm.H;
                    c.L = dm.L;
                    c.bias = dm.bias;
                    if (c.out_len() < 1) continue;
                    run_cpu_case(c);
                    ++cases;
                    if (c.L < c.K) ++short_l;
                }
    CHECK(cases >= 280);
    CHECK(short_l >= 50);
}

}  // namespace

TEST_CASE("conv1d cpu: fp32, every layout, K and padding, against the fp64 oracle", "[cpu][conv1d]") {
    run_cpu_matrix(FFC_DTYPE_FP32);
}

TEST_CASE("conv1d cpu: fp16, every layout, K and padding, against the fp64 oracle", "[cpu][conv1d]") {
    run_cpu_matrix(FFC_DTYPE_FP16);
}

TEST_CASE("conv1d cpu: bf16, every layout, K and padding, against the fp64 oracle", "[cpu][conv1d]") {
    run_cpu_matrix(FFC_DTYPE_BF16);
}

TEST_CASE("conv1d cpu: larger problems on several threads", "[cpu][conv1d]") {
    // Enough rows and channels that 4 threads each get work.
    for (ffc_layout_t layout : {FFC_LAYOUT_BHL, FFC_LAYOUT_BLH}) {
        Case c;
        c.dtype = FFC_DTYPE_BF16;
        c.layout = layout;
        c.K = 4;
        c.pl = 3;
        c.pr = 0;
        c.B = 3;
        c.H = 65;
        c.L = 1001;
        run_cpu_case(c, 4);
        c.dtype = FFC_DTYPE_FP32;
        c.K = 31;
        c.pl = 15;
        c.pr = 15;
        c.bias = false;
        run_cpu_case(c, 4);
    }
}

namespace {

struct BackwardBits {
    HostTensor y, dx;
    std::vector<float> dw, db, dw_alone, db_alone;
};

BackwardBits run_all(const Case &c, const Data &d, int threads) {
    CPlan plan(c, FFC_BACKEND_CPU, threads);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};
    Outputs o(c);
    C1D_REQUIRE_OK(ffc_conv1d_forward(plan.p, &shape, d.x.data(), d.w.data(), d.bias_ptr(), o.y.data(), nullptr, 0, nullptr));
    C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, d.dy.data(), d.x.data(), d.w.data(), o.dx.data(), o.dw.data(),
                                       o.db.data(), nullptr, 0, nullptr));
    BackwardBits r{o.y, o.dx, o.dw, o.db, {}, {}};
    o.poison();
    C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, d.dy.data(), d.x.data(), nullptr, nullptr, o.dw.data(), nullptr,
                                       nullptr, 0, nullptr));
    r.dw_alone = o.dw;
    C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, d.dy.data(), nullptr, nullptr, nullptr, nullptr, o.db.data(),
                                       nullptr, 0, nullptr));
    r.db_alone = o.db;
    return r;
}

}  // namespace

TEST_CASE("conv1d cpu: bitwise deterministic across runs, thread counts and output subsets", "[cpu][conv1d]") {
    for (ffc_dtype_t dtype : {FFC_DTYPE_FP32, FFC_DTYPE_BF16})
        for (ffc_layout_t layout : {FFC_LAYOUT_BHL, FFC_LAYOUT_BLH}) {
            Case c;
            c.dtype = dtype;
            c.layout = layout;
            c.K = 7;
            c.pl = 6;
            c.pr = 0;
            c.B = 4;
            c.H = 67;
            c.L = 3001;
            Rng rng;
            INFO(c.str() << " seed=" << rng.seed());
            const Data d(c, rng);
            const BackwardBits one = run_all(c, d, 1);
            const BackwardBits four = run_all(c, d, 4);
            const BackwardBits again = run_all(c, d, 4);
            for (const BackwardBits *r : {&four, &again}) {
                CHECK(r->y.bitwise_equal(one.y));
                CHECK(r->dx.bitwise_equal(one.dx));
                CHECK(bitwise_equal(r->dw, one.dw));
                CHECK(bitwise_equal(r->db, one.db));
            }
            // Asking for fewer outputs does not change the bits of the others.
            CHECK(bitwise_equal(one.dw_alone, one.dw));
            CHECK(bitwise_equal(one.db_alone, one.db));
            CHECK(bitwise_equal(four.dw_alone, one.dw));
            // And the results are right.
            const BackwardRef rb = oracle_backward(c, d);
            check_close("dweight", ffc_test::rel_l2(one.dw, rb.dw.value), cpu_reduction_tolerance(rb.dw));
            check_close("dbias", ffc_test::rel_l2(one.db, rb.db.value), cpu_reduction_tolerance(rb.db));
            check_close("dx", ffc_test::rel_l2(one.dx, rb.dx.value), io_tolerance(rb.dx, c.dtype));
        }
}

TEST_CASE("conv1d cpu: concurrent calls on one plan give the same bits", "[cpu][conv1d]") {
    Case c;
    c.dtype = FFC_DTYPE_FP16;
    c.layout = FFC_LAYOUT_BLH;
    c.K = 4;
    c.pl = 3;
    c.pr = 0;
    c.B = 2;
    c.H = 33;
    c.L = 501;
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const Data d(c, rng);
    CPlan plan(c, FFC_BACKEND_CPU, 2);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};
    Outputs ref(c);
    C1D_REQUIRE_OK(ffc_conv1d_forward(plan.p, &shape, d.x.data(), d.w.data(), d.bias_ptr(), ref.y.data(), nullptr, 0, nullptr));
    C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, d.dy.data(), d.x.data(), d.w.data(), ref.dx.data(), ref.dw.data(),
                                       ref.db.data(), nullptr, 0, nullptr));
    // No Catch2 assertion inside the workers (not thread-safe): they count mismatches.
    constexpr int kThreads = 8, kRepeats = 5;
    std::atomic<int> failures{0}, mismatches{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t)
        workers.emplace_back([&] {
            Outputs o(c);
            for (int r = 0; r < kRepeats; ++r) {
                o.poison();
                if (ffc_conv1d_forward(plan.p, &shape, d.x.data(), d.w.data(), d.bias_ptr(), o.y.data(), nullptr, 0,
                                       nullptr) != FFC_SUCCESS ||
                    ffc_conv1d_backward(plan.p, &shape, d.dy.data(), d.x.data(), d.w.data(), o.dx.data(), o.dw.data(),
                                        o.db.data(), nullptr, 0, nullptr) != FFC_SUCCESS)
                    ++failures;
                if (!o.y.bitwise_equal(ref.y) || !o.dx.bitwise_equal(ref.dx) || !bitwise_equal(o.dw, ref.dw) ||
                    !bitwise_equal(o.db, ref.db))
                    ++mismatches;
            }
        });
    for (std::thread &w : workers) w.join();
    CHECK(failures == 0);
    CHECK(mismatches == 0);
}

// ---------------------------------------------------------------------------
// Validation: every failure has its documented status, a message naming the
// field, and writes nothing.
// ---------------------------------------------------------------------------

namespace {

constexpr unsigned char kPoisonByte = 0xA5;  // as input data: finite in fp32, fp16 and bf16

// A host buffer of poison bytes, 128-byte aligned, with slack after it so that
// pointers a little inside it (misaligned or overlapping) stay in bounds.
class Buffer {
public:
    explicit Buffer(size_t bytes) : storage_(bytes + 512, kPoisonByte) {
        offset_ = size_t((128 - reinterpret_cast<uintptr_t>(storage_.data()) % 128) % 128);
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    unsigned char *data() { return storage_.data() + offset_; }
    void *at(size_t byte_offset) { return data() + byte_offset; }
    float *f(size_t byte_offset = 0) { return reinterpret_cast<float *>(data() + byte_offset); }
    bool untouched() const {
        return std::all_of(storage_.begin(), storage_.end(), [](unsigned char c) { return c == kPoisonByte; });
    }

private:
    std::vector<unsigned char> storage_;
    size_t offset_ = 0;
};

// A valid fp16 (B, H, L) problem on a causal K = 4 CPU plan: B = 2, H = 3, L = 10 (L_out = 10).
struct Fixture {
    static constexpr int64_t B = 2, H = 3, L = 10, K = 4;
    Case c;
    CPlan plan;
    ffc_conv1d_shape_t shape{B, H, L};
    size_t x_bytes = B * H * L * 2, w_bytes = H * K * 4, b_bytes = H * 4;
    Buffer x{x_bytes}, w{w_bytes}, bias{b_bytes}, dy{x_bytes}, y{x_bytes}, dx{x_bytes}, dw{w_bytes}, db{b_bytes};

    static Case make_case() {
        Case c;
        c.dtype = FFC_DTYPE_FP16;
        c.layout = FFC_LAYOUT_BHL;
        c.K = int(K);
        c.pl = int(K - 1);
        c.pr = 0;
        c.B = B;
        c.H = H;
        c.L = L;
        return c;
    }
    Fixture() : c(make_case()), plan(c, FFC_BACKEND_CPU) {}
    bool nothing_written() const {
        return x.untouched() && w.untouched() && bias.untouched() && dy.untouched() && y.untouched() &&
               dx.untouched() && dw.untouched() && db.untouched();
    }
};

void expect_create_fails(const ffc_conv1d_desc_t &d, ffc_status_t want, const std::string &field) {
    ffc_conv1d_plan_t p = reinterpret_cast<ffc_conv1d_plan_t>(uintptr_t(0x1234));  // must be reset to NULL
    const ffc_status_t st = ffc_conv1d_plan_create(&p, &d);
    if (st == FFC_SUCCESS) ffc_conv1d_plan_destroy(p);
    require_error(st, want, field);
    CHECK(p == nullptr);
}

}  // namespace

TEST_CASE("conv1d api: plan creation validates the descriptor", "[cpu][conv1d]") {
    ffc_conv1d_desc_t good = FFC_CONV1D_DESC_INIT;
    good.backend = FFC_BACKEND_CPU;
    CHECK(good.struct_size == 96);
    CHECK(good.kernel_size == 3);
    CHECK(good.padding_left == 2);
    CHECK(good.padding_right == 0);
    CHECK(good.dtype == FFC_DTYPE_FP16);
    CHECK(good.layout == FFC_LAYOUT_BHL);
    { CPlan ok(good); }

    SECTION("NULL arguments") {
        require_error(ffc_conv1d_plan_create(nullptr, &good), FFC_ERROR_NULL_POINTER, "plan");
        ffc_conv1d_plan_t p = reinterpret_cast<ffc_conv1d_plan_t>(uintptr_t(0x1234));
        require_error(ffc_conv1d_plan_create(&p, nullptr), FFC_ERROR_NULL_POINTER, "desc");
        CHECK(p == nullptr);
    }
    SECTION("versioned header") {
        auto bad = good;
        bad.magic = FFC_PLAN_DESC_MAGIC;  // another descriptor's magic
        expect_create_fails(bad, FFC_ERROR_INVALID_DESCRIPTOR, "magic");
        for (uint32_t v : {0u, FFC_CONV1D_DESC_VERSION + 1}) {
            bad = good;
            bad.version = v;
            expect_create_fails(bad, FFC_ERROR_INVALID_DESCRIPTOR, "version");
        }
        for (size_t s : {size_t(0), size_t(88), size_t(95), size_t(97), size_t(128)}) {
            bad = good;
            bad.struct_size = s;
            expect_create_fails(bad, FFC_ERROR_INVALID_DESCRIPTOR, "struct_size");
        }
        for (int i = 0; i < 6; ++i) {
            bad = good;
            bad.reserved[i] = 1;
            expect_create_fails(bad, FFC_ERROR_INVALID_DESCRIPTOR, "reserved");
        }
    }
    SECTION("dtype, backend, layout") {
        for (int32_t v : {-1, 3, 100}) {
            auto bad = good;
            bad.dtype = v;
            expect_create_fails(bad, FFC_ERROR_INVALID_DTYPE, "dtype");
            bad = good;
            bad.backend = v;
            expect_create_fails(bad, FFC_ERROR_INVALID_BACKEND, "backend");
        }
        for (int32_t v : {-1, 2, 7}) {
            auto bad = good;
            bad.layout = v;
            expect_create_fails(bad, FFC_ERROR_INVALID_ARGUMENT, "layout");
        }
    }
    SECTION("kernel size and padding") {
        for (int32_t k : {0, -1, FFC_CONV1D_MAX_KERNEL_SIZE + 1, std::numeric_limits<int32_t>::max(),
                          std::numeric_limits<int32_t>::min()}) {
            auto bad = good;
            bad.kernel_size = k;
            bad.padding_left = 0;
            expect_create_fails(bad, FFC_ERROR_INVALID_ARGUMENT, "kernel_size");
        }
        auto bad = good;
        bad.kernel_size = 1;  // the initialiser's causal padding of K = 3 is too much for K = 1
        expect_create_fails(bad, FFC_ERROR_INVALID_ARGUMENT, "padding_left");
        for (int32_t p : {-1, 3, 1000, std::numeric_limits<int32_t>::min()}) {
            bad = good;
            bad.padding_left = p;
            expect_create_fails(bad, FFC_ERROR_INVALID_ARGUMENT, "padding_left");
            bad = good;
            bad.padding_right = p;
            expect_create_fails(bad, FFC_ERROR_INVALID_ARGUMENT, "padding_right");
        }
    }
    SECTION("cpu_threads") {
        auto bad = good;
        bad.cpu_threads = -1;
        expect_create_fails(bad, FFC_ERROR_INVALID_ARGUMENT, "cpu_threads");
    }
    SECTION("the CUDA backend where there is none") {
        if (!ffc_backend_available(FFC_BACKEND_CUDA)) {
            auto bad = good;
            bad.backend = FFC_BACKEND_CUDA;
            expect_create_fails(bad, FFC_ERROR_BACKEND_UNAVAILABLE, "CUDA");
        }
    }
    SECTION("the extremes are valid") {
        for (auto [k, pl, pr] : {std::tuple<int, int, int>{1, 0, 0}, {128, 127, 127}, {128, 0, 0}, {2, 1, 1}}) {
            auto d = good;
            d.kernel_size = k;
            d.padding_left = pl;
            d.padding_right = pr;
            CPlan ok(d);
        }
        for (int32_t threads : {0, 1, 1000}) {
            auto d = good;
            d.cpu_threads = threads;  // 0: hardware concurrency; large values are capped
            CPlan ok(d);
        }
        auto d = good;
        d.device = 7;  // ignored by the CPU backend
        CPlan ok(d);
    }
}

TEST_CASE("conv1d api: destroy(NULL), output length, workspace size", "[cpu][conv1d]") {
    ffc_conv1d_plan_destroy(nullptr);  // a no-op
    Case c = Fixture::make_case();
    c.K = 5;
    c.pl = 1;
    c.pr = 2;
    CPlan plan(c, FFC_BACKEND_CPU);

    for (int64_t L : {int64_t(2), int64_t(3), int64_t(1000), (int64_t(1) << 60) - 1}) {
        int64_t out = -77;
        C1D_REQUIRE_OK(ffc_conv1d_output_length(plan.p, L, &out));
        CHECK(out == L + 1 + 2 - 5 + 1);
    }
    int64_t out = -77;
    require_error(ffc_conv1d_output_length(nullptr, 10, &out), FFC_ERROR_NULL_POINTER, "plan");
    require_error(ffc_conv1d_output_length(plan.p, 10, nullptr), FFC_ERROR_NULL_POINTER, "out_len");
    for (int64_t L : {int64_t(0), int64_t(-1), std::numeric_limits<int64_t>::min()})
        require_error(ffc_conv1d_output_length(plan.p, L, &out), FFC_ERROR_INVALID_SHAPE, "seq_len");
    require_error(ffc_conv1d_output_length(plan.p, std::numeric_limits<int64_t>::max(), &out), FFC_ERROR_INVALID_SHAPE,
                  "seq_len");
    CHECK(out == -77);
    require_error(ffc_conv1d_output_length(plan.p, 1, &out), FFC_ERROR_INVALID_SHAPE, "L_out");  // L_out = 0
    CHECK(out == -77);

    // 'valid' padding: L_out = L - K + 1 < 1 for L < K.
    c.pl = c.pr = 0;
    CPlan valid(c, FFC_BACKEND_CPU);
    for (int64_t L : {1, 2, 3, 4})
        require_error(ffc_conv1d_output_length(valid.p, L, &out), FFC_ERROR_INVALID_SHAPE, "L_out");
    CHECK(out == -77);
    C1D_REQUIRE_OK(ffc_conv1d_output_length(valid.p, 5, &out));
    CHECK(out == 1);

    // Workspace size: validated shape, 0 on the CPU.
    size_t ws = 999;
    const ffc_conv1d_shape_t good{2, 3, 10};
    require_error(ffc_conv1d_get_workspace_size(nullptr, &good, &ws), FFC_ERROR_NULL_POINTER, "plan");
    require_error(ffc_conv1d_get_workspace_size(plan.p, nullptr, &ws), FFC_ERROR_NULL_POINTER, "shape");
    require_error(ffc_conv1d_get_workspace_size(plan.p, &good, nullptr), FFC_ERROR_NULL_POINTER, "workspace_size");
    CHECK(ws == 999);
    C1D_REQUIRE_OK(ffc_conv1d_get_workspace_size(plan.p, &good, &ws));
    CHECK(ws == 0);
}

TEST_CASE("conv1d api: get_desc reports the plan as resolved", "[cpu][conv1d]") {
    for (ffc_backend_t requested : {FFC_BACKEND_AUTO, FFC_BACKEND_CPU}) {
        if (requested == FFC_BACKEND_AUTO && ffc_backend_available(FFC_BACKEND_CUDA)) continue;  // AUTO is CUDA there
        ffc_conv1d_desc_t d = FFC_CONV1D_DESC_INIT;
        d.dtype = FFC_DTYPE_BF16;
        d.backend = requested;
        d.layout = FFC_LAYOUT_BLH;
        d.kernel_size = 7;
        d.padding_left = 2;
        d.padding_right = 6;
        d.cpu_threads = 3;
        CPlan plan(d);
        ffc_conv1d_desc_t got = FFC_CONV1D_DESC_INIT;
        C1D_REQUIRE_OK(ffc_conv1d_plan_get_desc(plan.p, &got));
        CHECK(got.struct_size == sizeof(ffc_conv1d_desc_t));
        CHECK(got.magic == FFC_CONV1D_DESC_MAGIC);
        CHECK(got.version == FFC_CONV1D_DESC_VERSION);
        CHECK(got.dtype == FFC_DTYPE_BF16);
        CHECK(got.backend == FFC_BACKEND_CPU);  // never AUTO
        CHECK(got.device == -1);
        CHECK(got.layout == FFC_LAYOUT_BLH);
        CHECK(got.kernel_size == 7);
        CHECK(got.padding_left == 2);
        CHECK(got.padding_right == 6);
        CHECK(got.cpu_threads == 3);
        // Created from what it reports, a plan reports the same.
        CPlan again(got);
        ffc_conv1d_desc_t got2 = FFC_CONV1D_DESC_INIT;
        C1D_REQUIRE_OK(ffc_conv1d_plan_get_desc(again.p, &got2));
        CHECK(std::memcmp(&got, &got2, sizeof got) == 0);

        // An uninitialised descriptor is rejected and left as it was.
        ffc_conv1d_desc_t bad;
        std::memset(&bad, 0x5a, sizeof bad);
        const ffc_conv1d_desc_t before = bad;
        require_error(ffc_conv1d_plan_get_desc(plan.p, &bad), FFC_ERROR_INVALID_DESCRIPTOR, "FFC_CONV1D_DESC_INIT");
        CHECK(std::memcmp(&bad, &before, sizeof bad) == 0);
        require_error(ffc_conv1d_plan_get_desc(nullptr, &got), FFC_ERROR_NULL_POINTER, "plan");
        require_error(ffc_conv1d_plan_get_desc(plan.p, nullptr), FFC_ERROR_NULL_POINTER, "desc");
    }
}

namespace {

// Shapes every shape-taking entry point rejects with FFC_ERROR_INVALID_SHAPE, on
// a plan with K = 4 and padding 3 / 3 (L_out = L + 3), and the field to name.
// (H·K beyond the limit needs L_out < K: tested on a causal plan below.)
struct BadShape {
    ffc_conv1d_shape_t shape;
    const char *field;
};
std::vector<BadShape> bad_shapes() {
    const int64_t big = int64_t(1) << 60;
    return {
        {{0, 3, 10}, "batch"},
        {{-1, 3, 10}, "batch"},
        {{std::numeric_limits<int64_t>::min(), 3, 10}, "batch"},
        {{2, 0, 10}, "channels"},
        {{2, -5, 10}, "channels"},
        {{2, 3, 0}, "seq_len"},
        {{2, 3, -1}, "seq_len"},
        {{int64_t(1) << 40, int64_t(1) << 20, int64_t(1) << 20}, "B*H*L"},  // the product wraps int64
        {{2, 3, std::numeric_limits<int64_t>::max()}, "seq_len"},
        {{1, 1, big - 2}, "B*H*L_out"},     // B·H·L < 2^60 but B·H·L_out = 2^60 + 1
        {{big / 4, 4, 1}, "B*H*L"},         // exactly 2^60 elements
    };
}

}  // namespace

TEST_CASE("conv1d api: every entry point rejects bad shapes and writes nothing", "[cpu][conv1d]") {
    ffc_conv1d_desc_t d = make_desc(Fixture::make_case(), FFC_BACKEND_CPU);
    d.padding_left = d.padding_right = 3;
    CPlan plan(d);
    Fixture f;  // buffers only (its plan has the same dtype and K)
    for (const BadShape &b : bad_shapes()) {
        INFO("shape " << b.shape.batch << " x " << b.shape.channels << " x " << b.shape.seq_len);
        size_t ws = 999;
        require_error(ffc_conv1d_get_workspace_size(plan.p, &b.shape, &ws), FFC_ERROR_INVALID_SHAPE, b.field);
        CHECK(ws == 999);
        require_error(ffc_conv1d_forward(plan.p, &b.shape, f.x.data(), f.w.f(), f.bias.f(), f.y.data(), nullptr, 0, nullptr),
                      FFC_ERROR_INVALID_SHAPE, b.field);
        require_error(ffc_conv1d_backward(plan.p, &b.shape, f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(),
                                          f.db.f(), nullptr, 0, nullptr),
                      FFC_ERROR_INVALID_SHAPE, b.field);
        CHECK(f.nothing_written());
    }
    // L_out < 1 on a 'valid' plan.
    Case c = Fixture::make_case();
    c.pl = c.pr = 0;
    CPlan valid(c, FFC_BACKEND_CPU);
    const ffc_conv1d_shape_t too_short{2, 3, 3};
    require_error(ffc_conv1d_forward(valid.p, &too_short, f.x.data(), f.w.f(), nullptr, f.y.data(), nullptr, 0, nullptr),
                  FFC_ERROR_INVALID_SHAPE, "L_out");
    require_error(ffc_conv1d_backward(valid.p, &too_short, f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(),
                                      f.db.f(), nullptr, 0, nullptr),
                  FFC_ERROR_INVALID_SHAPE, "L_out");
    CHECK(f.nothing_written());
    // H·K beyond 64-bit indexing while B·H·L and B·H·L_out are not (causal, L = 1).
    const ffc_conv1d_shape_t wide{1, int64_t(1) << 58, 1};
    size_t ws = 999;
    require_error(ffc_conv1d_get_workspace_size(f.plan.p, &wide, &ws), FFC_ERROR_INVALID_SHAPE, "channels*K");
    require_error(ffc_conv1d_forward(f.plan.p, &wide, f.x.data(), f.w.f(), nullptr, f.y.data(), nullptr, 0, nullptr),
                  FFC_ERROR_INVALID_SHAPE, "channels*K");
    CHECK(ws == 999);
    CHECK(f.nothing_written());
}

TEST_CASE("conv1d api: forward validates every argument before writing", "[cpu][conv1d]") {
    Fixture f;
    const ffc_conv1d_plan_t p = f.plan.p;
    const ffc_conv1d_shape_t *s = &f.shape;
    auto fwd = [&](const void *x, const float *w, const float *b, void *y) {
        return ffc_conv1d_forward(p, s, x, w, b, y, nullptr, 0, nullptr);
    };

    SECTION("NULL pointers") {
        require_error(ffc_conv1d_forward(nullptr, s, f.x.data(), f.w.f(), f.bias.f(), f.y.data(), nullptr, 0, nullptr),
                      FFC_ERROR_NULL_POINTER, "plan");
        require_error(ffc_conv1d_forward(p, nullptr, f.x.data(), f.w.f(), f.bias.f(), f.y.data(), nullptr, 0, nullptr),
                      FFC_ERROR_NULL_POINTER, "shape");
        require_error(fwd(nullptr, f.w.f(), f.bias.f(), f.y.data()), FFC_ERROR_NULL_POINTER, "x");
        require_error(fwd(f.x.data(), nullptr, f.bias.f(), f.y.data()), FFC_ERROR_NULL_POINTER, "weight");
        require_error(fwd(f.x.data(), f.w.f(), f.bias.f(), nullptr), FFC_ERROR_NULL_POINTER, "y");
    }
    SECTION("misaligned pointers") {
        require_error(fwd(f.x.at(1), f.w.f(), f.bias.f(), f.y.data()), FFC_ERROR_MISALIGNED_POINTER, "x");
        require_error(fwd(f.x.data(), f.w.f(2), f.bias.f(), f.y.data()), FFC_ERROR_MISALIGNED_POINTER, "weight");
        require_error(fwd(f.x.data(), f.w.f(), f.bias.f(1), f.y.data()), FFC_ERROR_MISALIGNED_POINTER, "bias");
        require_error(fwd(f.x.data(), f.w.f(), f.bias.f(), f.y.at(1)), FFC_ERROR_MISALIGNED_POINTER, "y");
    }
    SECTION("y may not overlap an input: no in-place form") {
        require_error(fwd(f.x.data(), f.w.f(), f.bias.f(), f.x.data()), FFC_ERROR_INVALID_ARGUMENT, "x");
        require_error(fwd(f.x.data(), f.w.f(), f.bias.f(), f.x.at(f.x_bytes - 2)), FFC_ERROR_INVALID_ARGUMENT, "x");
        require_error(fwd(f.y.at(f.x_bytes - 2), f.w.f(), f.bias.f(), f.y.data()), FFC_ERROR_INVALID_ARGUMENT, "x");
        require_error(fwd(f.x.data(), f.w.f(), f.bias.f(), f.w.data()), FFC_ERROR_INVALID_ARGUMENT, "weight");
        require_error(fwd(f.x.data(), f.w.f(), f.y.f(f.x_bytes - 4), f.y.data()), FFC_ERROR_INVALID_ARGUMENT, "bias");
    }
    CHECK(f.nothing_written());

    // The same arguments, made valid, succeed (the fixture is sound) and clear the message.
    C1D_REQUIRE_OK(fwd(f.x.data(), f.w.f(), f.bias.f(), f.y.data()));
    CHECK(last_error().empty());
    CHECK_FALSE(f.y.untouched());
    C1D_REQUIRE_OK(fwd(f.x.data(), f.w.f(), nullptr, f.y.data()));  // bias is optional
}

TEST_CASE("conv1d api: backward validates every argument before writing", "[cpu][conv1d]") {
    Fixture f;
    const ffc_conv1d_plan_t p = f.plan.p;
    const ffc_conv1d_shape_t *s = &f.shape;
    auto bwd = [&](const void *dy, const void *x, const float *w, void *dx, float *dw, float *db) {
        return ffc_conv1d_backward(p, s, dy, x, w, dx, dw, db, nullptr, 0, nullptr);
    };

    SECTION("NULL pointers") {
        require_error(ffc_conv1d_backward(nullptr, s, f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(), f.db.f(),
                                          nullptr, 0, nullptr),
                      FFC_ERROR_NULL_POINTER, "plan");
        require_error(ffc_conv1d_backward(p, nullptr, f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(), f.db.f(),
                                          nullptr, 0, nullptr),
                      FFC_ERROR_NULL_POINTER, "shape");
        require_error(bwd(nullptr, f.x.data(), f.w.f(), f.dx.data(), f.dw.f(), f.db.f()), FFC_ERROR_NULL_POINTER, "dy");
        require_error(bwd(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), FFC_ERROR_NULL_POINTER, "dy");
        require_error(bwd(f.dy.data(), nullptr, f.w.f(), f.dx.data(), f.dw.f(), f.db.f()), FFC_ERROR_NULL_POINTER, "x");
        require_error(bwd(f.dy.data(), nullptr, nullptr, nullptr, f.dw.f(), nullptr), FFC_ERROR_NULL_POINTER, "x");
        require_error(bwd(f.dy.data(), f.x.data(), nullptr, f.dx.data(), f.dw.f(), f.db.f()), FFC_ERROR_NULL_POINTER,
                      "weight");
        require_error(bwd(f.dy.data(), nullptr, nullptr, f.dx.data(), nullptr, nullptr), FFC_ERROR_NULL_POINTER, "weight");
    }
    SECTION("misaligned pointers") {
        require_error(bwd(f.dy.at(1), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(), f.db.f()), FFC_ERROR_MISALIGNED_POINTER, "dy");
        require_error(bwd(f.dy.data(), f.x.at(1), f.w.f(), f.dx.data(), f.dw.f(), f.db.f()), FFC_ERROR_MISALIGNED_POINTER, "x");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(2), f.dx.data(), f.dw.f(), f.db.f()), FFC_ERROR_MISALIGNED_POINTER,
                      "weight");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), f.dx.at(1), f.dw.f(), f.db.f()), FFC_ERROR_MISALIGNED_POINTER, "dx");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(1), f.db.f()), FFC_ERROR_MISALIGNED_POINTER,
                      "dweight");
        // Everything else valid, the last output misaligned: still nothing written.
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(), f.db.f(2)), FFC_ERROR_MISALIGNED_POINTER,
                      "dbias");
    }
    SECTION("outputs may not overlap inputs or each other") {
        // Causal: dy and dx have the same size.
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), f.dy.data(), nullptr, nullptr), FFC_ERROR_INVALID_ARGUMENT, "dy");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), f.x.at(2), nullptr, nullptr), FFC_ERROR_INVALID_ARGUMENT, "x");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), nullptr, f.w.f(), nullptr), FFC_ERROR_INVALID_ARGUMENT, "weight");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), nullptr, f.dw.f(), f.dw.f(4)), FFC_ERROR_INVALID_ARGUMENT, "dweight");
        require_error(bwd(f.dy.data(), nullptr, nullptr, nullptr, nullptr, f.dy.f(f.x_bytes - 4)), FFC_ERROR_INVALID_ARGUMENT,
                      "dy");
        require_error(bwd(f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dx.f(8), nullptr), FFC_ERROR_INVALID_ARGUMENT, "dx");
        // An input passed although its output is not wanted is still an operand.
        require_error(bwd(f.dy.data(), f.x.data(), nullptr, nullptr, nullptr, f.x.f(0)), FFC_ERROR_INVALID_ARGUMENT, "x");
    }
    CHECK(f.nothing_written());

    SECTION("no output wanted: a successful no-op") {
        C1D_REQUIRE_OK(bwd(f.dy.data(), nullptr, nullptr, nullptr, nullptr, nullptr));
        C1D_REQUIRE_OK(bwd(f.dy.data(), f.x.data(), f.w.f(), nullptr, nullptr, nullptr));
        CHECK(f.nothing_written());
    }
    SECTION("the same arguments, made valid, succeed") {
        C1D_REQUIRE_OK(bwd(f.dy.data(), f.x.data(), f.w.f(), f.dx.data(), f.dw.f(), f.db.f()));
        CHECK(last_error().empty());
        CHECK_FALSE(f.dx.untouched());
        CHECK_FALSE(f.dw.untouched());
        CHECK_FALSE(f.db.untouched());
    }
}

TEST_CASE("conv1d api: the automatic backend is the CPU where no CUDA device exists", "[cpu][conv1d]") {
    if (ffc_backend_available(FFC_BACKEND_CUDA)) return;  // then AUTO is CUDA (the [gpu] tests cover it)
    Case c = Fixture::make_case();
    c.dtype = FFC_DTYPE_FP32;
    Rng rng;
    const Data d(c, rng);
    CPlan plan(c, FFC_BACKEND_AUTO);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};
    Outputs o(c);
    C1D_REQUIRE_OK(ffc_conv1d_forward(plan.p, &shape, d.x.data(), d.w.data(), d.bias_ptr(), o.y.data(), nullptr, 0, nullptr));
    const Ref ry = oracle_forward(c, d);
    check_close("y", ffc_test::rel_l2(o.y, ry.value), io_tolerance(ry, c.dtype));
}

TEST_CASE("conv1d: the C++ wrapper", "[cpu][conv1d]") {
    namespace fc = flashfftconv;
    fc::Conv1dDesc desc;
    CHECK(desc.c_desc().kernel_size == 3);
    desc.kernel_size(5).same();
    CHECK(desc.c_desc().padding_left == 2);
    CHECK(desc.c_desc().padding_right == 2);
    desc.kernel_size(4).same();  // even K: the odd zero goes on the right, as in PyTorch
    CHECK(desc.c_desc().padding_left == 1);
    CHECK(desc.c_desc().padding_right == 2);
    desc.valid();
    CHECK(desc.c_desc().padding_left == 0);
    CHECK(desc.c_desc().padding_right == 0);
    desc.causal().dtype(fc::DType::bf16).layout(fc::Layout::blh).backend(fc::Backend::cpu).cpu_threads(3);
    CHECK(desc.c_desc().padding_left == 3);
    CHECK(desc.c_desc().padding_right == 0);
    CHECK(desc.c_desc().layout == FFC_LAYOUT_BLH);
    CHECK(desc.c_desc().dtype == FFC_DTYPE_BF16);
    CHECK(desc.c_desc().cpu_threads == 3);

    fc::Conv1dPlan plan(desc);
    REQUIRE(plan);
    CHECK(plan.backend() == fc::Backend::cpu);
    CHECK(plan.output_length(10) == 10);
    const fc::Conv1dShape shape{3, 7, 29};
    CHECK(shape.input_elements() == 3 * 7 * 29);
    CHECK(plan.workspace_size(shape) == 0);

    Case c;
    c.dtype = FFC_DTYPE_BF16;
    c.layout = FFC_LAYOUT_BLH;
    c.K = 4;
    c.pl = 3;
    c.pr = 0;
    c.B = 3;
    c.H = 7;
    c.L = 29;
    Rng rng;
    const Data d(c, rng);
    Outputs via_c(c), via_cpp(c);
    {
        CPlan cplan(c, FFC_BACKEND_CPU, 3);
        const ffc_conv1d_shape_t s = shape.c_shape();
        C1D_REQUIRE_OK(ffc_conv1d_forward(cplan.p, &s, d.x.data(), d.w.data(), d.bias_ptr(), via_c.y.data(), nullptr, 0, nullptr));
        C1D_REQUIRE_OK(ffc_conv1d_backward(cplan.p, &s, d.dy.data(), d.x.data(), d.w.data(), via_c.dx.data(),
                                           via_c.dw.data(), via_c.db.data(), nullptr, 0, nullptr));
    }
    fc::Conv1dPlan moved(std::move(plan));
    CHECK_FALSE(plan);
    REQUIRE(moved);
    moved.forward(shape, d.x.data(), d.w.data(), d.bias_ptr(), via_cpp.y.data());
    moved.backward(shape, d.dy.data(), d.x.data(), d.w.data(), via_cpp.dx.data(), via_cpp.dw.data(), via_cpp.db.data());
    CHECK(via_cpp.y.bitwise_equal(via_c.y));
    CHECK(via_cpp.dx.bitwise_equal(via_c.dx));
    CHECK(bitwise_equal(via_cpp.dw, via_c.dw));
    CHECK(bitwise_equal(via_cpp.db, via_c.db));
    via_cpp.poison();
    moved.forward(shape, d.x.data(), d.w.data(), d.bias_ptr(), via_cpp.y.data(), nullptr, 0);
    CHECK(via_cpp.y.bitwise_equal(via_c.y));

    fc::Conv1dPlan assigned;
    CHECK_FALSE(assigned);
    assigned = std::move(moved);
    CHECK(assigned);
    CHECK_FALSE(moved);
    const ffc_conv1d_plan_t raw = assigned.release();
    CHECK(raw != nullptr);
    CHECK_FALSE(assigned);
    ffc_conv1d_plan_destroy(raw);

    // Failures are exceptions carrying the status and the library's message.
    try {
        fc::Conv1dPlan bad(fc::Conv1dDesc().kernel_size(0).padding(0, 0).backend(fc::Backend::cpu));
        FAIL("a kernel size of 0 was accepted");
    } catch (const fc::Error &e) {
        CHECK(e.status() == FFC_ERROR_INVALID_ARGUMENT);
        CHECK_THAT(e.message(), Contains("kernel_size"));
    }
    fc::Conv1dPlan valid(fc::Conv1dDesc().kernel_size(4).valid().backend(fc::Backend::cpu));
    try {
        (void)valid.output_length(3);
        FAIL("L_out = 0 was accepted");
    } catch (const fc::Error &e) {
        CHECK(e.status() == FFC_ERROR_INVALID_SHAPE);
    }
}

// ---------------------------------------------------------------------------
// The CUDA backend
// ---------------------------------------------------------------------------

#if FFC_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda_test_util.hpp"

namespace {

using ffc_test::DeviceBuffer;

bool have_gpu() { return ffc_backend_available(FFC_BACKEND_CUDA) != 0; }

// fp32 outputs of the CUDA backend: accumulation in fp32 (or wider) in any
// order — tiles, partial sums, a tree — rounded to fp32 at most once more. The
// bound of sum_tolerance() with acc_u = out_u = 2^-24 covers every such
// implementation; 16-bit outputs keep the precision rule.
double gpu_tolerance(const Ref &r, ffc_dtype_t out_dtype) {
    if (out_dtype != FFC_DTYPE_FP32) return 2.0 * ffc_test::rounding_rel_l2(r.value, out_dtype);
    return sum_tolerance(r, kU32, kU32);
}

// The inputs of a case on the device.
struct DeviceData {
    DeviceBuffer x, dy, w, bias;
    DeviceData(const Case &c, const Data &d)
        : x(d.x.bytes()), dy(d.dy.bytes()), w(d.w.size() * 4), bias(std::max<size_t>(d.bias.size() * 4, 4)) {
        x.upload(d.x.data());
        dy.upload(d.dy.data());
        w.upload(d.w.data());
        if (!d.bias.empty()) bias.upload(d.bias.data());
    }
};

// Device outputs; poison() fills them with the oracle's NaN pattern.
struct DeviceOutputs {
    DeviceBuffer y, dx, dw, db;
    explicit DeviceOutputs(const Case &c)
        : y(size_t(c.out_elems()) * ffc_test::dtype_bytes(c.dtype)), dx(size_t(c.in_elems()) * ffc_test::dtype_bytes(c.dtype)),
          dw(size_t(c.H * c.K) * 4), db(size_t(c.H) * 4) {
        poison(c);
    }
    void poison(const Case &c) {
        y.poison(c.dtype);
        dx.poison(c.dtype);
        dw.poison(FFC_DTYPE_FP32);
        db.poison(FFC_DTYPE_FP32);
    }
    Outputs download(const Case &c) const {
        Outputs o(c);
        y.download(o.y.data());
        dx.download(o.dx.data());
        dw.download(o.dw.data());
        db.download(o.db.data());
        return o;
    }
};

struct Workspace {
    size_t size = 0;
    std::unique_ptr<DeviceBuffer> buf;
    Workspace(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t &shape) {
        C1D_REQUIRE_OK(ffc_conv1d_get_workspace_size(plan, &shape, &size));
        if (size > 0) {
            buf = std::make_unique<DeviceBuffer>(size);
            buf->poison(FFC_DTYPE_FP32);  // holds nothing a call may rely on
        }
    }
    void *ptr() const { return buf ? buf->ptr : nullptr; }
};

// One case on the CUDA backend: forward, backward with every subset of
// outputs, and a repeated full backward that must give the same bits.
void run_gpu_case(const Case &c) {
    Rng rng;
    INFO("CUDA " << c.str() << " seed=" << rng.seed());
    const Data d(c, rng);
    const Ref ry = oracle_forward(c, d);
    const BackwardRef rb = oracle_backward(c, d);
    CPlan plan(c, FFC_BACKEND_CUDA);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};
    const Workspace ws(plan.p, shape);
    const DeviceData in(c, d);
    DeviceOutputs out(c);
    const float *bias = c.bias ? in.bias.get<float>() : nullptr;

    C1D_REQUIRE_OK(ffc_conv1d_forward(plan.p, &shape, in.x.ptr, in.w.get<float>(), bias, out.y.ptr, ws.ptr(), ws.size,
                                      nullptr));
    CUDA_REQUIRE(cudaDeviceSynchronize());
    {
        const Outputs o = out.download(c);
        check_close("y", ffc_test::rel_l2(o.y, ry.value), gpu_tolerance(ry, c.dtype));
    }

    Outputs full(c);
    for (int mask = 1; mask < 8; ++mask) {
        const bool want_dx = mask & 1, want_dw = mask & 2, want_db = mask & 4;
        INFO("backward outputs:" << (want_dx ? " dx" : "") << (want_dw ? " dweight" : "") << (want_db ? " dbias" : ""));
        out.poison(c);
        C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, want_dw ? in.x.ptr : nullptr,
                                           want_dx ? in.w.get<float>() : nullptr, want_dx ? out.dx.ptr : nullptr,
                                           want_dw ? out.dw.get<float>() : nullptr, want_db ? out.db.get<float>() : nullptr,
                                           ws.ptr(), ws.size, nullptr));
        CUDA_REQUIRE(cudaDeviceSynchronize());
        const Outputs o = out.download(c);
        if (want_dx) check_close("dx", ffc_test::rel_l2(o.dx, rb.dx.value), gpu_tolerance(rb.dx, c.dtype));
        else CHECK(ffc_test::all_poisoned(o.dx));
        if (want_dw) check_close("dweight", ffc_test::rel_l2(o.dw, rb.dw.value), gpu_tolerance(rb.dw, FFC_DTYPE_FP32));
        else CHECK(ffc_test::all_poisoned(o.dw));
        if (want_db) check_close("dbias", ffc_test::rel_l2(o.db, rb.db.value), gpu_tolerance(rb.db, FFC_DTYPE_FP32));
        else CHECK(ffc_test::all_poisoned(o.db));
        CHECK(ffc_test::all_poisoned(o.y));
        if (mask == 7) full = o;
    }
    // Deterministic: the same bits again.
    out.poison(c);
    C1D_REQUIRE_OK(ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, in.x.ptr, in.w.get<float>(), out.dx.ptr,
                                       out.dw.get<float>(), out.db.get<float>(), ws.ptr(), ws.size, nullptr));
    CUDA_REQUIRE(cudaDeviceSynchronize());
    const Outputs again = out.download(c);
    CHECK(again.dx.bitwise_equal(full.dx));
    CHECK(bitwise_equal(again.dw, full.dw));
    CHECK(bitwise_equal(again.db, full.db));
}

}  // namespace

TEST_CASE("conv1d cuda: every dtype, layout, K and padding against the fp64 oracle", "[gpu][conv1d]") {
    if (!have_gpu()) {
        WARN("no CUDA device: skipped");
        return;
    }
    // Odd small shapes, L shorter than K, and a wide H (channel-vectorised BLH access).
    const Dims dims[] = {{3, 5, 37, true}, {2, 7, 0, false}, {2, 130, 65, true}};
    int cases = 0;
    for (ffc_dtype_t dtype : {FFC_DTYPE_FP16, FFC_DTYPE_BF16, FFC_DTYPE_FP32})
        for (ffc_layout_t layout : {FFC_LAYOUT_BHL, FFC_LAYOUT_BLH})
            for (int K : kKernelSizes) {
                const int m = K - 1;
                for (const std::pair<int, int> &pad : {std::pair<int, int>{m, 0}, {m / 2, m - m / 2}, {0, 0}, {m / 3, m - m / 4}})
                    for (const Dims &dm : dims) {
                        Case c;
                        c.dtype = dtype;
                        c.layout = layout;
                        c.K = K;
                        c.pl = pad.first;
                        c.pr = pad.second;
                        c.B = dm.B;
                        c.H = dm.H;
                        c.L = dm.L > 0 ? dm.L : std::max(1, K / 2);
                        c.bias = dm.bias;
                        if (c.out_len() < 1) continue;
                        run_gpu_case(c);
                        ++cases;
                    }
            }
    CHECK(cases > 300);
}

TEST_CASE("conv1d cuda: model-sized problems and long reductions", "[gpu][conv1d]") {
    if (!have_gpu()) {
        WARN("no CUDA device: skipped");
        return;
    }
    struct Big {
        ffc_dtype_t dtype;
        ffc_layout_t layout;
        int K, pl, pr;
        int64_t B, H, L;
    };
    const Big bigs[] = {
        {FFC_DTYPE_BF16, FFC_LAYOUT_BLH, 4, 3, 0, 4, 768, 2048},     // Mamba / Hyena short conv
        {FFC_DTYPE_FP16, FFC_LAYOUT_BHL, 4, 3, 0, 4, 768, 2048},
        {FFC_DTYPE_FP32, FFC_LAYOUT_BHL, 7, 3, 3, 2, 3, 100003},     // dweight: 200k terms per tap
        {FFC_DTYPE_BF16, FFC_LAYOUT_BLH, 31, 0, 0, 64, 17, 1031},    // many batch elements
        {FFC_DTYPE_FP16, FFC_LAYOUT_BLH, 128, 127, 0, 2, 96, 4099},  // the longest filter
    };
    for (const Big &g : bigs) {
        Case c;
        c.dtype = g.dtype;
        c.layout = g.layout;
        c.K = g.K;
        c.pl = g.pl;
        c.pr = g.pr;
        c.B = g.B;
        c.H = g.H;
        c.L = g.L;
        run_gpu_case(c);
    }
}

TEST_CASE("conv1d cuda: stream-ordered and graph-capturable", "[gpu][conv1d]") {
    if (!have_gpu()) {
        WARN("no CUDA device: skipped");
        return;
    }
    Case c;
    c.dtype = FFC_DTYPE_BF16;
    c.layout = FFC_LAYOUT_BLH;
    c.K = 4;
    c.pl = 3;
    c.pr = 0;
    c.B = 3;
    c.H = 130;
    c.L = 1001;
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const Data d(c, rng);
    CPlan plan(c, FFC_BACKEND_CUDA);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};
    const Workspace ws(plan.p, shape);
    const DeviceData in(c, d);
    DeviceOutputs out(c);
    cudaStream_t stream;
    CUDA_REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const ffc_stream_t s = reinterpret_cast<ffc_stream_t>(stream);
    auto both = [&]() {
        const ffc_status_t f = ffc_conv1d_forward(plan.p, &shape, in.x.ptr, in.w.get<float>(), in.bias.get<float>(),
                                                  out.y.ptr, ws.ptr(), ws.size, s);
        if (f != FFC_SUCCESS) return f;
        return ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, in.x.ptr, in.w.get<float>(), out.dx.ptr,
                                   out.dw.get<float>(), out.db.get<float>(), ws.ptr(), ws.size, s);
    };

    // 1. On a non-blocking stream, synchronising only that stream.
    C1D_REQUIRE_OK(both());
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    const Outputs eager = out.download(c);
    const Ref ry = oracle_forward(c, d);
    const BackwardRef rb = oracle_backward(c, d);
    check_close("y", ffc_test::rel_l2(eager.y, ry.value), gpu_tolerance(ry, c.dtype));
    check_close("dx", ffc_test::rel_l2(eager.dx, rb.dx.value), gpu_tolerance(rb.dx, c.dtype));
    check_close("dweight", ffc_test::rel_l2(eager.dw, rb.dw.value), gpu_tolerance(rb.dw, FFC_DTYPE_FP32));
    check_close("dbias", ffc_test::rel_l2(eager.db, rb.db.value), gpu_tolerance(rb.db, FFC_DTYPE_FP32));

    // 2. Captured into a graph (nothing runs while capturing), replayed twice: the same bits.
    out.poison(c);
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const ffc_status_t captured = both();
    CUDA_REQUIRE(cudaStreamEndCapture(stream, &graph));
    REQUIRE(captured == FFC_SUCCESS);
    {
        const Outputs during = out.download(c);
        CHECK(ffc_test::all_poisoned(during.y));
    }
    CUDA_REQUIRE(cudaGraphInstantiate(&exec, graph, 0));
    for (int replay = 0; replay < 2; ++replay) {
        out.poison(c);
        CUDA_REQUIRE(cudaGraphLaunch(exec, stream));
        CUDA_REQUIRE(cudaStreamSynchronize(stream));
        const Outputs g = out.download(c);
        CHECK(g.y.bitwise_equal(eager.y));
        CHECK(g.dx.bitwise_equal(eager.dx));
        CHECK(bitwise_equal(g.dw, eager.dw));
        CHECK(bitwise_equal(g.db, eager.db));
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    CUDA_REQUIRE(cudaStreamDestroy(stream));
}

TEST_CASE("conv1d cuda: host pointers, bad devices and short workspaces are rejected", "[gpu][conv1d]") {
    if (!have_gpu()) {
        WARN("no CUDA device: skipped");
        return;
    }
    Case c = Fixture::make_case();  // fp16, causal K = 4, B = 2, H = 3, L = 10
    CPlan plan(c, FFC_BACKEND_CUDA);
    const ffc_conv1d_shape_t shape{c.B, c.H, c.L};
    const Workspace ws(plan.p, shape);
    Rng rng;
    const Data d(c, rng);
    const DeviceData in(c, d);
    DeviceOutputs out(c);
    std::vector<uint16_t> host_x(size_t(c.in_elems()), 0x3c00), host_y(size_t(c.out_elems()));
    std::vector<float> host_w(size_t(c.H * c.K), 1.0f), host_dw(size_t(c.H * c.K));

    require_error(ffc_conv1d_forward(plan.p, &shape, host_x.data(), in.w.get<float>(), nullptr, out.y.ptr, ws.ptr(),
                                     ws.size, nullptr),
                  FFC_ERROR_INVALID_POINTER, "x");
    require_error(ffc_conv1d_forward(plan.p, &shape, in.x.ptr, host_w.data(), nullptr, out.y.ptr, ws.ptr(), ws.size, nullptr),
                  FFC_ERROR_INVALID_POINTER, "weight");
    require_error(ffc_conv1d_forward(plan.p, &shape, in.x.ptr, in.w.get<float>(), nullptr, host_y.data(), ws.ptr(),
                                     ws.size, nullptr),
                  FFC_ERROR_INVALID_POINTER, "y");
    require_error(ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, in.x.ptr, in.w.get<float>(), out.dx.ptr, host_dw.data(),
                                      out.db.get<float>(), ws.ptr(), ws.size, nullptr),
                  FFC_ERROR_INVALID_POINTER, "dweight");
    require_error(ffc_conv1d_backward(plan.p, &shape, host_x.data(), nullptr, nullptr, nullptr, nullptr,
                                      out.db.get<float>(), ws.ptr(), ws.size, nullptr),
                  FFC_ERROR_INVALID_POINTER, "dy");
    if (ws.size > 0) {
        // Forward and backward both check the one workspace size.
        require_error(ffc_conv1d_forward(plan.p, &shape, in.x.ptr, in.w.get<float>(), nullptr, out.y.ptr, ws.ptr(),
                                         ws.size - 1, nullptr),
                      FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace");
        require_error(ffc_conv1d_forward(plan.p, &shape, in.x.ptr, in.w.get<float>(), nullptr, out.y.ptr, nullptr, 0,
                                         nullptr),
                      FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace");
        require_error(ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, in.x.ptr, in.w.get<float>(), out.dx.ptr,
                                          out.dw.get<float>(), out.db.get<float>(), ws.ptr(), ws.size - 1, nullptr),
                      FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace");
        DeviceBuffer big(ws.size + 512);
        require_error(ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, in.x.ptr, in.w.get<float>(), out.dx.ptr,
                                          out.dw.get<float>(), out.db.get<float>(), big.get<char>() + 128, ws.size, nullptr),
                      FFC_ERROR_MISALIGNED_POINTER, "workspace");
        // The workspace is written by the call: it may not overlap an operand.
        require_error(ffc_conv1d_backward(plan.p, &shape, in.dy.ptr, in.x.ptr, in.w.get<float>(), out.dx.ptr,
                                          out.dw.get<float>(), out.db.get<float>(), out.dx.ptr, ws.size, nullptr),
                      FFC_ERROR_INVALID_ARGUMENT, "workspace");
    }
    CUDA_REQUIRE(cudaDeviceSynchronize());
    const Outputs o = out.download(c);
    CHECK(ffc_test::all_poisoned(o.y));
    CHECK(ffc_test::all_poisoned(o.dx));
    CHECK(ffc_test::all_poisoned(o.dw));
    CHECK(ffc_test::all_poisoned(o.db));

    int count = 0;
    CUDA_REQUIRE(cudaGetDeviceCount(&count));
    ffc_conv1d_desc_t bad = make_desc(c, FFC_BACKEND_CUDA);
    bad.device = count;
    expect_create_fails(bad, FFC_ERROR_INVALID_DEVICE, "device");
}
#endif  // FFC_WITH_CUDA
