// Helpers shared by the feature benchmarks (partial_bench, sparse_bench):
// error checks that exit, device buffers, fp16 conversion, timing and the
// device's peak DRAM bandwidth. Header-only; CUDA runtime and the public API.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flashfftconv/flashfftconv.h"

namespace bench {

inline void check_cuda(cudaError_t e, const char *what) {
    if (e != cudaSuccess) {
        std::fprintf(stderr, "bench: %s: %s\n", what, cudaGetErrorString(e));
        std::exit(1);
    }
}
inline void check_ffc(ffc_status_t s, const char *what) {
    if (s != FFC_SUCCESS) {
        char msg[512];
        ffc_last_error_message(msg, sizeof msg);
        std::fprintf(stderr, "bench: %s: %s (%s)\n", what, ffc_status_string(s), msg);
        std::exit(1);
    }
}

struct Buffer {
    void *p = nullptr;
    explicit Buffer(size_t bytes) { check_cuda(cudaMalloc(&p, std::max<size_t>(bytes, 1)), "cudaMalloc"); }
    ~Buffer() { cudaFree(p); }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
};

inline uint16_t to_half(float f) {  // round to nearest even; inputs are small normals
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const int exp = int((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (exp <= 0) return uint16_t(sign);
    if (exp >= 31) return uint16_t(sign | 0x7c00u);
    uint32_t h = sign | (uint32_t(exp) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return uint16_t(h);
}
inline float from_half(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const int exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ffu;
    float f;
    if (exp == 0) f = std::ldexp(float(mant), -24);
    else if (exp == 31) f = mant ? NAN : INFINITY;
    else f = std::ldexp(float(mant | 0x400u), exp - 25);
    uint32_t x;
    std::memcpy(&x, &f, 4);
    x |= sign;
    std::memcpy(&f, &x, 4);
    return f;
}

// Median of `reps` timed runs of fn (after one warm-up), in ms.
template <class Fn>
double time_ms(int reps, Fn &&fn) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    fn();
    check_cuda(cudaDeviceSynchronize(), "warm-up");
    std::vector<float> t;
    for (int r = 0; r < reps; ++r) {
        cudaEventRecord(a);
        fn();
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        t.push_back(ms);
    }
    check_cuda(cudaGetLastError(), "timed runs");
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// The device's peak DRAM bandwidth as the driver reports it, GB/s.
inline double peak_bandwidth_gbs(int device) {
    int mem_clock_khz = 0, bus_bits = 0;
    cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, device);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
    return 2.0 * mem_clock_khz * 1e3 * (bus_bits / 8) / 1e9;
}

// The feature benchmarks' command line: [--reps R] [--json FILE]. Exits 2 with
// the usage on anything else.
struct Options {
    int reps = 10;
    std::string json;  // empty: no JSON
};
inline Options parse_options(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc) o.reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--json" && i + 1 < argc) o.json = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--reps R] [--json FILE]\n", argv[0]);
            std::exit(2);
        }
    }
    return o;
}

// Device 0's properties, or false (after saying so) when there is no CUDA device.
inline bool first_device(const char *program, cudaDeviceProp &prop) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("%s: no CUDA device\n", program);
        return false;
    }
    cudaGetDeviceProperties(&prop, 0);
    return true;
}

}  // namespace bench
