// Partial convolution (DESIGN §4, FFC_PLAN_PARTIAL): the causal linear
// convolution z[t] = Σ_{s<K} k[s]·v[t−s] of a sequence of any length L, run on
// a plan of FFT size N ≥ 2K by overlap-save.
//
// The mathematics. A circular convolution of width N is exact at every
// position t ≥ K − 1 of its window: the K taps never wrap. Let the windows
// reach back `reach` positions (K − 1 rounded up to a multiple of 8, so that
// window starts keep 16-byte alignment; ≤ N/2 as K ≤ N/2) and start
// step = N − reach apart; each window then yields `step` exact outputs
// and the windows' outputs tile [0, L):
//
//   forward, dk, d_out_gate — "output windows" start at j·step − reach and
//     keep [reach, N). For dk, dy is zeroed at t < reach inside each window,
//     so every output position feeds dk exactly once: dk = Σ_windows dk_window.
//   du, d_in_gate — dv[s] = Σ_{r<K} dz[s + r]·k[r] looks forward in time, so
//     "input windows" start at j·step and keep [0, step): a position s < step
//     needs dz up to s + K − 1 ≤ N − 1, again without a wrap.
//
// Each window is then an ordinary problem of the plan (L = N): a buffer of
// windows is a (windows, channels, N) tensor that the backend's own executor
// convolves, so every kernel, its precision and its determinism carry over
// unchanged. The windows are copied in and out by the backend's gather and
// scatter (common/windows.hpp) a chunk at a time, so the workspace is bounded
// by one chunk whatever B·H·L is.
//
// Cost: each input element is read into about N / step windows (at most 2 for
// K = N/2, close to 1 for K << N), and the copies add a round trip of the
// windows through memory; docs/performance.md has the measured price.
#include <algorithm>
#include <memory>
#include <string>

#include "common/executor.hpp"
#include "common/types.hpp"
#include "common/windows.hpp"
#include "plan/planner.hpp"

namespace ffc {
namespace {

// Window elements per chunk and buffer: 512 windows (256 two-for-one pairs,
// two waves of the fused kernel on a large GPU) but at least 2^24 elements
// (each launch streams tens of MiB) and at most 2^27 (256 MiB per fp16
// buffer; above N = 256K the multi-pass kernels find their parallelism inside
// each window).
int64_t default_chunk_elements(int64_t n) {
    return std::clamp<int64_t>(512 * n, int64_t(1) << 24, int64_t(1) << 27);
}
constexpr size_t kAlign = 256;  // the CUDA workspace alignment; every buffer keeps it

size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// Buffers of one chunk: six cover the widest step (the du/d_in_gate pass
// gathers dy, out_gate, u, in_gate and scatters du, d_in_gate).
enum Buffer { kDy, kU, kInGate, kOutGate, kOut0, kOut1, kBuffers };

// The overlap-save geometry and chunking of one call.
struct Blocking {
    int64_t reach = 0;    // positions before its first output a window covers: ≥ K − 1
    int64_t step = 0;     // outputs kept per window: N − reach
    int64_t blocks = 0;   // windows per sequence
    int64_t windows = 0;  // B · blocks
    int64_t nw = 0, nh = 0;  // one chunk: windows × channels
};

struct Layout {
    size_t buffer = 0;   // bytes of one window buffer
    size_t dk_tmp = 0;   // offset of the (nh, K) fp32 dk of a later window chunk
    size_t inner = 0;    // offset of the backend's workspace for one chunk
    size_t inner_size = 0;  // its size
    size_t total = 0;
};

class PartialExecutor final : public Executor {
public:
    PartialExecutor(std::unique_ptr<Executor> backend, const plan::Decision &d, int64_t chunk_elements, bool in_place)
        : inner_(std::move(backend)), n_(int64_t(d.fft_size)), elem_(int(dtype_size(d.dtype))),
          chunk_elements_(std::max(chunk_elements > 0 ? chunk_elements : default_chunk_elements(n_), n_)),
          in_place_(in_place) {}

    size_t spectrum_size(const Shape &s) const override { return inner_->spectrum_size(s); }
    void compute_spectrum(const SpectrumArgs &a) const override { inner_->compute_spectrum(a); }
    void check_pointer(const void *p, const char *name) const override { inner_->check_pointer(p, name); }
    void gather_windows(const WindowCopy &c) const override { inner_->gather_windows(c); }
    void scatter_windows(const WindowCopy &c) const override { inner_->scatter_windows(c); }
    std::vector<std::complex<float>> probe_spectrum(const std::vector<float> &k) const override {
        return inner_->probe_spectrum(k);
    }
    // A masked filter spans all N taps, which overlap-save cannot window (the
    // API layer refuses the combination before it gets here).
    void set_spectrum_mask(const std::vector<uint8_t> &) override {
        fail(FFC_ERROR_NOT_SUPPORTED, "a partial plan cannot be frequency-sparse");
    }
    std::string sparsity_note() const override { return inner_->sparsity_note(); }
    void accumulate(float *dst, const float *src, int64_t n, void *stream) const override {
        inner_->accumulate(dst, src, n, stream);
    }

    // The copies' chunk buffers, or the whole filter spectrum where the backend
    // convolves the windows in place (forward_windows), whichever is larger.
    size_t workspace_size(const Shape &s) const override {
        if (one_window(s)) return inner_->workspace_size(s);
        return std::max(layout(s, blocking(s)).total, kAlign + inner_->spectrum_size(s));
    }

    void forward(const ForwardArgs &a) const override {
        // Without a wrap the plain plan computes the causal convolution already.
        if (one_window(a.shape)) return inner_->forward(a);
        const Shape &s = a.shape;
        const Blocking g = blocking(s);
        const Layout w = layout(s, g);
        char *const base = aligned(a.workspace);
        if (in_place_) {
            ForwardArgs f = a;
            f.workspace = base;
            f.workspace_size = aligned_size(a.workspace, a.workspace_size);
            if (inner_->forward_windows(f, WindowGrid{g.step, g.blocks, g.reach, g.reach})) return;
        }
        const size_t spectrum_per_channel = inner_->spectrum_size(Shape{1, 1, n_, s.kernel_len});
        for_each_chunk(s, g, w, [&](int64_t h0, int64_t hc, int64_t w0, int64_t wc, int64_t) {
            WindowCopy c = copy(s, g, h0, hc, w0, wc, -g.reach, a.stream);
            gather(c, a.u, base, kU, w);
            gather(c, a.in_gate, base, kInGate, w);
            gather(c, a.out_gate, base, kOutGate, w);
            ForwardArgs f;
            f.shape = Shape{wc, hc, n_, s.kernel_len};
            f.u = buffer(base, kU, w);
            f.k = a.k ? a.k + h0 * s.kernel_len : nullptr;
            f.spectrum = a.spectrum ? static_cast<const char *>(a.spectrum) + size_t(h0) * spectrum_per_channel : nullptr;
            f.in_gate = a.in_gate ? buffer(base, kInGate, w) : nullptr;
            f.out_gate = a.out_gate ? buffer(base, kOutGate, w) : nullptr;
            f.y = buffer(base, kOut0, w);
            f.workspace = base + w.inner;
            f.workspace_size = w.inner_size;
            f.stream = a.stream;
            inner_->forward(f);
            c.lo = g.reach;
            scatter(c, f.y, a.y);
        });
    }

    void backward(const BackwardArgs &a) const override {
        if (one_window(a.shape)) return inner_->backward(a);
        const Shape &s = a.shape;
        const Blocking g = blocking(s);
        const Layout w = layout(s, g);
        char *const base = aligned(a.workspace);
        const int64_t taps = s.kernel_len;
        float *const dk_tmp = reinterpret_cast<float *>(base + w.dk_tmp);
        const size_t spectrum_per_channel = inner_->spectrum_size(Shape{1, 1, n_, taps});
        // du and d_in_gate over their input windows in place where the backend
        // can (before the chunks, which then leave them out).
        bool input_windows_done = false;
        if (in_place_ && (a.du || a.d_in_gate)) {
            BackwardArgs x = a;
            x.dk = nullptr;
            x.d_out_gate = nullptr;
            x.workspace = base;
            x.workspace_size = aligned_size(a.workspace, a.workspace_size);
            input_windows_done = inner_->backward_windows(x, WindowGrid{g.step, g.blocks, 0, 0});
        }

        for_each_chunk(s, g, w, [&](int64_t h0, int64_t hc, int64_t w0, int64_t wc, int64_t chunk_in_channels) {
            BackwardArgs b;
            b.shape = Shape{wc, hc, n_, taps};
            b.k = a.k ? a.k + h0 * taps : nullptr;
            b.spectrum = a.spectrum ? static_cast<const char *>(a.spectrum) + size_t(h0) * spectrum_per_channel : nullptr;
            b.workspace = base + w.inner;
            b.workspace_size = w.inner_size;
            b.stream = a.stream;

            if (a.dk || a.d_out_gate) {  // output windows; dy only where this window keeps outputs
                WindowCopy c = copy(s, g, h0, hc, w0, wc, -g.reach, a.stream);
                c.lo = g.reach;
                gather(c, a.dy, base, kDy, w);
                c.lo = 0;
                gather(c, a.u, base, kU, w);
                gather(c, a.in_gate, base, kInGate, w);
                gather(c, a.out_gate, base, kOutGate, w);
                BackwardArgs x = b;
                x.dy = buffer(base, kDy, w);
                x.u = buffer(base, kU, w);
                x.in_gate = a.in_gate ? buffer(base, kInGate, w) : nullptr;
                x.out_gate = a.out_gate ? buffer(base, kOutGate, w) : nullptr;
                x.d_out_gate = a.d_out_gate ? buffer(base, kOut0, w) : nullptr;
                // The first window chunk of these channels writes dk, later ones
                // add theirs in chunk order: the same bits on every run.
                float *const dk = a.dk ? a.dk + h0 * taps : nullptr;
                x.dk = chunk_in_channels == 0 ? dk : dk ? dk_tmp : nullptr;
                inner_->backward(x);
                if (dk && chunk_in_channels > 0) inner_->accumulate(dk, dk_tmp, hc * taps, a.stream);
                c.lo = g.reach;
                if (a.d_out_gate) scatter(c, x.d_out_gate, a.d_out_gate);
            }
            if ((a.du || a.d_in_gate) && !input_windows_done) {  // input windows
                WindowCopy c = copy(s, g, h0, hc, w0, wc, 0, a.stream);
                gather(c, a.dy, base, kDy, w);
                gather(c, a.out_gate, base, kOutGate, w);
                gather(c, a.in_gate, base, kInGate, w);
                if (a.d_in_gate) gather(c, a.u, base, kU, w);
                BackwardArgs x = b;
                x.dy = buffer(base, kDy, w);
                // u feeds only dk, d_out_gate and d_in_gate (DESIGN §1); without
                // d_in_gate this pass reads none of it, and dy's windows stand in
                // for the required pointer.
                x.u = a.d_in_gate ? buffer(base, kU, w) : x.dy;
                x.in_gate = a.in_gate ? buffer(base, kInGate, w) : nullptr;
                x.out_gate = a.out_gate ? buffer(base, kOutGate, w) : nullptr;
                x.du = a.du ? buffer(base, kOut0, w) : nullptr;
                x.d_in_gate = a.d_in_gate ? buffer(base, kOut1, w) : nullptr;
                inner_->backward(x);
                c.lo = 0;
                if (a.du) scatter(c, x.du, a.du);
                if (a.d_in_gate) scatter(c, x.d_in_gate, a.d_in_gate);
            }
        });
    }

private:
    // Whether the whole sequence is one window: L + K − 1 ≤ N, no wrap at all.
    bool one_window(const Shape &s) const { return s.seq_len + s.kernel_len - 1 <= n_; }

    Blocking blocking(const Shape &s) const {
        Blocking g;
        // The API requires K ≤ N/2 here; N/2 is a multiple of 8, so reach ≤ N/2
        // and step ≥ N/2.
        g.reach = (s.kernel_len - 1 + 7) / 8 * 8;
        g.step = n_ - g.reach;
        g.blocks = (s.seq_len + g.step - 1) / g.step;
        g.windows = s.batch * g.blocks;
        g.nw = std::min(g.windows, chunk_elements_ / n_);
        g.nh = std::clamp<int64_t>(chunk_elements_ / (g.nw * n_), 1, s.channels);
        return g;
    }

    Layout layout(const Shape &s, const Blocking &g) const {
        Layout w;
        w.buffer = align_up(size_t(g.nw * g.nh * n_) * size_t(elem_));
        w.dk_tmp = kBuffers * w.buffer;
        w.inner = w.dk_tmp + align_up(size_t(g.nh * s.kernel_len) * sizeof(float));
        // kAlign in front: the CPU backend's workspace carries no alignment
        // promise, and the buffers are laid out from the next aligned byte.
        w.inner_size = inner_->workspace_size(Shape{g.nw, g.nh, n_, s.kernel_len});
        w.total = kAlign + w.inner + w.inner_size;
        return w;
    }

    static char *aligned(void *workspace) {
        const uintptr_t p = reinterpret_cast<uintptr_t>(workspace);
        return reinterpret_cast<char *>((p + kAlign - 1) / kAlign * kAlign);
    }
    // The bytes of a workspace from aligned(workspace) on.
    static size_t aligned_size(void *workspace, size_t size) {
        return size - size_t(aligned(workspace) - static_cast<char *>(workspace));
    }
    static char *buffer(char *base, Buffer which, const Layout &w) { return base + size_t(which) * w.buffer; }

    // fn(h0, channels, w0, windows, index of this window chunk within its channels)
    // for every chunk, channels outermost, so that a channel's dk chunks follow
    // each other in window order.
    template <class Fn>
    void for_each_chunk(const Shape &s, const Blocking &g, const Layout &w, Fn &&fn) const {
        for (int64_t h0 = 0; h0 < s.channels; h0 += g.nh) {
            const int64_t hc = std::min(g.nh, s.channels - h0);
            for (int64_t w0 = 0, i = 0; w0 < g.windows; w0 += g.nw, ++i) {
                const int64_t wc = std::min(g.nw, g.windows - w0);
                if (inner_->workspace_size(Shape{wc, hc, n_, s.kernel_len}) > w.inner_size)
                    fail(FFC_ERROR_INTERNAL, "partial convolution: a chunk needs more backend workspace than its full-size chunk");
                fn(h0, hc, w0, wc, i);
            }
        }
    }

    WindowCopy copy(const Shape &s, const Blocking &g, int64_t h0, int64_t hc, int64_t w0, int64_t wc, int64_t origin,
                    void *stream) const {
        WindowCopy c;
        c.elem_bytes = elem_;
        c.batch = s.batch;
        c.channels = s.channels;
        c.seq_len = s.seq_len;
        c.h0 = h0;
        c.nh = hc;
        c.w0 = w0;
        c.nw = wc;
        c.blocks = g.blocks;
        c.step = g.step;
        c.origin = origin;
        c.width = n_;
        c.stream = stream;
        return c;
    }

    // Gathers `tensor` (when present) into buffer `which`.
    void gather(WindowCopy c, const void *tensor, char *base, Buffer which, const Layout &w) const {
        if (!tensor) return;
        c.src = tensor;
        c.dst = buffer(base, which, w);
        inner_->gather_windows(c);
    }
    void scatter(WindowCopy c, const void *windows, void *tensor) const {
        c.src = windows;
        c.dst = tensor;
        inner_->scatter_windows(c);
    }

    std::unique_ptr<Executor> inner_;
    int64_t n_;
    int elem_;
    int64_t chunk_elements_;  // at least N: a chunk holds one window or more
    bool in_place_;           // forward: try the backend's forward_windows first
};

}  // namespace

std::unique_ptr<Executor> make_partial_executor(std::unique_ptr<Executor> backend, const plan::Decision &decision,
                                                int64_t chunk_elements, bool in_place) {
    return std::make_unique<PartialExecutor>(std::move(backend), decision, chunk_elements, in_place);
}

}  // namespace ffc
