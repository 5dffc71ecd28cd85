// The CUDA backend's executor: owns the plan's device tables and launches the
// registered kernel instantiations on the caller's stream. Forward never
// allocates and never synchronises, so it can be captured into a CUDA graph.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "common/executor.hpp"
#include "cuda/cuda_util.hpp"
#include "cuda/launch.hpp"
#include "monarch/monarch.hpp"
#include "plan/planner.hpp"

namespace ffc {
namespace {

using cuda::check;
using cuda::DeviceGuard;

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

class CudaExecutor final : public Executor {
public:
    CudaExecutor(const plan::Decision &decision, int device) : n_(decision.fft_size), dtype_(decision.dtype), device_(device) {
        if (!decision.chosen.kernel) fail(FFC_ERROR_INTERNAL, "CUDA plan without a kernel variant");
        kernel_ = cuda::find_fused_kernel(decision.chosen.kernel->name);
        if (!kernel_)
            fail(FFC_ERROR_NO_KERNEL, std::string("kernel ") + decision.chosen.kernel->name + " is not compiled into this build");
        pairs_per_cta_ = decision.chosen.kernel->pairs_per_cta;

        DeviceGuard guard(device_);
        kernel_->prepare();
        check(cudaGetLastError(), "cudaFuncSetAttribute");

        // Two-level twiddle table of W_N, computed in double and rounded once.
        const uint64_t hi = n_ / 64;
        std::vector<float> table(2 * (64 + hi));
        for (uint64_t m = 0; m < 64; ++m) {
            const monarch::cdouble w = monarch::unit_root(n_, m);
            table[2 * m] = float(w.real());
            table[2 * m + 1] = float(w.imag());
        }
        for (uint64_t i = 0; i < hi; ++i) {
            const monarch::cdouble w = monarch::unit_root(n_, 64 * i);
            table[2 * (64 + i)] = float(w.real());
            table[2 * (64 + i) + 1] = float(w.imag());
        }
        check(cudaMalloc(&twiddles_, table.size() * sizeof(float)), "cudaMalloc (twiddle table)");
        const cudaError_t copied = cudaMemcpy(twiddles_, table.data(), table.size() * sizeof(float), cudaMemcpyHostToDevice);
        if (copied != cudaSuccess) {
            cudaFree(twiddles_);
            check(copied, "cudaMemcpy (twiddle table)");
        }
    }

    ~CudaExecutor() override {
        if (!twiddles_) return;
        int previous = 0;
        if (cudaGetDevice(&previous) == cudaSuccess) {
            cudaSetDevice(device_);
            cudaFree(twiddles_);
            cudaSetDevice(previous);
        }
    }

    size_t spectrum_size(const Shape &s) const override { return size_t(s.channels) * n_ * 2 * sizeof(float); }
    size_t workspace_size(const Shape &s) const override { return round_up(spectrum_size(s), 256); }

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
        const void *spectrum = a.spectrum;
        if (!spectrum) {
            SpectrumArgs sa;
            sa.shape = a.shape;
            sa.k = a.k;
            sa.spectrum = a.workspace;
            sa.stream = a.stream;
            launch_spectrum(sa);
            spectrum = a.workspace;
        }
        cuda::FusedParams p = base_params(a.shape);
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

    void backward(const BackwardArgs &) const override {
        fail(FFC_ERROR_NOT_SUPPORTED, "ffc_conv_backward is not implemented on the CUDA backend yet; use a CPU plan");
    }

    void compute_spectrum(const SpectrumArgs &a) const override {
        DeviceGuard guard(device_);
        launch_spectrum(a);
    }

private:
    cuda::FusedParams base_params(const Shape &s) const {
        cuda::FusedParams p;
        p.twiddles = twiddles_;
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
    const cuda::FusedKernelEntry *kernel_ = nullptr;
    int pairs_per_cta_ = 1;
    void *twiddles_ = nullptr;
};

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(const plan::Decision &decision, int device) {
    return std::make_unique<CudaExecutor>(decision, device);
}

}  // namespace ffc
