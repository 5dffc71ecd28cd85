#include "oracle.hpp"

#include <fftw3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "common/half.hpp"

namespace ffc_test {

namespace {

// Poison patterns: quiet NaNs with a recognisable payload.
constexpr uint32_t kPoisonF32 = 0x7fc0deadu;
constexpr uint16_t kPoisonF16 = 0x7e5au;
constexpr uint16_t kPoisonBF16 = 0x7fdau;

double load(const void *base, int64_t i, ffc_dtype_t dtype) { return double(ffc::load_as_float(base, i, int32_t(dtype))); }

// Round a double to the dtype and back (through float: the double rounding this
// implies differs from direct rounding only in astronomically rare ties).
double round_to(double x, ffc_dtype_t dtype) {
    const float f = float(x);
    switch (dtype) {
    case FFC_DTYPE_FP32: return double(f);
    case FFC_DTYPE_FP16: return double(ffc::fp16_to_float(ffc::float_to_fp16(f)));
    default: return double(ffc::bf16_to_float(ffc::float_to_bf16(f)));
    }
}

// FFTW buffers and plans with RAII. FFTW's planner is not thread-safe; the
// oracle is meant to be called from the test thread only.
struct FftwReal {
    double *p;
    explicit FftwReal(int64_t n) : p(static_cast<double *>(fftw_malloc(sizeof(double) * size_t(n)))) {
        if (!p) throw std::bad_alloc();
    }
    ~FftwReal() { fftw_free(p); }
    FftwReal(const FftwReal &) = delete;
    FftwReal &operator=(const FftwReal &) = delete;
};
struct FftwComplex {
    fftw_complex *p;
    explicit FftwComplex(int64_t n) : p(static_cast<fftw_complex *>(fftw_malloc(sizeof(fftw_complex) * size_t(n)))) {
        if (!p) throw std::bad_alloc();
    }
    ~FftwComplex() { fftw_free(p); }
    FftwComplex(const FftwComplex &) = delete;
    FftwComplex &operator=(const FftwComplex &) = delete;
};

// Real <-> half-complex transforms of size N on fixed buffers: the spectrum
// convention is FFTW's (unnormalised, exp(−2πi·tf/N) forward).
class RealFft {
public:
    explicit RealFft(int64_t n) : n_(n), real_(n), spec_(n / 2 + 1) {
        fwd_ = fftw_plan_dft_r2c_1d(int(n), real_.p, spec_.p, FFTW_ESTIMATE);
        inv_ = fftw_plan_dft_c2r_1d(int(n), spec_.p, real_.p, FFTW_ESTIMATE);
        if (!fwd_ || !inv_) throw std::runtime_error("FFTW planning failed");
    }
    ~RealFft() {
        fftw_destroy_plan(fwd_);
        fftw_destroy_plan(inv_);
    }
    RealFft(const RealFft &) = delete;
    RealFft &operator=(const RealFft &) = delete;

    int64_t bins() const { return n_ / 2 + 1; }
    // spectrum of x[0..len) zero-padded to N
    std::vector<std::complex<double>> forward(const double *x, int64_t len) {
        std::copy(x, x + len, real_.p);
        std::fill(real_.p + len, real_.p + n_, 0.0);
        fftw_execute(fwd_);
        std::vector<std::complex<double>> out(static_cast<size_t>(bins()));
        for (int64_t i = 0; i < bins(); ++i) out[size_t(i)] = {spec_.p[i][0], spec_.p[i][1]};
        return out;
    }
    // first `len` values of IFFT(spectrum) (including the 1/N)
    std::vector<double> inverse(const std::vector<std::complex<double>> &s, int64_t len) {
        for (int64_t i = 0; i < bins(); ++i) {
            spec_.p[i][0] = s[size_t(i)].real();
            spec_.p[i][1] = s[size_t(i)].imag();
        }
        fftw_execute(inv_);  // c2r destroys its input; spec_ is ours to destroy
        std::vector<double> out(static_cast<size_t>(len));
        const double scale = 1.0 / double(n_);
        for (int64_t i = 0; i < len; ++i) out[size_t(i)] = real_.p[i] * scale;
        return out;
    }

private:
    int64_t n_;
    FftwReal real_;
    FftwComplex spec_;
    fftw_plan fwd_, inv_;
};

bool use_direct(const ConvProblem &p, Method m) {
    if (m == Method::direct) return true;
    if (m == Method::fft) return false;
    // About 2^24 multiply-adds per output kind: well under a second.
    return double(p.batch) * double(p.channels) * double(p.seq_len) * double(p.kernel_len) <= double(1 << 24);
}

void check_problem(const ConvProblem &p) {
    if (p.batch < 1 || p.channels < 1 || p.seq_len < 1 || p.kernel_len < 1 || p.seq_len > p.fft_size ||
        p.kernel_len > p.fft_size)
        throw std::invalid_argument("oracle: invalid problem " + p.str());
}

// v = in_gate ⊙ u for one (b, h) row, in double (exact: a product of two
// 16-bit or fp32 values is exact in double).
std::vector<double> gated_row(const void *x, const void *gate, int64_t row, int64_t len, ffc_dtype_t dt) {
    std::vector<double> v(static_cast<size_t>(len));
    for (int64_t t = 0; t < len; ++t) v[size_t(t)] = load(x, row + t, dt) * (gate ? load(gate, row + t, dt) : 1.0);
    return v;
}

// z[t] = Σ_{s<K} k[s]·v[(t − s) mod N] for t < L, v zero beyond L.
// For t < L: s ≤ t gives index t − s (< L); s > t gives t − s + N, which is
// < L only for s ≥ t + N − L + 1.
std::vector<double> direct_conv(const std::vector<double> &v, const std::vector<double> &k, int64_t n) {
    const int64_t L = int64_t(v.size()), K = int64_t(k.size());
    std::vector<double> z(static_cast<size_t>(L));
    for (int64_t t = 0; t < L; ++t) {
        double acc = 0;
        for (int64_t s = 0; s <= std::min(t, K - 1); ++s) acc += k[size_t(s)] * v[size_t(t - s)];
        for (int64_t s = t + n - L + 1; s < K; ++s) acc += k[size_t(s)] * v[size_t(t - s + n)];
        z[size_t(t)] = acc;
    }
    return z;
}

// c[s] = Σ_{t<L} d[t]·x[(t − s) mod N] for s < out_len, x zero beyond x.size().
// t ≥ s: index t − s, valid while < |x|; t < s: index t − s + N, valid while < |x|.
std::vector<double> direct_corr(const std::vector<double> &d, const std::vector<double> &x, int64_t n, int64_t out_len) {
    const int64_t L = int64_t(d.size()), X = int64_t(x.size());
    std::vector<double> c(static_cast<size_t>(out_len));
    for (int64_t s = 0; s < out_len; ++s) {
        double acc = 0;
        for (int64_t t = s; t < std::min(L, s + X); ++t) acc += d[size_t(t)] * x[size_t(t - s)];
        for (int64_t t = 0; t < std::min(s, std::min(L, s + X - n)); ++t) acc += d[size_t(t)] * x[size_t(t - s + n)];
        c[size_t(s)] = acc;
    }
    return c;
}

std::vector<double> kernel_row(const float *k, int64_t h, int64_t K) {
    return std::vector<double>(k + h * K, k + (h + 1) * K);
}

// Zeroes the half-complex bins f ≤ N/2 the frequency mask drops (the mask is
// symmetric, so this is the full spectrum's mask).
void apply_freq_mask(const ConvInputs &in, std::vector<std::complex<double>> &spec) {
    if (!in.freq_mask) return;
    for (size_t f = 0; f < spec.size(); ++f)
        if (!in.freq_mask[int64_t(f) % in.freq_mask_len]) spec[f] = 0.0;
}

}  // namespace

size_t dtype_bytes(ffc_dtype_t dtype) { return dtype == FFC_DTYPE_FP32 ? 4 : 2; }

const char *dtype_label(ffc_dtype_t dtype) {
    switch (dtype) {
    case FFC_DTYPE_FP32: return "fp32";
    case FFC_DTYPE_FP16: return "fp16";
    case FFC_DTYPE_BF16: return "bf16";
    }
    return "?";
}

std::string ConvProblem::str() const {
    return "B=" + std::to_string(batch) + " H=" + std::to_string(channels) + " L=" + std::to_string(seq_len) +
           " K=" + std::to_string(kernel_len) + " N=" + std::to_string(fft_size) + " " + dtype_label(dtype);
}

HostTensor::HostTensor(ffc_dtype_t dtype, int64_t count)
    : dtype_(dtype), count_(count), storage_(size_t(count) * dtype_bytes(dtype)) {}

double HostTensor::at(int64_t i) const { return load(data(), i, dtype_); }

bool HostTensor::bitwise_equal(const HostTensor &o) const {
    return dtype_ == o.dtype_ && count_ == o.count_ && storage_ == o.storage_;
}

uint64_t fresh_seed() {
    static std::atomic<uint64_t> counter{0};
    static const uint64_t base = [] {
        std::random_device rd;
        return (uint64_t(rd()) << 32) ^ uint64_t(rd());
    }();
    // splitmix64 of base + counter: distinct, well-mixed seeds per call.
    uint64_t z = base + 0x9e3779b97f4a7c15ull * (counter.fetch_add(1) + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void fill_normal(HostTensor &t, Rng &rng, double stddev) {
    for (int64_t i = 0; i < t.count(); ++i) ffc::store_from_float(t.data(), i, int32_t(t.dtype()), float(rng.normal() * stddev));
}

void fill_normal(std::vector<float> &v, Rng &rng, double stddev) {
    for (float &x : v) x = float(rng.normal() * stddev);
}

void poison(HostTensor &t) {
    for (int64_t i = 0; i < t.count(); ++i) {
        switch (t.dtype()) {
        case FFC_DTYPE_FP32: std::memcpy(static_cast<char *>(t.data()) + 4 * i, &kPoisonF32, 4); break;
        case FFC_DTYPE_FP16: std::memcpy(static_cast<char *>(t.data()) + 2 * i, &kPoisonF16, 2); break;
        default: std::memcpy(static_cast<char *>(t.data()) + 2 * i, &kPoisonBF16, 2); break;
        }
    }
}

void poison(std::vector<float> &v) {
    for (float &x : v) std::memcpy(&x, &kPoisonF32, 4);
}

bool all_poisoned(const HostTensor &t) {
    const char *p = static_cast<const char *>(t.data());
    for (int64_t i = 0; i < t.count(); ++i) {
        if (t.dtype() == FFC_DTYPE_FP32) {
            uint32_t b;
            std::memcpy(&b, p + 4 * i, 4);
            if (b != kPoisonF32) return false;
        } else {
            uint16_t b;
            std::memcpy(&b, p + 2 * i, 2);
            if (b != (t.dtype() == FFC_DTYPE_FP16 ? kPoisonF16 : kPoisonBF16)) return false;
        }
    }
    return true;
}

bool all_poisoned(const std::vector<float> &v) {
    for (float x : v) {
        uint32_t b;
        std::memcpy(&b, &x, 4);
        if (b != kPoisonF32) return false;
    }
    return true;
}

std::vector<double> reference_forward(const ConvProblem &p, const ConvInputs &in, Method method) {
    check_problem(p);
    const int64_t B = p.batch, H = p.channels, L = p.seq_len, K = p.kernel_len, N = p.fft_size;
    std::vector<double> y(size_t(B * H * L));
    const bool direct = use_direct(p, method) && !in.freq_mask;
    std::unique_ptr<RealFft> fft;
    if (!direct) fft = std::make_unique<RealFft>(N);
    for (int64_t h = 0; h < H; ++h) {
        const std::vector<double> k = kernel_row(in.k, h, K);
        std::vector<std::complex<double>> kspec;
        if (!direct) {
            kspec = fft->forward(k.data(), K);
            apply_freq_mask(in, kspec);
        }
        for (int64_t b = 0; b < B; ++b) {
            const int64_t row = (b * H + h) * L;
            const std::vector<double> v = gated_row(in.u, in.in_gate, row, L, p.dtype);
            std::vector<double> z;
            if (direct) {
                z = direct_conv(v, k, N);
            } else {
                auto spec = fft->forward(v.data(), L);
                for (size_t i = 0; i < spec.size(); ++i) spec[i] *= kspec[i];
                z = fft->inverse(spec, L);
            }
            for (int64_t t = 0; t < L; ++t)
                y[size_t(row + t)] = z[size_t(t)] * (in.out_gate ? load(in.out_gate, row + t, p.dtype) : 1.0);
        }
    }
    return y;
}

BackwardReference reference_backward(const ConvProblem &p, const ConvInputs &in, const void *dy, BackwardRequest req,
                                     Method method) {
    check_problem(p);
    if (req.d_in_gate && !in.in_gate) req.d_in_gate = false;
    if (req.d_out_gate && !in.out_gate) req.d_out_gate = false;
    const int64_t B = p.batch, H = p.channels, L = p.seq_len, K = p.kernel_len, N = p.fft_size;
    const bool want_dv = req.du || req.d_in_gate;
    BackwardReference r;
    if (req.du) r.du.assign(size_t(B * H * L), 0.0);
    if (req.d_in_gate) r.d_in_gate.assign(size_t(B * H * L), 0.0);
    if (req.d_out_gate) r.d_out_gate.assign(size_t(B * H * L), 0.0);
    if (req.dk) r.dk.assign(size_t(H * K), 0.0);

    const bool direct = use_direct(p, method) && !in.freq_mask;
    std::unique_ptr<RealFft> fft;
    if (!direct) fft = std::make_unique<RealFft>(N);
    for (int64_t h = 0; h < H; ++h) {
        const std::vector<double> k = kernel_row(in.k, h, K);
        std::vector<std::complex<double>> kspec, dk_spec;
        if (!direct) {
            kspec = fft->forward(k.data(), K);
            apply_freq_mask(in, kspec);
            if (req.dk) dk_spec.assign(kspec.size(), 0.0);
        }
        for (int64_t b = 0; b < B; ++b) {
            const int64_t row = (b * H + h) * L;
            const std::vector<double> v = gated_row(in.u, in.in_gate, row, L, p.dtype);
            const std::vector<double> dz = gated_row(dy, in.out_gate, row, L, p.dtype);
            std::vector<double> z, dv;
            if (direct) {
                if (req.d_out_gate) z = direct_conv(v, k, N);
                if (want_dv) dv = direct_corr(dz, k, N, L);
                if (req.dk) {
                    const std::vector<double> c = direct_corr(dz, v, N, K);
                    for (int64_t s = 0; s < K; ++s) r.dk[size_t(h * K + s)] += c[size_t(s)];
                }
            } else {
                const auto vspec = fft->forward(v.data(), L);
                const auto dzspec = fft->forward(dz.data(), L);
                if (req.d_out_gate) {
                    auto s = vspec;
                    for (size_t i = 0; i < s.size(); ++i) s[i] *= kspec[i];
                    z = fft->inverse(s, L);
                }
                if (want_dv) {
                    auto s = dzspec;
                    for (size_t i = 0; i < s.size(); ++i) s[i] *= std::conj(kspec[i]);
                    dv = fft->inverse(s, L);
                }
                if (req.dk)
                    for (size_t i = 0; i < dk_spec.size(); ++i) dk_spec[i] += std::conj(vspec[i]) * dzspec[i];
            }
            for (int64_t t = 0; t < L; ++t) {
                const int64_t i = row + t;
                if (req.d_out_gate) r.d_out_gate[size_t(i)] = load(dy, i, p.dtype) * z[size_t(t)];
                if (req.du) r.du[size_t(i)] = dv[size_t(t)] * (in.in_gate ? load(in.in_gate, i, p.dtype) : 1.0);
                if (req.d_in_gate) r.d_in_gate[size_t(i)] = dv[size_t(t)] * load(in.u, i, p.dtype);
            }
        }
        if (req.dk && !direct) {
            apply_freq_mask(in, dk_spec);  // the gradient of a masked filter
            const std::vector<double> c = fft->inverse(dk_spec, K);
            std::copy(c.begin(), c.end(), r.dk.begin() + h * K);
        }
    }
    return r;
}

namespace {

template <class Get>
double rel_l2_impl(int64_t count, const std::vector<double> &ref, Get get) {
    if (int64_t(ref.size()) != count) throw std::invalid_argument("rel_l2: size mismatch");
    long double err = 0, nrm = 0;
    for (int64_t i = 0; i < count; ++i) {
        const double o = get(i);
        if (!std::isfinite(o)) return std::numeric_limits<double>::infinity();
        const long double d = (long double)o - (long double)ref[size_t(i)];
        err += d * d;
        nrm += (long double)ref[size_t(i)] * ref[size_t(i)];
    }
    if (nrm == 0) return err == 0 ? 0.0 : std::numeric_limits<double>::infinity();
    return double(std::sqrt(err / nrm));
}

}  // namespace

double rel_l2(const HostTensor &out, const std::vector<double> &ref) {
    return rel_l2_impl(out.count(), ref, [&](int64_t i) { return out.at(i); });
}

double rel_l2(const std::vector<float> &out, const std::vector<double> &ref) {
    return rel_l2_impl(int64_t(out.size()), ref, [&](int64_t i) { return double(out[size_t(i)]); });
}

double rounding_rel_l2(const std::vector<double> &ref, ffc_dtype_t dtype) {
    return rel_l2_impl(int64_t(ref.size()), ref, [&](int64_t i) { return round_to(ref[size_t(i)], dtype); });
}

double unit_roundoff(ffc_dtype_t dtype) {
    switch (dtype) {
    case FFC_DTYPE_FP32: return std::ldexp(1.0, -24);
    case FFC_DTYPE_FP16: return std::ldexp(1.0, -11);
    default: return std::ldexp(1.0, -8);
    }
}

// The fp32 bound. An FFT convolution in fp32 makes two kinds of error:
//  (a) errors proportional to the result itself: the pointwise product, the
//      inverse transform, the gate products and the final rounding;
//  (b) the forward transforms' errors, carried through the product: these are
//      proportional to the normwise scale S of error_scales(), not to the result.
// For a radix-2/4 FFT with twiddles correctly rounded from double, each
// butterfly level adds a relative rms error below u = 2^-24 (one complex
// multiply-add, ~u·|x| rms), and the levels' errors are independent, so a
// transform's rel-L2 error grows like u·sqrt(log2 N) and stays below u·log2 N.
// Part (a) has one transform plus a handful of elementwise roundings, part (b)
// two transforms, so c = 2 covers each part with a margin of ~2 (and makes
// 4·log2(N)·u in the common case S ≈ ||result||: 4.8e-7 at N = 256, 1.3e-6 at
// N = 4M). Higham's adversarial worst case (~20·log2(N)·u) is not approached by
// random data; a wrong twiddle, lost element or mis-indexed spectrum gives
// errors >= 1e-3 and can never pass.
double fp32_arithmetic_bound(int64_t fft_size) {
    const double log2n = std::log2(double(std::max<int64_t>(fft_size, 2)));
    return 2.0 * log2n * std::ldexp(1.0, -24);
}

namespace {
double norm_of(const std::vector<double> &v) {
    long double s = 0;
    for (double x : v) s += (long double)x * x;
    return double(std::sqrt(s));
}
}  // namespace

double tolerance(const std::vector<double> &ref, ffc_dtype_t dtype, int64_t fft_size, double scale) {
    if (dtype != FFC_DTYPE_FP32) return 2.0 * rounding_rel_l2(ref, dtype);
    const double r = norm_of(ref);
    if (r == 0) return scale == 0 ? 0.0 : std::numeric_limits<double>::infinity();
    return fp32_arithmetic_bound(fft_size) * (1.0 + scale / r);
}

ErrorScales error_scales(const ConvProblem &p, const ConvInputs &in, const void *dy) {
    check_problem(p);
    const int64_t B = p.batch, H = p.channels, L = p.seq_len, K = p.kernel_len;
    const double frac_l = double(L) / double(p.fft_size), frac_k = double(K) / double(p.fft_size);
    auto sum_sq = [](const std::vector<double> &x) {
        double s = 0;
        for (double v : x) s += v * v;
        return s;
    };
    auto mean_sq = [&](const void *x, int64_t row) {
        if (!x) return 1.0;
        double s = 0;
        for (int64_t t = 0; t < L; ++t) s += load(x, row + t, p.dtype) * load(x, row + t, p.dtype);
        return s / double(L);
    };
    double y2 = 0, du2 = 0, dk2 = 0, dig2 = 0, dog2 = 0;
    for (int64_t h = 0; h < H; ++h) {
        double k2 = 0;
        for (int64_t s = 0; s < K; ++s) k2 += double(in.k[h * K + s]) * double(in.k[h * K + s]);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t row = (b * H + h) * L;
            const double v2 = sum_sq(gated_row(in.u, in.in_gate, row, L, p.dtype));
            y2 += frac_l * mean_sq(in.out_gate, row) * v2 * k2;
            if (!dy) continue;
            const double dz2 = sum_sq(gated_row(dy, in.out_gate, row, L, p.dtype));
            du2 += frac_l * mean_sq(in.in_gate, row) * dz2 * k2;
            dig2 += frac_l * mean_sq(in.u, row) * dz2 * k2;
            dog2 += frac_l * mean_sq(dy, row) * v2 * k2;
            dk2 += frac_k * dz2 * v2;
        }
    }
    ErrorScales e;
    e.y = std::sqrt(y2);
    e.du = std::sqrt(du2);
    e.dk = std::sqrt(dk2);
    e.d_in_gate = std::sqrt(dig2);
    e.d_out_gate = std::sqrt(dog2);
    return e;
}

double dot(const HostTensor &a, const HostTensor &b) {
    if (a.count() != b.count()) throw std::invalid_argument("dot: size mismatch");
    long double s = 0;
    for (int64_t i = 0; i < a.count(); ++i) s += (long double)a.at(i) * b.at(i);
    return double(s);
}

double norm(const HostTensor &a) { return std::sqrt(std::max(0.0, dot(a, a))); }

}  // namespace ffc_test
