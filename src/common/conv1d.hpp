// The short depthwise convolution (ffc_conv1d_*): its problem description,
// the one definition of its index arithmetic, and the interface between the
// API layer and a backend. The semantics are those of ffc_conv1d_desc_t in
// flashfftconv.h (PyTorch's depthwise Conv1d: a cross-correlation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/types.hpp"

namespace ffc::conv1d {

enum class Layout : int32_t { bhl = FFC_LAYOUT_BHL, blh = FFC_LAYOUT_BLH };

// Everything one call needs to know about its tensors. Built by the API layer
// from the plan and the call's shape, validated (all sizes >= 1, out_len() >= 1,
// 0 <= pad_left, pad_right <= kernel_size - 1, element counts below 2^60).
struct Problem {
    DType dtype = DType::f16;
    Layout layout = Layout::bhl;
    int kernel_size = 1;
    int pad_left = 0, pad_right = 0;
    int64_t batch = 1, channels = 1, seq_len = 1;

    int64_t out_len() const { return seq_len + pad_left + pad_right - kernel_size + 1; }
    int64_t in_elements() const { return batch * channels * seq_len; }
    int64_t out_elements() const { return batch * channels * out_len(); }
    int64_t filter_elements() const { return channels * int64_t(kernel_size); }

    // Element offset of (b, h, t) in a tensor of this layout whose sequences are
    // `len` long (seq_len for x and dx, out_len() for y and dy).
    int64_t offset(int64_t b, int64_t h, int64_t t, int64_t len) const {
        return layout == Layout::bhl ? (b * channels + h) * len + t : (b * len + t) * channels + h;
    }
    // Distance in elements between t and t + 1 of one (b, h) sequence.
    int64_t time_stride() const { return layout == Layout::bhl ? 1 : channels; }
};

struct ForwardArgs {
    Problem problem;
    const void *x = nullptr;
    const float *weight = nullptr;  // (H, K)
    const float *bias = nullptr;    // (H) or nullptr
    void *y = nullptr;
    void *workspace = nullptr;
    size_t workspace_size = 0;
    void *stream = nullptr;         // cudaStream_t for the CUDA backend
};

struct BackwardArgs {
    Problem problem;
    const void *dy = nullptr;
    const void *x = nullptr;        // non-null when dweight is wanted
    const float *weight = nullptr;  // non-null when dx is wanted
    void *dx = nullptr;             // every output is optional (at least one is set)
    float *dweight = nullptr;
    float *dbias = nullptr;
    void *workspace = nullptr;
    size_t workspace_size = 0;
    void *stream = nullptr;
};

// One per plan, immutable after creation: concurrent calls with separate
// workspaces are safe. Arguments arrive validated; failures throw ffc::Error.
class Executor {
public:
    virtual ~Executor() = default;
    virtual size_t workspace_size(const Problem &problem) const = 0;  // covers forward and backward
    virtual void forward(const ForwardArgs &args) const = 0;
    virtual void backward(const BackwardArgs &args) const = 0;
    // Throws FFC_ERROR_INVALID_POINTER if a tensor pointer cannot be used by this backend.
    virtual void check_pointer(const void *ptr, const char *name) const { (void)ptr; (void)name; }
};

std::unique_ptr<Executor> make_cpu_executor(int threads);         // src/cpu/conv1d_cpu.cpp
#if FFC_WITH_CUDA
std::unique_ptr<Executor> make_cuda_executor(int device);         // src/cuda/conv1d.cu
#endif

}  // namespace ffc::conv1d
