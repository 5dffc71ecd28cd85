"""Short depthwise convolution (ffc_conv1d_*) on NumPy arrays (CPU backend):
forward and backward against a float64 direct reference for every dtype and
layout and several kernel sizes and paddings, under the DESIGN §3 precision rule;
the plan object and cache; the descriptor's layout; error mapping."""
import ctypes
import threading

import numpy as np
import pytest

import flashfftconv as ffc
from flashfftconv import Conv1dPlan, Conv1dShape, FlashFFTConvError, Layout, Status

from _helpers import DTYPE_PARAMS, DTYPES, assert_close
from _reference import FP32_FLOOR, conv1d_backward_ref, conv1d_loops, conv1d_ref, rel_l2

LAYOUTS = ["bhl", "blh"]

# (K, padding, L): K = 1, 2, 3, 4 (odd and even), 5, 7, 31, 128; causal, same
# (even K: the extra zero on the right), valid, asymmetric, full (K-1 on both
# sides), L_out = 1, L < K, and L not a multiple of anything.
CASES = [
    (1, 0, 37),
    (1, "causal", 20),
    (2, "same", 33),
    (3, "causal", 64),
    (3, "same", 50),
    (3, 0, 17),
    (4, "same", 40),
    (4, (0, 3), 29),
    (5, (3, 1), 31),
    (7, (6, 6), 12),
    (7, "valid", 7),
    (31, "causal", 100),
    (128, "causal", 150),
    (128, (100, 27), 60),
    (128, 0, 130),
]
BACKWARD_CASES = [CASES[i] for i in (0, 3, 6, 8, 9, 12, 13)]


def case_id(c):
    k, p, length = c
    return f"K{k}-{p if isinstance(p, (int, str)) else '%d_%d' % tuple(p)}-L{length}"


def make(K, L, dtype, layout, B=3, H=5, bias=True, seed=0):
    """x (in layout), weight (H, K) float32, bias (H,) float32 or None; already rounded."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, H, L)).astype(dtype)
    if layout == "blh":
        x = np.ascontiguousarray(np.swapaxes(x, 1, 2))
    w = (rng.standard_normal((H, K)) / np.sqrt(K)).astype(np.float32)
    b = rng.standard_normal(H).astype(np.float32) if bias else None
    return x, w, b


def reduction_tolerance(n_terms):
    """dweight and dbias are float32 sums of n_terms products, accumulated in fp32:
    the fp32 floor, or a few units of fp32 roundoff times sqrt(n) for long sums."""
    return max(FP32_FLOOR, 4 * 2.0**-24 * np.sqrt(n_terms))


# -- the reference itself ---------------------------------------------------------------


def test_reference_matches_header_formula():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 11)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    for left, right in ((0, 0), (3, 0), (1, 2), (3, 3)):
        assert rel_l2(conv1d_ref(x, w, b, (left, right)), conv1d_loops(x, w, b, left, right)) < 1e-14
    # blh is bhl transposed
    y = conv1d_ref(np.swapaxes(x, 1, 2), w, b, (1, 2), layout="blh")
    assert rel_l2(np.swapaxes(y, 1, 2), conv1d_loops(x, w, b, 1, 2)) < 1e-14


def test_reference_backward_is_the_adjoint():
    # <dy, conv(x)> = <dx, x> = <dw, w> for the bias-free reference.
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 15)), rng.standard_normal((3, 5))
    for pad in ((0, 0), (4, 0), (2, 3), (4, 4)):
        y = conv1d_ref(x, w, None, pad)
        dy = rng.standard_normal(y.shape)
        dx, dw, db = conv1d_backward_ref(dy, x, w, pad)
        assert np.isclose(np.vdot(dy, y), np.vdot(dx, x))
        assert np.isclose(np.vdot(dy, y), np.vdot(dw, w))
        assert np.allclose(db, dy.sum(axis=(0, 2)))


def test_resolve_padding():
    assert ffc.resolve_padding(0, 5) == (0, 0)
    assert ffc.resolve_padding(2, 5) == (2, 2)
    assert ffc.resolve_padding("valid", 5) == (0, 0)
    assert ffc.resolve_padding("causal", 5) == (4, 0)
    assert ffc.resolve_padding("same", 5) == (2, 2)
    assert ffc.resolve_padding("same", 4) == (1, 2)  # PyTorch puts the odd zero on the right
    assert ffc.resolve_padding("same", 1) == (0, 0)
    assert ffc.resolve_padding((3, 1), 5) == (3, 1)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.resolve_padding("full", 3)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(TypeError):
        ffc.resolve_padding((1, 2, 3), 5)


# -- forward and backward ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_forward(dtype, layout, case, bias):
    dt = DTYPES[dtype]
    K, padding, L = case
    x, w, b = make(K, L, dt, layout, bias=bias)
    y = ffc.depthwise_conv1d(x, w, b, padding=padding, layout=layout)
    pad = ffc.resolve_padding(padding, K)
    ref = conv1d_ref(x, w, b, pad, layout)
    L_out = L + pad[0] + pad[1] - K + 1
    assert y.shape == ((3, 5, L_out) if layout == "bhl" else (3, L_out, 5))
    assert y.dtype == x.dtype and isinstance(y, np.ndarray)
    assert_close(y, ref, dt, "y")


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", BACKWARD_CASES, ids=case_id)
def test_backward(dtype, layout, case):
    dt = DTYPES[dtype]
    K, padding, L = case
    x, w, _ = make(K, L, dt, layout, seed=5)
    pad = ffc.resolve_padding(padding, K)
    y_shape = conv1d_ref(x, w, None, pad, layout).shape
    dy = np.random.default_rng(6).standard_normal(y_shape).astype(dt)
    g = ffc.depthwise_conv1d_backward(dy, x, w, padding=padding, layout=layout)
    rdx, rdw, rdb = conv1d_backward_ref(dy, x, w, pad, layout)
    assert g.dx.shape == x.shape and g.dx.dtype == x.dtype
    assert g.dweight.shape == w.shape and g.dweight.dtype == np.float32
    assert g.dbias.shape == (5,) and g.dbias.dtype == np.float32
    assert_close(g.dx, rdx, dt, "dx")
    n_terms = dy.shape[0] * (dy.shape[2] if layout == "bhl" else dy.shape[1])
    tol = reduction_tolerance(n_terms)
    assert rel_l2(g.dweight, rdw) <= tol, f"dweight: {rel_l2(g.dweight, rdw):.3e} > {tol:.3e}"
    assert rel_l2(g.dbias, rdb) <= tol, f"dbias: {rel_l2(g.dbias, rdb):.3e} > {tol:.3e}"


@pytest.mark.parametrize("want", ["dx", "dweight", "dbias", "dweight+dbias", "none"])
def test_backward_requested_subset(want):
    x, w, _ = make(4, 40, np.float32, "blh", seed=8)
    pad = (2, 1)
    dy = np.random.default_rng(9).standard_normal(conv1d_ref(x, w, None, pad, "blh").shape).astype(np.float32)
    g = ffc.depthwise_conv1d_backward(dy, x, w, pad, "blh", need_dx="dx" in want,
                                      need_dweight="dweight" in want, need_dbias="dbias" in want)
    ref = conv1d_backward_ref(dy, x, w, pad, "blh")
    for name, got, r in zip(("dx", "dweight", "dbias"), g, ref):
        if name in want:
            assert got is not None and rel_l2(got, r) <= 2e-6, name
        else:
            assert got is None, name


def test_backward_through_raw_pointers_with_null_inputs():
    # x may be NULL without dweight and weight NULL without dx (header contract).
    x, w, _ = make(3, 30, np.float32, "bhl", seed=10)
    dy = np.random.default_rng(11).standard_normal((3, 5, 30)).astype(np.float32)
    with Conv1dPlan(3, "causal", "fp32", "bhl", "cpu") as plan:
        shape = Conv1dShape(3, 5, 30)
        ws = np.empty(max(plan.workspace_size(shape), 1), np.uint8)
        dx = np.empty_like(x)
        db = np.empty(5, np.float32)
        plan.backward_ptr(shape, dy.ctypes.data, None, w.ctypes.data, dx.ctypes.data, None, db.ctypes.data,
                          ws.ctypes.data, ws.nbytes)
        rdx, _, rdb = conv1d_backward_ref(dy, x, w, (2, 0))
        assert rel_l2(dx, rdx) <= 2e-6 and rel_l2(db, rdb) <= 2e-6
        dw = np.empty_like(w)
        plan.backward_ptr(shape, dy.ctypes.data, x.ctypes.data, None, None, dw.ctypes.data, None,
                          ws.ctypes.data, ws.nbytes)
        assert rel_l2(dw, conv1d_backward_ref(dy, x, w, (2, 0))[1]) <= 2e-6


def test_dweight_and_dbias_are_deterministic():
    x, w, _ = make(7, 300, np.float16, "blh", B=4, H=9, seed=12)
    dy = np.random.default_rng(13).standard_normal((4, 300, 9)).astype(np.float16)
    a = ffc.depthwise_conv1d_backward(dy, x, w, "causal", "blh", need_dx=False)
    for _ in range(3):
        b = ffc.depthwise_conv1d_backward(dy, x, w, "causal", "blh", need_dx=False)
        assert np.array_equal(a.dweight.view(np.uint32), b.dweight.view(np.uint32))
        assert np.array_equal(a.dbias.view(np.uint32), b.dbias.view(np.uint32))


def test_torch_style_weight_and_conversions():
    # PyTorch's (H, 1, K) weight; float64 weight and bias are converted to float32;
    # a non-contiguous x is copied.
    x, w, b = make(5, 40, np.float32, "bhl", seed=14)
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert not xt.flags.c_contiguous
    y = ffc.depthwise_conv1d(xt, w[:, None, :].astype(np.float64), b.astype(np.float64), padding=2)
    assert_close(y, conv1d_ref(x, w, b, (2, 2)), np.float32, "y")
    g = ffc.depthwise_conv1d_backward(np.ones_like(y), x, w[:, None, :], padding=2)
    assert g.dweight.shape == (5, 1, 5)


def test_single_element_problem():
    # B = H = 1, K = 1, L = 1: the smallest problem.
    x = np.array([[[3.0]]], np.float32)
    y = ffc.depthwise_conv1d(x, np.array([[2.0]], np.float32), np.array([0.5], np.float32))
    assert y.shape == (1, 1, 1) and y[0, 0, 0] == 6.5


def test_threads_share_cached_plan():
    x, w, b = make(4, 500, np.float16, "blh", B=2, H=16, seed=15)
    expected = ffc.depthwise_conv1d(x, w, b, "causal", "blh")
    results, errors = [None] * 8, []

    def work(i):
        try:
            results[i] = ffc.depthwise_conv1d(x, w, b, "causal", "blh")
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        assert np.array_equal(r.view(np.uint16), expected.view(np.uint16))


# -- the plan object, the cache, the descriptor -------------------------------------------


def test_conv1d_plan_object():
    with Conv1dPlan(4, "same", "bf16", "blh", "cpu", cpu_threads=2) as plan:
        assert plan.kernel_size == 4 and plan.padding == (1, 2)
        assert plan.dtype == ffc.DType.BF16 and plan.layout == Layout.BLH and plan.backend == ffc.Backend.CPU
        assert plan.device == -1  # as the library reports it (ffc_conv1d_plan_get_desc)
        assert plan.output_length(10) == 10
        assert plan.workspace_size(Conv1dShape(2, 3, 10)) >= 0
        assert "BF16" in repr(plan) and "BLH" in repr(plan)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.output_length(10)  # closed
    assert ei.value.status == Status.ERROR_NULL_POINTER
    plan.close()  # idempotent
    with Conv1dPlan(5, padding=(0, 0), dtype="fp32", backend="cpu") as valid:
        assert valid.output_length(5) == 1 and valid.output_length(100) == 96
    # The default is the header's: causal.
    with Conv1dPlan(3, dtype="fp32", backend="cpu") as causal:
        assert causal.padding == (2, 0) and causal.output_length(7) == 7
    # "auto" becomes CUDA where a device exists, else the CPU (the plan reports which).
    with Conv1dPlan(3, dtype="fp32", backend="auto") as auto:
        assert auto.backend == (ffc.Backend.CUDA if ffc.backend_available("cuda") else ffc.Backend.CPU)
        assert (auto.device >= 0) == (auto.backend == ffc.Backend.CUDA)


def test_conv1d_plan_cache():
    ffc.clear_plan_cache()
    a = ffc.get_conv1d_plan(3, "causal", np.float16, "bhl", "cpu")
    b = ffc.get_conv1d_plan(3, (2, 0), "fp16", Layout.BHL, ffc.Backend.CPU)
    c = ffc.get_conv1d_plan(3, "causal", "fp16", "blh", "cpu")
    assert a is b and a is not c
    assert (3, 2, 0, ffc.DType.FP16, Layout.BHL, ffc.Backend.CPU, -1) in ffc.cached_conv1d_plans()
    ffc.clear_plan_cache()
    assert not ffc.cached_conv1d_plans()


def test_conv1d_desc_layout():
    """Conv1dDescC matches ffc_conv1d_desc_t on LP64 (96 bytes)."""
    from flashfftconv import _lib

    C = _lib.Conv1dDescC
    assert ctypes.sizeof(C) == 96
    offsets = {name: getattr(C, name).offset for name, _ in C._fields_}
    assert offsets == {
        "struct_size": 0, "magic": 8, "version": 12, "dtype": 16, "backend": 20, "device": 24, "layout": 28,
        "kernel_size": 32, "padding_left": 36, "padding_right": 40, "cpu_threads": 44, "reserved": 48,
    }
    assert C.reserved.size == 6 * 8
    assert ctypes.sizeof(_lib.Conv1dShapeC) == 24
    d = C.init()  # FFC_CONV1D_DESC_INIT
    assert (d.struct_size, d.magic, d.version) == (96, 0x46464331, 1)
    assert (d.dtype, d.backend, d.device, d.layout) == (ffc.DType.FP16, ffc.Backend.AUTO, -1, Layout.BHL)
    assert (d.kernel_size, d.padding_left, d.padding_right, d.cpu_threads) == (3, 2, 0, 0)
    assert list(d.reserved) == [0] * 6
    assert ffc.CONV1D_MAX_KERNEL_SIZE == 128


def _raw_create(desc):
    """ffc_conv1d_plan_create on a raw descriptor (or None): (status, message); destroys a plan it made."""
    from flashfftconv import _lib

    L = _lib.lib()
    h = ctypes.c_void_p()
    st = L.ffc_conv1d_plan_create(ctypes.byref(h), None if desc is None else ctypes.byref(desc))
    msg = "" if st == 0 else _lib.last_error_message()
    if h.value:
        L.ffc_conv1d_plan_destroy(h)
    return st, msg


def _cpu_desc(**fields):
    from flashfftconv import _lib

    d = _lib.Conv1dDescC.init()
    d.dtype, d.backend = ffc.DType.FP32, ffc.Backend.CPU
    for k, v in fields.items():
        setattr(d, k, v)
    return d


def test_raw_descriptor_validation():
    assert _raw_create(_cpu_desc()) == (Status.SUCCESS, "")
    assert _raw_create(_cpu_desc(kernel_size=128, padding_left=127, padding_right=127))[0] == Status.SUCCESS
    cases = [
        (dict(struct_size=95), Status.ERROR_INVALID_DESCRIPTOR),
        (dict(magic=0x46464344), Status.ERROR_INVALID_DESCRIPTOR),  # the FFT plan's magic
        (dict(dtype=7), Status.ERROR_INVALID_DTYPE),
        (dict(backend=9), Status.ERROR_INVALID_BACKEND),
        (dict(layout=2), Status.ERROR_INVALID_ARGUMENT),
        (dict(layout=-1), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=0, padding_left=0), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=129, padding_left=0), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, padding_left=3), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, padding_right=3), Status.ERROR_INVALID_ARGUMENT),
        (dict(padding_left=-1), Status.ERROR_INVALID_ARGUMENT),
        (dict(cpu_threads=-1), Status.ERROR_INVALID_ARGUMENT),
    ]
    for fields, status in cases:
        st, msg = _raw_create(_cpu_desc(**fields))
        assert st == status, (fields, st, msg)
        assert msg, fields  # the library's detail message
    d = _cpu_desc()
    d.reserved[5] = 1
    st, msg = _raw_create(d)
    assert st == Status.ERROR_INVALID_DESCRIPTOR and msg
    assert _raw_create(None)[0] == Status.ERROR_NULL_POINTER


# -- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, status",
    [
        (dict(kernel_size=0), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=129), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, padding=3), Status.ERROR_INVALID_ARGUMENT),  # a side > K - 1
        (dict(kernel_size=3, padding=(0, 5)), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, padding=(-1, 0)), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, layout=5), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, cpu_threads=-2), Status.ERROR_INVALID_ARGUMENT),
        (dict(kernel_size=3, dtype="fp64"), Status.ERROR_INVALID_DTYPE),
    ],
)
def test_plan_create_errors(kwargs, status):
    kwargs.setdefault("backend", "cpu")
    with pytest.raises(FlashFFTConvError) as ei:
        Conv1dPlan(**kwargs)
    assert ei.value.status == status
    assert ei.value.message and str(int(status)) in str(ei.value)


def test_cuda_plan_without_cuda():
    if ffc.backend_available("cuda"):
        pytest.skip("a CUDA backend is available")
    with pytest.raises(FlashFFTConvError) as ei:
        Conv1dPlan(3, dtype="fp16", backend="cuda")
    assert ei.value.status == Status.ERROR_BACKEND_UNAVAILABLE and ei.value.message


def test_output_length_errors():
    with Conv1dPlan(5, 0, "fp32", "bhl", "cpu") as plan:
        for L in (0, -3, 4):  # L < 1, and L_out = 0
            with pytest.raises(FlashFFTConvError) as ei:
                plan.output_length(L)
            assert ei.value.status == Status.ERROR_INVALID_SHAPE and ei.value.message
        with pytest.raises(FlashFFTConvError) as ei:
            plan.workspace_size(Conv1dShape(0, 3, 10))
        assert ei.value.status == Status.ERROR_INVALID_SHAPE


@pytest.mark.parametrize(
    "case, status",
    [
        ("x_2d", Status.ERROR_INVALID_SHAPE),
        ("weight_channels", Status.ERROR_INVALID_SHAPE),
        ("weight_3d_not_1", Status.ERROR_INVALID_SHAPE),
        ("bias_shape", Status.ERROR_INVALID_SHAPE),
        ("too_short", Status.ERROR_INVALID_SHAPE),  # L_out < 1: the library's check
        ("kernel_129", Status.ERROR_INVALID_ARGUMENT),  # the library's check
        ("padding_too_large", Status.ERROR_INVALID_ARGUMENT),  # the library's check
        ("layout_name", Status.ERROR_INVALID_ARGUMENT),
        ("float64", Status.ERROR_INVALID_DTYPE),
        ("dy_shape", Status.ERROR_INVALID_SHAPE),
        ("dy_dtype", Status.ERROR_INVALID_DTYPE),
    ],
)
def test_functional_errors(case, status):
    x, w, b = make(3, 20, np.float32, "bhl")
    with pytest.raises(FlashFFTConvError) as ei:
        if case == "x_2d":
            ffc.depthwise_conv1d(x[0], w)
        elif case == "weight_channels":
            ffc.depthwise_conv1d(x, w[:4])
        elif case == "weight_3d_not_1":
            ffc.depthwise_conv1d(x, np.zeros((5, 2, 3), np.float32))
        elif case == "bias_shape":
            ffc.depthwise_conv1d(x, w, b[:3])
        elif case == "too_short":
            ffc.depthwise_conv1d(x[:, :, :2], w, padding=0)
        elif case == "kernel_129":
            ffc.depthwise_conv1d(x, np.zeros((5, 129), np.float32), padding=0)
        elif case == "padding_too_large":
            ffc.depthwise_conv1d(x, w, padding=3)
        elif case == "layout_name":
            ffc.depthwise_conv1d(x, w, layout="lbh")
        elif case == "float64":
            ffc.depthwise_conv1d(x.astype(np.float64), w)
        elif case == "dy_shape":
            ffc.depthwise_conv1d_backward(np.zeros((3, 5, 20), np.float32), x, w, padding=0)  # L_out is 18
        else:
            ffc.depthwise_conv1d_backward(np.zeros((3, 5, 18), np.float16), x, w, padding=0)
    assert ei.value.status == status
    assert ei.value.message


def _plan_and_operands(dtype=np.float32):
    plan = Conv1dPlan(3, "causal", "fp32" if dtype == np.float32 else "fp16", "bhl", "cpu")
    shape = Conv1dShape(2, 3, 16)
    x, w, b = make(3, 16, dtype, "bhl", B=2, H=3)
    ws_size = plan.workspace_size(shape)
    ws = np.empty(max(ws_size, 1), np.uint8)
    return plan, shape, x, w, b, ws


def test_forward_null_and_bad_shape_raise_library_errors():
    plan, shape, x, w, b, ws = _plan_and_operands()
    y = np.empty_like(x)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(shape, None, w.ctypes.data, None, y.ctypes.data, ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_NULL_POINTER
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(shape, x.ctypes.data, None, None, y.ctypes.data, ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_NULL_POINTER
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(Conv1dShape(2, 0, 16), x.ctypes.data, w.ctypes.data, None, y.ctypes.data,
                         ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    # dweight wanted but x NULL
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_ptr(shape, y.ctypes.data, None, w.ctypes.data, None, np.empty_like(w).ctypes.data, None,
                          ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_NULL_POINTER
    plan.close()


def test_overlapping_outputs_raise_library_error_and_write_nothing():
    plan, shape, x, w, b, ws = _plan_and_operands()
    n = x.size
    # y one element into x: refused, x unchanged.
    buf = np.concatenate([x.ravel(), np.zeros(1, np.float32)])
    before = buf.copy()
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(shape, buf.ctypes.data, w.ctypes.data, b.ctypes.data, buf.ctypes.data + 4,
                         ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT and ei.value.message
    assert np.array_equal(buf, before)
    # No in-place form either.
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(shape, buf.ctypes.data, w.ctypes.data, None, buf.ctypes.data, ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    assert np.array_equal(buf, before)
    # Backward: dx overlapping dy; dweight overlapping weight.
    dy = np.ones(n + 8, np.float32)
    dy_before = dy.copy()
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_ptr(shape, dy.ctypes.data, x.ctypes.data, w.ctypes.data, dy.ctypes.data + 16, None, None,
                          ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    assert np.array_equal(dy, dy_before)
    w_before = w.copy()
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_ptr(shape, dy.ctypes.data, x.ctypes.data, w.ctypes.data, None, w.ctypes.data, None,
                          ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    assert np.array_equal(w, w_before)
    plan.close()


def test_misaligned_pointer_raises_library_error():
    plan, shape, x, w, b, ws = _plan_and_operands()
    raw = np.zeros(x.size * 4 + 16, np.uint8)
    y = np.empty_like(x)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(shape, raw.ctypes.data + 2, w.ctypes.data, None, y.ctypes.data, ws.ctypes.data, ws.nbytes)
    assert ei.value.status == Status.ERROR_MISALIGNED_POINTER
    plan.close()


def test_workspace_too_small():
    plan, shape, x, w, b, ws = _plan_and_operands()
    need = plan.workspace_size(shape)
    if need == 0:
        plan.close()
        pytest.skip("the CPU backend needs no workspace for this shape")
    dy = np.ones_like(x)
    dw = np.empty_like(w)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_ptr(shape, dy.ctypes.data, x.ctypes.data, w.ctypes.data, None, dw.ctypes.data, None,
                          ws.ctypes.data, need - 1)
    assert ei.value.status == Status.ERROR_WORKSPACE_TOO_SMALL
    plan.close()
