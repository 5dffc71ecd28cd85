// CUDA backend, forward path: every fused size against the fp64 oracle and the
// CPU backend, plus the runtime contract (streams, graph capture, in-place,
// spectrum reuse, pointer checks, 64-bit indexing). Tagged [gpu]: main.cpp skips
// the whole group (exit 77) on a machine without a CUDA device.
#include <catch2/catch.hpp>

#include "flashfftconv/flashfftconv.h"
#include "oracle.hpp"

#if FFC_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda_test_util.hpp"
#include "common/executor.hpp"
#include "cuda/cuda_host.hpp"
#include "plan/kernel_variant.hpp"
#include "plan/planner.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace ffc_test;

namespace {

using Case = GpuCase;

// One row of ffc_plan_describe's candidate table:
//   "  4 x 16 x 16 x 16       fused_n16384_4x16cx16x16_c2   68128  ...  2292.8  ok"
struct CandidateRow {
    std::string factors;  // "4 x 16 x 16 x 16"
    std::string kernel;   // the "kernel" column: what force_kernel takes
    bool feasible = false;
    bool multipass = false;  // the kernel is the inner kernel of a multi-pass split
};

std::vector<CandidateRow> candidate_rows(const std::string &text) {
    std::vector<CandidateRow> rows;
    const size_t table = text.find("\ncandidates (");
    REQUIRE(table != std::string::npos);
    size_t pos = text.find('\n', table + 1);  // end of the "candidates (...)" line
    std::string path_line;
    while (pos != std::string::npos && pos + 1 < text.size()) {
        const size_t end = text.find('\n', pos + 1);
        const std::string line = text.substr(pos + 1, (end == std::string::npos ? text.size() : end) - pos - 1);
        pos = end;
        std::istringstream in(line);
        std::string tok;
        CandidateRow r;
        while (in >> tok && (tok == "x" || std::all_of(tok.begin(), tok.end(), [](unsigned char ch) { return std::isdigit(ch); })))
            r.factors += (r.factors.empty() ? "" : " ") + tok;
        if (r.factors.empty()) continue;  // the column header ("factors  kernel ...")
        r.kernel = tok;
        r.feasible = line.find("  infeasible: ") == std::string::npos;
        // Multi-pass rows use an inner kernel of a smaller size than N: "fused_n<N_in>_...".
        uint64_t product = 1;
        std::istringstream f(r.factors);
        for (std::string t; f >> t;)
            if (t != "x") product *= std::stoull(t);
        r.multipass = r.kernel.rfind("fused_n" + std::to_string(product) + "_", 0) != 0;
        rows.push_back(r);
    }
    return rows;
}




void check_case(const Case &c) {
    Rng rng;
    INFO("N=" << c.n << " B=" << c.B << " H=" << c.H << " L=" << c.L << " K=" << c.K << " " << dtype_label(c.dtype)
              << (c.gated ? " gated" : "") << " seed=" << rng.seed());
    const HostProblem hp(c, rng);
    const std::vector<double> ref = reference_forward(hp.prob, hp.inputs());
    const double tol = cuda_tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
    const HostTensor y = run_forward(c, hp, FFC_BACKEND_CUDA);
    const double err = rel_l2(y, ref);
    INFO("rel-L2 " << err << " tolerance " << tol);
    CHECK(err <= tol);
    // Against the CPU backend: both are within the rounding rule of the oracle.
    const HostTensor y_cpu = run_forward(c, hp, FFC_BACKEND_CPU);
    const double diff = rel_l2(y, as_double(y_cpu));
    INFO("rel-L2 difference to the CPU backend " << diff);
    CHECK(diff <= tol);
}

}  // namespace

// Rows that start off the 16-byte grid (L % 8 ≠ 0 in 16-bit I/O, L % 4 ≠ 0 in
// fp32) take narrower accesses, except at odd L where H·L is a multiple of 8:
// shifted 16-byte blocks (H = 8, 16 below; fused_conv.cuh). At L = N − 1 the
// first block of each row also holds its last positions (wrapped), read an
// element at a time; L = 5 puts several rows in one block.
TEST_CASE("cuda forward: every fused size (32K: clusters, sm_90), fp16/bf16/fp32, gated and ungated, L = N, N/2, odd, N - 4",
          "[gpu][cuda_forward]") {
    for (int64_t n = 256; n <= 32768; n *= 2)
        for (ffc_dtype_t dt : {FFC_DTYPE_FP16, FFC_DTYPE_BF16, FFC_DTYPE_FP32})
            for (bool gated : {true, false}) {
                check_case(Case{n, 3, 2, n, n, dt, gated});          // circular, odd B
                check_case(Case{n, 4, 3, n / 2, n / 2, dt, gated});  // causal, zero padding skipped
                check_case(Case{n, 1, 2, n / 2 - 7, n / 3 + 1, dt, gated});  // odd L, K < N, B = 1
                check_case(Case{n, 2, 3, n - 4, n, dt, gated});  // rows 8-byte aligned in 16-bit I/O
                check_case(Case{n, 3, 8, n - 1, n / 2 + 1, dt, gated});  // shifted blocks, wrapped positions
                check_case(Case{n, 1, 16, n / 2 - 3, n / 2 - 3, dt, gated});  // shifted, no second row in the pair
                check_case(Case{n, 3, 8, 5, 5, dt, gated});                  // shifted, rows shorter than a block
            }
}

TEST_CASE("cuda forward: every compiled candidate computes the same convolution", "[gpu][cuda_forward]") {
    for (int64_t n = 256; n <= 32768; n *= 2) {
        // The candidates are the rows of ffc_plan_describe's table; force each by
        // its kernel name, which (unlike its factors) identifies exactly one.
        Plan auto_plan(uint64_t(n), FFC_DTYPE_FP16, FFC_BACKEND_CUDA);
        const std::vector<CandidateRow> rows = candidate_rows(describe_plan(auto_plan));
        INFO("N=" << n);
        REQUIRE(rows.size() >= 2);
        // Every compiled variant of size N is a row (feasible or not), and no name repeats.
        for (const ffc::plan::KernelVariant &v : ffc::plan::kernel_table()) {
            if (v.fft_size != uint64_t(n)) continue;
            INFO(v.name);
            CHECK(std::count_if(rows.begin(), rows.end(), [&](const CandidateRow &r) { return r.kernel == v.name; }) == 1);
        }
        int ran = 0;
        for (const CandidateRow &row : rows) {
            INFO(row.factors << " " << row.kernel);
            CHECK(std::count_if(rows.begin(), rows.end(), [&](const CandidateRow &r) { return r.kernel == row.kernel; }) == 1);
            if (!row.feasible) {
                // What the device cannot run is refused by name, with the reason.
                ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
                d.fft_size = uint64_t(n);
                d.backend = FFC_BACKEND_CUDA;
                d.force_kernel = row.kernel.c_str();
                ffc_plan_t p = nullptr;
                CHECK(ffc_plan_create(&p, &d) == FFC_ERROR_NO_KERNEL);
                CHECK(p == nullptr);
                char msg[512];
                ffc_last_error_message(msg, sizeof msg);
                CHECK_THAT(std::string(msg), Catch::Contains("cannot run"));
                continue;
            }
            {
                // The plan runs that very kernel.
                Plan forced(uint64_t(n), FFC_DTYPE_FP16, FFC_BACKEND_CUDA, nullptr, row.kernel.c_str());
                ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
                REQUIRE(ffc_plan_get_info(forced.p, &info) == FFC_SUCCESS);
                CHECK(std::string(info.kernel_name) == row.kernel);
                CHECK(bool(info.fused) == !row.multipass);
            }
            const Case c{n, 5, 2, n / 2 + 3, n / 2, FFC_DTYPE_FP16, true};
            Rng rng;
            INFO("seed=" << rng.seed());
            const HostProblem hp(c, rng);
            const std::vector<double> ref = reference_forward(hp.prob, hp.inputs());
            const HostTensor y = run_forward(c, hp, FFC_BACKEND_CUDA, nullptr, row.kernel.c_str());
            CHECK(rel_l2(y, ref) <= tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y));
            ++ran;
        }
        CHECK(ran >= 2);
    }
}

// Every registered variant, one by one, through the executor (below the C API;
// the test above reaches the same variants through force_kernel). fp16 and bf16,
// gated, L = N/2 (zero padding), a short even L and an odd L, odd B.
TEST_CASE("cuda forward: every registered kernel variant, run directly", "[gpu][cuda_forward][variants]") {
    const int device = ffc::cuda::current_device();
    const ffc::plan::DeviceCaps caps = ffc::cuda::query_device_caps(device);
    int tested = 0;
    for (const ffc::plan::KernelVariant &v : ffc::plan::kernel_table()) {
        if (!v.can_implement(v.fft_size, caps)) {
            WARN(v.name << " cannot run on this device: skipped");
            continue;
        }
        const int64_t n = int64_t(v.fft_size);
        for (const ffc_dtype_t dtype : {FFC_DTYPE_FP16, FFC_DTYPE_BF16}) {
            // H = 2: L = N/2: zero padding skipped; n/4 + 2: an even L that cuts
            // columns (stage 0's direct I/O in the cluster variants) and rows
            // aligned to 4 bytes; n − 4: to 8 bytes; n − 7: odd, one element per
            // access. H = 8, odd L: shifted 16-byte blocks, at n − 1 with wrapped
            // positions (in a cluster, in every CTA's first block).
            for (const auto &[H, L] : {std::pair<int64_t, int64_t>{2, n / 2}, {2, n / 4 + 2}, {2, n - 4}, {2, n - 7},
                                      {8, n - 1}, {8, n / 2 + 5}}) {
                const Case c{n, 3, H, L, n / 2 - 1, dtype, true};
                Rng rng;
                INFO(v.name << " " << c.str() << " seed=" << rng.seed());
                const HostProblem hp(c, rng);
                const std::vector<double> ref = reference_forward(hp.prob, hp.inputs());

                ffc::plan::Decision d = ffc::plan::make_plan(v.fft_size, ffc::DType(dtype), ffc::Backend::cuda, caps);
                const auto it = std::find_if(d.candidates.begin(), d.candidates.end(),
                                             [&](const ffc::plan::Candidate &x) {
                                                 return x.path == ffc::plan::Path::fused && x.kernel == &v;
                                             });
                REQUIRE(it != d.candidates.end());
                d.chosen = *it;
                const std::unique_ptr<ffc::Executor> ex = ffc::make_cuda_executor(d, device);
                ffc::Shape shape;
                shape.batch = c.B;
                shape.channels = c.H;
                shape.seq_len = c.L;
                shape.kernel_len = c.K;
                DeviceBuffer du(hp.u.bytes()), dk(hp.k.size() * 4), dig(hp.ig.bytes()), dog(hp.og.bytes()),
                    dy(hp.u.bytes()), dws(ex->workspace_size(shape));
                du.upload(hp.u.data());
                dk.upload(hp.k.data());
                dig.upload(hp.ig.data());
                dog.upload(hp.og.data());
                dy.poison(c.dtype);
                dws.poison(FFC_DTYPE_FP32);
                ffc::ForwardArgs a;
                a.shape = shape;
                a.u = du.ptr;
                a.k = dk.get<float>();
                a.in_gate = dig.ptr;
                a.out_gate = dog.ptr;
                a.y = dy.ptr;
                a.workspace = dws.ptr;
                a.workspace_size = dws.bytes;
                ex->forward(a);
                CUDA_REQUIRE(cudaDeviceSynchronize());
                HostTensor y(c.dtype, c.B * c.H * c.L);
                dy.download(y.data());
                CHECK(rel_l2(y, ref) <= tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y));
            }
        }
        ++tested;
    }
    CHECK(tested >= 2 * 7);  // two variants per fused N from 256 to 16K on any sm_80+ device
}

TEST_CASE("cuda forward: stream, graph capture, in place and spectrum reuse", "[gpu][cuda_forward][sanitize]") {
    // On sm_90, 32K and 64K (even L) run the cluster kernels' direct I/O at stage
    // 0 (two columns per thread, one at radix 16; at L = N without predicates
    // where both rows of a pair are there), the others the load and store
    // passes: H = 3 with element accesses, H = 8 with shifted 16-byte blocks.
    for (auto [n, H, L] : {std::tuple<int64_t, int64_t, int64_t>{256, 3, 251}, {256, 8, 255}, {4096, 3, 4091},
                           {4096, 8, 4095}, {16384, 8, 16383}, {32768, 3, 32764}, {32768, 3, 32768},
                           {65536, 3, 65532}}) {
        const Case c{n, 3, H, L, n / 4, FFC_DTYPE_BF16, true};
        Rng rng;
        INFO(c.str() << " seed=" << rng.seed());
        const HostProblem hp(c, rng);
        const std::vector<double> ref = reference_forward(hp.prob, hp.inputs());
        const double tol = tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
        Plan plan(uint64_t(n), c.dtype, FFC_BACKEND_CUDA);
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
        auto forward = [&](void *y) {
            return ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), dig.ptr, dog.ptr, y, dws.ptr, ws_size,
                                    reinterpret_cast<ffc_stream_t>(stream));
        };

        // 1. On a non-blocking user stream, synchronising only that stream.
        dy.poison(c.dtype);
        REQUIRE(forward(dy.ptr) == FFC_SUCCESS);
        CUDA_REQUIRE(cudaStreamSynchronize(stream));
        HostTensor y_stream(c.dtype, c.B * c.H * c.L);
        dy.download(y_stream.data());
        CHECK(rel_l2(y_stream, ref) <= tol);

        // 2. Captured into a CUDA graph and replayed: bitwise the same.
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
        HostTensor y_graph(c.dtype, c.B * c.H * c.L);
        dy.download(y_graph.data());
        CHECK(y_graph.bitwise_equal(y_stream));
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);

        // 3. Precomputed spectrum: bitwise the same as computing it in the call.
        size_t spec_size = 0;
        REQUIRE(ffc_kernel_spectrum_get_size(plan.p, &shape, &spec_size) == FFC_SUCCESS);
        DeviceBuffer spec(spec_size);
        REQUIRE(ffc_kernel_spectrum_compute(plan.p, &shape, dk.get<float>(), spec.ptr, spec_size,
                                            reinterpret_cast<ffc_stream_t>(stream)) == FFC_SUCCESS);
        dy.poison(c.dtype);
        REQUIRE(ffc_conv_forward_spectrum(plan.p, &shape, du.ptr, spec.ptr, spec_size, dig.ptr, dog.ptr, dy.ptr,
                                          dws.ptr, ws_size, reinterpret_cast<ffc_stream_t>(stream)) == FFC_SUCCESS);
        CUDA_REQUIRE(cudaStreamSynchronize(stream));
        HostTensor y_spec(c.dtype, c.B * c.H * c.L);
        dy.download(y_spec.data());
        CHECK(y_spec.bitwise_equal(y_stream));

        // 4. In place: y is u.
        REQUIRE(forward(du.ptr) == FFC_SUCCESS);
        CUDA_REQUIRE(cudaStreamSynchronize(stream));
        HostTensor y_inplace(c.dtype, c.B * c.H * c.L);
        du.download(y_inplace.data());
        CHECK(y_inplace.bitwise_equal(y_stream));
        CUDA_REQUIRE(cudaStreamDestroy(stream));
    }
}

TEST_CASE("cuda forward: the spectrum in the transform kernel or the convolution's gives the same bits",
          "[gpu][cuda_forward]") {
    // At 256 and 512 the executor computes k's spectrum in the narrow transform
    // kernel (fused::TransformGeometry) except before a forward whose
    // convolution fits one wave but not beside it (CudaExecutor::narrow_spectrum):
    // on a 132-SM H100, 512 with B = 8, H = 768. ffc_kernel_spectrum_compute
    // always uses the narrow one, so a forward with k against one with that
    // spectrum compares the two kernels wherever the forward picks the other.
    for (auto [n, B, H] : {std::tuple<int64_t, int64_t, int64_t>{256, 8, 768}, {256, 3, 5}, {512, 8, 768},
                           {512, 16, 768}, {512, 3, 5}}) {
        const Case c{n, B, H, n, n, FFC_DTYPE_FP16, true};
        Rng rng;
        INFO(c.str() << " seed=" << rng.seed());
        const HostProblem hp(c, rng);
        const HostTensor y_k = run_forward(c, hp, FFC_BACKEND_CUDA);
        Plan plan(uint64_t(n), c.dtype, FFC_BACKEND_CUDA);
        const ffc_shape_t shape{c.B, c.H, c.L, c.K};
        size_t ws_size = 0, spec_size = 0;
        REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
        REQUIRE(ffc_kernel_spectrum_get_size(plan.p, &shape, &spec_size) == FFC_SUCCESS);
        DeviceBuffer du(hp.u.bytes()), dk(hp.k.size() * 4), dig(hp.ig.bytes()), dog(hp.og.bytes()), dy(hp.u.bytes()),
            dws(ws_size), spec(spec_size);
        du.upload(hp.u.data());
        dk.upload(hp.k.data());
        dig.upload(hp.ig.data());
        dog.upload(hp.og.data());
        REQUIRE(ffc_kernel_spectrum_compute(plan.p, &shape, dk.get<float>(), spec.ptr, spec_size, nullptr) ==
                FFC_SUCCESS);
        dy.poison(c.dtype);
        REQUIRE(ffc_conv_forward_spectrum(plan.p, &shape, du.ptr, spec.ptr, spec_size, dig.ptr, dog.ptr, dy.ptr,
                                          dws.ptr, ws_size, nullptr) == FFC_SUCCESS);
        CUDA_REQUIRE(cudaDeviceSynchronize());
        HostTensor y_spec(c.dtype, c.B * c.H * c.L);
        dy.download(y_spec.data());
        CHECK(y_spec.bitwise_equal(y_k));
    }
}

TEST_CASE("cuda forward: pointer checks reject host memory and write nothing", "[gpu][cuda_forward]") {
    const int64_t n = 1024;
    Plan plan(uint64_t(n), FFC_DTYPE_FP16, FFC_BACKEND_CUDA);
    const ffc_shape_t shape{2, 2, n, n};
    size_t ws_size = 0;
    REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
    DeviceBuffer du(2 * 2 * n * 2), dk(2 * n * 4), dy(2 * 2 * n * 2), dws(ws_size);
    dy.poison(FFC_DTYPE_FP16);
    std::vector<uint16_t> host_u(size_t(2 * 2 * n), 0x3c00);
    CHECK(ffc_conv_forward(plan.p, &shape, host_u.data(), dk.get<float>(), nullptr, nullptr, dy.ptr, dws.ptr, ws_size,
                           nullptr) == FFC_ERROR_INVALID_POINTER);
    char msg[256];
    ffc_last_error_message(msg, sizeof msg);
    CHECK(std::string(msg).find("u ") != std::string::npos);
    CHECK(ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), nullptr, nullptr, dy.ptr, dws.ptr, ws_size - 1,
                           nullptr) == FFC_ERROR_WORKSPACE_TOO_SMALL);
    HostTensor y(FFC_DTYPE_FP16, 2 * 2 * n);
    dy.download(y.data());
    CHECK(all_poisoned(y));
    // Backward validates the same way: a short workspace is refused and nothing is written.
    DeviceBuffer ddu(2 * 2 * n * 2);
    ddu.poison(FFC_DTYPE_FP16);
    CHECK(ffc_conv_backward(plan.p, &shape, dy.ptr, du.ptr, dk.get<float>(), nullptr, nullptr, ddu.ptr, nullptr, nullptr,
                            nullptr, dws.ptr, ws_size - 1, nullptr) == FFC_ERROR_WORKSPACE_TOO_SMALL);
    HostTensor g(FFC_DTYPE_FP16, 2 * 2 * n);
    ddu.download(g.data());
    CHECK(all_poisoned(g));
}

TEST_CASE("cuda forward: tensors at 2-, 4-, 8- and 16-byte offsets (narrower accesses)", "[gpu][cuda_forward]") {
    // A caller's slice may start anywhere: the element-wise passes take the
    // widest access that every row allows, inputs and outputs each, and the
    // cluster kernels' direct I/O needs 4-byte aligned rows. 1K: a one-CTA
    // kernel; 32K and 64K: cluster kernels (sm_90 plans them). Offsets in bytes
    // of (u and the in_gate, y and the out_gate): 2-byte accesses both ways;
    // 4-byte in, 8-byte out; 16-byte in, 4-byte out.
    const size_t offsets[][2] = {{2, 2}, {4, 8}, {16, 4}};
    for (const int64_t n : {1024, 32768, 65536})
        for (const auto &off : offsets) {
            const Case c{n, 3, 2, n, n, FFC_DTYPE_FP16, true};
            Rng rng;
            INFO("N=" << n << " offsets " << off[0] << ", " << off[1] << " seed=" << rng.seed());
            const HostProblem hp(c, rng);
            const std::vector<double> ref = reference_forward(hp.prob, hp.inputs());
            const double tol = cuda_tolerance(ref, c.dtype, c.n, error_scales(hp.prob, hp.inputs()).y);
            Plan plan(uint64_t(n), c.dtype, FFC_BACKEND_CUDA);
            INFO(describe_plan(plan).substr(0, 400));
            const OffsetForward r = run_forward_at_offsets(plan, c, hp, off[0], off[1]);
            CHECK(rel_l2(r.y, ref) <= tol);
            CHECK(all_poisoned(r.head));  // nothing written before the tensor
            CHECK(all_poisoned(r.tail));  // nor after it
        }
}

TEST_CASE("cuda forward: more than 2^31 elements (64-bit indexing)", "[gpu][cuda_forward][large]") {
    // B·H·L = 2 · 4194305 · 256 > 2^31; checked on the last channels, whose
    // offsets overflow 32 bits.
    const int64_t n = 256, B = 2, H = 4194305, L = 256, K = 256;
    const ffc_dtype_t dt = FFC_DTYPE_FP16;
    const size_t elems = size_t(B) * H * L;
    size_t free_bytes = 0, total = 0;
    CUDA_REQUIRE(cudaMemGetInfo(&free_bytes, &total));
    if (free_bytes < elems * 2 * 2 + size_t(H) * K * 4 + size_t(H) * n * 8 + (size_t(1) << 30)) {
        WARN("not enough device memory for the 2^31-element test; skipped");
        return;
    }
    Plan plan(uint64_t(n), dt, FFC_BACKEND_CUDA);
    const ffc_shape_t shape{B, H, L, K};
    size_t ws_size = 0;
    REQUIRE(ffc_plan_get_workspace_size(plan.p, &shape, &ws_size) == FFC_SUCCESS);
    DeviceBuffer du(elems * 2), dy(elems * 2), dk(size_t(H) * K * 4), dws(ws_size);
    // Fill with a pattern generated on the host for the checked channels only:
    // everything else is a constant so the problem stays cheap to verify.
    CUDA_REQUIRE(cudaMemset(du.ptr, 0, elems * 2));
    CUDA_REQUIRE(cudaMemset(dk.ptr, 0, size_t(H) * K * 4));
    CUDA_REQUIRE(cudaMemset(dy.ptr, 0xff, elems * 2));  // NaN
    Rng rng;
    INFO("seed=" << rng.seed());
    const int64_t checked[] = {0, H - 2, H - 1};
    std::vector<HostTensor> rows_u;
    std::vector<std::vector<float>> rows_k;
    for (int64_t h : checked) {
        HostTensor u(dt, B * L);
        fill_normal(u, rng);
        std::vector<float> k(K);
        fill_normal(k, rng, 1.0 / 16);
        for (int64_t b = 0; b < B; ++b)
            CUDA_REQUIRE(cudaMemcpy(static_cast<uint16_t *>(du.ptr) + (b * H + h) * L,
                                    static_cast<const uint16_t *>(u.data()) + b * L, L * 2, cudaMemcpyHostToDevice));
        CUDA_REQUIRE(cudaMemcpy(dk.get<float>() + h * K, k.data(), K * 4, cudaMemcpyHostToDevice));
        rows_u.push_back(std::move(u));
        rows_k.push_back(std::move(k));
    }
    REQUIRE(ffc_conv_forward(plan.p, &shape, du.ptr, dk.get<float>(), nullptr, nullptr, dy.ptr, dws.ptr, ws_size,
                             nullptr) == FFC_SUCCESS);
    CUDA_REQUIRE(cudaDeviceSynchronize());
    for (size_t i = 0; i < 3; ++i) {
        const int64_t h = checked[i];
        ConvProblem p;
        p.batch = B;
        p.channels = 1;
        p.seq_len = L;
        p.kernel_len = K;
        p.fft_size = n;
        p.dtype = dt;
        const ConvInputs in{rows_u[i].data(), rows_k[i].data(), nullptr, nullptr};
        const std::vector<double> ref = reference_forward(p, in);
        HostTensor y(dt, B * L);
        for (int64_t b = 0; b < B; ++b)
            CUDA_REQUIRE(cudaMemcpy(static_cast<uint16_t *>(y.data()) + b * L,
                                    static_cast<const uint16_t *>(dy.ptr) + (b * H + h) * L, L * 2, cudaMemcpyDeviceToHost));
        INFO("channel " << h);
        CHECK(rel_l2(y, ref) <= tolerance(ref, dt, n, error_scales(p, in).y));
    }
}

#endif  // FFC_WITH_CUDA
