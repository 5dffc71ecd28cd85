// The interface between the API layer and a backend. One Executor is created per
// plan; it is immutable afterwards, so concurrent calls on one plan are safe as
// long as each call brings its own workspace (the API's contract).
//
// Arguments arrive validated (shapes in range, required pointers non-null,
// workspace large enough). Executors report failures by throwing ffc::Error.
#pragma once

#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/types.hpp"
#include "common/windows.hpp"

namespace ffc {

namespace plan { struct Decision; }

struct ForwardArgs {
    Shape shape;
    const void *u = nullptr;
    const float *k = nullptr;          // either k ...
    const void *spectrum = nullptr;    // ... or its precomputed spectrum
    const void *in_gate = nullptr;     // optional
    const void *out_gate = nullptr;    // optional
    void *y = nullptr;
    void *workspace = nullptr;
    size_t workspace_size = 0;
    void *stream = nullptr;            // cudaStream_t for the CUDA backend
};

struct BackwardArgs {
    Shape shape;
    const void *dy = nullptr;
    const void *u = nullptr;
    const float *k = nullptr;
    // k's spectrum (Executor::compute_spectrum's layout) in place of k, or NULL:
    // then the backward transforms k itself. dk never needs either.
    const void *spectrum = nullptr;
    const void *in_gate = nullptr;
    const void *out_gate = nullptr;
    void *du = nullptr;                // every output is optional
    float *dk = nullptr;
    void *d_in_gate = nullptr;
    void *d_out_gate = nullptr;
    void *workspace = nullptr;
    size_t workspace_size = 0;
    void *stream = nullptr;
};

struct SpectrumArgs {
    Shape shape;
    const float *k = nullptr;
    void *spectrum = nullptr;
    void *stream = nullptr;
};

class Executor {
public:
    virtual ~Executor() = default;
    virtual size_t workspace_size(const Shape &shape) const = 0;  // covers forward and backward
    virtual size_t spectrum_size(const Shape &shape) const = 0;
    virtual void forward(const ForwardArgs &args) const = 0;
    virtual void backward(const BackwardArgs &args) const = 0;
    virtual void compute_spectrum(const SpectrumArgs &args) const = 0;
    // Throws FFC_ERROR_INVALID_POINTER if a tensor pointer cannot be used by this
    // backend (for CUDA: a host pointer, or memory of another device).
    virtual void check_pointer(const void *ptr, const char *name) const { (void)ptr; (void)name; }

    // The copies that run a partial convolution block-wise on this backend
    // (src/partial): gather fills the windows of the buffer c.dst from the
    // tensor c.src, scatter writes the kept positions of the buffer c.src's
    // windows into the tensor c.dst (common/windows.hpp), accumulate adds n
    // floats of src to dst. Ordered on c.stream / stream like forward().
    virtual void gather_windows(const WindowCopy &c) const = 0;
    virtual void scatter_windows(const WindowCopy &c) const = 0;
    virtual void accumulate(float *dst, const float *src, int64_t n, void *stream) const = 0;
    // The partial convolution with its windows read and written in place
    // (common/windows.hpp, WindowGrid): the forward, or a backward that wants
    // du and d_in_gate only (input windows); args.shape is the whole (B, H, L)
    // problem and args.workspace has room for the filter's spectrum
    // (spectrum_size(args.shape)). A backend returns false without doing
    // anything where it cannot for these arguments; the caller then copies.
    virtual bool forward_windows(const ForwardArgs &args, const WindowGrid &grid) const {
        (void)args;
        (void)grid;
        return false;
    }
    virtual bool backward_windows(const BackwardArgs &args, const WindowGrid &grid) const {
        (void)args;
        (void)grid;
        return false;
    }

    // Frequency-sparse plans (src/sparse). probe_spectrum returns, on the host,
    // the spectrum of one filter row k (K = k.size() taps) in this executor's
    // layout: spectrum_size({1, 1, 1, K}) / 8 complex values. set_spectrum_mask
    // installs a mask of that layout (1 = kept, one byte per position); from
    // then on every filter spectrum the executor forms is masked, and so is dk's
    // spectral sum before its inverse. Both at plan creation only (they may
    // allocate and synchronise); the executor is immutable afterwards.
    virtual std::vector<std::complex<float>> probe_spectrum(const std::vector<float> &k) const = 0;
    virtual void set_spectrum_mask(const std::vector<uint8_t> &mask) = 0;
    // After set_spectrum_mask: what work the mask saves, as lines for
    // ffc_plan_describe() ("  sparse work    ...\n").
    virtual std::string sparsity_note() const = 0;
};

// Factories; each backend lives in its own directory.
std::unique_ptr<Executor> make_cpu_executor(const plan::Decision &decision, int threads);
// Wraps a backend's executor into one that runs the partial convolution
// (FFC_PLAN_PARTIAL): any seq_len, by overlap-save windows of the plan's N.
// chunk_elements bounds the window elements copied per chunk (0: the library's
// default, 512·N clamped to [2^24, 2^27]; tests pass small values to exercise
// the chunking). in_place: let the backend's forward_windows run the forward
// where it can (tests turn it off to compare with the copies).
std::unique_ptr<Executor> make_partial_executor(std::unique_ptr<Executor> backend, const plan::Decision &decision,
                                                int64_t chunk_elements = 0, bool in_place = true);
#if FFC_WITH_CUDA
std::unique_ptr<Executor> make_cuda_executor(const plan::Decision &decision, int device);
#endif

}  // namespace ffc
