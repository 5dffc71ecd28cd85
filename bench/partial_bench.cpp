// Benchmark of the partial convolution (FFC_PLAN_PARTIAL) on the GPU: a kernel
// of K taps over sequences of L >> K, run on plans whose FFT size is set by K
// (N = 2K, 4K, 8K), beside the plain plan that needs N >= L + K - 1.
//
//   partial_bench [--reps R] [--json FILE]
//
// Per shape and N, gated fp16: forward and forward+backward (all four
// gradients) in ms, the workspace, the memory floor of the forward (read u and
// both gates, write y: 8 bytes per element) and our % of it, and the rel-L2
// distance of y to the plain plan's y (both are the same causal convolution;
// the distance is the two roundings, ~1e-3 in fp16). Uses only the public API.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "flashfftconv/flashfftconv.h"

namespace {

using bench::Buffer;
using bench::check_cuda;
using bench::check_ffc;
using bench::from_half;
using bench::time_ms;
using bench::to_half;

struct Shape {
    int64_t B, H, L, K;
};

struct Plan {
    ffc_plan_t h = nullptr;
    Plan(uint64_t n, uint32_t flags) {
        ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
        d.fft_size = n;
        d.dtype = FFC_DTYPE_FP16;
        d.backend = FFC_BACKEND_CUDA;
        d.flags = flags;
        check_ffc(ffc_plan_create(&h, &d), "ffc_plan_create");
    }
    ~Plan() { ffc_plan_destroy(h); }
};

uint64_t next_pow2(uint64_t x) {
    uint64_t p = 1;
    while (p < x) p *= 2;
    return p;
}

}  // namespace

int main(int argc, char **argv) {
    const bench::Options opt = bench::parse_options(argc, argv);
    const int reps = opt.reps;
    const std::string &json = opt.json;
    cudaDeviceProp prop{};
    if (!bench::first_device("partial_bench", prop)) return 0;
    // The memory floor uses the device's peak DRAM bandwidth as the driver reports it.
    const double peak_gbs = bench::peak_bandwidth_gbs(0);
    std::printf("partial convolution, fp16, gated; %s, peak %.0f GB/s; median of %d\n", prop.name, peak_gbs, reps);

    const Shape shapes[] = {
        {4, 768, 16384, 1024},    // a long-conv LM layer with a 1K filter
        {4, 768, 16383, 1024},    // the same at odd L (element-wise accesses)
        {2, 256, 262144, 4096},   // 256K tokens, 4K filter
        {1, 128, 1048576, 65536}, // HyenaDNA-like: 1M bases, 64K filter
        {1, 64, 4194304, 32768},  // 4M bases: the plain plan cannot run it at all
    };
    FILE *js = json.empty() ? nullptr : std::fopen(json.c_str(), "w");
    if (js) std::fprintf(js, "{\"device\": \"%s\", \"rows\": [\n", prop.name);
    bool first_row = true;

    std::printf("%-24s %-9s %10s %10s %9s %8s %12s %10s\n", "B,H,L,K", "N", "fwd ms", "fwd+bwd ms", "ws MiB", "% floor",
                "vs plain fwd", "rel-L2");
    for (const Shape &s : shapes) {
        const int64_t elems = s.B * s.H * s.L;
        const size_t bytes = size_t(elems) * 2;
        Buffer u(bytes), ig(bytes), og(bytes), dy(bytes), y(bytes), y_plain(bytes), du(bytes), dig(bytes), dog(bytes);
        Buffer k(size_t(s.H * s.K) * 4), dk(size_t(s.H * s.K) * 4);
        {
            // Normal values from a pool (drawing 10^9 of them one by one takes
            // minutes); each tensor starts at its own place in the pool.
            std::mt19937 rng(1234);
            std::normal_distribution<float> nd(0.f, 1.f);
            std::vector<uint16_t> pool((size_t(1) << 22) + 17), h(static_cast<size_t>(elems));
            for (auto &x : pool) x = to_half(nd(rng));
            size_t start = 0;
            for (Buffer *b : {&u, &ig, &og, &dy}) {
                start += 1000003;
                for (size_t i = 0; i < h.size(); ++i) h[i] = pool[(start + i) % pool.size()];
                check_cuda(cudaMemcpy(b->p, h.data(), bytes, cudaMemcpyHostToDevice), "upload");
            }
            std::vector<float> kh(size_t(s.H * s.K));
            for (auto &x : kh) x = nd(rng) / std::sqrt(float(s.K));
            check_cuda(cudaMemcpy(k.p, kh.data(), kh.size() * 4, cudaMemcpyHostToDevice), "upload k");
        }
        const ffc_shape_t shape{s.B, s.H, s.L, s.K};
        char label[64];
        std::snprintf(label, sizeof label, "%lld,%lld,%lld,%lld", (long long)s.B, (long long)s.H, (long long)s.L,
                      (long long)s.K);

        // The plain plan, where one exists: N >= L + K − 1.
        const uint64_t n_plain = std::max<uint64_t>(256, next_pow2(uint64_t(s.L + s.K - 1)));
        double plain_fwd = 0, plain_bwd = 0;
        size_t plain_ws = 0;
        const bool has_plain = n_plain <= FFC_MAX_FFT_SIZE;
        if (has_plain) {
            Plan plan(n_plain, FFC_PLAN_DEFAULT);
            check_ffc(ffc_plan_get_workspace_size(plan.h, &shape, &plain_ws), "workspace size");
            Buffer ws(plain_ws);
            plain_fwd = time_ms(reps, [&] {
                check_ffc(ffc_conv_forward(plan.h, &shape, u.p, static_cast<float *>(k.p), ig.p, og.p, y_plain.p, ws.p,
                                           plain_ws, nullptr), "forward (plain)");
            });
            plain_bwd = time_ms(reps, [&] {
                check_ffc(ffc_conv_backward(plan.h, &shape, dy.p, u.p, static_cast<float *>(k.p), ig.p, og.p, du.p,
                                            static_cast<float *>(dk.p), dig.p, dog.p, ws.p, plain_ws, nullptr),
                          "backward (plain)");
            });
            std::printf("%-24s %-9llu %10.3f %10.3f %9.1f %8s %12s %10s  (plain plan)\n", label,
                        (unsigned long long)n_plain, plain_fwd, plain_fwd + plain_bwd, plain_ws / 1048576.0, "", "", "");
        } else {
            std::printf("%-24s %-9s %10s %10s %9s %8s %12s %10s  (plain plan: L + K - 1 > 4M)\n", label, "-", "-", "-",
                        "-", "", "", "");
        }

        for (uint64_t mult : {2, 4, 8}) {
            const uint64_t n = std::max<uint64_t>(256, next_pow2(uint64_t(s.K) * mult));
            if (n > FFC_MAX_FFT_SIZE || (has_plain && n >= n_plain)) continue;
            Plan plan(n, FFC_PLAN_PARTIAL);
            size_t ws_size = 0;
            check_ffc(ffc_plan_get_workspace_size(plan.h, &shape, &ws_size), "workspace size");
            Buffer ws(ws_size);
            const double fwd = time_ms(reps, [&] {
                check_ffc(ffc_conv_forward(plan.h, &shape, u.p, static_cast<float *>(k.p), ig.p, og.p, y.p, ws.p,
                                           ws_size, nullptr), "forward (partial)");
            });
            const double bwd = time_ms(reps, [&] {
                check_ffc(ffc_conv_backward(plan.h, &shape, dy.p, u.p, static_cast<float *>(k.p), ig.p, og.p, du.p,
                                            static_cast<float *>(dk.p), dig.p, dog.p, ws.p, ws_size, nullptr),
                          "backward (partial)");
            });
            const double floor_ms = double(elems) * 8 / (peak_gbs * 1e9) * 1e3;
            double rel = NAN;
            if (has_plain) {
                std::vector<uint16_t> a(static_cast<size_t>(elems)), b(static_cast<size_t>(elems));
                check_cuda(cudaMemcpy(a.data(), y.p, bytes, cudaMemcpyDeviceToHost), "download");
                check_cuda(cudaMemcpy(b.data(), y_plain.p, bytes, cudaMemcpyDeviceToHost), "download");
                double num = 0, den = 0;
                for (size_t i = 0; i < a.size(); ++i) {
                    const double d = double(from_half(a[i])) - from_half(b[i]);
                    num += d * d;
                    den += double(from_half(b[i])) * from_half(b[i]);
                }
                rel = std::sqrt(num / den);
            }
            char vs[32] = "-";
            if (has_plain) std::snprintf(vs, sizeof vs, "%.2fx", plain_fwd / fwd);
            std::printf("%-24s %-9llu %10.3f %10.3f %9.1f %7.1f%% %12s %10.2e\n", label, (unsigned long long)n, fwd,
                        fwd + bwd, ws_size / 1048576.0, 100.0 * floor_ms / fwd, vs, rel);
            if (js) {
                std::fprintf(js,
                             "%s  {\"B\": %lld, \"H\": %lld, \"L\": %lld, \"K\": %lld, \"N\": %llu, \"fwd_ms\": %.5f, "
                             "\"fwd_bwd_ms\": %.5f, \"workspace\": %zu, \"floor_ms\": %.5f, \"plain_N\": %llu, "
                             "\"plain_fwd_ms\": %.5f, \"plain_fwd_bwd_ms\": %.5f, \"plain_workspace\": %zu, \"rel_l2_vs_plain\": %.4e}",
                             first_row ? "" : ",\n", (long long)s.B, (long long)s.H, (long long)s.L, (long long)s.K,
                             (unsigned long long)n, fwd, fwd + bwd, ws_size, floor_ms,
                             (unsigned long long)(has_plain ? n_plain : 0), plain_fwd, plain_fwd + plain_bwd, plain_ws,
                             std::isnan(rel) ? -1.0 : rel);
                first_row = false;
            }
        }
    }
    if (js) {
        std::fprintf(js, "\n]}\n");
        std::fclose(js);
    }
    return 0;
}
