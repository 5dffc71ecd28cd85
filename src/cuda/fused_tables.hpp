// The device tables one fused-kernel instantiation needs at FFT size n: the
// two-level table of W_n (computed in double, rounded once) and the per-pass
// twiddle tables of its tensor-core stages (built on the device by the
// instantiation from the Monarch definition). Built once per plan; owned here.
#pragma once

#include <cstdint>

#include "cuda/launch.hpp"

namespace ffc::cuda {

class FusedTables {
public:
    // The plan's device must be current. Allocates, uploads and synchronises.
    FusedTables(const FusedKernelEntry &kernel, uint64_t n, int device);
    ~FusedTables();
    FusedTables(const FusedTables &) = delete;
    FusedTables &operator=(const FusedTables &) = delete;

    const void *twiddles() const { return twiddles_; }      // FusedParams::twiddles
    const void *pass_tables() const { return pass_tables_; }  // FusedParams::twiddle_tables

private:
    int device_;
    void *twiddles_ = nullptr;     // owns both tables
    void *pass_tables_ = nullptr;  // inside twiddles_
};

}  // namespace ffc::cuda
