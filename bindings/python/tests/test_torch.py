"""PyTorch integration: the nn.Module, the autograd.Function and the custom op,
against a float64 torch.fft reference; torch.compile without graph breaks; CUDA
tensors when a GPU and the CUDA backend are present."""
import pytest

torch = pytest.importorskip("torch")

import flashfftconv as ffc  # noqa: E402
from flashfftconv import FlashFFTConv, FlashFFTConvError, Status  # noqa: E402
from flashfftconv import pytorch as fpt  # noqa: E402

from _torch_helpers import DTYPES, GRAD_NAMES, backward_or_skip, check_autograd_float32, cuda, d, make  # noqa: E402
from _torch_helpers import check_compile_has_no_graph_break, needs_custom_op, ref_conv, rel_l2, tolerance  # noqa: E402


# -- CPU tensors -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("gates", [False, True])
def test_module_forward_cpu(dtype, gates):
    B, H, L = 2, 3, 300
    u, k, ig, og = make(B, H, L, L, dtype, gates=gates)
    conv = FlashFFTConv(1024, dtype=torch.bfloat16)
    y = conv(u, k, ig, og)
    assert y.dtype == dtype and y.shape == u.shape
    ref = ref_conv(d(u), d(k), d(ig), d(og), 1024)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)


@pytest.mark.parametrize("use_function", [False, True], ids=["custom_op", "autograd_function"])
def test_autograd_matches_reference(use_function):
    B, H, L, N = 3, 2, 200, 512
    inputs = make(B, H, L, L, torch.float32)
    check_autograd_float32(inputs, N, use_function, lambda *args: ref_conv(*args, N))


def test_gradients_only_where_required():
    u, k, ig, og = make(2, 2, 100, 100, torch.float32)
    k.requires_grad_(True)
    y = fpt.fftconv(u, k, ig, og)
    y.sum().backward()
    assert k.grad is not None and u.grad is None


def test_k_dtype_and_u_dtype_casts():
    # float64 u is computed in the module's dtype and returned as float64; dk comes
    # back in k's dtype.
    u, k, _, _ = make(1, 2, 100, 100, torch.float64, gates=False)
    k = k.double().requires_grad_(True)
    y = FlashFFTConv(256, dtype=torch.float32)(u, k)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert k.grad.dtype == torch.float64
    assert rel_l2(y, ref_conv(u, k.detach(), None, None, 256)) < 1e-5


def test_module_errors():
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(1000)
    assert ei.value.status == Status.ERROR_INVALID_FFT_SIZE
    u, k, _, _ = make(1, 2, 300, 300, torch.float32, gates=False)
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256)(u, k)  # L > N: the library's own message
    assert ei.value.status == Status.ERROR_INVALID_SHAPE and "seq_len" in ei.value.message


def test_functional_api_on_cpu_tensors():
    u, k, ig, og = make(2, 2, 128, 64, torch.bfloat16)
    y = ffc.fftconv(u, k, ig, og)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16
    ref = ref_conv(d(u), d(k), d(ig), d(og), 256)
    assert rel_l2(y, ref) <= tolerance(ref, torch.bfloat16)
    g = ffc.fftconv_backward(torch.ones_like(u), u, k, ig, og)
    assert g.dk.dtype == torch.float32 and g.du.shape == u.shape


@needs_custom_op
def test_opcheck():
    u, k, ig, og = make(2, 2, 100, 100, torch.float32)
    k.requires_grad_(True)
    u.requires_grad_(True)
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, ig, og, 256))
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, None, None, 256))


@needs_custom_op
def test_torch_compile_has_no_graph_break():
    check_compile_has_no_graph_break(lambda: FlashFFTConv(512, dtype=torch.float32), 2, 3, 200, 200)


# -- CUDA tensors ----------------------------------------------------------------------------


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("N", [256, 1024, 4096])
def test_cuda_forward(dtype, N):
    B, H, L = 4, 8, N // 2
    u, k, ig, og = make(B, H, L, L, dtype, device="cuda")
    y = FlashFFTConv(N, dtype=dtype)(u, k, ig, og)
    assert y.is_cuda and y.dtype == dtype
    ref = ref_conv(d(u), d(k), d(ig), d(og), N)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("N", [256, 4096])
def test_cuda_backward(dtype, N):
    B, H, L = 4, 8, N // 2
    u, k, ig, og = make(B, H, L, L, dtype, device="cuda")
    leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
    y = FlashFFTConv(N, dtype=dtype)(*leaves)
    ref_leaves = [d(t).requires_grad_(True) for t in (u, k, ig, og)]
    ref = ref_conv(*ref_leaves, N)
    dy = torch.randn(B, H, L, device="cuda").to(dtype)
    backward_or_skip(y, dy)
    ref.backward(d(dy))
    # dk is returned in fp32 but is computed from 16-bit operands on tensor cores,
    # so it is held to the I/O dtype's rule like the other gradients.
    for name, a, b in zip(GRAD_NAMES, leaves, ref_leaves):
        assert rel_l2(a.grad, b.grad) <= tolerance(b.grad, dtype), name


@cuda
def test_cuda_runs_on_current_stream():
    u, k, ig, og = make(2, 4, 512, 512, torch.float16, device="cuda")
    expected = ffc.fftconv(u, k, ig, og)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        y = ffc.fftconv(u, k, ig, og)
    s.synchronize()
    assert torch.equal(y, expected)


@cuda
def test_cuda_and_cpu_tensors_do_not_mix():
    u, k, _, _ = make(1, 2, 100, 100, torch.float16, gates=False)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u.cuda(), k)
    assert ei.value.status == Status.ERROR_INVALID_POINTER
