// Overlap-save windows: the one definition of how a (B, H, L) tensor maps to and
// from a buffer of length-N windows, shared by the partial-convolution driver
// (src/partial) and every backend's copy primitive (CPU loop, CUDA kernel).
//
// A sequence of length L is cut into `blocks` windows of width N; window j
// starts at position j·step + origin of its sequence. Windows are numbered
// w = b·blocks + j over the whole batch. A copy covers the channels
// [h0, h0 + nh) and the windows [w0, w0 + nw); in the buffer, row
// (w − w0)·nh + (h − h0) holds window w of channel h, so the buffer is itself a
// (nw, nh, N) tensor that a plain plan convolves with the shape (nw, nh, N, K).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FFC_HOST_DEVICE __host__ __device__
#else
#define FFC_HOST_DEVICE
#endif

namespace ffc {

struct WindowCopy {
    int elem_bytes = 2;                        // 2 (fp16, bf16) or 4 (fp32): copies move raw elements
    int64_t batch = 0, channels = 0, seq_len = 0;  // the (B, H, L) tensor
    int64_t h0 = 0, nh = 0;                    // channel range
    int64_t w0 = 0, nw = 0;                    // window range, w = b·blocks + j
    int64_t blocks = 0;                        // windows per sequence
    int64_t step = 0;                          // window j starts at j·step + origin
    int64_t origin = 0;                        // ≤ 0: a window may start before t = 0 (zeros there)
    int64_t width = 0;                         // N, a power of two
    int64_t lo = 0;                            // gather: positions t < lo are zero;
                                               // scatter: positions [lo, lo + step) are written
    const void *src = nullptr;                 // gather: the tensor; scatter: the buffer
    void *dst = nullptr;                       // gather: the buffer; scatter: the tensor
    void *stream = nullptr;                    // cudaStream_t for the CUDA backend

    FFC_HOST_DEVICE int64_t rows() const { return nw * nh; }
    FFC_HOST_DEVICE int64_t buffer_elements() const { return rows() * width; }
};

// Buffer row `row` is a window of one sequence: the tensor offset of that
// sequence's position 0, and the sequence position of the window's t = 0.
struct WindowRow {
    int64_t sequence = 0;
    int64_t start = 0;
};
FFC_HOST_DEVICE inline WindowRow window_row(const WindowCopy &c, int64_t row) {
    const int64_t w = c.w0 + row / c.nh, h = c.h0 + row % c.nh;
    const int64_t b = w / c.blocks, j = w % c.blocks;
    return WindowRow{(b * c.channels + h) * c.seq_len, j * c.step + c.origin};
}

// Element offset in the (B, H, L) tensor of position t of a window, or −1
// when that position lies outside the sequence [0, L).
FFC_HOST_DEVICE inline int64_t window_tensor_offset(const WindowCopy &c, const WindowRow &r, int64_t t) {
    const int64_t pos = r.start + t;
    return pos < 0 || pos >= c.seq_len ? -1 : r.sequence + pos;
}

// A gather writes the tensor's element at (row, t) where t >= lo and the
// offset is >= 0, and a zero everywhere else; a scatter writes the positions
// lo <= t < lo + step whose offset is >= 0 and nothing else.

// Windows for a backend that reads and writes them in place
// (Executor::forward_windows, backward_windows): window j of every sequence
// covers its positions [j·step − lead, j·step − lead + N), reads zeros outside
// [0, L), and keeps (writes) its positions keep ≤ t < keep + step that lie
// inside the sequence — the windows the copies make with origin = −lead,
// gathered from lo = 0 and scattered from lo = keep, so the result is the same,
// bit for bit. The forward's ("output windows") have lead = keep = r, the
// reach; du's and d_in_gate's ("input windows") lead = keep = 0.
struct WindowGrid {
    int64_t step = 0;    // N − r, a multiple of 8
    int64_t blocks = 0;  // windows per sequence: ceil(L / step)
    int64_t lead = 0;    // 0 or r (a multiple of 8, ≤ N/2)
    int64_t keep = 0;    // 0 or r
};

}  // namespace ffc
