// CUDA error checking and the device guard (host code that includes cuda_runtime.h).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

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

// Device memory a plan owns for its lifetime (allocated on the current device,
// which must be the plan's; freed on that device). Move-only.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(size_t bytes, int device, const char *what) : device_(device) {
        check(cudaMalloc(&ptr_, bytes), what);
    }
    ~DeviceBuffer() {
        if (!ptr_) return;
        DeviceGuard guard(device_);
        cudaFree(ptr_);
    }
    DeviceBuffer(DeviceBuffer &&o) noexcept : ptr_(o.ptr_), device_(o.device_) { o.ptr_ = nullptr; }
    DeviceBuffer &operator=(DeviceBuffer &&o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(device_, o.device_);
        return *this;
    }
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;
    void *get() const { return ptr_; }

private:
    void *ptr_ = nullptr;
    int device_ = 0;
};

}  // namespace ffc::cuda
