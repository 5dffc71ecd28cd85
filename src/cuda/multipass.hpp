// The multi-pass CUDA forward (DESIGN §3, "Sizes that fit on chip, and sizes
// that do not"): N = M·N_in with N_in a fused size, M = N / N_in in 2..256.
// Host interface only (no CUDA headers), used by cuda_executor.cpp.
//
//   pass 1 (outer_forward, multipass.cu): per column n2 of the M×N_in view,
//           Z[k1][n2] = W_N^(n2·k1) · Σ_n1 A[n1][n2] · W_M^(n1·k1)
//   pass 2 (the inner fused kernel in mode_rows): every row k1 of Z in place,
//           IFFT_{N_in}(FFT_{N_in}(row) · Kspec_row(k1))
//   pass 3 (outer_inverse): w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) ·
//           conj(W_N^(n2·k1)) · Z[k1][n2]; y_a = Re, y_b = Im (t < L), ⊙ out_gate
//
// The filter's "spectrum" for this path is pass 1 applied to k followed by the
// inner kernel's mode_rows_transform on every row: float2 [H][M][N_in], each row
// in the inner kernel's visit order. It has the fused path's size (H·N·8 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/executor.hpp"

namespace ffc {
namespace plan { struct Decision; }

namespace cuda {

struct FusedKernelEntry;
class FusedTables;
class OuterTables;

class MultipassForward {
public:
    MultipassForward(const plan::Decision &decision, int device);
    ~MultipassForward();
    MultipassForward(const MultipassForward &) = delete;
    MultipassForward &operator=(const MultipassForward &) = delete;

    // Forward's workspace: the spectrum rows (H·N·8 bytes), then one chunk's Z.
    size_t workspace_size(const Shape &s) const;
    void forward(const ForwardArgs &a) const;          // the current device must be the plan's
    void compute_spectrum(const SpectrumArgs &a) const;

    uint64_t inner_size() const { return n_in_; }
    int outer_size() const { return m_; }
    // The outer passes' table (mp::OuterParams::twiddles / twiddle_lo_bits).
    const OuterTables &outer_tables() const { return *outer_tables_; }

private:
    struct Chunking {
        int64_t channels = 1, pairs = 1;
    };
    Chunking chunking(const Shape &s) const;
    size_t z_offset(const Shape &s) const;

    uint64_t n_ = 0, n_in_ = 0;
    int m_ = 0;
    DType dtype_;
    int device_ = 0;
    size_t chunk_budget_ = 0;  // bytes of Z per chunk (aimed at the L2)
    const FusedKernelEntry *inner_ = nullptr;
    int inner_pairs_per_cta_ = 1;
    std::unique_ptr<FusedTables> tables_;  // the inner kernel's twiddle tables
    std::unique_ptr<OuterTables> outer_tables_;  // the outer passes' twiddle tables (plan memory)
};

}  // namespace cuda
}  // namespace ffc
