// CUDA error checking and the device guard (host code that includes cuda_runtime.h).
#pragma once

#include <cuda_runtime.h>

namespace ffc::cuda {

// Throws ffc::Error (FFC_ERROR_CUDA, or FFC_ERROR_OUT_OF_MEMORY) naming `what`.
void check(cudaError_t err, const char *what);

// Makes `device` current for the guard's lifetime and restores the previous one.
class DeviceGuard {
public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    DeviceGuard(const DeviceGuard &) = delete;
    DeviceGuard &operator=(const DeviceGuard &) = delete;

private:
    int previous_ = 0;
    bool switched_ = false;
};

}  // namespace ffc::cuda
