// The CPU backend's fp32 executor of one Monarch factorisation.
//
// It runs exactly the stages of src/monarch/monarch.hpp (four-step, outermost
// stage first, result in the permuted order), but each stage's r-point DFTs are
// done with an in-place radix-2/4 FFT instead of a dense r×r product, so a
// transform costs O(N log N). Tables are computed in double by src/monarch and
// stored as float; all arithmetic is fp32.
//
// Memory access: a stage views the data as [outer][r][inner] and transforms
// along the middle axis (stride `inner`). To stay cache-friendly for any inner,
// the stage gathers a chunk of `lanes` adjacent columns (r rows × lanes) into a
// small split re/im scratch, transforms the rows there (every butterfly is a
// short vectorisable loop over lanes) and scatters the result back, applying
// the twiddles on the way. Chunks never overlap, so the transform is in place.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ffc::cpu {

using cfloat = std::complex<float>;

class MonarchFft {
public:
    // radices: outermost first; each a power of two >= 1 (1 = an empty stage).
    explicit MonarchFft(const std::vector<int> &radices);

    uint64_t size() const { return n_; }
    const std::vector<int> &radices() const { return radices_; }

    // Largest radix executed, and the bound on scratch_floats() (16 KiB), small
    // enough for a stack buffer where no workspace is available.
    static constexpr int kMaxRadix = 2048;
    static constexpr size_t kMaxScratchFloats = 4096;

    // Floats of scratch one forward/inverse call needs (for any stage).
    size_t scratch_floats() const { return scratch_floats_; }

    // Natural order -> permuted spectrum, in place.
    void forward(cfloat *data, float *scratch) const;
    // Permuted spectrum -> natural order, in place, WITHOUT the 1/N factor: the
    // caller folds it into its pointwise product (1/N is a power of two, so
    // where it is applied does not change a single bit).
    void inverse_unscaled(cfloat *data, float *scratch) const;

private:
    // In-place r-point FFT tables: bit-reversal of the input rows and the roots
    // W_r^j = exp(−2πi j/r), j < r/2.
    struct RadixTables {
        int r = 0;
        std::vector<uint32_t> bitrev;
        std::vector<float> root_re, root_im;
    };
    struct Stage {
        int radix = 1;
        int lanes = 1;              // columns per chunk (power of two, divides outer·inner)
        int64_t inner = 1, outer = 1;
        bool last = false;          // the last stage has no twiddle
        int64_t tw_stride = 0;      // twiddle row stride (max(inner, lanes))
        std::vector<float> tw_re, tw_im;  // [k1][tw_stride]; see monarch_fft.cpp
        const RadixTables *fft = nullptr;
    };

    template <bool Inverse>
    void run_stage(const Stage &st, float *data, float *scratch) const;

    uint64_t n_ = 1;
    std::vector<int> radices_;
    std::vector<RadixTables> radix_tables_;  // indexed by log2(r)
    std::vector<Stage> stages_;
    size_t scratch_floats_ = 0;
};

}  // namespace ffc::cpu
