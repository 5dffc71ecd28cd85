#include "cuda/fused_tables.hpp"

#include <cuda_runtime.h>

#include <vector>

#include "cuda/cuda_util.hpp"
#include "monarch/monarch.hpp"

namespace ffc::cuda {

FusedTables::FusedTables(const FusedKernelEntry &kernel, uint64_t n, int device) : device_(device) {
    // Two-level table: W_n^m for m < 64, then W_n^(64·i).
    const uint64_t hi = n / 64;
    std::vector<float> table(2 * (64 + hi));
    auto put = [&](uint64_t slot, uint64_t exponent) {
        const monarch::cdouble w = monarch::unit_root(n, exponent);
        table[2 * slot] = float(w.real());
        table[2 * slot + 1] = float(w.imag());
    };
    for (uint64_t m = 0; m < 64; ++m) put(m, m);
    for (uint64_t i = 0; i < hi; ++i) put(64 + i, 64 * i);

    // One allocation holds both tables.
    const size_t small_bytes = (table.size() * sizeof(float) + 255) / 256 * 256;
    check(cudaMalloc(&twiddles_, small_bytes + kernel.table_bytes()), "cudaMalloc (twiddle tables)");
    pass_tables_ = static_cast<char *>(twiddles_) + small_bytes;
    cudaError_t err = cudaMemcpy(twiddles_, table.data(), table.size() * sizeof(float), cudaMemcpyHostToDevice);
    if (err == cudaSuccess) {
        kernel.build_tables(pass_tables_, nullptr);
        err = cudaGetLastError();
    }
    if (err == cudaSuccess) err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
        cudaFree(twiddles_);
        twiddles_ = nullptr;
        check(err, "building the twiddle tables");
    }
}

FusedTables::~FusedTables() {
    if (!twiddles_) return;
    int previous = 0;
    if (cudaGetDevice(&previous) == cudaSuccess) {
        cudaSetDevice(device_);
        cudaFree(twiddles_);
        cudaSetDevice(previous);
    }
}

}  // namespace ffc::cuda
