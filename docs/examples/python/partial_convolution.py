"""Partial convolution (FFC_PLAN_PARTIAL, library 0.3) with the Python bindings
on the CPU backend: a 4096-tap causal filter over a 100,000-long sequence on a
plan of FFT size N = 16384, which runs overlap-save windows of N (keeping
N - 4096 = 12288 outputs each: the overlap is K - 1 rounded up to 8), checked against a plain plan of N = 131072
(one FFT over the whole sequence) and, on a prefix, against a float64
np.convolve.

    pip install ./bindings/python            # or: PYTHONPATH=bindings/python
    FLASHFFTCONV_LIBRARY=build/libflashfftconv.so python docs/examples/python/partial_convolution.py
"""
import time

import numpy as np

import flashfftconv as ffc

B, H, L, K = 1, 4, 100_000, 4096
rng = np.random.default_rng(0)
u = rng.standard_normal((B, H, L)).astype(np.float32)
in_gate = rng.standard_normal((B, H, L)).astype(np.float32)
# A decaying filter per channel, as in Hyena-style long convolutions; k is float32.
k = (rng.standard_normal((H, K)) * np.exp(-np.arange(K) / 800.0) / 20.0).astype(np.float32)

print("libflashfftconv", ffc.version())
# With partial=True the FFT size follows the kernel: the smallest power of two
# >= max(256, 4K) = 16384 (a plain causal plan would need 131072 here).
assert ffc.default_fft_size(L, K, partial=True) == 16384
assert ffc.default_fft_size(L, K) == 131072

t0 = time.perf_counter()
y_partial = ffc.fftconv(u, k, in_gate, partial=True)  # N = 16384: 9 windows per row
t1 = time.perf_counter()
y_plain = ffc.fftconv(u, k, in_gate, fft_size=131072)  # one FFT of 131072 per row
t2 = time.perf_counter()
print(f"partial plan, N = 16384: {1e3 * (t1 - t0):7.1f} ms   plain plan, N = 131072: {1e3 * (t2 - t1):7.1f} ms")
# describe() states the mode beside the plan's other facts.
print("\n".join(ffc.get_plan(16384, np.float32, "cpu", partial=True).describe().splitlines()[1:3]))

err = np.max(np.abs(y_partial - y_plain))
scale = np.max(np.abs(y_plain))
print(f"max |partial - plain| = {err:.2e} (max |y| = {scale:.2f})")
assert err <= 1e-5 * scale, err

# float64 reference on a prefix: z[t] = sum_{s<K} k[s] v[t - s].
P = 20_000
v = in_gate[0, :, :P].astype(np.float64) * u[0, :, :P]
ref = np.stack([np.convolve(v[h], k[h].astype(np.float64))[:P] for h in range(H)])
rel = np.linalg.norm(y_partial[0, :, :P] - ref) / np.linalg.norm(ref)
print(f"rel-L2 error vs float64 np.convolve on the first {P} positions: {rel:.2e}")
assert rel < 2e-6, rel

# The backward runs in windows too: dk from both plans agrees.
dy = rng.standard_normal((B, H, L)).astype(np.float32)
dk_partial = ffc.fftconv_backward(dy, u, k, in_gate, partial=True, need_du=False).dk
dk_plain = ffc.fftconv_backward(dy, u, k, in_gate, fft_size=131072, need_du=False).dk
dk_err = np.linalg.norm(dk_partial - dk_plain) / np.linalg.norm(dk_plain)
print(f"dk: rel-L2 difference partial vs plain = {dk_err:.2e}")
assert dk_err < 1e-5, dk_err

# A kernel longer than N/2 cannot run in windows: the library says so.
try:
    ffc.fftconv(u, k, fft_size=4096, partial=True)
except ffc.FlashFFTConvError as e:
    print(f"K = {K} on N = 4096: {e.status.name}: {e.message}")
print("ok")
