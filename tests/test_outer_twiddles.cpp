// The four-step twiddles of the CUDA multi-pass outer passes
// (src/cuda/outer_twiddles.hpp, used by src/cuda/multipass.cu) are the
// correctly rounded fp32 values: the host replays, with the same inline code
// and the same order of double operations as the kernels, every chain the
// kernels can build, for every (N, M) a plan can have, and compares each
// component with float(unit_root(N, e)). Runs without a GPU.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "cuda/outer_twiddles.hpp"
#include "monarch/monarch.hpp"

namespace {

namespace outer = ffc::cuda::outer;
using D2 = outer::HostDouble2;

struct Mismatches {
    int64_t count = 0, checked = 0;
    uint64_t first_e = 0;
};

}  // namespace

TEST_CASE("multi-pass outer twiddles: every chain value is the correctly rounded fp32 twiddle", "[outer_twiddles]") {
    for (int log2n = 15; log2n <= 22; ++log2n) {
        const uint64_t n = uint64_t(1) << log2n;
        // float(unit_root(N, e)) for every e: the reference.
        std::vector<float> ref_re(n), ref_im(n);
        for (uint64_t e = 0; e < n; ++e) {
            const ffc::monarch::cdouble w = ffc::monarch::unit_root(n, e);
            ref_re[e] = float(w.real());
            ref_im[e] = float(w.imag());
        }
        for (int m = 2; m <= 256; m *= 2) {
            const uint64_t n_in = n / uint64_t(m);
            if (n_in < 256 || n_in > 16384) continue;  // the multi-pass plans' range
            const outer::HostTables t = outer::build_tables(n, m);
            const D2 *lo = t.lo.data(), *hi = t.hi.data();
            const int bits = t.layout.bits;
            Mismatches bad;
            auto check = [&](const D2 &w, uint64_t e) {
                ++bad.checked;
                if (outer::round_component(w.x) != ref_re[e] || outer::round_component(w.y) != ref_im[e]) {
                    if (bad.count++ == 0) bad.first_e = e;
                }
            };
            if (m <= 16) {
                // outer_*_reg: ω = W_N^(n2); w_1 = ω, w_k = w_(k−1)·ω (apply_chain<M, 1>).
                for (uint64_t n2 = 0; n2 < n_in; ++n2) {
                    const D2 omega = outer::root(lo, hi, bits, uint32_t(n2));
                    D2 w = omega;
                    for (int k = 1; k < m; ++k) {
                        if (k > 1) w = outer::mul(w, omega);
                        check(w, n2 * uint64_t(k));
                    }
                }
            } else {
                // outer_*_smem: α = W_N^(n2·kp), β = W_N^(n2·P); w_0 = α, w_kq = w_(kq−1)·β.
                const int p = m / 16;
                for (uint64_t n2 = 0; n2 < n_in; ++n2)
                    for (int kp = 0; kp < p; ++kp) {
                        const D2 alpha = outer::root(lo, hi, bits, uint32_t(n2 * uint64_t(kp)));
                        const D2 beta = outer::root(lo, hi, bits, uint32_t(n2 * uint64_t(p)));
                        D2 w = alpha;
                        for (int kq = 0; kq < 16; ++kq) {
                            if (kq > 0) w = outer::mul(w, beta);
                            check(w, n2 * uint64_t(kp + p * kq));
                        }
                    }
            }
            INFO("N = 2^" << log2n << ", M = " << m << ": " << bad.count << " of " << bad.checked
                          << " twiddles differ from the correctly rounded value (first at e = " << bad.first_e
                          << ")");
            CHECK(bad.count == 0);
            CHECK(bad.checked == int64_t(n_in) * (m <= 16 ? m - 1 : m));
            // The fp32 W_M table.
            for (int j = 0; j < m; ++j) {
                const ffc::monarch::cdouble w = ffc::monarch::unit_root(uint64_t(m), uint64_t(j));
                CHECK(t.wm[size_t(j)].x == float(w.real()));
                CHECK(t.wm[size_t(j)].y == float(w.imag()));
            }
        }
    }
}

TEST_CASE("multi-pass outer twiddles: table layout", "[outer_twiddles]") {
    for (int log2n = 15; log2n <= 22; ++log2n) {
        const uint64_t n = uint64_t(1) << log2n;
        const int m = 256;
        const outer::TableLayout l = outer::table_layout(n, m);
        INFO("N = 2^" << log2n);
        CHECK(l.bits == (log2n + 1) / 2);
        CHECK(l.lo * l.hi == n);
        CHECK(l.lo >= l.hi);
        CHECK(l.wm_offset == (l.lo + l.hi) * 16);
        CHECK(l.bytes == l.wm_offset + 8 * size_t(m));
        const outer::HostTables t = outer::build_tables(n, m);
        const std::vector<unsigned char> bytes = t.pack();
        REQUIRE(bytes.size() == l.bytes);
        // W_N^e = hi[e >> b] · lo[e & (2^b − 1)]: spot-check both ends of the range.
        for (uint64_t e : {uint64_t(0), uint64_t(1), n / 4, n / 2 + 3, n - 1}) {
            const D2 w = outer::root(t.lo.data(), t.hi.data(), l.bits, uint32_t(e));
            const ffc::monarch::cdouble ref = ffc::monarch::unit_root(n, e);
            CHECK(std::abs(w.x - ref.real()) < 1e-15);
            CHECK(std::abs(w.y - ref.imag()) < 1e-15);
        }
    }
}
