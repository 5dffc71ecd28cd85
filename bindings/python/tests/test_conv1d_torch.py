"""Short depthwise convolution with torch: FlashDepthwiseConv1d, the differentiable
functional form, the custom ops, against torch.nn.functional.conv1d(groups=H) in
float64 (forward and every gradient); CPU tensors run on the CPU backend, CUDA
tensors (skipped without a GPU and a CUDA build) on the CUDA backend."""
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

import flashfftconv as ffc  # noqa: E402
from flashfftconv import FlashDepthwiseConv1d, FlashFFTConvError, Status  # noqa: E402
from flashfftconv import pytorch as fpt  # noqa: E402

from _torch_helpers import DTYPES, cuda, d, needs_custom_op, rel_l2, tolerance  # noqa: E402

LAYOUTS = ["bhl", "blh"]
# (K, padding, L)
CASES = [
    (1, 0, 33),
    (3, "causal", 64),
    (4, "same", 50),
    (4, 2, 21),
    (5, (1, 3), 40),
    (7, "valid", 30),
    (128, "causal", 140),
]


def case_id(c):
    k, p, length = c
    return f"K{k}-{p if isinstance(p, (int, str)) else '%d_%d' % tuple(p)}-L{length}"


def ref_conv(x, weight, bias, padding, layout):
    """torch.nn.functional.conv1d(groups=H) on explicitly padded input (any padding)."""
    K = weight.shape[-1]
    left, right = ffc.resolve_padding(padding, K)
    if layout == "blh":
        x = x.transpose(1, 2)
    y = F.conv1d(F.pad(x, (left, right)), weight.reshape(weight.shape[0], 1, K), bias, groups=weight.shape[0])
    return y.transpose(1, 2) if layout == "blh" else y


def reduction_tolerance(n_terms):
    """fp32 sums of n_terms products (dweight, dbias)."""
    return max(2e-6, 4 * 2.0**-24 * n_terms**0.5)


def make_x(B, H, L, dtype, layout, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, H, L, generator=g).to(dtype)
    if layout == "blh":
        x = x.transpose(1, 2).contiguous()
    return x.to(device)


# -- CPU tensors -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_module_forward_cpu(dtype, layout, case):
    K, padding, L = case
    torch.manual_seed(1)
    conv = FlashDepthwiseConv1d(6, K, padding=padding, bias=True, layout=layout)
    x = make_x(2, 6, L, dtype, layout)
    y = conv(x)
    ref = ref_conv(d(x), d(conv.weight), d(conv.bias), padding, layout)
    assert y.dtype == dtype and y.shape == ref.shape
    assert y.shape[1 if layout == "blh" else 2] == conv.output_length(L)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", [CASES[i] for i in (1, 2, 4, 6)], ids=case_id)
@pytest.mark.parametrize("use_function", [False, True], ids=["custom_op", "autograd_function"])
def test_autograd_matches_float64_reference(dtype, layout, case, use_function, monkeypatch):
    """Every gradient (x, weight, bias) against float64 autograd through F.conv1d,
    on the same (rounded) values."""
    if use_function:
        monkeypatch.setattr(fpt, "HAS_CUSTOM_OP", False)
    K, padding, L = case
    B, H = 3, 5
    torch.manual_seed(2)
    conv = FlashDepthwiseConv1d(H, K, padding=padding, layout=layout)
    x = make_x(B, H, L, dtype, layout, seed=3).requires_grad_(True)
    y = conv(x)
    w_out = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (y.double() * w_out).sum().backward()

    x64 = d(x).requires_grad_(True)
    w64 = d(conv.weight).requires_grad_(True)
    b64 = d(conv.bias).requires_grad_(True)
    # The upstream gradient the library sees is w_out rounded to y's dtype.
    (ref_conv(x64, w64, b64, padding, layout) * w_out.to(dtype).double()).sum().backward()

    assert x.grad.dtype == dtype and x.grad.shape == x.shape
    assert conv.weight.grad.dtype == torch.float32 and conv.weight.grad.shape == (H, 1, K)
    assert conv.bias.grad.shape == (H,)
    assert rel_l2(x.grad, x64.grad) <= tolerance(x64.grad, dtype), "dx"
    n_terms = B * y.shape[2 if layout == "bhl" else 1]
    tol = reduction_tolerance(n_terms)
    assert rel_l2(conv.weight.grad, w64.grad) <= tol, "dweight"
    assert rel_l2(conv.bias.grad, b64.grad) <= tol, "dbias"


def test_gradients_only_where_required():
    conv = FlashDepthwiseConv1d(4, 3, padding="causal", bias=False)
    x = torch.randn(2, 4, 30)
    conv(x).sum().backward()  # x does not require grad
    assert x.grad is None and conv.weight.grad is not None
    conv.weight.requires_grad_(False)
    x.requires_grad_(True)
    conv(x).square().sum().backward()
    assert x.grad is not None
    ref_x = x.detach().clone().requires_grad_(True)
    ref_conv(ref_x, conv.weight.detach(), None, "causal", "bhl").square().sum().backward()
    assert rel_l2(x.grad, ref_x.grad) < 1e-5


def test_state_dict_is_nn_conv1d_compatible():
    torch.manual_seed(5)
    H, K = 8, 5
    ref = torch.nn.Conv1d(H, H, K, groups=H, padding=2)
    conv = FlashDepthwiseConv1d(H, K, padding=2)
    assert conv.weight.shape == ref.weight.shape and conv.bias.shape == ref.bias.shape
    assert set(conv.state_dict()) == set(ref.state_dict())
    conv.load_state_dict(ref.state_dict())
    x = torch.randn(3, H, 50)
    assert rel_l2(conv(x), ref(x)) < 1e-6
    # nn.Conv1d's initialisation bounds: U(-1/sqrt(K), 1/sqrt(K)).
    fresh = FlashDepthwiseConv1d(64, 16)
    assert fresh.weight.abs().max() <= 0.25 and fresh.bias.abs().max() <= 0.25
    assert fresh.weight.std() > 0.05
    assert "groups=64" in repr(fresh) and "kernel_size=(16,)" in repr(fresh)
    assert FlashDepthwiseConv1d(4, 3, bias=False).bias is None


def test_unbatched_input():
    conv = FlashDepthwiseConv1d(3, 4, padding="same")
    x = torch.randn(3, 20)
    y = conv(x)
    assert y.shape == (3, 20)
    assert rel_l2(y, ref_conv(x.unsqueeze(0), conv.weight.detach(), conv.bias.detach(), "same", "bhl")[0]) < 1e-6
    blh = FlashDepthwiseConv1d(3, 4, padding="same", layout="blh")
    assert blh(x.t().contiguous()).shape == (20, 3)


def test_functional_api_on_cpu_tensors():
    x = make_x(2, 4, 30, torch.bfloat16, "blh")
    w = torch.randn(4, 6)
    b = torch.randn(4)
    y = ffc.depthwise_conv1d(x, w, b, padding="causal", layout="blh")
    assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16 and y.shape == (2, 30, 4)
    ref = ref_conv(d(x), d(w), d(b), "causal", "blh")
    assert rel_l2(y, ref) <= tolerance(ref, torch.bfloat16)
    g = ffc.depthwise_conv1d_backward(torch.ones_like(y), x, w, "causal", "blh")
    assert g.dx.dtype == torch.bfloat16 and g.dweight.dtype == torch.float32 and g.dbias.shape == (4,)
    # the differentiable form, with a float64 weight: its gradient comes back in float64
    w64 = w.double().requires_grad_(True)
    fpt.depthwise_conv1d(x, w64, None, "causal", "blh").float().sum().backward()
    assert w64.grad.dtype == torch.float64
    assert rel_l2(w64.grad, g.dweight) < 1e-6


def test_module_errors():
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(4, 3, padding="full")
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(4, 3, layout="hbl")
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    x = torch.randn(2, 4, 10)
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(4, 3, padding=3)(x)  # a side > K - 1: the library's check
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT and ei.value.message
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(4, 129)(torch.randn(1, 4, 200))  # K > 128: the library's check
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(4, 3)(x.double())
    assert ei.value.status == Status.ERROR_INVALID_DTYPE
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(5, 3)(x)  # wrong channel count
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    with pytest.raises(FlashFFTConvError) as ei:
        FlashDepthwiseConv1d(4, 7)(torch.randn(1, 4, 5))  # L_out < 1
    assert ei.value.status == Status.ERROR_INVALID_SHAPE


@needs_custom_op
def test_opcheck():
    x = torch.randn(2, 3, 40, requires_grad=True)
    w = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    op = torch.ops.flashfftconv.depthwise_conv1d.default
    torch.library.opcheck(op, (x, w, b, 3, 0, 0))
    torch.library.opcheck(op, (x, w, None, 1, 2, 0))
    xt = torch.randn(2, 40, 3, requires_grad=True)
    torch.library.opcheck(op, (xt, w, b, 0, 0, 1))


@needs_custom_op
def test_torch_compile_has_no_graph_break():
    torch._dynamo.reset()
    conv = FlashDepthwiseConv1d(6, 4, padding="causal", layout="blh")

    def step(x):
        return (conv(x * 2) + 1).square().sum()

    x = torch.randn(2, 50, 6, requires_grad=True)
    explanation = torch._dynamo.explain(step)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    loss = compiled(x)
    loss.backward()
    grads = [t.grad.clone() for t in (x, conv.weight, conv.bias)]
    for t in (x, conv.weight, conv.bias):
        t.grad = None
    eager = step(x)
    eager.backward()
    assert torch.allclose(loss, eager, rtol=1e-5)
    for a, t in zip(grads, (x, conv.weight, conv.bias)):
        assert torch.allclose(a, t.grad, rtol=1e-4, atol=1e-5)


# -- CUDA tensors ------------------------------------------------------------------------


@cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_cuda_forward(dtype, layout, case):
    K, padding, L = case
    torch.manual_seed(6)
    conv = FlashDepthwiseConv1d(16, K, padding=padding, layout=layout, device="cuda")
    x = make_x(3, 16, L, dtype, layout, device="cuda")
    y = conv(x)
    assert y.is_cuda and y.dtype == dtype
    ref = ref_conv(d(x), d(conv.weight), d(conv.bias), padding, layout)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)


@cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", [CASES[i] for i in (1, 2, 4, 6)], ids=case_id)
def test_cuda_backward(dtype, layout, case):
    K, padding, L = case
    B, H = 4, 16
    torch.manual_seed(7)
    conv = FlashDepthwiseConv1d(H, K, padding=padding, layout=layout, device="cuda")
    x = make_x(B, H, L, dtype, layout, device="cuda", seed=8).requires_grad_(True)
    y = conv(x)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(9)).to(dtype).cuda()
    y.backward(dy)
    x64, w64, b64 = (d(t).requires_grad_(True) for t in (x, conv.weight, conv.bias))
    ref_conv(x64, w64, b64, padding, layout).backward(d(dy))
    assert rel_l2(x.grad, x64.grad) <= tolerance(x64.grad, dtype), "dx"
    tol = reduction_tolerance(B * y.shape[2 if layout == "bhl" else 1])
    assert rel_l2(conv.weight.grad, w64.grad) <= tol, "dweight"
    assert rel_l2(conv.bias.grad, b64.grad) <= tol, "dbias"


@cuda
def test_cuda_dweight_is_deterministic():
    x = make_x(8, 64, 2048, torch.float16, "blh", device="cuda")
    w = torch.randn(64, 4, device="cuda")
    dy = torch.randn(8, 2048, 64, device="cuda").half()
    a = ffc.depthwise_conv1d_backward(dy, x, w, "causal", "blh", need_dx=False)
    b = ffc.depthwise_conv1d_backward(dy, x, w, "causal", "blh", need_dx=False)
    assert torch.equal(a.dweight, b.dweight) and torch.equal(a.dbias, b.dbias)


@cuda
def test_cuda_runs_on_current_stream():
    x = make_x(2, 32, 4096, torch.float16, "bhl", device="cuda")
    w = torch.randn(32, 4, device="cuda")
    expected = ffc.depthwise_conv1d(x, w, None, "causal")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        y = ffc.depthwise_conv1d(x, w, None, "causal")
    s.synchronize()
    assert torch.equal(y, expected)


@cuda
def test_cuda_and_cpu_tensors_do_not_mix():
    x = torch.randn(1, 2, 10, device="cuda")
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.depthwise_conv1d(x, torch.randn(2, 3))
    assert ei.value.status == Status.ERROR_INVALID_POINTER
