#!/usr/bin/env python3
"""NumPy model of the CUDA multi-pass forward (src/cuda/multipass.cu).

Checks, on the CPU, the index / twiddle / scale conventions of the three passes
against a direct circular convolution:

  pass 1 (outer_forward):  Z[k1][n2] = W_N^(n2·k1) · Σ_n1 A[n1][n2] · W_M^(n1·k1)
                           (the M-point column DFT done exactly as the kernel does
                           it: Stockham stages of radix ≤ 16 on a [M][TN] tile,
                           twiddles sincospi(∓2·r·k/(Ns·R)), column twiddle
                           sincospi(−2·e/N) with e = n2·k1)
  pass 2 (mode_rows):      row ← IFFT_{N_in}(FFT_{N_in}(row) · Kspec_row) (numpy FFTs;
                           the fused kernel's visit order is a permutation that the
                           spectrum and the product share, so natural order is used)
  pass 3 (outer_inverse):  w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) · conj(W_N^(n2·k1)) · Z[k1][n2]

The filter's spectrum rows: pass 1 applied to k (real, one "pair" per channel),
then the inner FFT of each row (mode_rows_transform).

Also replays the host's chunking (channels × pairs) so the item → spectrum-row
mapping of mode_rows (rows_per_seq = M, pairs_per_channel) is exercised.

Run: python3 tests/tools/emulate_multipass.py   (exits non-zero on a mismatch)
"""
import sys

import numpy as np

TILE = 4096  # complex elements per CTA tile (multipass.cu: kTile)


def radices(m):
    """Stockham radices of an M-point DFT, as multipass.cu picks them."""
    out = []
    while m > 1:
        r = 16 if m >= 16 else m
        out.append(r)
        m //= r
    return out


def stockham_columns(x, inverse):
    """x: [M][TN] complex64 tile; DFT along axis 0, kernel's stage order."""
    m = x.shape[0]
    sign = 1.0 if inverse else -1.0
    ns = 1
    data = x.astype(np.complex64)
    for r in radices(m):
        out = np.empty_like(data)
        for j in range(m // r):
            k = j % ns
            v = np.stack([data[j + q * (m // r)] for q in range(r)])  # [R][TN]
            if ns > 1:
                for q in range(r):
                    ang = np.float32(sign * 2.0 * q * k / (ns * r))  # exact in float
                    v[q] = v[q] * np.complex64(np.cos(np.pi * np.float64(ang)) + 1j * np.sin(np.pi * np.float64(ang)))
            # radix-R DFT in registers
            idx = np.arange(r)
            w = np.exp(sign * 2j * np.pi * np.outer(idx, idx) / r).astype(np.complex64)
            v = (w @ v).astype(np.complex64)
            dst = (j // ns) * ns * r + k
            for q in range(r):
                out[dst + q * ns] = v[q]
        data = out
        ns *= r
    return data


def col_twiddle(n, n_in, c0, tn, m, inverse):
    n2 = np.arange(c0, c0 + tn)[None, :]
    k1 = np.arange(m)[:, None]
    e = n2 * k1  # < N, exact
    return np.exp((1 if inverse else -1) * 2j * np.pi * e / n).astype(np.complex64)


def pass1(a_rows, n, n_in, m):
    """a_rows: complex array of length N (the packed, zero-padded sequence)."""
    tn = max(16, TILE // m)
    tn = min(tn, n_in)
    a = a_rows.reshape(m, n_in)
    z = np.empty((m, n_in), np.complex64)
    for c0 in range(0, n_in, tn):
        tile = a[:, c0:c0 + tn]
        x = stockham_columns(tile, False)
        z[:, c0:c0 + tn] = x * col_twiddle(n, n_in, c0, tn, m, False)
    return z


def pass3(z, n, n_in, m):
    tn = min(max(16, TILE // m), n_in)
    out = np.empty((m, n_in), np.complex64)
    for c0 in range(0, n_in, tn):
        tile = z[:, c0:c0 + tn] * col_twiddle(n, n_in, c0, tn, m, True)
        out[:, c0:c0 + tn] = stockham_columns(tile, True) * np.float32(1.0 / m)
    return out.reshape(-1)


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
    pairs = (bsz + 1) // 2
    # filter spectrum rows [H][M][N_in]
    kspec = np.empty((h, m, n_in), np.complex64)
    for c in range(h):
        kp = np.zeros(n, np.complex64)
        kp[:kl] = k[c]
        zk = pass1(kp, n, n_in, m)
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
                zbuf[local * m:(local + 1) * m] = pass1(w, n, n_in, m)
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
                wout = pass3(zbuf[local * m:(local + 1) * m], n, n_in, m)[:length]
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


def main():
    rng = np.random.default_rng(1)
    ok = True
    cases = [
        # n, n_in, B, H, L, K, gated, chunk budget (items)
        (512, 256, 3, 2, 512, 512, True, 2),
        (1024, 256, 3, 2, 512, 512, False, 3),
        (4096, 256, 2, 3, 4096, 100, True, 1),
        (4096, 1024, 5, 2, 2000, 2048, True, 4),
        (8192, 256, 1, 2, 8192, 8192, True, 100),   # M = 32: radices 16, 2
        (16384, 256, 3, 1, 8000, 8192, False, 1),   # M = 64: 16, 4
        (32768, 256, 1, 1, 32768, 32768, True, 1),  # M = 128: 16, 8
        (65536, 256, 1, 1, 32768, 32768, True, 1),  # M = 256: 16, 16
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
