// CUDA backend, backward path (issue 5): every fused size against the fp64
// oracle, every subset of outputs, bitwise determinism, graph capture, finite
// differences, and dk split into several chunks of channels and of pairs; the
// same for the multi-pass sizes (N = 32K .. 4M, tagged [mp_backward] as well).
// Tagged [gpu]: main.cpp skips the whole group (exit 77) on a machine without
// a CUDA device.
#include <catch2/catch.hpp>

#include "flashfftconv/flashfftconv.h"
#include "oracle.hpp"

#if FFC_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda_test_util.hpp"
#include "plan/planner.hpp"

using namespace ffc_test;

namespace {

using Case = GpuCase;


struct Wanted {
    bool du = true, dk = true, d_in_gate = true, d_out_gate = true;
    std::string str() const {
        return std::string("wanted:") + (du ? " du" : "") + (dk ? " dk" : "") + (d_in_gate ? " d_in_gate" : "") +
               (d_out_gate ? " d_out_gate" : "");
    }
};


// Host copies of the four gradients.
struct Grads {
    HostTensor du, d_in_gate, d_out_gate;
    std::vector<float> dk;
    explicit Grads(const Case &c)
        : du(c.dtype, c.B * c.H * c.L), d_in_gate(c.dtype, c.B * c.H * c.L), d_out_gate(c.dtype, c.B * c.H * c.L),
          dk(size_t(c.H * c.K)) {}
    bool bitwise_equal(const Grads &o) const {
        return du.bitwise_equal(o.du) && d_in_gate.bitwise_equal(o.d_in_gate) && d_out_gate.bitwise_equal(o.d_out_gate) &&
               std::memcmp(dk.data(), o.dk.data(), dk.size() * sizeof(float)) == 0;
    }
};

// The problem on the device: inputs uploaded once, outputs poisoned before each call.
struct DeviceProblem {
    const HostProblem &hp;
    Plan plan;
    ffc_shape_t shape;
    size_t ws_size = 0;
    DeviceBuffer u, k, dy, du, dk, dig, dog;
    std::unique_ptr<DeviceBuffer> ig, og, ws;
    // force: the plan's factorisation (NULL: the case's kernel, else the planner's choice).
    explicit DeviceProblem(const HostProblem &h, const uint32_t *force = nullptr)
        : hp(h), plan(uint64_t(h.c.n), h.c.dtype, FFC_BACKEND_CUDA, force, force ? nullptr : h.c.kernel), shape{h.c.B, h.c.H, h.c.L, h.c.K},
          u(h.u.bytes()), k(h.k.size() * 4), dy(h.dy.bytes()), du(h.u.bytes()), dk(h.k.size() * 4),
          dig(h.u.bytes()), dog(h.u.bytes()) {
        REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
        ws = std::make_unique<DeviceBuffer>(ws_size);
        u.upload(h.u.data());
        k.upload(h.k.data());
        dy.upload(h.dy.data());
        if (h.c.gated) {
            ig = std::make_unique<DeviceBuffer>(h.ig.bytes());
            og = std::make_unique<DeviceBuffer>(h.og.bytes());
            ig->upload(h.ig.data());
            og->upload(h.og.data());
        }
    }
    void poison_outputs() {
        du.poison(hp.c.dtype);
        dig.poison(hp.c.dtype);
        dog.poison(hp.c.dtype);
        dk.poison(FFC_DTYPE_FP32);
    }
    // Enqueues ffc_conv_backward (NULL for every output not wanted; gate
    // gradients only when gated). Does not synchronise.
    ffc_status_t backward(const Wanted &w, cudaStream_t stream) {
        const bool g = hp.c.gated;
        return ffc_conv_backward(plan.p, &shape, dy.ptr, u.ptr, k.get<float>(), g ? ig->ptr : nullptr,
                                 g ? og->ptr : nullptr, w.du ? du.ptr : nullptr, w.dk ? dk.get<float>() : nullptr,
                                 g && w.d_in_gate ? dig.ptr : nullptr, g && w.d_out_gate ? dog.ptr : nullptr, ws->ptr,
                                 ws_size, reinterpret_cast<ffc_stream_t>(stream));
    }
    // The same with k's spectrum (ffc_conv_backward_spectrum) in place of k.
    ffc_status_t backward_spectrum(const Wanted &w, const void *spectrum, size_t spectrum_size, cudaStream_t stream) {
        const bool g = hp.c.gated;
        return ffc_conv_backward_spectrum(plan.p, &shape, dy.ptr, u.ptr, spectrum, spectrum_size, g ? ig->ptr : nullptr,
                                          g ? og->ptr : nullptr, w.du ? du.ptr : nullptr,
                                          w.dk ? dk.get<float>() : nullptr, g && w.d_in_gate ? dig.ptr : nullptr,
                                          g && w.d_out_gate ? dog.ptr : nullptr, ws->ptr, ws_size,
                                          reinterpret_cast<ffc_stream_t>(stream));
    }
    Grads download() const {
        Grads r(hp.c);
        du.download(r.du.data());
        dig.download(r.d_in_gate.data());
        dog.download(r.d_out_gate.data());
        dk.download(r.dk.data());
        return r;
    }
    // Poison, run, synchronise, download.
    Grads run(const Wanted &w = {}) {
        poison_outputs();
        const ffc_status_t st = backward(w, nullptr);
        char msg[512];
        ffc_last_error_message(msg, sizeof msg);
        INFO("ffc_conv_backward: " << msg);
        REQUIRE(st == FFC_SUCCESS);
        CUDA_REQUIRE(cudaDeviceSynchronize());
        return download();
    }
};

// Every requested output within the precision rule; every other one untouched.
void check_grads(const HostProblem &hp, const Grads &g, const BackwardReference &ref, const ErrorScales &sc,
                 const Wanted &w) {
    const Case &c = hp.c;
    if (w.du) {
        const double err = rel_l2(g.du, ref.du), tol = cuda_tolerance(ref.du, c.dtype, c.n, sc.du);
        INFO("du: rel-L2 " << err << " tolerance " << tol);
        CHECK(err <= tol);
    } else {
        CHECK(all_poisoned(g.du));
    }
    if (w.dk) {
        const double err = rel_l2(g.dk, ref.dk), tol = cuda_dk_tolerance(ref.dk, c.n, sc.dk);
        INFO("dk: rel-L2 " << err << " tolerance " << tol);
        CHECK(err <= tol);
    } else {
        CHECK(all_poisoned(g.dk));
    }
    if (c.gated && w.d_in_gate) {
        const double err = rel_l2(g.d_in_gate, ref.d_in_gate),
                     tol = cuda_tolerance(ref.d_in_gate, c.dtype, c.n, sc.d_in_gate);
        INFO("d_in_gate: rel-L2 " << err << " tolerance " << tol);
        CHECK(err <= tol);
    } else {
        CHECK(all_poisoned(g.d_in_gate));
    }
    if (c.gated && w.d_out_gate) {
        const double err = rel_l2(g.d_out_gate, ref.d_out_gate),
                     tol = cuda_tolerance(ref.d_out_gate, c.dtype, c.n, sc.d_out_gate);
        INFO("d_out_gate: rel-L2 " << err << " tolerance " << tol);
        CHECK(err <= tol);
    } else {
        CHECK(all_poisoned(g.d_out_gate));
    }
}

BackwardRequest request_of(const Wanted &w) {
    BackwardRequest r;
    r.du = w.du;
    r.dk = w.dk;
    r.d_in_gate = w.d_in_gate;
    r.d_out_gate = w.d_out_gate;
    return r;
}

void check_case(const Case &c, const Wanted &w = {}, const uint32_t *force = nullptr) {
    Rng rng;
    INFO(c.str() << " " << w.str() << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp, force);
    INFO(describe_plan(dp.plan).substr(0, 400));
    const Grads g = dp.run(w);
    const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data(), request_of(w));
    check_grads(hp, g, ref, error_scales(hp.prob, hp.inputs(), hp.dy.data()), w);
}

// dk with the pair groups pinned (ScopedTestChunkBudgets in the caller's scope):
// every gradient within the tolerances on a poisoned workspace, bitwise the same
// on a second run and, for dk, when dk alone is wanted.
void check_pair_groups(const Case &c, long long groups) {
    Rng rng;
    INFO(c.str() << " pair groups " << groups << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp);
    INFO(describe_plan(dp.plan).substr(0, 200));
    dp.ws->poison(FFC_DTYPE_FP32);
    const Grads g = dp.run();
    const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data());
    check_grads(hp, g, ref, error_scales(hp.prob, hp.inputs(), hp.dy.data()), Wanted{});
    CHECK(dp.run().bitwise_equal(g));
    const Grads dk_only = dp.run(Wanted{false, true, false, false});
    CHECK(std::memcmp(dk_only.dk.data(), g.dk.data(), g.dk.size() * 4) == 0);
}

// Every subset of the four outputs on a gated case (the unwanted ones untouched,
// each wanted one bitwise the same as when all are wanted), nothing wanted, and
// du or dk alone on the ungated twin of the case.
void check_output_subsets(const Case &c) {
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp);
    const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data());
    const ErrorScales sc = error_scales(hp.prob, hp.inputs(), hp.dy.data());
    const Grads all = dp.run();
    check_grads(hp, all, ref, sc, Wanted{});
    for (int mask = 1; mask < 16; ++mask) {
        Wanted w;
        w.du = mask & 1;
        w.dk = mask & 2;
        w.d_in_gate = mask & 4;
        w.d_out_gate = mask & 8;
        INFO(w.str());
        const Grads g = dp.run(w);
        check_grads(hp, g, ref, sc, w);
        // A requested output does not depend on what else was requested.
        if (w.du) CHECK(g.du.bitwise_equal(all.du));
        if (w.dk) CHECK(std::memcmp(g.dk.data(), all.dk.data(), g.dk.size() * sizeof(float)) == 0);
        if (w.d_in_gate) CHECK(g.d_in_gate.bitwise_equal(all.d_in_gate));
        if (w.d_out_gate) CHECK(g.d_out_gate.bitwise_equal(all.d_out_gate));
    }
    // Nothing wanted: a successful no-op.
    const Grads none = dp.run(Wanted{false, false, false, false});
    CHECK(all_poisoned(none.du));
    CHECK(all_poisoned(none.dk));
    // Ungated: only du and dk exist; one of them alone.
    Case cu = c;
    cu.gated = false;
    const HostProblem hu(cu, rng);
    DeviceProblem du(hu);
    const BackwardReference ref_u = reference_backward(hu.prob, hu.inputs(), hu.dy.data());
    const ErrorScales sc_u = error_scales(hu.prob, hu.inputs(), hu.dy.data());
    for (const Wanted &w : {Wanted{true, false, false, false}, Wanted{false, true, false, false}}) {
        INFO("ungated " << w.str());
        check_grads(hu, du.run(w), ref_u, sc_u, w);
    }
}

// ffc_conv_backward_spectrum with a spectrum from ffc_kernel_spectrum_compute:
// bitwise ffc_conv_backward's gradients, for every subset of outputs (the
// others untouched), and no transform of k (k is poisoned on the device first).
void check_backward_spectrum(const Case &c) {
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp);
    const Grads all = dp.run();
    size_t spec_size = 0;
    REQUIRE(ffc_kernel_spectrum_get_size(dp.plan.p, &dp.shape, &spec_size) == FFC_SUCCESS);
    DeviceBuffer spec(spec_size);
    REQUIRE(ffc_kernel_spectrum_compute(dp.plan.p, &dp.shape, dp.k.get<float>(), spec.ptr, spec_size, nullptr) ==
            FFC_SUCCESS);
    dp.k.poison(FFC_DTYPE_FP32);  // a backward that still read k would now differ
    for (int mask = 15; mask >= 1; --mask) {
        Wanted w;
        w.du = mask & 1;
        w.dk = mask & 2;
        w.d_in_gate = mask & 4;
        w.d_out_gate = mask & 8;
        INFO(w.str());
        dp.poison_outputs();
        REQUIRE(dp.backward_spectrum(w, spec.ptr, spec_size, nullptr) == FFC_SUCCESS);
        CUDA_REQUIRE(cudaDeviceSynchronize());
        const Grads g = dp.download();
        if (w.du) CHECK(g.du.bitwise_equal(all.du));
        else CHECK(all_poisoned(g.du));
        if (w.dk) CHECK(std::memcmp(g.dk.data(), all.dk.data(), g.dk.size() * sizeof(float)) == 0);
        else CHECK(all_poisoned(g.dk));
        if (w.d_in_gate) CHECK(g.d_in_gate.bitwise_equal(all.d_in_gate));
        else CHECK(all_poisoned(g.d_in_gate));
        if (w.d_out_gate) CHECK(g.d_out_gate.bitwise_equal(all.d_out_gate));
        else CHECK(all_poisoned(g.d_out_gate));
    }
}

// On a non-blocking stream, twice (bitwise the same), after a forward sharing the
// workspace (the same bits), and captured into a CUDA graph and replayed twice
// (the same bits). c must be gated.
void check_deterministic_and_capturable(const Case &c) {
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp);
    const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data());
    const ErrorScales sc = error_scales(hp.prob, hp.inputs(), hp.dy.data());
    cudaStream_t stream;
    CUDA_REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

    // 1. On a non-blocking user stream, synchronising only that stream; twice:
    //    bitwise the same (dk's batch reduction has a fixed order).
    Grads first(c), second(c);
    for (Grads *g : {&first, &second}) {
        dp.poison_outputs();
        REQUIRE(dp.backward(Wanted{}, stream) == FFC_SUCCESS);
        CUDA_REQUIRE(cudaStreamSynchronize(stream));
        *g = dp.download();
    }
    check_grads(hp, first, ref, sc, Wanted{});
    CHECK(first.bitwise_equal(second));

    // 2. Forward then backward sharing one workspace, on the stream: same bits.
    DeviceBuffer y(hp.u.bytes());
    REQUIRE(ffc_conv_forward(dp.plan.p, &dp.shape, dp.u.ptr, dp.k.get<float>(), dp.ig->ptr, dp.og->ptr, y.ptr,
                             dp.ws->ptr, dp.ws_size, reinterpret_cast<ffc_stream_t>(stream)) == FFC_SUCCESS);
    dp.poison_outputs();
    REQUIRE(dp.backward(Wanted{}, stream) == FFC_SUCCESS);
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    CHECK(dp.download().bitwise_equal(first));

    // 3. Captured into a CUDA graph and replayed (twice): bitwise the same.
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const ffc_status_t captured = dp.backward(Wanted{}, stream);
    CUDA_REQUIRE(cudaStreamEndCapture(stream, &graph));
    REQUIRE(captured == FFC_SUCCESS);
    CUDA_REQUIRE(cudaGraphInstantiate(&exec, graph, 0));
    for (int replay = 0; replay < 2; ++replay) {
        dp.poison_outputs();
        CUDA_REQUIRE(cudaGraphLaunch(exec, stream));
        CUDA_REQUIRE(cudaStreamSynchronize(stream));
        INFO("replay " << replay);
        CHECK(dp.download().bitwise_equal(first));
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    CUDA_REQUIRE(cudaStreamDestroy(stream));
}

// Whether the current device runs the cluster variants (sm_90 and newer).
bool has_clusters() {
    int device = 0, major = 0;
    CUDA_REQUIRE(cudaGetDevice(&device));
    CUDA_REQUIRE(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    return major >= 9;
}

}  // namespace

TEST_CASE("cuda backward: every fused size, fp16/bf16/fp32, gated and ungated, L = N, N/2, odd, N - 2", "[gpu][cuda_backward]") {
    for (int64_t n = 256; n <= 32768; n *= 2)
        for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_BF16, FFC_DTYPE_FP32})
            for (bool gated : {true, false}) {
                check_case(Case{n, 3, 2, n, n, dt, gated});                  // circular, odd B
                check_case(Case{n, 4, 3, n / 2, n / 2, dt, gated});          // causal, zero padding skipped
                check_case(Case{n, 1, 2, n / 2 - 7, n / 3 + 1, dt, gated});  // odd L, K < N, B = 1
                check_case(Case{n, 2, 3, n - 2, n, dt, gated});  // rows 4-byte aligned in 16-bit I/O
                check_case(Case{n, 3, 8, n - 1, n / 2 + 1, dt, gated});  // shifted blocks, wrapped positions
            }
}

// Each runs the fused backward kernel (one launch for both convolutions, where
// two are needed) and the single convolutions: 256 and 4096 one-CTA variants,
// 16384 the two-CTA cluster variant, whose passes read and write rows at odd
// L through the CTAs' own shared memory and at even L straight from and to
// global memory at stage 0 (direct I/O). Odd L with H = 2: element accesses;
// with H = 8: shifted 16-byte blocks, whose first and last block in a row are
// stored an element at a time.
TEST_CASE("cuda backward: every subset of outputs; the others stay untouched", "[gpu][cuda_backward]") {
    for (int64_t n : {256, 4096})
        for (int64_t H : {2, 8}) check_output_subsets(Case{n, 3, H, n - 7, n / 2 + 1, FFC_DTYPE_BF16, true});
    if (has_clusters())
        for (auto [H, L] : {std::pair<int64_t, int64_t>{2, 16384 - 7}, {2, 16384 - 2}, {8, 16384 - 3}})
            check_output_subsets(Case{16384, 3, H, L, 16384 / 2 + 1, FFC_DTYPE_FP16, true, "fused_n16384_8x8x16x16_c2"});
}

// The fused backward kernel's dk (launch.hpp, FusedKernelEntry::launch_backward):
// a slot walks the pairs of its group, V pass then DZ pass (1K: side by side in
// two slots, Geometry::backward_paired; 4K, 16K and the cluster variants: one
// after the other, the cluster's CTAs each stashing their part of V), and
// adds conj(V)·DZ in order; the groups' partial sums are added afterwards
// (CudaExecutor::dk_pair_groups, pinned here through the testing hook). B = 9
// gives 5 pairs: G = 1 sums straight into the channel's accumulator, G = 2
// gives uneven groups (2 + 3 pairs), G = 5 one pair per group (the product
// overwrites its V). With 256 MiB of dk spectra per chunk, B = 2049 at 16K
// (1025 pairs: a channel's 2051 spectra of 128 KiB exceed the budget) splits the
// channel's pairs into chunks of 513 and 512, the sums carried over from the
// first to the second. The cluster variants (sm_90) with 2, 4 and 8 CTAs, at
// even L (direct I/O at stage 0) and odd L. Each within the tolerances,
// bitwise the same run to run and when dk alone is wanted.
TEST_CASE("cuda backward: fused kernel's dk pair groups", "[gpu][cuda_backward]") {
    std::vector<Case> cases = {Case{1024, 9, 3, 1024, 1024, FFC_DTYPE_FP16, true},
                               Case{4096, 9, 2, 4096 / 2 - 3, 300, FFC_DTYPE_BF16, false},
                               Case{16384, 2049, 1, 16384 / 2, 16384 / 2, FFC_DTYPE_FP16, true, "fused_n16384_8x8x16x16"}};
    if (has_clusters()) {
        cases.push_back(Case{8192, 9, 2, 8192 - 6, 8192 / 3, FFC_DTYPE_FP16, true, "fused_n8192_8x4x16x16_c2"});
        cases.push_back(Case{32768, 9, 1, 32768 / 2 - 7, 300, FFC_DTYPE_BF16, true, "fused_n32768_8x16cx16x16_c4"});
        cases.push_back(Case{32768, 9, 1, 32768 - 2, 32768 / 2, FFC_DTYPE_FP16, true, "fused_n32768_8x16cx16x16_c8"});
        cases.push_back(Case{65536, 9, 1, 65536, 65536, FFC_DTYPE_FP16, false, "fused_n65536_8x2x16x16x16_c8"});
    }
    for (long long groups : {1, 2, 5}) {
        const ScopedTestChunkBudgets budgets(groups);
        for (const Case &c : cases) check_pair_groups(c, groups);
    }
}

TEST_CASE("cuda backward: deterministic, stream-ordered, graph-capturable", "[gpu][cuda_backward][sanitize]") {
    // 256 and 2048: paired passes; 4096: paired passes of the doubled dk geometry
    // (fused::DkGeometry); 8192 in a two-CTA cluster (sm_90): one pass after the
    // other, with direct I/O at stage 0 (at L = N without predicates for the
    // pairs with both rows). H = 8 at 2048: shifted 16-byte blocks.
    for (int64_t n : {256, 2048, 4096})
        check_deterministic_and_capturable(Case{n, 5, 3, n - 5, n / 4, FFC_DTYPE_BF16, true});
    check_deterministic_and_capturable(Case{2048, 5, 8, 2048 - 5, 2048 / 4, FFC_DTYPE_FP16, true});
    if (has_clusters()) {
        check_deterministic_and_capturable(Case{8192, 5, 3, 8192 - 6, 8192 / 4, FFC_DTYPE_BF16, true, "fused_n8192_8x4x16x16_c2"});
        check_deterministic_and_capturable(Case{8192, 5, 3, 8192, 8192 / 4, FFC_DTYPE_FP16, true, "fused_n8192_8x4x16x16_c2"});
    }
}

TEST_CASE("cuda backward: a precomputed spectrum gives exactly ffc_conv_backward's gradients",
          "[gpu][cuda_backward]") {
    // Paired passes (256, 4096), a two-CTA cluster (8192), multi-pass with the
    // 16K inner kernel (65536) and the planner's multi-pass pick (262144).
    for (int64_t n : {256, 4096})
        check_backward_spectrum(Case{n, 5, 3, n - 5, n / 4, FFC_DTYPE_FP16, true});
    if (has_clusters())
        check_backward_spectrum(Case{8192, 3, 3, 8192, 8192 / 2, FFC_DTYPE_BF16, true, "fused_n8192_8x4x16x16_c2"});
    check_backward_spectrum(Case{65536, 3, 2, 65536 / 2 + 3, 65536 / 4, FFC_DTYPE_FP16, true, kMultipassInner16K});
    check_backward_spectrum(Case{262144, 2, 1, 262144, 262144 / 2, FFC_DTYPE_BF16, true});
}

TEST_CASE("cuda backward: workspace covers both passes and is checked", "[gpu][cuda_backward]") {
    const int64_t n = 1024;
    const Case c{n, 3, 2, n, n, FFC_DTYPE_FP16, true};
    Rng rng;
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp);
    // At least the kernel spectrum (forward's need), at most that plus the
    // plan's cap of dk's chunk buffers (chunk_budgets.hpp, 512 MiB by default).
    const size_t spectrum = size_t(c.H) * n * 8;
    CHECK(dp.ws_size >= spectrum);
    CHECK(dp.ws_size <= spectrum + ffc::cuda::chunk_budgets().dk + 4 * 256);
    dp.poison_outputs();
    const ffc_status_t st = ffc_conv_backward(dp.plan.p, &dp.shape, dp.dy.ptr, dp.u.ptr, dp.k.get<float>(), dp.ig->ptr,
                                              dp.og->ptr, dp.du.ptr, dp.dk.get<float>(), dp.dig.ptr, dp.dog.ptr,
                                              dp.ws->ptr, dp.ws_size - 1, nullptr);
    CHECK(st == FFC_ERROR_WORKSPACE_TOO_SMALL);
    // A gate gradient without its gate is an argument error; nothing is written.
    CHECK(ffc_conv_backward(dp.plan.p, &dp.shape, dp.dy.ptr, dp.u.ptr, dp.k.get<float>(), nullptr, dp.og->ptr,
                            dp.du.ptr, dp.dk.get<float>(), dp.dig.ptr, nullptr, dp.ws->ptr, dp.ws_size,
                            nullptr) == FFC_ERROR_INVALID_ARGUMENT);
    CUDA_REQUIRE(cudaDeviceSynchronize());
    const Grads g = dp.download();
    CHECK(all_poisoned(g.du));
    CHECK(all_poisoned(g.dk));
    CHECK(all_poisoned(g.d_in_gate));
    CHECK(all_poisoned(g.d_out_gate));
}

// dk's batch reduction runs in chunks of channels × pairs whose spectra stay
// within the plan's dk budget (src/cuda/cuda_executor.cpp, dk_chunking), pinned
// here to 256 MiB (ScopedTestChunkBudgets). At N = 16384 one
// complex spectrum is 128 KiB, so:
//  * B = 3 (2 pairs): a channel takes 5 spectra = 640 KiB, 409 channels fit;
//    H = 820 runs as three chunks of 274, 274 and 272 channels.
//  * B = 2049 (1025 pairs, the last one half empty): one channel takes 2051
//    spectra > 256 MiB, so channels go one at a time with their pairs split
//    into chunks of 513 and 512, accumulated in order.
TEST_CASE("cuda backward: dk over several chunks of channels and of pairs", "[gpu][cuda_backward]") {
    const ScopedTestChunkBudgets budgets;
    const int64_t n = 16384;
    for (const Case &c : {Case{n, 3, 820, n / 2, n / 2, FFC_DTYPE_FP16, true},
                          Case{n, 2049, 2, n / 2, 257, FFC_DTYPE_BF16, false}}) {
        size_t free_bytes = 0, total = 0;
        CUDA_REQUIRE(cudaMemGetInfo(&free_bytes, &total));
        const size_t io = size_t(c.B * c.H * c.L) * 2;
        if (free_bytes < 9 * io + (size_t(1) << 30)) {
            WARN("not enough device memory for " << c.str() << "; skipped");
            continue;
        }
        Rng rng;
        INFO(c.str() << " seed=" << rng.seed());
        const HostProblem hp(c, rng);
        DeviceProblem dp(hp);
        const Wanted w{true, true, false, false};
        const Grads g = dp.run(w);
        const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data(), request_of(w));
        check_grads(hp, g, ref, error_scales(hp.prob, hp.inputs(), hp.dy.data()), w);
        // And the chunked reduction is as deterministic as the single one.
        CHECK(std::memcmp(dp.run(Wanted{false, true, false, false}).dk.data(), g.dk.data(), g.dk.size() * 4) == 0);
    }
}

// Finite differences through the forward pass, fp32 I/O. y is linear in each of
// u, k, in_gate and out_gate separately, so for f(x) = <dy, y(x)> the central
// difference [f(x + εδ) − f(x − εδ)] / 2ε equals <grad_x, δ> up to rounding only
// (no truncation term; ε need not be small). The bound is the CUDA fp32
// precision rule applied to the two forward results and to the gradient.
// dy = Σ_x J_x·δ_x (each J_x·δ_x is a forward call with x replaced by δ_x) plus
// noise, so every <grad_x, δ_x> = <dy, J_x·δ_x> is large against that bound
// (checked, so no direction can pass vacuously).
TEST_CASE("cuda backward: finite differences of <dy, y> match every gradient", "[gpu][cuda_backward]") {
    for (const Case &c : {Case{256, 3, 2, 256, 256, FFC_DTYPE_FP32, true}, Case{512, 2, 3, 259, 200, FFC_DTYPE_FP32, true},
                          Case{1024, 1, 2, 512, 512, FFC_DTYPE_FP32, false}}) {
        Rng rng;
        INFO(c.str() << " seed=" << rng.seed());
        HostProblem hp(c, rng);
        const int64_t e = hp.elements();
        const double eps = 0.25;  // exact in fp32
        Plan plan(uint64_t(c.n), c.dtype, FFC_BACKEND_CUDA);
        const ffc_shape_t shape{c.B, c.H, c.L, c.K};
        size_t ws_size = 0;
        REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
        DeviceBuffer ws(ws_size), y(size_t(e) * 4);

        struct Inputs {
            HostTensor u, ig, og;
            std::vector<float> k;
        };
        // y of the given host inputs on the GPU; `bound` receives tol·||y_exact||,
        // a bound on ||y − y_exact|| by the CUDA fp32 rule.
        auto forward = [&](const Inputs &in, double &bound) {
            DeviceBuffer du(in.u.bytes()), dk(in.k.size() * 4);
            du.upload(in.u.data());
            dk.upload(in.k.data());
            std::unique_ptr<DeviceBuffer> dig, dog;
            if (c.gated) {
                dig = std::make_unique<DeviceBuffer>(in.ig.bytes());
                dog = std::make_unique<DeviceBuffer>(in.og.bytes());
                dig->upload(in.ig.data());
                dog->upload(in.og.data());
            }
            y.poison(c.dtype);
            REQUIRE(ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), dig ? dig->ptr : nullptr,
                                     dog ? dog->ptr : nullptr, y.ptr, ws.ptr, ws_size, nullptr) == FFC_SUCCESS);
            CUDA_REQUIRE(cudaDeviceSynchronize());
            HostTensor yh(c.dtype, e);
            y.download(yh.data());
            const ConvInputs ci{in.u.data(), in.k.data(), in.ig.data(), in.og.data()};
            const std::vector<double> ref = reference_forward(hp.prob, ci);
            double rn = 0;
            for (double v : ref) rn += v * v;
            bound = cuda_tolerance(ref, c.dtype, c.n, error_scales(hp.prob, ci).y) * std::sqrt(rn);
            return yh;
        };
        auto fp32 = [](HostTensor &t) { return static_cast<float *>(t.data()); };
        auto combine = [&](const HostTensor &x, const HostTensor &d, double s) {
            HostTensor r(c.dtype, e);
            for (int64_t i = 0; i < e; ++i) fp32(r)[i] = float(x.at(i) + s * d.at(i));
            return r;
        };

        // Directions, and dy = Σ_x J_x·δ_x + noise.
        Inputs dir{HostTensor(c.dtype, e), HostTensor(), HostTensor(), std::vector<float>(hp.k.size())};
        fill_normal(dir.u, rng);
        fill_normal(dir.k, rng, 1.0 / std::sqrt(double(c.K)));
        if (c.gated) {
            dir.ig = HostTensor(c.dtype, e);
            dir.og = HostTensor(c.dtype, e);
            fill_normal(dir.ig, rng);
            fill_normal(dir.og, rng);
        }
        std::vector<double> dy(size_t(e), 0.0);
        auto add_to_dy = [&](const Inputs &in) {
            double unused;
            const HostTensor t = forward(in, unused);
            for (int64_t i = 0; i < e; ++i) dy[size_t(i)] += t.at(i);
        };
        add_to_dy(Inputs{dir.u, hp.ig, hp.og, hp.k});
        add_to_dy(Inputs{hp.u, hp.ig, hp.og, dir.k});
        if (c.gated) {
            add_to_dy(Inputs{hp.u, dir.ig, hp.og, hp.k});
            add_to_dy(Inputs{hp.u, hp.ig, dir.og, hp.k});
        }
        for (int64_t i = 0; i < e; ++i) fp32(hp.dy)[i] = float(dy[size_t(i)] + 0.1 * rng.normal());

        DeviceProblem dp(hp);
        const Grads g = dp.run();
        const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data());
        const ErrorScales sc = error_scales(hp.prob, hp.inputs(), hp.dy.data());
        check_grads(hp, g, ref, sc, Wanted{});

        auto vnorm = [](const std::vector<double> &v) {
            double s = 0;
            for (double x : v) s += x * x;
            return std::sqrt(s);
        };
        // |f± − f±_exact| <= ||dy||·bound±;  |<grad, δ> − <grad_exact, δ>| <= ||δ||·tol·||grad_exact||.
        auto check_direction = [&](const char *what, const Inputs &plus, const Inputs &minus, double grad_dot,
                                   double grad_dot_err) {
            double bp, bm;
            const double fp = dot(hp.dy, forward(plus, bp)), fm = dot(hp.dy, forward(minus, bm));
            const double fd = (fp - fm) / (2 * eps);
            const double bound = norm(hp.dy) * (bp + bm) / (2 * eps) + grad_dot_err;
            INFO(what << ": finite difference " << fd << ", <grad, delta> " << grad_dot << ", bound " << bound);
            CHECK(std::fabs(fd - grad_dot) <= bound);
            CHECK(std::fabs(grad_dot) > 10 * bound);
        };

        check_direction("du", Inputs{combine(hp.u, dir.u, eps), hp.ig, hp.og, hp.k},
                        Inputs{combine(hp.u, dir.u, -eps), hp.ig, hp.og, hp.k}, dot(g.du, dir.u),
                        norm(dir.u) * cuda_tolerance(ref.du, c.dtype, c.n, sc.du) * vnorm(ref.du));
        {
            std::vector<float> kp(hp.k.size()), km(hp.k.size());
            double gd = 0, dn = 0;
            for (size_t i = 0; i < kp.size(); ++i) {
                kp[i] = float(hp.k[i] + eps * dir.k[i]);  // one more fp32 rounding: far below the bound
                km[i] = float(hp.k[i] - eps * dir.k[i]);
                gd += double(g.dk[i]) * dir.k[i];
                dn += double(dir.k[i]) * dir.k[i];
            }
            check_direction("dk", Inputs{hp.u, hp.ig, hp.og, kp}, Inputs{hp.u, hp.ig, hp.og, km}, gd,
                            std::sqrt(dn) * cuda_dk_tolerance(ref.dk, c.n, sc.dk) * vnorm(ref.dk));
        }
        if (c.gated) {
            check_direction("d_in_gate", Inputs{hp.u, combine(hp.ig, dir.ig, eps), hp.og, hp.k},
                            Inputs{hp.u, combine(hp.ig, dir.ig, -eps), hp.og, hp.k}, dot(g.d_in_gate, dir.ig),
                            norm(dir.ig) * cuda_tolerance(ref.d_in_gate, c.dtype, c.n, sc.d_in_gate) *
                                vnorm(ref.d_in_gate));
            check_direction("d_out_gate", Inputs{hp.u, hp.ig, combine(hp.og, dir.og, eps), hp.k},
                            Inputs{hp.u, hp.ig, combine(hp.og, dir.og, -eps), hp.k}, dot(g.d_out_gate, dir.og),
                            norm(dir.og) * cuda_tolerance(ref.d_out_gate, c.dtype, c.n, sc.d_out_gate) *
                                vnorm(ref.d_out_gate));
        }
    }
}

// ---------------------------------------------------------------------------
// Multi-pass plans (N ≥ 32K, src/cuda/multipass.hpp): the same two convolutions
// as multi-pass convolutions, dk's reduction in the multi-pass spectrum layout,
// then the inner mode_rows_inverse and the outer inverse pass. Also tagged
// [mp_backward] to run them alone.
// ---------------------------------------------------------------------------

TEST_CASE("cuda backward, multi-pass: every N from 32K to 4M, fp16/bf16, L = N and N/2, gated and ungated",
          "[gpu][cuda_backward][mp_backward]") {
    for (int64_t n = 32768; n <= 4194304; n *= 2)
        for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_BF16})
            for (bool gated : {true, false}) {
                // B·H small at large N so the fp64 oracle stays quick; odd B and
                // several chunks at the large sizes are covered by the chunk test.
                const int64_t B = n <= 262144 ? 3 : n <= 1048576 ? 2 : 1, H = n <= 262144 ? 2 : 1;
                check_case(Case{n, B, H, n, n, dt, gated});          // circular
                check_case(Case{n, B, H, n / 2, n / 2, dt, gated});  // causal: upper rows skipped
            }
}

TEST_CASE("cuda backward, multi-pass: every outer size M = 2 .. 256 (forced splits)",
          "[gpu][cuda_backward][mp_backward]") {
    for (const ForcedSplit &sp : multipass_forced_splits()) {
        INFO("forced " << sp.label());
        const std::vector<uint32_t> force = sp.force();
        check_case(Case{sp.n, 3, 2, sp.n, sp.n, FFC_DTYPE_FP16, true}, Wanted{}, force.data());
        check_case(Case{sp.n, 3, 2, sp.n / 2, sp.n / 2, FFC_DTYPE_BF16, false}, Wanted{}, force.data());
        // Odd L: rows off the two-element word grid in both outer passes, and
        // odd K (dk's rows too).
        check_case(Case{sp.n, 3, 3, sp.n - 1, sp.n - 1, FFC_DTYPE_FP16, true}, Wanted{}, force.data());
    }
}

TEST_CASE("cuda backward, multi-pass: odd L and K, short K, fp32 I/O", "[gpu][cuda_backward][mp_backward]") {
    check_case(Case{65536, 3, 2, 65536 / 2 - 7, 65536 / 3 + 1, FFC_DTYPE_FP16, true, kMultipassInner16K});  // odd L, K: rows off the word grid
    check_case(Case{131072, 1, 3, 100001, 999, FFC_DTYPE_BF16, false, kMultipassInner16K});                 // K < N_in: one row of dk
    check_case(Case{65536, 2, 2, 65536, 65536, FFC_DTYPE_FP32, true, kMultipassInner16K});
    check_case(Case{262144, 3, 1, 131072, 131072, FFC_DTYPE_FP32, false});
}

TEST_CASE("cuda backward, multi-pass: every subset of outputs; the others stay untouched",
          "[gpu][cuda_backward][mp_backward]") {
    check_output_subsets(Case{65536, 3, 2, 65536 - 7, 65536 / 2 + 1, FFC_DTYPE_BF16, true, kMultipassInner16K});  // rows off the word grid
    check_output_subsets(Case{131072, 3, 2, 65536, 65536, FFC_DTYPE_FP16, true, kMultipassInner16K});           // two-element I/O
}

TEST_CASE("cuda backward, multi-pass: deterministic, stream-ordered, graph-capturable",
          "[gpu][cuda_backward][mp_backward]") {
    check_deterministic_and_capturable(Case{65536, 5, 3, 65536 - 5, 65536 / 4, FFC_DTYPE_BF16, true, kMultipassInner16K});
    check_deterministic_and_capturable(Case{262144, 5, 1, 262144, 131072, FFC_DTYPE_FP16, true});
}

// One workspace size for forward and backward: the filter's spectrum (H·N·8
// bytes) plus four chunk buffers (Z_v, Z_dz, dk's partial sums and the channels' sum), each at
// least one sequence (8·N bytes) and at most the larger of the plan's chunk
// budget and one sequence, whatever B.
TEST_CASE("cuda backward, multi-pass: one bounded workspace for forward and backward, checked",
          "[gpu][cuda_backward][mp_backward]") {
    const int64_t n = 65536;
    const Case c{n, 3, 2, n, n, FFC_DTYPE_FP16, true, kMultipassInner16K};
    Rng rng;
    const HostProblem hp(c, rng);
    DeviceProblem dp(hp);
    // The chunk of Z the planner gives a multi-pass plan through HBM (512 MiB by default).
    const size_t budget = size_t(FFC_MP_CHUNK_MIB) << 20;
    const size_t seq = size_t(n) * 8, spectrum = size_t(c.H) * seq;
    const size_t most = spectrum + 4 * std::max(budget, seq) + 5 * 256;
    CHECK(dp.ws_size >= spectrum + 4 * seq);
    CHECK(dp.ws_size <= most);
    // B·H far beyond one chunk: still the spectrum plus four chunks.
    const ffc_shape_t big{4096, c.H, n, n};
    size_t big_ws = 0;
    REQUIRE(ffc_plan_get_workspace_size(dp.plan.p, &big, &big_ws) == FFC_SUCCESS);
    CHECK(big_ws <= most);

    dp.poison_outputs();
    const ffc_status_t st = ffc_conv_backward(dp.plan.p, &dp.shape, dp.dy.ptr, dp.u.ptr, dp.k.get<float>(), dp.ig->ptr,
                                              dp.og->ptr, dp.du.ptr, dp.dk.get<float>(), dp.dig.ptr, dp.dog.ptr,
                                              dp.ws->ptr, dp.ws_size - 1, nullptr);
    CHECK(st == FFC_ERROR_WORKSPACE_TOO_SMALL);
    CUDA_REQUIRE(cudaDeviceSynchronize());
    const Grads g = dp.download();
    CHECK(all_poisoned(g.du));
    CHECK(all_poisoned(g.dk));
    CHECK(all_poisoned(g.d_in_gate));
    CHECK(all_poisoned(g.d_out_gate));
}

// Multi-pass work runs in chunks of items: max(budget, 8·N) bytes of Z per chunk
// (MultipassExecutor::chunking; the same chunks carry Z_dz, dk's partial sums and its sum).
// With the budget pinned to 31.25 MiB (ScopedTestChunkBudgets; 512 MiB by default):
//  * N = 128K, B = 3 (2 pairs of 1 MiB), H = 40: 15 channels fit, so chunks of
//    14, 14 and 12 whole channels;
//  * N = 1M, B = 7 (4 pairs × 8 MiB > budget): one channel at a time, its pairs
//    in two chunks of 2, dk's sum accumulated over them in order;
//  * N = 4M, B = 3 (2 pairs × 32 MiB): one pair per chunk.
// dk alone (both convolutions without their inverses and passes 3) gives
// the same bits as with every output wanted.
TEST_CASE("cuda backward, multi-pass: chunks of channels and of pairs", "[gpu][cuda_backward][mp_backward]") {
    const ScopedTestChunkBudgets budgets;  // 31.25 MiB of Z per chunk
    for (const Case &c : {Case{131072, 3, 40, 65536, 65536, FFC_DTYPE_FP16, true, kMultipassInner16K},
                          Case{1048576, 7, 2, 524288, 524288, FFC_DTYPE_BF16, true},
                          Case{4194304, 3, 1, 2097152, 2097152, FFC_DTYPE_FP16, false}}) {
        Rng rng;
        INFO(c.str() << " seed=" << rng.seed());
        const HostProblem hp(c, rng);
        DeviceProblem dp(hp);
        dp.ws->poison(FFC_DTYPE_FP32);  // nothing may be read from the workspace before it is written
        const Grads g = dp.run();
        const BackwardReference ref = reference_backward(hp.prob, hp.inputs(), hp.dy.data());
        check_grads(hp, g, ref, error_scales(hp.prob, hp.inputs(), hp.dy.data()), Wanted{});
        const Grads dk_only = dp.run(Wanted{false, true, false, false});
        CHECK(std::memcmp(dk_only.dk.data(), g.dk.data(), g.dk.size() * 4) == 0);
        CHECK(all_poisoned(dk_only.du));
    }
}

// dk's batch sum on chip (mode_rows_dk, src/cuda/launch.hpp): a slot walks the
// pairs of its pair group and adds conj(V)·DZ in order; the groups' partial sums
// are added afterwards (MultipassExecutor::dk_pair_groups). Every grouping, with
// the 31.25 MiB test chunks:
//  * N = 1M, B = 9: 5 pairs × 8 MiB in chunks of 3 and 2 pairs of one channel.
//    G = 1 sums straight into the channel's accumulator, carried over from the
//    first chunk to the second; G = 2 gives uneven groups (1 + 2 pairs, then
//    1 + 1); G = 5 (capped at each chunk's pairs) one pair per group;
//  * N = 128K, B = 9, H = 3, short K, ungated: whole channels per chunk.
// Each grouping within the tolerances, run-to-run bitwise identical, and the same
// dk when only dk is wanted.
TEST_CASE("cuda backward, multi-pass: dk pair groups", "[gpu][cuda_backward][mp_backward]") {
    for (long long groups : {1, 2, 5}) {
        const ScopedTestChunkBudgets budgets(groups);
        for (const Case &c : {Case{1048576, 9, 1, 1048576, 1048576, FFC_DTYPE_FP16, true},
                              Case{131072, 9, 3, 131072, 40000, FFC_DTYPE_BF16, false}}) {
            check_pair_groups(c, groups);
        }
    }
}

TEST_CASE("cuda backward, multi-pass: cuBLASLt outer passes and L2-sized chunks (forced candidates)",
          "[gpu][cuda_backward][mp_backward][mp_alternatives]") {
    check_case(Case{65536, 3, 2, 65536 / 2 - 7, 65536 / 3 + 1, FFC_DTYPE_FP16, true, kGemmM4});  // odd L, short K
    check_case(Case{131072, 3, 2, 131072, 131072, FFC_DTYPE_BF16, true, kGemmM32});
    check_case(Case{4194304, 1, 1, 4194304, 4194304, FFC_DTYPE_FP16, true, kGemmM512});  // M = 512
    check_case(Case{1048576, 9, 1, 524288, 524288, FFC_DTYPE_FP16, true, kL2Chunks4K});   // 5 pairs: chunks of pairs
    check_deterministic_and_capturable(Case{65536, 5, 3, 65536 - 5, 65536 / 4, FFC_DTYPE_BF16, true, kGemmM4});
}

#endif  // FFC_WITH_CUDA
