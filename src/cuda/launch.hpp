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
    mode_transform = 2,  // spectrum_out[item] = FFT(v_a + i·v_b) of a pair, v = in_gate ⊙ u
    mode_inverse = 3,    // real_out[item][s] = Re IFFT(spectrum[item])[s] for s < kernel_len (fp32)
    // Inner pass of the multi-pass path: rows[item] ← IFFT(FFT(rows[item]) · K_row) in
    // place, complex fp32 in natural order (scaled by 1/N of this kernel), where
    // the spectrum row of item is (item / (rows_per_seq · pairs_per_channel)) ·
    // rows_per_seq + item % rows_per_seq: the rows of one sequence pair are
    // consecutive items and share the channel's spectrum rows.
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
};

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
    // spectrum mode
    const float *k = nullptr;        // (H, K)
    // float2 [items][N]: spectrum and transform modes write their spectra here; in
    // conv mode it is optional and receives FFT(in_gate ⊙ u) of every pair, in
    // rows mode FFT(rows[item]) of every row (before the product).
    void *spectrum_out = nullptr;
    float *real_out = nullptr;       // fp32 [items][kernel_len] (inverse mode)
    void *rows = nullptr;            // float2 [items][N] (rows mode), read and written in place
    int64_t rows_per_seq = 1;        // rows mode: rows of one sequence pair
    // tables
    const void *twiddles = nullptr;  // float2 [64 + N/64]: W_N^m for m < 64, then W_N^(64·i)
    const void *twiddle_tables = nullptr;  // per-pass tables of the tensor-core stages (build_tables)
    // shape
    int64_t batch = 0, channels = 0, seq_len = 0, kernel_len = 0;
    int64_t pairs_per_channel = 0;   // ceil(B / 2)
    int64_t items = 0;               // what the grid covers: H·pairs (conv, transform), H (spectrum, inverse) or rows (rows modes)
    // First item of this launch. Row offsets (u, gates, y, k, real_out, rows) and
    // the conv spectrum use the global item (item_offset + i); the per-item buffers
    // spectrum_out (every mode that writes it) and spectrum (mode_inverse,
    // mode_rows_inverse) are indexed by the launch-local i, so a chunk of items
    // can use a chunk-sized buffer.
    int64_t item_offset = 0;
};

struct FusedKernelEntry {
    const char *name;
    void (*prepare)();                                  // one-time attribute setup (plan creation)
    size_t (*table_bytes)();                            // bytes of the variant's twiddle tables
    void (*build_tables)(void *dst, void *stream);      // fills them (plan creation)
    void (*launch)(const FusedParams &, void *stream);  // enqueue; never synchronises
};

// Looks an instantiation up by its registry name; nullptr if absent from this build.
const FusedKernelEntry *find_fused_kernel(const char *name);

}  // namespace ffc::cuda
