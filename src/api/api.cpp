// The C entry points. Each one validates every argument before touching any
// output, runs inside the exception firewall (guarded()), and records a
// thread-local message on failure. Nothing but ffc_status_t crosses the ABI.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "api/api_common.hpp"
#include "common/executor.hpp"
#include "common/types.hpp"
#include "plan/planner.hpp"
#include "sparse/frequency_mask.hpp"
#if FFC_WITH_CUDA
#include "cuda/cuda_host.hpp"
#endif

// The descriptor's layout is ABI: lock it (the header documents LP64 only, and
// the bindings hard-code these numbers). Version 2 gave reserved[0]'s slot to
// force_kernel without moving anything else.
static_assert(sizeof(void *) == 8 && sizeof(size_t) == 8,
              "libflashfftconv's ABI is defined for LP64 targets only (see flashfftconv.h)");
static_assert(sizeof(ffc_plan_desc_t) == 128, "ffc_plan_desc_t must stay 128 bytes");
static_assert(offsetof(ffc_plan_desc_t, force_factors) == 40, "ffc_plan_desc_t layout changed");
static_assert(offsetof(ffc_plan_desc_t, cpu_threads) == 72, "ffc_plan_desc_t layout changed");
static_assert(offsetof(ffc_plan_desc_t, reserved0) == 76, "ffc_plan_desc_t layout changed");
static_assert(offsetof(ffc_plan_desc_t, force_kernel) == 80,
              "force_kernel must occupy version 1's reserved[0] slot");
static_assert(offsetof(ffc_plan_desc_t, freq_mask) == 88, "freq_mask must occupy version 2's reserved[0] slot");
static_assert(offsetof(ffc_plan_desc_t, freq_mask_len) == 96, "freq_mask_len must occupy version 2's reserved[1] slot");
static_assert(offsetof(ffc_plan_desc_t, reserved) == 104, "ffc_plan_desc_t layout changed");
static_assert(sizeof(ffc_plan_info_t) == 152, "ffc_plan_info_t must stay 152 bytes");

struct ffc_plan_s {
    ffc::plan::Decision decision;
    std::unique_ptr<ffc::Executor> executor;
    int device = -1;
    bool partial = false;  // FFC_PLAN_PARTIAL: causal linear convolution of any length
    std::string description;
};

namespace {

using ffc::api::check_disjoint;
using ffc::api::guarded;
using ffc::api::require;

void require_plan(const ffc_plan_s *plan) {
    if (!plan) ffc::fail(FFC_ERROR_NULL_POINTER, "plan is NULL");
}

ffc::Shape validate_shape(const ffc_plan_s *plan, const ffc_shape_t *s) {
    require(s, "shape");
    const int64_t n = int64_t(plan->decision.fft_size);
    auto positive = [](int64_t v, const char *what) {
        if (v < 1) ffc::fail(FFC_ERROR_INVALID_SHAPE, std::string(what) + " = " + std::to_string(v) + " (must be >= 1)");
    };
    positive(s->batch, "batch");
    positive(s->channels, "channels");
    positive(s->seq_len, "seq_len");
    positive(s->kernel_len, "kernel_len");
    if (!plan->partial && s->seq_len > n)
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "seq_len = " + std::to_string(s->seq_len) + " exceeds the FFT size " + std::to_string(n) +
                                               " (a plan created with FFC_PLAN_PARTIAL takes any seq_len)");
    if (s->kernel_len > n)
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "kernel_len = " + std::to_string(s->kernel_len) + " exceeds the FFT size " + std::to_string(n));
    // A partial plan runs overlap-save windows that keep N − r outputs each
    // (r = K − 1 rounded up to a multiple of 8)
    // as soon as the convolution would wrap; K ≤ N/2 keeps that above half a window.
    if (plan->partial && s->seq_len > n - s->kernel_len + 1 && s->kernel_len > n / 2)
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "kernel_len = " + std::to_string(s->kernel_len) + " exceeds N/2 = " +
                                               std::to_string(n / 2) + ", the longest kernel a partial plan of FFT size " +
                                               std::to_string(n) + " runs block-wise (seq_len = " + std::to_string(s->seq_len) +
                                               " needs blocks: seq_len + kernel_len - 1 > N)");
    // Element counts must fit in int64 with room to spare (byte offsets are computed in 64 bits).
    const int64_t limit = int64_t(1) << 60;
    if (s->batch > limit / s->channels || s->batch * s->channels > limit / s->seq_len)
        ffc::fail(FFC_ERROR_INVALID_SHAPE, "B*H*L overflows 64-bit indexing");
    return ffc::Shape{s->batch, s->channels, s->seq_len, s->kernel_len};
}

void check_workspace(const ffc_plan_s *plan, const ffc::Shape &shape, const void *ws, size_t ws_size) {
    ffc::api::check_workspace_buffer(ws, ws_size, plan->executor->workspace_size(shape),
                                     plan->decision.backend == ffc::Backend::cuda);
}

// A tensor operand: NULL-ness, alignment to its element size, and reachability by the backend.
void check_tensor(const ffc_plan_s *plan, const void *p, size_t elem, const char *name, bool required) {
    ffc::api::check_tensor(*plan->executor, p, elem, name, required);
}

std::vector<int> forced_factors(const ffc_plan_desc_t &d) {
    std::vector<int> f;
    bool ended = false;
    for (int i = 0; i < FFC_MAX_FACTORS; ++i) {
        if (d.force_factors[i] == 0) { ended = true; continue; }
        if (ended) ffc::fail(FFC_ERROR_INVALID_FLAGS, "force_factors has a nonzero entry after the terminating 0");
        f.push_back(int(d.force_factors[i]));
    }
    return f;
}

// The forced kernel name of a descriptor ("" when none). The read is bounded:
// at most FFC_MAX_KERNEL_NAME bytes, so an unterminated buffer is reported, not
// overrun (as long as that many bytes are readable).
std::string forced_kernel(const ffc_plan_desc_t &d) {
    if (d.version < 2 || !d.force_kernel) return {};  // version 1: the slot is reserved (checked zero)
    size_t len = 0;
    while (len < size_t(FFC_MAX_KERNEL_NAME) && d.force_kernel[len] != '\0') ++len;
    if (len == size_t(FFC_MAX_KERNEL_NAME))
        ffc::fail(FFC_ERROR_INVALID_FLAGS, "desc->force_kernel has no terminating NUL in its first " +
                                               std::to_string(FFC_MAX_KERNEL_NAME) +
                                               " bytes (kernel names are shorter; NULL lets the planner decide)");
    if (len == 0)
        ffc::fail(FFC_ERROR_INVALID_FLAGS, "desc->force_kernel is an empty string (NULL lets the planner decide)");
    return std::string(d.force_kernel, len);
}

// The filter of a backward: k, or (ffc_conv_backward_spectrum) its spectrum.
struct BackwardFilter {
    bool is_spectrum = false;
    const float *k = nullptr;
    const void *spectrum = nullptr;
    size_t spectrum_size = 0;
};

// ffc_conv_backward and ffc_conv_backward_spectrum: one validation (in the
// same order for both, the filter where k stands), then the executor.
void conv_backward(ffc_plan_t plan, const ffc_shape_t *shape, const void *dy, const void *u, const BackwardFilter &f,
                   const void *in_gate, const void *out_gate, void *du, float *dk, void *d_in_gate, void *d_out_gate,
                   void *workspace, size_t workspace_size, ffc_stream_t stream) {
    require_plan(plan);
    const ffc::Shape s = validate_shape(plan, shape);
    const size_t es = ffc::dtype_size(plan->decision.dtype);
    const bool given = f.is_spectrum;
    check_tensor(plan, dy, es, "dy", true);
    check_tensor(plan, u, es, "u", true);
    if (given) check_tensor(plan, f.spectrum, 16, "spectrum", true);
    else check_tensor(plan, f.k, sizeof(float), "k", true);
    check_tensor(plan, in_gate, es, "in_gate", false);
    check_tensor(plan, out_gate, es, "out_gate", false);
    check_tensor(plan, du, es, "du", false);
    check_tensor(plan, dk, sizeof(float), "dk", false);
    check_tensor(plan, d_in_gate, es, "d_in_gate", false);
    check_tensor(plan, d_out_gate, es, "d_out_gate", false);
    const size_t spectrum_bytes = given ? plan->executor->spectrum_size(s) : 0;
    if (given && f.spectrum_size < spectrum_bytes)
        ffc::fail(FFC_ERROR_BUFFER_TOO_SMALL,
                  "spectrum_size = " + std::to_string(f.spectrum_size) + ", needs " + std::to_string(spectrum_bytes));
    if (d_in_gate && !in_gate) ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "d_in_gate requested but in_gate is NULL");
    if (d_out_gate && !out_gate) ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "d_out_gate requested but out_gate is NULL");
    check_workspace(plan, s, workspace, workspace_size);
    const size_t tensor = size_t(s.elements()) * es, filter = size_t(s.filter_elements()) * sizeof(float);
    const ffc::api::Operand filter_operand =
        given ? ffc::api::Operand{f.spectrum, spectrum_bytes, "spectrum"} : ffc::api::Operand{f.k, filter, "k"};
    check_disjoint({{du, tensor, "du"}, {dk, filter, "dk"}, {d_in_gate, tensor, "d_in_gate"},
                    {d_out_gate, tensor, "d_out_gate"}, {workspace, plan->executor->workspace_size(s), "workspace"}},
                   {{dy, tensor, "dy"}, {u, tensor, "u"}, filter_operand, {in_gate, tensor, "in_gate"},
                    {out_gate, tensor, "out_gate"}});
    if (!du && !dk && !d_in_gate && !d_out_gate) return;  // nothing wanted
    ffc::BackwardArgs a;
    a.shape = s; a.dy = dy; a.u = u; a.k = f.k; a.spectrum = f.spectrum; a.in_gate = in_gate; a.out_gate = out_gate;
    a.du = du; a.dk = dk; a.d_in_gate = d_in_gate; a.d_out_gate = d_out_gate;
    a.workspace = workspace; a.workspace_size = workspace_size; a.stream = stream;
    plan->executor->backward(a);
}

}  // namespace

extern "C" {

const char *ffc_status_string(ffc_status_t status) {
    switch (status) {
    case FFC_SUCCESS: return "success";
    case FFC_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case FFC_ERROR_NULL_POINTER: return "a required pointer is NULL";
    case FFC_ERROR_INVALID_FFT_SIZE: return "FFT size is not a power of two in [256, 4194304]";
    case FFC_ERROR_INVALID_SHAPE: return "invalid shape";
    case FFC_ERROR_INVALID_DTYPE: return "unsupported data type";
    case FFC_ERROR_INVALID_DESCRIPTOR: return "invalid descriptor (struct_size, magic or version)";
    case FFC_ERROR_WORKSPACE_TOO_SMALL: return "workspace too small";
    case FFC_ERROR_BUFFER_TOO_SMALL: return "buffer too small";
    case FFC_ERROR_INVALID_BACKEND: return "invalid backend";
    case FFC_ERROR_INVALID_DEVICE: return "invalid CUDA device";
    case FFC_ERROR_INVALID_FLAGS: return "invalid flags, forced factorisation or forced kernel name";
    case FFC_ERROR_MISALIGNED_POINTER: return "misaligned pointer";
    case FFC_ERROR_INVALID_POINTER: return "pointer not accessible from the plan's device";
    case FFC_ERROR_NOT_SUPPORTED: return "not supported";
    case FFC_ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case FFC_ERROR_NO_KERNEL: return "no compiled kernel implements this plan on this device";
    case FFC_ERROR_CUDA: return "CUDA runtime error";
    case FFC_ERROR_OUT_OF_MEMORY: return "out of memory";
    case FFC_ERROR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

size_t ffc_last_error_message(char *buf, size_t buf_size) {
    const std::string &m = ffc::api::last_error();
    if (buf && buf_size > 0) {
        size_t n = std::min(m.size(), buf_size - 1);
        std::memcpy(buf, m.data(), n);
        buf[n] = '\0';
    }
    return m.size();
}

unsigned ffc_version_number(void) { return FFC_VERSION_NUMBER; }

const char *ffc_version_string(void) {
#define FFC_STR2(x) #x
#define FFC_STR(x) FFC_STR2(x)
    return FFC_STR(FFC_VERSION_MAJOR) "." FFC_STR(FFC_VERSION_MINOR) "." FFC_STR(FFC_VERSION_PATCH);
}

const char *ffc_build_info(void) {
    static const std::string info = [] {
        // FFC_CUDA_ARCHS is CMake's list ("80;90", "" without CUDA). Its entries
        // may carry suffixes ("90a", "80-real") or be keywords ("native"): only
        // their numbers are listed, so that the JSON stays valid.
        std::string sm;
        std::string entry;
        auto flush = [&] {
            std::string digits;
            for (char c : entry)
                if (c >= '0' && c <= '9') digits += c;
            if (!digits.empty()) sm += (sm.empty() ? "" : ",") + digits;
            entry.clear();
        };
        for (char c : std::string(FFC_CUDA_ARCHS) + ";") {
            if (c == ';') flush();
            else entry += c;
        }
        std::string s = "{\"version\":\"";
        s += ffc_version_string();
        s += "\",\"version_number\":" + std::to_string(FFC_VERSION_NUMBER);
        s += ",\"cuda\":";
        s += FFC_WITH_CUDA ? "true" : "false";
#if FFC_WITH_CUDA
        s += ",\"cuda_runtime\":\"" + ffc::cuda::runtime_version_string() + "\"";
        s += ",\"sm\":[" + sm + "]";
#else
        s += ",\"sm\":[]";
#endif
        s += ",\"kernels\":" + std::to_string(ffc::plan::kernels_compiled() ? ffc::plan::kernel_table().size() : 0);
        s += "}";
        return s;
    }();
    return info.c_str();
}

int ffc_backend_available(ffc_backend_t backend) {
    switch (backend) {
    case FFC_BACKEND_CPU: return 1;
    case FFC_BACKEND_AUTO: return 1;
    case FFC_BACKEND_CUDA:
#if FFC_WITH_CUDA
        try { return ffc::cuda::device_count() > 0 ? 1 : 0; } catch (...) { return 0; }
#else
        return 0;
#endif
    }
    return 0;
}

ffc_status_t ffc_plan_create(ffc_plan_t *out, const ffc_plan_desc_t *desc) {
    if (out) *out = nullptr;
    return guarded([&] {
        require(out, "plan");
        require(desc, "desc");
        // Versioned descriptor. Versions 1 to 3 have the same size: version 2 gave
        // the first reserved slot to force_kernel, version 3 the next two to
        // freq_mask and freq_mask_len, so an older descriptor (whose slots must
        // be zero) reads as "no forced kernel" and "dense".
        if (desc->magic != FFC_PLAN_DESC_MAGIC)
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->magic is wrong: initialise the descriptor with FFC_PLAN_DESC_INIT");
        if (desc->version < 1 || desc->version > FFC_PLAN_DESC_VERSION)
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->version = " + std::to_string(desc->version) + " is not supported by this library");
        if (desc->struct_size != sizeof(ffc_plan_desc_t))
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->struct_size = " + std::to_string(desc->struct_size) +
                                                        ", expected " + std::to_string(sizeof(ffc_plan_desc_t)));
        for (uint64_t r : desc->reserved)
            if (r) ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->reserved fields must be zero");
        if (desc->reserved0) ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->reserved0 must be zero");
        if (desc->reserved1) ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->reserved1 must be zero");
        if (desc->version < 3 && (desc->freq_mask || desc->freq_mask_len))
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->reserved fields must be zero (freq_mask or freq_mask_len is "
                                                    "set, but desc->version = " + std::to_string(desc->version) +
                                                    " predates them: they need version 3)");
        if (desc->version < 2 && desc->force_kernel)
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "desc->reserved fields must be zero (force_kernel is set, but "
                                                    "desc->version = " + std::to_string(desc->version) +
                                                    " predates it: it needs version 2)");

        const uint64_t n = desc->fft_size;
        if (!ffc::is_pow2(n) || n < FFC_MIN_FFT_SIZE || n > FFC_MAX_FFT_SIZE)
            ffc::fail(FFC_ERROR_INVALID_FFT_SIZE, "fft_size = " + std::to_string(n) +
                                                      " (must be a power of two from 256 to 4194304)");
        if (desc->dtype != FFC_DTYPE_FP32 && desc->dtype != FFC_DTYPE_FP16 && desc->dtype != FFC_DTYPE_BF16)
            ffc::fail(FFC_ERROR_INVALID_DTYPE, "dtype = " + std::to_string(desc->dtype) + " is not an ffc_dtype_t");
        if (desc->backend != FFC_BACKEND_AUTO && desc->backend != FFC_BACKEND_CPU && desc->backend != FFC_BACKEND_CUDA)
            ffc::fail(FFC_ERROR_INVALID_BACKEND, "backend = " + std::to_string(desc->backend) + " is not an ffc_backend_t");
        if (desc->flags & ~uint32_t(FFC_PLAN_PARTIAL))
            ffc::fail(FFC_ERROR_INVALID_FLAGS, "unknown flag bits 0x" + [&] { char b[16]; std::snprintf(b, sizeof b, "%x", desc->flags & ~uint32_t(FFC_PLAN_PARTIAL)); return std::string(b); }());
        if (desc->cpu_threads < 0) ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "cpu_threads must be >= 0");
        const std::vector<int> forced = forced_factors(*desc);
        const std::string kernel_name = forced_kernel(*desc);
        const ffc::DType dtype = ffc::DType(desc->dtype);
        const bool sparse = desc->freq_mask || desc->freq_mask_len;
        ffc::FrequencyMask freq_mask;
        if (sparse) {
            freq_mask = ffc::make_frequency_mask(desc->freq_mask, desc->freq_mask_len, n);
            if (desc->flags & FFC_PLAN_PARTIAL)
                ffc::fail(FFC_ERROR_NOT_SUPPORTED, "a frequency mask and FFC_PLAN_PARTIAL cannot be combined (the "
                                                   "masked filter spans all N taps, which overlap-save cannot window)");
        }

        const ffc::api::ResolvedBackend resolved = ffc::api::resolve_backend(desc->backend, desc->device);
        const ffc::Backend backend = resolved.backend;
        const int device = resolved.device;
        ffc::plan::DeviceCaps caps;
#if FFC_WITH_CUDA
        if (backend == ffc::Backend::cuda) caps = ffc::cuda::query_device_caps(device);
#endif
        if (backend == ffc::Backend::cpu) caps = ffc::plan::device_preset("cpu");
        // A partial plan's forward reads and writes its windows in place with a
        // one-CTA fused kernel (CudaExecutor::forward_windows) and copies them
        // for a cluster variant; up to 16K, where one-CTA variants exist, it
        // takes the best of those (H100: at 8K and 16K their convolution is at
        // most 14 % slower, the copies double the forward).
        if ((desc->flags & FFC_PLAN_PARTIAL) && n <= 16384 && forced.empty() && kernel_name.empty())
            caps.max_cluster = 1;

        auto plan = std::make_unique<ffc_plan_s>();
        plan->decision = ffc::plan::make_plan(n, dtype, backend, caps, forced, kernel_name);
        plan->device = device;
        if (backend == ffc::Backend::cpu) {
            int threads = desc->cpu_threads > 0 ? desc->cpu_threads : int(std::thread::hardware_concurrency());
            plan->executor = ffc::make_cpu_executor(plan->decision, std::clamp(threads, 1, 16));
        } else {
#if FFC_WITH_CUDA
            plan->executor = ffc::make_cuda_executor(plan->decision, device);
#endif
        }
        plan->description = ffc::plan::describe(plan->decision);
        if (sparse) {
            plan->executor->set_spectrum_mask(ffc::spectrum_layout_mask(*plan->executor, n, freq_mask));
            const size_t after_title = plan->description.find('\n') + 1;
            plan->description.insert(after_title, "  mode           frequency-sparse: " + freq_mask.str() +
                                                      "; bin f kept iff freq_mask[f mod " +
                                                      std::to_string(freq_mask.blocks) + "] != 0\n" +
                                                      plan->executor->sparsity_note());
        }
        if (desc->flags & FFC_PLAN_PARTIAL) {
            plan->partial = true;
            plan->executor = ffc::make_partial_executor(std::move(plan->executor), plan->decision);
            // After the title line, beside the plan's other facts.
            const size_t after_title = plan->description.find('\n') + 1;
            plan->description.insert(after_title,
                "  mode           partial (FFC_PLAN_PARTIAL): causal linear convolution of any seq_len; above\n"
                "                 seq_len + kernel_len - 1 = " + std::to_string(n) + ", overlap-save windows of N = " +
                std::to_string(n) + " overlapping by kernel_len - 1 rounded up to a multiple of 8 (kernel_len <= " + std::to_string(n / 2) + ");\n"
                "                 " + (backend == ffc::Backend::cuda && n <= 16384
                    ? "the forward, du and d_in_gate convolve them in place (a one-CTA kernel); dk and d_out_gate\n"
                      "                 copy them through the workspace\n"
                    : "they are copied through the workspace\n"));
        }
        *out = plan.release();
    });
}

void ffc_plan_destroy(ffc_plan_t plan) {
    (void)guarded([&] { delete plan; });
}

ffc_status_t ffc_plan_get_workspace_size(ffc_plan_t plan, const ffc_shape_t *shape, size_t *workspace_size) {
    return guarded([&] {
        require_plan(plan);
        require(workspace_size, "workspace_size");
        const ffc::Shape s = validate_shape(plan, shape);
        *workspace_size = plan->executor->workspace_size(s);
    });
}

ffc_status_t ffc_plan_describe(ffc_plan_t plan, char *buf, size_t buf_size, size_t *required) {
    return guarded([&] {
        require_plan(plan);
        const std::string &d = plan->description;
        if (required) *required = d.size() + 1;
        if (buf_size > 0) require(buf, "buf");
        if (buf_size < d.size() + 1)
            ffc::fail(FFC_ERROR_BUFFER_TOO_SMALL, "describe needs " + std::to_string(d.size() + 1) + " bytes, buf_size = " + std::to_string(buf_size));
        std::memcpy(buf, d.c_str(), d.size() + 1);
    });
}

ffc_status_t ffc_plan_get_info(ffc_plan_t plan, ffc_plan_info_t *info) {
    return guarded([&] {
        require_plan(plan);
        require(info, "info");
        if (info->magic != FFC_PLAN_INFO_MAGIC || info->version < 1 || info->version > FFC_PLAN_INFO_VERSION ||
            info->struct_size != sizeof(ffc_plan_info_t))
            ffc::fail(FFC_ERROR_INVALID_DESCRIPTOR, "info must be initialised with FFC_PLAN_INFO_INIT");
        const ffc::plan::Decision &d = plan->decision;
        ffc_plan_info_t r = FFC_PLAN_INFO_INIT;
        r.fft_size = d.fft_size;
        r.dtype = int32_t(d.dtype);
        r.backend = int32_t(d.backend);
        r.device = plan->device;
        r.num_factors = int32_t(d.chosen.factors.size());
        for (size_t i = 0; i < d.chosen.factors.size() && i < FFC_MAX_FACTORS; ++i) r.factors[i] = uint32_t(d.chosen.factors[i]);
        r.fused = d.chosen.path == ffc::plan::Path::fused ? 1 : 0;
        r.predicted_us_per_sequence = d.predicted_us_per_sequence();
        std::snprintf(r.kernel_name, sizeof r.kernel_name, "%s", d.chosen.name().c_str());
        *info = r;
    });
}

ffc_status_t ffc_conv_forward(ffc_plan_t plan, const ffc_shape_t *shape, const void *u, const float *k,
                              const void *in_gate, const void *out_gate, void *y, void *workspace,
                              size_t workspace_size, ffc_stream_t stream) {
    return guarded([&] {
        require_plan(plan);
        const ffc::Shape s = validate_shape(plan, shape);
        const size_t es = ffc::dtype_size(plan->decision.dtype);
        check_tensor(plan, u, es, "u", true);
        check_tensor(plan, k, sizeof(float), "k", true);
        check_tensor(plan, in_gate, es, "in_gate", false);
        check_tensor(plan, out_gate, es, "out_gate", false);
        check_tensor(plan, y, es, "y", true);
        if (plan->partial && y == u)
            ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "y == u: a partial plan has no in-place form (its overlapping "
                                                  "windows read u after earlier windows have written y)");
        check_workspace(plan, s, workspace, workspace_size);
        const size_t tensor = size_t(s.elements()) * es, filter = size_t(s.filter_elements()) * sizeof(float);
        check_disjoint({{y, tensor, "y"}, {workspace, plan->executor->workspace_size(s), "workspace"}},
                       {{u, tensor, "u"}, {k, filter, "k"}, {in_gate, tensor, "in_gate"}, {out_gate, tensor, "out_gate"}},
                       /*in_place=*/!plan->partial);
        ffc::ForwardArgs a;
        a.shape = s; a.u = u; a.k = k; a.in_gate = in_gate; a.out_gate = out_gate; a.y = y;
        a.workspace = workspace; a.workspace_size = workspace_size; a.stream = stream;
        plan->executor->forward(a);
    });
}

ffc_status_t ffc_conv_backward(ffc_plan_t plan, const ffc_shape_t *shape, const void *dy, const void *u,
                               const float *k, const void *in_gate, const void *out_gate, void *du, float *dk,
                               void *d_in_gate, void *d_out_gate, void *workspace, size_t workspace_size,
                               ffc_stream_t stream) {
    return guarded([&] {
        BackwardFilter f;
        f.k = k;
        conv_backward(plan, shape, dy, u, f, in_gate, out_gate, du, dk, d_in_gate, d_out_gate, workspace,
                      workspace_size, stream);
    });
}

ffc_status_t ffc_conv_backward_spectrum(ffc_plan_t plan, const ffc_shape_t *shape, const void *dy, const void *u,
                                        const void *spectrum, size_t spectrum_size, const void *in_gate,
                                        const void *out_gate, void *du, float *dk, void *d_in_gate, void *d_out_gate,
                                        void *workspace, size_t workspace_size, ffc_stream_t stream) {
    return guarded([&] {
        BackwardFilter f;
        f.is_spectrum = true;
        f.spectrum = spectrum;
        f.spectrum_size = spectrum_size;
        conv_backward(plan, shape, dy, u, f, in_gate, out_gate, du, dk, d_in_gate, d_out_gate, workspace,
                      workspace_size, stream);
    });
}

ffc_status_t ffc_kernel_spectrum_get_size(ffc_plan_t plan, const ffc_shape_t *shape, size_t *spectrum_size) {
    return guarded([&] {
        require_plan(plan);
        require(spectrum_size, "spectrum_size");
        *spectrum_size = plan->executor->spectrum_size(validate_shape(plan, shape));
    });
}

ffc_status_t ffc_kernel_spectrum_compute(ffc_plan_t plan, const ffc_shape_t *shape, const float *k, void *spectrum,
                                         size_t spectrum_size, ffc_stream_t stream) {
    return guarded([&] {
        require_plan(plan);
        const ffc::Shape s = validate_shape(plan, shape);
        check_tensor(plan, k, sizeof(float), "k", true);
        check_tensor(plan, spectrum, 16, "spectrum", true);
        const size_t need = plan->executor->spectrum_size(s);
        if (spectrum_size < need)
            ffc::fail(FFC_ERROR_BUFFER_TOO_SMALL, "spectrum_size = " + std::to_string(spectrum_size) + ", needs " + std::to_string(need));
        check_disjoint({{spectrum, need, "spectrum"}}, {{k, size_t(s.filter_elements()) * sizeof(float), "k"}});
        ffc::SpectrumArgs a;
        a.shape = s; a.k = k; a.spectrum = spectrum; a.stream = stream;
        plan->executor->compute_spectrum(a);
    });
}

ffc_status_t ffc_conv_forward_spectrum(ffc_plan_t plan, const ffc_shape_t *shape, const void *u, const void *spectrum,
                                       size_t spectrum_size, const void *in_gate, const void *out_gate, void *y,
                                       void *workspace, size_t workspace_size, ffc_stream_t stream) {
    return guarded([&] {
        require_plan(plan);
        const ffc::Shape s = validate_shape(plan, shape);
        const size_t es = ffc::dtype_size(plan->decision.dtype);
        check_tensor(plan, u, es, "u", true);
        check_tensor(plan, spectrum, 16, "spectrum", true);
        check_tensor(plan, in_gate, es, "in_gate", false);
        check_tensor(plan, out_gate, es, "out_gate", false);
        check_tensor(plan, y, es, "y", true);
        const size_t need = plan->executor->spectrum_size(s);
        if (spectrum_size < need)
            ffc::fail(FFC_ERROR_BUFFER_TOO_SMALL, "spectrum_size = " + std::to_string(spectrum_size) + ", needs " + std::to_string(need));
        if (plan->partial && y == u)
            ffc::fail(FFC_ERROR_INVALID_ARGUMENT, "y == u: a partial plan has no in-place form (its overlapping "
                                                  "windows read u after earlier windows have written y)");
        check_workspace(plan, s, workspace, workspace_size);
        const size_t tensor = size_t(s.elements()) * es;
        check_disjoint({{y, tensor, "y"}, {workspace, plan->executor->workspace_size(s), "workspace"}},
                       {{u, tensor, "u"}, {spectrum, need, "spectrum"}, {in_gate, tensor, "in_gate"},
                        {out_gate, tensor, "out_gate"}},
                       /*in_place=*/!plan->partial);
        ffc::ForwardArgs a;
        a.shape = s; a.u = u; a.spectrum = spectrum; a.in_gate = in_gate; a.out_gate = out_gate; a.y = y;
        a.workspace = workspace; a.workspace_size = workspace_size; a.stream = stream;
        plan->executor->forward(a);
    });
}

}  // extern "C"
