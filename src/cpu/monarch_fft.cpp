#include "cpu/monarch_fft.hpp"

#include <algorithm>
#include <string>

#include "common/types.hpp"
#include "monarch/monarch.hpp"

namespace ffc::cpu {

namespace {

// Columns gathered per chunk. 16 complex values are two 64-byte cache lines of
// the interleaved data, and a 16-float row is a whole number of SIMD vectors for
// SSE, AVX and AVX-512; a 128-row chunk (the largest planned radix) is 16 KiB of
// scratch, comfortably inside L1/L2. Radices above 128 use fewer lanes so the
// scratch never exceeds MonarchFft::kMaxScratchFloats.
constexpr int kLanes = 16;

// Complex multiply-accumulate helpers on split re/im values. std::complex's
// operator* is avoided on purpose: without -ffast-math it guards every product
// with a NaN/Inf recovery branch (a call to __mulsc3), which defeats vectorisation.
inline void cmul(float ar, float ai, float br, float bi, float &cr, float &ci) {
    cr = ar * br - ai * bi;
    ci = ar * bi + ai * br;
}

// In-place FFT along the rows of an r×W split-complex block whose rows are in
// bit-reversed order (decimation in time): afterwards row k holds frequency k.
// roots: W_r^j for j < r (conjugated by `sign` = −1 for the inverse transform).
// kW = compile-time lane count (0: use w).
template <int kW>
void fft_rows(float *__restrict re, float *__restrict im, int r, int w, const float *root_re,
              const float *root_im, float sign) {
    const int W = kW ? kW : w;
    int half = 1;
    int log2r = 0;
    while ((1 << log2r) < r) ++log2r;
    if (log2r & 1) {
        // One radix-2 pass with w = 1 first, so the rest pairs up into radix-4 passes.
        for (int g = 0; g < r; g += 2) {
            float *ar = re + g * W, *ai = im + g * W, *br = ar + W, *bi = ai + W;
            for (int c = 0; c < W; ++c) {
                const float xr = ar[c], xi = ai[c], yr = br[c], yi = bi[c];
                ar[c] = xr + yr; ai[c] = xi + yi;
                br[c] = xr - yr; bi[c] = xi - yi;
            }
        }
        half = 2;
    }
    // Radix-4 passes: each merges the radix-2 levels of span 2·half and 4·half.
    // With w2 = W_{4h}^j, x1 = w2²·a1, x2 = w2·a2, x3 = w2³·a3:
    //   c0 = (a0 + x1) + (x2 + x3)       c2 = (a0 + x1) − (x2 + x3)
    //   c1 = (a0 − x1) ∓ i(x2 − x3)      c3 = (a0 − x1) ± i(x2 − x3)
    // (upper signs forward, lower signs inverse).
    for (; half < r; half *= 4) {
        const int span = 4 * half;
        const int step = r / span;  // root index of W_{4h}^1 in the W_r table
        for (int g = 0; g < r; g += span) {
            for (int j = 0; j < half; ++j) {
                float *r0 = re + (g + j) * W, *i0 = im + (g + j) * W;
                float *r1 = r0 + half * W, *i1 = i0 + half * W;
                float *r2 = r1 + half * W, *i2 = i1 + half * W;
                float *r3 = r2 + half * W, *i3 = i2 + half * W;
                const float w1r = root_re[j * step], w1i = sign * root_im[j * step];
                const float w2r = root_re[2 * j * step], w2i = sign * root_im[2 * j * step];
                const float w3r = root_re[3 * j * step], w3i = sign * root_im[3 * j * step];
                for (int c = 0; c < W; ++c) {
                    float x1r, x1i, x2r, x2i, x3r, x3i;
                    cmul(r1[c], i1[c], w2r, w2i, x1r, x1i);
                    cmul(r2[c], i2[c], w1r, w1i, x2r, x2i);
                    cmul(r3[c], i3[c], w3r, w3i, x3r, x3i);
                    const float b0r = r0[c] + x1r, b0i = i0[c] + x1i;
                    const float b1r = r0[c] - x1r, b1i = i0[c] - x1i;
                    const float sr = x2r + x3r, si = x2i + x3i;
                    const float dr = x2r - x3r, di = x2i - x3i;
                    // −i·sign·(dr + i·di) = sign·(di − i·dr)
                    const float er = sign * di, ei = -sign * dr;
                    r0[c] = b0r + sr; i0[c] = b0i + si;
                    r2[c] = b0r - sr; i2[c] = b0i - si;
                    r1[c] = b1r + er; i1[c] = b1i + ei;
                    r3[c] = b1r - er; i3[c] = b1i - ei;
                }
            }
        }
    }
}

// W_n^e = exp(−2πi·e/n) for every e < n, as float. unit_root is evaluated on
// the first octant only and the rest follows from the exact symmetries of the
// circle (a swap or a negation of the parts), the same reductions unit_root
// itself applies, so every entry equals float(unit_root(n, e)) while costing
// an eighth of the evaluations (4M-point plans build their tables in ~0.1 s).
void roots_of_unity(uint64_t n, std::vector<float> &re, std::vector<float> &im) {
    re.resize(size_t(n));
    im.resize(size_t(n));
    auto direct = [&](uint64_t e) {
        const monarch::cdouble w = monarch::unit_root(n, e);
        re[size_t(e)] = float(w.real());
        im[size_t(e)] = float(w.imag());
    };
    if (n % 8 != 0) {
        for (uint64_t e = 0; e < n; ++e) direct(e);
        return;
    }
    const uint64_t q = n / 8;
    for (uint64_t e = 0; e <= q; ++e) direct(e);
    for (uint64_t e = q + 1; e <= 2 * q; ++e) {  // θ = π/2 − θ': cos ↔ sin
        re[size_t(e)] = -im[size_t(2 * q - e)];
        im[size_t(e)] = -re[size_t(2 * q - e)];
    }
    for (uint64_t e = 2 * q + 1; e <= 4 * q; ++e) {  // θ = π − θ': cos negated
        re[size_t(e)] = -re[size_t(4 * q - e)];
        im[size_t(e)] = im[size_t(4 * q - e)];
    }
    for (uint64_t e = 4 * q + 1; e < 8 * q; ++e) {  // θ = 2π − θ': sin negated
        re[size_t(e)] = re[size_t(8 * q - e)];
        im[size_t(e)] = -im[size_t(8 * q - e)];
    }
}

}  // namespace

MonarchFft::MonarchFft(const std::vector<int> &radices) : radices_(radices) {
    const auto geometry = monarch::stage_geometry(radices);  // validates: powers of two
    n_ = 1;
    for (int r : radices) {
        if (r > kMaxRadix)
            fail(FFC_ERROR_NO_KERNEL, "the CPU backend supports Monarch factors up to " + std::to_string(kMaxRadix) +
                                          ", the plan has " + std::to_string(r));
        n_ *= uint64_t(r);
    }

    int max_log2 = 0;
    for (int r : radices) max_log2 = std::max(max_log2, log2_exact(uint64_t(r)));
    radix_tables_.resize(size_t(max_log2) + 1);
    for (int lg = 0; lg <= max_log2; ++lg) {
        RadixTables &t = radix_tables_[size_t(lg)];
        const int r = 1 << lg;
        t.r = r;
        t.bitrev.resize(size_t(r));
        for (int i = 0; i < r; ++i) {
            int rev = 0;
            for (int b = 0; b < lg; ++b)
                if (i & (1 << b)) rev |= 1 << (lg - 1 - b);
            t.bitrev[size_t(i)] = uint32_t(rev);
        }
        t.root_re.resize(size_t(r));
        t.root_im.resize(size_t(r));
        for (int j = 0; j < r; ++j) {
            const monarch::cdouble w = monarch::unit_root(uint64_t(r), uint64_t(j));
            t.root_re[size_t(j)] = float(w.real());
            t.root_im[size_t(j)] = float(w.imag());
        }
    }

    std::vector<float> roots_re, roots_im;
    if (geometry.size() > 1) roots_of_unity(n_, roots_re, roots_im);  // only twiddled stages need them
    for (size_t s = 0; s < geometry.size(); ++s) {
        const monarch::StageGeometry &g = geometry[s];
        if (g.radix == 1) continue;  // an identity stage (its twiddle exponent is k1·n2 = 0)
        Stage st;
        st.radix = g.radix;
        st.inner = int64_t(g.inner);
        st.outer = int64_t(g.outer);
        st.last = (g.inner == 1);
        // Both lanes and outer·inner are powers of two, so chunks tile the columns exactly.
        const int lanes_cap = std::max(1, std::min(kLanes, int(kMaxScratchFloats / (2 * size_t(g.radix)))));
        st.lanes = int(std::min<uint64_t>(uint64_t(lanes_cap), g.outer * g.inner));
        st.fft = &radix_tables_[size_t(log2_exact(uint64_t(g.radix)))];
        if (!st.last) {
            // Twiddle W_{r·inner}^{k1·n2} of row k1, column n2. When inner >= lanes a
            // chunk's columns are n2_0 … n2_0+lanes−1 of one block: the table is
            // [k1][n2]. When inner < lanes a chunk spans lanes/inner blocks and lane
            // c has n2 = c mod inner: the table is expanded to [k1][c] so the chunk
            // loop reads one contiguous row either way.
            // W_{r·inner}^e = W_N^{e·outer}: every stage reads the one table of N roots.
            st.tw_stride = std::max<int64_t>(st.inner, st.lanes);
            const uint64_t block = uint64_t(g.radix) * g.inner;
            st.tw_re.resize(size_t(g.radix) * size_t(st.tw_stride));
            st.tw_im.resize(st.tw_re.size());
            for (int k1 = 0; k1 < g.radix; ++k1)
                for (int64_t x = 0; x < st.tw_stride; ++x) {
                    const uint64_t n2 = uint64_t(x) % g.inner;
                    const size_t e = size_t((uint64_t(k1) * n2) % block * g.outer);
                    st.tw_re[size_t(k1) * size_t(st.tw_stride) + size_t(x)] = roots_re[e];
                    st.tw_im[size_t(k1) * size_t(st.tw_stride) + size_t(x)] = roots_im[e];
                }
        }
        scratch_floats_ = std::max(scratch_floats_, size_t(2) * size_t(st.radix) * size_t(st.lanes));
        stages_.push_back(std::move(st));
    }
}

template <bool Inverse>
void MonarchFft::run_stage(const Stage &st, float *data, float *scratch) const {
    const int r = st.radix, W = st.lanes;
    const int64_t inner = st.inner, block = int64_t(r) * inner;
    const int64_t seg = std::min<int64_t>(inner, W);  // contiguous columns per block in a chunk
    const int64_t nseg = W / seg;                      // blocks a chunk spans
    const int64_t total_lanes = st.outer * inner;
    const uint32_t *bitrev = st.fft->bitrev.data();
    float *sre = scratch, *sim = scratch + size_t(r) * size_t(W);
    const float sign = Inverse ? -1.0f : 1.0f;
    const bool twiddle = !st.last;

    for (int64_t l0 = 0; l0 < total_lanes; l0 += W) {
        const int64_t b0 = l0 / inner, n2_0 = l0 % inner;  // n2_0 = 0 when nseg > 1
        const int64_t lane_off = inner >= W ? n2_0 : 0;
        float *base = data + 2 * (b0 * block + n2_0);

        // Gather in bit-reversed row order; the inverse applies conj(twiddle) here,
        // the mirror image of the forward stage's twiddle-after-DFT.
        for (int i = 0; i < r; ++i) {
            const int64_t src_row = bitrev[i];
            float *dre = sre + size_t(i) * W, *dim = sim + size_t(i) * W;
            for (int64_t sg = 0; sg < nseg; ++sg) {
                const float *src = base + 2 * (sg * block + src_row * inner);
                float *orow = dre + sg * seg, *oim = dim + sg * seg;
                if (Inverse && twiddle) {
                    const float *twr = st.tw_re.data() + src_row * st.tw_stride + lane_off + sg * seg;
                    const float *twi = st.tw_im.data() + src_row * st.tw_stride + lane_off + sg * seg;
                    for (int64_t c = 0; c < seg; ++c)
                        cmul(src[2 * c], src[2 * c + 1], twr[c], -twi[c], orow[c], oim[c]);
                } else {
                    for (int64_t c = 0; c < seg; ++c) {
                        orow[c] = src[2 * c];
                        oim[c] = src[2 * c + 1];
                    }
                }
            }
        }

        if (W == kLanes)
            fft_rows<kLanes>(sre, sim, r, W, st.fft->root_re.data(), st.fft->root_im.data(), sign);
        else
            fft_rows<0>(sre, sim, r, W, st.fft->root_re.data(), st.fft->root_im.data(), sign);

        // Scatter in natural row order; the forward applies the twiddle here.
        for (int k = 0; k < r; ++k) {
            const float *rre = sre + size_t(k) * W, *rim = sim + size_t(k) * W;
            for (int64_t sg = 0; sg < nseg; ++sg) {
                float *dst = base + 2 * (sg * block + int64_t(k) * inner);
                const float *irow = rre + sg * seg, *iim = rim + sg * seg;
                if (!Inverse && twiddle) {
                    const float *twr = st.tw_re.data() + int64_t(k) * st.tw_stride + lane_off + sg * seg;
                    const float *twi = st.tw_im.data() + int64_t(k) * st.tw_stride + lane_off + sg * seg;
                    for (int64_t c = 0; c < seg; ++c)
                        cmul(irow[c], iim[c], twr[c], twi[c], dst[2 * c], dst[2 * c + 1]);
                } else {
                    for (int64_t c = 0; c < seg; ++c) {
                        dst[2 * c] = irow[c];
                        dst[2 * c + 1] = iim[c];
                    }
                }
            }
        }
    }
}

void MonarchFft::forward(cfloat *data, float *scratch) const {
    float *d = reinterpret_cast<float *>(data);
    for (const Stage &st : stages_) run_stage<false>(st, d, scratch);
}

void MonarchFft::inverse_unscaled(cfloat *data, float *scratch) const {
    float *d = reinterpret_cast<float *>(data);
    for (size_t s = stages_.size(); s-- > 0;) run_stage<true>(stages_[s], d, scratch);
}

}  // namespace ffc::cpu
