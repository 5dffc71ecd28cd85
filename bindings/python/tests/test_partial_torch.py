"""Partial convolution (FFC_PLAN_PARTIAL) through the PyTorch integration: the
module, the autograd.Function and the custom op with partial=True against a
float64 torch.fft reference of the causal linear convolution (an FFT long
enough never to wrap, so independent of the library's overlap-save windows);
opcheck and torch.compile with the extended schema; CUDA tensors when present."""
import pytest

torch = pytest.importorskip("torch")

import flashfftconv as ffc  # noqa: E402
from flashfftconv import FlashFFTConv, FlashFFTConvError, Status  # noqa: E402
from flashfftconv import pytorch as fpt  # noqa: E402

from _torch_helpers import DTYPES, GRAD_NAMES, backward_or_skip, check_autograd_float32, cuda, d, make  # noqa: E402
from _torch_helpers import check_compile_has_no_graph_break, needs_custom_op, ref_conv, rel_l2, tolerance  # noqa: E402


def linear_ref(u, k, ig, og):
    """Causal linear convolution of DESIGN §1 (used in float64): the FFT reference
    with a size >= L + K - 1, which never wraps."""
    L, K = u.shape[-1], k.shape[-1]
    return ref_conv(u, k, ig, og, 1 << (L + K - 2).bit_length())


def test_reference_is_the_linear_convolution():
    u, k, _, _ = make(1, 2, 50, 7, torch.float64, gates=False)
    k = k.double()
    direct = torch.zeros_like(u)
    for t in range(50):
        for s in range(min(7, t + 1)):
            direct[..., t] += k[:, s] * u[..., t - s]
    assert rel_l2(linear_ref(u, k, None, None), direct) < 1e-13


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("gates", [False, True])
@pytest.mark.parametrize("L,K", [(1000, 5), (2049, 128), (777, 1)])
def test_module_partial_forward_cpu(dtype, gates, L, K):
    u, k, ig, og = make(3, 2, L, K, dtype, gates=gates, seed=L + K)
    conv = FlashFFTConv(256, dtype=torch.bfloat16, partial=True)
    assert conv.partial and "partial=True" in repr(conv)
    y = conv(u, k, ig, og)
    assert y.dtype == dtype and y.shape == u.shape
    ref = linear_ref(d(u), d(k), d(ig), d(og))
    assert rel_l2(y, ref) <= tolerance(ref, dtype)


@pytest.mark.parametrize("use_function", [False, True], ids=["custom_op", "autograd_function"])
@pytest.mark.parametrize("gates", [False, True])
def test_partial_autograd_matches_reference(use_function, gates):
    B, H, L, K, N = 3, 2, 1000, 100, 256  # L > N: overlap-save windows in both directions
    inputs = make(B, H, L, K, torch.float32, gates=gates, seed=1)
    check_autograd_float32(inputs, N, use_function, linear_ref, partial=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_partial_autograd_16bit(dtype):
    B, H, L, K, N = 3, 2, 1500, 64, 256
    u, k, ig, og = make(B, H, L, K, dtype, seed=2)
    leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
    ref_leaves = [d(t).requires_grad_(True) for t in (u, k, ig, og)]
    y = fpt.fftconv(*leaves, fft_size=N, partial=True)
    ref = linear_ref(*ref_leaves)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)
    dy = torch.randn(B, H, L).to(dtype)
    y.backward(dy)
    ref.backward(d(dy))
    for name, a, b in zip(GRAD_NAMES, leaves, ref_leaves):
        # dk is float32 (then cast to k's dtype, float32 here), the others the I/O dtype.
        tol = tolerance(b.grad, torch.float32 if name == "dk" else dtype)
        assert rel_l2(a.grad, b.grad) <= tol, name


def test_partial_functional_default_fft_size_and_required_grads():
    u, k, ig, og = make(1, 2, 20000, 300, torch.float32, seed=3)
    k.requires_grad_(True)
    y = fpt.fftconv(u, k, ig, og, partial=True)  # N = 2048 (4K = 1200), not 32768
    assert (2048, ffc.DType.FP32, ffc.Backend.CPU, -1, True) in ffc.cached_plans()
    ref = linear_ref(d(u), d(k), d(ig), d(og))
    assert rel_l2(y, ref) <= tolerance(ref, torch.float32)
    y.sum().backward()
    assert k.grad is not None and u.grad is None
    with pytest.raises(ValueError, match="partial"):
        fpt.fftconv(u[:, :, :10], torch.zeros(2, 2**21 + 1), partial=True)


def test_partial_module_errors():
    u, k, _, _ = make(1, 2, 300, 129, torch.float32, gates=False)
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256, partial=True)(u, k)  # K > N/2 and the call would wrap
    assert ei.value.status == Status.ERROR_INVALID_SHAPE and "N/2" in ei.value.message
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256)(u, k[:, :5])  # a plain plan refuses L > N
    assert ei.value.status == Status.ERROR_INVALID_SHAPE and "seq_len" in ei.value.message
    # Without wrap the partial module is the plain one, bit for bit.
    u, k, ig, og = make(2, 2, 200, 57, torch.float16)
    assert torch.equal(FlashFFTConv(256, partial=True)(u, k, ig, og), FlashFFTConv(256)(u, k, ig, og))


@needs_custom_op
def test_partial_opcheck_and_schema():
    schema = str(torch.ops.flashfftconv.fftconv.default._schema)
    assert "bool partial=False" in schema, schema
    assert "bool partial" in str(torch.ops.flashfftconv.fftconv_backward.default._schema)
    u, k, ig, og = make(2, 2, 600, 100, torch.float32)
    k.requires_grad_(True)
    u.requires_grad_(True)
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, ig, og, 256, True))
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, None, None, 256, True))
    # The five-argument form (before 0.3) is a plain plan.
    short = u[:, :, :200].detach()
    assert torch.equal(torch.ops.flashfftconv.fftconv(short, k.detach(), None, None, 256),
                       ffc.fftconv(short, k.detach(), fft_size=256))


@needs_custom_op
def test_partial_torch_compile_has_no_graph_break():
    check_compile_has_no_graph_break(lambda: FlashFFTConv(256, dtype=torch.float32, partial=True), 2, 3, 700, 64)


# -- CUDA tensors ----------------------------------------------------------------------------


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_cuda_partial_forward_backward(dtype):
    B, H, L, K, N = 3, 8, 5000, 200, 1024
    u, k, ig, og = make(B, H, L, K, dtype, device="cuda")
    leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
    y = FlashFFTConv(N, dtype=dtype, partial=True)(*leaves)
    assert y.is_cuda and y.dtype == dtype
    ref_leaves = [d(t).requires_grad_(True) for t in (u, k, ig, og)]
    ref = linear_ref(*ref_leaves)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)
    dy = torch.randn(B, H, L, device="cuda").to(dtype)
    backward_or_skip(y, dy)
    ref.backward(d(dy))
    # As in test_torch.py: dk comes from 16-bit operands on tensor cores and is
    # held to the I/O dtype's rule like the other gradients.
    for name, a, b in zip(GRAD_NAMES, leaves, ref_leaves):
        assert rel_l2(a.grad, b.grad) <= tolerance(b.grad, dtype), name
