// Benchmark of the short depthwise convolution (ffc_conv1d_*) on the GPU,
// through the public C API only.
//
// For each shape, layout and dtype it times the forward (with bias) and the
// backward (dx, dw and dbias) with CUDA events, checks the forward's y against
// an fp64 direct convolution on the host (rel-L2, beside the error of
// correctly rounding the exact result), and reports the memory floor: the
// bytes that must move (read x, write y; backward: read dy and x, write dx)
// over the device-to-device copy bandwidth measured in the same run.
//
//   conv1d_bench [--reps N] [--json FILE]
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "flashfftconv/flashfftconv.h"

namespace {

#define CHECK_CUDA(call)                                                                              \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) {                                                                      \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)

#define CHECK_FFC(call)                                                                               \
    do {                                                                                              \
        ffc_status_t s_ = (call);                                                                     \
        if (s_ != FFC_SUCCESS) {                                                                      \
            char m_[512];                                                                             \
            ffc_last_error_message(m_, sizeof m_);                                                    \
            std::fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call, ffc_status_string(s_), m_); \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)

struct Case {
    int64_t batch, seq_len, channels;
    int kernel_size;
};

uint16_t to_bits(float v, ffc_dtype_t dt) {
    if (dt == FFC_DTYPE_FP16) {
        __half h = __float2half_rn(v);
        uint16_t b;
        std::memcpy(&b, &h, 2);
        return b;
    }
    __nv_bfloat16 h = __float2bfloat16_rn(v);
    uint16_t b;
    std::memcpy(&b, &h, 2);
    return b;
}
double from_bits(uint16_t b, ffc_dtype_t dt) {
    if (dt == FFC_DTYPE_FP16) {
        __half h;
        std::memcpy(&h, &b, 2);
        return double(__half2float(h));
    }
    __nv_bfloat16 h;
    std::memcpy(&h, &b, 2);
    return double(__bfloat162float(h));
}

double copy_bandwidth() {
    const size_t bytes = size_t(512) << 20;
    void *a, *b;
    CHECK_CUDA(cudaMalloc(&a, bytes));
    CHECK_CUDA(cudaMalloc(&b, bytes));
    cudaEvent_t e0, e1;
    CHECK_CUDA(cudaEventCreate(&e0));
    CHECK_CUDA(cudaEventCreate(&e1));
    CHECK_CUDA(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    CHECK_CUDA(cudaEventRecord(e0));
    const int reps = 10;
    for (int i = 0; i < reps; ++i) CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    CHECK_CUDA(cudaEventRecord(e1));
    CHECK_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    CHECK_CUDA(cudaFree(a));
    CHECK_CUDA(cudaFree(b));
    return 2.0 * double(bytes) * reps / (ms * 1e-3);  // bytes read + written per second
}

template <class F>
double time_ms(F &&f, int reps) {
    cudaEvent_t e0, e1;
    CHECK_CUDA(cudaEventCreate(&e0));
    CHECK_CUDA(cudaEventCreate(&e1));
    for (int i = 0; i < 3; ++i) f();
    CHECK_CUDA(cudaEventRecord(e0));
    for (int i = 0; i < reps; ++i) f();
    CHECK_CUDA(cudaEventRecord(e1));
    CHECK_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    CHECK_CUDA(cudaEventDestroy(e0));
    CHECK_CUDA(cudaEventDestroy(e1));
    return double(ms) / reps;
}

}  // namespace

int main(int argc, char **argv) {
    int reps = 50;
    const char *json_path = nullptr;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--reps N] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    if (!ffc_backend_available(FFC_BACKEND_CUDA)) {
        std::printf("conv1d_bench: no CUDA device, nothing to measure\n");
        return 0;
    }
    const double bw = copy_bandwidth();
    std::printf("device-to-device copy bandwidth: %.2f TB/s\n", bw * 1e-12);

    // The original project's table of short convolutions (B, L, D, K = 5), and
    // the causal K = 4 of Mamba-style blocks.
    const std::vector<Case> cases = {
        {16, 1024, 768, 5}, {16, 1024, 2048, 5}, {16, 1024, 8192, 5}, {16, 2048, 768, 5},
        {16, 2048, 8192, 5}, {16, 4096, 2048, 4}, {8, 8192, 1024, 3},  {16, 1024, 768, 31},
    };
    std::FILE *json = json_path ? std::fopen(json_path, "w") : nullptr;
    if (json) std::fprintf(json, "{\"copy_bandwidth\": %.6e, \"rows\": [\n", bw);
    bool first_row = true;
    std::printf("\n%-6s %-4s %5s %6s %5s %3s | %9s %7s %9s | %9s %7s | %9s\n", "layout", "dt", "B", "L", "H", "K",
                "fwd ms", "% floor", "rel-L2", "bwd ms", "% floor", "2x round");
    std::mt19937_64 rng(1234);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (const Case &c : cases) {
        for (ffc_layout_t layout : {FFC_LAYOUT_BHL, FFC_LAYOUT_BLH}) {
            for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_BF16}) {
                ffc_conv1d_desc_t desc = FFC_CONV1D_DESC_INIT;
                desc.dtype = dt;
                desc.backend = FFC_BACKEND_CUDA;
                desc.layout = layout;
                desc.kernel_size = c.kernel_size;
                desc.padding_left = (c.kernel_size - 1) / 2;  // "same"
                desc.padding_right = c.kernel_size - 1 - desc.padding_left;
                ffc_conv1d_plan_t plan;
                CHECK_FFC(ffc_conv1d_plan_create(&plan, &desc));
                const ffc_conv1d_shape_t shape = {c.batch, c.channels, c.seq_len};
                int64_t out_len = 0;
                CHECK_FFC(ffc_conv1d_output_length(plan, c.seq_len, &out_len));
                size_t ws = 0;
                CHECK_FFC(ffc_conv1d_get_workspace_size(plan, &shape, &ws));
                const int64_t n_in = c.batch * c.channels * c.seq_len, n_out = c.batch * c.channels * out_len;
                const int64_t n_w = c.channels * c.kernel_size;
                std::vector<uint16_t> hx(n_in), hdy(n_out);
                std::vector<float> hw(n_w), hb(c.channels);
                for (auto &v : hx) v = to_bits(normal(rng), dt);
                for (auto &v : hdy) v = to_bits(normal(rng), dt);
                for (auto &v : hw) v = normal(rng) / std::sqrt(float(c.kernel_size));
                for (auto &v : hb) v = normal(rng);
                void *x, *y, *dy, *dx, *work = nullptr;
                float *w, *b, *dw, *db;
                CHECK_CUDA(cudaMalloc(&x, n_in * 2));
                CHECK_CUDA(cudaMalloc(&dx, n_in * 2));
                CHECK_CUDA(cudaMalloc(&y, n_out * 2));
                CHECK_CUDA(cudaMalloc(&dy, n_out * 2));
                CHECK_CUDA(cudaMalloc(&w, n_w * 4));
                CHECK_CUDA(cudaMalloc(&dw, n_w * 4));
                CHECK_CUDA(cudaMalloc(&b, c.channels * 4));
                CHECK_CUDA(cudaMalloc(&db, c.channels * 4));
                if (ws) CHECK_CUDA(cudaMalloc(&work, ws));
                CHECK_CUDA(cudaMemcpy(x, hx.data(), n_in * 2, cudaMemcpyHostToDevice));
                CHECK_CUDA(cudaMemcpy(dy, hdy.data(), n_out * 2, cudaMemcpyHostToDevice));
                CHECK_CUDA(cudaMemcpy(w, hw.data(), n_w * 4, cudaMemcpyHostToDevice));
                CHECK_CUDA(cudaMemcpy(b, hb.data(), c.channels * 4, cudaMemcpyHostToDevice));

                const double fwd = time_ms([&] { CHECK_FFC(ffc_conv1d_forward(plan, &shape, x, w, b, y, work, ws, nullptr)); }, reps);
                const double bwd = time_ms([&] { CHECK_FFC(ffc_conv1d_backward(plan, &shape, dy, x, w, dx, dw, db, work, ws, nullptr)); }, reps);
                CHECK_CUDA(cudaDeviceSynchronize());

                // Check y on the first batch element against fp64.
                std::vector<uint16_t> hy(n_out);
                CHECK_CUDA(cudaMemcpy(hy.data(), y, n_out * 2, cudaMemcpyDeviceToHost));
                double e2 = 0, r2 = 0, q2 = 0;
                auto at = [&](int64_t bb, int64_t h, int64_t t, int64_t len) {
                    return layout == FFC_LAYOUT_BHL ? (bb * c.channels + h) * len + t : (bb * len + t) * c.channels + h;
                };
                for (int64_t h = 0; h < c.channels; ++h)
                    for (int64_t t = 0; t < out_len; ++t) {
                        double ref = hb[h];
                        for (int j = 0; j < c.kernel_size; ++j) {
                            const int64_t s = t + j - desc.padding_left;
                            if (s >= 0 && s < c.seq_len) ref += double(hw[h * c.kernel_size + j]) * from_bits(hx[at(0, h, s, c.seq_len)], dt);
                        }
                        const double got = from_bits(hy[at(0, h, t, out_len)], dt);
                        const double rounded = from_bits(to_bits(float(ref), dt), dt);
                        e2 += (got - ref) * (got - ref);
                        q2 += (rounded - ref) * (rounded - ref);
                        r2 += ref * ref;
                    }
                const double err = std::sqrt(e2 / r2), twice_round = 2 * std::sqrt(q2 / r2);
                const double fwd_floor = double(n_in + n_out) * 2 / bw * 1e3;
                const double bwd_floor = double(n_out + 2 * n_in) * 2 / bw * 1e3;
                std::printf("%-6s %-4s %5lld %6lld %5lld %3d | %9.4f %6.1f%% %9.2e | %9.4f %6.1f%% | %9.2e%s\n",
                            layout == FFC_LAYOUT_BHL ? "BHL" : "BLH", dt == FFC_DTYPE_FP16 ? "fp16" : "bf16",
                            (long long)c.batch, (long long)c.seq_len, (long long)c.channels, c.kernel_size, fwd,
                            100 * fwd_floor / fwd, err, bwd, 100 * bwd_floor / bwd, twice_round,
                            err <= twice_round ? "" : "  ERROR ABOVE TOLERANCE");
                if (json) {
                    std::fprintf(json,
                                 "%s  {\"layout\": \"%s\", \"dtype\": \"%s\", \"B\": %lld, \"L\": %lld, \"H\": %lld, "
                                 "\"K\": %d, \"forward_ms\": %.6f, \"forward_floor_ms\": %.6f, \"backward_ms\": %.6f, "
                                 "\"backward_floor_ms\": %.6f, \"rel_l2\": %.4e, \"tolerance\": %.4e}",
                                 first_row ? "" : ",\n", layout == FFC_LAYOUT_BHL ? "BHL" : "BLH",
                                 dt == FFC_DTYPE_FP16 ? "fp16" : "bf16", (long long)c.batch, (long long)c.seq_len,
                                 (long long)c.channels, c.kernel_size, fwd, fwd_floor, bwd, bwd_floor, err, twice_round);
                    first_row = false;
                }
                for (void *p : {x, y, dy, dx, work, static_cast<void *>(w), static_cast<void *>(b),
                                static_cast<void *>(dw), static_cast<void *>(db)})
                    if (p) CHECK_CUDA(cudaFree(p));
                ffc_conv1d_plan_destroy(plan);
            }
        }
    }
    if (json) {
        std::fprintf(json, "\n]}\n");
        std::fclose(json);
    }
    return 0;
}
