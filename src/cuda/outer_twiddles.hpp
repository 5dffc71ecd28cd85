// The four-step twiddles W_N^(n2·k1) of the multi-pass outer passes
// (multipass.cu), shared by the kernels and by the host: the same inline code
// runs on the device and in the CPU test that replays it
// (tests/test_outer_twiddles.cpp), so "every twiddle the kernels use is the
// correctly rounded fp32 value" is checked exhaustively, value by value.
//
// A plan-owned table (OuterTables) holds, in one allocation:
//   lo[j] = W_N^j            j < 2^b               (double, from monarch::unit_root)
//   hi[j] = W_N^(j·2^b)      j < N / 2^b           (double)
//   wm[j] = W_M^j            j < M                 (fp32, correctly rounded)
// with b = outer_lo_bits(log2 N) = ceil(log2(N) / 2) (N = 4M: 2 × 2048 entries, 64 KiB).
//
// W_N^e for e < N is hi[e >> b] · lo[e & (2^b − 1)] in double. The kernels need
// whole runs of twiddles and build them as chains, in double:
//   M ≤ 16 (columns in registers): for column n2, ω = W_N^(n2) and W_N^(n2·k1) =
//           ω^k1 = ω^(k1−1) · ω, k1 = 1 .. M−1 (k1 = 0 is 1, not multiplied);
//   M ≥ 32 (P = M/16, outputs k1 = kp + P·kq): α = W_N^(n2·kp), β = W_N^(n2·P),
//           W_N^(n2·k1) = α · β^kq = (previous) · β, kq = 0 .. 15.
// Each value is then rounded once to fp32, and components below 1e-10 in
// magnitude are flushed to zero: no nonzero component of a root of unity of
// order ≤ 2^22 is smaller than sin(2π/2^22) ≈ 1.5e-6, while the chains' double
// error stays below 1e-14, so the flush only turns a would-be exact zero (cos at
// a quarter turn) into that zero. The CPU test shows the result equals
// float(unit_root(N, n2·k1)) for every (N, M, n2, k1) the kernels can meet
// (2^15 ≤ N ≤ 2^22, 256 ≤ N/M ≤ 16384).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__CUDACC__)
#define FFC_OUTER_HD __host__ __device__ __forceinline__
#else
#define FFC_OUTER_HD inline
#endif

#include "monarch/monarch.hpp"

namespace ffc::cuda::outer {

// Bits of the exponent resolved by the low table.
FFC_OUTER_HD int lo_bits(int log2n) { return (log2n + 1) / 2; }

FFC_OUTER_HD double dmul(double a, double b) {
#if defined(__CUDA_ARCH__)
    return __dmul_rn(a, b);  // never contracted into an FMA: the host replays this exactly
#else
    return a * b;
#endif
}
FFC_OUTER_HD double dfma(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
    return __fma_rn(a, b, c);
#else
    return std::fma(a, b, c);
#endif
}

// a · b in double, in a fixed order of operations (D2: double2 or HostDouble2).
template <class D2>
FFC_OUTER_HD D2 mul(D2 a, D2 b) {
    D2 r;
    r.x = dfma(a.x, b.x, -dmul(a.y, b.y));
    r.y = dfma(a.x, b.y, dmul(a.y, b.x));
    return r;
}

template <class D2>
FFC_OUTER_HD D2 load(const D2 *p) {
#if defined(__CUDA_ARCH__)
    return __ldg(p);
#else
    return *p;
#endif
}

// W_N^e, 0 ≤ e < N, from the two tables.
template <class D2>
FFC_OUTER_HD D2 root(const D2 *lo, const D2 *hi, int bits, uint32_t e) {
    return mul(load(hi + (e >> bits)), load(lo + (e & ((1u << bits) - 1u))));
}

// One double component rounded to the fp32 twiddle (see the flush above).
FFC_OUTER_HD float round_component(double v) {
    const float f = float(v);
    return (f < 1e-10f && f > -1e-10f) ? 0.f : f;
}

// ---------------------------------------------------------------------------
// Host side: the table's layout and contents.
// ---------------------------------------------------------------------------
struct HostDouble2 {
    double x, y;
};
struct HostFloat2 {
    float x, y;
};

struct TableLayout {
    int bits = 0;             // lo_bits(log2 N)
    size_t lo = 0, hi = 0;    // entries of the two double tables
    size_t m = 0;             // entries of the fp32 W_M table
    size_t wm_offset = 0;     // byte offset of the W_M table
    size_t bytes = 0;         // whole allocation
};

inline TableLayout table_layout(uint64_t n, int m) {
    int log2n = 0;
    while ((uint64_t(1) << log2n) < n) ++log2n;
    TableLayout t;
    t.bits = lo_bits(log2n);
    t.lo = size_t(1) << t.bits;
    t.hi = size_t(n >> t.bits);
    t.m = size_t(m);
    t.wm_offset = (t.lo + t.hi) * sizeof(HostDouble2);
    t.bytes = t.wm_offset + t.m * sizeof(HostFloat2);
    return t;
}

struct HostTables {
    TableLayout layout;
    std::vector<HostDouble2> lo, hi;
    std::vector<HostFloat2> wm;

    // The bytes uploaded to the device, in the layout above.
    std::vector<unsigned char> pack() const {
        std::vector<unsigned char> out(layout.bytes);
        std::memcpy(out.data(), lo.data(), lo.size() * sizeof(HostDouble2));
        std::memcpy(out.data() + lo.size() * sizeof(HostDouble2), hi.data(), hi.size() * sizeof(HostDouble2));
        std::memcpy(out.data() + layout.wm_offset, wm.data(), wm.size() * sizeof(HostFloat2));
        return out;
    }
};

inline HostTables build_tables(uint64_t n, int m) {
    HostTables t;
    t.layout = table_layout(n, m);
    auto d2 = [](const monarch::cdouble &w) { return HostDouble2{w.real(), w.imag()}; };
    t.lo.resize(t.layout.lo);
    t.hi.resize(t.layout.hi);
    t.wm.resize(t.layout.m);
    for (size_t j = 0; j < t.layout.lo; ++j) t.lo[j] = d2(monarch::unit_root(n, j));
    for (size_t j = 0; j < t.layout.hi; ++j) t.hi[j] = d2(monarch::unit_root(n, uint64_t(j) << t.layout.bits));
    for (size_t j = 0; j < t.layout.m; ++j) {
        const monarch::cdouble w = monarch::unit_root(uint64_t(m), j);
        t.wm[j] = HostFloat2{float(w.real()), float(w.imag())};
    }
    return t;
}

}  // namespace ffc::cuda::outer
