#include "sparse/frequency_mask.hpp"

#include <cmath>
#include <complex>
#include <cstdio>

#include "common/executor.hpp"
#include "common/types.hpp"

namespace ffc {

uint32_t FrequencyMask::kept() const {
    uint32_t c = 0;
    for (uint8_t v : keep) c += v;
    return c;
}

std::string FrequencyMask::str() const {
    char b[96];
    std::snprintf(b, sizeof b, "kept %u of %u residue blocks (%.1f %% of the bins)", kept(), blocks,
                  100.0 * double(kept()) / double(blocks));
    return b;
}

FrequencyMask make_frequency_mask(const uint8_t *mask, uint32_t len, uint64_t n) {
    if (!mask)
        fail(FFC_ERROR_INVALID_ARGUMENT, "freq_mask is NULL but freq_mask_len = " + std::to_string(len) +
                                             " (set both, or neither)");
    if (len == 0 || (len & (len - 1)) != 0 || len > n)
        fail(FFC_ERROR_INVALID_ARGUMENT, "freq_mask_len = " + std::to_string(len) +
                                             " must be a power of two from 1 to fft_size = " + std::to_string(n));
    FrequencyMask m;
    m.blocks = len;
    m.keep.resize(len);
    for (uint32_t j = 0; j < len; ++j) m.keep[j] = mask[j] != 0;
    // A real filter's spectrum has X[N − f] = conj X[f]; the masked one keeps
    // that (and stays a real filter) only if bins f and N − f share their fate.
    for (uint32_t j = 0; j < len; ++j) {
        const uint32_t mirror = (len - j) & (len - 1);
        if (m.keep[j] != m.keep[mirror])
            fail(FFC_ERROR_INVALID_ARGUMENT,
                 "freq_mask is not symmetric: entry " + std::to_string(j) + " is " + (m.keep[j] ? "nonzero" : "0") +
                     " but entry " + std::to_string(mirror) + " (= G - " + std::to_string(j) + ") is " +
                     (m.keep[mirror] ? "nonzero" : "0") + "; bins f and N - f must both be kept or both zeroed");
    }
    return m;
}

std::vector<uint8_t> spectrum_layout_mask(const Executor &executor, uint64_t n, const FrequencyMask &mask) {
    const uint32_t G = mask.blocks;
    // residue[i] = (bin at layout position i) mod 2^b after probe b.
    std::vector<uint32_t> residue(n, 0);
    for (uint32_t half = 1; half < G; half *= 2) {  // probe b: 2^b = 2·half
        const uint64_t delay = n / (2 * half);
        std::vector<float> k(delay + 1, 0.0f);
        k[delay] = 1.0f;
        const std::vector<std::complex<float>> spec = executor.probe_spectrum(k);
        if (spec.size() != n) fail(FFC_ERROR_INTERNAL, "frequency mask: probe spectrum has the wrong size");
        // spec[i] = s·exp(∓2πi·f/(2·half)) for a backend's scale s > 0 (the
        // sign of the exponent does not matter: the mask is symmetric).
        const double scale = std::abs(std::complex<double>(spec[0]));
        if (!(scale > 0)) fail(FFC_ERROR_INTERNAL, "frequency mask: the backend's probe spectrum is zero");
        for (uint64_t i = 0; i < n; ++i) {
            // Undo the known low bits r: what is left is exp(−πi·bit) = ±1.
            const double angle = M_PI * double(residue[i]) / double(half);
            std::complex<double> w = std::complex<double>(spec[i]) / scale;
            w *= std::polar(1.0, angle);
            const bool bit = w.real() < 0;
            if (!(std::abs(w - std::complex<double>(bit ? -1.0 : 1.0)) <= 0.25))  // NaN fails too
                fail(FFC_ERROR_INTERNAL, "frequency mask: the backend's spectrum of a delayed impulse is not a "
                                         "root of unity at position " + std::to_string(i));
            if (bit) residue[i] += half;
        }
    }
    // Every residue class must fill exactly N/G positions: the layout is a permutation.
    std::vector<uint64_t> count(G, 0);
    for (uint32_t r : residue) ++count[r];
    for (uint32_t r = 0; r < G; ++r)
        if (count[r] != n / G) fail(FFC_ERROR_INTERNAL, "frequency mask: the backend's spectrum layout is no permutation");
    std::vector<uint8_t> layout(n);
    for (uint64_t i = 0; i < n; ++i) layout[i] = mask.keep[residue[i]];
    return layout;
}

}  // namespace ffc
