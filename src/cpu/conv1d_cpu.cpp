// The CPU backend of the short depthwise convolution (ffc_conv1d_*): a direct
// evaluation of the sums in flashfftconv.h, written for clarity. It is the
// reference the CUDA kernels are tested against and the fallback without a GPU.
//
// Precision. y and dx: each output is one sum of at most K + 1 (y, the bias
// included) or K (dx) products, accumulated in fp32 in tap order (j ascending,
// the bias first) and rounded once to the I/O dtype. dweight and dbias: each is
// one sum of B·L_out terms, accumulated in double in (b, t) order and rounded
// once to fp32.
//
// Work decomposition. y and dx are split over (b, h) rows; dweight and dbias
// over channels, one thread reducing all of a channel's terms in a fixed order.
// No result depends on how the work is split, so every output is bitwise the
// same for every thread count and every run. No workspace is needed.
#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "common/conv1d.hpp"
#include "common/half.hpp"
#include "common/types.hpp"
#include "cpu/parallel.hpp"

namespace ffc::conv1d {

namespace {

using cpu::kMaxThreads;
using cpu::parallel_ranges;
// Below this many multiply-adds per thread, starting a thread costs more than it saves.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 15;

// Element access for the three I/O dtypes (the dtype switch is hoisted out of
// the loops by instantiating every loop per dtype).
template <DType D>
float load(const void *p, int64_t i) {
    if constexpr (D == DType::f32) return static_cast<const float *>(p)[i];
    else if constexpr (D == DType::f16) return fp16_to_float(static_cast<const uint16_t *>(p)[i]);
    else return bf16_to_float(static_cast<const uint16_t *>(p)[i]);
}
template <DType D>
void store(void *p, int64_t i, float v) {
    if constexpr (D == DType::f32) static_cast<float *>(p)[i] = v;
    else if constexpr (D == DType::f16) static_cast<uint16_t *>(p)[i] = float_to_fp16(v);
    else static_cast<uint16_t *>(p)[i] = float_to_bf16(v);
}


class CpuExecutor final : public Executor {
public:
    explicit CpuExecutor(int threads) : threads_(std::clamp(threads, 1, kMaxThreads)) {}

    size_t workspace_size(const Problem &) const override { return 0; }

    void forward(const ForwardArgs &a) const override {
        switch (a.problem.dtype) {
        case DType::f32: forward_typed<DType::f32>(a); break;
        case DType::f16: forward_typed<DType::f16>(a); break;
        case DType::bf16: forward_typed<DType::bf16>(a); break;
        }
    }

    void backward(const BackwardArgs &a) const override {
        switch (a.problem.dtype) {
        case DType::f32: backward_typed<DType::f32>(a); break;
        case DType::f16: backward_typed<DType::f16>(a); break;
        case DType::bf16: backward_typed<DType::bf16>(a); break;
        }
    }

private:
    // Threads for `items` work items of `work` multiply-adds in total.
    int threads_for(int64_t items, int64_t work) const {
        const int64_t useful = std::max<int64_t>(1, work / kMinWorkPerThread);
        return int(std::min<int64_t>({int64_t(threads_), items, useful}));
    }

    // y[b,h,t] = bias[h] + Σ_j w[h,j]·x[b,h,t + j − pad_left], over the taps
    // whose x position lies in [0, L) (the others multiply padding zeros).
    template <DType D>
    void forward_typed(const ForwardArgs &a) const {
        const Problem &p = a.problem;
        const int64_t H = p.channels, L = p.seq_len, L_out = p.out_len(), K = p.kernel_size, pl = p.pad_left;
        const int64_t st = p.time_stride();
        const int64_t rows = p.batch * H;
        parallel_ranges(rows, threads_for(rows, p.out_elements() * K), [&](int, int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / H, h = r % H;
                const float *w = a.weight + h * K;
                const float bias = a.bias ? a.bias[h] : 0.0f;
                const int64_t x0 = p.offset(b, h, 0, L), y0 = p.offset(b, h, 0, L_out);
                for (int64_t t = 0; t < L_out; ++t) {
                    // taps j with 0 <= t + j - pl < L
                    const int64_t j0 = std::max<int64_t>(0, pl - t), j1 = std::min<int64_t>(K, L + pl - t);
                    float acc = bias;
                    for (int64_t j = j0; j < j1; ++j) acc += w[j] * load<D>(a.x, x0 + (t + j - pl) * st);
                    store<D>(a.y, y0 + t * st, acc);
                }
            }
        });
    }

    template <DType D>
    void backward_typed(const BackwardArgs &a) const {
        if (a.dx) backward_dx<D>(a);
        if (a.dweight || a.dbias) backward_dw<D>(a);
    }

    // dx[b,h,s] = Σ_j w[h,j]·dy[b,h,s − j + pad_left], over the taps whose dy
    // position lies in [0, L_out).
    template <DType D>
    void backward_dx(const BackwardArgs &a) const {
        const Problem &p = a.problem;
        const int64_t H = p.channels, L = p.seq_len, L_out = p.out_len(), K = p.kernel_size, pl = p.pad_left;
        const int64_t st = p.time_stride();
        const int64_t rows = p.batch * H;
        parallel_ranges(rows, threads_for(rows, p.in_elements() * K), [&](int, int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / H, h = r % H;
                const float *w = a.weight + h * K;
                const int64_t x0 = p.offset(b, h, 0, L), y0 = p.offset(b, h, 0, L_out);
                for (int64_t s = 0; s < L; ++s) {
                    // taps j with 0 <= s - j + pl < L_out
                    const int64_t j0 = std::max<int64_t>(0, s + pl - L_out + 1), j1 = std::min<int64_t>(K, s + pl + 1);
                    float acc = 0.0f;
                    for (int64_t j = j0; j < j1; ++j) acc += w[j] * load<D>(a.dy, y0 + (s - j + pl) * st);
                    store<D>(a.dx, x0 + s * st, acc);
                }
            }
        });
    }

    // dweight[h,j] = Σ_b Σ_t dy[b,h,t]·x[b,h,t + j − pad_left] and
    // dbias[h] = Σ_b Σ_t dy[b,h,t], each channel reduced by one thread, in
    // double, in (b, t) order: the bits depend on the inputs only.
    template <DType D>
    void backward_dw(const BackwardArgs &a) const {
        const Problem &p = a.problem;
        const int64_t H = p.channels, L = p.seq_len, L_out = p.out_len(), K = p.kernel_size, pl = p.pad_left;
        const int64_t st = p.time_stride();
        const bool want_w = a.dweight != nullptr;
        parallel_ranges(H, threads_for(H, p.out_elements() * (want_w ? K : 1)), [&](int, int64_t h0, int64_t h1) {
            std::vector<double> acc(static_cast<size_t>(K));
            for (int64_t h = h0; h < h1; ++h) {
                std::fill(acc.begin(), acc.end(), 0.0);
                double acc_bias = 0.0;
                for (int64_t b = 0; b < p.batch; ++b) {
                    const int64_t x0 = p.offset(b, h, 0, L), y0 = p.offset(b, h, 0, L_out);
                    for (int64_t t = 0; t < L_out; ++t) {
                        const double g = load<D>(a.dy, y0 + t * st);
                        acc_bias += g;
                        if (!want_w) continue;
                        const int64_t j0 = std::max<int64_t>(0, pl - t), j1 = std::min<int64_t>(K, L + pl - t);
                        for (int64_t j = j0; j < j1; ++j)
                            acc[size_t(j)] += g * double(load<D>(a.x, x0 + (t + j - pl) * st));  // exact product
                    }
                }
                if (want_w)
                    for (int64_t j = 0; j < K; ++j) a.dweight[h * K + j] = float(acc[size_t(j)]);
                if (a.dbias) a.dbias[h] = float(acc_bias);
            }
        });
    }

    int threads_;
};

}  // namespace

std::unique_ptr<Executor> make_cpu_executor(int threads) { return std::make_unique<CpuExecutor>(threads); }

}  // namespace ffc::conv1d
