"""Frequency-sparse plans (freq_mask, library 0.4) through the PyTorch
integration: the module, the autograd.Function and the custom op against a
float64 torch.fft reference of the masked convolution (the filter's spectrum
multiplied by the mask, differentiated by torch's autograd); opcheck and
torch.compile with the extended schema; CUDA tensors when present."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import flashfftconv as ffc  # noqa: E402
from flashfftconv import FlashFFTConv, FlashFFTConvError, Status, freq_block_mask  # noqa: E402
from flashfftconv import pytorch as fpt  # noqa: E402

from _torch_helpers import DTYPES, GRAD_NAMES, backward_or_skip, check_autograd_float32, cuda, d, make  # noqa: E402
from _torch_helpers import check_compile_has_no_graph_break, needs_custom_op, ref_conv, rel_l2, tolerance  # noqa: E402


def masked_ref(u, k, ig, og, mask, n):
    """Differentiable float64 reference: out_gate * IFFT_n(FFT_n(in_gate * u) *
    FFT_n(k) * M)[:L] with M[f] = mask[f % G] != 0 on the rfft's n // 2 + 1 bins."""
    m = torch.as_tensor(np.asarray(mask) != 0)
    M = m[torch.arange(n // 2 + 1) % m.numel()].double()
    L = u.shape[-1]
    v = u if ig is None else ig * u
    z = torch.fft.irfft(torch.fft.rfft(v, n=n) * torch.fft.rfft(k, n=n) * M, n=n)[..., :L]
    return z if og is None else og * z


def test_reference_with_all_ones_is_the_dense_one():
    u, k, ig, og = make(2, 2, 100, 30, torch.float64)
    k = k.double()
    assert rel_l2(masked_ref(u, k, ig, og, [1], 256), ref_conv(u, k, ig, og, 256)) < 1e-13
    # and the masked filter k' = IFFT(FFT(k) M) in the dense reference is the same function
    mask = freq_block_mask(16, 3)
    M = torch.as_tensor(mask != 0)[torch.arange(129) % 16].double()
    kp = torch.fft.irfft(torch.fft.rfft(k, n=256) * M, n=256)
    assert rel_l2(masked_ref(u, k, ig, og, mask, 256), ref_conv(u, kp, ig, og, 256)) < 1e-13


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("gates", [False, True])
@pytest.mark.parametrize("mask", [freq_block_mask(16, 4), freq_block_mask(1024, 100), [1, 0]],
                         ids=["block16x4", "lowpass1024", "even2"])
def test_module_masked_forward_cpu(dtype, gates, mask):
    u, k, ig, og = make(2, 3, 300, 300, dtype, gates=gates)
    conv = FlashFFTConv(1024, dtype=torch.bfloat16, freq_mask=mask)
    assert isinstance(conv.freq_mask, torch.Tensor) and conv.freq_mask.dtype == torch.uint8
    assert "freq_mask=<" in repr(conv)
    y = conv(u, k, ig, og)
    assert y.dtype == dtype and y.shape == u.shape
    ref = masked_ref(d(u), d(k), d(ig), d(og), mask, 1024)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)


@pytest.mark.parametrize("use_function", [False, True], ids=["custom_op", "autograd_function"])
@pytest.mark.parametrize("gates", [False, True])
def test_masked_autograd_matches_reference(use_function, gates):
    B, H, L, N = 3, 2, 200, 512
    mask = freq_block_mask(32, 6)
    inputs = make(B, H, L, L, torch.float32, gates=gates, seed=1)
    check_autograd_float32(inputs, N, use_function, lambda *a: masked_ref(*a, mask, N), freq_mask=mask)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_masked_autograd_16bit(dtype):
    B, H, L, K, N = 3, 2, 700, 300, 1024
    mask = freq_block_mask(N, 40)
    u, k, ig, og = make(B, H, L, K, dtype, seed=2)
    leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
    ref_leaves = [d(t).requires_grad_(True) for t in (u, k, ig, og)]
    y = fpt.fftconv(*leaves, freq_mask=mask)
    ref = masked_ref(*ref_leaves, mask, N)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)
    dy = torch.randn(B, H, L).to(dtype)
    y.backward(dy)
    ref.backward(d(dy))
    for name, a, b in zip(GRAD_NAMES, leaves, ref_leaves):
        tol = tolerance(b.grad, torch.float32 if name == "dk" else dtype)
        assert rel_l2(a.grad, b.grad) <= tol, name


def test_functional_mask_forms():
    # A list, a NumPy array, a bool tensor and a uint8 tensor of one pattern: one result, one plan.
    u, k, ig, og = make(1, 2, 200, 50, torch.float32, seed=3)
    mask = freq_block_mask(8, 2)
    ref = masked_ref(d(u), d(k), d(ig), d(og), mask, 256)
    ffc.clear_plan_cache()
    outs = [fpt.fftconv(u, k, ig, og, freq_mask=m)
            for m in (mask.tolist(), mask, torch.from_numpy(mask != 0), torch.from_numpy(mask))]
    for y in outs:
        assert torch.equal(y, outs[0])
    assert rel_l2(outs[0], ref) <= tolerance(ref, torch.float32)
    assert len([key for key in ffc.cached_plans() if len(key) == 6]) == 1
    # The NumPy-level functional API takes torch tensors too.
    assert torch.equal(ffc.fftconv(u, k, ig, og, freq_mask=torch.from_numpy(mask)), outs[0])


def test_module_keeps_its_own_mask_on_the_cpu():
    mask = freq_block_mask(16, 4)
    conv = FlashFFTConv(256, dtype=torch.float32, freq_mask=mask)
    mask[:] = 1  # the module copied it
    assert conv.freq_mask.tolist() == freq_block_mask(16, 4).tolist()
    assert conv.freq_mask.device.type == "cpu"
    assert "freq_mask" not in conv.state_dict()  # not a buffer: .to(device) leaves it on the CPU
    conv = conv.to(torch.float64)
    assert conv.freq_mask.dtype == torch.uint8
    assert FlashFFTConv(256).freq_mask is None


def test_masked_module_errors():
    u, k, _, _ = make(1, 2, 100, 50, torch.float32, gates=False)
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256, freq_mask=[1, 1, 0, 0])(u, k)  # not symmetric
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256, freq_mask=np.ones(512, np.uint8))(u, k)  # G > N
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256, freq_mask=[1] * 6)(u, k)  # G not a power of two
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(FlashFFTConvError) as ei:
        FlashFFTConv(256, partial=True, freq_mask=[1])(u, k)
    assert ei.value.status == Status.ERROR_NOT_SUPPORTED
    with pytest.raises(TypeError):
        FlashFFTConv(256, freq_mask=[0.5])
    with pytest.raises(ValueError):
        FlashFFTConv(256, freq_mask=np.ones((2, 2), np.uint8))


@needs_custom_op
def test_masked_opcheck_and_schema():
    schema = str(torch.ops.flashfftconv.fftconv.default._schema)
    assert "bool partial=False" in schema and "Tensor? freq_mask=None" in schema, schema
    assert "Tensor? freq_mask" in str(torch.ops.flashfftconv.fftconv_backward.default._schema)
    u, k, ig, og = make(2, 2, 200, 100, torch.float32)
    k.requires_grad_(True)
    u.requires_grad_(True)
    mask = torch.from_numpy(freq_block_mask(16, 4))
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, ig, og, 512, False, mask))
    torch.library.opcheck(torch.ops.flashfftconv.fftconv.default, (u, k, None, None, 512, False, mask))
    # The six-argument form (0.3) is a dense plan.
    assert torch.equal(torch.ops.flashfftconv.fftconv(u.detach(), k.detach(), None, None, 512, False),
                       ffc.fftconv(u.detach(), k.detach(), fft_size=512))


@needs_custom_op
def test_masked_torch_compile_has_no_graph_break():
    check_compile_has_no_graph_break(
        lambda: FlashFFTConv(512, dtype=torch.float32, freq_mask=freq_block_mask(16, 4)), 2, 3, 200, 200)


# -- CUDA tensors ----------------------------------------------------------------------------


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("N,G,kept", [(4096, 16, 3), (4096, 4096, 500), (65536, 256, 40)])
def test_cuda_masked_forward_backward(dtype, N, G, kept):
    B, H, L = 2, 8, N // 2
    mask = freq_block_mask(G, kept)
    u, k, ig, og = make(B, H, L, L, dtype, device="cuda")
    leaves = [t.clone().requires_grad_(True) for t in (u, k, ig, og)]
    y = FlashFFTConv(N, dtype=dtype, freq_mask=mask)(*leaves)
    assert y.is_cuda and y.dtype == dtype
    ref_leaves = [d(t).requires_grad_(True) for t in (u, k, ig, og)]
    ref = masked_ref(*ref_leaves, mask, N)
    assert rel_l2(y, ref) <= tolerance(ref, dtype)
    dy = torch.randn(B, H, L, device="cuda").to(dtype)
    backward_or_skip(y, dy)
    ref.backward(d(dy))
    # As in test_torch.py: dk comes from 16-bit operands on tensor cores and is
    # held to the I/O dtype's rule like the other gradients.
    for name, a, b in zip(GRAD_NAMES, leaves, ref_leaves):
        assert rel_l2(a.grad, b.grad) <= tolerance(b.grad, dtype), name
