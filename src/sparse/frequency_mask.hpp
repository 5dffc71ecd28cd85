// Frequency-sparse plans (DESIGN §4, ffc_plan_desc_t::freq_mask): the caller's
// mask over spectrum bins, validated once, and its image in a backend's own
// spectrum layout, which is what the executors apply.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ffc {

class Executor;

// Bin f of the N-point spectrum is kept iff keep[f mod blocks] != 0.
struct FrequencyMask {
    uint32_t blocks = 0;        // G: a power of two, 1 ≤ G ≤ N
    std::vector<uint8_t> keep;  // G entries, 0 or 1, symmetric: keep[j] == keep[(G − j) mod G]
    uint32_t kept() const;      // entries that are 1
    std::string str() const;    // e.g. "kept 3 of 8 residue blocks (37.5 %)"
};

// Validates the descriptor's mask for FFT size n (FFC_ERROR_INVALID_ARGUMENT
// with the reason otherwise) and normalises it to 0/1.
FrequencyMask make_frequency_mask(const uint8_t *mask, uint32_t len, uint64_t n);

// The mask in `executor`'s spectrum layout: one byte per complex position of a
// channel's spectrum (N of them), 1 where that position holds a kept bin. The
// layout is found by asking the executor for the spectra of log2(G) delayed
// impulses (Executor::probe_spectrum): δ[t − N/2^b] has spectrum
// exp(−2πi·f/2^b), which fixes bit b − 1 of f once the lower bits are known,
// so nothing here depends on how a backend orders its spectrum. Plan creation
// only (the probes allocate and synchronise on CUDA).
std::vector<uint8_t> spectrum_layout_mask(const Executor &executor, uint64_t n, const FrequencyMask &mask);

}  // namespace ffc
