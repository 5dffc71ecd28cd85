// The multi-pass CUDA path (DESIGN §3, "Sizes that fit on chip, and sizes that
// do not"): N = M·N_in with N_in a fused size, M = N / N_in in 2..256 with the
// direct outer kernels, 2..1024 with the cuBLASLt ones (outer_gemm.hpp; the
// plan's Candidate::outer). Forward, backward and kernel spectra. Host
// interface only (no CUDA headers), used by cuda_executor.cpp.
//
// One multi-pass convolution of a sequence pair x = x_a + i·x_b (gated on input):
//
//   pass 1 (outer_forward, multipass.cu): per column n2 of the M×N_in view,
//           Z[k1][n2] = W_N^(n2·k1) · Σ_n1 A[n1][n2] · W_M^(n1·k1)
//   pass 2 (the inner fused kernel in mode_rows): every row k1 of Z in place,
//           IFFT_{N_in}(FFT_{N_in}(row) · Kspec_row(k1))   (conj(Kspec) for a correlation)
//   pass 3 (outer_inverse): w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) ·
//           conj(W_N^(n2·k1)) · Z[k1][n2]; y_a = Re, y_b = Im (t < L), ⊙ out_gate
//
// The "multi-pass spectrum" of a sequence is pass 1 followed by the inner forward
// transform of every row (each row in the inner kernel's visit order): float2
// [M][N_in] per sequence, FFT_N(x)[k1 + M·k2] at row k1, visit position of k2 —
// a permutation of FFT_N(x). The filter's spectrum is that of k (H·N·8 bytes, the
// fused path's size). Pass 2 can emit the spectrum of the pair it convolves
// (FusedParams::spectrum_out), and pass 1 + mode_rows_transform alone makes it.
//
// Backward (DESIGN §1; v = in_gate ⊙ u, dz = out_gate ⊙ dy; gates absent = ones)
// is two multi-pass convolutions plus dk, as on the fused path (cuda_executor.cpp):
//
//   A  conv(u,  in_gate,  K)       → d_out_gate = dy ⊙ z                   [spectrum V]
//   B  conv(dy, out_gate, conj K)  → du = in_gate ⊙ dv, d_in_gate = u ⊙ dv  [spectrum DZ]
//   dk = Re IFFT_N(Σ_pairs conj(V) · DZ)[s < K]
//
// Without dk, A and B run one after the other through one Z buffer. With dk,
// both passes 1 run first (Z_v and Z_dz), then one inner launch in
// mode_rows_dk (launch.hpp) transforms both rows of each (pair, row), forms
// conj(V)·DZ on chip and sums it over the pairs of a pair group (a slot walks
// its group's pairs in order), then both passes 3. V waits for the DZ pass in
// shared memory (256–4K inner sizes: both passes side by side, launch.hpp) or is
// stashed in [dk_part] between the two passes that use it (read back by the
// thread that wrote it, from the L2 while it is still there), so neither
// spectrum makes an HBM round trip of its own; with G groups per channel the G partial sums are added in
// group order afterwards (launch_partial_sum). The product is elementwise, so
// it runs in the multi-pass layout; the inverse of the sum is the inner kernel's
// mode_rows_inverse on each of its M rows (natural order, 1/N_in) followed by
// pass 3 with one real "sequence" per channel (B = 1, L = K, fp32 out): exactly
// IFFT_N. A convolution whose gated outputs are all unwanted skips its inverse
// and its pass 3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/executor.hpp"

namespace ffc {
namespace plan { struct Decision; }

namespace cuda {

enum IoType : int;  // launch.hpp
struct FusedKernelEntry;
struct FusedParams;
class DeviceBuffer;
class FusedTables;
class OuterGemm;
class OuterTables;
namespace mp { struct OuterParams; }  // outer_params.cuh

class MultipassExecutor {
public:
    MultipassExecutor(const plan::Decision &decision, int device);
    ~MultipassExecutor();
    MultipassExecutor(const MultipassExecutor &) = delete;
    MultipassExecutor &operator=(const MultipassExecutor &) = delete;

    // One number for forward and backward (see Layout).
    size_t workspace_size(const Shape &s) const;
    // The current device must be the plan's (the CUDA executor guards it).
    void forward(const ForwardArgs &a) const;
    void backward(const BackwardArgs &a) const;
    void compute_spectrum(const SpectrumArgs &a) const;

    uint64_t inner_size() const { return n_in_; }
    int outer_size() const { return m_; }
    // The outer passes' table (mp::OuterParams::twiddles / twiddle_lo_bits).
    const OuterTables &outer_tables() const { return *outer_tables_; }

    // Frequency-sparse plans: the mask in the multi-pass spectrum layout, on the
    // host and as the CUDA executor's device copy (which must outlive this).
    // Every filter spectrum is masked from then on, and dk's sum before its
    // inverse. Spectrum rows the mask drops whole (row r holds the bins
    // f ≡ r mod M) are skipped by the convolutions of the direct outer passes:
    // pass 1 does not store them, pass 2 does not visit them, pass 3 reads
    // them as zeros. Plan creation only.
    void set_spectrum_mask(const std::vector<uint8_t> &mask, const uint8_t *device_mask);
    // Spectrum rows whose convolutions run (M unless rows are skipped).
    int64_t kept_rows() const { return kept_row_count_; }

    // Work runs in chunks of items (h·pairs + pair, channel-major): `channels`
    // whole channels with all their pairs, or (channels = 1) `pairs` pairs of one
    // channel — either way a contiguous item range, of at most the plan's chunk
    // of Z (plan::Candidate::chunk_bytes); the last chunk of either kind may be
    // shorter. Depends on the shape and the plan alone.
    struct Chunking {
        int64_t channels = 1, pairs = 1;
        int64_t items() const { return channels * pairs; }
    };
    // Byte offsets of the workspace's sub-buffers, each 256-byte aligned; every
    // chunk buffer is the full chunk's size (Chunking::items() sequences of N
    // complex fp32 values, or channels of them for acc):
    //   [scratch] cuBLASLt outer passes only: the GEMMs' other operand, one chunk
    //   [kspec]  the filter's multi-pass spectrum, float2 [H][M][N_in]
    //            (unless a spectrum is passed in, or a backward wants only dk)
    //   [z]      the chunk's intermediate Z, float2 [items][M][N_in]   (forward and backward;
    //            Z_v in backward with dk)
    //   [z2]     backward with dk: Z_dz of the chunk's pairs, same shape
    //   [dk_part] backward with dk: V's stash, float2 [channels][G][M][N_in], and
    //            with G > 1 pair groups the groups' partial sums, the same shape
    //            (before the stash when 2G ≤ pairs, in its place when G = pairs:
    //            at most a chunk)
    //   [acc]    backward with dk: Σ_pairs conj(V)·DZ of the chunk's channels,
    //            float2 [channels][M][N_in]; turned into the rows inverse in place
    // So the workspace is H·N·8 bytes plus five chunks at most, whatever B.
    struct Layout {
        size_t kspec = 0, z = 0, z2 = 0, dk_part = 0, acc = 0, scratch = 0, total = 0;
        Chunking chunk;
    };
    Layout layout(const Shape &s) const;

private:
    // One multi-pass convolution over the pairs of a chunk (see convolve()).
    struct Conv {
        const void *x = nullptr;          // (B, H, L), I/O dtype
        const void *gate_in = nullptr;    // optional
        const void *spectrum = nullptr;   // the filter's multi-pass spectrum [H][M][N_in]
        bool conj = false;                // multiply by conj(spectrum): a correlation
        void *y = nullptr;                // optional: gate_out ⊙ w'
        const void *gate_out = nullptr;   // optional (NULL = ones)
        void *y2 = nullptr;               // optional second output: gate_out2 ⊙ w'
        const void *gate_out2 = nullptr;
        bool any_output() const { return y != nullptr || y2 != nullptr; }
    };
    Chunking chunking(const Shape &s) const;
    // Passes 1–3 of `c` for channels [h0, h0 + C) × pairs [p0, p0 + P) (a chunk),
    // through the chunk buffer z; nothing when c has no output.
    void convolve(const Conv &c, const Shape &s, int64_t h0, int64_t C, int64_t p0, int64_t P, void *z,
                  void *scratch, void *stream) const;
    // The outer passes' parameters of c's chunk starting at (h0, p0), through z.
    mp::OuterParams chunk_outer(const Conv &c, const Shape &s, int64_t h0, int64_t p0, void *z) const;
    // Pass 1 (input side of c) and pass 3 (c's outputs) over `items` pairs.
    void pass1(const Conv &c, mp::OuterParams o, int64_t items, void *scratch, void *stream) const;
    void pass3(const Conv &c, mp::OuterParams o, int64_t items, void *scratch, void *stream) const;
    // The inner kernel's parameters common to the rows modes, for C channels × P pairs.
    FusedParams rows_params(int64_t C, int64_t P) const;
    // Pair groups G of a backward chunk's mode_rows_dk launch (1 ≤ G ≤ P).
    int64_t dk_pair_groups(int64_t C, int64_t P) const;
    // dk rows [h0, h0 + C) = Re IFFT_N(acc[c]) for s < K; acc (float2 [C][M][N_in])
    // is overwritten by its rows inverse.
    void dk_inverse(const Shape &s, int64_t h0, int64_t C, void *acc, float *dk, void *scratch, void *stream) const;
    void launch_inner(const FusedParams &p, void *stream, const char *what) const;
    // K's multi-pass spectrum; scratch (cuBLASLt outer passes only) holds at
    // least one channel (N·8 bytes) and is used scratch_bytes at a time.
    void spectrum(const SpectrumArgs &a, void *scratch, size_t scratch_bytes) const;
    // K's spectrum of forward or backward into the workspace's [kspec] (the
    // layout's scratch for cuBLASLt outer passes); returns where it is.
    const void *workspace_spectrum(const Shape &s, const float *k, char *base, const Layout &w, void *stream) const;
    // Pass 1 or 3 over `items` pairs, by the plan's outer implementation
    // (scratch: cuBLASLt only, items·N·8 bytes).
    void outer_pass(IoType io, bool inverse, const mp::OuterParams &o, int64_t items, void *scratch,
                    void *stream) const;

    uint64_t n_ = 0, n_in_ = 0;
    int m_ = 0;
    DType dtype_;
    int device_ = 0;
    int sm_count_ = 1;
    size_t chunk_budget_ = 0;  // bytes of Z per chunk: the plan's chunk_bytes (or the testing override)
    const FusedKernelEntry *inner_ = nullptr;
    int inner_pairs_per_cta_ = 1;
    int inner_rows_dk_items_per_cta_ = 1;  // mode_rows_dk (FusedKernelInfo::dk_items_per_cta)
    std::unique_ptr<FusedTables> tables_;  // the inner kernel's twiddle tables
    std::unique_ptr<OuterTables> outer_tables_;  // the outer passes' twiddle tables (plan memory)
    std::unique_ptr<OuterGemm> gemm_;            // set when the outer passes are cuBLASLt GEMMs
    // Frequency-sparse plans (set_spectrum_mask): the device mask (the CUDA
    // executor's), and with rows to skip their bits and the kept rows' indices.
    const uint8_t *mask_ = nullptr;
    uint64_t row_skip_[4] = {0, 0, 0, 0};
    int64_t kept_row_count_ = 0;               // M (set at construction) unless rows are skipped
    std::unique_ptr<DeviceBuffer> kept_rows_;  // uint16 [kept_row_count_]
};

}  // namespace cuda
}  // namespace ffc
