#!/usr/bin/env python3
"""NumPy model of the CUDA multi-pass forward (src/cuda/multipass.cu).

Checks, on the CPU, the index / twiddle / scale conventions of the three passes
against a direct circular convolution:

  pass 1 (outer_forward):  Z[k1][n2] = W_N^(n2·k1) · Σ_n1 A[n1][n2] · W_M^(n1·k1)
  pass 2 (mode_rows):      row ← IFFT_{N_in}(FFT_{N_in}(row) · Kspec_row) (numpy FFTs;
                           the fused kernel's visit order is a permutation that the
                           spectrum and the product share, so natural order is used)
  pass 3 (outer_inverse):  w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) · conj(W_N^(n2·k1)) · Z[k1][n2]

The outer passes are modelled as the kernels compute them:

  M ≤ 16 (outer_*_reg): a CTA of 256 threads covers TN = 256·V columns (V =
    max(2, 16/M)); thread (warp w, lane l) owns the column pairs
    c0 + 32V·w + 64j + 2l (+1), j < V/2, and all M rows; the M-point DFT is the
    recursive radix-2 one of the kernel; twiddles W_N^(n2·k1) = ω^k1 with ω =
    W_N^(n2), as the double chain w_1 = ω, w_k = w_(k−1)·ω.
  M ≥ 32 (outer_*_smem): M = 16P, TN = 8192/M; thread (cp, g) with columns
    c0 + 2cp (+1). Forward: rows n1 = 16p + q (q = g·G1 + i, G1 = 16/P),
    P-point DFT over p → kp, · W_M^(q·kp), shared tile s[(kp·16 + q)·HP + cp],
    then thread kp = g: 16-point DFT over q → kq, output row k1 = kp + P·kq,
    twiddle chain α·β^kq, α = W_N^(n2·kp), β = W_N^(n2·P). Pass 3 is the mirror
    image (16-point inverse over kq → q, conj W_M^(q·kp), P-point inverse over
    kp → p, output row 16p + q).
  Every W_N^e is built in double from the two-level table hi[e >> b]·lo[e & (2^b−1)],
  b = ceil(log2 N / 2), rounded once to fp32 with components below 1e-10 flushed
  to zero (src/cuda/outer_twiddles.hpp; the exact-rounding claim is checked
  bit for bit by tests/test_outer_twiddles.cpp, not here: NumPy has no fma).

The shared-memory exchange is replayed slot by slot (each slot written once,
read by the right thread), and every tile's columns and rows are checked to be
covered exactly once by the threads' index maps.

Also replays the host's chunking (channels × pairs) so the item → spectrum-row
mapping of mode_rows (rows_per_seq = M, pairs_per_channel) is exercised.

Run: python3 tests/tools/emulate_multipass.py   (exits non-zero on a mismatch)
"""
import sys

import numpy as np

THREADS = 256
TILE = 8192          # complex elements per CTA tile of the M ≥ 32 kernels (kTile)
MAX_REGISTER_M = 16  # M ≤ 16: column DFT in registers


# ---------------------------------------------------------------------------
# Twiddles (outer_twiddles.hpp)
# ---------------------------------------------------------------------------
class Tables:
    def __init__(self, n, m):
        log2n = n.bit_length() - 1
        self.n, self.m = n, m
        self.bits = (log2n + 1) // 2
        lo = np.arange(1 << self.bits)
        hi = np.arange(n >> self.bits) << self.bits
        self.lo = np.exp(-2j * np.pi * lo / n)  # complex128 ("double2")
        self.hi = np.exp(-2j * np.pi * hi / n)
        self.wm = np.exp(-2j * np.pi * np.arange(m) / m).astype(np.complex64)  # fp32 W_M

    def root(self, e):
        e = np.asarray(e, dtype=np.int64)
        assert np.all((e >= 0) & (e < self.n)), "twiddle exponent out of range"
        return self.hi[e >> self.bits] * self.lo[e & ((1 << self.bits) - 1)]


def round_twiddle(w):
    """Double → fp32 with tiny components flushed to zero (round_component)."""
    re = w.real.astype(np.float32)
    im = w.imag.astype(np.float32)
    re[np.abs(re) < 1e-10] = 0
    im[np.abs(im) < 1e-10] = 0
    return (re + 1j * im).astype(np.complex64)


def chain(first, step, count):
    """[count][...] twiddles w_0 = first, w_k = w_(k−1)·step (double), rounded."""
    out = []
    w = first
    for k in range(count):
        if k:
            w = w * step
        out.append(round_twiddle(w))
    return np.stack(out)


# ---------------------------------------------------------------------------
# In-register DFT (dft<R, INV>): recursive radix-2 DIT, natural order, fp32.
# ---------------------------------------------------------------------------
def dft(v, inverse):
    """v: [R][...] complex64, DFT along axis 0 (no scaling)."""
    r = v.shape[0]
    if r == 1:
        return v
    e = dft(v[0::2], inverse)
    o = dft(v[1::2], inverse)
    k = np.arange(r // 2).reshape((-1,) + (1,) * (v.ndim - 1))
    w = np.exp((1 if inverse else -1) * 2j * np.pi * k / r).astype(np.complex64)
    b = (o * w).astype(np.complex64)
    return np.concatenate([e + b, e - b]).astype(np.complex64)


# ---------------------------------------------------------------------------
# Geometry and coverage of the thread index maps
# ---------------------------------------------------------------------------
def reg_geometry(m):
    v = max(2, 16 // m)
    return v, v // 2, THREADS * v  # V, NP, TN


def reg_columns(m):
    """Columns (relative to c0) of every thread: [thread][pair j] (even column of the pair)."""
    v, np_, _ = reg_geometry(m)
    t = np.arange(THREADS)
    warp, lane = t // 32, t % 32
    cbase = warp * (32 * v) + 2 * lane
    return cbase[:, None] + 64 * np.arange(np_)[None, :]


def smem_geometry(m):
    p = m // 16
    tn = TILE // m
    return p, 16 // p, tn, tn // 2  # P, G1, TN, HP


def check_coverage(m):
    """Every (row, column) of a tile is loaded / stored by exactly one thread."""
    if m <= MAX_REGISTER_M:
        _, _, tn = reg_geometry(m)
        cols = reg_columns(m).reshape(-1)
        cols = np.concatenate([cols, cols + 1])
        assert np.array_equal(np.sort(cols), np.arange(tn)), "register kernel: column coverage"
        return
    p, g1, tn, hp = smem_geometry(m)
    assert hp * p == THREADS
    seen_in = np.zeros((m, tn), int)    # forward loads / inverse stores: rows 16p + q_i
    seen_out = np.zeros((m, tn), int)   # forward stores / inverse loads: rows g + P·kq
    for t in range(THREADS):
        cp, g = t % hp, t // hp
        for c in (2 * cp, 2 * cp + 1):
            for i in range(g1):
                for pp in range(p):
                    seen_in[16 * pp + g * g1 + i, c] += 1
            for kq in range(16):
                seen_out[g + p * kq, c] += 1
    assert np.all(seen_in == 1) and np.all(seen_out == 1), "shared-memory kernel: coverage"


# ---------------------------------------------------------------------------
# Pass 1 and pass 3 on one [M][N_in] item
# ---------------------------------------------------------------------------
def pass1(a_rows, tb, n_in, m):
    """a_rows: the packed, zero-padded sequence (complex, length N) → Z [M][N_in]."""
    a = a_rows.reshape(m, n_in).astype(np.complex64)
    z = np.empty((m, n_in), np.complex64)
    if m <= MAX_REGISTER_M:
        _, _, tn = reg_geometry(m)
        cols = reg_columns(m).reshape(-1)
        cols = np.sort(np.concatenate([cols, cols + 1]))
        for c0 in range(0, n_in, tn):
            n2 = c0 + cols
            x = dft(a[:, n2], False)                  # [M][cols]
            w = tb.root(n2)                           # ω per column
            tw = np.concatenate([np.ones((1, n2.size), np.complex64), chain(w, w, m - 1)])
            z[:, n2] = x * tw
        return z
    p, g1, tn, hp = smem_geometry(m)
    for c0 in range(0, n_in, tn):
        smem = np.full(16 * p * hp * 2, np.nan + 0j, np.complex64)  # [(kp·16 + q)·HP + cp][2]
        written = np.zeros(smem.size, int)
        cp = np.arange(hp)
        n2 = c0 + 2 * cp                                # even column of each pair
        for g in range(p):
            for i in range(g1):
                q = g * g1 + i
                for half in range(2):
                    v = a[16 * np.arange(p)[:, None] + q, (n2 + half)[None, :]]  # [p][cp]
                    y = dft(v, False)                                           # [kp][cp]
                    y = y * tb.wm[(q * np.arange(p)) % m][:, None]              # W_M^(q·kp)
                    for kp in range(p):
                        slot = ((kp * 16 + q) * hp + cp) * 2 + half
                        smem[slot] = y[kp]
                        written[slot] += 1
        assert np.all(written == 1), "forward exchange: every slot written once"
        for g in range(p):  # stage 2: kp = g
            for half in range(2):
                col = n2 + half
                v = np.stack([smem[((g * 16 + q) * hp + cp) * 2 + half] for q in range(16)])  # [q][cp]
                y = dft(v, False)                                                          # [kq][cp]
                tw = chain(tb.root(col * g), tb.root(col * p), 16)
                z[g + p * np.arange(16)[:, None], col[None, :]] = y * tw
    return z


def pass3(z, tb, n_in, m):
    """Z [M][N_in] → w' (length N, scaled by 1/M)."""
    out = np.empty((m, n_in), np.complex64)
    scale = np.float32(1.0 / m)
    if m <= MAX_REGISTER_M:
        _, _, tn = reg_geometry(m)
        cols = reg_columns(m).reshape(-1)
        cols = np.sort(np.concatenate([cols, cols + 1]))
        for c0 in range(0, n_in, tn):
            n2 = c0 + cols
            w = tb.root(n2)
            tw = np.concatenate([np.ones((1, n2.size), np.complex64), chain(w, w, m - 1)])
            x = z[:, n2] * np.conj(tw)
            out[:, n2] = dft(x, True) * scale
        return out.reshape(-1)
    p, g1, tn, hp = smem_geometry(m)
    for c0 in range(0, n_in, tn):
        smem = np.full(16 * p * hp * 2, np.nan + 0j, np.complex64)
        written = np.zeros(smem.size, int)
        cp = np.arange(hp)
        n2 = c0 + 2 * cp
        for g in range(p):  # stage 1: kp = g, rows g + P·kq
            for half in range(2):
                col = n2 + half
                v = z[g + p * np.arange(16)[:, None], col[None, :]]       # [kq][cp]
                v = v * np.conj(chain(tb.root(col * g), tb.root(col * p), 16))
                y = dft(v, True)                                          # [q][cp]
                y = y * np.conj(tb.wm[(np.arange(16) * g) % m])[:, None]  # conj W_M^(q·kp)
                for q in range(16):
                    slot = ((g * 16 + q) * hp + cp) * 2 + half
                    smem[slot] = y[q]
                    written[slot] += 1
        assert np.all(written == 1), "inverse exchange: every slot written once"
        for g in range(p):  # stage 2: q_i = g·G1 + i, P-point inverse over kp
            for i in range(g1):
                q = g * g1 + i
                for half in range(2):
                    v = np.stack([smem[((kp * 16 + q) * hp + cp) * 2 + half] for kp in range(p)])  # [kp][cp]
                    y = dft(v, True) * scale                                                      # [p][cp]
                    out[16 * np.arange(p)[:, None] + q, (n2 + half)[None, :]] = y
    return out.reshape(-1)


# ---------------------------------------------------------------------------
# The whole forward, chunked like MultipassForward::forward
# ---------------------------------------------------------------------------
def chunking(h, pairs, item_bytes, budget):
    per_channel = pairs * item_bytes
    if per_channel <= budget:
        most = min(h, budget // per_channel)
        ch = -(-h // -(-h // most))
        return ch, pairs
    most = max(1, budget // item_bytes)
    return 1, -(-pairs // -(-pairs // most))


def multipass_forward(u, k, ig, og, n, n_in, budget_items):
    bsz, h, length = u.shape
    kl = k.shape[1]
    m = n // n_in
    check_coverage(m)
    tb = Tables(n, m)
    pairs = (bsz + 1) // 2
    # filter spectrum rows [H][M][N_in]
    kspec = np.empty((h, m, n_in), np.complex64)
    for c in range(h):
        kp = np.zeros(n, np.complex64)
        kp[:kl] = k[c]
        zk = pass1(kp, tb, n_in, m)
        kspec[c] = np.fft.fft(zk, axis=1)  # mode_rows_transform (visit order ≡ natural here)
    v = u * (ig if ig is not None else 1.0)
    y = np.full(u.shape, np.nan, np.float32)
    cc, pp = chunking(h, pairs, n * 8, budget_items * n * 8)
    for h0 in range(0, h, cc):
        c_n = min(cc, h - h0)
        for p0 in range(0, pairs, pp):
            p_n = min(pp, pairs - p0)
            items = c_n * p_n
            zbuf = np.empty((items * m, n_in), np.complex64)
            # pass 1 over the chunk's item range (channel-major items)
            for local in range(items):
                item = h0 * pairs + p0 + local
                c, pair = divmod(item, pairs)
                w = np.zeros(n, np.complex64)
                w[:length] = v[2 * pair, c]
                if 2 * pair + 1 < bsz:
                    w[:length] += 1j * v[2 * pair + 1, c]
                zbuf[local * m:(local + 1) * m] = pass1(w, tb, n_in, m)
            # pass 2: mode_rows with the launch.hpp mapping
            rows_per_seq = m
            ppc = pairs if c_n > 1 or p_n == pairs else p_n
            spec = kspec[h0:].reshape(-1, n_in)
            for item in range(items * m):
                srow = (item // (rows_per_seq * ppc)) * rows_per_seq + item % rows_per_seq
                zbuf[item] = np.fft.ifft(np.fft.fft(zbuf[item]) * spec[srow])
            # pass 3
            for local in range(items):
                item = h0 * pairs + p0 + local
                c, pair = divmod(item, pairs)
                wout = pass3(zbuf[local * m:(local + 1) * m], tb, n_in, m)[:length]
                ga = og[2 * pair, c] if og is not None else 1.0
                y[2 * pair, c] = wout.real * ga
                if 2 * pair + 1 < bsz:
                    gb = og[2 * pair + 1, c] if og is not None else 1.0
                    y[2 * pair + 1, c] = wout.imag * gb
    return y


def reference(u, k, ig, og, n):
    bsz, h, length = u.shape
    v = (u * (ig if ig is not None else 1.0)).astype(np.float64)
    vp = np.zeros((bsz, h, n))
    vp[:, :, :length] = v
    kp = np.zeros((h, n))
    kp[:, :k.shape[1]] = k
    z = np.fft.ifft(np.fft.fft(vp, axis=-1) * np.fft.fft(kp, axis=-1)[None], axis=-1).real[:, :, :length]
    return z * (og if og is not None else 1.0)


def check_outer_transform(n, n_in, rng):
    """Pass 1 against numpy.fft (four-step definition) and pass 3 ∘ pass 1 = identity."""
    m = n // n_in
    tb = Tables(n, m)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    z = pass1(x, tb, n_in, m)
    a = x.astype(np.complex128).reshape(m, n_in)
    ref = np.fft.fft(a, axis=0) * np.exp(-2j * np.pi * np.outer(np.arange(m), np.arange(n_in)) / n)
    e1 = np.linalg.norm(z - ref) / np.linalg.norm(ref)
    # the full DFT: X[k1 + M·k2] = FFT_{N_in}(Z[k1])[k2]
    full = np.fft.fft(z.astype(np.complex128), axis=1).T.reshape(-1)
    e2 = np.linalg.norm(full - np.fft.fft(x.astype(np.complex128))) / np.linalg.norm(full)
    back = pass3(z, tb, n_in, m)
    e3 = np.linalg.norm(back - x) / np.linalg.norm(x)
    return max(e1, e2, e3)


def main():
    rng = np.random.default_rng(1)
    ok = True
    # Every outer size, both kernels, against numpy.fft.
    for n, n_in in [(8192, 4096), (8192, 2048), (8192, 1024), (8192, 512), (8192, 256), (16384, 256),
                    (32768, 256), (65536, 256), (65536, 4096), (32768, 1024), (65536, 16384)]:
        err = check_outer_transform(n, n_in, rng)
        good = err < 2e-6
        ok &= bool(good)
        print(f"outer DFT N={n:6d} N_in={n_in:5d} M={n // n_in:3d}: rel-L2 {err:.2e} {'ok' if good else 'FAIL'}")
    cases = [
        # n, n_in, B, H, L, K, gated, chunk budget (items); N_in ≥ 8192 / M as the plan requires
        (8192, 4096, 3, 2, 8192, 8192, True, 2),    # M = 2
        (8192, 2048, 3, 2, 4095, 4096, True, 3),    # M = 4, odd L
        (8192, 512, 2, 3, 8192, 100, True, 1),      # M = 16
        (16384, 2048, 5, 2, 3000, 2048, True, 4),   # M = 8, L < N/2: zero rows
        (8192, 256, 1, 2, 8192, 8192, True, 100),   # M = 32: P = 2
        (16384, 256, 3, 1, 8000, 8192, False, 1),   # M = 64: P = 4
        (32768, 256, 1, 1, 32768, 32768, True, 1),  # M = 128: P = 8
        (65536, 256, 1, 1, 32767, 32768, True, 1),  # M = 256: P = 16, odd L
    ]
    for n, n_in, bsz, h, length, kl, gated, budget in cases:
        u = rng.standard_normal((bsz, h, length)).astype(np.float32)
        k = (rng.standard_normal((h, kl)) / np.sqrt(kl)).astype(np.float32)
        ig = rng.standard_normal(u.shape).astype(np.float32) if gated else None
        og = rng.standard_normal(u.shape).astype(np.float32) if gated else None
        y = multipass_forward(u, k, ig, og, n, n_in, budget)
        ref = reference(u, k, ig, og, n)
        err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
        good = np.isfinite(err) and err < 1e-5
        ok &= bool(good)
        print(f"N={n:6d} N_in={n_in:5d} M={n // n_in:3d} B={bsz} H={h} L={length} K={kl} "
              f"gated={gated} chunk={budget}: rel-L2 {err:.2e} {'ok' if good else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
