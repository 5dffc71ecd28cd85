"""CuPy arrays and foreign CUDA arrays (__cuda_array_interface__, DLPack) on the
CUDA backend; skipped without cupy, a GPU, or a CUDA build of the library."""
import numpy as np
import pytest

cp = pytest.importorskip("cupy")

import flashfftconv as ffc  # noqa: E402

from _reference import backward_ref, forward_ref, rel_l2, tolerance  # noqa: E402


def _gpu():
    try:
        return cp.cuda.runtime.getDeviceCount() > 0 and ffc.backend_available("cuda")
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _gpu(), reason="needs a CUDA device and the CUDA backend")


def make(B, H, L, K, dtype, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((B, H, L)).astype(dtype)
    k = (rng.standard_normal((H, K)) / np.sqrt(K)).astype(np.float32)
    ig = rng.standard_normal((B, H, L)).astype(dtype)
    og = rng.standard_normal((B, H, L)).astype(dtype)
    return u, k, ig, og


@pytest.mark.parametrize("N", [256, 2048])
def test_cupy_forward_fp16(N):
    L = N // 2
    u, k, ig, og = make(3, 4, L, L, np.float16)
    y = ffc.fftconv(*(cp.asarray(a) for a in (u, k, ig, og)), fft_size=N)
    assert isinstance(y, cp.ndarray) and y.dtype == np.float16
    ref = forward_ref(u, k, ig, og, n=N)
    assert rel_l2(cp.asnumpy(y), ref) <= tolerance(ref, np.float16)


@pytest.mark.parametrize("N", [256, 2048])
def test_cupy_backward_fp16(N):
    L = N // 2
    u, k, ig, og = make(3, 4, L, L, np.float16)
    dy = np.random.default_rng(1).standard_normal(u.shape).astype(np.float16)
    try:
        g = ffc.fftconv_backward(*(cp.asarray(a) for a in (dy, u, k, ig, og)), fft_size=N)
    except ffc.FlashFFTConvError as e:
        if e.status == ffc.Status.ERROR_NOT_SUPPORTED:  # this library build has no CUDA backward yet
            pytest.skip(f"library: {e.message}")
        raise
    want = backward_ref(dy, u, k, ig, og, n=N)
    assert rel_l2(cp.asnumpy(g.du), want[0]) <= tolerance(want[0], np.float16)
    # dk is fp32 but computed from 16-bit operands: held to the fp16 rule.
    assert rel_l2(cp.asnumpy(g.dk), want[1]) <= tolerance(want[1], np.float16)


def test_cupy_current_stream():
    u, k, ig, og = (cp.asarray(a) for a in make(2, 2, 300, 300, np.float16))
    expected = ffc.fftconv(u, k, ig, og)
    s = cp.cuda.Stream(non_blocking=True)
    cp.cuda.get_current_stream().synchronize()
    with s:
        y = ffc.fftconv(u, k, ig, og)
    s.synchronize()
    assert cp.array_equal(y, expected)


class _CAI:
    """A CUDA array from an unknown library: only __cuda_array_interface__."""

    def __init__(self, a):
        self._a = a
        self.__cuda_array_interface__ = a.__cuda_array_interface__


class _DLPackOnly:
    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


@pytest.mark.parametrize("wrap", [_CAI, _DLPackOnly], ids=["cuda_array_interface", "dlpack"])
def test_foreign_cuda_arrays(wrap):
    u, k, ig, og = make(2, 3, 200, 100, np.float16)
    y = ffc.fftconv(*(wrap(cp.asarray(a)) for a in (u, k, ig, og)))
    ref = forward_ref(u, k, ig, og)
    assert rel_l2(cp.asnumpy(cp.asarray(y)), ref) <= tolerance(ref, np.float16)


@pytest.mark.parametrize("layout", ["bhl", "blh"])
def test_cupy_depthwise_conv1d(layout):
    from _reference import conv1d_backward_ref, conv1d_ref

    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 300)).astype(np.float16)
    if layout == "blh":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    w = (rng.standard_normal((8, 4)) / 2).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    y = ffc.depthwise_conv1d(cp.asarray(x), cp.asarray(w), cp.asarray(b), padding="causal", layout=layout)
    assert isinstance(y, cp.ndarray) and y.dtype == np.float16 and y.shape == x.shape
    ref = conv1d_ref(x, w, b, (3, 0), layout)
    assert rel_l2(cp.asnumpy(y), ref) <= tolerance(ref, np.float16)
    dy = rng.standard_normal(x.shape).astype(np.float16)
    g = ffc.depthwise_conv1d_backward(cp.asarray(dy), cp.asarray(x), cp.asarray(w), "causal", layout)
    rdx, rdw, rdb = conv1d_backward_ref(dy, x, w, (3, 0), layout)
    assert rel_l2(cp.asnumpy(g.dx), rdx) <= tolerance(rdx, np.float16)
    assert rel_l2(cp.asnumpy(g.dweight), rdw) <= 1e-5
    assert rel_l2(cp.asnumpy(g.dbias), rdb) <= 1e-5
