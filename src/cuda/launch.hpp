// Launch interface between the host-side CUDA executor (plain C++) and the
// generated kernel instantiations (one .cu each). No CUDA headers here.
#pragma once

#include <cstdint>

namespace ffc::cuda {

enum IoType : int { io_f32 = 0, io_f16 = 1, io_bf16 = 2 };

// Mode of the fused kernel.
enum FusedMode : int {
    mode_conv = 0,      // y = out_gate ⊙ IFFT(FFT(in_gate ⊙ u) · K)
    mode_spectrum = 1,  // spectrum_out = FFT(k) in the kernel's visit order
};

struct FusedParams {
    FusedMode mode = mode_conv;
    IoType io = io_f16;
    // conv mode
    const void *u = nullptr;
    const void *in_gate = nullptr;   // optional
    const void *out_gate = nullptr;  // optional
    void *y = nullptr;
    const void *spectrum = nullptr;  // float2 [H][N], visit order
    // spectrum mode
    const float *k = nullptr;        // (H, K)
    void *spectrum_out = nullptr;    // float2 [H][N]
    // tables
    const void *twiddles = nullptr;  // float2 [64 + N/64]: W_N^m for m < 64, then W_N^(64·i)
    // shape
    int64_t batch = 0, channels = 0, seq_len = 0, kernel_len = 0;
    int64_t pairs_per_channel = 0;   // ceil(B / 2)
    int64_t items = 0;               // sequences the grid covers: H·pairs (conv) or H (spectrum)
};

struct FusedKernelEntry {
    const char *name;
    void (*prepare)();                                  // one-time attribute setup (plan creation)
    void (*launch)(const FusedParams &, void *stream);  // enqueue; never synchronises
};

// Looks an instantiation up by its registry name; nullptr if absent from this build.
const FusedKernelEntry *find_fused_kernel(const char *name);

}  // namespace ffc::cuda
