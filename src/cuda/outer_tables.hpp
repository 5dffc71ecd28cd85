// The device table of the multi-pass outer passes (outer_twiddles.hpp): the
// two-level double table of W_N and the fp32 table of W_M. Built once per plan
// on the host (double, from monarch::unit_root), uploaded, owned here: plan
// memory, not workspace. N = 4M: 64 KiB + 2 KiB.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ffc::cuda {

class OuterTables {
public:
    // The plan's device must be current. Allocates, uploads and synchronises.
    OuterTables(uint64_t n, int m, int device);
    ~OuterTables();
    OuterTables(const OuterTables &) = delete;
    OuterTables &operator=(const OuterTables &) = delete;

    const void *data() const { return data_; }  // OuterParams::twiddles
    int lo_bits() const { return lo_bits_; }      // OuterParams::twiddle_lo_bits
    size_t bytes() const { return bytes_; }

private:
    int device_;
    void *data_ = nullptr;
    int lo_bits_ = 0;
    size_t bytes_ = 0;
};

}  // namespace ffc::cuda
