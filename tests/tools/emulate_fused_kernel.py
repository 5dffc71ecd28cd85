#!/usr/bin/env python3
"""Lane-exact NumPy emulation of src/cuda/fused_conv.cuh (float64, no bf16 split).

It reproduces the PTX fragment layouts of mma.m16n8k16 (A row-major 16x16,
B "col" 16x8, C 16x8), the swizzle, the twiddle exponents, the small fp32
stages and the conjugate-carried inverse, and checks one convolution of a
sequence pair against numpy's FFT. Run it after changing the kernel's index
math: it catches layout mistakes without a GPU. ctest runs it (exit 77, skipped,
without NumPy).
"""
import sys

try:
    import numpy as np
except ImportError:
    print("NumPy is not installed: emulation skipped")
    sys.exit(77)


def swizzle(n):
    s = ((n >> 4) & 1) | (((n >> 5) & 1) << 3)
    for sh in (5, 9, 13, 17):
        s ^= ((n >> sh) & 3) << 2
    return n ^ s


def w16(m):
    return np.exp(-2j * np.pi * (m % 16) / 16)


class Geo:
    def __init__(self, factors, num_small=None):
        """num_small: the outer stages on CUDA cores (default: the factors below 16)."""
        self.f = factors
        self.N = int(np.prod(factors))
        self.num_small = sum(1 for x in factors if x < 16) if num_small is None else num_small
        self.num_tc = len(factors) - self.num_small
        self.p = len(factors)

    def radix(self, s):
        return self.f[s]

    def inner(self, s):
        return int(np.prod(self.f[s + 1:])) if s + 1 < self.p else 1


def twiddle_exp(G, S, n):
    r, m = G.radix(S), G.inner(S)
    stride = G.N // (r * m)
    return ((n // m) % r) * (n % m) * stride


def tw(G, e):
    return np.exp(-2j * np.pi * e / G.N)


def b_fragments():
    """b[kt][t][reg] -> per lane pair of values (as the kernel builds them)."""
    B = np.zeros((2, 4, 2, 32, 2))
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        for kt in range(2):
            for t in range(4):
                for reg in range(2):
                    k = 8 * (t >> 1) + g
                    out_im, in_im = t & 1, reg == 1
                    for e in range(2):
                        j = 8 * kt + 2 * q + e
                        w = w16(j * k)
                        B[kt, t, reg, lane, e] = (w.real if in_im else w.imag) if out_im else (-w.imag if in_im else w.real)
    return B


BF = b_fragments()


def mma(acc, A, kt, t):
    """acc[lane][4] += A(16x16 from fragments) * B(16x8 from BF[kt][t])."""
    Am = np.zeros((16, 16))
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        a = A[lane]  # a[reg][e]
        Am[g, 2 * q:2 * q + 2] = a[0]
        Am[g + 8, 2 * q:2 * q + 2] = a[1]
        Am[g, 2 * q + 8:2 * q + 10] = a[2]
        Am[g + 8, 2 * q + 8:2 * q + 10] = a[3]
    Bm = np.zeros((16, 8))
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        Bm[2 * q:2 * q + 2, g] = BF[kt, t, 0, lane]
        Bm[2 * q + 8:2 * q + 10, g] = BF[kt, t, 1, lane]
    C = Am @ Bm
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        acc[lane][0] += C[g, 2 * q]
        acc[lane][1] += C[g, 2 * q + 1]
        acc[lane][2] += C[g + 8, 2 * q]
        acc[lane][3] += C[g + 8, 2 * q + 1]


def tc_j(q, jj):
    return 2 * q + (jj & 1) + 8 * (jj >> 1)


def tc_pos(M, base, row, j):
    return base + row + j * M if M >= 16 else base + row * 16 + j


def tile_base(M, mt):
    return (mt // (M // 16)) * 16 * M + (mt % (M // 16)) * 16 if M >= 16 else mt * 256


def a_from(x):  # x[lane][r][jj] complex -> A[kt][lane][reg][e]
    A = np.zeros((2, 32, 4, 2))
    for lane in range(32):
        for kt in range(2):
            A[kt, lane, 0] = [x[lane][0][2 * kt].real, x[lane][0][2 * kt + 1].real]
            A[kt, lane, 1] = [x[lane][1][2 * kt].real, x[lane][1][2 * kt + 1].real]
            A[kt, lane, 2] = [x[lane][0][2 * kt].imag, x[lane][0][2 * kt + 1].imag]
            A[kt, lane, 3] = [x[lane][1][2 * kt].imag, x[lane][1][2 * kt + 1].imag]
    return A


def movmatrix_trans(blk):
    """movmatrix.m8n8.trans.b16: blk[lane] = (B[g][2q], B[g][2q+1]) -> the same layout of B^T."""
    out = []
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        out.append([blk[(2 * q + e) * 4 + g // 2][g % 2] for e in range(2)])
    return out


def a_transposed(x):
    """tc_transpose_repack: accumulator-layout values of a tile -> A fragments of
    the transposed tile, one movmatrix per 8x8 block of real or imaginary parts."""
    A = np.zeros((2, 32, 4, 2))
    for kt in range(2):
        for h in range(2):
            re = movmatrix_trans([[x[l][kt][2 * h].real, x[l][kt][2 * h + 1].real] for l in range(32)])
            im = movmatrix_trans([[x[l][kt][2 * h].imag, x[l][kt][2 * h + 1].imag] for l in range(32)])
            for lane in range(32):
                A[kt, lane, h] = re[lane]
                A[kt, lane, 2 + h] = im[lane]
    return A


def dft(A, upper_in_zero=False, upper_out_unused=False):
    acc = np.zeros((4, 32, 4))
    for t in range(4):
        if t >= 2 and upper_out_unused:
            continue
        for kt in range(2):
            if kt == 1 and upper_in_zero:
                continue
            mma(acc[t], A[kt], kt, t)
    return acc


def tc_out(acc, lane, r, jj):
    t = 2 * (jj >> 1)
    i = 2 * r + (jj & 1)
    return acc[t][lane][i] + 1j * acc[t + 1][lane][i]


def check_twiddle_periods(G):
    """fused::Geometry::table_period: each pass's twiddles repeat every `period` tiles."""
    for S in range(G.num_small, G.p):
        M = G.inner(S)
        for TW in (S, S - 1):
            if TW < 0 or (TW == S and S == G.p - 1):
                continue
            inverse = TW != S
            period = (M // 16) if not inverse else (1 if M == 1 else (M // 16) * G.radix(S - 1))
            for mt in range(G.N // 256):
                b1, b2 = tile_base(M, mt), tile_base(M, mt % period)
                for lane in range(32):
                    g, q = lane >> 2, lane & 3
                    for r in range(2):
                        for jj in range(4):
                            j = tc_j(q, jj)
                            e1 = twiddle_exp(G, TW, tc_pos(M, b1, g + 8 * r, j))
                            e2 = twiddle_exp(G, TW, tc_pos(M, b2, g + 8 * r, j))
                            assert e1 == e2, (G.f, S, TW, mt, period)


def tile_elements(skip_upper=False):
    """(lane, r, jj, row, j) of every element a lane holds in a tile: rows g and
    g + 8 (r = 0, 1), DFT indices tc_j(q, jj); the upper ones (jj >= 2) skipped
    when asked."""
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        for r in range(2):
            for jj in range(4):
                if jj < 2 or not skip_upper:
                    yield lane, r, jj, g + 8 * r, tc_j(q, jj)


def lane_values():
    return [[[0j] * 4 for _ in range(2)] for _ in range(32)]


def tc_slot(M, base, lane, r, jj):
    """tc_element: the slot of a lane's element (r, jj) as the kernel computes it,
    (thread's slot XOR the element offset's swizzled low nibble) + its upper bits,
    checked against the definition swizzle(position)."""
    g, q = lane >> 2, lane & 3
    lane_offset = g + 2 * q * M if M >= 16 else g * 16 + 2 * q
    element_offset = 8 * r + ((jj & 1) + 8 * (jj >> 1)) * M if M >= 16 else 8 * r * 16 + (jj & 1) + 8 * (jj >> 1)
    slot_base = swizzle(base) ^ swizzle(lane_offset)
    slot = (slot_base ^ (swizzle(element_offset) & 15)) + (element_offset & ~15)
    assert slot == swizzle(tc_pos(M, base, g + 8 * r, tc_j(q, jj))), (M, base, lane, r, jj)
    return slot


def load_tile(s, M, base, upper_in_zero=False):
    """tc_load: every lane's eight elements of the tile (the upper ones zero when skipped)."""
    x = lane_values()
    for lane, r, jj, row, j in tile_elements(upper_in_zero):
        x[lane][r][jj] = s[tc_slot(M, base, lane, r, jj)]
    return x


def twiddled_outputs(G, acc, M, base, TW):
    """The tile's DFT outputs times the twiddle of stage TW (none for TW < 0), per lane."""
    x = lane_values()
    for lane, r, jj, row, j in tile_elements():
        v = tc_out(acc, lane, r, jj)
        if TW >= 0:
            v *= tw(G, twiddle_exp(G, TW, tc_pos(M, base, row, j)))
        x[lane][r][jj] = v
    return x


def store_tile(s, M, base, x, upper_out_unused=False):
    """Writes the lanes' eight elements back (the upper ones skipped when unused)."""
    for lane, r, jj, row, j in tile_elements(upper_out_unused):
        s[tc_slot(M, base, lane, r, jj)] = x[lane][r][jj]


def tc_stage(G, S, TW, s, upper_in_zero=False, upper_out_unused=False):
    M = G.inner(S)
    for mt in range(G.N // 256):
        base = tile_base(M, mt)
        acc = dft(a_from(load_tile(s, M, base, upper_in_zero)), upper_in_zero, upper_out_unused)
        store_tile(s, M, base, twiddled_outputs(G, acc, M, base, TW), upper_out_unused)


def stage_twiddles(G, S, TW, n0):
    """A column's twiddles as the kernel forms them (apply_stage_twiddles): the
    exponents are affine in j, so W^e(0) · d^j from one or two table values."""
    r, m = G.radix(S), G.inner(S)
    e0 = twiddle_exp(G, TW, n0)
    de = twiddle_exp(G, TW, n0 + m) - e0
    assert de >= 0 and e0 + (r - 1) * de < G.N and (TW != S or e0 == 0)
    return [tw(G, e0) * tw(G, de) ** j for j in range(r)]


def small_stage(G, S, TW, s):
    r, m = G.radix(S), G.inner(S)
    for cc in range(G.N // r):
        n0 = (cc // m) * r * m + cc % m
        x = np.array([s[swizzle(n0 + j * m)] for j in range(r)])
        y = np.fft.fft(x)
        w = stage_twiddles(G, S, TW, n0) if TW >= 0 else [1] * r
        for j in range(r):
            n = n0 + j * m
            s[swizzle(n)] = y[j] * w[j]


def pointwise(acc, mt, spec, spec_out):
    """The innermost stage's output of tile mt: stored into spec_out (spectrum
    mode; returns None), or multiplied by the spectrum and conjugated (the
    inverse's input, in accumulator layout)."""
    z = [[[0j] * 4 for _ in range(2)] for _ in range(32)]
    for lane in range(32):
        for r in range(2):
            for jj in range(4):
                idx = (mt * 32 + lane) * 8 + r * 4 + jj
                y = tc_out(acc, lane, r, jj)
                if spec_out is not None:
                    spec_out[idx] = y
                else:
                    z[lane][r][jj] = np.conj(y * spec[idx])
    return None if spec_out is not None else z


def middle(G, s, spec=None, spec_out=None):
    S = G.p - 1
    for mt in range(G.N // 256):
        base = tile_base(1, mt)
        acc = dft(a_from(load_tile(s, 1, base)))
        z = pointwise(acc, mt, spec, spec_out)
        if z is None:
            continue
        acc = dft(a_from(z))
        store_tile(s, 1, base, twiddled_outputs(G, acc, 1, base, S - 1))


def middle_pair(G, s, spec=None, spec_out=None, zero_upper=False, lower_only=False):
    """The middle stage with an inner pair (two tensor-core stages or more): stage
    S2 = p-2 (inner size 16) forward, the innermost stage, and both inverses on
    each tile in registers, transposed between them (fused_conv.cuh, middle_stage)."""
    S = G.p - 1
    S2 = S - 1
    upper_in_zero = S2 == 0 and zero_upper
    upper_out_unused = S2 == 0 and lower_only
    for mt in range(G.N // 256):
        base = tile_base(1, mt)
        assert base == tile_base(16, mt)
        acc = dft(a_from(load_tile(s, 16, base, upper_in_zero)), upper_in_zero)
        acc = dft(a_transposed(twiddled_outputs(G, acc, 16, base, S2)))
        z = pointwise(acc, mt, spec, spec_out)
        if z is None:
            continue
        acc = dft(a_from(z))
        acc = dft(a_transposed(twiddled_outputs(G, acc, 1, base, S - 1)), False, upper_out_unused)
        store_tile(s, 16, base, twiddled_outputs(G, acc, 16, base, S2 - 1), upper_out_unused)


def middle_first(G):
    """fused::Geometry::middle_first: the first stage the middle stage runs."""
    return G.p - 1 - (1 if G.num_tc >= 2 else 0)


def run_middle(G, s, spec=None, spec_out=None, zero_upper=False, lower_only=False):
    if G.num_tc >= 2:
        middle_pair(G, s, spec, spec_out, zero_upper, lower_only)
    else:
        middle(G, s, spec, spec_out)


def forward(G, s, zero_upper):
    for S in range(middle_first(G)):
        if S < G.num_small:
            small_stage(G, S, S, s)
        else:
            tc_stage(G, S, S, s, upper_in_zero=(S == 0 and zero_upper))


def inverse(G, s, lower_only):
    for S in range(middle_first(G) - 1, -1, -1):
        if S < G.num_small:
            small_stage(G, S, S - 1, s)
        else:
            tc_stage(G, S, S - 1, s, upper_out_unused=(S == 0 and lower_only))


def run(factors, L, K, rng, num_small=None):
    G = Geo(factors, num_small)
    N = G.N
    assert sorted(swizzle(n) for n in range(N)) == list(range(N))
    # linearity over GF(2), which the kernel's address arithmetic relies on
    for a in range(0, N, 37):
        for b in (1, 5, 16, 255, N - 1):
            assert swizzle(a ^ b) == swizzle(a) ^ swizzle(b)
    check_twiddle_periods(G)
    k = np.zeros(N); k[:K] = rng.standard_normal(K)
    va = np.zeros(N); va[:L] = rng.standard_normal(L)
    vb = np.zeros(N); vb[:L] = rng.standard_normal(L)
    # spectrum mode
    s = np.zeros(N, complex)
    for n in range(N):
        s[swizzle(n)] = k[n]
    forward(G, s, 2 * K <= N)
    spec = np.zeros(N, complex)
    run_middle(G, s, spec_out=spec, zero_upper=2 * K <= N)
    # conv mode
    s = np.zeros(N, complex)
    for n in range(N):
        s[swizzle(n)] = va[n] + 1j * vb[n]
    forward(G, s, 2 * L <= N)
    run_middle(G, s, spec=spec, zero_upper=2 * L <= N, lower_only=2 * L <= N)
    inverse(G, s, 2 * L <= N)
    out = np.array([s[swizzle(n)] for n in range(L)])
    ya, yb = out.real / N, -out.imag / N
    ref_a = np.fft.ifft(np.fft.fft(va) * np.fft.fft(k)).real[:L]
    ref_b = np.fft.ifft(np.fft.fft(vb) * np.fft.fft(k)).real[:L]
    err = max(np.abs(ya - ref_a).max() / np.abs(ref_a).max(), np.abs(yb - ref_b).max() / np.abs(ref_b).max())
    return err


if __name__ == "__main__":
    rng = np.random.default_rng(1)
    cases = [([16, 16], 256, 256), ([16, 16], 128, 77), ([4, 4, 16], 256, 200), ([4, 4, 16], 100, 128),
             ([2, 16, 16], 512, 512), ([8, 4, 16], 256, 300), ([16, 16, 16], 4096, 4096), ([16, 16, 16], 2048, 1000),
             ([2, 4, 16, 16], 1024, 1024), ([4, 16, 16, 16], 8192, 4000), ([8, 8, 16, 16], 16384, 16384)]
    cases = [(f, L, K, None) for f, L, K in cases]
    # radix-16 stages on CUDA cores (16c): the outer one, or the second of two
    cases += [([16, 16, 16], 4096, 3000, 1), ([16, 16, 16], 2048, 2048, 1), ([4, 16, 16, 16], 16384, 9000, 2),
              ([2, 16, 16, 16], 4096, 4096, 2)]
    if len(sys.argv) > 1 and sys.argv[1] == "--quick":
        cases = cases[:4]
    bad = 0
    for f, L, K, num_small in cases:
        e = run(f, L, K, rng, num_small)
        ok = e < 1e-9
        bad += not ok
        name = "x".join("%d%s" % (x, "c" if num_small and i < num_small and x == 16 else "") for i, x in enumerate(f))
        print("%-16s L=%-5d K=%-5d max rel err %.2e %s" % (name, L, K, e, "ok" if ok else "FAIL"))
    sys.exit(1 if bad else 0)
