// Host-side Monarch mathematics, written once and shared by every backend, the
// planner and the tests. Everything is computed in double.
//
// Convention (DESIGN §3). For N = r_0 · r_1 · … · r_{p-1} (outermost first), stage
// s views the data as [outer_s][r_s][inner_s] with inner_s = Π_{i>s} r_i and
// outer_s = Π_{i<s} r_i. Forward stage s applies the r_s-point DFT along the
// middle axis and then multiplies element (b, k1, n2) by the twiddle
// W_{r_s·inner_s}^{k1·n2}, W_M = exp(−2πi/M). The last stage has no twiddle.
// After all stages the element at storage position `pos` holds frequency
// frequency_of_position(pos) of the natural-order DFT (the "permuted spectrum").
// The inverse runs the mirror image, stages p-1 … 0, with conjugates, and returns
// natural order; the spectrum is never un-permuted.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace ffc::monarch {

using cdouble = std::complex<double>;

// exp(-2πi · e / n), with e reduced mod n first and the angle computed exactly
// enough that |error| <= 1 ulp of double.
cdouble unit_root(uint64_t n, uint64_t e);

// r×r DFT matrix F[k][j] = W_r^{jk}, row-major.
std::vector<cdouble> dft_matrix(int r);

struct StageGeometry {
    int radix = 0;        // r_s
    uint64_t inner = 0;   // inner_s: stride between the r_s elements of one column
    uint64_t outer = 0;   // outer_s: number of independent blocks
};

// Geometry of every stage, outermost first. Product of radices must be a power of two.
std::vector<StageGeometry> stage_geometry(const std::vector<int> &radices);

// Exponent e of the twiddle W_{r_s·inner_s}^e applied after forward stage s at
// storage position pos (0 for the last stage).
uint64_t twiddle_exponent(const StageGeometry &stage, uint64_t pos);

// Natural-order frequency held at storage position pos after the forward transform.
uint64_t frequency_of_position(const std::vector<int> &radices, uint64_t pos);
// The whole map, position -> frequency (a permutation of 0..N-1).
std::vector<uint64_t> position_to_frequency(const std::vector<int> &radices);

// All ordered factorisations of n (a power of two) into factors taken from
// `allowed` (powers of two), with at most max_factors factors.
std::vector<std::vector<int>> enumerate_factorizations(uint64_t n, const std::vector<int> &allowed,
                                                       int max_factors);

// Two-for-one pairing: pair p of a channel packs batch elements 2p (real part)
// and 2p+1 (imaginary part); with odd B the last pair's imaginary part is zero.
struct Pair {
    int64_t real_batch;
    int64_t imag_batch;  // -1: absent (zeros)
};
inline Pair batch_pair(int64_t batch, int64_t p) {
    int64_t a = 2 * p, b = 2 * p + 1;
    return Pair{a, b < batch ? b : -1};
}

// Reference transforms in double, executing the Monarch stages literally (O(N·Σr)).
// Used by tests to check the stage convention; backends use their own kernels.
void forward_permuted(const std::vector<int> &radices, std::vector<cdouble> &data);
void inverse_from_permuted(const std::vector<int> &radices, std::vector<cdouble> &data);  // includes 1/N

}  // namespace ffc::monarch
