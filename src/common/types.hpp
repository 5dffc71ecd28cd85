// Internal vocabulary shared by every layer: data types, shapes, errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "flashfftconv/flashfftconv.h"

namespace ffc {

enum class DType : int32_t { f32 = FFC_DTYPE_FP32, f16 = FFC_DTYPE_FP16, bf16 = FFC_DTYPE_BF16 };
enum class Backend : int32_t { automatic = FFC_BACKEND_AUTO, cpu = FFC_BACKEND_CPU, cuda = FFC_BACKEND_CUDA };

inline size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }
const char *dtype_name(DType t);
const char *backend_name(Backend b);

// Per-call problem shape (validated by the API layer before any backend sees it).
struct Shape {
    int64_t batch = 0, channels = 0, seq_len = 0, kernel_len = 0;
    int64_t pairs() const { return (batch + 1) / 2; }  // two-for-one: odd B pairs the last with zeros
    int64_t elements() const { return batch * channels * seq_len; }
    int64_t filter_elements() const { return channels * kernel_len; }  // k and dk: (H, K)
};

// The one exception type used inside the library. The API layer turns it into a
// status code and the thread's last-error message; nothing else crosses the ABI.
class Error : public std::runtime_error {
public:
    Error(ffc_status_t status, const std::string &message) : std::runtime_error(message), status_(status) {}
    ffc_status_t status() const { return status_; }

private:
    ffc_status_t status_;
};

[[noreturn]] inline void fail(ffc_status_t status, const std::string &message) { throw Error(status, message); }

inline bool is_pow2(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }
inline int log2_exact(uint64_t n) {
    int e = 0;
    while ((uint64_t(1) << e) < n) ++e;
    return e;
}

}  // namespace ffc
