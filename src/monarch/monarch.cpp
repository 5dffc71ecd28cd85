// Host-side Monarch mathematics (see monarch.hpp for the stage convention).
// Everything here is double precision and favours clarity over speed, except
// unit_root, which every table of every backend is built from and therefore
// must be as accurate as double allows.
#include "monarch/monarch.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "common/types.hpp"

namespace ffc::monarch {

namespace {

using u128 = unsigned __int128;

// sin and cos of θ = π·a/(4n) for 0 <= a <= n, i.e. θ in the first octant [0, π/4].
// Evaluated in long double (64-bit significand) and rounded once to double at
// the end: θ carries ~2^-63 relative error and the series below a few units of
// 2^-64, so the results are within 0.5 + ~0.002 ulp of double. (std::sin/cos in
// double followed by any correction would round twice and reach ~1 ulp.)
// The Taylor series converge fast on [0, π/4]: with terms through x^21 (sin)
// and x^20 (cos) the truncation error is below 1e-23.
void first_octant_sincos(u128 a, u128 n, double &s, double &c) {
    constexpr long double kPi = 3.141592653589793238462643383279502884L;
    const long double x = kPi * (static_cast<long double>(a) / static_cast<long double>(4 * n));
    const long double x2 = x * x;
    // Horner forms:  sin x = x·(1 − x²/(2·3)·(1 − x²/(4·5)·(1 − …)))
    //                cos x =    1 − x²/(1·2)·(1 − x²/(3·4)·(1 − …))
    constexpr int kTerms = 10;
    long double ts = 1.0L, tc = 1.0L;
    for (int k = kTerms; k >= 1; --k) {
        ts = 1.0L - x2 * ts / static_cast<long double>((2 * k) * (2 * k + 1));
        tc = 1.0L - x2 * tc / static_cast<long double>((2 * k - 1) * (2 * k));
    }
    s = static_cast<double>(x * ts);
    c = static_cast<double>(tc);
}

void check_radices(const std::vector<int> &radices) {
    if (radices.empty()) fail(FFC_ERROR_INVALID_ARGUMENT, "monarch: empty factorisation");
    for (int r : radices)
        if (r < 1 || !is_pow2(uint64_t(r)))
            fail(FFC_ERROR_INVALID_ARGUMENT, "monarch: factor " + std::to_string(r) + " is not a power of two");
}

uint64_t product(const std::vector<int> &radices) {
    uint64_t n = 1;
    for (int r : radices) n *= uint64_t(r);
    return n;
}

}  // namespace

cdouble unit_root(uint64_t n, uint64_t e) {
    if (n == 0) fail(FFC_ERROR_INVALID_ARGUMENT, "unit_root: n = 0");
    e %= n;
    // Work with the angle as the fraction a/(8n) of a full turn: every symmetry
    // used below (half, quarter and eighth turns) keeps the numerator integral,
    // so the reduction to the first octant is exact.
    const u128 n1 = n;
    u128 a = u128(e) * 8;
    bool negate_sin = false, negate_cos = false, swap = false;
    if (a > 4 * n1) { a = 8 * n1 - a; negate_sin = true; }  // θ -> 2π − θ
    if (a > 2 * n1) { a = 4 * n1 - a; negate_cos = true; }  // θ -> π − θ
    if (a > n1) { a = 2 * n1 - a; swap = true; }            // θ -> π/2 − θ
    double s, c;
    first_octant_sincos(a, n1, s, c);
    if (swap) std::swap(s, c);
    if (negate_cos) c = -c;
    if (negate_sin) s = -s;
    return cdouble(c, -s);  // exp(−iθ)
}

std::vector<cdouble> dft_matrix(int r) {
    if (r < 1) fail(FFC_ERROR_INVALID_ARGUMENT, "dft_matrix: r = " + std::to_string(r));
    std::vector<cdouble> f(size_t(r) * size_t(r));
    for (int k = 0; k < r; ++k)
        for (int j = 0; j < r; ++j) f[size_t(k) * r + j] = unit_root(uint64_t(r), uint64_t(j) * uint64_t(k));
    return f;
}

std::vector<StageGeometry> stage_geometry(const std::vector<int> &radices) {
    check_radices(radices);
    std::vector<StageGeometry> g(radices.size());
    uint64_t outer = 1;
    for (size_t s = 0; s < radices.size(); ++s) {
        g[s].radix = radices[s];
        g[s].outer = outer;
        outer *= uint64_t(radices[s]);
    }
    uint64_t inner = 1;
    for (size_t s = radices.size(); s-- > 0;) {
        g[s].inner = inner;
        inner *= uint64_t(radices[s]);
    }
    return g;
}

uint64_t twiddle_exponent(const StageGeometry &stage, uint64_t pos) {
    // pos = block·(r·inner) + k1·inner + n2. The last stage has inner = 1, so n2 = 0
    // and the exponent is 0 there without a special case.
    const uint64_t within = pos % (uint64_t(stage.radix) * stage.inner);
    const uint64_t k1 = within / stage.inner;
    const uint64_t n2 = within % stage.inner;
    return k1 * n2;
}

uint64_t frequency_of_position(const std::vector<int> &radices, uint64_t pos) {
    // Stage s leaves its output frequency digit k_s at "digit position" inner_s of
    // the storage index; the frequency is the mixed-radix number with the digits
    // in the opposite significance: f = Σ_s k_s · Π_{i<s} r_i.
    uint64_t inner = product(radices);
    uint64_t freq = 0, weight = 1;
    for (int r : radices) {
        inner /= uint64_t(r);
        const uint64_t digit = (pos / inner) % uint64_t(r);
        freq += digit * weight;
        weight *= uint64_t(r);
    }
    return freq;
}

std::vector<uint64_t> position_to_frequency(const std::vector<int> &radices) {
    check_radices(radices);
    const uint64_t n = product(radices);
    std::vector<uint64_t> map(n);
    for (uint64_t pos = 0; pos < n; ++pos) map[pos] = frequency_of_position(radices, pos);
    return map;
}

std::vector<std::vector<int>> enumerate_factorizations(uint64_t n, const std::vector<int> &allowed, int max_factors) {
    // Factor 1 would only add trivial stages, and non-powers of two cannot divide
    // n: both are ignored. Sorting makes the output order deterministic
    // (lexicographic, smallest factors first).
    std::vector<int> factors;
    for (int f : allowed)
        if (f >= 2 && is_pow2(uint64_t(f))) factors.push_back(f);
    std::sort(factors.begin(), factors.end());
    factors.erase(std::unique(factors.begin(), factors.end()), factors.end());

    std::vector<std::vector<int>> out;
    if (n == 0 || !is_pow2(n) || max_factors < 1) return out;
    std::vector<int> current;
    // Depth-first: `rest` is what the remaining factors must multiply to.
    auto recurse = [&](auto &&self, uint64_t rest) -> void {
        if (rest == 1) {
            if (!current.empty()) out.push_back(current);
            return;
        }
        if (int(current.size()) == max_factors) return;
        for (int f : factors) {
            if (uint64_t(f) > rest || rest % uint64_t(f) != 0) continue;
            current.push_back(f);
            self(self, rest / uint64_t(f));
            current.pop_back();
        }
    };
    recurse(recurse, n);
    return out;
}

namespace {

// One stage of the literal reference transform, forward or inverse, on every
// column (block, n2) of the [outer][r][inner] view.
void reference_stage(const StageGeometry &g, bool last, bool inverse, std::vector<cdouble> &data) {
    const uint64_t r = uint64_t(g.radix), inner = g.inner, block = r * inner;
    const std::vector<cdouble> f = dft_matrix(g.radix);
    std::vector<cdouble> in(r), out(r);
    for (uint64_t b = 0; b < g.outer; ++b) {
        for (uint64_t n2 = 0; n2 < inner; ++n2) {
            cdouble *col = data.data() + b * block + n2;
            for (uint64_t j = 0; j < r; ++j) in[j] = col[j * inner];
            if (!inverse) {
                // DFT along the middle axis, then the twiddle W_{r·inner}^{k1·n2}.
                for (uint64_t k1 = 0; k1 < r; ++k1) {
                    cdouble acc = 0;
                    for (uint64_t j = 0; j < r; ++j) acc += f[k1 * r + j] * in[j];
                    out[k1] = last ? acc : acc * unit_root(block, k1 * n2);
                }
            } else {
                // Mirror image: conjugate twiddle first, then the conjugate DFT.
                if (!last)
                    for (uint64_t k1 = 0; k1 < r; ++k1) in[k1] *= std::conj(unit_root(block, k1 * n2));
                for (uint64_t j = 0; j < r; ++j) {
                    cdouble acc = 0;
                    for (uint64_t k1 = 0; k1 < r; ++k1) acc += std::conj(f[k1 * r + j]) * in[k1];
                    out[j] = acc;
                }
            }
            for (uint64_t j = 0; j < r; ++j) col[j * inner] = out[j];
        }
    }
}

void check_length(const std::vector<int> &radices, const std::vector<cdouble> &data) {
    check_radices(radices);
    if (uint64_t(data.size()) != product(radices))
        fail(FFC_ERROR_INVALID_ARGUMENT, "monarch: data length " + std::to_string(data.size()) +
                                             " differs from the product of the factors");
}

}  // namespace

void forward_permuted(const std::vector<int> &radices, std::vector<cdouble> &data) {
    check_length(radices, data);
    const auto geometry = stage_geometry(radices);
    for (size_t s = 0; s < geometry.size(); ++s) reference_stage(geometry[s], s + 1 == geometry.size(), false, data);
}

void inverse_from_permuted(const std::vector<int> &radices, std::vector<cdouble> &data) {
    check_length(radices, data);
    const auto geometry = stage_geometry(radices);
    for (size_t s = geometry.size(); s-- > 0;) reference_stage(geometry[s], s + 1 == geometry.size(), true, data);
    const double scale = 1.0 / double(data.size());
    for (auto &x : data) x *= scale;
}

}  // namespace ffc::monarch
