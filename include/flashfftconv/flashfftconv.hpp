/*
 * libflashfftconv — header-only C++17 wrapper over the C ABI.
 *
 * Everything here is inline and calls only the exported ffc_* functions, so a
 * program built against this header depends on nothing but the stable C ABI of
 * libflashfftconv.so (no C++ symbols cross the library boundary).
 */
#ifndef FLASHFFTCONV_HPP
#define FLASHFFTCONV_HPP

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "flashfftconv/flashfftconv.h"

/**
 * @file flashfftconv.hpp
 * @brief Header-only C++17 RAII wrapper over the C API in flashfftconv.h.
 *
 * Failures become exceptions of type flashfftconv::Error carrying the status
 * code and the library's detail message; plans are owned by the move-only
 * flashfftconv::Plan (FFT convolutions) and flashfftconv::Conv1dPlan (short
 * depthwise convolutions), which destroy their handles in the destructor.
 *
 * @code
 * flashfftconv::Plan plan(flashfftconv::PlanDesc()
 *                             .fft_size(2048)
 *                             .dtype(flashfftconv::DType::fp32)
 *                             .backend(flashfftconv::Backend::cpu));
 * flashfftconv::Shape shape{B, H, L, K};
 * plan.forward(shape, u, k, in_gate, out_gate, y);   // CPU: workspace allocated for you
 * @endcode
 */

/** @brief C++ interface of libflashfftconv. */
namespace flashfftconv {

/** @brief Element type of u, the gates, y and their gradients (k and dk are always fp32). */
enum class DType : int32_t {
    fp32 = FFC_DTYPE_FP32, /**< IEEE single precision. */
    fp16 = FFC_DTYPE_FP16, /**< IEEE half precision. */
    bf16 = FFC_DTYPE_BF16  /**< bfloat16. */
};

/** @brief Where a plan executes. */
enum class Backend : int32_t {
    automatic = FFC_BACKEND_AUTO, /**< CUDA if compiled in and a device exists, else CPU. */
    cpu = FFC_BACKEND_CPU,        /**< Host memory; the reference backend. */
    cuda = FFC_BACKEND_CUDA       /**< Device memory, tensor cores. */
};

/** @brief Bytes of one element of @p dtype. */
inline std::size_t dtype_size(DType dtype) noexcept { return dtype == DType::fp32 ? 4u : 2u; }

/**
 * @brief Copies the calling thread's last error message out of the library.
 *
 * The message is thread-local inside the library, so this must be called on
 * the thread that made the failing call, before any other library call.
 */
inline std::string last_error_message() {
    const std::size_t n = ffc_last_error_message(nullptr, 0);
    std::string msg(n, '\0');
    if (n > 0) ffc_last_error_message(&msg[0], n + 1);  // writes n chars + NUL into n+1 bytes
    return msg;
}

/**
 * @brief The exception thrown by every wrapper function when the library
 * returns a status other than FFC_SUCCESS.
 */
class Error : public std::runtime_error {
public:
    /**
     * @brief Builds an error from a status and the library's detail message.
     * @param status  the status the library returned.
     * @param message the detail message (may be empty).
     */
    Error(ffc_status_t status, std::string message)
        : std::runtime_error(format(status, message)), status_(status), message_(std::move(message)) {}

    /** @brief The status code the library returned. */
    ffc_status_t status() const noexcept { return status_; }

    /** @brief The library's detail message, without the status prefix that what() adds. */
    const std::string &message() const noexcept { return message_; }

private:
    static std::string format(ffc_status_t status, const std::string &message) {
        std::string s = "flashfftconv: ";
        s += ffc_status_string(status);
        s += " (" + std::to_string(int(status)) + ")";
        if (!message.empty()) s += ": " + message;
        return s;
    }

    ffc_status_t status_;
    std::string message_;
};

/**
 * @brief Throws flashfftconv::Error unless @p status is FFC_SUCCESS.
 *
 * The message is read immediately, on this thread, because the library keeps
 * it per thread and the next call clears it.
 * @param status a status returned by an ffc_* function.
 */
inline void check(ffc_status_t status) {
    if (status != FFC_SUCCESS) throw Error(status, last_error_message());
}

/** @brief Version of the loaded library as MAJOR·10000 + MINOR·100 + PATCH. */
inline unsigned version_number() noexcept { return ffc_version_number(); }

/** @brief Version of the loaded library as "MAJOR.MINOR.PATCH". */
inline std::string version_string() { return ffc_version_string(); }

/** @brief Build information of the loaded library as a JSON object. */
inline std::string build_info() { return ffc_build_info(); }

/** @brief Whether @p backend can run in this process. */
inline bool backend_available(Backend backend) noexcept {
    return ffc_backend_available(static_cast<ffc_backend_t>(backend)) != 0;
}

/**
 * @brief Problem shape of one call: u, the gates and y are (batch, channels,
 * seq_len); k is (channels, kernel_len).
 */
struct Shape {
    int64_t batch = 1;      /**< B: any value ≥ 1. */
    int64_t channels = 1;   /**< H. */
    int64_t seq_len = 1;    /**< L ≤ N. */
    int64_t kernel_len = 1; /**< K ≤ N. */

    /** @brief The equivalent C struct. */
    ffc_shape_t c_shape() const noexcept { return ffc_shape_t{batch, channels, seq_len, kernel_len}; }

    /** @brief Elements of u (and of y and each gate): B·H·L. */
    int64_t signal_elements() const noexcept { return batch * channels * seq_len; }

    /** @brief Elements of k (and of dk): H·K. */
    int64_t kernel_elements() const noexcept { return channels * kernel_len; }
};

/**
 * @brief Builder for ::ffc_plan_desc_t. Starts from ::FFC_PLAN_DESC_INIT
 * (fp16, automatic backend, current device); each setter returns *this.
 */
class PlanDesc {
public:
    /** @brief A descriptor initialised with ::FFC_PLAN_DESC_INIT. */
    PlanDesc() noexcept : desc_(FFC_PLAN_DESC_INIT) {}

    /** @brief Copies the descriptor (the copy owns its own force_kernel string and frequency mask). @param o the source. */
    PlanDesc(const PlanDesc &o) : desc_(o.desc_), kernel_(o.kernel_), mask_(o.mask_) { repoint(); }

    /** @brief Moves the descriptor. @param o the source. */
    PlanDesc(PlanDesc &&o) noexcept : desc_(o.desc_), kernel_(std::move(o.kernel_)), mask_(std::move(o.mask_)) {
        repoint();
    }

    /** @brief Copy-assigns. @param o the source. @return *this. */
    PlanDesc &operator=(const PlanDesc &o) {
        if (this != &o) { desc_ = o.desc_; kernel_ = o.kernel_; mask_ = o.mask_; repoint(); }
        return *this;
    }

    /** @brief Move-assigns. @param o the source. @return *this. */
    PlanDesc &operator=(PlanDesc &&o) noexcept {
        if (this != &o) { desc_ = o.desc_; kernel_ = std::move(o.kernel_); mask_ = std::move(o.mask_); repoint(); }
        return *this;
    }

    /** @brief Sets the FFT size N. @param n a power of two in [256, 4194304]. @return *this. */
    PlanDesc &fft_size(uint64_t n) noexcept { desc_.fft_size = n; return *this; }

    /** @brief Sets the I/O data type. @param t the element type of u, gates and y. @return *this. */
    PlanDesc &dtype(DType t) noexcept { desc_.dtype = static_cast<int32_t>(t); return *this; }

    /** @brief Sets the backend. @param b where the plan executes. @return *this. */
    PlanDesc &backend(Backend b) noexcept { desc_.backend = static_cast<int32_t>(b); return *this; }

    /** @brief Sets the CUDA device. @param ordinal device ordinal, −1 for the current device. @return *this. */
    PlanDesc &device(int32_t ordinal) noexcept { desc_.device = ordinal; return *this; }

    /** @brief Sets the CPU worker threads. @param n threads, 0 for hardware concurrency. @return *this. */
    PlanDesc &cpu_threads(int32_t n) noexcept { desc_.cpu_threads = n; return *this; }

    /** @brief Sets the raw plan flags. @param f a bitwise OR of FFC_PLAN_* flags. @return *this. */
    PlanDesc &flags(uint32_t f) noexcept { desc_.flags = f; return *this; }

    /**
     * @brief Makes the plan a partial convolution (::FFC_PLAN_PARTIAL): causal
     * linear convolution of any seq_len by overlap-save windows of N.
     * @param on set or clear the flag. @return *this.
     */
    PlanDesc &partial(bool on = true) noexcept {
        desc_.flags = on ? (desc_.flags | FFC_PLAN_PARTIAL) : (desc_.flags & ~uint32_t(FFC_PLAN_PARTIAL));
        return *this;
    }

    /**
     * @brief Forces a Monarch factorisation, outermost factor first.
     * @param factors the factors (empty: the planner decides); at most ::FFC_MAX_FACTORS.
     * @return *this.
     * @throws Error with FFC_ERROR_INVALID_FLAGS for more than ::FFC_MAX_FACTORS factors,
     *         which the descriptor cannot represent.
     */
    PlanDesc &force_factors(std::initializer_list<uint32_t> factors) {
        return force_factors(factors.begin(), factors.size());
    }

    /** @brief As force_factors(std::initializer_list<uint32_t>). @param factors the factors. @return *this. */
    PlanDesc &force_factors(const std::vector<uint32_t> &factors) {
        return force_factors(factors.data(), factors.size());
    }

    /**
     * @brief Forces one compiled candidate by its kernel name, as ffc_plan_describe()
     * lists it in the candidate table's "kernel" column (see ffc_plan_desc_t::force_kernel).
     * @param name the kernel name; empty: the planner decides. The descriptor keeps a copy.
     * @return *this.
     */
    PlanDesc &force_kernel(const std::string &name) {
        kernel_ = name;
        repoint();
        return *this;
    }

    /**
     * @brief Makes the plan frequency-sparse (see ffc_plan_desc_t::freq_mask):
     * spectrum bin f is kept when mask[f mod G] is nonzero, G = mask.size().
     * @param mask G entries, G a power of two from 1 to N, symmetric
     *        (mask[j] and mask[(G − j) mod G] both zero or both nonzero);
     *        empty: the dense convolution. The descriptor keeps a copy.
     * @return *this.
     */
    PlanDesc &frequency_mask(const std::vector<uint8_t> &mask) {
        mask_ = mask;
        repoint();
        return *this;
    }

    /** @brief The C descriptor, ready for ffc_plan_create() (valid while this object lives unchanged). */
    const ffc_plan_desc_t &c_desc() const noexcept { return desc_; }

private:
    // desc_.force_kernel points into kernel_ (NULL when it is empty), desc_.freq_mask into mask_.
    void repoint() noexcept {
        desc_.force_kernel = kernel_.empty() ? nullptr : kernel_.c_str();
        desc_.freq_mask = mask_.empty() ? nullptr : mask_.data();
        desc_.freq_mask_len = uint32_t(mask_.size());
    }

    PlanDesc &force_factors(const uint32_t *f, std::size_t n) {
        if (n > std::size_t(FFC_MAX_FACTORS))
            throw Error(FFC_ERROR_INVALID_FLAGS, std::to_string(n) + " forced factors, at most " +
                                                     std::to_string(FFC_MAX_FACTORS) + " fit in the descriptor");
        for (int i = 0; i < FFC_MAX_FACTORS; ++i) desc_.force_factors[i] = 0;  // 0 terminates the list
        for (std::size_t i = 0; i < n; ++i) desc_.force_factors[i] = f[i];
        return *this;
    }

    ffc_plan_desc_t desc_;
    std::string kernel_;
    std::vector<uint8_t> mask_;
};

/** @brief What a plan resolved to (the C++ form of ::ffc_plan_info_t). */
struct PlanInfo {
    uint64_t fft_size = 0;                   /**< N. */
    DType dtype = DType::fp16;               /**< I/O data type. */
    Backend backend = Backend::cpu;          /**< Resolved backend (never automatic). */
    int32_t device = -1;                     /**< CUDA device ordinal, −1 for CPU. */
    std::vector<uint32_t> factors;           /**< Monarch factorisation, outermost first. */
    bool fused = false;                      /**< Whether one kernel does the whole convolution. */
    double predicted_us_per_sequence = 0.0;  /**< Cost-model time per (batch, channel) sequence, µs. */
    std::string kernel_name;                 /**< The chosen kernel variant. */
};

/**
 * @brief An owned plan handle. Move-only; the destructor calls ffc_plan_destroy().
 *
 * A plan is immutable: any number of threads may call the const execute
 * methods concurrently, provided each call has its own workspace and outputs.
 * Destroying or moving a plan must not race with its other uses.
 */
class Plan {
public:
    /** @brief An empty plan (holds no handle); only assignment and destruction are valid. */
    Plan() noexcept = default;

    /** @brief Creates a plan. @param desc the descriptor. @throws Error on failure. */
    explicit Plan(const PlanDesc &desc) {
        check(ffc_plan_create(&plan_, &desc.c_desc()));
        try {
            backend_ = query_backend();
        } catch (...) {  // a constructor that throws runs no destructor: release the handle here
            ffc_plan_destroy(std::exchange(plan_, nullptr));
            throw;
        }
    }

    /**
     * @brief Creates a plan from the three fields most callers set.
     * @param fft_size N. @param dtype I/O data type. @param backend where it executes.
     * @throws Error on failure.
     */
    Plan(uint64_t fft_size, DType dtype, Backend backend = Backend::automatic)
        : Plan(PlanDesc().fft_size(fft_size).dtype(dtype).backend(backend)) {}

    /** @brief Destroys the handle (if any). */
    ~Plan() { ffc_plan_destroy(plan_); }

    Plan(const Plan &) = delete;             /**< Plans are not copyable. */
    Plan &operator=(const Plan &) = delete;  /**< Plans are not copyable. */

    /** @brief Takes over @p other's handle, leaving @p other empty. @param other the source. */
    Plan(Plan &&other) noexcept
        : plan_(std::exchange(other.plan_, nullptr)), backend_(other.backend_) {}

    /** @brief Destroys the current handle and takes over @p other's. @param other the source. @return *this. */
    Plan &operator=(Plan &&other) noexcept {
        if (this != &other) {
            ffc_plan_destroy(plan_);
            plan_ = std::exchange(other.plan_, nullptr);
            backend_ = other.backend_;
        }
        return *this;
    }

    /** @brief Whether this object holds a handle. */
    explicit operator bool() const noexcept { return plan_ != nullptr; }

    /** @brief The raw handle, still owned by this object. */
    ffc_plan_t get() const noexcept { return plan_; }

    /** @brief Gives up ownership: returns the handle and leaves this object empty. */
    ffc_plan_t release() noexcept { return std::exchange(plan_, nullptr); }

    /** @brief The resolved backend (cpu or cuda). */
    Backend backend() const noexcept { return backend_; }

    /** @brief Workspace bytes forward() and backward() need for @p shape. @param shape the call's shape. */
    std::size_t workspace_size(const Shape &shape) const {
        const ffc_shape_t s = shape.c_shape();
        std::size_t bytes = 0;
        check(ffc_plan_get_workspace_size(plan_, &s, &bytes));
        return bytes;
    }

    /** @brief Human-readable description of the planner's decision. */
    std::string describe() const {
        std::size_t need = 0;
        const ffc_status_t q = ffc_plan_describe(plan_, nullptr, 0, &need);
        if (q != FFC_ERROR_BUFFER_TOO_SMALL) check(q);  // a size query reports BUFFER_TOO_SMALL by design
        std::string text(need, '\0');
        check(ffc_plan_describe(plan_, &text[0], text.size(), &need));
        text.resize(need > 0 ? need - 1 : 0);  // drop the NUL the library wrote
        return text;
    }

    /** @brief What the plan resolved to. */
    PlanInfo info() const {
        ffc_plan_info_t c = FFC_PLAN_INFO_INIT;
        check(ffc_plan_get_info(plan_, &c));
        PlanInfo r;
        r.fft_size = c.fft_size;
        r.dtype = static_cast<DType>(c.dtype);
        r.backend = static_cast<Backend>(c.backend);
        r.device = c.device;
        for (int32_t i = 0; i < c.num_factors && i < FFC_MAX_FACTORS; ++i) r.factors.push_back(c.factors[i]);
        r.fused = c.fused != 0;
        r.predicted_us_per_sequence = c.predicted_us_per_sequence;
        r.kernel_name = c.kernel_name;  // NUL-terminated by the library
        return r;
    }

    /**
     * @brief y = out_gate ⊙ conv(in_gate ⊙ u, k) with a caller-provided workspace
     * (host memory for CPU plans, device memory for CUDA plans).
     *
     * @param shape     B, H, L, K.
     * @param u         (B, H, L) input in the plan's dtype.
     * @param k         (H, K) fp32 filter.
     * @param in_gate   (B, H, L) or nullptr.
     * @param out_gate  (B, H, L) or nullptr.
     * @param y         (B, H, L) output; may equal @p u.
     * @param workspace at least workspace_size(shape) bytes.
     * @param workspace_size its size in bytes.
     * @param stream    CUDA stream (ignored by the CPU backend).
     * @throws Error on failure (nothing is written then).
     */
    void forward(const Shape &shape, const void *u, const float *k, const void *in_gate, const void *out_gate,
                 void *y, void *workspace, std::size_t workspace_size, ffc_stream_t stream = nullptr) const {
        const ffc_shape_t s = shape.c_shape();
        check(ffc_conv_forward(plan_, &s, u, k, in_gate, out_gate, y, workspace, workspace_size, stream));
    }

    /**
     * @brief As the other forward(), allocating a host workspace for the call.
     * Only for CPU plans: a CUDA plan needs device workspace.
     *
     * @param shape B, H, L, K. @param u input. @param k filter. @param in_gate gate or nullptr.
     * @param out_gate gate or nullptr. @param y output.
     * @throws Error with FFC_ERROR_INVALID_ARGUMENT for a CUDA plan, or the library's error.
     */
    void forward(const Shape &shape, const void *u, const float *k, const void *in_gate, const void *out_gate,
                 void *y) const {
        std::vector<unsigned char> ws = host_workspace(shape);
        forward(shape, u, k, in_gate, out_gate, y, ws.data(), ws.size());
    }

    /**
     * @brief Gradients of forward(); every output may be nullptr (not wanted).
     *
     * @param shape      B, H, L, K.
     * @param dy         (B, H, L) upstream gradient.
     * @param u          forward input.
     * @param k          forward filter (fp32).
     * @param in_gate    forward in_gate or nullptr.
     * @param out_gate   forward out_gate or nullptr.
     * @param du         (B, H, L) or nullptr.
     * @param dk         (H, K) fp32 or nullptr; overwritten, deterministic.
     * @param d_in_gate  (B, H, L) or nullptr (must be nullptr without in_gate).
     * @param d_out_gate (B, H, L) or nullptr (must be nullptr without out_gate).
     * @param workspace  at least workspace_size(shape) bytes.
     * @param workspace_size its size in bytes.
     * @param stream     CUDA stream (ignored by the CPU backend).
     * @throws Error on failure.
     */
    void backward(const Shape &shape, const void *dy, const void *u, const float *k, const void *in_gate,
                  const void *out_gate, void *du, float *dk, void *d_in_gate, void *d_out_gate, void *workspace,
                  std::size_t workspace_size, ffc_stream_t stream = nullptr) const {
        const ffc_shape_t s = shape.c_shape();
        check(ffc_conv_backward(plan_, &s, dy, u, k, in_gate, out_gate, du, dk, d_in_gate, d_out_gate, workspace,
                                workspace_size, stream));
    }

    /**
     * @brief As the other backward(), allocating a host workspace (CPU plans only).
     *
     * @param shape B, H, L, K. @param dy upstream gradient. @param u input. @param k filter.
     * @param in_gate gate or nullptr. @param out_gate gate or nullptr. @param du or nullptr.
     * @param dk or nullptr. @param d_in_gate or nullptr. @param d_out_gate or nullptr.
     * @throws Error with FFC_ERROR_INVALID_ARGUMENT for a CUDA plan, or the library's error.
     */
    void backward(const Shape &shape, const void *dy, const void *u, const float *k, const void *in_gate,
                  const void *out_gate, void *du, float *dk, void *d_in_gate, void *d_out_gate) const {
        std::vector<unsigned char> ws = host_workspace(shape);
        backward(shape, dy, u, k, in_gate, out_gate, du, dk, d_in_gate, d_out_gate, ws.data(), ws.size());
    }

    /** @brief Bytes of the precomputed spectrum of an (H, K) filter. @param shape the call's shape. */
    std::size_t spectrum_size(const Shape &shape) const {
        const ffc_shape_t s = shape.c_shape();
        std::size_t bytes = 0;
        check(ffc_kernel_spectrum_get_size(plan_, &s, &bytes));
        return bytes;
    }

    /**
     * @brief Computes the spectrum of @p k for forward_spectrum() and backward_spectrum().
     * @param shape B, H, L, K. @param k (H, K) fp32 filter.
     * @param spectrum output buffer (host for CPU plans, device for CUDA; 16-byte aligned).
     * @param spectrum_size its size in bytes. @param stream CUDA stream.
     * @throws Error on failure.
     */
    void compute_spectrum(const Shape &shape, const float *k, void *spectrum, std::size_t spectrum_size,
                          ffc_stream_t stream = nullptr) const {
        const ffc_shape_t s = shape.c_shape();
        check(ffc_kernel_spectrum_compute(plan_, &s, k, spectrum, spectrum_size, stream));
    }

    /**
     * @brief forward() reusing a spectrum from compute_spectrum().
     * @param shape B, H, L, K. @param u input. @param spectrum the spectrum.
     * @param spectrum_size its size in bytes. @param in_gate gate or nullptr.
     * @param out_gate gate or nullptr. @param y output. @param workspace workspace.
     * @param workspace_size its size in bytes. @param stream CUDA stream.
     * @throws Error on failure.
     */
    void forward_spectrum(const Shape &shape, const void *u, const void *spectrum, std::size_t spectrum_size,
                          const void *in_gate, const void *out_gate, void *y, void *workspace,
                          std::size_t workspace_size, ffc_stream_t stream = nullptr) const {
        const ffc_shape_t s = shape.c_shape();
        check(ffc_conv_forward_spectrum(plan_, &s, u, spectrum, spectrum_size, in_gate, out_gate, y, workspace,
                                        workspace_size, stream));
    }

    /**
     * @brief backward() reusing a spectrum from compute_spectrum() (no transform of k).
     * @param shape B, H, L, K. @param dy upstream gradient. @param u input.
     * @param spectrum the spectrum. @param spectrum_size its size in bytes.
     * @param in_gate gate or nullptr. @param out_gate gate or nullptr. @param du or nullptr.
     * @param dk or nullptr. @param d_in_gate or nullptr. @param d_out_gate or nullptr.
     * @param workspace workspace. @param workspace_size its size in bytes. @param stream CUDA stream.
     * @throws Error on failure.
     */
    void backward_spectrum(const Shape &shape, const void *dy, const void *u, const void *spectrum,
                           std::size_t spectrum_size, const void *in_gate, const void *out_gate, void *du, float *dk,
                           void *d_in_gate, void *d_out_gate, void *workspace, std::size_t workspace_size,
                           ffc_stream_t stream = nullptr) const {
        const ffc_shape_t s = shape.c_shape();
        check(ffc_conv_backward_spectrum(plan_, &s, dy, u, spectrum, spectrum_size, in_gate, out_gate, du, dk,
                                         d_in_gate, d_out_gate, workspace, workspace_size, stream));
    }

private:
    Backend query_backend() const {
        ffc_plan_info_t c = FFC_PLAN_INFO_INIT;
        check(ffc_plan_get_info(plan_, &c));
        return static_cast<Backend>(c.backend);
    }

    std::vector<unsigned char> host_workspace(const Shape &shape) const {
        // A host buffer handed to a CUDA plan would only fail later with a less helpful message.
        if (plan_ && backend_ != Backend::cpu)
            throw Error(FFC_ERROR_INVALID_ARGUMENT,
                        "this overload allocates host workspace and needs a CPU plan; pass device workspace "
                        "to the overload that takes one");
        return std::vector<unsigned char>(workspace_size(shape));
    }

    ffc_plan_t plan_ = nullptr;
    Backend backend_ = Backend::cpu;
};

// ---------------------------------------------------------------------------
// Short depthwise convolution (ffc_conv1d_*)
// ---------------------------------------------------------------------------

/** @brief Memory layout of the short convolution's (batch, channels, length) tensors. */
enum class Layout : int32_t {
    bhl = FFC_LAYOUT_BHL, /**< (B, H, L): each channel's sequence contiguous (PyTorch's Conv1d). */
    blh = FFC_LAYOUT_BLH  /**< (B, L, H): channels innermost. */
};

/**
 * @brief Shape of one short-convolution call: x and dx are (batch, channels,
 * seq_len) in the plan's layout, y and dy are seq_len = L_out long.
 */
struct Conv1dShape {
    int64_t batch = 1;    /**< B ≥ 1. */
    int64_t channels = 1; /**< H ≥ 1: one filter each. */
    int64_t seq_len = 1;  /**< L ≥ 1, with L_out ≥ 1. */

    /** @brief The equivalent C struct. */
    ffc_conv1d_shape_t c_shape() const noexcept { return ffc_conv1d_shape_t{batch, channels, seq_len}; }

    /** @brief Elements of x (and of dx): B·H·L. */
    int64_t input_elements() const noexcept { return batch * channels * seq_len; }
};

/**
 * @brief Builder for ::ffc_conv1d_desc_t. Starts from ::FFC_CONV1D_DESC_INIT
 * (fp16, (B, H, L), automatic backend, K = 3, causal padding); each setter
 * returns *this. Note that kernel_size() does not change the padding: set it
 * with padding(), causal(), same() or valid() afterwards.
 *
 * @code
 * flashfftconv::Conv1dPlan conv(flashfftconv::Conv1dDesc()
 *                                   .dtype(flashfftconv::DType::bf16)
 *                                   .layout(flashfftconv::Layout::blh)
 *                                   .kernel_size(4)
 *                                   .causal());
 * conv.forward(flashfftconv::Conv1dShape{B, H, L}, x, weight, bias, y, workspace, ws_size, stream);
 * @endcode
 */
class Conv1dDesc {
public:
    /** @brief A descriptor initialised with ::FFC_CONV1D_DESC_INIT. */
    Conv1dDesc() noexcept : desc_(FFC_CONV1D_DESC_INIT) {}

    /** @brief Sets the I/O data type of x, y, dy and dx. @param t the type. @return *this. */
    Conv1dDesc &dtype(DType t) noexcept { desc_.dtype = static_cast<int32_t>(t); return *this; }

    /** @brief Sets the backend. @param b where the plan executes. @return *this. */
    Conv1dDesc &backend(Backend b) noexcept { desc_.backend = static_cast<int32_t>(b); return *this; }

    /** @brief Sets the CUDA device. @param ordinal device ordinal, −1 for the current device. @return *this. */
    Conv1dDesc &device(int32_t ordinal) noexcept { desc_.device = ordinal; return *this; }

    /** @brief Sets the tensor layout. @param l (B, H, L) or (B, L, H). @return *this. */
    Conv1dDesc &layout(Layout l) noexcept { desc_.layout = static_cast<int32_t>(l); return *this; }

    /** @brief Sets K, the taps per channel. @param k 1 ≤ k ≤ ::FFC_CONV1D_MAX_KERNEL_SIZE. @return *this. */
    Conv1dDesc &kernel_size(int32_t k) noexcept { desc_.kernel_size = k; return *this; }

    /**
     * @brief Sets the zero padding on each side.
     * @param left zeros before x (0 ≤ left ≤ K − 1). @param right zeros after x (0 ≤ right ≤ K − 1).
     * @return *this.
     */
    Conv1dDesc &padding(int32_t left, int32_t right) noexcept {
        desc_.padding_left = left;
        desc_.padding_right = right;
        return *this;
    }

    /** @brief Causal padding for the current K: (K − 1, 0), so L_out = L. @return *this. */
    Conv1dDesc &causal() noexcept { return padding(desc_.kernel_size - 1, 0); }

    /**
     * @brief PyTorch's padding="same" for the current K: (⌊(K − 1)/2⌋, the rest),
     * so L_out = L. @return *this.
     */
    Conv1dDesc &same() noexcept {
        const int32_t total = desc_.kernel_size - 1;
        return padding(total / 2, total - total / 2);
    }

    /** @brief No padding ("valid"): L_out = L − K + 1. @return *this. */
    Conv1dDesc &valid() noexcept { return padding(0, 0); }

    /** @brief Sets the CPU worker threads. @param n threads, 0 for hardware concurrency. @return *this. */
    Conv1dDesc &cpu_threads(int32_t n) noexcept { desc_.cpu_threads = n; return *this; }

    /** @brief The C descriptor, ready for ffc_conv1d_plan_create(). */
    const ffc_conv1d_desc_t &c_desc() const noexcept { return desc_; }

private:
    ffc_conv1d_desc_t desc_;
};

/**
 * @brief An owned short-convolution plan. Move-only; the destructor calls
 * ffc_conv1d_plan_destroy(). Thread safety as for Plan.
 */
class Conv1dPlan {
public:
    /** @brief An empty plan (holds no handle); only assignment and destruction are valid. */
    Conv1dPlan() noexcept = default;

    /** @brief Creates a plan. @param desc the descriptor. @throws Error on failure. */
    explicit Conv1dPlan(const Conv1dDesc &desc) {
        check(ffc_conv1d_plan_create(&plan_, &desc.c_desc()));
        ffc_conv1d_desc_t resolved = FFC_CONV1D_DESC_INIT;
        const ffc_status_t status = ffc_conv1d_plan_get_desc(plan_, &resolved);
        if (status != FFC_SUCCESS) {
            Error e(status, last_error_message());
            ffc_conv1d_plan_destroy(std::exchange(plan_, nullptr));
            throw e;
        }
        backend_ = static_cast<Backend>(resolved.backend);
    }

    /** @brief Destroys the handle (if any). */
    ~Conv1dPlan() { ffc_conv1d_plan_destroy(plan_); }

    Conv1dPlan(const Conv1dPlan &) = delete;             /**< Plans are not copyable. */
    Conv1dPlan &operator=(const Conv1dPlan &) = delete;  /**< Plans are not copyable. */

    /** @brief Takes over @p other's handle, leaving @p other empty. @param other the source. */
    Conv1dPlan(Conv1dPlan &&other) noexcept
        : plan_(std::exchange(other.plan_, nullptr)), backend_(other.backend_) {}

    /** @brief Destroys the current handle and takes over @p other's. @param other the source. @return *this. */
    Conv1dPlan &operator=(Conv1dPlan &&other) noexcept {
        if (this != &other) {
            ffc_conv1d_plan_destroy(plan_);
            plan_ = std::exchange(other.plan_, nullptr);
            backend_ = other.backend_;
        }
        return *this;
    }

    /** @brief Whether this object holds a handle. */
    explicit operator bool() const noexcept { return plan_ != nullptr; }

    /** @brief The raw handle, still owned by this object. */
    ffc_conv1d_plan_t get() const noexcept { return plan_; }

    /** @brief Gives up ownership: returns the handle and leaves this object empty. */
    ffc_conv1d_plan_t release() noexcept { return std::exchange(plan_, nullptr); }

    /** @brief The resolved backend (cpu or cuda). */
    Backend backend() const noexcept { return backend_; }

    /** @brief L_out for a sequence of @p seq_len. @param seq_len L. @throws Error when L < 1 or L_out < 1. */
    int64_t output_length(int64_t seq_len) const {
        int64_t out = 0;
        check(ffc_conv1d_output_length(plan_, seq_len, &out));
        return out;
    }

    /** @brief Workspace bytes forward() and backward() need for @p shape. @param shape the call's shape. */
    std::size_t workspace_size(const Conv1dShape &shape) const {
        const ffc_conv1d_shape_t s = shape.c_shape();
        std::size_t bytes = 0;
        check(ffc_conv1d_get_workspace_size(plan_, &s, &bytes));
        return bytes;
    }

    /**
     * @brief y = bias + depthwise cross-correlation of x with weight.
     *
     * @param shape     B, H, L.
     * @param x         input in the plan's dtype and layout.
     * @param weight    (H, K) fp32.
     * @param bias      (H) fp32 or nullptr.
     * @param y         output, L_out long; may not overlap any other operand.
     * @param workspace at least workspace_size(shape) bytes (nullptr when that is 0).
     * @param workspace_size its size in bytes.
     * @param stream    CUDA stream (ignored by the CPU backend).
     * @throws Error on failure (nothing is written then).
     */
    void forward(const Conv1dShape &shape, const void *x, const float *weight, const float *bias, void *y,
                 void *workspace, std::size_t workspace_size, ffc_stream_t stream = nullptr) const {
        const ffc_conv1d_shape_t s = shape.c_shape();
        check(ffc_conv1d_forward(plan_, &s, x, weight, bias, y, workspace, workspace_size, stream));
    }

    /**
     * @brief As the other forward(), allocating a host workspace for the call
     * when one is needed. Only for CPU plans: a CUDA plan needs device workspace.
     * @param shape B, H, L. @param x input. @param weight filter. @param bias bias or nullptr. @param y output.
     * @throws Error with FFC_ERROR_INVALID_ARGUMENT for a CUDA plan, or the library's error.
     */
    void forward(const Conv1dShape &shape, const void *x, const float *weight, const float *bias, void *y) const {
        std::vector<unsigned char> ws = host_workspace(shape);
        forward(shape, x, weight, bias, y, ws.empty() ? nullptr : ws.data(), ws.size());
    }

    /**
     * @brief Gradients of forward(); every output may be nullptr (not wanted).
     *
     * @param shape     B, H, L.
     * @param dy        upstream gradient, L_out long.
     * @param x         forward input (needed for dweight; may be nullptr otherwise).
     * @param weight    (H, K) fp32 (needed for dx; may be nullptr otherwise).
     * @param dx        like x, or nullptr.
     * @param dweight   (H, K) fp32 or nullptr; overwritten, deterministic.
     * @param dbias     (H) fp32 or nullptr; overwritten, deterministic.
     * @param workspace at least workspace_size(shape) bytes (nullptr when that is 0).
     * @param workspace_size its size in bytes.
     * @param stream    CUDA stream (ignored by the CPU backend).
     * @throws Error on failure.
     */
    void backward(const Conv1dShape &shape, const void *dy, const void *x, const float *weight, void *dx,
                  float *dweight, float *dbias, void *workspace, std::size_t workspace_size,
                  ffc_stream_t stream = nullptr) const {
        const ffc_conv1d_shape_t s = shape.c_shape();
        check(ffc_conv1d_backward(plan_, &s, dy, x, weight, dx, dweight, dbias, workspace, workspace_size, stream));
    }

    /**
     * @brief As the other backward(), allocating a host workspace (CPU plans only).
     * @param shape B, H, L. @param dy upstream gradient. @param x input or nullptr. @param weight filter or nullptr.
     * @param dx or nullptr. @param dweight or nullptr. @param dbias or nullptr.
     * @throws Error with FFC_ERROR_INVALID_ARGUMENT for a CUDA plan, or the library's error.
     */
    void backward(const Conv1dShape &shape, const void *dy, const void *x, const float *weight, void *dx,
                  float *dweight, float *dbias) const {
        std::vector<unsigned char> ws = host_workspace(shape);
        backward(shape, dy, x, weight, dx, dweight, dbias, ws.empty() ? nullptr : ws.data(), ws.size());
    }

private:
    std::vector<unsigned char> host_workspace(const Conv1dShape &shape) const {
        if (plan_ && backend_ != Backend::cpu)
            throw Error(FFC_ERROR_INVALID_ARGUMENT,
                        "this overload allocates host workspace and needs a CPU plan; pass device workspace "
                        "to the overload that takes one");
        return std::vector<unsigned char>(workspace_size(shape));
    }

    ffc_conv1d_plan_t plan_ = nullptr;
    Backend backend_ = Backend::cpu;
};

}  // namespace flashfftconv

#endif /* FLASHFFTCONV_HPP */
