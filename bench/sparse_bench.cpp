// Benchmark of frequency-sparse plans (ffc_plan_desc_t::freq_mask) on the GPU:
// the gated fp16 forward, and backward, of the DESIGN §6 shapes (B and H reduced
// for large N, times scaled to B = 64, H = 768) with a dense plan beside plans
// that keep a fraction of the spectrum.
//
//   sparse_bench [--reps R] [--json FILE]
//
// Masks: Monarch-row masks over G = 16 residue blocks (5 of 16 and 1 of 16
// kept: whole rows of a multi-pass plan's decomposition, which it skips) and a
// free per-bin mask (G = N, half the bins kept, so no row is dropped whole).
// Backward is timed twice: du alone (the skipping convolutions) and all four
// gradients (dk needs every spectrum row). Uses only the public API.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "flashfftconv/flashfftconv.h"

namespace {

using bench::Buffer;
using bench::check_cuda;
using bench::check_ffc;
using bench::time_ms;
using bench::to_half;

struct Size {
    uint64_t n;
    int64_t B, H;
};

struct Mask {
    const char *name;
    std::vector<uint8_t> bytes;  // empty: dense
};

// The `kept` residues nearest 0 on each side: min(j, G − j) < kept.
std::vector<uint8_t> block_mask(uint32_t G, uint32_t kept) {
    std::vector<uint8_t> m(G);
    for (uint32_t j = 0; j < G; ++j) m[j] = std::min(j, G - j) < kept;
    return m;
}

// Half the bins, symmetric, pseudo-random.
std::vector<uint8_t> free_mask(uint64_t n) {
    std::vector<uint8_t> m(n);
    std::mt19937 rng(7);
    for (uint64_t j = 0; j <= n / 2; ++j) m[j] = m[(n - j) % n] = rng() & 1;
    m[0] = 1;
    return m;
}

// The "sparse work" line of ffc_plan_describe(), shortened.
std::string sparse_work(ffc_plan_t plan) {
    std::vector<char> buf(1 << 16);
    check_ffc(ffc_plan_describe(plan, buf.data(), buf.size(), nullptr), "describe");
    const std::string text(buf.data());
    const size_t at = text.find("sparse work");
    if (at == std::string::npos) return "dense";
    const std::string line = text.substr(at + 15, text.find('\n', at) - at - 15);
    return line.rfind("none skipped", 0) == 0 ? "no rows skipped" : line.substr(0, line.find(" rows")) + " rows skipped";
}

}  // namespace

int main(int argc, char **argv) {
    const bench::Options opt = bench::parse_options(argc, argv);
    const int reps = opt.reps;
    const std::string &json = opt.json;
    cudaDeviceProp prop{};
    if (!bench::first_device("sparse_bench", prop)) return 0;
    std::printf("frequency-sparse plans, fp16, gated, L = N, K = N/2; %s; ms scaled to B = 64, H = 768; median of %d\n",
                prop.name, reps);
    const Size sizes[] = {{4096, 32, 768}, {16384, 16, 768}, {262144, 8, 192}, {1048576, 8, 48}, {4194304, 8, 16}};
    FILE *js = json.empty() ? nullptr : std::fopen(json.c_str(), "w");
    if (js) std::fprintf(js, "{\"device\": \"%s\", \"rows\": [\n", prop.name);
    bool first_row = true;
    std::printf("%-8s %-16s %-20s %9s %8s %10s %10s\n", "N", "mask", "skipped", "fwd ms", "vs dense", "du ms",
                "all-grad ms");
    for (const Size &sz : sizes) {
        const int64_t L = int64_t(sz.n), K = int64_t(sz.n / 2), elems = sz.B * sz.H * L;
        const double scale = (64.0 * 768.0) / double(sz.B * sz.H);
        const size_t bytes = size_t(elems) * 2;
        Buffer u(bytes), ig(bytes), og(bytes), dy(bytes), y(bytes), du(bytes), dig(bytes), dog(bytes);
        Buffer k(size_t(sz.H * K) * 4), dk(size_t(sz.H * K) * 4);
        {
            std::mt19937 rng(1234);
            std::normal_distribution<float> nd(0.f, 1.f);
            std::vector<uint16_t> pool((size_t(1) << 20) + 17), h(static_cast<size_t>(elems));
            for (auto &x : pool) x = to_half(nd(rng));
            size_t start = 0;
            for (Buffer *b : {&u, &ig, &og, &dy}) {
                start += 100003;
                for (size_t i = 0; i < h.size(); ++i) h[i] = pool[(start + i) % pool.size()];
                check_cuda(cudaMemcpy(b->p, h.data(), bytes, cudaMemcpyHostToDevice), "upload");
            }
            std::vector<float> kh(size_t(sz.H * K));
            for (auto &x : kh) x = nd(rng) / std::sqrt(float(K));
            check_cuda(cudaMemcpy(k.p, kh.data(), kh.size() * 4, cudaMemcpyHostToDevice), "upload k");
        }
        const ffc_shape_t shape{sz.B, sz.H, L, K};
        const Mask masks[] = {{"dense", {}},
                              {"5/16 blocks", block_mask(16, 3)},
                              {"1/16 blocks", block_mask(16, 1)},
                              {"free 1/2 bins", free_mask(sz.n)}};
        double dense_fwd = 0;
        for (const Mask &m : masks) {
            ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
            d.fft_size = sz.n;
            d.dtype = FFC_DTYPE_FP16;
            d.backend = FFC_BACKEND_CUDA;
            d.freq_mask = m.bytes.empty() ? nullptr : m.bytes.data();
            d.freq_mask_len = uint32_t(m.bytes.size());
            ffc_plan_t plan = nullptr;
            check_ffc(ffc_plan_create(&plan, &d), "ffc_plan_create");
            size_t ws_size = 0;
            check_ffc(ffc_plan_get_workspace_size(plan, &shape, &ws_size), "workspace size");
            Buffer ws(ws_size);
            const float *kp = static_cast<const float *>(k.p);
            const double fwd = scale * time_ms(reps, [&] {
                check_ffc(ffc_conv_forward(plan, &shape, u.p, kp, ig.p, og.p, y.p, ws.p, ws_size, nullptr), "forward");
            });
            const double bwd_du = scale * time_ms(reps, [&] {
                check_ffc(ffc_conv_backward(plan, &shape, dy.p, u.p, kp, ig.p, og.p, du.p, nullptr, nullptr, nullptr,
                                            ws.p, ws_size, nullptr), "backward (du)");
            });
            const double bwd_all = scale * time_ms(reps, [&] {
                check_ffc(ffc_conv_backward(plan, &shape, dy.p, u.p, kp, ig.p, og.p, du.p, static_cast<float *>(dk.p),
                                            dig.p, dog.p, ws.p, ws_size, nullptr), "backward (all)");
            });
            if (m.bytes.empty()) dense_fwd = fwd;
            const std::string skipped = m.bytes.empty() ? "-" : sparse_work(plan);
            std::printf("%-8llu %-16s %-20s %9.3f %7.2fx %10.3f %10.3f\n", (unsigned long long)sz.n, m.name,
                        skipped.c_str(), fwd, dense_fwd / fwd, bwd_du, bwd_all);
            if (js) {
                std::fprintf(js,
                             "%s  {\"N\": %llu, \"B\": %lld, \"H\": %lld, \"mask\": \"%s\", \"skipped\": \"%s\", "
                             "\"fwd_ms\": %.5f, \"bwd_du_ms\": %.5f, \"bwd_all_ms\": %.5f, \"scaled_to\": [64, 768]}",
                             first_row ? "" : ",\n", (unsigned long long)sz.n, (long long)sz.B, (long long)sz.H, m.name,
                             skipped.c_str(), fwd, bwd_du, bwd_all);
                first_row = false;
            }
            ffc_plan_destroy(plan);
        }
    }
    if (js) {
        std::fprintf(js, "\n]}\n");
        std::fclose(js);
    }
    return 0;
}
