// The CPU backend: executes a plan's Monarch factorisation on host memory with
// fp32 arithmetic. It is the reference the CUDA kernels are compared against in
// spirit (same stages, same permuted spectrum, same two-for-one pairing), and
// the fallback where no GPU exists.
//
// Work decomposition. A "pair" packs batch elements 2p and 2p+1 of one channel
// as w = v_a + i·v_b (DESIGN §3); one complex transform of size N serves both.
// Work items are (channel, pair), or whole channels when dk is wanted, so that
// each channel's dk is reduced by one thread in pair order: the bits of dk then
// depend on nothing but the inputs (not on the thread count, not on timing).
// Items are split into contiguous ranges, one per thread, and each thread owns
// one "slot" of the caller's workspace.
#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/executor.hpp"
#include "common/half.hpp"
#include "common/types.hpp"
#include "cpu/monarch_fft.hpp"
#include "cpu/parallel.hpp"
#include "monarch/monarch.hpp"
#include "plan/planner.hpp"

namespace ffc {

namespace {

using cpu::cfloat;
using cpu::MonarchFft;

using cpu::kMaxThreads;
using cpu::parallel_ranges;
constexpr size_t kAlign = 64;  // cache line: slots never share a line

size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// ---------------------------------------------------------------------------
// Element access for the three I/O dtypes (the switch is hoisted out of the
// loops by instantiating every worker per dtype).
// ---------------------------------------------------------------------------
template <DType D>
struct Io;
template <>
struct Io<DType::f32> {
    static float load(const void *p, int64_t i) { return static_cast<const float *>(p)[i]; }
    static void store(void *p, int64_t i, float v) { static_cast<float *>(p)[i] = v; }
};
template <>
struct Io<DType::f16> {
    static float load(const void *p, int64_t i) { return fp16_to_float(static_cast<const uint16_t *>(p)[i]); }
    static void store(void *p, int64_t i, float v) { static_cast<uint16_t *>(p)[i] = float_to_fp16(v); }
};
template <>
struct Io<DType::bf16> {
    static float load(const void *p, int64_t i) { return bf16_to_float(static_cast<const uint16_t *>(p)[i]); }
    static void store(void *p, int64_t i, float v) { static_cast<uint16_t *>(p)[i] = float_to_bf16(v); }
};

// One thread's share of the workspace. Every buffer holds N complex values.
struct Slot {
    cfloat *kspec = nullptr;  // spectrum of this thread's current channel
    cfloat *a = nullptr;      // forward: the pair being convolved; backward: W_v
    cfloat *b = nullptr;      // backward: W_dz, then the correlation
    cfloat *acc = nullptr;    // backward: Σ_pairs conj(W_v)·W_dz (dk)
    float *scratch = nullptr; // MonarchFft scratch
};


// x[i] ← x[i]·(K[i] or conj K[i])·scale over n complex values.
template <bool Conjugate>
void multiply_spectrum(cfloat *x, const cfloat *kspec, float scale, int64_t n) {
    float *xf = reinterpret_cast<float *>(x);
    const float *kf = reinterpret_cast<const float *>(kspec);
    const float sign = Conjugate ? -1.0f : 1.0f;
    for (int64_t i = 0; i < n; ++i) {
        const float xr = xf[2 * i], xi = xf[2 * i + 1];
        const float kr = kf[2 * i] * scale, ki = sign * kf[2 * i + 1] * scale;
        xf[2 * i] = xr * kr - xi * ki;
        xf[2 * i + 1] = xr * ki + xi * kr;
    }
}

// acc[i] += conj(v[i])·d[i]
void accumulate_correlation(cfloat *acc, const cfloat *v, const cfloat *d, int64_t n) {
    float *af = reinterpret_cast<float *>(acc);
    const float *vf = reinterpret_cast<const float *>(v);
    const float *df = reinterpret_cast<const float *>(d);
    for (int64_t i = 0; i < n; ++i) {
        const float vr = vf[2 * i], vi = vf[2 * i + 1], dr = df[2 * i], di = df[2 * i + 1];
        af[2 * i] += vr * dr + vi * di;
        af[2 * i + 1] += vr * di - vi * dr;
    }
}

class CpuExecutor final : public Executor {
public:
    CpuExecutor(const plan::Decision &d, int threads)
        : n_(int64_t(d.fft_size)), dtype_(d.dtype), threads_(std::clamp(threads, 1, kMaxThreads)), fft_(d.chosen.factors) {
        if (uint64_t(n_) != fft_.size())
            fail(FFC_ERROR_INTERNAL, "CPU backend: the plan's factors multiply to " + std::to_string(fft_.size()) +
                                         ", not the FFT size " + std::to_string(n_));
    }

    size_t spectrum_size(const Shape &shape) const override {
        return size_t(shape.channels) * size_t(n_) * sizeof(cfloat);
    }

    size_t workspace_size(const Shape &shape) const override {
        return kAlign + size_t(slots_for(shape)) * slot_bytes();
    }

    void compute_spectrum(const SpectrumArgs &args) const override {
        const Shape &s = args.shape;
        cfloat *out = static_cast<cfloat *>(args.spectrum);
        parallel_ranges(s.channels, threads_, [&](int, int64_t h0, int64_t h1) {
            // No workspace here: the transform runs in the output buffer with a
            // stack scratch (bounded by MonarchFft::kMaxScratchFloats).
            alignas(kAlign) float scratch[MonarchFft::kMaxScratchFloats];
            for (int64_t h = h0; h < h1; ++h) kernel_spectrum(args.k + h * s.kernel_len, s.kernel_len, out + h * n_, scratch);
        });
    }

    std::vector<std::complex<float>> probe_spectrum(const std::vector<float> &k) const override {
        std::vector<cfloat> out(static_cast<size_t>(n_));
        alignas(kAlign) float scratch[MonarchFft::kMaxScratchFloats];
        kernel_spectrum(k.data(), int64_t(k.size()), out.data(), scratch);
        return out;
    }

    void set_spectrum_mask(const std::vector<uint8_t> &mask) override {
        if (int64_t(mask.size()) != n_) fail(FFC_ERROR_INTERNAL, "CPU backend: spectrum mask of the wrong size");
        mask_ = mask;
    }

    std::string sparsity_note() const override {
        return "  sparse work    none skipped: the CPU backend transforms every bin and zeroes the dropped ones\n";
    }

    void forward(const ForwardArgs &args) const override {
        switch (dtype_) {
        case DType::f32: forward_typed<DType::f32>(args); break;
        case DType::f16: forward_typed<DType::f16>(args); break;
        case DType::bf16: forward_typed<DType::bf16>(args); break;
        }
    }

    void backward(const BackwardArgs &args) const override {
        switch (dtype_) {
        case DType::f32: backward_typed<DType::f32>(args); break;
        case DType::f16: backward_typed<DType::f16>(args); break;
        case DType::bf16: backward_typed<DType::bf16>(args); break;
        }
    }

    // Both copies visit (buffer position, tensor offset or −1) for t in [t0, t1)
    // of every window row, rows spread over the threads.
    template <class Fn>
    void for_each_window_position(const WindowCopy &c, int64_t t0, int64_t t1, Fn &&fn) const {
        parallel_ranges(c.rows(), threads_, [&](int, int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const WindowRow row = window_row(c, r);
                for (int64_t t = t0; t < t1; ++t) fn(r * c.width + t, window_tensor_offset(c, row, t), t);
            }
        });
    }

    void gather_windows(const WindowCopy &c) const override {
        const auto *src = static_cast<const unsigned char *>(c.src);
        auto *dst = static_cast<unsigned char *>(c.dst);
        const size_t e = size_t(c.elem_bytes);
        for_each_window_position(c, 0, c.width, [&](int64_t at_buffer, int64_t at, int64_t t) {
            if (at >= 0 && t >= c.lo) std::memcpy(dst + size_t(at_buffer) * e, src + size_t(at) * e, e);
            else std::memset(dst + size_t(at_buffer) * e, 0, e);
        });
    }

    void scatter_windows(const WindowCopy &c) const override {
        const auto *src = static_cast<const unsigned char *>(c.src);
        auto *dst = static_cast<unsigned char *>(c.dst);
        const size_t e = size_t(c.elem_bytes);
        for_each_window_position(c, c.lo, c.lo + c.step, [&](int64_t at_buffer, int64_t at, int64_t) {
            if (at >= 0) std::memcpy(dst + size_t(at) * e, src + size_t(at_buffer) * e, e);
        });
    }

    void accumulate(float *dst, const float *src, int64_t n, void *) const override {
        for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
    }

private:
    // Threads (= workspace slots) a call of this shape can use: never more than
    // there are (channel, pair) items.
    int slots_for(const Shape &s) const {
        return int(std::min<int64_t>(threads_, std::max<int64_t>(1, s.channels * s.pairs())));
    }
    size_t buffer_bytes() const { return align_up(size_t(n_) * sizeof(cfloat)); }
    size_t slot_bytes() const { return 4 * buffer_bytes() + align_up(fft_.scratch_floats() * sizeof(float)); }

    Slot slot(void *workspace, int index) const {
        uintptr_t base = reinterpret_cast<uintptr_t>(workspace);
        base = (base + kAlign - 1) / kAlign * kAlign;
        char *p = reinterpret_cast<char *>(base) + size_t(index) * slot_bytes();
        Slot s;
        s.kspec = reinterpret_cast<cfloat *>(p);
        s.a = reinterpret_cast<cfloat *>(p + buffer_bytes());
        s.b = reinterpret_cast<cfloat *>(p + 2 * buffer_bytes());
        s.acc = reinterpret_cast<cfloat *>(p + 3 * buffer_bytes());
        s.scratch = reinterpret_cast<float *>(p + 4 * buffer_bytes());
        return s;
    }

    // FFT of one zero-padded filter row into `out` (permuted order, unscaled).
    void kernel_spectrum(const float *k, int64_t klen, cfloat *out, float *scratch) const {
        for (int64_t s = 0; s < klen; ++s) out[s] = cfloat(k[s], 0.0f);
        std::fill(out + klen, out + n_, cfloat(0.0f, 0.0f));
        fft_.forward(out, scratch);
        apply_mask(out);
    }

    // Frequency-sparse plans: zero the spectrum positions the mask drops.
    void apply_mask(cfloat *spectrum) const {
        if (mask_.empty()) return;
        for (int64_t i = 0; i < n_; ++i)
            if (!mask_[size_t(i)]) spectrum[i] = cfloat(0.0f, 0.0f);
    }

    // dst[t] = x_a[t]·g_a[t] + i·x_b[t]·g_b[t] for t < L (gate optional, absent
    // b = zeros), zero for L <= t < N. Rows are element offsets of (batch, channel).
    template <DType D>
    void load_pair(const void *x, const void *gate, int64_t row_a, int64_t row_b, int64_t len, cfloat *dst) const {
        float *d = reinterpret_cast<float *>(dst);
        for (int64_t t = 0; t < len; ++t) {
            float va = Io<D>::load(x, row_a + t);
            if (gate) va *= Io<D>::load(gate, row_a + t);
            d[2 * t] = va;
        }
        if (row_b >= 0) {
            for (int64_t t = 0; t < len; ++t) {
                float vb = Io<D>::load(x, row_b + t);
                if (gate) vb *= Io<D>::load(gate, row_b + t);
                d[2 * t + 1] = vb;
            }
        } else {
            for (int64_t t = 0; t < len; ++t) d[2 * t + 1] = 0.0f;
        }
        std::fill(dst + len, dst + n_, cfloat(0.0f, 0.0f));
    }

    // out[row + t] = part(src[t])·gate[row + t] for t < L; part = Re (imag = false) or Im.
    template <DType D>
    static void store_part(void *out, const void *gate, int64_t row, int64_t len, const cfloat *src, bool imag) {
        const float *s = reinterpret_cast<const float *>(src) + (imag ? 1 : 0);
        if (gate) {
            for (int64_t t = 0; t < len; ++t) Io<D>::store(out, row + t, s[2 * t] * Io<D>::load(gate, row + t));
        } else {
            for (int64_t t = 0; t < len; ++t) Io<D>::store(out, row + t, s[2 * t]);
        }
    }

    int64_t row_offset(const Shape &s, int64_t b, int64_t h) const { return (b * s.channels + h) * s.seq_len; }

    template <DType D>
    void forward_typed(const ForwardArgs &args) const {
        const Shape &s = args.shape;
        const int64_t pairs = s.pairs(), len = s.seq_len;
        const float scale = 1.0f / float(n_);
        const cfloat *given = static_cast<const cfloat *>(args.spectrum);
        parallel_ranges(s.channels * pairs, slots_for(s), [&](int t, int64_t i0, int64_t i1) {
            const Slot sl = slot(args.workspace, t);
            int64_t cached = -1;
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t h = i / pairs, p = i % pairs;
                const cfloat *kspec = given ? given + h * n_ : sl.kspec;
                if (!given && h != cached) {
                    kernel_spectrum(args.k + h * s.kernel_len, s.kernel_len, sl.kspec, sl.scratch);
                    cached = h;
                }
                const monarch::Pair pr = monarch::batch_pair(s.batch, p);
                const int64_t row_a = row_offset(s, pr.real_batch, h);
                const int64_t row_b = pr.imag_batch >= 0 ? row_offset(s, pr.imag_batch, h) : -1;
                // Everything of u that this pair needs is read here, before its y
                // rows are written below: that is what makes y == u safe.
                load_pair<D>(args.u, args.in_gate, row_a, row_b, len, sl.a);
                fft_.forward(sl.a, sl.scratch);
                multiply_spectrum<false>(sl.a, kspec, scale, n_);
                fft_.inverse_unscaled(sl.a, sl.scratch);
                store_part<D>(args.y, args.out_gate, row_a, len, sl.a, false);
                if (row_b >= 0) store_part<D>(args.y, args.out_gate, row_b, len, sl.a, true);
            }
        });
    }

    template <DType D>
    void backward_typed(const BackwardArgs &args) const {
        const Shape &s = args.shape;
        const int64_t pairs = s.pairs(), len = s.seq_len;
        const float scale = 1.0f / float(n_);
        const bool want_dk = args.dk != nullptr;
        const bool want_dv = args.du != nullptr || args.d_in_gate != nullptr;
        const bool want_z = args.d_out_gate != nullptr;
        const bool need_v_spectrum = want_dk || want_z;
        const bool need_k_spectrum = want_dv || want_z;
        const cfloat *given = static_cast<const cfloat *>(args.spectrum);  // or transform k per channel
        // With dk, a channel is one item so that its reduction order is fixed.
        const int64_t per_item = want_dk ? pairs : 1;
        const int64_t items = s.channels * pairs / per_item;

        parallel_ranges(items, slots_for(s), [&](int t, int64_t i0, int64_t i1) {
            const Slot sl = slot(args.workspace, t);
            int64_t cached = -1;
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t first = i * per_item;
                const int64_t h = first / pairs;
                const cfloat *kspec = given ? given + h * n_ : sl.kspec;
                if (need_k_spectrum && !given && h != cached) {
                    kernel_spectrum(args.k + h * s.kernel_len, s.kernel_len, sl.kspec, sl.scratch);
                    cached = h;
                }
                if (want_dk) std::fill(sl.acc, sl.acc + n_, cfloat(0.0f, 0.0f));
                for (int64_t p = first % pairs; p < first % pairs + per_item; ++p) {
                    const monarch::Pair pr = monarch::batch_pair(s.batch, p);
                    const int64_t row_a = row_offset(s, pr.real_batch, h);
                    const int64_t row_b = pr.imag_batch >= 0 ? row_offset(s, pr.imag_batch, h) : -1;
                    if (need_v_spectrum) {
                        load_pair<D>(args.u, args.in_gate, row_a, row_b, len, sl.a);  // v = in_gate ⊙ u
                        fft_.forward(sl.a, sl.scratch);                                 // W_v
                    }
                    if (want_z) {
                        // z = conv(v, k) again (nothing is saved from forward);
                        // d_out_gate = dy ⊙ z.
                        std::copy(sl.a, sl.a + n_, sl.b);
                        multiply_spectrum<false>(sl.b, kspec, scale, n_);
                        fft_.inverse_unscaled(sl.b, sl.scratch);
                        store_part<D>(args.d_out_gate, args.dy, row_a, len, sl.b, false);
                        if (row_b >= 0) store_part<D>(args.d_out_gate, args.dy, row_b, len, sl.b, true);
                    }
                    load_pair<D>(args.dy, args.out_gate, row_a, row_b, len, sl.b);  // dz = out_gate ⊙ dy
                    fft_.forward(sl.b, sl.scratch);                                  // W_dz
                    if (want_dk) accumulate_correlation(sl.acc, sl.a, sl.b, n_);
                    if (want_dv) {
                        // dv = IFFT(W_dz · conj K): Re = dv_a, Im = dv_b.
                        multiply_spectrum<true>(sl.b, kspec, scale, n_);
                        fft_.inverse_unscaled(sl.b, sl.scratch);
                        if (args.du) {
                            store_part<D>(args.du, args.in_gate, row_a, len, sl.b, false);
                            if (row_b >= 0) store_part<D>(args.du, args.in_gate, row_b, len, sl.b, true);
                        }
                        if (args.d_in_gate) {
                            store_part<D>(args.d_in_gate, args.u, row_a, len, sl.b, false);
                            if (row_b >= 0) store_part<D>(args.d_in_gate, args.u, row_b, len, sl.b, true);
                        }
                    }
                }
                if (want_dk) {
                    // Re IFFT(Σ conj(W_v)·W_dz) = Σ_b dk_b exactly (DESIGN §3); the
                    // gradient of a masked filter sees only the kept bins.
                    apply_mask(sl.acc);
                    fft_.inverse_unscaled(sl.acc, sl.scratch);
                    float *dk = args.dk + h * s.kernel_len;
                    for (int64_t j = 0; j < s.kernel_len; ++j) dk[j] = sl.acc[j].real() * scale;
                }
            }
        });
    }

    int64_t n_;
    DType dtype_;
    int threads_;
    MonarchFft fft_;
    std::vector<uint8_t> mask_;  // frequency-sparse plans: 1 = kept, per spectrum position; empty: dense
};

}  // namespace

std::unique_ptr<Executor> make_cpu_executor(const plan::Decision &decision, int threads) {
    return std::make_unique<CpuExecutor>(decision, threads);
}

}  // namespace ffc
