"""A short depthwise convolution (PyTorch's Conv1d with groups = channels, here
the causal 4-tap filter of Mamba / H3 / Hyena blocks) with the Python bindings on
the CPU backend, checked against a direct evaluation; then its gradients, and the
torch module when torch is installed.

    pip install ./bindings/python            # or: PYTHONPATH=bindings/python
    FLASHFFTCONV_LIBRARY=build/libflashfftconv.so python docs/examples/python/depthwise_conv1d.py
"""
import numpy as np

import flashfftconv as ffc

B, L, H, K = 2, 1000, 64, 4
rng = np.random.default_rng(0)
# (B, L, H): a sequence model's activations, channels innermost; no transposes needed.
x = rng.standard_normal((B, L, H)).astype(np.float16)
weight = (rng.standard_normal((H, K)) / np.sqrt(K)).astype(np.float32)  # (H, K), or PyTorch's (H, 1, K)
bias = rng.standard_normal(H).astype(np.float32)

# padding: an int (both sides, as PyTorch), "valid", "same", "causal" or (left, right).
y = ffc.depthwise_conv1d(x, weight, bias, padding="causal", layout="blh")
print("y:", y.shape, y.dtype)  # (B, L, H) float16: causal keeps L

# Direct evaluation of y[b, t, h] = bias[h] + sum_j w[h, j] x[b, t + j - (K - 1), h], in float64.
xp = np.concatenate([np.zeros((B, K - 1, H)), x.astype(np.float64)], axis=1)
ref = bias + sum(weight[:, j] * xp[:, j:j + L, :] for j in range(K))
err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
print(f"rel-L2 error vs direct evaluation (fp16 output): {err:.2e}")
assert err < 1e-3, err

# Gradients of sum(y * dy); dweight and dbias are float32 and bit-for-bit reproducible.
dy = rng.standard_normal(y.shape).astype(np.float16)
g = ffc.depthwise_conv1d_backward(dy, x, weight, padding="causal", layout="blh")
print("dx:", g.dx.shape, g.dx.dtype, " dweight:", g.dweight.shape, " dbias[:3] =", g.dbias[:3])
dbias_ref = dy.astype(np.float64).sum(axis=(0, 1))
assert np.allclose(g.dbias, dbias_ref, rtol=1e-4, atol=1e-3)

# A plan can also be held directly (the functional API caches one per configuration).
with ffc.Conv1dPlan(K, padding="same", dtype="fp32", layout="bhl", backend="cpu") as plan:
    print(plan, "L_out for L = 1000:", plan.output_length(1000))

# Errors carry the library's status and message.
try:
    ffc.depthwise_conv1d(x, weight, bias, padding=K, layout="blh")  # a side may have at most K - 1 zeros
except ffc.FlashFFTConvError as e:
    print(f"padding {K}: {e.status.name}: {e.message}")

try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    # nn.Conv1d(H, H, K, groups=H, padding=...) with the library's forward and backward.
    conv = ffc.FlashDepthwiseConv1d(H, K, padding="causal", layout="blh")
    xt = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    conv(xt).square().sum().backward()
    print("torch: weight.grad", tuple(conv.weight.grad.shape), "x.grad", tuple(xt.grad.shape))
print("ok")
