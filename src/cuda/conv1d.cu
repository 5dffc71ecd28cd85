// The short depthwise convolution on the GPU (ffc_conv1d_*; semantics in
// flashfftconv.h, problem description in common/conv1d.hpp).
//
// A few taps per output: memory-bound, no tensor cores. Every kernel works on
// warp-sized "segments" staged in shared memory as fp32, one warp each, so
// that a segment's inputs are read from global memory once and coalesced in
// either layout:
//   (B, H, L): a segment is one sequence's run of kRowTile outputs; lane l
//              owns outputs l, l + 32, ...;
//   (B, L, H): a segment is 32 adjacent channels × kColTile time steps; lane l
//              owns channel l of the block.
// The forward and dx are one kernel (`correlate`): dx is the forward's
// correlation of dy with the reversed filter, shifted by K − 1 − padding_left.
// dw and dbias are reduced in a fixed order: each warp sums a fixed range of
// segments of its channels into a partial sum in the workspace, and a second
// kernel adds the partial sums in index order. The ranges depend on the
// problem and the device's SM count only, so the bits repeat run to run.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <string>

#include "common/conv1d.hpp"
#include "cuda/cuda_host.hpp"
#include "cuda/cuda_util.hpp"

namespace ffc::conv1d {
namespace {

constexpr int kWarp = 32;
constexpr int kRowTile = 256;  // (B, H, L): outputs per segment, 8 per lane
constexpr int kColTile = 32;   // (B, L, H): time steps per segment
constexpr int kMaxWarpsPerCta = 8;
// Loads of a (B, H, L) segment's inputs per lane, all in flight at once.
constexpr int kRowLoads = (kRowTile + FFC_CONV1D_MAX_KERNEL_SIZE - 1 + kWarp - 1) / kWarp;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// out[t] = bias + Σ_{j<K} w[j'] · in[t + j − shift], in zero outside [0, in_len),
// with j' = j, or K − 1 − j when `reversed` (dx).
struct Correlation {
    int64_t batch, channels, in_len, out_len;
    int kernel_size, shift, reversed;
};

__device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------
// (B, H, L)
// ---------------------------------------------------------------------------

// Stages in[base, base + count) of one sequence as fp32 (zeros outside the
// sequence); every load is issued before the first store to shared memory.
template <class T>
__device__ __forceinline__ void stage_row(float *dst, const T *row, int64_t len, int64_t base, int count, int lane) {
    float v[kRowLoads];
#pragma unroll
    for (int r = 0; r < kRowLoads; ++r) {
        const int i = lane + r * kWarp;
        const int64_t s = base + i;
        v[r] = (i < count && s >= 0 && s < len) ? to_float(row[s]) : 0.f;
    }
#pragma unroll
    for (int r = 0; r < kRowLoads; ++r)
        if (lane + r * kWarp < count) dst[lane + r * kWarp] = v[r];
}

template <class T>
__global__ void correlate_rows(const T *__restrict__ in, const float *__restrict__ w, const float *__restrict__ bias,
                               T *__restrict__ out, Correlation c) {
    extern __shared__ float smem[];
    const int warps = blockDim.x / kWarp, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int K = c.kernel_size, span = kRowTile + K - 1;
    float *s_in = smem + warp * (span + K), *s_w = s_in + span;
    const int64_t chunks = ceil_div(c.out_len, kRowTile), segments = c.batch * c.channels * chunks;
    for (int64_t seg = int64_t(blockIdx.x) * warps + warp; seg < segments; seg += int64_t(gridDim.x) * warps) {
        const int64_t row = seg / chunks, t0 = (seg - row * chunks) * kRowTile, h = row % c.channels;
        __syncwarp();  // the previous segment's reads are done
        stage_row(s_in, in + row * c.in_len, c.in_len, t0 - c.shift, span, lane);
        for (int j = lane; j < K; j += kWarp) s_w[j] = w[h * K + (c.reversed ? K - 1 - j : j)];
        __syncwarp();
        const float b = bias ? bias[h] : 0.f;
        float acc[kRowTile / kWarp];
#pragma unroll
        for (int i = 0; i < kRowTile / kWarp; ++i) acc[i] = b;
        for (int j = 0; j < K; ++j) {
            const float wj = s_w[j];
#pragma unroll
            for (int i = 0; i < kRowTile / kWarp; ++i) acc[i] = fmaf(wj, s_in[lane + i * kWarp + j], acc[i]);
        }
        T *dst = out + row * c.out_len;
#pragma unroll
        for (int i = 0; i < kRowTile / kWarp; ++i) {
            const int64_t t = t0 + lane + i * kWarp;
            if (t < c.out_len) dst[t] = from_float<T>(acc[i]);
        }
    }
}

// dw and dbias partial sums, (B, H, L): warp (h, g) sums the segments
// [g·per_group, (g + 1)·per_group) of channel h, segments numbered b·chunks + chunk.
// Each lane keeps its own running sums per tap in shared memory; the warp adds
// its lanes once at the end (a fixed shuffle tree).
template <class T>
__global__ void filter_grad_rows(const T *__restrict__ dy, const T *__restrict__ x, float *__restrict__ part,
                                 int64_t batch, int64_t channels, int64_t in_len, int64_t out_len, int K, int pad_left,
                                 int64_t groups, int64_t per_group, int want_dw) {
    extern __shared__ float smem[];
    const int warps = blockDim.x / kWarp, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int span = kRowTile + K - 1;
    const int taps = want_dw ? K : 0;  // tap K is dbias
    float *s_dy = smem + warp * (kRowTile + span + (K + 1) * kWarp), *s_x = s_dy + kRowTile, *s_acc = s_x + span;
    const int64_t chunks = ceil_div(out_len, kRowTile), segments = batch * chunks;
    for (int64_t item = int64_t(blockIdx.x) * warps + warp; item < channels * groups;
         item += int64_t(gridDim.x) * warps) {
        const int64_t h = item / groups, g = item - h * groups;
        for (int j = 0; j <= K; ++j) s_acc[j * kWarp + lane] = 0.f;
        const int64_t first = g * per_group, last = min(first + per_group, segments);
        for (int64_t s = first; s < last; ++s) {
            const int64_t b = s / chunks, t0 = (s - b * chunks) * kRowTile, row = b * channels + h;
            __syncwarp();
            stage_row(s_dy, dy + row * out_len, out_len, t0, kRowTile, lane);
            if (want_dw) stage_row(s_x, x + row * in_len, in_len, t0 - pad_left, span, lane);
            __syncwarp();
            float db = 0.f;
#pragma unroll
            for (int i = 0; i < kRowTile / kWarp; ++i) db += s_dy[lane + i * kWarp];
            s_acc[K * kWarp + lane] += db;
            for (int j = 0; j < taps; ++j) {
                float a = 0.f;
#pragma unroll
                for (int i = 0; i < kRowTile / kWarp; ++i) a = fmaf(s_dy[lane + i * kWarp], s_x[lane + i * kWarp + j], a);
                s_acc[j * kWarp + lane] += a;
            }
        }
        __syncwarp();
        for (int j = 0; j <= K; ++j) {
            float a = s_acc[j * kWarp + lane];
#pragma unroll
            for (int o = kWarp / 2; o > 0; o /= 2) a += __shfl_xor_sync(0xffffffffu, a, o);
            if (lane == 0) part[(g * channels + h) * (K + 1) + j] = a;
        }
    }
}

// ---------------------------------------------------------------------------
// (B, L, H)
// ---------------------------------------------------------------------------

// Stages rows [base, base + count) of time of one 32-channel block as fp32:
// dst[r·32 + lane] = in[b, base + r, h0 + lane] (zeros outside), eight loads
// in flight per lane (sixteen was slower: (16, 1024, 768, K = 5) forward
// 0.047 -> 0.057 ms on the H100).
template <class T>
__device__ __forceinline__ void stage_cols(float *dst, const T *seq, int64_t len, int64_t channels, int64_t h,
                                           int64_t base, int count, int lane) {
    constexpr int batch = 8;
    for (int r0 = 0; r0 < count; r0 += batch) {
        float v[batch];
#pragma unroll
        for (int u = 0; u < batch; ++u) {
            const int64_t s = base + r0 + u;
            v[u] = (r0 + u < count && h < channels && s >= 0 && s < len) ? to_float(seq[s * channels + h]) : 0.f;
        }
#pragma unroll
        for (int u = 0; u < batch; ++u)
            if (r0 + u < count) dst[(r0 + u) * kWarp + lane] = v[u];
    }
}

template <class T>
__global__ void correlate_cols(const T *__restrict__ in, const float *__restrict__ w, const float *__restrict__ bias,
                               T *__restrict__ out, Correlation c) {
    extern __shared__ float smem[];
    const int warps = blockDim.x / kWarp, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int K = c.kernel_size, span = kColTile + K - 1;
    float *s_in = smem + warp * (span + K) * kWarp, *s_w = s_in + span * kWarp;
    const int64_t blocks = ceil_div(c.channels, kWarp), chunks = ceil_div(c.out_len, kColTile);
    const int64_t segments = c.batch * blocks * chunks;
    for (int64_t seg = int64_t(blockIdx.x) * warps + warp; seg < segments; seg += int64_t(gridDim.x) * warps) {
        const int64_t b = seg / (blocks * chunks), rest = seg - b * blocks * chunks;
        const int64_t blk = rest / chunks, t0 = (rest - blk * chunks) * kColTile, h = blk * kWarp + lane;
        const bool live = h < c.channels;
        __syncwarp();
        stage_cols(s_in, in + b * c.in_len * c.channels, c.in_len, c.channels, h, t0 - c.shift, span, lane);
        for (int j = 0; j < K; ++j) s_w[j * kWarp + lane] = live ? w[h * K + (c.reversed ? K - 1 - j : j)] : 0.f;
        __syncwarp();
        const float bh = (bias && live) ? bias[h] : 0.f;
        float acc[kColTile];
#pragma unroll
        for (int i = 0; i < kColTile; ++i) acc[i] = bh;
        for (int j = 0; j < K; ++j) {
            const float wj = s_w[j * kWarp + lane];
#pragma unroll
            for (int i = 0; i < kColTile; ++i) acc[i] = fmaf(wj, s_in[(i + j) * kWarp + lane], acc[i]);
        }
        if (!live) continue;
        T *dst = out + b * c.out_len * c.channels + h;
#pragma unroll
        for (int i = 0; i < kColTile; ++i) {
            const int64_t t = t0 + i;
            if (t < c.out_len) dst[t * c.channels] = from_float<T>(acc[i]);
        }
    }
}

// dw and dbias partial sums, (B, L, H): warp (block, g) sums segments
// [g·per_group, (g + 1)·per_group) of its 32 channels, segments numbered
// b·chunks + chunk; lane l keeps channel l's sums.
template <class T>
__global__ void filter_grad_cols(const T *__restrict__ dy, const T *__restrict__ x, float *__restrict__ part,
                                 int64_t batch, int64_t channels, int64_t in_len, int64_t out_len, int K, int pad_left,
                                 int64_t groups, int64_t per_group, int want_dw) {
    extern __shared__ float smem[];
    const int warps = blockDim.x / kWarp, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int span = kColTile + K - 1;
    const int taps = want_dw ? K : 0;
    float *s_dy = smem + warp * (kColTile + span) * kWarp, *s_x = s_dy + kColTile * kWarp;
    const int64_t blocks = ceil_div(channels, kWarp), chunks = ceil_div(out_len, kColTile), segments = batch * chunks;
    for (int64_t item = int64_t(blockIdx.x) * warps + warp; item < blocks * groups; item += int64_t(gridDim.x) * warps) {
        const int64_t blk = item / groups, g = item - blk * groups, h = blk * kWarp + lane;
        const int64_t first = g * per_group, last = min(first + per_group, segments);
        // The running sums live in registers for the first taps and in the
        // partial-sum slots themselves (this warp's own) beyond: K is small.
        float db = 0.f;
        constexpr int kRegTaps = 8;
        float acc[kRegTaps];
#pragma unroll
        for (int j = 0; j < kRegTaps; ++j) acc[j] = 0.f;
        float *slot = part + (g * channels + h) * (K + 1);
        if (h < channels)
            for (int j = kRegTaps; j < taps; ++j) slot[j] = 0.f;
        for (int64_t s = first; s < last; ++s) {
            const int64_t b = s / chunks, t0 = (s - b * chunks) * kColTile;
            __syncwarp();
            stage_cols(s_dy, dy + b * out_len * channels, out_len, channels, h, t0, kColTile, lane);
            if (want_dw) stage_cols(s_x, x + b * in_len * channels, in_len, channels, h, t0 - pad_left, span, lane);
            __syncwarp();
#pragma unroll
            for (int i = 0; i < kColTile; ++i) db += s_dy[i * kWarp + lane];
#pragma unroll
            for (int j = 0; j < kRegTaps; ++j) {
                if (j >= taps) break;
                float a = 0.f;
#pragma unroll
                for (int i = 0; i < kColTile; ++i) a = fmaf(s_dy[i * kWarp + lane], s_x[(i + j) * kWarp + lane], a);
                acc[j] += a;
            }
            for (int j = kRegTaps; j < taps; ++j) {
                float a = 0.f;
#pragma unroll
                for (int i = 0; i < kColTile; ++i) a = fmaf(s_dy[i * kWarp + lane], s_x[(i + j) * kWarp + lane], a);
                if (h < channels) slot[j] += a;
            }
        }
        if (h >= channels) continue;
#pragma unroll
        for (int j = 0; j < kRegTaps; ++j)
            if (j < taps) slot[j] = acc[j];
        slot[K] = db;
    }
}

// dw[h, j] = Σ_g part[g, h, j] and dbias[h] = Σ_g part[g, h, K], g in order.
__global__ void sum_groups(const float *__restrict__ part, float *__restrict__ dw, float *__restrict__ dbias,
                           int64_t channels, int K, int64_t groups) {
    const int64_t total = channels * (K + 1);
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t h = i / (K + 1);
        const int j = int(i - h * (K + 1));
        float s = 0.f;
        for (int64_t g = 0; g < groups; ++g) s += part[g * total + i];
        if (j < K) {
            if (dw) dw[h * K + j] = s;
        } else if (dbias) {
            dbias[h] = s;
        }
    }
}

// ---------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------

int64_t ceil_div_host(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How the filter gradient's segments are split into groups (see the file comment).
struct GradSplit {
    int64_t units = 0;      // warps' channel units: channels ((B, H, L)) or 32-channel blocks ((B, L, H))
    int64_t groups = 0;     // partial sums per (channel, tap)
    int64_t per_group = 0;  // segments per group
};

class CudaConv1dExecutor final : public Executor {
public:
    explicit CudaConv1dExecutor(int device) : device_(device) {
        cuda::DeviceGuard guard(device_);
        cuda::check(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device_), "cudaDeviceGetAttribute");
        cuda::check(cudaDeviceGetAttribute(&max_smem_, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_),
                    "cudaDeviceGetAttribute");
        // Every kernel may use up to the device's opt-in shared memory (only the
        // largest K need more than the default 48 KiB).
        auto allow = [&](const void *kernel) {
            cuda::check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem_),
                        "cudaFuncSetAttribute");
        };
        allow_all<float>(allow);
        allow_all<__half>(allow);
        allow_all<__nv_bfloat16>(allow);
    }

    size_t workspace_size(const Problem &p) const override {
        const GradSplit s = split(p);
        const size_t bytes = size_t(s.groups) * size_t(p.channels) * size_t(p.kernel_size + 1) * sizeof(float);
        return (bytes + 255) / 256 * 256;
    }

    void check_pointer(const void *ptr, const char *name) const override { cuda::check_device_pointer(ptr, name, device_); }

    void forward(const ForwardArgs &a) const override {
        cuda::DeviceGuard guard(device_);
        const Problem &p = a.problem;
        Correlation c{p.batch, p.channels, p.seq_len, p.out_len(), p.kernel_size, p.pad_left, 0};
        correlate(p, c, a.x, a.weight, a.bias, a.y, a.stream);
    }

    void backward(const BackwardArgs &a) const override {
        cuda::DeviceGuard guard(device_);
        const Problem &p = a.problem;
        if (a.dx) {
            Correlation c{p.batch, p.channels, p.out_len(), p.seq_len, p.kernel_size, p.kernel_size - 1 - p.pad_left, 1};
            correlate(p, c, a.dy, a.weight, nullptr, a.dx, a.stream);
        }
        if (a.dweight || a.dbias) filter_grad(p, a);
    }

private:
    template <class T>
    struct ElementTag {
        using type = T;
    };
    // fn(ElementTag<T>{}) for the device element type T of `dtype`: the one
    // place where a dtype becomes a kernel template argument.
    template <class Fn>
    static void with_element_type(DType dtype, Fn &&fn) {
        switch (dtype) {
        case DType::f32: fn(ElementTag<float>{}); break;
        case DType::f16: fn(ElementTag<__half>{}); break;
        case DType::bf16: fn(ElementTag<__nv_bfloat16>{}); break;
        }
    }

    template <class T, class F>
    static void allow_all(F &&allow) {
        allow(reinterpret_cast<const void *>(&correlate_rows<T>));
        allow(reinterpret_cast<const void *>(&correlate_cols<T>));
        allow(reinterpret_cast<const void *>(&filter_grad_rows<T>));
        allow(reinterpret_cast<const void *>(&filter_grad_cols<T>));
    }

    // Warps per CTA for `bytes` of shared memory per warp: as many as fit in a
    // quarter of the opt-in limit (so that several CTAs share an SM), 1 to 8.
    int warps_for(size_t bytes) const {
        return int(std::clamp<size_t>(size_t(max_smem_) / 4 / bytes, 1, kMaxWarpsPerCta));
    }

    unsigned grid_for(int64_t warp_items, int warps) const {
        const int64_t ctas = ceil_div_host(warp_items, warps);
        return unsigned(std::max<int64_t>(1, std::min<int64_t>(ctas, int64_t(sms_) * 32)));
    }

    GradSplit split(const Problem &p) const {
        GradSplit s;
        const bool rows = p.layout == Layout::bhl;
        s.units = rows ? p.channels : ceil_div_host(p.channels, kWarp);
        const int64_t segments = p.batch * ceil_div_host(p.out_len(), rows ? kRowTile : kColTile);
        // Enough warps to fill the device about four times over, at most 4096
        // partial sums per (channel, tap).
        const int64_t target = int64_t(sms_) * 64 * 4;
        const int64_t want = std::clamp<int64_t>(ceil_div_host(target, s.units), 1, std::min<int64_t>(segments, 4096));
        s.per_group = ceil_div_host(segments, want);
        s.groups = ceil_div_host(segments, s.per_group);
        return s;
    }

    void correlate(const Problem &p, const Correlation &c, const void *in, const float *w, const float *bias, void *out,
                   void *stream) const {
        const cudaStream_t st = static_cast<cudaStream_t>(stream);
        const int K = p.kernel_size;
        if (p.layout == Layout::bhl) {
            const size_t per_warp = size_t(kRowTile + K - 1 + K) * sizeof(float);
            const int warps = warps_for(per_warp);
            const int64_t items = c.batch * c.channels * ceil_div_host(c.out_len, kRowTile);
            const unsigned grid = grid_for(items, warps);
            with_element_type(p.dtype, [&](auto tag) {
                using T = typename decltype(tag)::type;
                correlate_rows<T><<<grid, warps * kWarp, warps * per_warp, st>>>(static_cast<const T *>(in), w, bias,
                                                                                 static_cast<T *>(out), c);
            });
        } else {
            const size_t per_warp = size_t(kColTile + K - 1 + K) * kWarp * sizeof(float);
            const int warps = warps_for(per_warp);
            const int64_t items = c.batch * ceil_div_host(c.channels, kWarp) * ceil_div_host(c.out_len, kColTile);
            const unsigned grid = grid_for(items, warps);
            with_element_type(p.dtype, [&](auto tag) {
                using T = typename decltype(tag)::type;
                correlate_cols<T><<<grid, warps * kWarp, warps * per_warp, st>>>(static_cast<const T *>(in), w, bias,
                                                                                 static_cast<T *>(out), c);
            });
        }
        cuda::check(cudaGetLastError(), "short convolution launch");
    }

    void filter_grad(const Problem &p, const BackwardArgs &a) const {
        const cudaStream_t st = static_cast<cudaStream_t>(a.stream);
        const int K = p.kernel_size;
        const GradSplit s = split(p);
        float *part = static_cast<float *>(a.workspace);
        const int want_dw = a.dweight ? 1 : 0;
        const int64_t items = s.units * s.groups;
        if (p.layout == Layout::bhl) {
            const size_t per_warp = size_t(kRowTile + kRowTile + K - 1 + (K + 1) * kWarp) * sizeof(float);
            const int warps = warps_for(per_warp);
            const unsigned grid = grid_for(items, warps);
            with_element_type(p.dtype, [&](auto tag) {
                using T = typename decltype(tag)::type;
                filter_grad_rows<T><<<grid, warps * kWarp, warps * per_warp, st>>>(
                    static_cast<const T *>(a.dy), static_cast<const T *>(a.x), part, p.batch, p.channels, p.seq_len,
                    p.out_len(), K, p.pad_left, s.groups, s.per_group, want_dw);
            });
        } else {
            const size_t per_warp = size_t(kColTile + kColTile + K - 1) * kWarp * sizeof(float);
            const int warps = warps_for(per_warp);
            const unsigned grid = grid_for(items, warps);
            with_element_type(p.dtype, [&](auto tag) {
                using T = typename decltype(tag)::type;
                filter_grad_cols<T><<<grid, warps * kWarp, warps * per_warp, st>>>(
                    static_cast<const T *>(a.dy), static_cast<const T *>(a.x), part, p.batch, p.channels, p.seq_len,
                    p.out_len(), K, p.pad_left, s.groups, s.per_group, want_dw);
            });
        }
        cuda::check(cudaGetLastError(), "short convolution filter gradient launch");
        constexpr int threads = 256;
        const unsigned grid = unsigned(std::clamp<int64_t>(ceil_div_host(p.channels * (K + 1), threads), 1, int64_t(sms_) * 8));
        sum_groups<<<grid, threads, 0, st>>>(part, a.dweight, a.dbias, p.channels, K, s.groups);
        cuda::check(cudaGetLastError(), "short convolution filter gradient reduction launch");
    }

    int device_ = 0;
    int sms_ = 1;
    int max_smem_ = 48 * 1024;
};

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(int device) { return std::make_unique<CudaConv1dExecutor>(device); }

}  // namespace ffc::conv1d
