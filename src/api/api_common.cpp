// The shared pieces of the C entry points (see api_common.hpp).
#include "api/api_common.hpp"

#include <cstdint>
#include <string>
#include <vector>

#if FFC_WITH_CUDA
#include "cuda/cuda_host.hpp"
#endif

namespace ffc::api {

std::string &last_error() {
    thread_local std::string message;
    return message;
}

void require(const void *p, const char *name) {
    if (!p) ffc::fail(FFC_ERROR_NULL_POINTER, std::string(name) + " is NULL");
}

void require_aligned(const void *p, size_t alignment, const char *name) {
    if (p && reinterpret_cast<uintptr_t>(p) % alignment != 0)
        ffc::fail(FFC_ERROR_MISALIGNED_POINTER,
                  std::string(name) + " is not aligned to " + std::to_string(alignment) + " bytes");
}

void check_workspace_buffer(const void *workspace, size_t workspace_size, size_t need, bool cuda) {
    if (workspace_size < need)
        ffc::fail(FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace_size = " + std::to_string(workspace_size) +
                                                     " bytes, this call needs " + std::to_string(need));
    if (need > 0) require(workspace, "workspace");
    require_aligned(workspace, need > 0 && cuda ? 256 : 1, "workspace");
}

bool overlap(const Operand &a, const Operand &b) {
    if (!a.p || !b.p || a.bytes == 0 || b.bytes == 0) return false;
    const uintptr_t a0 = reinterpret_cast<uintptr_t>(a.p), b0 = reinterpret_cast<uintptr_t>(b.p);
    return a0 < b0 + b.bytes && b0 < a0 + a.bytes;
}

void check_disjoint(const std::vector<Operand> &written, const std::vector<Operand> &read, bool in_place) {
    auto fail_overlap = [](const Operand &w, const Operand &o) {
        ffc::fail(FFC_ERROR_INVALID_ARGUMENT, std::string(w.name) + " overlaps " + o.name +
                                                  " (what a call writes may not overlap any other operand)");
    };
    for (size_t i = 0; i < written.size(); ++i) {
        for (size_t j = i + 1; j < written.size(); ++j)
            if (overlap(written[i], written[j])) fail_overlap(written[i], written[j]);
        for (size_t j = 0; j < read.size(); ++j) {
            const bool same = written[i].p == read[j].p && written[i].bytes == read[j].bytes;
            if (!(in_place && i == 0 && j == 0 && same) && overlap(written[i], read[j])) fail_overlap(written[i], read[j]);
        }
    }
}

ResolvedBackend resolve_backend(int32_t requested, int32_t device) {
    ResolvedBackend r;
    r.backend = Backend(requested);
#if FFC_WITH_CUDA
    const int ndev = ffc::cuda::device_count();
    if (r.backend == Backend::automatic) r.backend = ndev > 0 ? Backend::cuda : Backend::cpu;
    if (r.backend == Backend::cuda) {
        if (ndev == 0) ffc::fail(FFC_ERROR_BACKEND_UNAVAILABLE, "the CUDA backend was requested but no CUDA device is present");
        r.device = device < 0 ? ffc::cuda::current_device() : device;
        if (r.device >= ndev)
            ffc::fail(FFC_ERROR_INVALID_DEVICE, "device = " + std::to_string(r.device) + " but only " + std::to_string(ndev) + " CUDA device(s) exist");
    }
#else
    (void)device;
    if (r.backend == Backend::automatic) r.backend = Backend::cpu;
    if (r.backend == Backend::cuda)
        ffc::fail(FFC_ERROR_BACKEND_UNAVAILABLE, "this build of libflashfftconv has no CUDA backend");
#endif
    return r;
}

}  // namespace ffc::api
