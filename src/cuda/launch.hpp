// Launch interface between the host-side CUDA executor (plain C++) and the
// generated kernel instantiations (one .cu each). No CUDA headers here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ffc::cuda {

enum IoType : int { io_f32 = 0, io_f16 = 1, io_bf16 = 2 };

// Mode of the fused kernel.
// "Visit order" is the order in which the innermost stage visits spectrum
// elements ([tile][lane][row][index], see fused_conv.cuh); every spectrum-domain
// buffer below uses it, so no mode ever permutes a spectrum.
enum FusedMode : int {
    mode_conv = 0,       // y = out_gate ⊙ IFFT(FFT(in_gate ⊙ u) · K), K conjugated if conj_spectrum
    mode_spectrum = 1,   // spectrum_out[h] = FFT(k_h)  (one channel per item)
    mode_inverse = 3,    // real_out[item][s] = Re IFFT(spectrum[item])[s] for s < kernel_len (fp32)
    // Inner pass of the multi-pass path: rows[i] ← IFFT(FFT(rows[i]) · K_row) in
    // place, complex fp32 in natural order (scaled by 1/N of this kernel). rows
    // holds C channels × P pairs × M rows ([C·P][M][N], M = rows_per_seq, P =
    // pairs_per_channel); item (c·M + r)·P + p takes row i = (c·P + p)·M + r with
    // spectrum row c·M + r: the P items that share a spectrum row run side by
    // side (it is read from HBM once). spectrum_out, if set, receives FFT(rows[i])
    // at row i.
    mode_rows = 4,
    // spectrum_out[local] = FFT(rows[item]) in visit order: the inner transform of
    // complex rows (the multi-pass path uses it for the rows of k's spectrum).
    mode_rows_transform = 5,
    // rows[item] ← IFFT(spectrum[local]): a spectrum row in visit order in, the
    // complex fp32 row in natural order out (scaled by 1/N of this kernel, as in
    // mode_rows). mode_inverse's input side with mode_rows' output side; the
    // multi-pass backward uses it for the inner inverse of dk's spectrum. A slot
    // reads its whole spectrum row before it writes its output row, so spectrum
    // and rows may be the same buffer (row `local` in place when item_offset = 0).
    mode_rows_inverse = 6,
    // The multi-pass backward's inner pass with dk (multipass.hpp): both
    // convolutions' rows and dk's batch reduction in one launch. Item i of the
    // launch is row j of channel c for pair group g (i = (c·G + g)·M + j; G =
    // dk_pair_groups, M = rows_per_seq, P = pairs_per_channel pairs per channel in
    // the launch, group g = pairs [g·P/G, (g+1)·P/G)). For each pair of its
    // group, in increasing order, a slot runs two passes on its rows (rows = Z_v,
    // rows2 = Z_dz, both [C·P][M][N] complex fp32, chunk-local):
    //   1. V = FFT(rows[v row]) is stored to dk_stash[i] (visit order); with
    //      dk_inverse_v, rows[v row] ← IFFT(V · K_row);
    //   2. DZ = FFT(rows2[dz row]); dk_partial[i] (+)= conj(dk_stash[i])·DZ
    //      (visit order; "+" from the group's second pair on, or from its first
    //      with dk_accumulate); with dk_inverse_dz, rows2 row ← IFFT(DZ · conj K_row).
    // K_row: spectrum + (c·M + j)·N. The stash is read back by the thread that
    // wrote it, so dk_stash may be dk_partial when every group has one pair.
    // The 256–4K variants run both passes of a row at once, V in slot 2j and DZ
    // in slot 2j + 1 (Geometry::backward_paired, fused::DkGeometry: a CTA holds
    // half as many items as slots), and do not use dk_stash.
    // Deterministic: each element of dk_partial is owned by one thread, which
    // adds the pairs in a fixed order, without atomics.
    mode_rows_dk = 7,
};
// The fused backward (FusedKernelEntry::launch_backward) runs two mode_conv
// parameter sets in one launch, V pass and DZ pass, with the dk fields of
// mode_rows_dk: item i of the launch is pair group g of channel item_offset + c
// (i = c·G + g, G = dk_pair_groups); group g holds pairs dk_pair_offset + [g·P/G,
// (g+1)·P/G) with P = pairs_per_channel (the launch's pairs of a channel). For
// each pair of its group, in increasing order, a slot runs
//   1. the V pass: V = FFT(in_gate ⊙ u), stashed to dk_stash[i] when dk_partial
//      is set; with dk_inverse_v, its outputs (y = out_gate ⊙ IFFT(V · K));
//   2. the DZ pass: DZ = FFT(its in_gate ⊙ its u); dk_partial[i] (+)= conj(V)·DZ
//      as in mode_rows_dk; with dk_inverse_dz, its outputs (IFFT(DZ · conj K)).
// The DZ pass re-reads tensors the V pass of the same pair read (the backward's
// u, in_gate and dy), which the L2 may still hold. The 256–4K variants
// (Geometry::backward_paired, fused::DkGeometry) run both passes of a pair in
// one pass over the CTA, V in slot 2j and DZ in slot 2j + 1 (a CTA holds half
// as many items as slots); V waits for the DZ pass in a tile of shared memory
// per warp, and dk_stash is not used.


struct FusedParams {
    FusedMode mode = mode_conv;
    IoType io = io_f16;
    // conv mode
    const void *u = nullptr;
    const void *in_gate = nullptr;   // optional
    const void *out_gate = nullptr;  // optional
    void *y = nullptr;
    // conv mode, optional second output from the same convolution:
    // y2 = out_gate2 ⊙ z (out_gate2 NULL = ones). Used by backward for du and d_in_gate.
    void *y2 = nullptr;
    const void *out_gate2 = nullptr;
    const void *spectrum = nullptr;  // float2 [H][N], visit order (mode_inverse, mode_rows_inverse: [items][N])
    int conj_spectrum = 0;           // multiply by conj(K): correlation instead of convolution
    // Host side (the launch), mode_conv and mode_inverse only: the previous
    // launch in the stream is one of this call's kernels whose output this one
    // reads only from its middle stage on (the spectrum kernel, before a
    // forward convolution, a backward convolution or the fused backward's first
    // launch, which reads it from v_pass; the kernel before dk's inverse). The
    // launch is then programmatic (PDL): its CTAs start while that kernel
    // finishes and wait for it before the middle stage. Set only where the
    // variant's prepare() allowed it (sm_90 code).
    int overlap_previous = 0;
    // Host side, mode_spectrum and mode_inverse only: run in the variant's
    // transform kernel (fused::TransformGeometry: fewer slots per CTA, more
    // CTAs) where it has one. The executor decides (CudaExecutor::narrow_spectrum).
    int narrow_transform = 0;
    // spectrum mode
    const float *k = nullptr;        // (H, K)
    // float2 [items][N]: the spectrum modes write their spectra here; in rows
    // mode it is optional and receives FFT(rows[i]) of every row (before the
    // product).
    void *spectrum_out = nullptr;
    float *real_out = nullptr;       // fp32 [items][kernel_len] (inverse mode)
    void *rows = nullptr;            // float2 [items][N] (rows mode), read and written in place
    int64_t rows_per_seq = 1;        // rows mode: rows of one sequence pair
    // mode_rows of a frequency-sparse plan that skips spectrum rows: the launch
    // visits only rows kept_rows[0 .. kept_row_count) of each pair (its items
    // are C·P·kept_row_count). kept_row_count = 0: every row (the default).
    const uint16_t *kept_rows = nullptr;
    int64_t kept_row_count = 0;
    // mode_rows_dk and the fused backward (see there)
    void *rows2 = nullptr;           // float2 [items][N]: Z_dz (mode_rows_dk)
    void *dk_partial = nullptr;      // float2 [C][G][M][N], visit order (M = 1: the fused backward)
    void *dk_stash = nullptr;        // float2 [C][G][M][N], visit order
    int64_t dk_pair_groups = 1;      // G
    int64_t dk_pair_offset = 0;      // the fused backward: the launch's first pair of each channel
    int dk_inverse_v = 0, dk_inverse_dz = 0, dk_accumulate = 0;
    // mode_conv over overlap-save windows (the partial convolution's forward
    // and its du / d_in_gate, src/partial; common/windows.hpp, WindowGrid): the
    // launch reads and writes the (B, H, seq_len) tensors in place, in windows
    // of N. Window j of a sequence covers its positions [j·step − lead,
    // j·step − lead + N): inputs outside [0, seq_len) read as zero, and only
    // its positions keep ≤ t < keep + step (the exact ones) are written, where
    // they lie inside the sequence. A channel's
    // "batch" is its B·windows_per_seq windows, b·windows_per_seq + j, paired
    // two by two (pairs_per_channel = ceil(B·windows_per_seq / 2)). Only for
    // one-CTA variants with N ≤ 32768, and step and reach multiples of 8
    // (CudaExecutor::forward_windows).
    int64_t window_step = 0;  // 0: rows are whole sequences
    int64_t window_lead = 0, window_keep = 0;
    int64_t windows_per_seq = 0;
    // tables
    const void *twiddles = nullptr;  // float2 [64 + N/64]: W_N^m for m < 64, then W_N^(64·i)
    const void *twiddle_tables = nullptr;  // per-pass tables of the tensor-core stages (build_tables)
    // shape
    int64_t batch = 0, channels = 0, seq_len = 0, kernel_len = 0;
    int64_t pairs_per_channel = 0;   // ceil(B / 2)
    int64_t items = 0;               // what the grid covers: H·pairs (conv, transform), H (spectrum, inverse) or rows (rows modes)
    // First item of this launch. Row offsets (u, gates, y, k, real_out, rows) and
    // the conv spectrum use the global item (item_offset + i); the per-item buffers
    // spectrum_out (every mode that writes it but mode_rows, where it follows the
    // rows) and spectrum (mode_inverse, mode_rows_inverse) are indexed by the
    // launch-local i, so a chunk of items can use a chunk-sized buffer.
    int64_t item_offset = 0;
};

// What a variant's one-time setup reports about the current device.
struct FusedKernelInfo {
    bool programmatic_launch = false;  // launches may set FusedParams::overlap_previous
    int64_t backward_slots = 0;        // resident slots (pair groups) of the fused backward kernel (0: none fits)
    int dk_items_per_cta = 0;          // items (pair groups, mode_rows_dk rows) per CTA (cluster) of the dk kernels
    int transform_items_per_cta = 0;   // items (channels) per CTA of the narrow mode_spectrum / mode_inverse kernel
    int64_t conv_resident_ctas = 0;    // CTAs of the convolution kernel resident at once on the device (0: unknown)
};

struct FusedKernelEntry {
    const char *name;
    // One-time attribute setup (plan creation, on the plan's device).
    FusedKernelInfo (*prepare)();
    size_t (*table_bytes)();                            // bytes of the variant's twiddle tables
    void (*build_tables)(void *dst, void *stream);      // fills them (plan creation)
    void (*launch)(const FusedParams &, void *stream);  // enqueue; never synchronises
    // The fused backward (see mode_rows_dk's note): both convolutions of every
    // pair in one launch.
    void (*launch_backward)(const FusedParams &v_pass, const FusedParams &dz_pass, void *stream);
};

// Looks an instantiation up by its registry name; nullptr if absent from this build.
const FusedKernelEntry *find_fused_kernel(const char *name);

}  // namespace ffc::cuda
