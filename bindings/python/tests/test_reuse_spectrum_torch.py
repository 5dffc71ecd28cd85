"""reuse_spectrum=True in the PyTorch integration (library 0.5): forward keeps the
filter's spectrum and backward uses it instead of k, through the custom ops and
through FFTConvFunction. The gradients are bitwise those without reuse; a filter
changed behind autograd's back after forward shows that backward really used the
saved spectrum; nothing is kept when no backward can follow; opcheck and
torch.compile see the new ops; CUDA tensors when a GPU is present."""
import pytest

torch = pytest.importorskip("torch")

import flashfftconv as ffc  # noqa: E402
from flashfftconv import FlashFFTConv  # noqa: E402
from flashfftconv import functional as ffc_functional  # noqa: E402
from flashfftconv import pytorch as fpt  # noqa: E402

from _torch_helpers import DTYPES, GRAD_NAMES, check_compile_has_no_graph_break, cuda, make  # noqa: E402
from _torch_helpers import needs_custom_op  # noqa: E402

PATHS = [pytest.param(False, id="custom_op"), pytest.param(True, id="autograd_function")]
# (N, partial, freq_mask, (B, H, L, K))
PLANS = [
    pytest.param(512, False, None, (3, 2, 300, 200), id="causal"),
    pytest.param(256, True, None, (2, 2, 700, 64), id="partial"),
    pytest.param(512, False, ffc.freq_block_mask(16, 3), (3, 2, 300, 41), id="masked"),
]


def _run(inputs, N, partial, mask, reuse, use_function, dy):
    """y and the gradients of <y, dy> for clones of inputs as leaves."""
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    if use_function:
        y = fpt.FFTConvFunction.apply(*leaves, N, partial, mask, reuse)
    else:
        y = fpt.fftconv(*leaves, N, partial, mask, reuse_spectrum=reuse)
    y.backward(dy)
    return y.detach(), [t.grad for t in leaves]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("N, partial, mask, shape", PLANS)
@pytest.mark.parametrize("use_function", PATHS)
def test_gradients_bitwise_as_without_reuse(use_function, N, partial, mask, shape, dtype):
    if use_function is False and not fpt.HAS_CUSTOM_OP:
        pytest.skip("torch.library.custom_op needs PyTorch >= 2.4")
    B, H, L, K = shape
    inputs = make(B, H, L, K, dtype, seed=41)
    dy = torch.randn(B, H, L, generator=torch.Generator().manual_seed(42)).to(dtype)
    y0, g0 = _run(inputs, N, partial, mask, False, use_function, dy)
    y1, g1 = _run(inputs, N, partial, mask, True, use_function, dy)
    assert torch.equal(y0, y1)
    for name, a, b in zip(GRAD_NAMES, g1, g0):
        assert a.dtype == b.dtype and torch.equal(a, b), name


@pytest.mark.parametrize("use_function", PATHS)
def test_backward_uses_the_spectrum_saved_by_forward(use_function):
    # k is overwritten through .data after forward (autograd's version check does
    # not see it): without reuse backward transforms the new k, with reuse it uses
    # the spectrum of the k forward saw.
    if use_function is False and not fpt.HAS_CUSTOM_OP:
        pytest.skip("torch.library.custom_op needs PyTorch >= 2.4")
    B, H, L, N = 2, 3, 200, 512
    u, k, ig, og = make(B, H, L, L, torch.float32, seed=43)
    dy = torch.randn(B, H, L, generator=torch.Generator().manual_seed(44))
    _, (du_ref, *_) = _run((u, k, ig, og), N, False, None, False, use_function, dy)
    for reuse in (False, True):
        leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
        if use_function:
            y = fpt.FFTConvFunction.apply(*leaves, N, False, None, reuse)
        else:
            y = fpt.fftconv(*leaves, N, reuse_spectrum=reuse)
        leaves[1].data.mul_(-1.0)
        y.backward(dy)
        assert torch.equal(leaves[0].grad, du_ref) == reuse, f"reuse_spectrum={reuse}"


def test_no_spectrum_without_a_backward(monkeypatch):
    calls = []
    real = ffc_functional.fftconv

    def spy(*args, **kwargs):
        calls.append(kwargs.get("return_spectrum", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(ffc_functional, "fftconv", spy)
    u, k, ig, og = make(2, 2, 100, 100, torch.float32, seed=45)
    fpt.fftconv(u, k, ig, og, 256, reuse_spectrum=True)  # no input requires a gradient
    with torch.no_grad():
        fpt.fftconv(u, k.requires_grad_(True), ig, og, 256, reuse_spectrum=True)
    fpt.FFTConvFunction.apply(u, k.detach(), ig, og, 256, False, None, True)
    assert calls == [False, False, False]
    y = fpt.fftconv(u, k, ig, og, 256, reuse_spectrum=True)  # k requires a gradient
    assert calls[-1] is True and y.requires_grad


def test_module_reuse_spectrum():
    conv = FlashFFTConv(512, dtype=torch.float32, reuse_spectrum=True)
    assert "reuse_spectrum=True" in repr(conv)
    B, H, L = 2, 3, 256
    u, k, ig, og = make(B, H, L, L, torch.float16, seed=46)
    dy = torch.randn(B, H, L, generator=torch.Generator().manual_seed(47)).to(torch.float16)
    grads = []
    for module in (FlashFFTConv(512, dtype=torch.float32), conv):
        leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
        module(*leaves).backward(dy)
        grads.append([t.grad for t in leaves])
    for name, a, b in zip(GRAD_NAMES, *grads):
        assert torch.equal(a, b), name


@needs_custom_op
def test_opcheck_spectrum_ops():
    u, k, ig, og = make(2, 2, 100, 100, torch.float32, seed=48)
    u.requires_grad_(True)
    k.requires_grad_(True)
    torch.library.opcheck(torch.ops.flashfftconv.fftconv_keep_spectrum.default, (u, k, ig, og, 256, False, None))
    _, spectrum = torch.ops.flashfftconv.fftconv_keep_spectrum(u.detach(), k.detach(), ig, og, 256, False, None)
    dy = torch.randn_like(u)
    torch.library.opcheck(torch.ops.flashfftconv.fftconv_backward.default,
                          (dy, u.detach(), k.detach(), ig, og, 256, False, None, True, True, True, True, spectrum))


@needs_custom_op
def test_torch_compile_with_reuse_has_no_graph_break():
    check_compile_has_no_graph_break(lambda: FlashFFTConv(512, dtype=torch.float32, reuse_spectrum=True),
                                     2, 3, 200, 200)


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("N, shape", [(256, (4, 8, 256, 256)), (4096, (3, 4, 2048, 2048)),
                                      (65536, (2, 2, 65536, 65536))], ids=["256", "4096", "65536"])
def test_cuda_gradients_bitwise_as_without_reuse(N, shape, dtype):
    B, H, L, K = shape
    inputs = make(B, H, L, K, dtype, device="cuda", seed=49)
    dy = torch.randn(B, H, L, device="cuda").to(dtype)
    y0, g0 = _run(inputs, N, False, None, False, False, dy)
    y1, g1 = _run(inputs, N, False, None, True, False, dy)
    assert torch.equal(y0, y1)
    for name, a, b in zip(GRAD_NAMES, g1, g0):
        assert torch.equal(a, b), name
