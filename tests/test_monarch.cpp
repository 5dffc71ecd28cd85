// White-box tests of the host-side Monarch mathematics (src/monarch): the
// permuted-spectrum convention every backend relies on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <set>
#include <vector>

#include "common/types.hpp"
#include "monarch/monarch.hpp"
#include "oracle.hpp"

namespace monarch = ffc::monarch;
using monarch::cdouble;

namespace {

uint64_t product(const std::vector<int> &f) {
    uint64_t n = 1;
    for (int r : f) n *= uint64_t(r);
    return n;
}

std::vector<cdouble> random_complex(uint64_t n, ffc_test::Rng &rng) {
    std::vector<cdouble> x(n);
    for (auto &v : x) v = cdouble(rng.normal(), rng.normal());
    return x;
}

// X[f] = Σ_t x[t]·W_N^{t·f}, O(N²), roots from unit_root (exact index reduction).
std::vector<cdouble> naive_dft(const std::vector<cdouble> &x) {
    const uint64_t n = x.size();
    std::vector<cdouble> out(n);
    for (uint64_t f = 0; f < n; ++f) {
        cdouble acc = 0;
        for (uint64_t t = 0; t < n; ++t) acc += x[t] * monarch::unit_root(n, (t * f) % n);
        out[f] = acc;
    }
    return out;
}

double norm2(const std::vector<cdouble> &x) {
    double s = 0;
    for (const auto &v : x) s += std::norm(v);
    return std::sqrt(s);
}

double max_abs_diff(const std::vector<cdouble> &a, const std::vector<cdouble> &b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

// Long-double reference of exp(−2πi·e/n): the same exact integer reduction to
// the first octant (so near-zero components are not swamped by the absolute
// error of a large angle), then sinl/cosl with 64-bit mantissas.
std::complex<long double> reference_root(uint64_t n, uint64_t e) {
    e %= n;
    unsigned __int128 a = (unsigned __int128)e * 8, n1 = n;
    bool ns = false, nc = false, sw = false;
    if (a > 4 * n1) { a = 8 * n1 - a; ns = true; }
    if (a > 2 * n1) { a = 4 * n1 - a; nc = true; }
    if (a > n1) { a = 2 * n1 - a; sw = true; }
    const long double pi = 3.141592653589793238462643383279502884L;
    const long double theta = pi * ((long double)a / ((long double)n1 * 4));
    long double s = sinl(theta), c = cosl(theta);
    if (sw) std::swap(s, c);
    if (nc) c = -c;
    if (ns) s = -s;
    return {c, -s};
}

// |got − ref| in units of the double ulp at |ref| (0 when both are exactly 0).
double ulps(double got, long double ref) {
    const double r = double(ref);
    const double a = std::fabs(r);
    const double ulp = a == 0 ? std::numeric_limits<double>::denorm_min() : std::nextafter(a, INFINITY) - a;
    return double(std::fabs((long double)got - ref) / ulp);
}

}  // namespace

TEST_CASE("monarch: unit_root is accurate to an ulp and reduces e mod n", "[cpu][monarch]") {
    const std::vector<uint64_t> sizes = {1, 2, 3, 4, 5, 7, 8, 12, 16, 100, 256, 1000, 1024, 4096, 65536,
                                         1u << 20, 1u << 22, 1000003, uint64_t(1) << 40};
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    std::mt19937_64 pick(rng.seed());
    double worst = 0;
    for (uint64_t n : sizes) {
        std::vector<uint64_t> exps;
        for (uint64_t e = 0; e < std::min<uint64_t>(n, 64); ++e) exps.push_back(e);
        // The symmetry points and their neighbours, where reduction mistakes show.
        for (uint64_t q = 0; q <= 8; ++q)
            for (int64_t d = -2; d <= 2; ++d) {
                const int64_t e = int64_t((n * q) / 8) + d;
                if (e >= 0) exps.push_back(uint64_t(e));
            }
        for (int i = 0; i < 200; ++i) exps.push_back(pick() % (n * 4 + 1));  // includes e >= n
        for (uint64_t e : exps) {
            INFO("n = " << n << ", e = " << e);
            const cdouble w = monarch::unit_root(n, e);
            const auto ref = reference_root(n, e);
            const double ur = ulps(w.real(), ref.real()), ui = ulps(w.imag(), ref.imag());
            worst = std::max({worst, ur, ui});
            CHECK(ur <= 1.0);
            CHECK(ui <= 1.0);
            // Reduction mod n: identical bits for e and e + n.
            const cdouble w2 = monarch::unit_root(n, e % n + n);
            CHECK(w2 == w);
            // Independent of the reduction logic: the naive long-double angle
            // (absolute accuracy ~1e-18 for angles below 2π).
            const long double theta = 2 * 3.141592653589793238462643383279502884L * (long double)(e % n) / (long double)n;
            CHECK(std::fabs((long double)w.real() - cosl(theta)) < 1e-15L);
            CHECK(std::fabs((long double)w.imag() + sinl(theta)) < 1e-15L);
        }
    }
    // Exact values at the quarter turns.
    CHECK(monarch::unit_root(4, 1) == cdouble(0, -1));
    CHECK(monarch::unit_root(8, 4) == cdouble(-1, 0));
    CHECK(monarch::unit_root(1024, 768) == cdouble(0, 1));
    CHECK(monarch::unit_root(1024, 0) == cdouble(1, 0));
    // Rounded once from long double, the implementation is in fact within
    // ~0.5005 ulp; the contract checked above is 1 ulp.
    CHECK(worst <= 1.0);
}

TEST_CASE("monarch: dft_matrix holds W_r^(jk)", "[cpu][monarch]") {
    for (int r : {1, 2, 4, 8, 16, 128}) {
        const auto f = monarch::dft_matrix(r);
        REQUIRE(f.size() == size_t(r) * size_t(r));
        for (int k = 0; k < r; ++k)
            for (int j = 0; j < r; ++j) {
                CHECK(f[size_t(k) * r + j] == monarch::unit_root(uint64_t(r), uint64_t(j) * uint64_t(k)));
                CHECK(f[size_t(k) * r + j] == f[size_t(j) * r + k]);  // symmetric
            }
    }
}

TEST_CASE("monarch: stage_geometry and twiddle_exponent follow the [outer][r][inner] convention", "[cpu][monarch]") {
    const std::vector<std::vector<int>> factorisations = {
        {16}, {16, 16}, {2, 128}, {4, 8, 2}, {8, 2, 2, 4}, {16, 16, 16}, {128, 128, 128, 2}, {2, 2, 2, 2, 2, 2, 2, 2}};
    for (const auto &f : factorisations) {
        INFO("factors " << ::Catch::Detail::stringify(f));
        const uint64_t n = product(f);
        const auto g = monarch::stage_geometry(f);
        REQUIRE(g.size() == f.size());
        CHECK(g.front().outer == 1);
        CHECK(g.back().inner == 1);
        for (size_t s = 0; s < g.size(); ++s) {
            CHECK(g[s].radix == f[s]);
            CHECK(g[s].outer * uint64_t(g[s].radix) * g[s].inner == n);
            if (s + 1 < g.size()) {
                CHECK(g[s].inner == uint64_t(g[s + 1].radix) * g[s + 1].inner);
                CHECK(g[s + 1].outer == g[s].outer * uint64_t(g[s].radix));
            }
        }
        for (uint64_t pos = 0; pos < n; pos += 1 + n / 4096) {
            for (size_t s = 0; s < g.size(); ++s) {
                const uint64_t block = uint64_t(g[s].radix) * g[s].inner;
                const uint64_t k1 = (pos % block) / g[s].inner, n2 = pos % g[s].inner;
                CHECK(monarch::twiddle_exponent(g[s], pos) == k1 * n2);
                CHECK(monarch::twiddle_exponent(g[s], pos) < block);
            }
            CHECK(monarch::twiddle_exponent(g.back(), pos) == 0);  // the last stage has no twiddle
        }
    }
    CHECK_THROWS_AS(monarch::stage_geometry({16, 12}), ffc::Error);
    CHECK_THROWS_AS(monarch::stage_geometry({}), ffc::Error);
}

TEST_CASE("monarch: position_to_frequency is a permutation (mixed-radix digit reversal)", "[cpu][monarch]") {
    const std::vector<std::vector<int>> factorisations = {{256}, {16, 16}, {4, 64}, {2, 8, 16}, {8, 4, 2, 4}, {2, 2, 2, 2, 2, 2, 2, 2},
                                                          {128, 32, 16}};
    for (const auto &f : factorisations) {
        INFO("factors " << ::Catch::Detail::stringify(f));
        const uint64_t n = product(f);
        const auto map = monarch::position_to_frequency(f);
        REQUIRE(map.size() == n);
        std::vector<char> seen(n, 0);
        for (uint64_t pos = 0; pos < n; ++pos) {
            REQUIRE(map[pos] < n);
            CHECK(!seen[map[pos]]);
            seen[map[pos]] = 1;
            CHECK(map[pos] == monarch::frequency_of_position(f, pos));
        }
        CHECK(std::all_of(seen.begin(), seen.end(), [](char c) { return c != 0; }));
        CHECK(map[0] == 0);
    }
    // DESIGN §3 for two factors: position k1·N2 + k2 holds frequency k1 + N1·k2.
    const int n1 = 8, n2 = 32;
    for (int k1 = 0; k1 < n1; ++k1)
        for (int k2 = 0; k2 < n2; ++k2)
            CHECK(monarch::frequency_of_position({n1, n2}, uint64_t(k1 * n2 + k2)) == uint64_t(k1 + n1 * k2));
}

TEST_CASE("monarch: forward_permuted equals the naive DFT under position_to_frequency", "[cpu][monarch]") {
    const std::vector<std::vector<int>> factorisations = {
        {64},            // one factor: a plain DFT, natural order
        {16, 16},        // two factors
        {2, 128},        // mixed radices
        {32, 4},
        {4, 8, 16},      // three factors
        {16, 2, 8},
        {2, 4, 8, 16},   // four factors
        {8, 2, 2, 4},
        {2, 2, 2, 2, 2, 2, 2, 2},  // eight radix-2 stages
        {128, 8},        // N = 1024
    };
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    for (const auto &f : factorisations) {
        INFO("factors " << ::Catch::Detail::stringify(f));
        const uint64_t n = product(f);
        const auto x = random_complex(n, rng);
        const auto ref = naive_dft(x);
        auto data = x;
        monarch::forward_permuted(f, data);
        const auto map = monarch::position_to_frequency(f);
        std::vector<cdouble> expected(n);
        for (uint64_t pos = 0; pos < n; ++pos) expected[pos] = ref[map[pos]];
        // Both sides are sums of N terms in double: ~1e-16·sqrt(N)·||x|| apart.
        CHECK(max_abs_diff(data, expected) <= 1e-13 * norm2(x));
    }
    CHECK_THROWS_AS([] {
        std::vector<cdouble> wrong(100);
        monarch::forward_permuted({16, 16}, wrong);
    }(), ffc::Error);
}

TEST_CASE("monarch: inverse_from_permuted undoes forward_permuted and returns natural order", "[cpu][monarch]") {
    ffc_test::Rng rng;
    INFO("seed " << rng.seed());
    for (const auto &f : std::vector<std::vector<int>>{{256}, {16, 16}, {2, 128}, {4, 8, 16}, {8, 2, 2, 4}, {64, 64},
                                                       {16, 16, 16}, {2, 4, 2, 8, 2}}) {
        INFO("factors " << ::Catch::Detail::stringify(f));
        const uint64_t n = product(f);
        const auto x = random_complex(n, rng);
        auto data = x;
        monarch::forward_permuted(f, data);
        monarch::inverse_from_permuted(f, data);
        CHECK(max_abs_diff(data, x) <= 1e-13 * norm2(x));
        // The inverse of a spectrum held in permuted order is natural-order
        // time data, including the 1/N: IDFT of δ at frequency 1 is W^{-t}/N.
        std::vector<cdouble> spec(n, 0.0);
        const auto map = monarch::position_to_frequency(f);
        for (uint64_t pos = 0; pos < n; ++pos)
            if (map[pos] == 1) spec[pos] = 1.0;
        monarch::inverse_from_permuted(f, spec);
        for (uint64_t t = 0; t < n; t += 1 + n / 64)
            CHECK(std::abs(spec[t] - std::conj(monarch::unit_root(n, t)) / double(n)) < 1e-15);
    }
}

TEST_CASE("monarch: enumerate_factorizations lists every ordered factorisation exactly once", "[cpu][monarch]") {
    const std::vector<std::vector<int>> allowed_sets = {{2, 4, 8, 16, 32, 64, 128}, {16, 32, 64, 128}, {4, 16}, {2}, {8, 2}};
    for (const auto &allowed : allowed_sets) {
        // Brute force grows as |allowed|^max_factors: keep it to ~10^5 tuples.
        const std::vector<int> max_list = allowed.size() > 4 ? std::vector<int>{1, 2, 3, 4, 6} : std::vector<int>{1, 2, 3, 4, 8};
        for (int max_factors : max_list) {
            // Every tuple of allowed factors of length 1..max, bucketed by product.
            std::map<uint64_t, std::set<std::vector<int>>> expected;
            for (int len = 1; len <= max_factors; ++len) {
                std::vector<size_t> idx(size_t(len), 0);
                while (true) {
                    std::vector<int> t;
                    uint64_t p = 1;
                    for (size_t i : idx) {
                        t.push_back(allowed[i]);
                        p *= uint64_t(allowed[i]);
                    }
                    expected[p].insert(t);
                    size_t d = 0;
                    while (d < idx.size() && ++idx[d] == allowed.size()) idx[d++] = 0;
                    if (d == idx.size()) break;
                }
            }
            for (int lg = 0; lg <= 12; ++lg) {
                const uint64_t n = uint64_t(1) << lg;
                INFO("n = " << n << ", max_factors = " << max_factors << ", allowed " << ::Catch::Detail::stringify(allowed));
                const auto got = monarch::enumerate_factorizations(n, allowed, max_factors);
                const std::set<std::vector<int>> got_set(got.begin(), got.end());
                CHECK(got_set.size() == got.size());  // no duplicates
                CHECK(got_set == expected[n]);
            }
        }
    }
    // Factors that are 1 or not powers of two are ignored, not fatal.
    CHECK(monarch::enumerate_factorizations(16, {1, 3, 4}, 4) == std::vector<std::vector<int>>{{4, 4}});
    CHECK(monarch::enumerate_factorizations(12, {2, 4}, 4).empty());  // not a power of two
    // The planner's CPU search space at the sizes it uses.
    CHECK(monarch::enumerate_factorizations(4194304, {16, 32, 64, 128}, 4).size() > 0);
}

TEST_CASE("monarch: batch_pair packs 2p and 2p+1, odd B pairs the last with zeros", "[cpu][monarch]") {
    for (int64_t b = 1; b <= 9; ++b) {
        const int64_t pairs = (b + 1) / 2;
        std::vector<int> hits(size_t(b), 0);
        for (int64_t p = 0; p < pairs; ++p) {
            const auto pr = monarch::batch_pair(b, p);
            CHECK(pr.real_batch == 2 * p);
            hits[size_t(pr.real_batch)]++;
            if (pr.imag_batch >= 0) hits[size_t(pr.imag_batch)]++;
            CHECK((pr.imag_batch == -1) == (b % 2 == 1 && p == pairs - 1));
        }
        CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    }
}
