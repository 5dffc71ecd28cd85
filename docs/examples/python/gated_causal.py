"""A gated causal convolution with the Python bindings on the CPU backend
(NumPy arrays), checked against a direct convolution.

    pip install ./bindings/python            # or: PYTHONPATH=bindings/python
    FLASHFFTCONV_LIBRARY=build/libflashfftconv.so python docs/examples/python/gated_causal.py

The same call takes torch tensors or CuPy arrays (CUDA arrays run on the CUDA
backend, on the framework's current stream); see bindings/python/README.md.
"""
import numpy as np

import flashfftconv as ffc

B, H, L = 2, 4, 1000
rng = np.random.default_rng(0)
u = rng.standard_normal((B, H, L)).astype(np.float16)
in_gate = rng.standard_normal((B, H, L)).astype(np.float16)
out_gate = rng.standard_normal((B, H, L)).astype(np.float16)
# A decaying filter per channel, as in Hyena-style long convolutions; k is float32.
k = (np.exp(-np.arange(L) / (50.0 * np.arange(1, H + 1)[:, None])) / 20.0).astype(np.float32)

print("libflashfftconv", ffc.version(), ffc.build_info())

# fft_size defaults to the smallest power of two >= L + K - 1 (here 2048): causal.
y = ffc.fftconv(u, k, in_gate, out_gate)
print("plan:", ffc.get_plan(2048, np.float16, "cpu").info())

# Direct causal convolution of one (batch, channel) row, in float64.
b, h = 1, 2
v = in_gate[b, h].astype(np.float64) * u[b, h]
z = np.array([np.dot(k[h, : t + 1][::-1].astype(np.float64), v[: t + 1]) for t in range(L)])
ref = out_gate[b, h] * z
err = np.linalg.norm(y[b, h] - ref) / np.linalg.norm(ref)
print(f"rel-L2 error vs direct convolution (fp16 output): {err:.2e}")
assert err < 1e-3, err

# Gradients of sum(y * dy): only what is asked for is computed.
dy = np.ones_like(u)
grads = ffc.fftconv_backward(dy, u, k, in_gate, out_gate, need_du=False)
print("dk[0, :3] =", grads.dk[0, :3], " d_in_gate:", grads.d_in_gate.shape, " du:", grads.du)

# Errors carry the library's status and message.
try:
    ffc.fftconv(u, k, fft_size=512)
except ffc.FlashFFTConvError as e:
    print(f"fft_size 512 < L: {e.status.name}: {e.message}")
print("ok")
