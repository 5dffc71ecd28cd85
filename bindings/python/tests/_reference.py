"""float64 references for the tests (DESIGN §1 semantics) and the DESIGN §3
precision rule."""
import numpy as np


def f64(x):
    return None if x is None else np.asarray(x, dtype=np.float64)


def forward_ref(u, k, in_gate=None, out_gate=None, n=None):
    """y = out_gate * (circular conv of size n of in_gate*u with k)[:L], in float64."""
    u, k, ig, og = f64(u), f64(k), f64(in_gate), f64(out_gate)
    L, K = u.shape[-1], k.shape[-1]
    n = n or default_n(L, K)
    v = u if ig is None else ig * u
    z = np.fft.irfft(np.fft.rfft(v, n) * np.fft.rfft(k, n), n)[..., :L]
    return z if og is None else og * z


def backward_ref(dy, u, k, in_gate=None, out_gate=None, n=None):
    """(du, dk, d_in_gate, d_out_gate) in float64; gate grads None without the gate."""
    dy, u, k, ig, og = f64(dy), f64(u), f64(k), f64(in_gate), f64(out_gate)
    L, K = u.shape[-1], k.shape[-1]
    n = n or default_n(L, K)
    v = u if ig is None else ig * u
    V, KF = np.fft.rfft(v, n), np.fft.rfft(k, n)
    z = np.fft.irfft(V * KF, n)[..., :L]
    dz = dy if og is None else og * dy
    DZ = np.fft.rfft(dz, n)
    dv = np.fft.irfft(DZ * np.conj(KF), n)[..., :L]          # correlation with k
    dk = np.fft.irfft((DZ * np.conj(V)).sum(axis=0), n)[..., :K]  # correlation with v, summed over batch
    du = dv if ig is None else ig * dv
    d_ig = None if ig is None else u * dv
    d_og = None if og is None else dy * z
    return du, dk, d_ig, d_og


def direct_conv(u, k, n):
    """O(L*K) direct evaluation of z[t] = sum_s k[s] v[(t-s) mod n], t < L (float64)."""
    u, k = f64(u), f64(k)
    L, K = u.shape[-1], k.shape[-1]
    up = np.zeros(u.shape[:-1] + (n,))
    up[..., :L] = u
    z = np.zeros(u.shape)
    for t in range(L):
        for s in range(K):
            z[..., t] += k[..., s] * up[..., (t - s) % n]
    return z


def default_n(L, K):
    n = 256
    while n < L + K - 1:
        n *= 2
    return n


def rel_l2(x, ref):
    x, ref = f64(x), f64(ref)
    den = np.linalg.norm(ref)
    return np.linalg.norm(x - ref) / (den if den > 0 else 1.0)


# The rule is stated for 16-bit outputs. For float32 outputs twice the rounding
# error (~6e-8) is below what any fp32 FFT can reach (each of the ~log2 N stages
# adds about one fp32 epsilon), so fp32 results get this floor instead.
FP32_FLOOR = 2e-6


def tolerance(ref, dtype):
    """2 x the rel-L2 error of correctly rounding the exact result to ``dtype``."""
    rounded = np.asarray(ref, dtype=np.float64).astype(dtype).astype(np.float64)
    tol = 2.0 * rel_l2(rounded, ref)
    if np.dtype(dtype) == np.float32:
        tol = max(tol, FP32_FLOOR)
    return tol


# -- short depthwise convolution (ffc_conv1d_*) -------------------------------------------


def _to_bhl(a, layout):
    return a if layout == "bhl" else np.swapaxes(a, 1, 2)


def conv1d_ref(x, w, bias=None, padding=(0, 0), layout="bhl"):
    """y[b,h,t] = bias[h] + sum_j w[h,j] x[b,h,t+j-left] (x zero outside [0, L)) in float64;
    x and y in ``layout``; w (H, K) or (H, 1, K)."""
    left, right = padding
    x = _to_bhl(f64(x), layout)
    w = f64(w).reshape(x.shape[1], -1)
    K = w.shape[1]
    xp = np.pad(x, ((0, 0), (0, 0), (left, right)))
    n_out = xp.shape[2] - K + 1
    y = np.zeros(x.shape[:2] + (n_out,))
    for j in range(K):
        y += w[None, :, j, None] * xp[:, :, j:j + n_out]
    if bias is not None:
        y += f64(bias)[None, :, None]
    return _to_bhl(y, layout)


def conv1d_backward_ref(dy, x, w, padding=(0, 0), layout="bhl"):
    """(dx, dw (H, K), dbias) of conv1d_ref for upstream gradient dy, in float64."""
    left, right = padding
    x = _to_bhl(f64(x), layout)
    dy = _to_bhl(f64(dy), layout)
    w = f64(w).reshape(x.shape[1], -1)
    K, L = w.shape[1], x.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (left, right)))
    n_out = dy.shape[2]
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for j in range(K):
        dxp[:, :, j:j + n_out] += w[None, :, j, None] * dy
        dw[:, j] = np.einsum("bht,bht->h", dy, xp[:, :, j:j + n_out])
    dx = dxp[:, :, left:left + L]
    return _to_bhl(dx, layout), dw, dy.sum(axis=(0, 2))


def conv1d_loops(x, w, bias, left, right):
    """The header's formula with explicit loops, (B, H, L) only: a check of conv1d_ref."""
    x, w = f64(x), f64(w)
    B, H, L = x.shape
    K = w.shape[1]
    n_out = L + left + right - K + 1
    y = np.zeros((B, H, n_out))
    for b in range(B):
        for h in range(H):
            for t in range(n_out):
                acc = 0.0 if bias is None else float(bias[h])
                for j in range(K):
                    s = t + j - left
                    if 0 <= s < L:
                        acc += w[h, j] * x[b, h, s]
                y[b, h, t] = acc
    return y
