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
// dk runs mode_transform twice (W_v of every pair, then W_dz), the deterministic
// reduction of spectral_reduce.cu, and mode_inverse, in chunks of channels and
// pairs so that the spectra of a chunk stay within the plan's dk budget
// (chunk_budgets.hpp).
//
// Multi-pass plans (N above the fused sizes: 16K, or 64K on the H100) hand forward, backward and kernel
// spectra to cuda::MultipassExecutor (multipass.hpp), which computes the same
// two convolutions and dk with multi-pass transforms.
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <string>

#include "common/executor.hpp"
#include "cuda/chunk_budgets.hpp"
#include "cuda/cuda_util.hpp"
#include "cuda/fused_tables.hpp"
#include "cuda/launch.hpp"
#include "cuda/multipass.hpp"
#include "cuda/spectral_reduce.hpp"
#include "plan/planner.hpp"

namespace ffc {
namespace {

using cuda::check;
using cuda::DeviceGuard;

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// dk's chunk buffers (W_v and W_dz of a chunk's pairs, plus its accumulated
// spectrum) stay within a budget fixed per plan (chunk_budgets.hpp: 512 MiB by
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
//   [w_v]    W_v of a dk chunk, float2 [C·P][N]   (backward, dk only)
//   [w_dz]   W_dz of a dk chunk, float2 [C·P][N]
//   [acc]    Σ_pairs conj(W_v)·W_dz, float2 [C][N]
struct WorkspaceLayout {
    size_t kspec = 0, w_v = 0, w_dz = 0, acc = 0, total = 0;
    DkChunking dk;
};
WorkspaceLayout workspace_layout(const Shape &s, uint64_t n, size_t dk_budget) {
    const size_t spec = size_t(n) * 2 * sizeof(float);
    WorkspaceLayout w;
    w.dk = dk_chunking(s, n, dk_budget);
    w.kspec = 0;
    w.w_v = round_up(size_t(s.channels) * spec, 256);
    const size_t chunk_spectra = round_up(size_t(w.dk.channels) * size_t(w.dk.pairs) * spec, 256);
    w.w_dz = w.w_v + chunk_spectra;
    w.acc = w.w_dz + chunk_spectra;
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
        programmatic_launch_ = kernel_->prepare();  // FusedParams::overlap_previous
        check(cudaGetLastError(), "cudaFuncSetAttribute");

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
        cudaPointerAttributes attr{};
        const cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            fail(FFC_ERROR_INVALID_POINTER, std::string(name) + " is not a CUDA device pointer (" + cudaGetErrorName(err) + ")");
        }
        const bool device_memory = attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
        if (!device_memory)
            fail(FFC_ERROR_INVALID_POINTER, std::string(name) + " is host memory; the CUDA backend needs device memory");
        if (attr.type == cudaMemoryTypeDevice && attr.device != device_)
            fail(FFC_ERROR_INVALID_POINTER, std::string(name) + " lives on device " + std::to_string(attr.device) +
                                                ", the plan on device " + std::to_string(device_));
    }

    void forward(const ForwardArgs &a) const override {
        DeviceGuard guard(device_);
        if (multipass_) return multipass_->forward(a);
        const void *spectrum = a.spectrum;
        cuda::FusedParams p = base_params(a.shape);
        if (!spectrum) {
            SpectrumArgs sa;
            sa.shape = a.shape;
            sa.k = a.k;
            sa.spectrum = a.workspace;
            sa.stream = a.stream;
            launch_spectrum(sa);
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
        p.items = a.shape.channels * a.shape.pairs();
        launch(p, a.stream, "fused convolution");
    }

    void backward(const BackwardArgs &a) const override {
        DeviceGuard guard(device_);
        if (multipass_) return multipass_->backward(a);
        const Shape &s = a.shape;
        const WorkspaceLayout ws = workspace_layout(s, n_, dk_budget_);
        char *const base = static_cast<char *>(a.workspace);
        const int64_t items = s.channels * s.pairs();

        // Outputs may not overlap inputs (header), so the launch order is free.
        // Two convolutions give every gradient; with dk wanted they also emit the
        // pair spectra W_v and W_dz (visit order) that dk's reduction needs:
        //   A: z-convolution  FFT(in_gate ⊙ u)·K,        out: dy ⊙ z = d_out_gate      [emits W_v]
        //   B: correlation    FFT(out_gate ⊙ dy)·conj K, out: in_gate ⊙ dv = du and
        //                                                     u ⊙ dv = d_in_gate      [emits W_dz]
        // A launch whose outputs are all unwanted degrades to a transform (dk only).
        const bool need_k = a.du || a.d_in_gate || a.d_out_gate;
        // A convolution may overlap the launch before it (FusedParams::overlap_previous)
        // where that is the spectrum kernel, whose output it waits for before its
        // middle stage, or convolution A, whose outputs B does not read.
        bool may_overlap = need_k;
        auto launch_conv = [&](cuda::FusedParams &p, const char *what, bool next_may_overlap) {
            if (may_overlap && p.mode == cuda::mode_conv) p.overlap_previous = programmatic_launch_ ? 1 : 0;
            may_overlap = next_may_overlap && p.mode == cuda::mode_conv;
            launch(p, a.stream, what);
        };
        if (need_k) {
            SpectrumArgs sa;
            sa.shape = s;
            sa.k = a.k;
            sa.spectrum = base + ws.kspec;
            sa.stream = a.stream;
            launch_spectrum(sa);
        }
        auto conv_z = [&](int64_t offset, int64_t count, void *w_out) {
            cuda::FusedParams p = base_params(s);
            p.io = cuda::IoType(int(dtype_));
            p.item_offset = offset;
            p.items = count;
            p.u = a.u;
            p.in_gate = a.in_gate;
            p.spectrum_out = w_out;
            if (a.d_out_gate) {
                p.mode = cuda::mode_conv;
                p.spectrum = base + ws.kspec;
                p.out_gate = a.dy;
                p.y = a.d_out_gate;
            } else {
                p.mode = cuda::mode_transform;
            }
            if (p.mode == cuda::mode_conv || w_out) launch_conv(p, "backward: d_out_gate / W_v", true);
        };
        auto conv_dv = [&](int64_t offset, int64_t count, void *w_out) {
            cuda::FusedParams p = base_params(s);
            p.io = cuda::IoType(int(dtype_));
            p.item_offset = offset;
            p.items = count;
            p.u = a.dy;
            p.in_gate = a.out_gate;
            p.spectrum_out = w_out;
            if (a.du || a.d_in_gate) {
                p.mode = cuda::mode_conv;
                p.spectrum = base + ws.kspec;
                p.conj_spectrum = 1;
                p.y = a.du ? a.du : a.d_in_gate;
                p.out_gate = a.du ? a.in_gate : a.u;
                if (a.du && a.d_in_gate) {
                    p.y2 = a.d_in_gate;
                    p.out_gate2 = a.u;
                }
            } else {
                p.mode = cuda::mode_transform;
            }
            if (p.mode == cuda::mode_conv || w_out) launch_conv(p, "backward: du, d_in_gate / W_dz", false);
        };
        if (!a.dk) {
            conv_z(0, items, nullptr);
            conv_dv(0, items, nullptr);
            return;
        }
        backward_dk(a, ws, base, conv_z, conv_dv);
    }

    void compute_spectrum(const SpectrumArgs &a) const override {
        DeviceGuard guard(device_);
        if (multipass_) return multipass_->compute_spectrum(a);
        launch_spectrum(a);
    }

private:
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

    void launch_spectrum(const SpectrumArgs &a) const {
        cuda::FusedParams p = base_params(a.shape);
        p.mode = cuda::mode_spectrum;
        p.k = a.k;
        p.spectrum_out = a.spectrum;
        p.items = a.shape.channels;
        launch(p, a.stream, "kernel spectrum");
    }

    // Items are h·pairs + pair (channel-major), so a chunk — channels [h0, h0 + C)
    // with all their pairs, or pairs [p0, p0 + P) of one channel (dk_chunking
    // makes one of the two true) — is the contiguous item range starting at
    // h0·pairs + p0. The kernel addresses rows and dk by the global item
    // (FusedParams::item_offset + local) and the per-item spectra by the local
    // one, so the chunk buffers hold W_v / W_dz at local·N and acc at (h − h0)·N.
    // dk = Re IFFT(Σ_pairs conj(W_v) · W_dz), per channel, in chunks of items whose
    // spectra fit the workspace; the two convolutions write W_v and W_dz.
    template <class ConvZ, class ConvDv>
    void backward_dk(const BackwardArgs &a, const WorkspaceLayout &ws, char *base, ConvZ &conv_z, ConvDv &conv_dv) const {
        const Shape &s = a.shape;
        const int64_t H = s.channels, pairs = s.pairs();
        void *w_v = base + ws.w_v, *w_dz = base + ws.w_dz, *acc = base + ws.acc;
        if (ws.dk.channels > 1 && ws.dk.pairs != pairs) fail(FFC_ERROR_INTERNAL, "dk chunk is not a contiguous item range");
        for (int64_t h0 = 0; h0 < H; h0 += ws.dk.channels) {
            const int64_t C = std::min(ws.dk.channels, H - h0);
            for (int64_t p0 = 0; p0 < pairs; p0 += ws.dk.pairs) {
                const int64_t P = std::min(ws.dk.pairs, pairs - p0);
                conv_z(h0 * pairs + p0, C * P, w_v);
                conv_dv(h0 * pairs + p0, C * P, w_dz);
                cuda::launch_spectral_reduce(w_v, w_dz, acc, C, P, int64_t(n_), p0 > 0 ? 1 : 0, a.stream);
                check(cudaGetLastError(), "backward: dk reduction");
            }
            cuda::FusedParams p = base_params(s);
            p.mode = cuda::mode_inverse;
            p.spectrum = acc;
            p.real_out = a.dk;  // row of item h: dk + h·K
            p.item_offset = h0;
            p.items = C;
            launch(p, a.stream, "backward: dk inverse");
        }
    }

    void launch(const cuda::FusedParams &p, void *stream, const char *what) const {
        const int64_t blocks = (p.items + pairs_per_cta_ - 1) / pairs_per_cta_;
        if (blocks > int64_t(0x7fffffff))
            fail(FFC_ERROR_NOT_SUPPORTED, "B*H too large for one launch (" + std::to_string(blocks) + " CTAs)");
        kernel_->launch(p, stream);
        check(cudaGetLastError(), what);
    }

    uint64_t n_;
    DType dtype_;
    int device_;
    size_t dk_budget_ = cuda::chunk_budgets().dk;  // fixed at plan creation (chunk_budgets.hpp)
    const cuda::FusedKernelEntry *kernel_ = nullptr;
    int pairs_per_cta_ = 1;
    bool programmatic_launch_ = false;
    std::unique_ptr<cuda::MultipassExecutor> multipass_;  // set for multi-pass plans (nothing else is then)
    std::unique_ptr<cuda::FusedTables> tables_;  // fused plans only
};

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(const plan::Decision &decision, int device) {
    return std::make_unique<CudaExecutor>(decision, device);
}

}  // namespace ffc
