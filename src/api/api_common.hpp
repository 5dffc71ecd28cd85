// What every C entry point shares (api.cpp: the FFT plans, conv1d_api.cpp: the
// short convolution): the exception firewall, the thread-local last-error
// message, pointer checks, byte-range overlap checks and the resolution of the
// requested backend. One implementation (api_common.cpp), used by both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "common/types.hpp"

namespace ffc::api {

// The calling thread's last error message (ffc_last_error_message reads it).
std::string &last_error();

// Runs body() and maps what it throws to a status and the thread's message:
// ffc::Error to its status, std::bad_alloc to FFC_ERROR_OUT_OF_MEMORY, anything
// else to FFC_ERROR_INTERNAL. Success clears the message. Nothing escapes.
template <class F>
ffc_status_t guarded(F &&body) noexcept {
    try {
        try {
            body();
            last_error().clear();
            return FFC_SUCCESS;
        } catch (const ffc::Error &e) {
            last_error() = e.what();
            return e.status();
        } catch (const std::bad_alloc &) {
            last_error() = "host memory allocation failed";
            return FFC_ERROR_OUT_OF_MEMORY;
        } catch (const std::exception &e) {
            last_error() = std::string("internal error: ") + e.what();
            return FFC_ERROR_INTERNAL;
        } catch (...) {
            last_error() = "internal error: unknown exception";
            return FFC_ERROR_INTERNAL;
        }
    } catch (...) {
        // Only reachable if recording the message itself threw (allocation).
        return FFC_ERROR_INTERNAL;
    }
}

// FFC_ERROR_NULL_POINTER "<name> is NULL" when p is NULL.
void require(const void *p, const char *name);

// FFC_ERROR_MISALIGNED_POINTER when p (non-NULL) is not a multiple of alignment.
void require_aligned(const void *p, size_t alignment, const char *name);

// The caller's workspace against the `need` bytes the executor asked for:
// FFC_ERROR_WORKSPACE_TOO_SMALL, NULL while need > 0, and 256-byte alignment on
// the CUDA backend when need > 0.
void check_workspace_buffer(const void *workspace, size_t workspace_size, size_t need, bool cuda);

// A tensor operand: NULL-ness (when required), alignment to its element size,
// and reachability by the backend (Exec::check_pointer, which throws
// FFC_ERROR_INVALID_POINTER). Exec is ffc::Executor or ffc::conv1d::Executor.
template <class Exec>
void check_tensor(const Exec &executor, const void *p, size_t elem, const char *name, bool required) {
    if (required) require(p, name);
    if (!p) return;
    require_aligned(p, elem, name);
    executor.check_pointer(p, name);
}

// A byte range one call reads or writes: [p, p + bytes). Unused operands are
// NULL and take no part.
struct Operand {
    const void *p;
    size_t bytes;
    const char *name;
};

bool overlap(const Operand &a, const Operand &b);

// What a call writes may not overlap anything else it touches: a write into an
// input, or two writes into one place, would give wrong results silently (on
// the GPU, racing ones). The single exception the header allows is the FFT
// forward's in-place form, y == u exactly: with `in_place`, written[0] may
// coincide with read[0] (same address and size). FFC_ERROR_INVALID_ARGUMENT.
void check_disjoint(const std::vector<Operand> &written, const std::vector<Operand> &read, bool in_place = false);

// The backend a descriptor asks for, resolved: AUTO becomes CUDA when the CUDA
// backend is compiled in and a device exists, else CPU; CUDA without CUDA is
// FFC_ERROR_BACKEND_UNAVAILABLE. `requested` must already be a valid
// ffc_backend_t. For CUDA, `device` is the ordinal (a negative request means the
// current device; one past the last is FFC_ERROR_INVALID_DEVICE); for the CPU it is -1.
struct ResolvedBackend {
    Backend backend = Backend::cpu;
    int device = -1;
};
ResolvedBackend resolve_backend(int32_t requested, int32_t device);

}  // namespace ffc::api
