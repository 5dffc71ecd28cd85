// The fp64 reference ("oracle") that every backend test compares against, and
// the helpers around it: random inputs, NaN poisoning, error measures and the
// precision rule of DESIGN §3.
//
// Backend-agnostic on purpose: everything works on HOST arrays of the I/O dtype
// (const void* + ffc_dtype_t) and fp32 k / dk. A GPU test copies its outputs to
// the host and uses exactly the same functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "flashfftconv/flashfftconv.h"

namespace ffc_test {

// ---------------------------------------------------------------------------
// Host tensors and random inputs
// ---------------------------------------------------------------------------

size_t dtype_bytes(ffc_dtype_t dtype);
const char *dtype_label(ffc_dtype_t dtype);

// A dense host array of `count` elements of an I/O dtype.
class HostTensor {
public:
    HostTensor() = default;
    HostTensor(ffc_dtype_t dtype, int64_t count);
    void *data() { return count_ ? storage_.data() : nullptr; }
    const void *data() const { return count_ ? storage_.data() : nullptr; }
    ffc_dtype_t dtype() const { return dtype_; }
    int64_t count() const { return count_; }
    size_t bytes() const { return storage_.size(); }
    double at(int64_t i) const;  // element i as double
    bool bitwise_equal(const HostTensor &other) const;

private:
    ffc_dtype_t dtype_ = FFC_DTYPE_FP32;
    int64_t count_ = 0;
    std::vector<unsigned char> storage_;  // 8-byte aligned (operator new), enough for every dtype
};

// A fresh seed for every call: a process-wide counter mixed with std::random_device,
// so repeated runs see different data. Tests print it (INFO) so a failure can be
// replayed by constructing Rng with that seed.
uint64_t fresh_seed();

class Rng {
public:
    explicit Rng(uint64_t seed = fresh_seed()) : seed_(seed), engine_(seed) {}
    uint64_t seed() const { return seed_; }
    double normal() { return dist_(engine_); }

private:
    uint64_t seed_;
    std::mt19937_64 engine_;
    std::normal_distribution<double> dist_{0.0, 1.0};
};

// Normally distributed values (mean 0, given stddev), rounded to the tensor's dtype.
void fill_normal(HostTensor &t, Rng &rng, double stddev = 1.0);
void fill_normal(std::vector<float> &v, Rng &rng, double stddev = 1.0);

// NaN poisoning: an output element the code under test forgets to write stays
// NaN, and NaN never passes an error check.
void poison(HostTensor &t);
void poison(std::vector<float> &v);
bool all_poisoned(const HostTensor &t);       // every element still holds the poison bits
bool all_poisoned(const std::vector<float> &v);

// ---------------------------------------------------------------------------
// The reference convolution (DESIGN §1), in double, from the given (already
// rounded) inputs.
// ---------------------------------------------------------------------------

struct ConvProblem {
    int64_t batch = 1, channels = 1, seq_len = 1, kernel_len = 1;
    int64_t fft_size = 256;
    ffc_dtype_t dtype = FFC_DTYPE_FP16;  // dtype of u, gates, dy (host arrays)
    std::string str() const;
};

struct ConvInputs {
    const void *u = nullptr;         // (B, H, L)
    const float *k = nullptr;        // (H, K)
    const void *in_gate = nullptr;   // (B, H, L) or NULL
    const void *out_gate = nullptr;  // (B, H, L) or NULL
    // Frequency-sparse plans (ffc_plan_desc_t::freq_mask): bin f of the filter's
    // spectrum is kept iff freq_mask[f mod freq_mask_len] != 0 (NULL: dense).
    // The reference then takes the FFT method whatever is asked.
    const uint8_t *freq_mask = nullptr;
    int64_t freq_mask_len = 0;
};

// direct: O(L·K) sums, exact up to double rounding; fft: FFTW (double) of size N;
// automatic: direct while B·H·L·K is small, FFTW otherwise.
enum class Method { automatic, direct, fft };

// y (B, H, L).
std::vector<double> reference_forward(const ConvProblem &p, const ConvInputs &in, Method method = Method::automatic);

struct BackwardRequest {
    bool du = true, dk = true, d_in_gate = true, d_out_gate = true;
};
// Requested outputs are filled, the others stay empty. dk is (H, K).
struct BackwardReference {
    std::vector<double> du, dk, d_in_gate, d_out_gate;
};
BackwardReference reference_backward(const ConvProblem &p, const ConvInputs &in, const void *dy,
                                     BackwardRequest request = {}, Method method = Method::automatic);

// ---------------------------------------------------------------------------
// Error measures and the precision rule
// ---------------------------------------------------------------------------

// ||out − ref|| / ||ref||. Any NaN or Inf in out gives +Inf (never passes);
// a zero reference gives 0 for an exact match and +Inf otherwise.
double rel_l2(const HostTensor &out, const std::vector<double> &ref);
double rel_l2(const std::vector<float> &out, const std::vector<double> &ref);

// relL2(round_to_dtype(ref), ref): the error of correctly rounding the exact result.
double rounding_rel_l2(const std::vector<double> &ref, ffc_dtype_t dtype);

// The normwise scale of the error of an FFT convolution, per output. The error
// of an FFT-based convolution is not proportional to the output itself: the
// forward transforms make errors of size ~u·||v||·||k|| per sequence, which the
// pointwise product and inverse transform spread evenly over all N outputs.
// When the output is small against that (L = 1 picks one of N values; a kernel
// whose first taps happen to be tiny) the relative error grows accordingly.
// The scale for each output is the root-sum-square over sequences of
//   y:          sqrt(L/N) · rms(out_gate) · ||v||  · ||k||
//   du:         sqrt(L/N) · rms(in_gate)  · ||dz|| · ||k||
//   d_in_gate:  sqrt(L/N) · rms(u)        · ||dz|| · ||k||
//   d_out_gate: sqrt(L/N) · rms(dy)       · ||v||  · ||k||
//   dk:         sqrt(K/N) · ||dz|| · ||v||   (summed over b as independent terms)
// (norms over the L stored values; rms = 1 for an absent gate). For Gaussian
// data with L = N it is about the output's own norm.
struct ErrorScales {
    double y = 0, du = 0, dk = 0, d_in_gate = 0, d_out_gate = 0;
};
ErrorScales error_scales(const ConvProblem &p, const ConvInputs &in, const void *dy = nullptr);

// Per-level constant of the fp32 bound, c·log2(N)·2^-24 (see oracle.cpp).
double fp32_arithmetic_bound(int64_t fft_size);

// The precision rule (DESIGN §3) for an output of `dtype`:
//   fp16 / bf16: 2 × rounding_rel_l2(ref, dtype), computed on this very reference;
//   fp32:        fp32_arithmetic_bound(N) · (1 + scale / ||ref||), scale from error_scales().
double tolerance(const std::vector<double> &ref, ffc_dtype_t dtype, int64_t fft_size, double scale);
// dk is fp32 in every plan.
inline double dk_tolerance(const std::vector<double> &ref, int64_t fft_size, double scale) {
    return tolerance(ref, FFC_DTYPE_FP32, fft_size, scale);
}

// Unit roundoff of a dtype (2^-24, 2^-11, 2^-8): the largest relative error of
// rounding one value to it.
double unit_roundoff(ffc_dtype_t dtype);

// Dot product and Euclidean norm of host arrays, in double.
double dot(const HostTensor &a, const HostTensor &b);
double norm(const HostTensor &a);

}  // namespace ffc_test
