"""Partial convolution (FFC_PLAN_PARTIAL, library 0.3) on NumPy arrays (CPU
backend): the causal linear convolution of any sequence length, L > N included,
forward and backward against float64 references evaluated with np.convolve
(independent of any FFT), under the DESIGN §3 precision rule; the equivalence
with a plain plan when nothing wraps; the K <= N/2 limit; no in-place form; the
default FFT size; plans, flags and the cache."""
import ctypes

import numpy as np
import pytest

import flashfftconv as ffc
from flashfftconv import DType, FlashFFTConvError, Status

from _helpers import DTYPE_PARAMS, DTYPES, assert_close, assert_gradients_close, forward_with_spectrum, make
from _reference import direct_conv, f64, rel_l2

# (B, H, L, K, N) with L > N: overlap-save windows. K = 1, a short K and K = N/2
# (the longest kernel a windowed call takes); odd B; L both odd and even, and not
# a multiple of the outputs a window keeps (N minus K - 1 rounded up to 8).
LONG = [
    (3, 2, 1000, 1, 256),
    (3, 2, 1000, 5, 256),
    (3, 2, 1000, 128, 256),
    (3, 2, 2049, 1, 256),
    (3, 2, 2049, 5, 256),
    (3, 2, 2049, 128, 256),
    (1, 3, 5001, 300, 1024),
]
LONG_IDS = ["x".join(map(str, s)) for s in LONG]


# -- float64 references of the causal linear convolution (np.convolve, no FFT) ------------


def linear_conv(v, k):
    """z[b,h,t] = sum_{s<K} k[h,s] v[b,h,t-s] (v zero for t < 0), t < L, in float64."""
    v, k = f64(v), f64(k)
    B, H, L = v.shape
    z = np.empty((B, H, L))
    for b in range(B):
        for h in range(H):
            z[b, h] = np.convolve(v[b, h], k[h])[:L]
    return z


def linear_forward_ref(u, k, in_gate=None, out_gate=None):
    u, ig, og = f64(u), f64(in_gate), f64(out_gate)
    z = linear_conv(u if ig is None else ig * u, k)
    return z if og is None else og * z


def linear_backward_ref(dy, u, k, in_gate=None, out_gate=None):
    """(du, dk, d_in_gate, d_out_gate) of linear_forward_ref for upstream dy, in float64."""
    dy, u, k, ig, og = f64(dy), f64(u), f64(k), f64(in_gate), f64(out_gate)
    B, H, L = u.shape
    K = k.shape[1]
    v = u if ig is None else ig * u
    z = linear_conv(v, k)
    dz = dy if og is None else og * dy
    dv = np.empty_like(v)
    dk = np.zeros((H, K))
    for b in range(B):
        for h in range(H):
            # dv[j] = sum_s k[s] dz[j + s]: a convolution of the reversed dz.
            dv[b, h] = np.convolve(dz[b, h, ::-1], k[h])[:L][::-1]
            for s in range(min(K, L)):
                dk[h, s] += np.dot(dz[b, h, s:], v[b, h, : L - s])
    du = dv if ig is None else ig * dv
    d_ig = None if ig is None else u * dv
    d_og = None if og is None else dy * z
    return du, dk, d_ig, d_og


def test_references_match_direct_and_numerical_gradients():
    # The direct definition with a circular size that cannot wrap is the linear convolution.
    rng = np.random.default_rng(1)
    u, k = rng.standard_normal((2, 3, 40)), rng.standard_normal((3, 9))
    assert rel_l2(linear_conv(u, k), direct_conv(u, k, 40 + 9)) < 1e-13
    # The backward reference against central differences of <dy, y>.
    u, k, ig, og = (rng.standard_normal(s) for s in ((1, 2, 12), (2, 4), (1, 2, 12), (1, 2, 12)))
    dy = rng.standard_normal(u.shape)
    grads = linear_backward_ref(dy, u, k, ig, og)
    args = [u, k, ig, og]
    for i, g in enumerate(grads):
        num = np.zeros_like(args[i])
        for idx in np.ndindex(args[i].shape):
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[i][idx] += 1e-6
            minus[i][idx] -= 1e-6
            num[idx] = (np.sum(dy * linear_forward_ref(*plus)) - np.sum(dy * linear_forward_ref(*minus))) / 2e-6
        assert rel_l2(g, num) < 1e-8, i


# -- forward and backward with L > N ------------------------------------------------------


# Every shape without and with both gates; single gates on two shapes.
FORWARD_CASES = [(g, s) for s in LONG for g in ("none", "both")] + [(g, LONG[i]) for i in (1, 5) for g in ("in", "out")]


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("gates,shape", FORWARD_CASES, ids=lambda c: c if isinstance(c, str) else "x".join(map(str, c)))
def test_partial_forward_long_sequence(dtype, gates, shape):
    dt = DTYPES[dtype]
    B, H, L, K, N = shape
    u, k, ig, og = make((B, H, L, K), dt, gates, seed=L + K)
    y = ffc.fftconv(u, k, ig, og, fft_size=N, partial=True)
    assert y.shape == u.shape and y.dtype == u.dtype
    assert_close(y, linear_forward_ref(u, k, ig, og), dt, "y")


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("gates", ["none", "both"])
@pytest.mark.parametrize("shape", LONG, ids=LONG_IDS)
def test_partial_backward_long_sequence(dtype, gates, shape):
    dt = DTYPES[dtype]
    B, H, L, K, N = shape
    u, k, ig, og = make((B, H, L, K), dt, gates, seed=3 * L + K)
    dy = np.random.default_rng(L * K).standard_normal(u.shape).astype(dt)
    g = ffc.fftconv_backward(dy, u, k, ig, og, fft_size=N, partial=True)
    assert_gradients_close(g, linear_backward_ref(dy, u, k, ig, og), u, k, dt)


def test_partial_backward_subset_and_deterministic_dk():
    u, k, ig, og = make((3, 2, 1500, 100), np.float16, "both", seed=5)
    dy = np.random.default_rng(6).standard_normal(u.shape).astype(np.float16)
    a = ffc.fftconv_backward(dy, u, k, ig, og, 256, True, need_du=False, need_d_in_gate=False)
    assert a.du is None and a.d_in_gate is None and a.dk is not None and a.d_out_gate is not None
    ref = linear_backward_ref(dy, u, k, ig, og)
    assert_close(a.dk, ref[1], np.float32, "dk")
    assert_close(a.d_out_gate, ref[3], np.float16, "d_out_gate")
    b = ffc.fftconv_backward(dy, u, k, ig, og, 256, True, need_du=False, need_d_in_gate=False)
    assert np.array_equal(a.dk.view(np.uint32), b.dk.view(np.uint32))


def test_partial_default_fft_size_long_sequence():
    # No fft_size: N follows K (4 * 300 -> 2048), not L (30000 would need 32768).
    u, k, ig, og = make((1, 2, 30000, 300), np.float32, "both", seed=9)
    y = ffc.fftconv(u, k, ig, og, partial=True)
    assert_close(y, linear_forward_ref(u, k, ig, og), np.float32, "y")
    assert (2048, DType.FP32, ffc.Backend.CPU, -1, True) in ffc.cached_plans()


def test_partial_spectrum_reuse_long_sequence():
    B, H, L, K, N = 3, 2, 1000, 100, 256
    u, k, ig, og = make((B, H, L, K), np.float32, "both", seed=11)
    plan = ffc.get_plan(N, "fp32", "cpu", partial=True)
    y = forward_with_spectrum(plan, ffc.Shape(B, H, L, K), u, k, ig, og)
    assert_close(y, linear_forward_ref(u, k, ig, og), np.float32, "y")


# -- no wrap: the plain plan's result -----------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("shape", [(3, 2, 200, 57, 256), (2, 3, 256, 1, 256), (1, 2, 129, 128, 256),
                                   (3, 1, 100, 129, 256), (1, 1, 1, 1, 256), (2, 2, 700, 300, 1024)],
                         ids=lambda s: "x".join(map(str, s)))
def test_partial_without_wrap_equals_plain_plan(dtype, shape):
    dt = DTYPES[dtype]
    B, H, L, K, N = shape
    assert L + K - 1 <= N
    u, k, ig, og = make((B, H, L, K), dt, "both", seed=L)
    bits = {np.float32: np.uint32}.get(dt, np.uint16)
    yp = ffc.fftconv(u, k, ig, og, fft_size=N, partial=True)
    y = ffc.fftconv(u, k, ig, og, fft_size=N)
    assert np.array_equal(yp.view(bits), y.view(bits))
    assert_close(yp, linear_forward_ref(u, k, ig, og), dt, "y")  # and both are the linear convolution
    dy = np.random.default_rng(1).standard_normal(u.shape).astype(dt)
    gp = ffc.fftconv_backward(dy, u, k, ig, og, N, True)
    g = ffc.fftconv_backward(dy, u, k, ig, og, N)
    for name, a, b in zip(gp._fields, gp, g):
        b_bits = np.uint32 if a.dtype == np.float32 else np.uint16
        assert np.array_equal(a.view(b_bits), b.view(b_bits)), name


# -- errors --------------------------------------------------------------------------------


def test_partial_kernel_above_half_fft_size_needs_no_wrap():
    N, K = 256, 129  # K > N/2
    u, k, _, _ = make((1, 2, 129, K), np.float32, "none", seed=2)  # L = N - K + 2: one position too many
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=N, partial=True)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    assert "N/2" in ei.value.message and "kernel_len = 129" in ei.value.message
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv_backward(np.ones_like(u), u, k, fft_size=N, partial=True)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.get_plan(N, "fp32", "cpu", partial=True).workspace_size(ffc.Shape(1, 2, 5000, K))
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    # One position fewer (L + K - 1 = N) does not wrap and runs.
    u = u[:, :, :128].copy()
    assert_close(ffc.fftconv(u, k, fft_size=N, partial=True), linear_forward_ref(u, k), np.float32, "y")
    # K > N is refused by partial plans as by plain ones.
    u, k, _, _ = make((1, 1, 100, 300), np.float32, "none", seed=2)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=N, partial=True)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE


def test_plain_plan_still_refuses_long_sequence():
    u, k, _, _ = make((1, 1, 1000, 5), np.float32, "none", seed=3)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=256)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    assert "seq_len = 1000" in ei.value.message and "FFC_PLAN_PARTIAL" in ei.value.message


def test_partial_y_is_u_is_rejected():
    B, H, L, K = 2, 2, 1000, 50
    u, k, _, _ = make((B, H, L, K), np.float32, "none", seed=4)
    shape = ffc.Shape(B, H, L, K)
    for plan_len in (L, 200):  # windows, and no wrap (y == u is refused on every partial call)
        s = ffc.Shape(B, H, plan_len, K)
        uu = np.ascontiguousarray(u[:, :, :plan_len])
        before = uu.copy()
        with ffc.Plan(256, "fp32", "cpu", partial=True) as plan:
            ws = np.empty(max(plan.workspace_size(s), 1), np.uint8)
            with pytest.raises(FlashFFTConvError) as ei:
                plan.forward_ptr(s, uu.ctypes.data, k.ctypes.data, None, None, uu.ctypes.data, ws.ctypes.data,
                                 ws.size)
            assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
            assert "y == u" in ei.value.message
            assert np.array_equal(uu, before)
    # A separate output works on the same plan.
    plan = ffc.get_plan(256, "fp32", "cpu", partial=True)
    y = np.empty_like(u)
    ws = np.empty(max(plan.workspace_size(shape), 1), np.uint8)
    plan.forward_ptr(shape, u.ctypes.data, k.ctypes.data, None, None, y.ctypes.data, ws.ctypes.data, ws.size)
    assert_close(y, linear_forward_ref(u, k), np.float32, "y")


def test_unknown_flag_bits_are_refused():
    from flashfftconv import _lib

    def create(flags):
        d = _lib.PlanDescC.init()
        d.fft_size, d.dtype, d.backend, d.flags = 1024, DType.FP32, ffc.Backend.CPU, flags
        h = ctypes.c_void_p()
        st = _lib.lib().ffc_plan_create(ctypes.byref(h), ctypes.byref(d))
        if h.value:
            _lib.lib().ffc_plan_destroy(h)
        return st

    assert create(ffc.PLAN_DEFAULT) == Status.SUCCESS
    assert create(ffc.PLAN_PARTIAL) == Status.SUCCESS
    assert create(2) == Status.ERROR_INVALID_FLAGS
    assert create(ffc.PLAN_PARTIAL | 0x80) == Status.ERROR_INVALID_FLAGS


# -- plans, defaults ----------------------------------------------------------------------


def test_partial_plan_object():
    assert ffc.PLAN_PARTIAL == 1 and ffc.PLAN_DEFAULT == 0
    with ffc.Plan(1024, "fp16", "cpu", partial=True) as plan:
        assert plan.partial and plan.flags == ffc.PLAN_PARTIAL
        assert "partial" in plan.describe() and "FFC_PLAN_PARTIAL" in plan.describe()
        assert "partial=True" in repr(plan)
        assert plan.info().fft_size == 1024
        # Any seq_len is a valid shape; the windowed call needs more workspace than one FFT.
        assert plan.workspace_size(ffc.Shape(2, 3, 100000, 512)) > 0
    with ffc.Plan(1024, "fp16", "cpu") as plain:
        assert not plain.partial and plain.flags == ffc.PLAN_DEFAULT
        assert "partial" not in repr(plain)
        with pytest.raises(FlashFFTConvError):
            plain.workspace_size(ffc.Shape(2, 3, 100000, 512))


@pytest.mark.parametrize(
    "L,K,N",
    [
        (100000, 1, 256),      # at least 256
        (100000, 5, 256),
        (100000, 64, 256),     # 4K = 256
        (100000, 65, 512),     # 4K = 260 -> 512
        (100000, 100, 512),
        (100000, 4096, 16384),
        (500, 1000, 2048),     # capped by the plain causal size 2048 >= 1499
        (100, 64, 256),        # cap: the plain size (256)
        (1, 1, 256),
        (10**9, 2**20, 2**22),
        (10**9, 2**21, 2**22),  # 4K above the largest size: N = 4194304 = 2K
    ],
)
def test_default_fft_size_partial(L, K, N):
    assert ffc.default_fft_size(L, K, partial=True) == N
    assert ffc.default_fft_size(L, K, True) <= max(256, 1 << (L + K - 2).bit_length())


def test_default_fft_size_partial_kernel_too_long():
    with pytest.raises(ValueError, match="kernel_len = 2097153"):
        ffc.default_fft_size(10**7, 2**21 + 1, partial=True)
    u = np.zeros((1, 1, 8), np.float32)
    k = np.zeros((1, 2**21 + 1), np.float32)
    with pytest.raises(ValueError, match="partial"):
        ffc.fftconv(u, k, partial=True)
    # The plain default is unchanged (and still a library-style error above 4M).
    assert ffc.default_fft_size(1000, 5) == 1024
    with pytest.raises(FlashFFTConvError):
        ffc.default_fft_size(4194304, 2)


def test_partial_plans_are_cached_apart():
    ffc.clear_plan_cache()
    u, k, _, _ = make((1, 1, 3000, 5), np.float32, "none", seed=1)
    ffc.fftconv(u, k, fft_size=256, partial=True)
    ffc.fftconv(u[:, :, :200], k, fft_size=256)
    cached = ffc.cached_plans()
    partial_plan = cached[(256, DType.FP32, ffc.Backend.CPU, -1, True)]
    plain_plan = cached[(256, DType.FP32, ffc.Backend.CPU, -1, False)]
    assert partial_plan is not plain_plan and partial_plan.partial and not plain_plan.partial
