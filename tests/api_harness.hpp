// The C-API test harness shared by test_partial.cpp and test_freq_sparse.cpp:
// memory on either backend (host, or device buffers filled from the host),
// poisoned outputs, and one forward + backward run whose outputs come back to
// the host, for a Case and its Problem (fresh inputs).
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "flashfftconv/flashfftconv.h"
#include "oracle.hpp"

#if FFC_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace ffc_test {

inline std::string last_error_text() {
    char buf[512];
    ffc_last_error_message(buf, sizeof buf);
    return buf;
}

// REQUIRE that a C-API call succeeds, printing the call, its status and message.
#define FFC_TEST_REQUIRE_OK(call)                                                  \
    do {                                                                           \
        const ffc_status_t st_ = (call);                                           \
        INFO(#call << " -> " << int(st_) << ": " << ffc_test::last_error_text());  \
        REQUIRE(st_ == FFC_SUCCESS);                                               \
    } while (0)

// One problem of the C API: shape, dtype, gates. fft_size is the plan's N.
struct Case {
    int64_t n = 256, B = 3, H = 2, L = 256, K = 100;
    ffc_dtype_t dtype = FFC_DTYPE_FP16;
    bool gated = true;
    std::string str() const {
        return "N=" + std::to_string(n) + " B=" + std::to_string(B) + " H=" + std::to_string(H) + " L=" +
               std::to_string(L) + " K=" + std::to_string(K) + " " + dtype_label(dtype) +
               (gated ? " gated" : " ungated");
    }
    ffc_shape_t shape() const { return ffc_shape_t{B, H, L, K}; }
    int64_t elements() const { return B * H * L; }
    // The oracle's problem at FFT size fft_size (the plan's N, or one at
    // which nothing wraps).
    ConvProblem problem(int64_t fft_size) const {
        ConvProblem p;
        p.batch = B; p.channels = H; p.seq_len = L; p.kernel_len = K; p.fft_size = fft_size; p.dtype = dtype;
        return p;
    }
};

// A case's inputs, fresh from `rng`: u, dy, the gates when gated, k.
struct Problem {
    Case c;
    HostTensor u, ig, og, dy;
    std::vector<float> k;
    Problem(const Case &cs, Rng &rng) : c(cs) {
        u = HostTensor(c.dtype, c.elements());
        dy = HostTensor(c.dtype, c.elements());
        fill_normal(u, rng);
        fill_normal(dy, rng);
        if (c.gated) {
            ig = HostTensor(c.dtype, c.elements());
            og = HostTensor(c.dtype, c.elements());
            fill_normal(ig, rng);
            fill_normal(og, rng);
        }
        k.resize(size_t(c.H * c.K));
        fill_normal(k, rng, 1.0 / std::sqrt(double(c.K)));
    }
    ConvInputs inputs() const { return ConvInputs{u.data(), k.data(), ig.data(), og.data()}; }
};

// ---------------------------------------------------------------------------
// Memory on either backend: host vectors, or device buffers filled from the host.
// ---------------------------------------------------------------------------
struct Memory {
    bool cuda = false;
    std::vector<std::shared_ptr<void>> owned;

    void *alloc(size_t bytes) {
        if (bytes == 0) return nullptr;
#if FFC_WITH_CUDA
        if (cuda) {
            void *p = nullptr;
            REQUIRE(cudaMalloc(&p, bytes) == cudaSuccess);
            owned.emplace_back(p, [](void *q) { cudaFree(q); });
            REQUIRE(cudaMemset(p, 0xff, bytes) == cudaSuccess);  // NaN bytes
            return p;
        }
#endif
        std::shared_ptr<void> p(::operator new(bytes), [](void *q) { ::operator delete(q); });
        std::memset(p.get(), 0xff, bytes);
        owned.push_back(p);
        return p.get();
    }
    void *put(const void *host, size_t bytes) {
        if (!host || bytes == 0) return nullptr;
        void *p = alloc(bytes);
#if FFC_WITH_CUDA
        if (cuda) {
            REQUIRE(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
            return p;
        }
#endif
        std::memcpy(p, host, bytes);
        return p;
    }
    void get(void *host, const void *p, size_t bytes) {
#if FFC_WITH_CUDA
        if (cuda) {
            REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
            REQUIRE(cudaMemcpy(host, p, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
            return;
        }
#endif
        std::memcpy(host, p, bytes);
    }
    // An output: poisoned like the oracle's poison() so that all_poisoned() can tell.
    void *output(ffc_dtype_t dtype, int64_t count) {
        HostTensor t(dtype, count);
        poison(t);
        return put(t.data(), t.bytes());
    }
    float *output_f32(int64_t count) {
        std::vector<float> v(static_cast<size_t>(count));
        poison(v);
        return static_cast<float *>(put(v.data(), v.size() * sizeof(float)));
    }
};

struct Outputs {
    HostTensor y, du, d_in_gate, d_out_gate;
    std::vector<float> dk;
};

struct Wanted {
    bool du = true, dk = true, d_in_gate = true, d_out_gate = true;
};

// Runs forward and backward through `fwd` / `bwd` (the C API or an executor),
// on the memory of `mem`, and returns the outputs on the host. Unwanted
// outputs come back still poisoned.
template <class Forward, class Backward>
Outputs run(const Problem &p, Memory &mem, Wanted w, Forward &&fwd, Backward &&bwd) {
    const Case &c = p.c;
    const size_t tensor = p.u.bytes();
    const void *u = mem.put(p.u.data(), tensor), *dy = mem.put(p.dy.data(), tensor);
    const void *ig = mem.put(p.ig.data(), p.ig.bytes()), *og = mem.put(p.og.data(), p.og.bytes());
    const float *k = static_cast<const float *>(mem.put(p.k.data(), p.k.size() * sizeof(float)));
    void *y = mem.output(c.dtype, c.elements()), *du = mem.output(c.dtype, c.elements());
    void *dig = c.gated ? mem.output(c.dtype, c.elements()) : nullptr;
    void *dog = c.gated ? mem.output(c.dtype, c.elements()) : nullptr;
    float *dk = mem.output_f32(c.H * c.K);
    fwd(u, k, ig, og, y);
    bwd(dy, u, k, ig, og, w.du ? du : nullptr, w.dk ? dk : nullptr, w.d_in_gate ? dig : nullptr,
        w.d_out_gate ? dog : nullptr);
    Outputs o;
    o.y = HostTensor(c.dtype, c.elements());
    o.du = HostTensor(c.dtype, c.elements());
    o.d_in_gate = HostTensor(c.dtype, c.gated ? c.elements() : 0);
    o.d_out_gate = HostTensor(c.dtype, c.gated ? c.elements() : 0);
    o.dk.resize(size_t(c.H * c.K));
    mem.get(o.y.data(), y, tensor);
    mem.get(o.du.data(), du, tensor);
    if (c.gated) {
        mem.get(o.d_in_gate.data(), dig, tensor);
        mem.get(o.d_out_gate.data(), dog, tensor);
    }
    mem.get(o.dk.data(), dk, o.dk.size() * sizeof(float));
    return o;
}


// Forward, then backward with the outputs `w` wants, through the public API
// on `plan`, with a workspace of the size it asks for (NaN bytes).
inline Outputs run_api(ffc_plan_t plan, const Problem &p, bool cuda, Wanted w = {}) {
    Memory mem;
    mem.cuda = cuda;
    const ffc_shape_t s = p.c.shape();
    size_t ws_size = 0;
    FFC_TEST_REQUIRE_OK(ffc_plan_get_workspace_size(plan, &s, &ws_size));
    void *ws = mem.alloc(ws_size);
    return run(
        p, mem, w,
        [&](const void *u, const float *k, const void *ig, const void *og, void *y) {
            FFC_TEST_REQUIRE_OK(ffc_conv_forward(plan, &s, u, k, ig, og, y, ws, ws_size, nullptr));
        },
        [&](const void *dy, const void *u, const float *k, const void *ig, const void *og, void *du, float *dk,
            void *dig, void *dog) {
            if (!du && !dk && !dig && !dog) return;
            FFC_TEST_REQUIRE_OK(ffc_conv_backward(plan, &s, dy, u, k, ig, og, du, dk, dig, dog, ws, ws_size, nullptr));
        });
}

inline bool bitwise_equal(const Outputs &a, const Outputs &b) {
    return a.y.bitwise_equal(b.y) && a.du.bitwise_equal(b.du) && a.d_in_gate.bitwise_equal(b.d_in_gate) &&
           a.d_out_gate.bitwise_equal(b.d_out_gate) && std::memcmp(a.dk.data(), b.dk.data(), a.dk.size() * 4) == 0;
}

}  // namespace ffc_test
