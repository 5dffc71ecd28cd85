/*
 * libflashfftconv — long depthwise FFT convolutions on tensor cores.
 *
 * This is the library's only public header. It is plain C99, includes no CUDA
 * header, and is usable from C and C++ alike.
 */
#ifndef FLASHFFTCONV_H
#define FLASHFFTCONV_H

#include <stddef.h>
#include <stdint.h>

/**
 * @file flashfftconv.h
 * @brief The stable C ABI of libflashfftconv.
 *
 * @section semantics What is computed
 *
 * For every batch element b and channel h, with FFT size N (the plan's size):
 *
 *     v      = in_gate ⊙ u                                  (in_gate optional)
 *     z[t]   = Σ_{s=0}^{N-1} k[s] · v[(t − s) mod N],  t < L  (u and k zero-padded to N)
 *     y      = out_gate ⊙ z                                 (out_gate optional)
 *
 * With L + K − 1 ≤ N (for example N = 2L) this is the causal linear convolution;
 * with L = N it is circular. Tensors are dense and contiguous: u, in_gate,
 * out_gate and y are (B, H, L); k is (H, K) in fp32.
 *
 * The backward pass, given dy, with dz = out_gate ⊙ dy:
 *
 *     d_out_gate = dy ⊙ z
 *     dv[s]      = Σ_t dz[t] · k[(t − s) mod N]              (correlation)
 *     du         = in_gate ⊙ dv,   d_in_gate = u ⊙ dv
 *     dk[s]      = Σ_b Σ_t dz_b[t] · v_b[(t − s) mod N],  s < K   (fp32)
 *
 * z is recomputed inside the backward pass; nothing is saved from forward.
 *
 * @section conventions Conventions
 *
 * - Every entry point returns an ::ffc_status_t. On failure, a detailed message
 *   for the calling thread is available from ffc_last_error_message(). No C++
 *   exception and no CUDA error ever escapes the library.
 * - Arguments are validated completely before any output is written: a call
 *   that returns an error has written nothing to its outputs.
 * - Memory: with the CPU backend all tensor pointers are host pointers; with the
 *   CUDA backend they are device pointers on the plan's device.
 * - Alignment: a tensor pointer must be aligned to its element size. The CUDA
 *   backend is fastest when every row starts on a 16-byte boundary (L a multiple
 *   of 8 elements in fp16 and bf16, of 4 in fp32, and 16-byte aligned pointers);
 *   otherwise it moves 8, 4 or 2 bytes per access (on an H100 an odd L in fp16
 *   costs about 1.5 times the time of an aligned one).
 * - Streams and workspace are per call. Forward and backward on the CUDA backend
 *   enqueue work on the given stream and return without synchronising; they
 *   never allocate and are safe to capture into a CUDA graph. The CPU backend
 *   ignores the stream and completes before returning.
 * - Thread safety: a plan is immutable after creation. Any number of threads may
 *   call execute functions on one plan concurrently, provided each call uses its
 *   own workspace and its own outputs. ffc_plan_destroy() must not race with
 *   other uses of the same plan.
 */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/** @name Export and version macros                                          */
/* ------------------------------------------------------------------------- */
/** @{ */

/**
 * @def FFC_API
 * @brief Marks the library's exported entry points (default visibility on ELF,
 * dllexport/dllimport on Windows).
 */
#if defined(_WIN32) && defined(FFC_BUILDING_LIBRARY)
#define FFC_API __declspec(dllexport)
#elif defined(_WIN32)
#define FFC_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define FFC_API __attribute__((visibility("default")))
#else
#define FFC_API
#endif

#define FFC_VERSION_MAJOR 0 /**< Incompatible ABI changes. */
#define FFC_VERSION_MINOR 5 /**< Backwards-compatible additions. */
#define FFC_VERSION_PATCH 0 /**< Fixes. */
/** Version as one integer: MAJOR·10000 + MINOR·100 + PATCH. */
#define FFC_VERSION_NUMBER \
    (FFC_VERSION_MAJOR * 10000 + FFC_VERSION_MINOR * 100 + FFC_VERSION_PATCH)

#define FFC_MIN_FFT_SIZE 256u     /**< Smallest supported FFT size (a power of two). */
#define FFC_MAX_FFT_SIZE 4194304u /**< Largest supported FFT size (a power of two). */

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Status codes                                                       */
/* ------------------------------------------------------------------------- */
/** @{ */

/**
 * @brief Result of every entry point. Codes fall in category ranges:
 * 0 success; 1xxx invalid argument; 2xxx not supported; 3xxx runtime (CUDA,
 * memory); 4xxx internal. Use ffc_status_string() for a fixed description and
 * ffc_last_error_message() for the detail of the last failure on this thread.
 */
typedef enum ffc_status {
    FFC_SUCCESS = 0,

    FFC_ERROR_INVALID_ARGUMENT = 1000,  /**< An argument is invalid (generic). */
    FFC_ERROR_NULL_POINTER = 1001,      /**< A required pointer is NULL. */
    FFC_ERROR_INVALID_FFT_SIZE = 1002,  /**< N is not a power of two in [256, 4194304]. */
    FFC_ERROR_INVALID_SHAPE = 1003,     /**< B, H, L or K out of range (≤ 0, L > N, K > N). */
    FFC_ERROR_INVALID_DTYPE = 1004,     /**< Unknown or unsupported I/O data type. */
    FFC_ERROR_INVALID_DESCRIPTOR = 1005,/**< Wrong struct_size, magic or version. */
    FFC_ERROR_WORKSPACE_TOO_SMALL = 1006,/**< workspace_size below the required bytes. */
    FFC_ERROR_BUFFER_TOO_SMALL = 1007,  /**< A caller-provided text or spectrum buffer is too small. */
    FFC_ERROR_INVALID_BACKEND = 1008,   /**< Unknown backend value. */
    FFC_ERROR_INVALID_DEVICE = 1009,    /**< No such CUDA device ordinal. */
    FFC_ERROR_INVALID_FLAGS = 1010,     /**< Unknown flag bits, or an invalid forced factorisation or kernel name. */
    FFC_ERROR_MISALIGNED_POINTER = 1011,/**< A tensor pointer is not aligned to its element size. */
    FFC_ERROR_INVALID_POINTER = 1012,   /**< A pointer is not accessible from the plan's device. */

    FFC_ERROR_NOT_SUPPORTED = 2000,       /**< The request is valid but not implemented. */
    FFC_ERROR_BACKEND_UNAVAILABLE = 2001, /**< The backend was not compiled in, or no device exists. */
    FFC_ERROR_NO_KERNEL = 2002,           /**< No compiled kernel implements this plan on this device. */

    FFC_ERROR_CUDA = 3000,          /**< A CUDA runtime call failed; the message names it. */
    FFC_ERROR_OUT_OF_MEMORY = 3001, /**< Host or device allocation failed (plan creation only). */

    FFC_ERROR_INTERNAL = 4000 /**< A bug in the library; please report the message. */
} ffc_status_t;

/** @brief A fixed, static description of @p status ("unknown status" for unknown values). */
FFC_API const char *ffc_status_string(ffc_status_t status);

/**
 * @brief Copies the calling thread's last error message into @p buf.
 *
 * The message describes the most recent failed call made by this thread (it is
 * cleared to "" by every successful call). At most @p buf_size − 1 characters are
 * copied and the result is always NUL-terminated when @p buf_size > 0.
 *
 * @return the full length of the message (excluding the NUL), like snprintf; pass
 *         buf = NULL, buf_size = 0 to query it.
 */
FFC_API size_t ffc_last_error_message(char *buf, size_t buf_size);

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Library information                                                */
/* ------------------------------------------------------------------------- */
/** @{ */

/** @brief FFC_VERSION_NUMBER of the loaded library (compare with the header's). */
FFC_API unsigned ffc_version_number(void);

/** @brief The version as "MAJOR.MINOR.PATCH" (static storage). */
FFC_API const char *ffc_version_string(void);

/**
 * @brief Build information as a static JSON object, for example
 * `{"version":"0.2.0","version_number":200,"cuda":true,"cuda_runtime":"13.0",
 *   "sm":[80,90],"kernels":28}`.
 *
 * Keys: "version" (string), "version_number" (number), "cuda" (boolean: the
 * CUDA backend is compiled in), "cuda_runtime" (string, only when "cuda" is
 * true), "sm" (array of the compiled compute capabilities as numbers, empty
 * without CUDA; an arch-specific target such as 90a is listed as 90),
 * "kernels" (number of precompiled CUDA kernel variants).
 */
FFC_API const char *ffc_build_info(void);

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Types                                                              */
/* ------------------------------------------------------------------------- */
/** @{ */

/**
 * @brief Element type of u, the gates, y and their gradients. k and dk are always fp32.
 *
 * Precision: fp16 and bf16 results are within twice the error of correctly
 * rounding the exact result. The CUDA backend computes with split-bf16 tensor-core
 * products (an effective unit roundoff of about 2^-17, fp32's exponent range), so
 * with fp32 I/O its results carry relative errors of about 1e-5, not fp32's 1e-7;
 * the CPU backend computes in fp32.
 */
typedef enum ffc_dtype {
    FFC_DTYPE_FP32 = 0,
    FFC_DTYPE_FP16 = 1,
    FFC_DTYPE_BF16 = 2
} ffc_dtype_t;

/** @brief Where a plan executes. */
typedef enum ffc_backend {
    FFC_BACKEND_AUTO = 0, /**< CUDA if compiled in and a device exists, else CPU. */
    FFC_BACKEND_CPU = 1,  /**< Host memory, fp32 arithmetic: the reference and fallback. */
    FFC_BACKEND_CUDA = 2  /**< Device memory, tensor cores. */
} ffc_backend_t;

/**
 * @brief A CUDA stream. ABI-identical to `cudaStream_t` / `CUstream`; pass one
 * directly. NULL is the legacy default stream.
 */
typedef struct CUstream_st *ffc_stream_t;

/** @brief Opaque plan handle. */
typedef struct ffc_plan_s *ffc_plan_t;

/** @brief Returns 1 if @p backend can run in this process (compiled in and, for CUDA, a device present), else 0. */
FFC_API int ffc_backend_available(ffc_backend_t backend);

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Plan descriptor                                                    */
/* ------------------------------------------------------------------------- */
/** @{ */

#define FFC_PLAN_DESC_MAGIC 0x46464344u /**< "FFCD" */
/**
 * Version of ::ffc_plan_desc_t this header describes. 2 added
 * ffc_plan_desc_t::force_kernel (in version 1 that slot was reserved[0]);
 * 3 added ffc_plan_desc_t::freq_mask and ffc_plan_desc_t::freq_mask_len (in
 * version 2 those slots were reserved[0] and reserved[1]). The library accepts
 * descriptors of versions 1 to 3, all of one size.
 */
#define FFC_PLAN_DESC_VERSION 3u
/** Longest frequency mask (ffc_plan_desc_t::freq_mask_len): one entry per spectrum bin of the largest N. */
#define FFC_MAX_FREQ_MASK_LEN FFC_MAX_FFT_SIZE
#define FFC_MAX_FACTORS 8 /**< Longest factorisation a plan may force. */
/**
 * Bytes the library reads of ffc_plan_desc_t::force_kernel at most, its
 * terminating NUL included: a name must be shorter than this.
 */
#define FFC_MAX_KERNEL_NAME 128

/** Plan flags (bitwise OR). Unknown bits are rejected with FFC_ERROR_INVALID_FLAGS. */
#define FFC_PLAN_DEFAULT 0u
/**
 * Partial convolution (long sequence, shorter kernel). With this flag the plan
 * computes the causal linear convolution
 *
 *     z[t] = sum_{s < K} k[s] · v[t − s],   v[t] = 0 for t < 0,   t < L,
 *
 * for every seq_len L ≥ 1, including L > N: the FFT size is set by the kernel,
 * not by the sequence (a 64K-tap filter over a 4M-long sequence runs on a plan
 * of N = 128K). When L + K − 1 ≤ N nothing wraps and the call is the plain
 * plan's; otherwise the plan runs overlap-save windows of N positions that keep
 * N − r outputs each (r = K − 1 rounded up to a multiple of 8, the overlap),
 * which needs kernel_len ≤ N/2 (else
 * FFC_ERROR_INVALID_SHAPE). Forward, backward (all four gradients, dk still
 * deterministic) and the precomputed-spectrum path all work; y may not be u
 * (no in-place form), and the workspace grows by the window buffers of one
 * chunk (see ffc_plan_get_workspace_size()). Since library version 0.3.
 *
 * On the CUDA backend at N ≤ 16384 the forward, and the backward's du and
 * d_in_gate, read and write the windows in place, one launch each (the plan
 * then takes a one-CTA kernel, see ffc_plan_describe()); above that, and for
 * dk and d_out_gate, the windows are copied. Either way the results are the
 * same, bit for bit.
 */
#define FFC_PLAN_PARTIAL 1u

/**
 * @brief Describes the plan to create. Initialise with ::FFC_PLAN_DESC_INIT, then
 * set the fields you need. The struct only grows by appending fields or by
 * giving a reserved slot a meaning (with a new FFC_PLAN_DESC_VERSION; a zero in
 * the slot always means what older versions meant); the library reads
 * struct_size bytes of it.
 *
 * The ABI is defined for 64-bit targets with 8-byte pointers and size_t (LP64,
 * as on Linux): sizeof(ffc_plan_desc_t) is 128 bytes there, which the library
 * and the Python, Rust and Julia bindings assert. Other data models are not
 * supported (the library does not build for them).
 */
typedef struct ffc_plan_desc {
    size_t struct_size; /**< sizeof(ffc_plan_desc_t) as compiled by the caller. */
    uint32_t magic;     /**< FFC_PLAN_DESC_MAGIC. */
    uint32_t version;   /**< FFC_PLAN_DESC_VERSION. */
    uint64_t fft_size;  /**< N: a power of two, FFC_MIN_FFT_SIZE ≤ N ≤ FFC_MAX_FFT_SIZE. */
    int32_t dtype;      /**< ::ffc_dtype_t of the I/O tensors. */
    int32_t backend;    /**< ::ffc_backend_t. */
    int32_t device;     /**< CUDA device ordinal; −1 means the current device at creation. */
    uint32_t flags;     /**< FFC_PLAN_* flags. */
    /**
     * Optional forced Monarch factorisation, outermost factor first, terminated
     * by 0 (all zero: the planner decides). The product must equal fft_size and
     * the backend must implement it, otherwise FFC_ERROR_INVALID_FLAGS or
     * FFC_ERROR_NO_KERNEL.
     *
     * A factorisation names the mathematics, not an implementation: on the CUDA
     * backend several compiled candidates can share one factor list (a one-CTA
     * kernel and its thread-block-cluster split, a fused kernel and a multi-pass
     * split), and forcing the factors runs the cheapest of them. To run one
     * particular candidate, use force_kernel.
     */
    uint32_t force_factors[FFC_MAX_FACTORS];
    int32_t cpu_threads; /**< CPU backend worker threads; 0 = hardware concurrency (max 16). */
    uint32_t reserved0;   /**< Must be zero. */
    /**
     * Optional forced kernel (descriptor version ≥ 2): NULL (the default) lets the
     * planner decide; otherwise the name of one compiled candidate, exactly as
     * ffc_plan_describe() prints it in the "kernel" column of its candidate table,
     * e.g. "fused_n16384_4x16cx16x16_c2" ("16c": a radix-16 stage on CUDA cores).
     * For a multi-pass candidate that column
     * holds the inner kernel's name ("fused_n4096_16cx16x16" at N = 32768 is the
     * split 8 x 4096 with that inner kernel), suffixed "+l2" for the same split
     * with chunks sized to stay in the L2 and "+cublaslt" for its outer passes
     * as cuBLASLt GEMMs (the two alternatives the planner weighs; see
     * docs/architecture.md). For a given fft_size a name identifies at most one
     * candidate, so the plan runs exactly that kernel; this is how the benchmark
     * times every candidate.
     *
     * The string is read during ffc_plan_create() only (it need not outlive the
     * call), and at most ::FFC_MAX_KERNEL_NAME bytes of it.
     *
     * Errors: a string with no NUL in its first FFC_MAX_KERNEL_NAME bytes, or an
     * empty one, is FFC_ERROR_INVALID_FLAGS; so is a nonzero force_factors that is
     * not the named candidate's factorisation. A name that is no candidate for
     * this fft_size is FFC_ERROR_NO_KERNEL (the message lists the candidates), as
     * is a candidate the device cannot run (the message says why) and any
     * non-NULL force_kernel on the CPU backend, which has no kernel variants
     * (its factorisation is chosen with force_factors). In a version-1
     * descriptor the slot is reserved and must be NULL.
     */
    const char *force_kernel;
    /**
     * Optional frequency mask (descriptor version ≥ 3): NULL (the default) for
     * the dense convolution; otherwise ffc_plan_desc_t::freq_mask_len = G bytes
     * that make the plan frequency-sparse. Bin f of the N-point spectrum of the
     * filter (0 ≤ f < N) is kept when freq_mask[f mod G] is nonzero and zeroed
     * when it is 0, so every call of the plan computes the dense convolution
     * with the masked spectrum:
     *
     *     z = IFFT_N(FFT_N(v) · FFT_N(k) · m)[t < L],   m[f] = (freq_mask[f mod G] != 0).
     *
     * Backward is that function's exact gradient: du, d_in_gate and d_out_gate
     * use the masked filter, and dk = IFFT_N(m · Σ_b conj(FFT_N(v_b)) · FFT_N(dz_b))[s < K].
     * ffc_kernel_spectrum_compute() stores the masked spectrum.
     *
     * G is a power of two from 1 to N, and the mask must be symmetric
     * (freq_mask[j] and freq_mask[(G − j) mod G] both zero or both nonzero),
     * so that the masked filter stays real; otherwise FFC_ERROR_INVALID_ARGUMENT.
     * A small G masks whole blocks of the Monarch decomposition: with N = M·N_in
     * the spectrum's row r holds the bins f ≡ r (mod M), so when G divides M
     * each row is kept or zeroed whole, and a multi-pass CUDA plan skips the
     * zeroed rows' inner convolutions and their intermediate traffic in forward
     * and in a backward without dk (ffc_plan_describe() says how many rows).
     * Fused plans and the CPU backend zero the dropped bins without skipping
     * work. G = N is a free mask of bins.
     *
     * Read during ffc_plan_create() only. Not combinable with FFC_PLAN_PARTIAL
     * (FFC_ERROR_NOT_SUPPORTED). In descriptors of versions 1 and 2 this slot
     * and the next are reserved and must be zero. Since library version 0.4.
     */
    const uint8_t *freq_mask;
    uint32_t freq_mask_len; /**< G, the number of entries of freq_mask (0 when it is NULL). */
    uint32_t reserved1;     /**< Must be zero. */
    uint64_t reserved[3];   /**< Must be zero. */
} ffc_plan_desc_t;

/** @brief Initialiser for ::ffc_plan_desc_t: fp16, automatic backend, current device. */
#define FFC_PLAN_DESC_INIT                                                          \
    {                                                                               \
        sizeof(ffc_plan_desc_t), FFC_PLAN_DESC_MAGIC, FFC_PLAN_DESC_VERSION, 0u,    \
            (int32_t)FFC_DTYPE_FP16, (int32_t)FFC_BACKEND_AUTO, -1, FFC_PLAN_DEFAULT, \
            {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u}, 0, 0u, NULL, NULL, 0u, 0u, { 0u, 0u, 0u } \
    }

/**
 * @brief Problem shape of one call. All four values must be ≥ 1, with
 * seq_len ≤ N and kernel_len ≤ N (::FFC_PLAN_PARTIAL plans: any seq_len, and
 * kernel_len ≤ N/2 when seq_len + kernel_len − 1 > N).
 */
typedef struct ffc_shape {
    int64_t batch;      /**< B: any value ≥ 1 (odd too). */
    int64_t channels;   /**< H. */
    int64_t seq_len;    /**< L: length of u, the gates and y. */
    int64_t kernel_len; /**< K: length of k's rows. */
} ffc_shape_t;

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Plans                                                              */
/* ------------------------------------------------------------------------- */
/** @{ */

/**
 * @brief Creates a plan: validates @p desc, resolves the backend, runs the planner
 * (which picks a Monarch factorisation with its cost model) and prepares tables.
 *
 * May allocate host and device memory and synchronise with the plan's device.
 * Thread-safe (different threads may create plans concurrently).
 *
 * @param[out] plan receives the handle; set to NULL on failure.
 * @param[in]  desc plan descriptor (see ::FFC_PLAN_DESC_INIT).
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_DESCRIPTOR;
 *         FFC_ERROR_INVALID_FFT_SIZE; FFC_ERROR_INVALID_DTYPE;
 *         FFC_ERROR_INVALID_BACKEND; FFC_ERROR_INVALID_DEVICE;
 *         FFC_ERROR_INVALID_FLAGS; FFC_ERROR_BACKEND_UNAVAILABLE;
 *         FFC_ERROR_NO_KERNEL; FFC_ERROR_OUT_OF_MEMORY; FFC_ERROR_CUDA.
 */
FFC_API ffc_status_t ffc_plan_create(ffc_plan_t *plan, const ffc_plan_desc_t *desc);

/** @brief Destroys a plan. NULL is a no-op. Must not race with other uses of the plan. */
FFC_API void ffc_plan_destroy(ffc_plan_t plan);

/**
 * @brief Bytes of workspace that forward and backward need for @p shape (one
 * number covers both). The workspace passed to an execute call must be at least
 * this large; for the CUDA backend it is device memory, aligned to 256 bytes.
 * May be 0, in which case workspace may be NULL.
 *
 * The CUDA backend needs the spectrum of k (H·N·8 bytes) plus chunk buffers
 * that do not grow with B or H beyond one chunk: on fused plans (N ≤ 16K; to
 * 128K on sm_90), the spectra of a chunk of channels and batch pairs for the
 * batch reduction of dk, capped at about 512 MiB; on multi-pass plans (larger
 * N), four buffers of one chunk of sequences each (at least 8·N bytes and at
 * most the plan's chunk: about 512 MiB, or 5/8 of the L2 for a "+l2" plan; so at
 * most about 2 GiB in all), and a fifth for a "+cublaslt" plan.
 * Smaller shapes need proportionally less. A ::FFC_PLAN_PARTIAL plan whose
 * call needs windows (seq_len + kernel_len − 1 > N) adds six buffers of one
 * chunk of windows (512 windows of N, clamped to 2^24 ... 2^27 elements: 32 to
 * 256 MiB each in fp16) to what the plain plan needs for that chunk. The value depends on the shape and the
 * plan only.
 *
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_SHAPE.
 */
FFC_API ffc_status_t ffc_plan_get_workspace_size(ffc_plan_t plan, const ffc_shape_t *shape,
                                                 size_t *workspace_size);

/**
 * @brief Writes a human-readable description of the planner's decision (backend,
 * device, chosen factorisation and kernel, predicted time, every candidate
 * considered) into @p buf as a NUL-terminated string.
 *
 * The candidate table has one row per candidate, with a "factors" and a
 * "kernel" column; the kernel names are what ffc_plan_desc_t::force_kernel
 * accepts. The rest of the text is for people and may change between versions.
 *
 * @param plan the plan to describe.
 * @param[out] buf receives the text; may be NULL when @p buf_size is 0.
 * @param buf_size size of @p buf in bytes.
 * @param[out] required if not NULL, receives the bytes needed including the NUL.
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER (plan, or buf with buf_size > 0);
 *         FFC_ERROR_BUFFER_TOO_SMALL (nothing written; *required is set).
 *         buf = NULL with buf_size = 0 is a size query and returns
 *         FFC_ERROR_BUFFER_TOO_SMALL with *required set.
 */
FFC_API ffc_status_t ffc_plan_describe(ffc_plan_t plan, char *buf, size_t buf_size,
                                       size_t *required);

#define FFC_PLAN_INFO_MAGIC 0x46464349u /**< "FFCI" */
#define FFC_PLAN_INFO_VERSION 1u /**< Version of ::ffc_plan_info_t this header describes. */

/** @brief What a plan resolved to. Initialise with ::FFC_PLAN_INFO_INIT. */
typedef struct ffc_plan_info {
    size_t struct_size; /**< sizeof(ffc_plan_info_t) as compiled by the caller. */
    uint32_t magic;     /**< FFC_PLAN_INFO_MAGIC. */
    uint32_t version;   /**< FFC_PLAN_INFO_VERSION. */
    uint64_t fft_size;  /**< N, the plan's FFT size. */
    int32_t dtype;       /**< ::ffc_dtype_t. */
    int32_t backend;     /**< The resolved backend (never FFC_BACKEND_AUTO). */
    int32_t device;      /**< CUDA device ordinal, −1 for the CPU backend. */
    int32_t num_factors; /**< Monarch order p. */
    uint32_t factors[FFC_MAX_FACTORS]; /**< Outermost first. */
    int32_t fused;       /**< 1 if one kernel does the whole convolution. */
    uint32_t reserved0;  /**< Zero. */
    double predicted_us_per_sequence; /**< Cost-model time per (batch, channel) sequence, µs. */
    char kernel_name[64]; /**< Name of the chosen candidate, as force_kernel takes it: the kernel variant (multi-pass: the inner one, suffixed "+l2" or "+cublaslt" for the alternatives). */
} ffc_plan_info_t;

/** @brief Initialiser for ::ffc_plan_info_t (struct_size, magic and version set, the rest zero). */
#define FFC_PLAN_INFO_INIT \
    { sizeof(ffc_plan_info_t), FFC_PLAN_INFO_MAGIC, FFC_PLAN_INFO_VERSION, 0u, 0, 0, 0, 0, {0u}, 0, 0u, 0.0, {0} }

/**
 * @brief Fills @p info for @p plan.
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_DESCRIPTOR.
 */
FFC_API ffc_status_t ffc_plan_get_info(ffc_plan_t plan, ffc_plan_info_t *info);

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Convolution                                                        */
/* ------------------------------------------------------------------------- */
/** @{ */

/**
 * @brief y = out_gate ⊙ conv(in_gate ⊙ u, k): the forward convolution.
 *
 * The spectrum of k is computed inside the call. To reuse it across calls with
 * an unchanged k, see ffc_kernel_spectrum_compute() and ffc_conv_forward_spectrum().
 *
 * @param plan      a plan of FFT size N.
 * @param shape     B, H, L, K of this call.
 * @param u         (B, H, L) input, plan dtype.
 * @param k         (H, K) filter, fp32.
 * @param in_gate   (B, H, L) or NULL.
 * @param out_gate  (B, H, L) or NULL.
 * @param y         (B, H, L) output, plan dtype. May be the same pointer as u
 *                  (in place), except on a ::FFC_PLAN_PARTIAL plan; no other
 *                  overlap with the inputs or the workspace is allowed
 *                  (checked: FFC_ERROR_INVALID_ARGUMENT).
 * @param workspace at least ffc_plan_get_workspace_size() bytes (NULL if that is 0).
 * @param workspace_size its size in bytes.
 * @param stream    CUDA stream (ignored by the CPU backend).
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_SHAPE;
 *         FFC_ERROR_MISALIGNED_POINTER; FFC_ERROR_INVALID_POINTER;
 *         FFC_ERROR_WORKSPACE_TOO_SMALL; FFC_ERROR_INVALID_ARGUMENT when y or
 *         the workspace overlaps another operand (byte ranges, y == u excepted);
 *         FFC_ERROR_CUDA.
 *
 * Asynchronous on the CUDA backend; thread-safe as described in @ref conventions.
 */
FFC_API ffc_status_t ffc_conv_forward(ffc_plan_t plan, const ffc_shape_t *shape, const void *u,
                                      const float *k, const void *in_gate, const void *out_gate,
                                      void *y, void *workspace, size_t workspace_size,
                                      ffc_stream_t stream);

/**
 * @brief Gradients of ffc_conv_forward(). Every output may be NULL (not wanted);
 * the work that only feeds a NULL output is skipped.
 *
 * @param plan, shape the plan and the call's shape, as for ffc_conv_forward().
 * @param dy         (B, H, L) upstream gradient, plan dtype.
 * @param u, k, in_gate, out_gate  the forward inputs (gates may be NULL = absent).
 * @param du         (B, H, L) or NULL.
 * @param dk         (H, K) fp32 or NULL. Overwritten (not accumulated). The batch
 *                   reduction is deterministic: identical bits on every run.
 * @param d_in_gate  (B, H, L) or NULL; must be NULL when in_gate is NULL.
 * @param d_out_gate (B, H, L) or NULL; must be NULL when out_gate is NULL.
 * @param workspace, workspace_size, stream as for ffc_conv_forward().
 * @return as ffc_conv_forward(); FFC_ERROR_INVALID_ARGUMENT when a gate gradient
 *         is requested for an absent gate, or when an output or the workspace
 *         overlaps another operand.
 *
 * The outputs and the workspace must not overlap each other or any input
 * (unlike forward, there is no in-place form); the call checks the byte ranges. Asynchronous on the CUDA backend, never allocates, and
 * safe to capture into a CUDA graph; thread-safe as described in @ref conventions.
 */
FFC_API ffc_status_t ffc_conv_backward(ffc_plan_t plan, const ffc_shape_t *shape, const void *dy,
                                       const void *u, const float *k, const void *in_gate,
                                       const void *out_gate, void *du, float *dk, void *d_in_gate,
                                       void *d_out_gate, void *workspace, size_t workspace_size,
                                       ffc_stream_t stream);

/**
 * @brief Bytes of the precomputed spectrum of a (H, K) filter for @p shape
 * (depends on H and the plan only). The layout is internal to the plan.
 */
FFC_API ffc_status_t ffc_kernel_spectrum_get_size(ffc_plan_t plan, const ffc_shape_t *shape,
                                                  size_t *spectrum_size);

/**
 * @brief Computes the spectrum of @p k into @p spectrum (host memory on the CPU
 * backend, device memory on CUDA), for later calls of ffc_conv_forward_spectrum()
 * on the same plan with the same H and K.
 *
 * This call takes no workspace. On a multi-pass plan whose outer passes are
 * cuBLASLt GEMMs (kernel name ending "+cublaslt") it therefore allocates N·8
 * bytes stream-ordered on @p stream for the call (cudaMallocAsync /
 * cudaFreeAsync, which graph capture records as memory nodes); an allocation
 * failure is FFC_ERROR_OUT_OF_MEMORY. No other call allocates after plan
 * creation. @p spectrum may not overlap @p k (FFC_ERROR_INVALID_ARGUMENT).
 */
FFC_API ffc_status_t ffc_kernel_spectrum_compute(ffc_plan_t plan, const ffc_shape_t *shape,
                                                 const float *k, void *spectrum,
                                                 size_t spectrum_size, ffc_stream_t stream);

/**
 * @brief As ffc_conv_forward(), reusing a spectrum made by ffc_kernel_spectrum_compute()
 * instead of transforming k again. The spectrum is an input like the others:
 * y and the workspace may not overlap it.
 */
FFC_API ffc_status_t ffc_conv_forward_spectrum(ffc_plan_t plan, const ffc_shape_t *shape,
                                               const void *u, const void *spectrum,
                                               size_t spectrum_size, const void *in_gate,
                                               const void *out_gate, void *y, void *workspace,
                                               size_t workspace_size, ffc_stream_t stream);

/**
 * @brief As ffc_conv_backward(), reusing a spectrum made by
 * ffc_kernel_spectrum_compute() instead of transforming k again.
 *
 * For a filter that several calls share (a training step that computes the
 * spectrum once for its forward and its backward, or a frozen filter): the
 * backward then runs no transform of k. dk does not depend on k and is
 * computed as by ffc_conv_backward(); @p shape's kernel_len is still dk's
 * length and must be the one the spectrum was made for. Every output and the
 * workspace may not overlap the spectrum (FFC_ERROR_INVALID_ARGUMENT);
 * @p spectrum_size below the plan's spectrum size for @p shape is
 * FFC_ERROR_BUFFER_TOO_SMALL. The results are bitwise those of
 * ffc_conv_backward() with the k the spectrum was computed from.
 */
FFC_API ffc_status_t ffc_conv_backward_spectrum(ffc_plan_t plan, const ffc_shape_t *shape,
                                                const void *dy, const void *u,
                                                const void *spectrum, size_t spectrum_size,
                                                const void *in_gate, const void *out_gate, void *du,
                                                float *dk, void *d_in_gate, void *d_out_gate,
                                                void *workspace, size_t workspace_size,
                                                ffc_stream_t stream);

/** @} */

/* ------------------------------------------------------------------------- */
/** @name Short depthwise convolution                                        */
/* ------------------------------------------------------------------------- */
/** @{ */

/**
 * @brief Memory layout of the (batch, channels, length) tensors of a short
 * depthwise convolution.
 */
typedef enum ffc_layout {
    FFC_LAYOUT_BHL = 0, /**< (B, H, L): each channel's sequence contiguous (PyTorch's Conv1d layout). */
    FFC_LAYOUT_BLH = 1  /**< (B, L, H): channels innermost (a sequence model's activations). */
} ffc_layout_t;

#define FFC_CONV1D_DESC_MAGIC 0x46464331u /**< "FFC1" */
#define FFC_CONV1D_DESC_VERSION 1u        /**< Version of ::ffc_conv1d_desc_t this header describes. */
#define FFC_CONV1D_MAX_KERNEL_SIZE 128    /**< Longest filter of a short convolution (use the FFT plans beyond). */

/**
 * @brief Describes a short depthwise convolution: PyTorch's
 * `nn.Conv1d(H, H, K, groups=H, padding=...)`, one filter of K taps per
 * channel, computed directly (no FFT) for small K such as the 3–7 taps of
 * Hyena, H3 or Mamba. For every batch element b and channel h, with x zero
 * outside [0, L):
 *
 *     y[b,h,t]     = bias[h] + Σ_{j<K} w[h,j] · x[b,h,t + j − padding_left],   0 ≤ t < L_out
 *     L_out        = L + padding_left + padding_right − K + 1
 *
 * (a cross-correlation, as in PyTorch; bias optional). Causal: padding_left =
 * K − 1, padding_right = 0 (then L_out = L and y[t] depends on x[t − K + 1 .. t]).
 * The backward, given dy (L_out long):
 *
 *     dx[b,h,s]    = Σ_{j<K} w[h,j] · dy[b,h,s − j + padding_left]   (dy zero outside [0, L_out))
 *     dw[h,j]      = Σ_b Σ_t dy[b,h,t] · x[b,h,t + j − padding_left]   (fp32)
 *     dbias[h]     = Σ_b Σ_t dy[b,h,t]                                 (fp32)
 *
 * x, y, dy and dx are in the plan's dtype and layout; w (H, K) — PyTorch's
 * (H, 1, K) weight — and bias (H) are fp32. Sums are accumulated in fp32 and
 * rounded once, so fp16 and bf16 results meet the precision rule of the FFT
 * plans; dw and dbias are reduced in a fixed order (identical bits on every run).
 *
 * Initialise with ::FFC_CONV1D_DESC_INIT. Grows like ::ffc_plan_desc_t (96
 * bytes on LP64).
 */
typedef struct ffc_conv1d_desc {
    size_t struct_size;    /**< sizeof(ffc_conv1d_desc_t) as compiled by the caller. */
    uint32_t magic;        /**< FFC_CONV1D_DESC_MAGIC. */
    uint32_t version;      /**< FFC_CONV1D_DESC_VERSION. */
    int32_t dtype;         /**< ::ffc_dtype_t of x, y, dy and dx. */
    int32_t backend;       /**< ::ffc_backend_t. */
    int32_t device;        /**< CUDA device ordinal; −1 means the current device at creation. */
    int32_t layout;        /**< ::ffc_layout_t of x, y, dy and dx. */
    int32_t kernel_size;   /**< K: 1 ≤ K ≤ FFC_CONV1D_MAX_KERNEL_SIZE (odd or even). */
    int32_t padding_left;  /**< Zeros before x: 0 ≤ padding_left ≤ K − 1. */
    int32_t padding_right; /**< Zeros after x: 0 ≤ padding_right ≤ K − 1. */
    int32_t cpu_threads;   /**< CPU backend worker threads; 0 = hardware concurrency (max 16). */
    uint64_t reserved[6];  /**< Must be zero. */
} ffc_conv1d_desc_t;

/** @brief Initialiser for ::ffc_conv1d_desc_t: fp16, (B, H, L), automatic backend, K = 3, causal padding. */
#define FFC_CONV1D_DESC_INIT                                                              \
    {                                                                                     \
        sizeof(ffc_conv1d_desc_t), FFC_CONV1D_DESC_MAGIC, FFC_CONV1D_DESC_VERSION,        \
            (int32_t)FFC_DTYPE_FP16, (int32_t)FFC_BACKEND_AUTO, -1, (int32_t)FFC_LAYOUT_BHL, \
            3, 2, 0, 0, { 0u, 0u, 0u, 0u, 0u, 0u }                                        \
    }

/** @brief Opaque handle of a short depthwise convolution plan. */
typedef struct ffc_conv1d_plan_s *ffc_conv1d_plan_t;

/** @brief Shape of one short-convolution call: all three ≥ 1, with L_out ≥ 1. */
typedef struct ffc_conv1d_shape {
    int64_t batch;    /**< B. */
    int64_t channels; /**< H: channels, one filter each. */
    int64_t seq_len;  /**< L: length of x and dx (y and dy are L_out long). */
} ffc_conv1d_shape_t;

/**
 * @brief Creates a short depthwise convolution plan. Conventions as for
 * ffc_plan_create() (thread-safe; may synchronise with the plan's device).
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_DESCRIPTOR;
 *         FFC_ERROR_INVALID_DTYPE; FFC_ERROR_INVALID_BACKEND;
 *         FFC_ERROR_INVALID_DEVICE; FFC_ERROR_INVALID_ARGUMENT (layout, K or a
 *         padding out of range; cpu_threads < 0); FFC_ERROR_BACKEND_UNAVAILABLE;
 *         FFC_ERROR_CUDA.
 */
FFC_API ffc_status_t ffc_conv1d_plan_create(ffc_conv1d_plan_t *plan, const ffc_conv1d_desc_t *desc);

/** @brief Destroys a short-convolution plan. NULL is a no-op. Must not race with other uses of the plan. */
FFC_API void ffc_conv1d_plan_destroy(ffc_conv1d_plan_t plan);

/**
 * @brief The plan's descriptor as resolved: @p desc (initialised with
 * ::FFC_CONV1D_DESC_INIT) receives the plan's dtype, layout, K and padding,
 * its backend (never FFC_BACKEND_AUTO), its device (the CUDA ordinal; −1 on
 * the CPU backend) and cpu_threads (the CPU backend's thread count; 0 on CUDA).
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_DESCRIPTOR
 *         (@p desc not initialised with FFC_CONV1D_DESC_INIT; nothing written).
 */
FFC_API ffc_status_t ffc_conv1d_plan_get_desc(ffc_conv1d_plan_t plan, ffc_conv1d_desc_t *desc);

/**
 * @brief L_out = L + padding_left + padding_right − K + 1 for @p seq_len = L.
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_SHAPE when
 *         L < 1 or L_out < 1.
 */
FFC_API ffc_status_t ffc_conv1d_output_length(ffc_conv1d_plan_t plan, int64_t seq_len, int64_t *out_len);

/**
 * @brief Bytes of workspace for @p shape: one number covers forward and
 * backward, and both check that they get at least this much (device memory
 * aligned to 256 bytes on the CUDA backend). It holds the partial sums of the
 * backward's deterministic reduction of dw and dbias, which do not grow with B
 * or L (at most 4096 per (channel, tap) on the CUDA backend, none on the CPU
 * backend); the forward of this version uses none of it, but may in a later
 * one. May be 0 (workspace may then be NULL).
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_SHAPE.
 */
FFC_API ffc_status_t ffc_conv1d_get_workspace_size(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t *shape,
                                                   size_t *workspace_size);

/**
 * @brief y = bias + depthwise cross-correlation of x with w (see ::ffc_conv1d_desc_t).
 *
 * @param plan    a short-convolution plan.
 * @param shape   B, H, L of this call.
 * @param x       (B, H, L) or (B, L, H) input, plan dtype.
 * @param weight  (H, K) fp32.
 * @param bias    (H) fp32, or NULL for none.
 * @param y       (B, H, L_out) or (B, L_out, H) output, plan dtype. May not
 *                overlap any other operand (no in-place form).
 * @param workspace, workspace_size  at least ffc_conv1d_get_workspace_size() bytes (NULL if that is 0).
 * @param stream  CUDA stream (ignored by the CPU backend).
 * @return FFC_SUCCESS; FFC_ERROR_NULL_POINTER; FFC_ERROR_INVALID_SHAPE;
 *         FFC_ERROR_MISALIGNED_POINTER; FFC_ERROR_INVALID_POINTER;
 *         FFC_ERROR_WORKSPACE_TOO_SMALL; FFC_ERROR_INVALID_ARGUMENT (overlap);
 *         FFC_ERROR_CUDA. Asynchronous on the CUDA backend, never allocates,
 *         graph-capture safe; thread-safe as the FFT plans are.
 */
FFC_API ffc_status_t ffc_conv1d_forward(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t *shape, const void *x,
                                        const float *weight, const float *bias, void *y, void *workspace,
                                        size_t workspace_size, ffc_stream_t stream);

/**
 * @brief Gradients of ffc_conv1d_forward(). Every output may be NULL (not
 * wanted); the work that only feeds a NULL output is skipped.
 *
 * @param plan, shape  as for ffc_conv1d_forward().
 * @param dy       (B, H, L_out) or (B, L_out, H), plan dtype.
 * @param x        the forward input (needed for dweight only; may be NULL when dweight is NULL).
 * @param weight   (H, K) fp32 (needed for dx only; may be NULL when dx is NULL).
 * @param dx       like x, or NULL.
 * @param dweight  (H, K) fp32, or NULL. Overwritten, deterministic.
 * @param dbias    (H) fp32, or NULL. Overwritten, deterministic.
 * @param workspace, workspace_size, stream  as for ffc_conv1d_forward().
 * @return as ffc_conv1d_forward(). The outputs and the workspace may not
 *         overlap each other or any input (checked).
 */
FFC_API ffc_status_t ffc_conv1d_backward(ffc_conv1d_plan_t plan, const ffc_conv1d_shape_t *shape, const void *dy,
                                         const void *x, const float *weight, void *dx, float *dweight,
                                         float *dbias, void *workspace, size_t workspace_size,
                                         ffc_stream_t stream);

/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FLASHFFTCONV_H */
