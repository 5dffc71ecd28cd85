// Overlap-save window copies (see common/windows.hpp for the index map).
//
// A CTA moves one segment of kThreads·V positions of one window row, so the
// row's place in the tensor (window_row: a few 64-bit divisions) is worked out
// once per thread for V elements. The buffer side is one aligned 16-byte
// access per thread (rows are N elements long and 256-byte aligned). The
// tensor side is a 16-byte access too where the V positions lie inside the
// sequence and start on a 16-byte boundary (the driver aligns window starts
// to 8 elements, so that is the common case when L is a multiple of 8), and V
// scalar accesses otherwise.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "common/types.hpp"
#include "cuda/cuda_util.hpp"
#include "cuda/windows.hpp"

namespace ffc::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
union Vec16 {
    static constexpr int V = 16 / int(sizeof(T));
    uint4 raw;
    T e[V];
};

// Segments of kThreads·V positions per row.
template <class T>
int64_t segments_per_row(const WindowCopy &c) {
    const int64_t seg = int64_t(kThreads) * Vec16<T>::V;
    return (c.width + seg - 1) / seg;
}

// This thread's row and first position; false when the position is past the row.
template <class T>
__device__ __forceinline__ bool thread_slot(const WindowCopy &c, int64_t segs, int64_t &row, int64_t &t0) {
    row = int64_t(blockIdx.x) / segs;
    t0 = ((int64_t(blockIdx.x) - row * segs) * kThreads + threadIdx.x) * Vec16<T>::V;
    return t0 < c.width;
}

template <class T>
__device__ __forceinline__ bool whole_vector(const T *base, int64_t at0, const WindowRow &r, int64_t t0,
                                             const WindowCopy &c) {
    constexpr int V = Vec16<T>::V;
    const int64_t pos = r.start + t0;
    return pos >= 0 && pos + V <= c.seq_len && (reinterpret_cast<uintptr_t>(base + at0) & 15) == 0;
}

template <class T>
__global__ void __launch_bounds__(kThreads) gather_kernel(WindowCopy c, int64_t segs) {
    constexpr int V = Vec16<T>::V;
    int64_t row, t0;
    if (!thread_slot<T>(c, segs, row, t0)) return;
    const T *__restrict__ src = static_cast<const T *>(c.src);
    const WindowRow r = window_row(c, row);
    Vec16<T> v;
    const int64_t at0 = r.sequence + r.start + t0;
    if (t0 >= c.lo && whole_vector(src, at0, r, t0, c)) {
        v.raw = __ldg(reinterpret_cast<const uint4 *>(src + at0));
    } else {
#pragma unroll
        for (int e = 0; e < V; ++e) {
            const int64_t at = t0 + e < c.lo ? -1 : window_tensor_offset(c, r, t0 + e);
            v.e[e] = at >= 0 ? src[at] : T(0);
        }
    }
    static_cast<uint4 *>(c.dst)[(row * c.width + t0) / V] = v.raw;
}

template <class T>
__global__ void __launch_bounds__(kThreads) scatter_kernel(WindowCopy c, int64_t segs) {
    constexpr int V = Vec16<T>::V;
    int64_t row, t0;
    if (!thread_slot<T>(c, segs, row, t0)) return;
    if (t0 + V <= c.lo || t0 >= c.lo + c.step) return;  // nothing kept here
    T *__restrict__ dst = static_cast<T *>(c.dst);
    const WindowRow r = window_row(c, row);
    Vec16<T> v;
    v.raw = static_cast<const uint4 *>(c.src)[(row * c.width + t0) / V];
    const int64_t at0 = r.sequence + r.start + t0;
    if (t0 >= c.lo && t0 + V <= c.lo + c.step && whole_vector(dst, at0, r, t0, c)) {
        *reinterpret_cast<uint4 *>(dst + at0) = v.raw;
        return;
    }
#pragma unroll
    for (int e = 0; e < V; ++e) {
        const int64_t t = t0 + e;
        if (t < c.lo || t >= c.lo + c.step) continue;
        const int64_t at = window_tensor_offset(c, r, t);
        if (at >= 0) dst[at] = v.e[e];
    }
}

__global__ void __launch_bounds__(kThreads) accumulate_kernel(float *__restrict__ dst, const float *__restrict__ src,
                                                              int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        dst[i] += src[i];
}

void check_copy(const WindowCopy &c) {
    if ((c.elem_bytes != 2 && c.elem_bytes != 4) || c.width % 8 != 0)
        fail(FFC_ERROR_INTERNAL, "window copy: unsupported element size or width");
}

unsigned grid_for(int64_t items) {
    // The grid-stride accumulate needs no more CTAs than fill any current GPU.
    return unsigned(std::max<int64_t>(1, std::min<int64_t>((items + kThreads - 1) / kThreads, int64_t(1) << 16)));
}

template <class T, class Kernel>
void launch_copy(Kernel kernel, const WindowCopy &c, const char *what) {
    const int64_t segs = segments_per_row<T>(c), blocks = c.rows() * segs;
    if (blocks >= (int64_t(1) << 31)) fail(FFC_ERROR_INTERNAL, "window copy: chunk too large for one launch");
    if (blocks > 0) kernel<<<unsigned(blocks), kThreads, 0, static_cast<cudaStream_t>(c.stream)>>>(c, segs);
    check(cudaGetLastError(), what);
}

}  // namespace

void launch_gather_windows(const WindowCopy &c) {
    check_copy(c);
    if (c.elem_bytes == 2) launch_copy<uint16_t>(gather_kernel<uint16_t>, c, "partial convolution: window gather");
    else launch_copy<uint32_t>(gather_kernel<uint32_t>, c, "partial convolution: window gather");
}

void launch_scatter_windows(const WindowCopy &c) {
    check_copy(c);
    if (c.elem_bytes == 2) launch_copy<uint16_t>(scatter_kernel<uint16_t>, c, "partial convolution: window scatter");
    else launch_copy<uint32_t>(scatter_kernel<uint32_t>, c, "partial convolution: window scatter");
}

void launch_accumulate(float *dst, const float *src, int64_t n, void *stream) {
    accumulate_kernel<<<grid_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(dst, src, n);
    check(cudaGetLastError(), "partial convolution: dk accumulation");
}

}  // namespace ffc::cuda
