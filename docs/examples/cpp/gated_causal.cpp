// A gated causal convolution with the header-only C++ wrapper on the CPU
// backend, plus its backward pass, checked against a direct convolution.
//
//     y = out_gate * causal_conv(in_gate * u, k),   FFT size N = 2048 >= L + K - 1
#include <cmath>
#include <cstdio>
#include <vector>

#include "flashfftconv/flashfftconv.hpp"

namespace ffc = flashfftconv;

int main() {
    constexpr int B = 2, H = 4, L = 1000;
    try {
        std::printf("libflashfftconv %s: %s\n", ffc::version_string().c_str(), ffc::build_info().c_str());

        // The plan owns its handle; it is destroyed when `plan` goes out of scope.
        const ffc::Plan plan(ffc::PlanDesc().fft_size(2048).dtype(ffc::DType::fp32).backend(ffc::Backend::cpu));
        const ffc::PlanInfo info = plan.info();
        std::printf("plan: N = %llu, %zu factors, kernel %s\n", (unsigned long long)info.fft_size,
                    info.factors.size(), info.kernel_name.c_str());

        const ffc::Shape shape{B, H, L, L};
        const size_t n = size_t(shape.signal_elements());
        std::vector<float> u(n), in_gate(n), out_gate(n), y(n), k(size_t(shape.kernel_elements()));
        for (size_t i = 0; i < n; ++i) {
            u[i] = std::sin(0.01f * float(i));
            in_gate[i] = 1.0f + 0.5f * std::sin(0.003f * float(i));
            out_gate[i] = 0.5f + 0.5f * std::fabs(std::sin(0.007f * float(i)));
        }
        for (int h = 0; h < H; ++h)
            for (int s = 0; s < L; ++s) k[size_t(h * L + s)] = std::exp(-float(s) / (50.0f * float(h + 1))) / 20.0f;

        // CPU plans can allocate their host workspace per call; CUDA plans take device workspace.
        plan.forward(shape, u.data(), k.data(), in_gate.data(), out_gate.data(), y.data());

        const int b = 1, h = 2;
        const size_t row = size_t((b * H + h) * L);
        double max_err = 0.0;
        for (int t = 0; t < L; ++t) {
            double z = 0.0;
            for (int s = 0; s <= t; ++s) z += double(k[size_t(h * L + s)]) * in_gate[row + t - s] * u[row + t - s];
            max_err = std::fmax(max_err, std::fabs(out_gate[row + t] * z - y[row + t]));
        }
        std::printf("max |y - direct| on row (%d, %d): %.2e\n", b, h, max_err);

        // Gradient of sum(y) with respect to k and the input gate; du and d_out_gate are not wanted.
        std::vector<float> dy(n, 1.0f), dk(k.size()), d_in_gate(n);
        plan.backward(shape, dy.data(), u.data(), k.data(), in_gate.data(), out_gate.data(), nullptr, dk.data(),
                      d_in_gate.data(), nullptr);
        std::printf("dk[0,0..2] = %.4f %.4f %.4f\n", dk[0], dk[1], dk[2]);

        // Failures are exceptions carrying the status and the library's message.
        try {
            plan.workspace_size(ffc::Shape{B, H, 4096, L});
            std::fprintf(stderr, "expected an error for L > N\n");
            return 1;
        } catch (const ffc::Error &e) {
            std::printf("L = 4096 > N: status %d, message \"%s\"\n", int(e.status()), e.message().c_str());
        }
        if (max_err > 1e-4) {
            std::fprintf(stderr, "FAILED\n");
            return 1;
        }
        std::printf("ok\n");
        return 0;
    } catch (const ffc::Error &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
