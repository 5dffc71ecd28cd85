"""PyTorch integration: the nn.Module, the autograd.Function and the custom op,
against a float64 torch.fft reference; torch.compile without graph breaks; CUDA
tensors when a GPU and the CUDA backend are present."""
import pytest

torch = pytest.importorskip("torch")

import flashfftconv as ffc  # noqa: E402
from flashfftconv import FlashFFTConv, FlashFFTConvError, Status  # noqa: E402
from flashfftconv import pytorch as fpt  # noqa: E402

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def ref_conv(u, k, ig, og, n):
    """Differentiable torch.fft reference of DESIGN §1 (used in float64)."""
    L = u.shape[-1]
    v = u if ig is None else ig * u
    z = torch.fft.irfft(torch.fft.rfft(v, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :L]
    return z if og is None else og * z


def rel_l2(x, ref):
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    return ((x - ref).norm() / ref.norm().clamp_min(1e-300)).item()


def tolerance(ref, dtype):
    """DESIGN §3: 2 x the error of rounding the exact result to dtype (fp32: a floor)."""
    tol = 2 * rel_l2(ref.to(dtype), ref)
    return max(tol, 2e-6) if dtype == torch.float32 else tol


def make(B, H, L, K, dtype, device="cpu", gates=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, H, L, generator=g).to(dtype)
    k = (torch.randn(H, K, generator=g) / K**0.5).float()
    ig = torch.randn(B, H, L, generator=g).to(dtype) if gates else None
    og = torch.randn(B, H, L, generator=g).to(dtype) if gates else None
    mv = lambda t: None if t is None else t.to(device)  # noqa: E731
    return mv(u), mv(k), mv(ig), mv(og)


def d(t):
    return None if t is None else t.detach().double().cpu()


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
    u, k, ig, og = make(B, H, L, L, torch.float32)
    leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
    leaves64 = [t.detach().double().requires_grad_(True) for t in (u, k, ig, og)]
    w = torch.randn(B, H, L, dtype=torch.float64)

    if use_function:
        y = fpt.FFTConvFunction.apply(*leaves, N)
    else:
        y = FlashFFTConv(N)(*leaves)
    (y.double() * w).sum().backward()
    (ref_conv(*leaves64, N) * w).sum().backward()
    for name, a, b in zip(("du", "dk", "d_in_gate", "d_out_gate"), leaves, leaves64):
        assert a.grad is not None, name
        assert a.grad.dtype == a.dtype
        assert rel_l2(a.grad, b.grad) < 1e-5, name


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


@pytest.mark.skipif(not fpt.HAS_CUSTOM_OP, reason="torch.library.custom_op needs PyTorch >= 2.4")
def test_opcheck():
    u, k, ig, og = make(2, 2, 100, 100, torch.float32)
    k.requires_grad_(True)
    u.requires_grad_(True)
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, ig, og, 256))
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, None, None, 256))


@pytest.mark.skipif(not fpt.HAS_CUSTOM_OP, reason="torch.library.custom_op needs PyTorch >= 2.4")
def test_torch_compile_has_no_graph_break():
    torch._dynamo.reset()
    conv = FlashFFTConv(512, dtype=torch.float32)

    def step(u, k, ig, og):
        return (conv(u * 2, k, ig, og) + 1).square().sum()

    u, k, ig, og = make(2, 3, 200, 200, torch.float32)
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


# -- CUDA tensors ----------------------------------------------------------------------------

cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and ffc.backend_available("cuda")),
    reason="needs a CUDA device and a library built with the CUDA backend",
)


def backward_or_skip(y, dy):
    """y.backward(dy), skipping the test when this library build has no CUDA backward
    yet (the bindings' part is what these tests check)."""
    try:
        y.backward(dy)
    except FlashFFTConvError as e:
        if e.status == Status.ERROR_NOT_SUPPORTED:
            pytest.skip(f"library: {e.message}")
        raise


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
    for name, a, b in zip(("du", "dk", "d_in_gate", "d_out_gate"), leaves, ref_leaves):
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
