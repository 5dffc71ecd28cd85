// The interface between the API layer and a backend. One Executor is created per
// plan; it is immutable afterwards, so concurrent calls on one plan are safe as
// long as each call brings its own workspace (the API's contract).
//
// Arguments arrive validated (shapes in range, required pointers non-null,
// workspace large enough). Executors report failures by throwing ffc::Error.
#pragma once

#include <memory>

#include "common/types.hpp"

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
};

// Factories; each backend lives in its own directory.
std::unique_ptr<Executor> make_cpu_executor(const plan::Decision &decision, int threads);
#if FFC_WITH_CUDA
std::unique_ptr<Executor> make_cuda_executor(const plan::Decision &decision, int device);
#endif

}  // namespace ffc
