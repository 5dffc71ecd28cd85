#!/usr/bin/env python3
"""NumPy model of the CUDA multi-pass forward and backward (src/cuda/multipass.cu).

Checks, on the CPU, the index / twiddle / scale conventions of the three passes
against a direct circular convolution:

  pass 1 (outer_forward):  Z[k1][n2] = W_N^(n2·k1) · Σ_n1 A[n1][n2] · W_M^(n1·k1)
                           (the M-point column DFT done exactly as the kernel does
                           it: Stockham stages of radix ≤ 16 on a [M][TN] tile,
                           twiddles sincospi(∓2·r·k/(Ns·R)), column twiddle
                           sincospi(−2·e/N) with e = n2·k1)
  pass 2 (mode_rows):      row ← IFFT_{N_in}(FFT_{N_in}(row) · Kspec_row) (numpy FFTs;
                           the fused kernel's visit order is modelled by a fixed
                           random permutation of each spectrum row: every
                           spectrum-domain buffer uses it, nothing un-permutes)
  pass 3 (outer_inverse):  w'[N_in·n1 + n2] = (1/M) Σ_k1 W_M^(−n1·k1) · conj(W_N^(n2·k1)) · Z[k1][n2]

The filter's spectrum rows: pass 1 applied to k (real, one "pair" per channel),
then the inner FFT of each row (mode_rows_transform).

Also replays the host's chunking (channels × pairs) so the item → spectrum-row
mapping of mode_rows (rows_per_seq = M, pairs_per_channel) is exercised.

Backward (MultipassExecutor::backward), against a direct fp64 computation of
DESIGN §1's gradients:

  A  the z-convolution conv(u, in_gate, K) → d_out_gate = dy ⊙ z; its rows pass
     emits W_v (mode_rows with spectrum_out), or pass 1 + mode_rows_transform
     alone when d_out_gate is not wanted;
  B  the correlation conv(dy, out_gate, conj K) → du = in_gate ⊙ dv and the
     second output d_in_gate = u ⊙ dv; emits W_dz;
  dk acc[c] (=, then += for later pair chunks) Σ_p conj(W_v)·W_dz, elementwise in
     the multi-pass layout (the sum mode_rows_dk and launch_partial_sum form
     group by group); mode_rows_inverse on acc's C·M rows
     in place (visit order in, natural order out, 1/N_in); outer_inverse with
     B = 1, H channels, L = K, pairs_per_channel = 1, item_offset = h0 (pair_rows
     then gives row h·K); dk[h][s] = Re w'[s] for s < K.

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
        most = max(1, min(h, budget // per_channel))
        ch = -(-h // -(-h // most))
        return ch, pairs
    most = max(1, budget // item_bytes)
    return 1, -(-pairs // -(-pairs // most))


def chunks(h, pairs, ch, pp):
    """(h0, C, p0, P) in the executor's order: channel chunks, then pair chunks."""
    for h0 in range(0, h, ch):
        for p0 in range(0, pairs, pp):
            yield h0, min(ch, h - h0), p0, min(pp, pairs - p0)


def pair_rows(batch, channels, seq_len, ppc, item):
    """multipass.cu pair_rows: element offsets of the pair's rows (b = -1: absent)."""
    h, pair = divmod(item, ppc)
    a = (2 * pair * channels + h) * seq_len
    b = ((2 * pair + 1) * channels + h) * seq_len if 2 * pair + 1 < batch else -1
    return a, b


class Inner:
    """The inner fused kernel's row modes. `perm` stands for the visit order: the
    spectrum of a row is stored as fft(row)[perm]."""

    def __init__(self, n_in, rng):
        self.n_in = n_in
        self.perm = rng.permutation(n_in)

    def spectrum(self, row):  # mode_rows_transform, and mode_rows' spectrum_out
        return np.fft.fft(row)[self.perm].astype(np.complex64)

    def natural(self, spec):  # visit order -> natural order
        x = np.empty(self.n_in, np.complex64)
        x[self.perm] = spec
        return x

    def rows_inverse(self, spec):  # mode_rows_inverse: visit order in, natural out, 1/N_in
        return np.fft.ifft(self.natural(spec)).astype(np.complex64)

    def rows(self, row, kspec_row, conj):  # mode_rows
        k = np.conj(kspec_row) if conj else kspec_row
        return self.rows_inverse(self.spectrum(row) * k)


def filter_spectrum(k, n, n_in, inner):
    """compute_spectrum: pass 1 on k (B = 1, L = K), then the rows transform."""
    h, kl = k.shape
    m = n // n_in
    kspec = np.empty((h * m, n_in), np.complex64)
    for c in range(h):
        kp = np.zeros(n, np.complex64)
        kp[:kl] = k[c]
        zk = pass1(kp, n, n_in, m)
        for k1 in range(m):
            kspec[c * m + k1] = inner.spectrum(zk[k1])
    return kspec


def convolve(conv, shape, h0, c_n, p0, p_n, n, n_in, kspec, inner, w_out):
    """MultipassExecutor::convolve for one chunk. conv: dict with x, gate_in, conj,
    outputs [(y, gate_out)] (flat arrays, None = absent / not wanted)."""
    bsz, h, length = shape
    m = n // n_in
    pairs = (bsz + 1) // 2
    items = c_n * p_n
    item_offset = h0 * pairs + p0
    outputs = [(y, g) for y, g in conv["outputs"] if y is not None]
    if not outputs and w_out is None:
        return
    x, gin = conv["x"], conv["gate_in"]
    z = np.empty((items * m, n_in), np.complex64)
    for local in range(items):  # pass 1
        ra, rb = pair_rows(bsz, h, length, pairs, item_offset + local)
        w = np.zeros(n, np.complex64)
        w[:length] = x[ra:ra + length] * (gin[ra:ra + length] if gin is not None else 1)
        if rb >= 0:
            w[:length] += 1j * (x[rb:rb + length] * (gin[rb:rb + length] if gin is not None else 1))
        z[local * m:(local + 1) * m] = pass1(w, n, n_in, m)
    # pass 2 in launch order (item_offset 0): item (c·M + r)·P + p takes Z row
    # (c·P + p)·M + r and spectrum row c·M + r; spectrum_out by Z row
    ppc = p_n  # FusedParams::pairs_per_channel = P (= pairs when C > 1)
    spec = kspec[h0 * m:] if outputs else None  # p.spectrum = kspec + h0·N
    visited = np.zeros(items * m, bool)
    for item in range(items * m):
        c, r, p = item // (m * ppc), item // ppc % m, item % ppc
        row, srow = (c * ppc + p) * m + r, c * m + r
        visited[row] = True
        if w_out is not None:
            w_out[row] = inner.spectrum(z[row])
        if outputs:
            z[row] = inner.rows(z[row], spec[srow], conv["conj"])
    assert visited.all()  # the launch order is a permutation of the rows
    if not outputs:
        return
    for local in range(items):  # pass 3
        ra, rb = pair_rows(bsz, h, length, pairs, item_offset + local)
        wout = pass3(z[local * m:(local + 1) * m], n, n_in, m)[:length]
        for y, g in outputs:
            y[ra:ra + length] = wout.real * (g[ra:ra + length] if g is not None else 1)
            if rb >= 0:
                y[rb:rb + length] = wout.imag * (g[rb:rb + length] if g is not None else 1)


def multipass_forward(u, k, ig, og, n, n_in, budget_items, inner):
    bsz, h, length = u.shape
    m = n // n_in
    pairs = (bsz + 1) // 2
    kspec = filter_spectrum(k, n, n_in, inner)
    flat = lambda a: None if a is None else a.reshape(-1)
    y = np.full(u.size, np.nan, np.float32)
    conv = dict(x=flat(u), gate_in=flat(ig), conj=False, outputs=[(y, flat(og))])
    ch, pp = chunking(h, pairs, n * 8, budget_items * n * 8)
    for h0, c_n, p0, p_n in chunks(h, pairs, ch, pp):
        convolve(conv, u.shape, h0, c_n, p0, p_n, n, n_in, kspec, inner, None)
    return y.reshape(u.shape)


def dk_inverse(acc, h0, c_n, h, kl, n, n_in, inner, dk):
    """mode_rows_inverse on acc's C·M rows in place, then outer_inverse with B = 1,
    channels = H, L = K, pairs_per_channel = 1, item_offset = h0, fp32 out."""
    m = n // n_in
    for row in range(c_n * m):
        acc[row] = inner.rows_inverse(acc[row])
    for local in range(c_n):
        ra, rb = pair_rows(1, h, kl, 1, h0 + local)
        assert ra == (h0 + local) * kl and rb == -1
        wout = pass3(acc[local * m:(local + 1) * m], n, n_in, m)[:kl]
        dk[ra:ra + kl] = wout.real


def multipass_backward(u, k, ig, og, dy, n, n_in, budget_items, inner, want):
    """MultipassExecutor::backward; want: set of 'du', 'dk', 'dig', 'dog'."""
    bsz, h, length = u.shape
    kl = k.shape[1]
    m = n // n_in
    pairs = (bsz + 1) // 2
    flat = lambda a: None if a is None else a.reshape(-1)
    out = {name: np.full(u.size, np.nan, np.float32) for name in ("du", "dig", "dog")}
    out["dk"] = np.full(h * kl, np.nan, np.float32)
    du = out["du"] if "du" in want else None
    dig = out["dig"] if "dig" in want and ig is not None else None
    dog = out["dog"] if "dog" in want and og is not None else None
    dk = out["dk"] if "dk" in want else None
    kspec = filter_spectrum(k, n, n_in, inner) if (du is not None or dig is not None or dog is not None) else None
    conv_z = dict(x=flat(u), gate_in=flat(ig), conj=False, outputs=[(dog, flat(dy))])
    conv_dv = dict(x=flat(dy), gate_in=flat(og), conj=True, outputs=[(du, flat(ig)), (dig, flat(u))])
    ch, pp = chunking(h, pairs, n * 8, budget_items * n * 8)
    acc = np.empty((ch * m, n_in), np.complex64)
    for h0, c_n, p0, p_n in chunks(h, pairs, ch, pp):
        items = c_n * p_n
        w_v = np.full((items * m, n_in), np.nan, np.complex64) if dk is not None else None
        w_dz = np.full((items * m, n_in), np.nan, np.complex64) if dk is not None else None
        convolve(conv_z, u.shape, h0, c_n, p0, p_n, n, n_in, kspec, inner, w_v)
        convolve(conv_dv, u.shape, h0, c_n, p0, p_n, n, n_in, kspec, inner, w_dz)
        if dk is not None:
            # the dk sum: acc[c][e] (=, or +=) Σ_p conj(w_v[c·P + p][e]) · w_dz[c·P + p][e], p ascending
            wv = w_v.reshape(c_n, p_n, n)
            wd = w_dz.reshape(c_n, p_n, n)
            a = acc[:c_n * m].reshape(c_n, n)
            if p0 == 0:
                a[:] = 0
            for p in range(p_n):
                a += np.conj(wv[:, p]) * wd[:, p]
        if dk is not None and p0 + p_n == pairs:  # the channel chunk is complete
            dk_inverse(acc, h0, c_n, h, kl, n, n_in, inner, dk)
    return {name: out[name].reshape(u.shape if name != "dk" else (h, kl)) for name in out}


def reference(u, k, ig, og, n):
    bsz, h, length = u.shape
    v = (u * (ig if ig is not None else 1.0)).astype(np.float64)
    vp = np.zeros((bsz, h, n))
    vp[:, :, :length] = v
    kp = np.zeros((h, n))
    kp[:, :k.shape[1]] = k
    z = np.fft.ifft(np.fft.fft(vp, axis=-1) * np.fft.fft(kp, axis=-1)[None], axis=-1).real[:, :, :length]
    return z * (og if og is not None else 1.0)


def reference_backward(u, k, ig, og, dy, n):
    """DESIGN §1 in fp64, directly: dv by correlation, dk = Σ_b IFFT(conj(V_b)·DZ_b)."""
    bsz, h, length = u.shape
    kl = k.shape[1]
    pad = lambda a: np.concatenate([a, np.zeros(a.shape[:-1] + (n - a.shape[-1],))], axis=-1)
    v = u.astype(np.float64) * (ig if ig is not None else 1.0)
    dz = dy.astype(np.float64) * (og if og is not None else 1.0)
    V, DZ, K = np.fft.fft(pad(v)), np.fft.fft(pad(dz)), np.fft.fft(pad(k.astype(np.float64)))
    z = np.fft.ifft(V * K[None]).real[..., :length]
    dv = np.fft.ifft(DZ * np.conj(K)[None]).real[..., :length]
    dk = np.fft.ifft((np.conj(V) * DZ).sum(axis=0)).real[..., :kl]
    r = dict(du=dv * (ig if ig is not None else 1.0), dk=dk, dog=dy * z)
    r["dig"] = dv * u
    return r


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


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
        inner = Inner(n_in, rng)
        u = rng.standard_normal((bsz, h, length)).astype(np.float32)
        k = (rng.standard_normal((h, kl)) / np.sqrt(kl)).astype(np.float32)
        ig = rng.standard_normal(u.shape).astype(np.float32) if gated else None
        og = rng.standard_normal(u.shape).astype(np.float32) if gated else None
        y = multipass_forward(u, k, ig, og, n, n_in, budget, inner)
        ref = reference(u, k, ig, og, n)
        err = rel(y, ref)
        good = np.isfinite(err) and err < 1e-5
        ok &= bool(good)
        print(f"forward  N={n:6d} N_in={n_in:5d} M={n // n_in:3d} B={bsz} H={h} L={length} K={kl} "
              f"gated={gated} chunk={budget}: rel-L2 {err:.2e} {'ok' if good else 'FAIL'}")

    everything = {"du", "dk", "dig", "dog"}
    bwd_cases = [
        # n, n_in, B, H, L, K, gated, chunk budget (items), wanted
        (512, 256, 3, 2, 512, 512, True, 2, everything),          # channel chunks of 1 (2 pairs each)
        (1024, 256, 5, 3, 512, 300, True, 2, everything),         # pair chunks of 2, 1 (accumulated), odd B
        (1024, 256, 4, 3, 1000, 1024, False, 100, everything),    # one chunk, ungated, K > N_in
        (2048, 512, 7, 2, 1500, 777, True, 3, {"dk"}),            # dk alone: transforms only, odd K
        (2048, 512, 6, 2, 2048, 2048, True, 1, {"dk", "dig"}),    # one pair per chunk; second output alone
        (4096, 256, 3, 3, 4096, 129, True, 4, {"dk", "dog"}),     # M = 16
        (8192, 256, 2, 1, 4096, 4096, True, 1, everything),       # M = 32: radices 16, 2
        (16384, 256, 3, 1, 8000, 8192, False, 1, everything),     # M = 64: 16, 4
        (32768, 256, 1, 1, 16384, 16384, True, 1, everything),    # M = 128: 16, 8
        (65536, 256, 1, 1, 65536, 65536, False, 1, {"dk"}),       # M = 256: 16, 16
    ]
    for n, n_in, bsz, h, length, kl, gated, budget, want in bwd_cases:
        inner = Inner(n_in, rng)
        u = rng.standard_normal((bsz, h, length)).astype(np.float32)
        dy = rng.standard_normal((bsz, h, length)).astype(np.float32)
        k = (rng.standard_normal((h, kl)) / np.sqrt(kl)).astype(np.float32)
        ig = rng.standard_normal(u.shape).astype(np.float32) if gated else None
        og = rng.standard_normal(u.shape).astype(np.float32) if gated else None
        got = multipass_backward(u, k, ig, og, dy, n, n_in, budget, inner, want)
        ref = reference_backward(u, k, ig, og, dy, n)
        pairs = (bsz + 1) // 2
        ch, pp = chunking(h, pairs, n * 8, budget * n * 8)
        msgs = []
        for name in ("du", "dk", "dig", "dog"):
            exists = name in ("du", "dk") or gated
            if name in want and exists:
                err = rel(got[name], ref[name])
                good = np.isfinite(err) and err < 1e-5
                msgs.append(f"{name} {err:.1e}")
            else:  # not wanted (or no such gate): untouched
                good = bool(np.isnan(got[name]).all())
                msgs.append(f"{name} untouched")
            ok &= bool(good)
            if not good:
                msgs[-1] += " FAIL"
        if "dk" in want:
            # The fp32 sum runs pair by pair in increasing order whatever the chunks
            # (a later pair chunk continues from acc), so dk's bits do not depend
            # on the chunking either.
            one = multipass_backward(u, k, ig, og, dy, n, n_in, 10**6, inner, {"dk"})["dk"]
            same = np.array_equal(one.view(np.uint32), got["dk"].view(np.uint32))
            ok &= bool(same)
            msgs.append("dk bits = one chunk's" if same else "dk bits differ from one chunk's FAIL")
        print(f"backward N={n:6d} N_in={n_in:5d} M={n // n_in:3d} B={bsz} H={h} L={length} K={kl} "
              f"gated={gated} chunks {ch}ch x {pp}p: " + ", ".join(msgs))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
