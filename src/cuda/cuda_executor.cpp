// The CUDA backend's executor: owns the plan's device tables and launches the
// registered kernel instantiations on the caller's stream. Forward and backward
// never allocate and never synchronise, so they can be captured into a CUDA graph.
//
// Backward (issue 5) is built from the fused kernel's four modes, with nothing
// saved from forward. Write dz = out_gate ⊙ dy, v = in_gate ⊙ u, K = FFT(k), and
// conv(x, g_in, K, g_out) = g_out ⊙ IFFT(FFT(g_in ⊙ x) · K) for mode_conv:
//
//   d_out_gate = conv(u,  in_gate,  K,       dy)        = dy ⊙ z
//   du         = conv(dy, out_gate, conj K,  in_gate)   = in_gate ⊙ IFFT(DZ · conj K) = in_gate ⊙ dv
//   d_in_gate  = conv(dy, out_gate, conj K,  u)         = u ⊙ dv
//   dk         = Re IFFT(Σ_pairs conj(W_v) · W_dz)[s < K]   (DESIGN §3, two for one)
//
// (an absent gate is NULL = ones). IFFT(DZ · conj K)[s] = Σ_t dz[t] k[(t − s) mod N]
// is the header's correlation dv, and with W = FFT(x_a + i·x_b) the real part of
// IFFT(conj(W_v)·W_dz) is exactly dk_a + dk_b (the cross terms are imaginary).
// Where both convolutions are needed (dk needs both spectra), one launch runs
// them (the fused backward kernel, launch.hpp): per pair, the V pass and the
// DZ pass (side by side in two slots at 256–4K, one after the other above and
// in the cluster variants); with dk each slot keeps V (a tile of shared memory
// per warp, or a stash in the workspace) and sums conj(V)·DZ over the pairs of
// its group, launch_partial_sum adds the groups' sums in a fixed order, and
// mode_inverse turns each channel's sum into dk. The work goes in chunks of
// channels and pairs so that a chunk's spectra stay within the plan's dk
// budget (chunk_budgets.hpp). (The cluster variants used to run the two
// convolutions as two launches that wrote every pair's spectra W_v and W_dz
// for a separate reduction: H100, backward fp16, 8K 7.06–7.14 -> 6.61–6.69 ms.)
//
// Multi-pass plans (N above the fused sizes: 16K, or 64K on the H100) hand forward, backward and kernel
// spectra to cuda::MultipassExecutor (multipass.hpp), which computes the same
// two convolutions and dk with multi-pass transforms.
#include <cuda_runtime.h>

#include <algorithm>
#include <complex>
#include <memory>
#include <string>
#include <vector>

#include "common/executor.hpp"
#include "cuda/chunk_budgets.hpp"
#include "cuda/cuda_host.hpp"
#include "cuda/cuda_util.hpp"
#include "cuda/fused_tables.hpp"
#include "cuda/launch.hpp"
#include "cuda/multipass.hpp"
#include "cuda/spectral_reduce.hpp"
#include "cuda/windows.hpp"
#include "plan/planner.hpp"

namespace ffc {
namespace {

using cuda::check;
using cuda::DeviceGuard;

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// dk's chunk buffers (room for a partial sum and a stashed V spectrum per pair
// of the chunk, plus its accumulated spectrum) stay within a budget fixed per plan (chunk_budgets.hpp: 512 MiB by
// default): big enough that a chunk's launches fill the GPU many times over,
// bounded so that the workspace grows by at most that much over forward's. The
// chunking depends on the shape and the plan alone, so dk's bits do too.
// dk is computed for `channels` channels × `pairs` pairs at a time (the last
// chunk of each may be shorter). Channels are split evenly when all pairs of a
// channel fit; otherwise one channel at a time, its pairs split evenly.
struct DkChunking {
    int64_t channels = 1, pairs = 1;
};
DkChunking dk_chunking(const Shape &s, uint64_t n, size_t budget) {
    const size_t spec = size_t(n) * 2 * sizeof(float);  // one complex spectrum
    const int64_t pairs = s.pairs();
    DkChunking c;
    const size_t per_channel = (2 * size_t(pairs) + 1) * spec;
    if (per_channel <= budget) {
        const int64_t most = std::min<int64_t>(s.channels, int64_t(budget / per_channel));
        c.channels = ceil_div(s.channels, ceil_div(s.channels, most));
        c.pairs = pairs;
    } else {
        const int64_t most = std::max<int64_t>(1, int64_t((budget - std::min(spec, budget)) / (2 * spec)));
        c.channels = 1;
        c.pairs = ceil_div(pairs, ceil_div(pairs, most));
    }
    return c;
}

// Byte offsets of the workspace's sub-buffers, each 256-byte aligned:
//   [kspec]  K = FFT(k), float2 [H][N]           (forward and backward)
//   [part]   dk's partial sums of a chunk, float2 [C·G][N]   (backward, dk only; G ≤ P pair groups)
//   [stash]  the V passes' stashed spectra, float2 [C·G][N]
//   [acc]    Σ_pairs conj(V)·DZ, float2 [C][N]
struct WorkspaceLayout {
    size_t kspec = 0, part = 0, stash = 0, acc = 0, total = 0;
    DkChunking dk;
};
WorkspaceLayout workspace_layout(const Shape &s, uint64_t n, size_t dk_budget) {
    const size_t spec = size_t(n) * 2 * sizeof(float);
    WorkspaceLayout w;
    w.dk = dk_chunking(s, n, dk_budget);
    w.kspec = 0;
    w.part = round_up(size_t(s.channels) * spec, 256);
    const size_t chunk_spectra = round_up(size_t(w.dk.channels) * size_t(w.dk.pairs) * spec, 256);
    w.stash = w.part + chunk_spectra;
    w.acc = w.stash + chunk_spectra;
    w.total = w.acc + round_up(size_t(w.dk.channels) * spec, 256);
    return w;
}

class CudaExecutor final : public Executor {
public:
    CudaExecutor(const plan::Decision &decision, int device) : n_(decision.fft_size), dtype_(decision.dtype), device_(device) {
        if (!decision.chosen.kernel) fail(FFC_ERROR_INTERNAL, "CUDA plan without a kernel variant");
        if (decision.chosen.path == plan::Path::multipass) {  // N above the fused limit (multipass.hpp)
            multipass_ = std::make_unique<cuda::MultipassExecutor>(decision, device);
            return;
        }
        kernel_ = cuda::find_fused_kernel(decision.chosen.kernel->name);
        if (!kernel_)
            fail(FFC_ERROR_NO_KERNEL, std::string("kernel ") + decision.chosen.kernel->name + " is not compiled into this build");
        pairs_per_cta_ = decision.chosen.kernel->pairs_per_cta;

        DeviceGuard guard(device_);
        const cuda::FusedKernelInfo info = kernel_->prepare();
        check(cudaGetLastError(), "cudaFuncSetAttribute");
        programmatic_launch_ = info.programmatic_launch;  // FusedParams::overlap_previous
        backward_items_per_cta_ = info.dk_items_per_cta;
        transform_items_per_cta_ = info.transform_items_per_cta;
        conv_resident_ctas_ = info.conv_resident_ctas;
        backward_slots_ = info.backward_slots;
        cluster_ = decision.chosen.kernel->cluster;

        tables_ = std::make_unique<cuda::FusedTables>(*kernel_, n_, device_);
    }

    size_t spectrum_size(const Shape &s) const override { return size_t(s.channels) * n_ * 2 * sizeof(float); }
    // One number for forward and backward: the kernel spectrum, then dk's chunk
    // buffers (see workspace_layout; multi-pass plans: MultipassExecutor::Layout).
    size_t workspace_size(const Shape &s) const override {
        if (multipass_) return multipass_->workspace_size(s);
        return workspace_layout(s, n_, dk_budget_).total;
    }

    void check_pointer(const void *ptr, const char *name) const override {
        cuda::check_device_pointer(ptr, name, device_);
    }

    void forward(const ForwardArgs &a) const override {
        DeviceGuard guard(device_);
        if (multipass_) return multipass_->forward(a);
        cuda::FusedParams p = forward_params(a, a.shape);
        p.items = a.shape.channels * a.shape.pairs();
        launch(p, a.stream, "fused convolution");
    }

    // The partial convolution in one launch that reads and writes its windows
    // in place (FusedParams::window_step), no copies: the forward, and the
    // backward's correlation (du, d_in_gate). For the one-CTA fused variants,
    // whose load and store passes take per-row window bounds, at N ≤ 32768
    // (bounds of 16 bits); multi-pass and cluster plans go back to the copies.
    bool windows_in_place(const Shape &s, const WindowGrid &grid) const {
        return !multipass_ && cluster_ == 1 && n_ <= 32768 && grid.step % 8 == 0 && grid.lead % 8 == 0 &&
               ceil_div(s.channels * window_shape(s, grid).pairs(), pairs_per_cta_) <= int64_t(0x7fffffff);
    }
    // The shape whose convolution the windows make: B·blocks sequences of N.
    Shape window_shape(const Shape &s, const WindowGrid &grid) const {
        return Shape{s.batch * grid.blocks, s.channels, int64_t(n_), s.kernel_len};
    }
    void launch_windows(cuda::FusedParams p, const Shape &s, const WindowGrid &grid, void *stream, const char *what) const {
        p.window_step = grid.step;
        p.window_lead = grid.lead;
        p.window_keep = grid.keep;
        p.windows_per_seq = grid.blocks;
        p.pairs_per_channel = window_shape(s, grid).pairs();
        p.items = s.channels * p.pairs_per_channel;
        launch(p, stream, what);
    }
    bool forward_windows(const ForwardArgs &a, const WindowGrid &grid) const override {
        if (!windows_in_place(a.shape, grid)) return false;
        DeviceGuard guard(device_);
        // (the spectrum kernel's geometry follows the convolution's items: windows, not sequences)
        launch_windows(forward_params(a, window_shape(a.shape, grid)), a.shape, grid, a.stream,
                       "fused convolution over windows");
        return true;
    }
    bool backward_windows(const BackwardArgs &a, const WindowGrid &grid) const override {
        if (a.dk || a.d_out_gate || !(a.du || a.d_in_gate) || !windows_in_place(a.shape, grid)) return false;
        DeviceGuard guard(device_);
        const void *const kspec = backward_spectrum(a, a.workspace);
        cuda::FusedParams p = correlation(a, kspec);
        p.overlap_previous = programmatic_launch_ && !a.spectrum ? 1 : 0;
        launch_windows(p, a.shape, grid, a.stream, "backward: du, d_in_gate over windows");
        return true;
    }

    void backward(const BackwardArgs &a) const override {
        DeviceGuard guard(device_);
        if (multipass_) return multipass_->backward(a);
        const Shape &s = a.shape;
        const WorkspaceLayout ws = workspace_layout(s, n_, dk_budget_);
        char *const base = static_cast<char *>(a.workspace);

        // Outputs may not overlap inputs (header), so the launch order is free.
        // Two convolutions give every gradient:
        //   A: z-convolution  FFT(in_gate ⊙ u)·K,        out: dy ⊙ z = d_out_gate      [V]
        //   B: correlation    FFT(out_gate ⊙ dy)·conj K, out: in_gate ⊙ dv = du and
        //                                                     u ⊙ dv = d_in_gate      [DZ]
        // and dk needs the spectra of both. Where both are needed, one launch
        // runs them (backward_fused).
        if (a.dk || (a.d_out_gate && (a.du || a.d_in_gate))) return backward_fused(a, ws, base);
        // Otherwise the one that is: a launch after the spectrum kernel, which it
        // may overlap (FusedParams::overlap_previous: it waits for the spectrum
        // before its middle stage).
        if (!a.du && !a.d_in_gate && !a.d_out_gate) return;
        const void *const kspec = backward_spectrum(a, base + ws.kspec);
        cuda::FusedParams p = a.d_out_gate ? z_convolution(a, kspec) : correlation(a, kspec);
        p.items = s.channels * s.pairs();
        p.overlap_previous = programmatic_launch_ && !a.spectrum ? 1 : 0;
        launch(p, a.stream, a.d_out_gate ? "backward: d_out_gate" : "backward: du, d_in_gate");
    }

    void compute_spectrum(const SpectrumArgs &a) const override {
        DeviceGuard guard(device_);
        if (multipass_) return multipass_->compute_spectrum(a);
        launch_spectrum(a);
    }

    void gather_windows(const WindowCopy &c) const override {
        DeviceGuard guard(device_);
        cuda::launch_gather_windows(c);
    }
    void scatter_windows(const WindowCopy &c) const override {
        DeviceGuard guard(device_);
        cuda::launch_scatter_windows(c);
    }
    void accumulate(float *dst, const float *src, int64_t n, void *stream) const override {
        DeviceGuard guard(device_);
        cuda::launch_accumulate(dst, src, n, stream);
    }

    std::vector<std::complex<float>> probe_spectrum(const std::vector<float> &k) const override {
        DeviceGuard guard(device_);
        Shape s;
        s.batch = s.channels = s.seq_len = 1;
        s.kernel_len = int64_t(k.size());
        cuda::DeviceBuffer dk(k.size() * sizeof(float), device_, "cudaMalloc (frequency mask probe)");
        cuda::DeviceBuffer spec(spectrum_size(s), device_, "cudaMalloc (frequency mask probe)");
        check(cudaMemcpy(dk.get(), k.data(), k.size() * sizeof(float), cudaMemcpyHostToDevice), "frequency mask probe");
        SpectrumArgs a;
        a.shape = s;
        a.k = static_cast<const float *>(dk.get());
        a.spectrum = spec.get();
        compute_spectrum(a);  // on the legacy default stream, like the copies
        std::vector<std::complex<float>> out(n_);
        check(cudaMemcpy(out.data(), spec.get(), n_ * sizeof(out[0]), cudaMemcpyDeviceToHost), "frequency mask probe");
        return out;
    }

    std::string sparsity_note() const override {
        if (!multipass_)
            return "  sparse work    none skipped: the fused kernel transforms every bin and the dropped ones are "
                   "zeroed in the filter's spectrum\n";
        const int64_t m = multipass_->outer_size(), kept = multipass_->kept_rows();
        if (kept == m)
            return "  sparse work    none skipped: no row of the " + std::to_string(m) + " x " +
                   std::to_string(multipass_->inner_size()) + " decomposition is dropped whole (or the outer passes "
                   "are cuBLASLt GEMMs); the dropped bins are zeroed in the filter's spectrum\n";
        return "  sparse work    " + std::to_string(m - kept) + " of " + std::to_string(m) +
               " rows of the decomposition skipped in forward and in backward without dk (pass 1 does not store "
               "them, the inner pass does not visit them, pass 3 reads zeros)\n";
    }

    void set_spectrum_mask(const std::vector<uint8_t> &mask) override {
        if (mask.size() != n_) fail(FFC_ERROR_INTERNAL, "CUDA backend: spectrum mask of the wrong size");
        DeviceGuard guard(device_);
        mask_ = cuda::DeviceBuffer(n_, device_, "cudaMalloc (frequency mask)");
        check(cudaMemcpy(mask_.get(), mask.data(), n_, cudaMemcpyHostToDevice), "frequency mask upload");
        if (multipass_) multipass_->set_spectrum_mask(mask, static_cast<const uint8_t *>(mask_.get()));
    }

private:
    // A forward convolution's parameters (all but its items), behind the
    // filter's spectrum kernel where the call brings no spectrum; that kernel's
    // geometry is chosen for a convolution of spectrum_shape (narrow_spectrum).
    cuda::FusedParams forward_params(const ForwardArgs &a, const Shape &spectrum_shape) const {
        cuda::FusedParams p = base_params(a.shape);
        const void *spectrum = a.spectrum;
        if (!spectrum) {
            launch_spectrum(spectrum_shape, a.k, a.workspace, a.stream, /*before_forward=*/true);
            spectrum = a.workspace;
            p.overlap_previous = programmatic_launch_ ? 1 : 0;
        }
        p.mode = cuda::mode_conv;
        p.io = cuda::IoType(int(dtype_));
        p.u = a.u;
        p.in_gate = a.in_gate;
        p.out_gate = a.out_gate;
        p.y = a.y;
        p.spectrum = spectrum;
        return p;
    }

    cuda::FusedParams base_params(const Shape &s) const {
        cuda::FusedParams p;
        p.twiddles = tables_->twiddles();
        p.twiddle_tables = tables_->pass_tables();
        p.batch = s.batch;
        p.channels = s.channels;
        p.seq_len = s.seq_len;
        p.kernel_len = s.kernel_len;
        p.pairs_per_channel = s.pairs();
        return p;
    }

    void launch_spectrum(const SpectrumArgs &a) const { launch_spectrum(a.shape, a.k, a.spectrum, a.stream); }
    void launch_spectrum(const Shape &s, const float *k, void *spectrum, void *stream,
                         bool before_forward = false) const {
        cuda::FusedParams p = base_params(s);
        p.mode = cuda::mode_spectrum;
        p.narrow_transform = narrow_spectrum(s, before_forward) ? 1 : 0;
        p.k = k;
        p.spectrum_out = spectrum;
        p.items = s.channels;
        launch(p, stream, "kernel spectrum");
        mask_spectrum(spectrum, s.channels, stream);
    }

    // K's spectrum for a backward: the caller's (ffc_conv_backward_spectrum), or
    // transformed from k into `scratch` (the workspace's [kspec]) by a launch
    // that the next one may overlap.
    // Whether k's spectrum runs in the variant's narrow transform kernel
    // (fused::TransformGeometry: more, smaller CTAs), where it has one. Always,
    // except right before a forward convolution that fits the GPU in one wave
    // but not beside the transform's CTAs: its programmatic launch would wait
    // for them (H100, 512, B = 8, H = 768: forward 21.5 -> 24.5 µs; at B = 16,
    // more than one wave, 40.2 -> 39.1). The backward kernels gained at every B.
    bool narrow_spectrum(const Shape &s, bool before_forward) const {
        if (transform_items_per_cta_ >= pairs_per_cta_) return false;  // no narrower kernel
        if (!before_forward || conv_resident_ctas_ <= 0) return true;
        const int64_t conv = ceil_div(s.channels * s.pairs(), pairs_per_cta_);
        const int64_t transform = ceil_div(s.channels, transform_items_per_cta_);
        return conv > conv_resident_ctas_ || conv + transform <= conv_resident_ctas_;
    }
    static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

    const void *backward_spectrum(const BackwardArgs &a, void *scratch) const {
        if (a.spectrum) return a.spectrum;
        launch_spectrum(a.shape, a.k, scratch, a.stream);
        return scratch;
    }

    // Frequency-sparse plans: zero the dropped positions of `rows` spectra.
    void mask_spectrum(void *spectrum, int64_t rows, void *stream) const {
        if (!mask_.get()) return;
        cuda::launch_mask_spectrum(spectrum, static_cast<const uint8_t *>(mask_.get()), rows, int64_t(n_), stream);
        check(cudaGetLastError(), "frequency mask");
    }

    // The backward's two convolutions (file comment) over all items: A, the
    // z-convolution (d_out_gate = dy ⊙ z), and B, the correlation (du = in_gate ⊙
    // dv, d_in_gate = u ⊙ dv). One whose outputs are all unwanted (dk alone
    // wants its spectrum) has no y: the fused backward kernel stops that pass
    // after its forward transform (FusedParams::dk_inverse_v / dk_inverse_dz).
    cuda::FusedParams z_convolution(const BackwardArgs &a, const void *kspec) const {
        cuda::FusedParams p = base_params(a.shape);
        p.io = cuda::IoType(int(dtype_));
        p.u = a.u;
        p.in_gate = a.in_gate;
        p.mode = cuda::mode_conv;
        if (a.d_out_gate) {
            p.spectrum = kspec;
            p.out_gate = a.dy;
            p.y = a.d_out_gate;
        }
        return p;
    }
    cuda::FusedParams correlation(const BackwardArgs &a, const void *kspec) const {
        cuda::FusedParams p = base_params(a.shape);
        p.io = cuda::IoType(int(dtype_));
        p.u = a.dy;
        p.in_gate = a.out_gate;
        p.mode = cuda::mode_conv;
        if (a.du || a.d_in_gate) {
            p.spectrum = kspec;
            p.conj_spectrum = 1;
            p.y = a.du ? a.du : a.d_in_gate;
            p.out_gate = a.du ? a.in_gate : a.u;
            if (a.du && a.d_in_gate) {
                p.y2 = a.d_in_gate;
                p.out_gate2 = a.u;
            }
        }
        return p;
    }

    // The fewest pair groups per channel (a divisor of the chunk's pairs P) that
    // fill the GPU's resident backward slots FFC_DK_WAVES times over
    // (FFC_DK_WAVES_CLUSTER for a cluster variant; chunk_budgets.hpp): fewer
    // groups sum more pairs on chip, more groups give more, shorter slots (and
    // a shorter tail of the launch's last wave).
    int64_t dk_pair_groups(int64_t C, int64_t P) const {
        if (dk_groups_forced_ > 0) return std::min<int64_t>(dk_groups_forced_, P);
        const int64_t waves = cluster_ > 1 ? FFC_DK_WAVES_CLUSTER : FFC_DK_WAVES;
        for (int64_t g = 1; g < P; ++g)
            if (P % g == 0 && C * g >= waves * backward_slots_) return g;
        return P;
    }

    // Both convolutions in one launch per chunk (FusedKernelEntry::launch_backward,
    // launch.hpp): a slot runs the V pass and the DZ pass of each pair of its
    // group, and with dk it keeps V (launch.hpp) and sums conj(V)·DZ over the group's
    // pairs, leaving one partial sum per group (launch_partial_sum adds them,
    // in order): no pair's spectra are written for a separate reduction. Chunks
    // of channels and pairs (dk_chunking): a chunk's G ≤ P partial sums and as
    // many stashed spectra fit the workspace's part and stash regions; without
    // dk one launch with a group per pair.
    void backward_fused(const BackwardArgs &a, const WorkspaceLayout &ws, char *base) const {
        const Shape &s = a.shape;
        const int64_t H = s.channels, pairs = s.pairs();
        const bool want_v = a.d_out_gate != nullptr, want_dz = a.du || a.d_in_gate;
        const void *const kspec = want_v || want_dz ? backward_spectrum(a, base + ws.kspec) : nullptr;
        // The kernel runs both as mode_conv passes; a pass without outputs stops
        // after its forward transform (dk_inverse_v / dk_inverse_dz).
        cuda::FusedParams v = z_convolution(a, kspec), dz = correlation(a, kspec);
        for (cuda::FusedParams *p : {&v, &dz}) {
            p->dk_inverse_v = want_v ? 1 : 0;
            p->dk_inverse_dz = want_dz ? 1 : 0;
        }
        const int64_t chunk_channels = a.dk ? ws.dk.channels : H, chunk_pairs = a.dk ? ws.dk.pairs : pairs;
        void *const part = base + ws.part, *const stash = base + ws.stash, *const acc = base + ws.acc;
        if (a.dk && chunk_channels > 1 && chunk_pairs != pairs)
            fail(FFC_ERROR_INTERNAL, "dk chunk is not a whole number of channels");
        for (int64_t h0 = 0; h0 < H; h0 += chunk_channels) {
            const int64_t C = std::min(chunk_channels, H - h0);
            for (int64_t p0 = 0; p0 < pairs; p0 += chunk_pairs) {
                const int64_t P = std::min(chunk_pairs, pairs - p0);
                const int64_t groups = a.dk ? dk_pair_groups(C, P) : P;
                for (cuda::FusedParams *p : {&v, &dz}) {
                    p->item_offset = h0;
                    p->items = C * groups;
                    p->pairs_per_channel = P;
                    p->dk_pair_offset = p0;
                    p->dk_pair_groups = groups;
                    if (a.dk) {
                        // One group: the sums go to acc, carried over the pair chunks;
                        // one pair per group: the product overwrites its own V.
                        p->dk_partial = groups == 1 ? acc : part;
                        p->dk_stash = groups > 1 && groups == P ? part : stash;
                        p->dk_accumulate = groups == 1 && p0 > 0 ? 1 : 0;
                    }
                }
                // The launch right after the spectrum kernel overlaps it: its
                // passes wait for the spectrum before their middle stage.
                v.overlap_previous = programmatic_launch_ && (want_v || want_dz) && !a.spectrum && h0 == 0 && p0 == 0 ? 1 : 0;
                check_grid(v.items, backward_items_per_cta_, "backward");
                kernel_->launch_backward(v, dz, a.stream);
                check(cudaGetLastError(), "backward: both convolutions");
                if (a.dk && groups > 1) {
                    // Programmatic, as dk's inverse after it: each waits for the
                    // kernel before it, the launch latency is hidden.
                    cuda::launch_partial_sum(part, acc, C, groups, int64_t(n_), p0 > 0 ? 1 : 0, programmatic_launch_,
                                             a.stream);
                    check(cudaGetLastError(), "backward: dk partial sums");
                }
            }
            if (a.dk) launch_dk_inverse(s, h0, C, acc, a.dk, a.stream);
        }
    }

    // dk of channels [h0, h0 + C) from their accumulated spectra.
    void launch_dk_inverse(const Shape &s, int64_t h0, int64_t C, void *acc, float *dk, void *stream) const {
        mask_spectrum(acc, C, stream);  // a masked filter's gradient sees only the kept bins
        cuda::FusedParams p = base_params(s);
        p.mode = cuda::mode_inverse;
        p.spectrum = acc;
        p.real_out = dk;  // row of item h: dk + h·K
        p.item_offset = h0;
        p.items = C;
        p.narrow_transform = transform_items_per_cta_ < pairs_per_cta_ ? 1 : 0;
        p.overlap_previous = programmatic_launch_ ? 1 : 0;  // it waits before its middle stage
        launch(p, stream, "backward: dk inverse");
    }

    void check_grid(int64_t items, const char *what) const { check_grid(items, pairs_per_cta_, what); }
    void check_grid(int64_t items, int64_t items_per_cta, const char *what) const {
        const int64_t blocks = (items + items_per_cta - 1) / items_per_cta * cluster_;
        if (blocks > int64_t(0x7fffffff))
            fail(FFC_ERROR_NOT_SUPPORTED, std::string(what) + ": B*H too large for one launch (" + std::to_string(blocks) +
                                              " CTAs)");
    }

    void launch(const cuda::FusedParams &p, void *stream, const char *what) const {
        check_grid(p.items, p.narrow_transform ? transform_items_per_cta_ : pairs_per_cta_, what);
        kernel_->launch(p, stream);
        check(cudaGetLastError(), what);
    }

    uint64_t n_;
    DType dtype_;
    int device_;
    size_t dk_budget_ = cuda::chunk_budgets().dk;  // fixed at plan creation (chunk_budgets.hpp)
    const cuda::FusedKernelEntry *kernel_ = nullptr;
    int pairs_per_cta_ = 1;
    int cluster_ = 1;  // CTAs per item (the variant's thread-block cluster)
    bool programmatic_launch_ = false;
    int64_t backward_slots_ = 0;  // resident slots of the fused backward kernel on the device; 0: none fits
    int64_t backward_items_per_cta_ = 1;  // its items (pair groups) per CTA (FusedKernelInfo)
    int64_t transform_items_per_cta_ = 1;  // channels per CTA of the narrow transform kernel (FusedKernelInfo)
    int64_t conv_resident_ctas_ = 0;       // convolution CTAs resident at once (FusedKernelInfo)
    long long dk_groups_forced_ = cuda::chunk_budgets().dk_pair_groups;  // testing hook, fixed at plan creation
    std::unique_ptr<cuda::MultipassExecutor> multipass_;  // set for multi-pass plans (nothing else is then)
    std::unique_ptr<cuda::FusedTables> tables_;  // fused plans only
    cuda::DeviceBuffer mask_;  // frequency-sparse plans: uint8 [N] in the spectrum layout (set_spectrum_mask)
};

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(const plan::Decision &decision, int device) {
    return std::make_unique<CudaExecutor>(decision, device);
}

}  // namespace ffc
