// The C entry points of the short depthwise convolution (ffc_conv1d_*). Same
// rules as api.cpp: every call runs inside the exception firewall
// (ffc::api::guarded), validates every argument before it writes anything, and
// leaves a thread-local message on failure.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "api/api_common.hpp"
#include "common/conv1d.hpp"
#include "common/types.hpp"

// The descriptor's layout is ABI (the header documents 96 bytes on LP64; the
// bindings hard-code the offsets).
static_assert(sizeof(ffc_conv1d_desc_t) == 96, "ffc_conv1d_desc_t must stay 96 bytes");
static_assert(offsetof(ffc_conv1d_desc_t, magic) == 8, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, dtype) == 16, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, backend) == 20, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, device) == 24, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, layout) == 28, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, kernel_size) == 32, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, padding_left) == 36, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, padding_right) == 40, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, cpu_threads) == 44, "ffc_conv1d_desc_t layout changed");
static_assert(offsetof(ffc_conv1d_desc_t, reserved) == 48, "ffc_conv1d_desc_t layout changed");
static_assert(sizeof(ffc_conv1d_shape_t) == 24, "ffc_conv1d_shape_t must stay 24 bytes");

// The plan: the descriptor's values, the resolved backend and its executor.
// Immutable after creation.
struct ffc_conv1d_plan_s {
    ffc::DType dtype = ffc::DType::f16;
    ffc::conv1d::Layout layout = ffc::conv1d::Layout::bhl;
    int kernel_size = 1;
    int pad_left = 0, pad_right = 0;
    ffc::Backend backend = ffc::Backend::cpu;
    int device = -1;
    int cpu_threads = 0;  // threads of a CPU plan, 0 for CUDA
    std::unique_ptr<ffc::conv1d::Executor> executor;
};

namespace {

using ffc::api::check_disjoint;
using ffc::api::check_tensor;
using ffc::api::guarded;
using ffc::api::require;

// Element counts (and so byte offsets, at most 4 bytes an element) stay far
// from int64 overflow.
constexpr int64_t kElementLimit = int64_t(1) << 60;

void require_plan(const ffc_conv1d_plan_s *plan) {
    if (!plan) ffc::fail(FFC_ERROR_NULL_POINTER, "plan is NULL");
}

std::string str(int64_t v) { return std::to_string(v); }

// L_out for seq_len = L on this plan, or FFC_ERROR_INVALID_SHAPE.
int64_t output_length(const ffc_conv1d_plan_s *plan, int64_t seq_len) {
    if (seq_len < 1) ffc::fail(FFC_ERROR_INVALID_SHAPE, "seq_len = " + str(seq_len) + " (must be >= 1)");
    if (seq_len >= kElementLimit) ffc::fail(FFC_ERROR_INVALID_SHAPE, "seq_len = " + str(seq_len) + " overflows 64-bit indexing");
    const int64_t out = seq_len + plan->pad_left + plan->pad_right - plan->kernel_size + 1;
    if (out < 1)
        ffc::fail(FFC_ERROR_INVALID_SHAPE,
                  "seq_len = " + str(seq_len) + " gives an output length L_out = L + padding_left + padding_right - K + 1 = " +
                      str(out) + " (must be >= 1; K = " + str(plan->kernel_size) + ", padding " + str(plan->pad_left) +
                      " / " + str(plan->pad_right) + ")");
    return out;
}

// a·b·c < kElementLimit exactly, for a, b, c >= 1, without overflowing.
bool product_below_limit(int64_t a, int64_t b, int64_t c) {
    const int64_t max = kElementLimit - 1;
    if (a > max / b) return false;
    return a * b <= max / c;
}

ffc::conv1d::Problem validate_shape(const ffc_conv1d_plan_s *plan, const ffc_conv1d_shape_t *s) {
    require(s, "shape");
    auto positive = [](int64_t v, const char *what) {
        if (v < 1) ffc::fail(FFC_ERROR_INVALID_SHAPE, std::string(what) + " = " + str(v) + " (must be >= 1)");
    };
    positive(s->batch, "batch");
    positive(s->channels, "channels");
    positive(s->seq_len, "seq_len");
    const int64_t out_len = output_length(plan, s->seq_len);
    if (!product_below_limit(s->batch, s->channels, s->seq_len))
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "B*H*L overflows 64-bit indexing (at most 2^60 elements)");
    if (!product_below_limit(s->batch, s->channels, out_len))
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "B*H*L_out overflows 64-bit indexing (at most 2^60 elements)");
    if (!product_below_limit(1, s->channels, plan->kernel_size))
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "channels*K overflows 64-bit indexing (at most 2^60 elements)");
    ffc::conv1d::Problem p;
    p.dtype = plan->dtype;
    p.layout = plan->layout;
    p.kernel_size = plan->kernel_size;
    p.pad_left = plan->pad_left;
    p.pad_right = plan->pad_right;
    p.batch = s->batch;
    p.channels = s->channels;
    p.seq_len = s->seq_len;
    return p;
}

size_t check_workspace(const ffc_conv1d_plan_s *plan, const ffc::conv1d::Problem &p, const void *ws, size_t ws_size) {
    const size_t need = plan->executor->workspace_size(p);
    ffc::api::check_workspace_buffer(ws, ws_size, need, plan->backend == ffc::Backend::cuda);
    return need;
}

void validate_desc(const ffc_conv1d_desc_t *desc) {
    require(desc, "desc");
    if (desc->magic != FFC_CONV1D_DESC_MAGIC)
        ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->magic is wrong: initialise the descriptor with FFC_CONV1D_DESC_INIT");
    if (desc->version < 1 || desc->version > FFC_CONV1D_DESC_VERSION)
        ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->version = " + std::to_string(desc->version) + " is not supported by this library");
    if (desc->struct_size != sizeof(ffc_conv1d_desc_t))
        ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->struct_size = " + std::to_string(desc->struct_size) +
                                                    ", expected " + std::to_string(sizeof(ffc_conv1d_desc_t)));
    for (uint64_t r : desc->reserved)
        if (r) ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->reserved fields must be zero");
    if (desc->dtype != FFC_DTYPE_FP32 && desc->dtype != FFC_DTYPE_FP16 && desc->dtype != FFC_DTYPE_BF16)
        ffc::fail(FFC_ERROR_INVALID_DTYPE, "dtype = " + std::to_string(desc->dtype) + " is not an ffc_dtype_t");
    if (desc->backend != FFC_BACKEND_AUTO && desc->backend != FFC_BACKEND_CPU && desc->backend != FFC_BACKEND_CUDA)
        ffc::fail(FFC_ERROR_INVALID_BACKEND, "backend = " + std::to_string(desc->backend) + " is not an ffc_backend_t");
    if (desc->layout != FFC_LAYOUT_BHL && desc->layout != FFC_LAYOUT_BLH)
        ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "layout = " + std::to_string(desc->layout) + " is not an ffc_layout_t");
    const int32_t k = desc->kernel_size;
    if (k < 1 || k > FFC_CONV1D_MAX_KERNEL_SIZE)
        ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "kernel_size = " + std::to_string(k) + " (must be 1 to " +
                                                  std::to_string(FFC_CONV1D_MAX_KERNEL_SIZE) + ")");
    if (desc->padding_left < 0 || desc->padding_left > k - 1)
        ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "padding_left = " + std::to_string(desc->padding_left) +
                                                  " (must be 0 to kernel_size - 1 = " + std::to_string(k - 1) + ")");
    if (desc->padding_right < 0 || desc->padding_right > k - 1)
        ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "padding_right = " + std::to_string(desc->padding_right) +
                                                  " (must be 0 to kernel_size - 1 = " + std::to_string(k - 1) + ")");
    if (desc->cpu_threads < 0) ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "cpu_threads must be >= 0");
}

}  // namespace

extern "C" {

ffc_status_t ffc_conv1d_plan_create(ffc_conv1d_plan_t *out, const ffc_conv1d_desc_t *desc) {
    if (out) *out = nullptr;
    return guarded([&] {
        require(out, "plan");
        validate_desc(desc);
        const ffc::api::ResolvedBackend resolved = ffc::api::resolve_backend(desc->backend, desc->device);

        auto plan = std::make_unique<ffc_conv1d_plan_s>();
        plan->dtype = ffc::DType(desc->dtype);
        plan->layout = ffc::conv1d::Layout(desc->layout);
        plan->kernel_size = desc->kernel_size;
        plan->pad_left = desc->padding_left;
        plan->pad_right = desc->padding_right;
        plan->backend = resolved.backend;
        plan->device = resolved.device;
        if (resolved.backend == ffc::Backend::cpu) {
            const int threads = desc->cpu_threads > 0 ? desc->cpu_threads : int(std::thread::hardware_concurrency());
            plan->cpu_threads = std::clamp(threads, 1, 16);
            plan->executor = ffc::conv1d::make_cpu_executor(plan->cpu_threads);
        } else {
#if FFC_WITH_CUDA
            plan->executor = ffc::conv1d::make_cuda_executor(resolved.device);
#endif
        }
        if (!plan->executor) ffc::fail(FFC_ERROR_INTERNAL, "no executor for the resolved backend");
        *out = plan.release();
    });
}

void ffc_conv1d_plan_destroy(ffc_conv1d_plan_t plan) {
    (void)guarded([&] { delete plan; });
}

ffc_status_t ffc_conv1d_plan_get_desc(ffc_conv1d_plan_t plan, ffc_conv1d_desc_t *desc) {
    return guarded([&] {
        require_plan(plan);
        require(desc, "desc");
        if (desc->magic != FFC_CONV1D_DESC_MAGIC || desc->version < 1 || desc->version > FFC_CONV1D_DESC_VERSION ||
            desc->struct_size != sizeof(ffc_conv1d_desc_t))
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc must be initialised with FFC_CONV1D_DESC_INIT");
        ffc_conv1d_desc_t d = FFC_CONV1D_DESC_INIT;
        d.dtype = int32_t(plan->dtype);
        d.backend = int32_t(plan->backend);
        d.device = plan->device;
        d.layout = int32_t(plan->layout);
        d.kernel_size = plan->kernel_size;
        d.padding_left = plan->pad_left;
        d.padding_right = plan->pad_right;
        d.cpu_threads = plan->cpu_threads;
        *desc = d;
    });
}

ffc_status_t ffc_conv1d_output_length(ffc_conv1d_plan_t plan, int64_t seq_len, int64_t *out_len) {
    return guarded([&] {
        require_plan(plan);
        require(out_len, "out_len");
        *out_len = output_length(plan, seq_len);
    });
}

ffc_status_t ffc_conv1d_get_workspace_size(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t *shape,
                                           size_t *workspace_size) {
    return guarded([&] {
        require_plan(plan);
        require(workspace_size, "workspace_size");
        const ffc::conv1d::Problem p = validate_shape(plan, shape);
        *workspace_size = plan->executor->workspace_size(p);
    });
}

ffc_status_t ffc_conv1d_forward(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t *shape, const void *x,
                                const float *weight, const float *bias, void *y, void *workspace,
                                size_t workspace_size, ffc_stream_t stream) {
    return guarded([&] {
        require_plan(plan);
        const ffc::conv1d::Problem p = validate_shape(plan, shape);
        const ffc::conv1d::Executor &exec = *plan->executor;
        const size_t es = ffc::dtype_size(p.dtype);
        check_tensor(exec, x, es, "x", true);
        check_tensor(exec, weight, sizeof(float), "weight", true);
        check_tensor(exec, bias, sizeof(float), "bias", false);
        check_tensor(exec, y, es, "y", true);
        const size_t need = check_workspace(plan, p, workspace, workspace_size);
        const size_t x_bytes = size_t(p.in_elements()) * es, y_bytes = size_t(p.out_elements()) * es;
        const size_t w_bytes = size_t(p.filter_elements()) * sizeof(float), b_bytes = size_t(p.channels) * sizeof(float);
        check_disjoint({{y, y_bytes, "y"}, {workspace, need, "workspace"}},
                       {{x, x_bytes, "x"}, {weight, w_bytes, "weight"}, {bias, b_bytes, "bias"}});
        ffc::conv1d::ForwardArgs a;
        a.problem = p;
        a.x = x;
        a.weight = weight;
        a.bias = bias;
        a.y = y;
        a.workspace = workspace;
        a.workspace_size = workspace_size;
        a.stream = stream;
        exec.forward(a);
    });
}

ffc_status_t ffc_conv1d_backward(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t *shape, const void *dy,
                                 const void *x, const float *weight, void *dx, float *dweight, float *dbias,
                                 void *workspace, size_t workspace_size, ffc_stream_t stream) {
    return guarded([&] {
        require_plan(plan);
        const ffc::conv1d::Problem p = validate_shape(plan, shape);
        const ffc::conv1d::Executor &exec = *plan->executor;
        const size_t es = ffc::dtype_size(p.dtype);
        // x feeds dweight only and weight feeds dx only: each is required exactly
        // when its output is wanted (and checked like any operand when passed anyway).
        check_tensor(exec, dy, es, "dy", true);
        check_tensor(exec, x, es, "x", dweight != nullptr);
        check_tensor(exec, weight, sizeof(float), "weight", dx != nullptr);
        check_tensor(exec, dx, es, "dx", false);
        check_tensor(exec, dweight, sizeof(float), "dweight", false);
        check_tensor(exec, dbias, sizeof(float), "dbias", false);
        const size_t need = check_workspace(plan, p, workspace, workspace_size);
        const size_t x_bytes = size_t(p.in_elements()) * es, y_bytes = size_t(p.out_elements()) * es;
        const size_t w_bytes = size_t(p.filter_elements()) * sizeof(float), b_bytes = size_t(p.channels) * sizeof(float);
        check_disjoint({{dx, x_bytes, "dx"}, {dweight, w_bytes, "dweight"}, {dbias, b_bytes, "dbias"},
                        {workspace, need, "workspace"}},
                       {{dy, y_bytes, "dy"}, {x, x_bytes, "x"}, {weight, w_bytes, "weight"}});
        if (!dx && !dweight && !dbias) return;  // nothing wanted
        ffc::conv1d::BackwardArgs a;
        a.problem = p;
        a.dy = dy;
        a.x = dweight ? x : nullptr;
        a.weight = dx ? weight : nullptr;
        a.dx = dx;
        a.dweight = dweight;
        a.dbias = dbias;
        a.workspace = workspace;
        a.workspace_size = workspace_size;
        a.stream = stream;
        exec.backward(a);
    });
}

}  // extern "C"
