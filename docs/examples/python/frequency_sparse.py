"""Frequency-sparse convolution (freq_mask, library 0.4) with the Python bindings
on the CPU backend: a gated causal convolution whose filter spectrum keeps only
some bins, built with freq_block_mask, checked against a float64 NumPy oracle

    y = out_gate * irfft(rfft(in_gate * u, N) * rfft(k, N) * M, N)[:L],   M[f] = mask[f % G] != 0,

for the forward pass and dk; then the library's refusal of an asymmetric mask.

    pip install ./bindings/python            # or: PYTHONPATH=bindings/python
    FLASHFFTCONV_LIBRARY=build/libflashfftconv.so python docs/examples/python/frequency_sparse.py
"""
import numpy as np

import flashfftconv as ffc

B, H, L, K = 2, 8, 3000, 3000
N = ffc.default_fft_size(L, K)  # 8192: the causal convolution
rng = np.random.default_rng(0)
u = rng.standard_normal((B, H, L)).astype(np.float32)
in_gate = rng.standard_normal((B, H, L)).astype(np.float32)
out_gate = rng.standard_normal((B, H, L)).astype(np.float32)
k = (rng.standard_normal((H, K)) * np.exp(-np.arange(K) / 500.0) / 20.0).astype(np.float32)
print("libflashfftconv", ffc.version(), f"  N = {N}")


def oracle(u, k, in_gate, out_gate, mask, dy=None):
    """y (and dk for upstream dy) of the masked convolution in float64."""
    u, k, in_gate, out_gate = (a.astype(np.float64) for a in (u, k, in_gate, out_gate))
    M = (np.asarray(mask) != 0)[np.arange(N // 2 + 1) % len(mask)]
    V = np.fft.rfft(in_gate * u, N)
    KF = np.fft.rfft(k, N) * M
    y = out_gate * np.fft.irfft(V * KF, N)[..., :L]
    if dy is None:
        return y
    DZ = np.fft.rfft(out_gate * dy, N)
    dk = np.fft.irfft(M * (DZ * np.conj(V)).sum(axis=0), N)[..., :K]
    return y, dk


def rel_l2(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


# Masks of G = M blocks, M the outer factor of the plan's Monarch decomposition
# N = M * N_in: residue r of f mod M is row r of the spectrum, so each row is
# kept or dropped whole (on a multi-pass CUDA plan the dropped rows' inner
# convolutions are skipped; the CPU backend zeroes them). freq_block_mask keeps
# the residues nearest 0 on both sides, so the mask is symmetric by construction.
M = ffc.get_plan(N, "fp32", "cpu").info().factors[0]
for kept in (M // 2 + 1, M // 4, M // 16, 1):
    mask = ffc.freq_block_mask(M, kept)
    y = ffc.fftconv(u, k, in_gate, out_gate, freq_mask=mask)
    err = rel_l2(y, oracle(u, k, in_gate, out_gate, mask))
    print(f"G = {M}, keeping {int(mask.sum()):2d} of {M} residues ({100 * mask.mean():5.1f} % of the bins): "
          f"rel-L2 error vs float64 = {err:.2e}")
    assert err < 2e-6, err

# A low-pass filter: G = N keeps the lowest N / 32 frequencies (and their mirrors).
lowpass = ffc.freq_block_mask(N, N // 32)
dy = rng.standard_normal((B, H, L)).astype(np.float32)
y = ffc.fftconv(u, k, in_gate, out_gate, freq_mask=lowpass)
g = ffc.fftconv_backward(dy, u, k, in_gate, out_gate, freq_mask=lowpass, need_du=False)
y_ref, dk_ref = oracle(u, k, in_gate, out_gate, lowpass, dy)
print(f"low-pass (G = N = {N}, {int(lowpass.sum())} bins): y rel-L2 {rel_l2(y, y_ref):.2e}, "
      f"dk rel-L2 {rel_l2(g.dk, dk_ref):.2e}")
assert rel_l2(y, y_ref) < 2e-6 and rel_l2(g.dk, dk_ref) < 2e-6

# The same in fp16: within twice the error of rounding the exact result to fp16.
u16, ig16, og16 = (a.astype(np.float16) for a in (u, in_gate, out_gate))
y16 = ffc.fftconv(u16, k, ig16, og16, freq_mask=lowpass).astype(np.float64)
y16_ref = oracle(u16, k, ig16, og16, lowpass)
bound = 2 * rel_l2(y16_ref.astype(np.float16).astype(np.float64), y16_ref)
print(f"fp16 low-pass: rel-L2 {rel_l2(y16, y16_ref):.2e} (bound {bound:.2e})")
assert rel_l2(y16, y16_ref) <= bound

# describe() states the mode.
print("\n".join(ffc.get_plan(N, "fp32", "cpu", freq_mask=lowpass).describe().splitlines()[1:3]))

# A mask must be symmetric (bin j kept exactly when bin G - j is): the library says so.
try:
    ffc.fftconv(u, k, freq_mask=[1, 1, 0, 0])
except ffc.FlashFFTConvError as e:
    print(f"asymmetric mask: {e.status.name}: {e.message}")
print("ok")
