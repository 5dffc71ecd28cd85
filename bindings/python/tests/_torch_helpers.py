"""Helpers shared by the PyTorch tests (test_torch, test_partial_torch,
test_conv1d_torch): the DESIGN §3 rule on tensors, random FFT-convolution
operands, the float64 torch.fft reference, the float32 autograd and torch.compile
checks, and the custom-op and CUDA skip markers. Kept in one place so that plain
and partial plans are held to exactly the same checks.
Import it only after ``pytest.importorskip("torch")``: it imports torch."""
import pytest
import torch

import flashfftconv as ffc
from flashfftconv import FlashFFTConv, FlashFFTConvError, Status
from flashfftconv import pytorch as fpt

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
GRAD_NAMES = ("du", "dk", "d_in_gate", "d_out_gate")

needs_custom_op = pytest.mark.skipif(not fpt.HAS_CUSTOM_OP, reason="torch.library.custom_op needs PyTorch >= 2.4")
cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and ffc.backend_available("cuda")),
    reason="needs a CUDA device and a library built with the CUDA backend",
)


def rel_l2(x, ref):
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    return ((x - ref).norm() / ref.norm().clamp_min(1e-300)).item()


def tolerance(ref, dtype):
    """DESIGN §3: 2 x the error of rounding the exact result to dtype (fp32: a floor)."""
    tol = 2 * rel_l2(ref.to(dtype), ref)
    return max(tol, 2e-6) if dtype == torch.float32 else tol


def d(t):
    """t as a detached float64 CPU tensor (None stays None): what the references take."""
    return None if t is None else t.detach().double().cpu()


def make(B, H, L, K, dtype, device="cpu", gates=True, seed=0):
    """Random (u, k, in_gate, out_gate), u and the gates in dtype, k float32; the
    gates None without gates."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, H, L, generator=g).to(dtype)
    k = (torch.randn(H, K, generator=g) / K**0.5).float()
    ig = torch.randn(B, H, L, generator=g).to(dtype) if gates else None
    og = torch.randn(B, H, L, generator=g).to(dtype) if gates else None
    mv = lambda t: None if t is None else t.to(device)  # noqa: E731
    return mv(u), mv(k), mv(ig), mv(og)


def ref_conv(u, k, ig, og, n):
    """Differentiable torch.fft reference of DESIGN §1 (used in float64)."""
    L = u.shape[-1]
    v = u if ig is None else ig * u
    z = torch.fft.irfft(torch.fft.rfft(v, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :L]
    return z if og is None else og * z


def check_autograd_float32(inputs, N, use_function, reference, partial=False, freq_mask=None):
    """The gradients of <y, w> for float32 inputs (u, k, in_gate, out_gate; gates may be
    None), through FFTConvFunction or FlashFFTConv (the custom op), on a plan with the
    given partial and freq_mask, against float64 autograd through
    reference(u, k, in_gate, out_gate)."""
    present = [t for t in inputs if t is not None]
    leaves = [t.clone().requires_grad_(True) for t in present]
    leaves64 = [t.detach().double().requires_grad_(True) for t in present]
    # The gates come both or neither: absent ones stay None at the end of the arguments.
    pad = [None] * (len(inputs) - len(present))
    args, args64 = leaves + pad, leaves64 + pad
    B, H, L = inputs[0].shape
    w = torch.randn(B, H, L, dtype=torch.float64)

    if use_function:
        y = fpt.FFTConvFunction.apply(*args, N, partial, freq_mask)
    else:
        y = FlashFFTConv(N, partial=partial, freq_mask=freq_mask)(*args)
    (y.double() * w).sum().backward()
    (reference(*args64) * w).sum().backward()
    for name, a, b in zip(GRAD_NAMES, leaves, leaves64):
        assert a.grad is not None, name
        assert a.grad.dtype == a.dtype
        assert rel_l2(a.grad, b.grad) < 1e-5, name


def check_compile_has_no_graph_break(make_conv, B, H, L, K):
    """A loss through the FlashFFTConv from make_conv() (called after resetting dynamo)
    traces with no graph break, compiles with fullgraph=True and matches eager in loss
    and dk."""
    torch._dynamo.reset()
    conv = make_conv()

    def step(u, k, ig, og):
        return (conv(u * 2, k, ig, og) + 1).square().sum()

    u, k, ig, og = make(B, H, L, K, torch.float32)
    k.requires_grad_(True)
    explanation = torch._dynamo.explain(step)(u, k, ig, og)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    # fullgraph=True turns any graph break into an error; aot_eager also traces the
    # backward through the registered fake and autograd formulas.
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    loss = compiled(u, k, ig, og)
    loss.backward()
    k_grad, k.grad = k.grad.clone(), None
    eager = step(u, k, ig, og)
    eager.backward()
    assert torch.allclose(loss, eager, rtol=1e-5)
    assert torch.allclose(k_grad, k.grad, rtol=1e-4, atol=1e-5)


def backward_or_skip(y, dy):
    """y.backward(dy), skipping the test when this library build has no CUDA backward
    yet (the bindings' part is what these tests check)."""
    try:
        y.backward(dy)
    except FlashFFTConvError as e:
        if e.status == Status.ERROR_NOT_SUPPORTED:
            pytest.skip(f"library: {e.message}")
        raise
