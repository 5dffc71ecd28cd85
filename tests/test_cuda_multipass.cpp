// CUDA backend, multi-pass forward (N above the fused limit, DESIGN §3): every N
// from 32768 to 4194304 against the fp64 oracle, the CPU backend at one size,
// chunked workloads (several chunks of channels, and of pairs within a channel),
// spectrum reuse, graph capture and in-place, and a backward on the same plan
// (the multi-pass backward suite is in test_cuda_backward.cpp, [mp_backward]).
// Tagged [gpu]: main.cpp skips the whole group (exit 77) without a CUDA device.
#include <catch2/catch.hpp>

#include "flashfftconv/flashfftconv.h"
#include "oracle.hpp"

#if FFC_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda_test_util.hpp"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace ffc_test;

namespace {






void check_case(const GpuCase &c, bool against_cpu = false) {
    Rng rng;
    INFO("N=" << c.n << " B=" << c.B << " H=" << c.H << " L=" << c.L << " K=" << c.K << " " << dtype_label(c.dtype)
              << (c.gated ? " gated" : "") << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    const std::vector<double> ref = reference_forward(hp.prob, hp.inputs(), Method::fft);
    const double tol = cuda_tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
    const HostTensor y = run_forward(c, hp, FFC_BACKEND_CUDA);
    const double err = rel_l2(y, ref);
    INFO("rel-L2 " << err << " tolerance " << tol);
    CHECK(err <= tol);
    if (against_cpu) {
        const HostTensor y_cpu = run_forward(c, hp, FFC_BACKEND_CPU);
        const double diff = rel_l2(y, as_double(y_cpu));
        INFO("rel-L2 difference to the CPU backend " << diff);
        CHECK(diff <= tol);
    }
}

}  // namespace

TEST_CASE("cuda multi-pass: plans above the fused limit are multi-pass and name the inner kernel",
          "[gpu][cuda_multipass]") {
    // 32K is fused with thread-block clusters on sm_90, and 64K on the H100 but
    // not the H200 (the cost model prefers them where they were measured faster),
    // and multi-pass elsewhere; 128K has a cluster variant too, but the model
    // prefers the multi-pass splits (measured faster since the twelfth session);
    // from 256K everything is multi-pass.
    int major = 0, device = 0;
    CUDA_REQUIRE(cudaGetDevice(&device));
    CUDA_REQUIRE(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    for (int64_t n = 32768; n <= 4194304; n *= 2) {
        INFO("N=" << n);
        Plan plan(uint64_t(n), FFC_DTYPE_FP16, FFC_BACKEND_CUDA);
        const std::string text = describe_plan(plan);
        INFO(text.substr(0, 400));
        const bool must_fuse = major >= 9 && n <= 32768, may_fuse = major >= 9 && n <= 131072;
        const size_t kernel_line = text.find("\n  kernel         fused_n");
        REQUIRE(kernel_line != std::string::npos);
        const std::string kernel = text.substr(kernel_line + 18, text.find('\n', kernel_line + 1) - kernel_line - 18);
        if (text.find("\n  path           fused (one kernel)") != std::string::npos) {
            CHECK(may_fuse);
            CHECK(kernel.find("_c") != std::string::npos);  // a thread-block cluster variant
        } else {
            CHECK_FALSE(must_fuse);
            CHECK(text.find("\n  path           multi-pass") != std::string::npos);
            CHECK(kernel.find("(inner, mode_rows)") != std::string::npos);
        }
    }
}

TEST_CASE("cuda multi-pass: every outer size M = 2 .. 256 (forced splits)", "[gpu][cuda_multipass]") {
    // The planner's picks cover only some M; force one split per M (and per inner variant found).
    // Odd L puts every other row off the two-element word grid (H = 3: the two
    // rows of a pair on opposite sides; B = 3: a pair without a second row);
    // N − 1: each row's last element alone in its word, N/2 + 5: rows n1 beyond
    // ceil(L / N_in) skipped.
    for (const ForcedSplit &sp : multipass_forced_splits())
        for (const int64_t L : {sp.n, sp.n / 2, sp.n - 1, sp.n / 2 + 5}) {
            const GpuCase c{sp.n, 3, L % 2 ? 3 : 2, L, L, FFC_DTYPE_FP16, true};
            const std::vector<uint32_t> force = sp.force();
            Rng rng;
            INFO("N=" << sp.n << " forced " << sp.label() << " H=" << c.H << " L=" << L << " seed=" << rng.seed());
            const HostProblem hp(c, rng);
            const std::vector<double> ref = reference_forward(hp.prob, hp.inputs(), Method::fft);
            const double tol = tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
            Plan plan(uint64_t(c.n), c.dtype, FFC_BACKEND_CUDA, force.data());
            const ffc_shape_t shape{c.B, c.H, c.L, c.K};
            size_t ws_size = 0;
            REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
            DeviceBuffer du(hp.u.bytes()), dk(hp.k.size() * 4), dig(hp.ig.bytes()), dog(hp.og.bytes()),
                dy(hp.u.bytes()), dws(ws_size);
            du.upload(hp.u.data());
            dk.upload(hp.k.data());
            dig.upload(hp.ig.data());
            dog.upload(hp.og.data());
            dy.poison(c.dtype);
            REQUIRE(ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), dig.ptr, dog.ptr, dy.ptr, dws.ptr, ws_size,
                                     nullptr) == FFC_SUCCESS);
            CUDA_REQUIRE(cudaDeviceSynchronize());
            HostTensor y(c.dtype, c.B * c.H * c.L);
            dy.download(y.data());
            const double err = rel_l2(y, ref);
            INFO("rel-L2 " << err << " tolerance " << tol);
            CHECK(err <= tol);
        }
}

TEST_CASE("cuda multi-pass: every N from 32K to 4M, fp16/bf16, L = N and N/2, gated and not",
          "[gpu][cuda_multipass]") {
    for (int64_t n = 32768; n <= 4194304; n *= 2)
        for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_BF16})
            for (bool gated : {true, false}) {
                const int64_t B = n >= 4194304 ? 1 : 3, H = n >= 4194304 ? 1 : 2;
                check_case(GpuCase{n, B, H, n, n, dt, gated});          // circular
                check_case(GpuCase{n, B, H, n / 2, n / 2, dt, gated});  // causal: upper rows skipped
            }
}

TEST_CASE("cuda multi-pass: odd L, short K, fp32 I/O and the CPU backend", "[gpu][cuda_multipass]") {
    check_case(GpuCase{65536, 3, 2, 65536, 65536, FFC_DTYPE_FP16, true, kMultipassInner16K}, true);
    check_case(GpuCase{65536, 3, 2, 65536 / 2 - 7, 65536 / 3 + 1, FFC_DTYPE_FP16, true, kMultipassInner16K});  // odd L: rows off the word grid
    check_case(GpuCase{65536, 3, 3, 65536 - 3, 65536, FFC_DTYPE_FP32, true, kMultipassInner16K});  // the same in fp32
    check_case(GpuCase{131072, 1, 3, 100001, 999, FFC_DTYPE_BF16, false, kMultipassInner16K});
    check_case(GpuCase{65536, 2, 2, 65536, 65536, FFC_DTYPE_FP32, true, kMultipassInner16K});
    check_case(GpuCase{262144, 3, 1, 131072, 131072, FFC_DTYPE_FP32, false});
}

TEST_CASE("cuda multi-pass: tensors off the two-element word grid", "[gpu][cuda_multipass]") {
    // A caller's slice may start on any element: then every row of that tensor
    // is off the word grid even at even L (the outer passes read the word ending
    // in each pair's first element, pass the second between lanes, and store
    // the straddling words). Offsets in
    // bytes of (u and the in_gate, y and the out_gate). Splits: 64K = 4 × 16K
    // (the outer DFT in registers), 128K = 64 × 2K and 1M = 256 × 4K (through
    // shared memory; at M = 256 a warp holds two rows' runs of 16 pairs).
    const size_t offsets[][2] = {{2, 2}, {0, 2}, {2, 4}};
    const struct {
        int64_t n;
        const char *kernel;
    } plans[] = {{65536, kMultipassInner16K}, {131072, "fused_n2048_8x16x16"}, {1048576, "fused_n4096_16cx16x16"}};
    for (const auto &pl : plans)
        for (const auto &off : offsets)
            for (const int64_t L : {pl.n, pl.n - 3}) {
                const GpuCase c{pl.n, 3, pl.n > 131072 ? 1 : 2, L, pl.n, FFC_DTYPE_BF16, true};
                Rng rng;
                INFO(c.str() << " offsets " << off[0] << ", " << off[1] << " seed=" << rng.seed());
                const HostProblem hp(c, rng);
                const std::vector<double> ref = reference_forward(hp.prob, hp.inputs(), Method::fft);
                const double tol = cuda_tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
                Plan plan(uint64_t(c.n), c.dtype, FFC_BACKEND_CUDA, nullptr, pl.kernel);
                const std::string text = describe_plan(plan);
                INFO(text.substr(0, 400));
                REQUIRE(text.find("\n  path           multi-pass") != std::string::npos);
                const OffsetForward r = run_forward_at_offsets(plan, c, hp, off[0], off[1]);
                const double err = rel_l2(r.y, ref);
                INFO("rel-L2 " << err << " tolerance " << tol);
                CHECK(err <= tol);
                CHECK(all_poisoned(r.head));  // nothing written before the tensor
                CHECK(all_poisoned(r.tail));  // nor after it
            }
}

TEST_CASE("cuda multi-pass: workloads split into several chunks", "[gpu][cuda_multipass]") {
    const ScopedTestChunkBudgets budgets;  // 31.25 MiB of Z per chunk (see test_cuda_backward.cpp)
    // 40 channels × 1 pair × 1 MiB of Z: more than one chunk's budget, whole channels per chunk.
    check_case(GpuCase{131072, 2, 40, 131072, 131072, FFC_DTYPE_FP16, true, kMultipassInner16K});
    // One channel's pairs exceed the budget (4 pairs × 8 MiB): chunks of pairs, odd B.
    check_case(GpuCase{1048576, 7, 2, 524288, 524288, FFC_DTYPE_BF16, true});
    // One pair is bigger than the L2 budget at 4M: one pair per chunk, 2 pairs.
    check_case(GpuCase{4194304, 3, 1, 2097152, 2097152, FFC_DTYPE_FP16, false});
}

namespace {

// On a non-blocking stream; captured into a graph (same bits); the spectrum API
// and a forward reusing its spectrum (same bits); in place (same bits); then a
// backward on the same plan, stream and workspace.
void check_stream_graph_spectrum_backward(const GpuCase &c) {
    Rng rng;
    INFO(c.str() << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    const std::vector<double> ref = reference_forward(hp.prob, hp.inputs(), Method::fft);
    const double tol = tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
    Plan plan(uint64_t(c.n), c.dtype, FFC_BACKEND_CUDA, nullptr, c.kernel);
    REQUIRE(describe_plan(plan).find("\n  path           multi-pass") != std::string::npos);
    const ffc_shape_t shape{c.B, c.H, c.L, c.K};
    size_t ws_size = 0;
    REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
    DeviceBuffer du(hp.u.bytes()), dk(hp.k.size() * 4), dig(hp.ig.bytes()), dog(hp.og.bytes()), dy(hp.u.bytes()),
        dws(ws_size);
    du.upload(hp.u.data());
    dk.upload(hp.k.data());
    dig.upload(hp.ig.data());
    dog.upload(hp.og.data());
    cudaStream_t stream;
    CUDA_REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const auto s = reinterpret_cast<ffc_stream_t>(stream);
    auto forward = [&](void *y) {
        return ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), dig.ptr, dog.ptr, y, dws.ptr, ws_size, s);
    };
    const int64_t count = c.B * c.H * c.L;

    dy.poison(c.dtype);
    REQUIRE(forward(dy.ptr) == FFC_SUCCESS);
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    HostTensor y_stream(c.dtype, count);
    dy.download(y_stream.data());
    CHECK(rel_l2(y_stream, ref) <= tol);

    // Graph capture: the multi-pass forward neither allocates nor synchronises.
    dy.poison(c.dtype);
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const ffc_status_t captured = forward(dy.ptr);
    CUDA_REQUIRE(cudaStreamEndCapture(stream, &graph));
    REQUIRE(captured == FFC_SUCCESS);
    CUDA_REQUIRE(cudaGraphInstantiate(&exec, graph, 0));
    CUDA_REQUIRE(cudaGraphLaunch(exec, stream));
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    HostTensor y_graph(c.dtype, count);
    dy.download(y_graph.data());
    CHECK(y_graph.bitwise_equal(y_stream));
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);

    // Precomputed spectrum (the multi-pass layout, same size): bitwise the same.
    size_t spec_size = 0;
    REQUIRE(ffc_kernel_spectrum_get_size(plan.p, &shape, &spec_size) == FFC_SUCCESS);
    DeviceBuffer spec(spec_size);
    REQUIRE(ffc_kernel_spectrum_compute(plan.p, &shape, dk.get<float>(), spec.ptr, spec_size, s) == FFC_SUCCESS);
    dy.poison(c.dtype);
    REQUIRE(ffc_conv_forward_spectrum(plan.p, &shape, du.ptr, spec.ptr, spec_size, dig.ptr, dog.ptr, dy.ptr, dws.ptr,
                                      ws_size, s) == FFC_SUCCESS);
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    HostTensor y_spec(c.dtype, count);
    dy.download(y_spec.data());
    CHECK(y_spec.bitwise_equal(y_stream));

    // In place: y is u.
    REQUIRE(forward(du.ptr) == FFC_SUCCESS);
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    HostTensor y_inplace(c.dtype, count);
    du.download(y_inplace.data());
    CHECK(y_inplace.bitwise_equal(y_stream));

    // Backward on the same plan, stream and workspace (the backward suite is in
    // test_cuda_backward.cpp): du and dk within the precision rule.
    du.upload(hp.u.data());
    DeviceBuffer grad_y(hp.dy.bytes()), grad_u(hp.u.bytes()), grad_k(hp.k.size() * 4);
    grad_y.upload(hp.dy.data());
    grad_u.poison(c.dtype);
    grad_k.poison(FFC_DTYPE_FP32);
    const ffc_status_t bst = ffc_conv_backward(plan.p, &shape, grad_y.ptr, du.ptr, dk.get<float>(), dig.ptr, dog.ptr,
                                               grad_u.ptr, grad_k.get<float>(), nullptr, nullptr, dws.ptr, ws_size, s);
    char msg[512];
    ffc_last_error_message(msg, sizeof msg);
    INFO("ffc_conv_backward: " << msg);
    REQUIRE(bst == FFC_SUCCESS);
    CUDA_REQUIRE(cudaStreamSynchronize(stream));
    BackwardRequest want;
    want.d_in_gate = want.d_out_gate = false;
    const BackwardReference bref = reference_backward(hp.prob, hp.inputs(), hp.dy.data(), want);
    const ErrorScales sc = error_scales(hp.prob, hp.inputs(), hp.dy.data());
    HostTensor gu(c.dtype, count);
    std::vector<float> gk(hp.k.size());
    grad_u.download(gu.data());
    grad_k.download(gk.data());
    CHECK(rel_l2(gu, bref.du) <= cuda_tolerance(bref.du, c.dtype, c.n, sc.du));
    CHECK(rel_l2(gk, bref.dk) <= cuda_dk_tolerance(bref.dk, c.n, sc.dk));
    CUDA_REQUIRE(cudaStreamDestroy(stream));
}

}  // namespace

TEST_CASE("cuda multi-pass: stream, graph capture, spectrum reuse, in place, then backward",
          "[gpu][cuda_multipass][sanitize]") {
    check_stream_graph_spectrum_backward(GpuCase{65536, 3, 2, 65536 / 2, 65536 / 2, FFC_DTYPE_FP16, true, kMultipassInner16K});
    // Odd L (rows off the two-element word grid; H = 3: a pair's rows on both sides).
    check_stream_graph_spectrum_backward(GpuCase{65536, 3, 3, 65536 - 3, 65536 / 2, FFC_DTYPE_BF16, true, kMultipassInner16K});
    // The cuBLASLt outer passes: no workspace inside the GEMMs, so capturable; the
    // spectrum API allocates its scratch stream-ordered.
    check_stream_graph_spectrum_backward(GpuCase{65536, 3, 2, 65536 / 2, 65536 / 2, FFC_DTYPE_FP16, true, kGemmM4});
}

TEST_CASE("cuda multi-pass: cuBLASLt outer passes and L2-sized chunks (forced candidates)",
          "[gpu][cuda_multipass][mp_alternatives]") {
    // cuBLASLt GEMM outer passes: M = 4, 32, 256, 512 (beyond the direct kernels) and 1024.
    check_case(GpuCase{65536, 3, 2, 65536, 65536, FFC_DTYPE_FP16, true, kGemmM4}, true);
    check_case(GpuCase{65536, 3, 2, 65536 / 2 - 7, 65536 / 3 + 1, FFC_DTYPE_BF16, true, kGemmM4});  // odd L, short K
    check_case(GpuCase{131072, 3, 2, 131072, 131072, FFC_DTYPE_BF16, true, kGemmM32});
    check_case(GpuCase{131072, 2, 3, 65536, 65536, FFC_DTYPE_FP16, false, kGemmM32});
    check_case(GpuCase{131072, 2, 2, 131072, 131072, FFC_DTYPE_FP32, true, kGemmM32});
    check_case(GpuCase{1048576, 2, 1, 1048576, 1048576, FFC_DTYPE_FP16, true, kGemmM32});  // M = 256
    check_case(GpuCase{4194304, 1, 1, 4194304, 4194304, FFC_DTYPE_FP16, true, kGemmM512});
    check_case(GpuCase{4194304, 1, 1, 2097152, 2097152, FFC_DTYPE_BF16, false, kGemmM512});
    check_case(GpuCase{4194304, 1, 1, 4194304, 4194304, FFC_DTYPE_BF16, true, kGemmM32});  // M = 1024
    // L2-sized chunks (5/8 of the device's L2): several chunks of channels, then of pairs.
    check_case(GpuCase{131072, 2, 40, 131072, 131072, FFC_DTYPE_FP16, true, kL2Chunks4K});
    check_case(GpuCase{1048576, 7, 2, 524288, 524288, FFC_DTYPE_BF16, true, kL2Chunks4K});
}

#endif  // FFC_WITH_CUDA
