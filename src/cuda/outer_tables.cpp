#include "cuda/outer_tables.hpp"

#include <cuda_runtime.h>

#include <vector>

#include "cuda/cuda_util.hpp"
#include "cuda/outer_twiddles.hpp"

namespace ffc::cuda {

OuterTables::OuterTables(uint64_t n, int m, int device) : device_(device) {
    const outer::HostTables t = outer::build_tables(n, m);
    const std::vector<unsigned char> bytes = t.pack();
    lo_bits_ = t.layout.bits;
    bytes_ = bytes.size();
    check(cudaMalloc(&data_, bytes_), "cudaMalloc (multi-pass outer twiddle table)");
    cudaError_t err = cudaMemcpy(data_, bytes.data(), bytes_, cudaMemcpyHostToDevice);
    if (err == cudaSuccess) err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
        cudaFree(data_);
        data_ = nullptr;
        check(err, "uploading the multi-pass outer twiddle table");
    }
}

OuterTables::~OuterTables() {
    if (!data_) return;
    int previous = 0;
    if (cudaGetDevice(&previous) == cudaSuccess) {
        cudaSetDevice(device_);
        cudaFree(data_);
        cudaSetDevice(previous);
    }
}

}  // namespace ffc::cuda
