// Helpers shared by the CUDA backend's tests (test_cuda_forward.cpp,
// test_cuda_backward.cpp, test_cuda_multipass.cpp): device buffers, plans, and the CUDA precision rule.
// Only included by translation units built with FFC_WITH_CUDA.
#pragma once

#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda/chunk_budgets.hpp"
#include "flashfftconv/flashfftconv.h"
#include "oracle.hpp"

#define CUDA_REQUIRE(x) REQUIRE((x) == cudaSuccess)

namespace ffc_test {

// Device buffer that frees itself.
struct DeviceBuffer {
    void *ptr = nullptr;
    size_t bytes = 0;
    explicit DeviceBuffer(size_t n) : bytes(n) { CUDA_REQUIRE(cudaMalloc(&ptr, n ? n : 1)); }
    ~DeviceBuffer() { cudaFree(ptr); }
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;
    template <class T = void> T *get() const { return static_cast<T *>(ptr); }
    void upload(const void *host) { CUDA_REQUIRE(cudaMemcpy(ptr, host, bytes, cudaMemcpyHostToDevice)); }
    void download(void *host) const { CUDA_REQUIRE(cudaMemcpy(host, ptr, bytes, cudaMemcpyDeviceToHost)); }
    // NaN poison with the oracle's bit pattern (uploaded), so all_poisoned() can tell.
    void poison(ffc_dtype_t dtype) {
        HostTensor t(dtype, int64_t(bytes / dtype_bytes(dtype)));
        ffc_test::poison(t);
        upload(t.data());
    }
};

struct Plan {
    ffc_plan_t p = nullptr;
    // force: FFC_MAX_FACTORS factors to force, or nullptr; kernel: a kernel name to force, or nullptr.
    Plan(uint64_t n, ffc_dtype_t dtype, ffc_backend_t backend, const uint32_t *force = nullptr,
         const char *kernel = nullptr) {
        ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
        d.fft_size = n;
        d.dtype = dtype;
        d.backend = backend;
        if (force) std::memcpy(d.force_factors, force, sizeof d.force_factors);
        d.force_kernel = kernel;
        const ffc_status_t st = ffc_plan_create(&p, &d);
        char msg[512];
        ffc_last_error_message(msg, sizeof msg);
        INFO("ffc_plan_create: " << msg);
        REQUIRE(st == FFC_SUCCESS);
    }
    ~Plan() { ffc_plan_destroy(p); }
    Plan(const Plan &) = delete;
    Plan &operator=(const Plan &) = delete;
};

inline std::vector<double> as_double(const HostTensor &t) {
    std::vector<double> v(size_t(t.count()));
    for (int64_t i = 0; i < t.count(); ++i) v[size_t(i)] = t.at(i);
    return v;
}

// The CUDA backend computes every DFT with split-bf16 tensor-core products
// (hi·hi + lo·hi + hi·lo): its arithmetic has an effective unit roundoff of
// about 2^-17 rather than fp32's 2^-24. For fp16/bf16 outputs that is invisible
// (the precision rule holds unchanged); for fp32 I/O the oracle's fp32 bound is
// applied with that unit roundoff: 2^7 times the fp32 bound. This is the
// documented contract of the CUDA fp32 path (see the header).
inline double cuda_tolerance(const std::vector<double> &ref, ffc_dtype_t dtype, int64_t n, double scale) {
    const double t = tolerance(ref, dtype, n, scale);
    return dtype == FFC_DTYPE_FP32 ? t * 128.0 : t;
}

// One GPU test problem: the shape and dtype, and its host inputs (u, k, the gates
// and dy) drawn fresh and rounded to the dtype.
struct GpuCase {
    int64_t n, B, H, L, K;
    ffc_dtype_t dtype;
    bool gated;
    // A kernel to force (ffc_plan_desc_t::force_kernel), or nullptr for the
    // planner's choice. A multi-pass test names its inner kernel here, so that it
    // keeps testing the multi-pass path where a cluster variant fuses N (sm_90).
    const char *kernel = nullptr;
    std::string str() const {
        return "N=" + std::to_string(n) + " B=" + std::to_string(B) + " H=" + std::to_string(H) + " L=" +
               std::to_string(L) + " K=" + std::to_string(K) + " " + dtype_label(dtype) + (gated ? " gated" : " ungated") +
               (kernel ? std::string(" kernel=") + kernel : std::string());
    }
};

// Pins the CUDA backend's chunk budgets (src/cuda/chunk_budgets.hpp) for the
// plans created in its scope, so that a test's problem splits into the chunks its
// comments count, whatever the defaults: dk spectra 256 MiB per chunk, multi-pass
// Z 31.25 MiB (5/8 of an H100's 50 MiB L2, the budget these tests were written for).
// dk_pair_groups > 0 also pins the dk pair groups of the multi-pass backward and
// of the fused backward kernel.
struct ScopedTestChunkBudgets {
    explicit ScopedTestChunkBudgets(long long dk_pair_groups = 0) {
        ffc::cuda::ChunkBudgets b;
        b.dk = size_t(256) << 20;
        b.multipass = (size_t(50) << 20) / 8 * 5;
        b.dk_pair_groups = dk_pair_groups;
        ffc::cuda::set_chunk_budgets_for_testing(&b);
    }
    ~ScopedTestChunkBudgets() { ffc::cuda::set_chunk_budgets_for_testing(nullptr); }
    ScopedTestChunkBudgets(const ScopedTestChunkBudgets &) = delete;
    ScopedTestChunkBudgets &operator=(const ScopedTestChunkBudgets &) = delete;
};

// The multi-pass inner kernel the tests force where N is fused on sm_90
// (64K and 128K): N = M x 16K.
constexpr const char *kMultipassInner16K = "fused_n16384_4x16cx16x16";
// The multi-pass alternatives a split comes with (plan::Candidate::name()):
// cuBLASLt GEMM outer passes, and chunks sized for the L2.
constexpr const char *kGemmM4 = "fused_n16384_4x16cx16x16+cublaslt";     // 64K = 4 x 16K
constexpr const char *kGemmM32 = "fused_n4096_16cx16x16+cublaslt";       // 128K = 32 x 4K (1M: 256 x 4K, 4M: 1024 x 4K)
constexpr const char *kGemmM512 = "fused_n8192_2x16cx16x16+cublaslt";    // 4M = 512 x 8K: beyond the direct passes' M
constexpr const char *kL2Chunks4K = "fused_n4096_16cx16x16+l2";          // 128K = 32 x 4K, 1M = 256 x 4K

struct HostProblem {
    GpuCase c;
    ConvProblem prob;
    HostTensor u, ig, og, dy;  // ig, og empty when ungated
    std::vector<float> k;
    HostProblem(const GpuCase &cs, Rng &rng) : c(cs) {
        prob.batch = c.B;
        prob.channels = c.H;
        prob.seq_len = c.L;
        prob.kernel_len = c.K;
        prob.fft_size = c.n;
        prob.dtype = c.dtype;
        const int64_t e = elements();
        u = HostTensor(c.dtype, e);
        dy = HostTensor(c.dtype, e);
        fill_normal(u, rng);
        fill_normal(dy, rng);
        if (c.gated) {
            ig = HostTensor(c.dtype, e);
            og = HostTensor(c.dtype, e);
            fill_normal(ig, rng);
            fill_normal(og, rng);
        }
        k.resize(size_t(c.H * c.K));
        fill_normal(k, rng, 1.0 / std::sqrt(double(c.K)));
    }
    int64_t elements() const { return c.B * c.H * c.L; }
    ConvInputs inputs() const { return ConvInputs{u.data(), k.data(), ig.data(), og.data()}; }
};

// The plan's description (ffc_plan_describe), for failure messages.
inline std::string describe_plan(const Plan &plan) {
    size_t need = 0;
    ffc_plan_describe(plan.p, nullptr, 0, &need);
    std::string text(need, '\0');
    if (need) ffc_plan_describe(plan.p, &text[0], need, nullptr);
    return text;
}

// Runs ffc_conv_forward on the given backend; returns y on the host.
inline HostTensor run_forward(const GpuCase &c, const HostProblem &hp, ffc_backend_t backend, const uint32_t *force = nullptr,
                              const char *kernel = nullptr) {
    // The case's kernel applies to the CUDA backend (the CPU backend has no kernel variants).
    if (!kernel && !force && backend == FFC_BACKEND_CUDA) kernel = c.kernel;
    Plan plan(uint64_t(c.n), c.dtype, backend, force, kernel);
    INFO(describe_plan(plan).substr(0, 600));
    const ffc_shape_t shape{c.B, c.H, c.L, c.K};
    size_t ws_size = 0;
    REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
    HostTensor y(c.dtype, c.B * c.H * c.L);
    poison(y);
    if (backend == FFC_BACKEND_CPU) {
        std::vector<unsigned char> ws(ws_size);
        REQUIRE(ffc_conv_forward(plan.p, &shape, hp.u.data(), hp.k.data(), hp.ig.data(), hp.og.data(), y.data(),
                                 ws.data(), ws_size, nullptr) == FFC_SUCCESS);
        return y;
    }
    DeviceBuffer du(hp.u.bytes()), dk(hp.k.size() * 4), dy(y.bytes()), dws(ws_size);
    du.upload(hp.u.data());
    dk.upload(hp.k.data());
    dy.poison(c.dtype);
    dws.poison(FFC_DTYPE_FP32);  // the workspace holds nothing the call may rely on
    std::unique_ptr<DeviceBuffer> dig, dog;
    if (c.gated) {
        dig = std::make_unique<DeviceBuffer>(hp.ig.bytes());
        dog = std::make_unique<DeviceBuffer>(hp.og.bytes());
        dig->upload(hp.ig.data());
        dog->upload(hp.og.data());
    }
    const ffc_status_t st = ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), dig ? dig->ptr : nullptr,
                                             dog ? dog->ptr : nullptr, dy.ptr, dws.ptr, ws_size, nullptr);
    char msg[512];
    ffc_last_error_message(msg, sizeof msg);
    INFO("ffc_conv_forward: " << msg);
    REQUIRE(st == FFC_SUCCESS);
    CUDA_REQUIRE(cudaDeviceSynchronize());
    dy.download(y.data());
    return y;
}

// A gated forward on the CUDA backend with u and the in_gate `off_in` bytes
// into their allocations and y and the out_gate `off_out` bytes into theirs (a
// caller's slice may start on any element). Returns y, the bytes before it and
// the 16 after it (which must stay poisoned).
struct OffsetForward {
    HostTensor y, head, tail;
};
inline OffsetForward run_forward_at_offsets(const Plan &plan, const GpuCase &c, const HostProblem &hp, size_t off_in,
                                            size_t off_out) {
    const ffc_shape_t shape{c.B, c.H, c.L, c.K};
    size_t ws_size = 0;
    REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
    const size_t bytes = hp.u.bytes();
    DeviceBuffer du(bytes + off_in), dig(bytes + off_in), dog(bytes + off_out), dy(bytes + off_out + 16),
        dk(hp.k.size() * 4), dws(ws_size);
    auto at = [](const DeviceBuffer &b, size_t o) { return static_cast<void *>(b.get<char>() + o); };
    CUDA_REQUIRE(cudaMemcpy(at(du, off_in), hp.u.data(), bytes, cudaMemcpyHostToDevice));
    CUDA_REQUIRE(cudaMemcpy(at(dig, off_in), hp.ig.data(), bytes, cudaMemcpyHostToDevice));
    CUDA_REQUIRE(cudaMemcpy(at(dog, off_out), hp.og.data(), bytes, cudaMemcpyHostToDevice));
    dk.upload(hp.k.data());
    dy.poison(c.dtype);
    REQUIRE(ffc_conv_forward(plan.p, &shape, at(du, off_in), dk.get<float>(), at(dig, off_in), at(dog, off_out),
                             at(dy, off_out), dws.ptr, ws_size, nullptr) == FFC_SUCCESS);
    CUDA_REQUIRE(cudaDeviceSynchronize());
    OffsetForward r{HostTensor(c.dtype, c.B * c.H * c.L), HostTensor(c.dtype, int64_t(off_out / 2)),
                    HostTensor(c.dtype, 8)};
    CUDA_REQUIRE(cudaMemcpy(r.y.data(), at(dy, off_out), bytes, cudaMemcpyDeviceToHost));
    CUDA_REQUIRE(cudaMemcpy(r.head.data(), dy.ptr, off_out, cudaMemcpyDeviceToHost));
    CUDA_REQUIRE(cudaMemcpy(r.tail.data(), at(dy, off_out + bytes), 16, cudaMemcpyDeviceToHost));
    return r;
}

// Forced multi-pass factorisations covering every outer size M = 2 .. 256 (the
// planner's picks cover only some M), for the multi-pass forward and backward
// suites. The first factor is M; the rest is the inner fused kernel's.
struct ForcedSplit {
    int64_t n;
    std::vector<uint32_t> factors;
    std::string label() const {
        std::string l;
        for (size_t i = 0; i < factors.size(); ++i) l += (i ? "x" : "") + std::to_string(factors[i]);
        return l;
    }
    // The zero-terminated array of ffc_plan_desc_t::force_factors.
    std::vector<uint32_t> force() const {
        std::vector<uint32_t> f(FFC_MAX_FACTORS, 0);
        std::copy(factors.begin(), factors.end(), f.begin());
        return f;
    }
};
// None of these factor lists is also a fused variant's (the cluster variants on
// sm_90: 32K 8x16x16x16 and 2x4x16x16x16, 64K 8x2x16x16x16 and 4x4x16x16x16, 128K
// 8x4x16x16x16), so every one runs the multi-pass path.
inline std::vector<ForcedSplit> multipass_forced_splits() {
    return {
        {65536, {4, 8, 8, 16, 16}}, {32768, {2, 8, 8, 16, 16}}, {32768, {4, 2, 16, 16, 16}},
        {32768, {4, 8, 4, 16, 16}}, {32768, {8, 4, 4, 16, 16}}, {32768, {16, 8, 16, 16}},
        {32768, {32, 4, 16, 16}},   {32768, {64, 2, 16, 16}},   {32768, {128, 16, 16}},
        {65536, {256, 16, 16}},     {65536, {256, 4, 4, 16}},   {131072, {8, 8, 8, 16, 16}},
    };
}

// dk is fp32 in every plan, so the rule for it is the fp32 one whatever the I/O
// dtype — and on the CUDA backend it comes out of the same split-bf16 transforms
// as an fp32 output (forward transforms of v and dz, the pointwise product, one
// inverse: the same chain as y's), so it gets the same 2^7 factor. The inputs of
// dk (in_gate·u and out_gate·dy) are formed in fp32 from the I/O values exactly
// for 16-bit I/O, so the I/O dtype adds nothing to dk's error.
inline double cuda_dk_tolerance(const std::vector<double> &ref, int64_t n, double scale) {
    return dk_tolerance(ref, n, scale) * 128.0;
}

}  // namespace ffc_test
