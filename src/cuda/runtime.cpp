// Device queries and the small RAII helpers the CUDA executor uses.
#include <cuda_runtime.h>

#include <string>

#include "common/types.hpp"
#include "cuda/cuda_host.hpp"
#include "cuda/cuda_util.hpp"

namespace ffc::cuda {

void check(cudaError_t err, const char *what) {
    if (err == cudaSuccess) return;
    const ffc_status_t status = err == cudaErrorMemoryAllocation ? FFC_ERROR_OUT_OF_MEMORY : FFC_ERROR_CUDA;
    fail(status, std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // no driver / no device is not an error here
        return 0;
    }
    return n;
}

int current_device() {
    int d = 0;
    check(cudaGetDevice(&d), "cudaGetDevice");
    return d;
}

std::string runtime_version_string() {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

void check_device_pointer(const void *ptr, const char *name, int device) {
    cudaPointerAttributes attr{};
    const cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        fail(FFC_ERROR_INVALID_POINTER, std::string(name) + " is not a CUDA device pointer (" + cudaGetErrorName(err) + ")");
    }
    const bool device_memory = attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
    if (!device_memory)
        fail(FFC_ERROR_INVALID_POINTER, std::string(name) + " is host memory; the CUDA backend needs device memory");
    if (attr.type == cudaMemoryTypeDevice && attr.device != device)
        fail(FFC_ERROR_INVALID_POINTER, std::string(name) + " lives on device " + std::to_string(attr.device) +
                                            ", the plan on device " + std::to_string(device));
}

plan::DeviceCaps query_device_caps(int device) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    // Start from the closest preset for the throughput figures a device cannot
    // report (tensor and shared-memory rates, launch and barrier costs), then
    // overwrite everything the device does report.
    const int sm = prop.major * 10 + prop.minor;
    plan::DeviceCaps caps = plan::device_preset(sm >= 90 ? "h100" : sm == 89 ? "rtx4090" : "a100");
    caps.name = prop.name;
    caps.sm_major = prop.major;
    caps.sm_minor = prop.minor;
    caps.sm_count = prop.multiProcessorCount;
    caps.smem_per_block = prop.sharedMemPerBlockOptin;
    caps.smem_per_sm = prop.sharedMemPerMultiprocessor;
    caps.l2_bytes = size_t(prop.l2CacheSize);
    int mem_clock_khz = 0, bus_width = 0;
    if (cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_width, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess &&
        mem_clock_khz > 0 && bus_width > 0) {
        // DDR: two transfers per clock; a copy reaches ~90 % of the theoretical peak.
        caps.hbm_gbps = 2.0 * mem_clock_khz * 1e3 * (bus_width / 8.0) / 1e9 * 0.9;
    }
    (void)cudaGetLastError();
    return caps;
}

DeviceGuard::DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) {
        check(cudaSetDevice(device), "cudaSetDevice");
        switched_ = true;
    }
}

DeviceGuard::~DeviceGuard() {
    if (switched_) cudaSetDevice(previous_);
}

}  // namespace ffc::cuda
