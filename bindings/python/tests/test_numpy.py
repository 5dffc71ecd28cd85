"""NumPy (CPU backend) tests: forward and backward against a float64 reference with
the DESIGN §3 precision rule, error mapping, plans, the plan cache, library loading."""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import flashfftconv as ffc
from flashfftconv import DType, FlashFFTConvError, Status

from _helpers import DTYPE_PARAMS, DTYPES, assert_close, assert_gradients_close, forward_with_spectrum, make
from _reference import backward_ref, direct_conv, forward_ref, rel_l2

GATES = ["none", "in", "out", "both"]

# (B, H, L, K, N): causal with the default N, odd B, L not a multiple of anything,
# K < L, circular (L = N), and K = N.
SHAPES = [
    (2, 3, 100, 100, None),
    (3, 2, 300, 41, None),
    (1, 2, 256, 256, 256),
    (2, 1, 200, 512, 512),
]


# -- library information --------------------------------------------------------------


def test_build_info():
    info = ffc.build_info()
    assert info["version_number"] == ffc.version_number()
    assert info["version_number"] // 10000 == 0  # the major version these bindings target
    assert info["version"] == ffc.version()
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["sm"], list)
    assert info["library_path"]
    from flashfftconv._lib import version_compatible

    assert version_compatible(ffc.version_number())
    assert not version_compatible(10100)  # another major version
    assert not version_compatible(ffc.version_number() + 100)  # 0.x: another minor is another ABI
    # These bindings target 0.5 (ffc_conv_backward_spectrum; descriptor version 3).
    assert version_compatible(500) and version_compatible(503)
    assert not version_compatible(400) and not version_compatible(600)
    assert ffc.version_number() // 100 == 5
    assert ffc.__version__.split(".")[:2] == ffc.version().split(".")[:2] == ["0", "5"]
    assert ffc.backend_available("cpu")
    if not info["cuda"]:
        assert not ffc.backend_available("cuda")


def test_status_strings():
    assert ffc.status_string(Status.SUCCESS) == "success"
    assert "shape" in ffc.status_string(Status.ERROR_INVALID_SHAPE)
    assert ffc.status_string(12345) == "unknown status"


def test_reference_matches_direct_convolution():
    # Guards the FFT-based reference itself, for both causal and circular sizes.
    rng = np.random.default_rng(1)
    u, k = rng.standard_normal((2, 3, 40)), rng.standard_normal((3, 9))
    for n in (64, 40):
        assert rel_l2(forward_ref(u, k, n=n), direct_conv(u, k, n)) < 1e-12


# -- forward and backward ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("gates", GATES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward(dtype, gates, shape):
    dt = DTYPES[dtype]
    u, k, ig, og = make(shape[:4], dt, gates)
    y = ffc.fftconv(u, k, ig, og, fft_size=shape[4])
    assert y.shape == u.shape and y.dtype == u.dtype
    ref = forward_ref(u, k, ig, og, n=shape[4])
    assert_close(y, ref, dt, "y")


def test_forward_matches_direct_causal_convolution():
    u, k, ig, og = make((2, 2, 50, 50), np.float32, "both", seed=3)
    y = ffc.fftconv(u, k, ig, og)
    ref = og.astype(np.float64) * direct_conv(ig.astype(np.float64) * u, k, 2 * 50)
    assert rel_l2(y, ref) < 1e-5


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("gates", GATES)
@pytest.mark.parametrize("shape", SHAPES[:3], ids=lambda s: "x".join(map(str, s)))
def test_backward(dtype, gates, shape):
    dt = DTYPES[dtype]
    u, k, ig, og = make(shape[:4], dt, gates, seed=7)
    dy = np.random.default_rng(8).standard_normal(u.shape).astype(dt)
    g = ffc.fftconv_backward(dy, u, k, ig, og, fft_size=shape[4])
    assert_gradients_close(g, backward_ref(dy, u, k, ig, og, n=shape[4]), u, k, dt)


def test_backward_requested_subset():
    u, k, ig, og = make((2, 2, 64, 64), np.float32, "both")
    dy = np.ones_like(u)
    g = ffc.fftconv_backward(dy, u, k, ig, og, need_du=False, need_d_in_gate=False)
    assert g.du is None and g.d_in_gate is None
    assert g.dk is not None and g.d_out_gate is not None
    ref = backward_ref(dy, u, k, ig, og)
    assert_close(g.dk, ref[1], np.float32, "dk")
    assert_close(g.d_out_gate, ref[3], np.float32, "d_out_gate")


def test_backward_dk_is_deterministic():
    u, k, _, _ = make((5, 3, 200, 200), np.float16, "none")
    dy = np.random.default_rng(2).standard_normal(u.shape).astype(np.float16)
    a = ffc.fftconv_backward(dy, u, k, need_du=False).dk
    b = ffc.fftconv_backward(dy, u, k, need_du=False).dk
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_non_contiguous_and_k_dtype_conversion():
    u, k, _, _ = make((2, 3, 64, 64), np.float32, "none")
    ut = np.ascontiguousarray(u.transpose(1, 0, 2)).transpose(1, 0, 2)  # same values, not C-contiguous
    assert not ut.flags.c_contiguous
    y = ffc.fftconv(ut, k.astype(np.float64))  # k of any float dtype is converted to float32
    assert_close(y, forward_ref(u, k), np.float32, "y")


def test_dlpack_cpu_producer():
    class Producer:  # exposes only DLPack, like an array from another CPU library
        def __init__(self, a):
            self._a = a

        def __dlpack__(self, **kw):
            return self._a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

    u, k, _, _ = make((1, 2, 80, 30), np.float32, "none")
    y = ffc.fftconv(Producer(u), Producer(k))
    assert isinstance(y, np.ndarray)
    assert_close(y, forward_ref(u, k), np.float32, "y")


def test_threads_share_cached_plan():
    u, k, ig, og = make((2, 4, 300, 300), np.float16, "both")
    expected = ffc.fftconv(u, k, ig, og)
    results, errors = [None] * 8, []

    def work(i):
        try:
            results[i] = ffc.fftconv(u, k, ig, og)
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


# -- error mapping ------------------------------------------------------------------------


def test_seq_len_above_fft_size_raises_library_error():
    u, k, _, _ = make((1, 2, 300, 10), np.float32, "none")
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=256)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    assert "seq_len = 300" in ei.value.message  # the library's own message
    assert "seq_len = 300" in str(ei.value)


def test_kernel_len_above_fft_size_raises_library_error():
    u, k, _, _ = make((1, 2, 100, 300), np.float32, "none")
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=256)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE
    assert "kernel_len = 300" in ei.value.message


def test_bad_fft_size_raises_library_error():
    u, k, _, _ = make((1, 1, 100, 100), np.float32, "none")
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=300)
    assert ei.value.status == Status.ERROR_INVALID_FFT_SIZE
    assert "fft_size = 300" in ei.value.message


@pytest.mark.parametrize(
    "case",
    ["u_2d", "k_channels", "gate_shape", "dy_shape"],
)
def test_mismatched_shapes(case):
    u, k, ig, _ = make((2, 3, 64, 64), np.float32, "in")
    dy = np.ones_like(u)
    with pytest.raises(FlashFFTConvError) as ei:
        if case == "u_2d":
            ffc.fftconv(u[0], k)
        elif case == "k_channels":
            ffc.fftconv(u, k[:2])
        elif case == "gate_shape":
            ffc.fftconv(u, k, ig[:, :, :10])
        else:
            ffc.fftconv_backward(dy[:1], u, k)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE


def test_overlapping_output_raises_library_error_and_writes_nothing():
    from flashfftconv._plan import Shape

    b, h, l, k_len = 2, 3, 64, 64
    u, k, ig, _ = make((b, h, l, k_len), np.float32, "in")
    shape = Shape(b, h, l, k_len)
    with ffc.Plan(256, "fp32", "cpu") as plan:
        ws = np.empty(max(plan.workspace_size(shape), 1), dtype=np.uint8)
        # y one element into in_gate: the library must refuse and leave in_gate as it was.
        buf = np.concatenate([ig.ravel(), np.zeros(1, np.float32)])
        before = buf.copy()
        y_addr = buf.ctypes.data + 4
        with pytest.raises(FlashFFTConvError) as ei:
            plan.forward_ptr(shape, u.ctypes.data, k.ctypes.data, buf.ctypes.data, None, y_addr,
                             ws.ctypes.data, ws.size)
        assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
        assert "y overlaps in_gate" in ei.value.message
        assert np.array_equal(buf, before)
        # In place (y == u) is allowed.
        uu = u.copy()
        plan.forward_ptr(shape, uu.ctypes.data, k.ctypes.data, None, None, uu.ctypes.data, ws.ctypes.data, ws.size)


def test_dtype_errors():
    u, k, ig, _ = make((1, 1, 64, 64), np.float32, "in")
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u.astype(np.float64), k)
    assert ei.value.status == Status.ERROR_INVALID_DTYPE
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, ig.astype(np.float16))
    assert ei.value.status == Status.ERROR_INVALID_DTYPE


def test_gate_gradient_without_gate():
    u, k, _, _ = make((1, 1, 64, 64), np.float32, "none")
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv_backward(np.ones_like(u), u, k, need_d_in_gate=True)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT


def test_causal_size_too_large():
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.default_fft_size(4194304, 2)
    assert ei.value.status == Status.ERROR_INVALID_SHAPE


# -- plans ---------------------------------------------------------------------------------


def test_plan_object():
    with ffc.Plan(1024, "bf16", "cpu") as plan:
        info = plan.info()
        assert info.fft_size == 1024 and info.dtype == DType.BF16 and info.backend == ffc.Backend.CPU
        assert info.device == -1
        assert int(np.prod(info.factors)) == 1024
        assert isinstance(plan.describe(), str) and plan.describe()
        shape = ffc.Shape(2, 3, 1000, 20)
        assert plan.workspace_size(shape) >= 0
        assert "BF16" in repr(plan)
    with pytest.raises(FlashFFTConvError):
        plan.describe()  # closed
    plan.close()  # idempotent


def test_plan_create_errors():
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.Plan(1000, "fp32", "cpu")
    assert ei.value.status == Status.ERROR_INVALID_FFT_SIZE
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.Plan(1024, "fp64")
    assert ei.value.status == Status.ERROR_INVALID_DTYPE
    if not ffc.backend_available("cuda"):
        with pytest.raises(FlashFFTConvError) as ei:
            ffc.Plan(1024, "fp16", "cuda")
        assert ei.value.status == Status.ERROR_BACKEND_UNAVAILABLE
        assert ei.value.message


def test_plan_desc_layout():
    """PlanDescC matches ffc_plan_desc_t on LP64 (version 2: force_kernel in reserved[0]'s slot;
    version 3: freq_mask and freq_mask_len in version 2's reserved[0] and reserved[1])."""
    import ctypes

    from flashfftconv import _lib

    C = _lib.PlanDescC
    assert ctypes.sizeof(C) == 128
    offsets = {name: getattr(C, name).offset for name, _ in C._fields_}
    assert offsets == {
        "struct_size": 0, "magic": 8, "version": 12, "fft_size": 16, "dtype": 24, "backend": 28,
        "device": 32, "flags": 36, "force_factors": 40, "cpu_threads": 72, "reserved0": 76,
        "force_kernel": 80, "freq_mask": 88, "freq_mask_len": 96, "reserved1": 100, "reserved": 104,
    }
    assert C.freq_mask.size == 8 and C.freq_mask_len.size == 4 and C.reserved1.size == 4
    assert C.reserved.size == 3 * 8
    assert _lib.PLAN_DESC_VERSION == 3
    d = C.init()
    assert d.struct_size == 128 and d.version == 3 and d.force_kernel is None
    assert not d.freq_mask and d.freq_mask_len == 0 and d.reserved1 == 0
    assert list(d.reserved) == [0] * 3


def _raw_plan_create(desc):
    """ffc_plan_create on a raw descriptor: (status, message); destroys a plan it made."""
    import ctypes

    from flashfftconv import _lib

    L = _lib.lib()
    h = ctypes.c_void_p()
    st = L.ffc_plan_create(ctypes.byref(h), ctypes.byref(desc))
    msg = ""
    if st != 0:
        n = L.ffc_last_error_message(None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        L.ffc_last_error_message(buf, n + 1)
        msg = buf.value.decode()
    if h.value:
        L.ffc_plan_destroy(h)
    return st, msg


def test_old_version_descriptor_still_accepted():
    from flashfftconv import _lib

    d = _lib.PlanDescC.init()
    d.version = 1  # a caller built against the version-1 header: the slot is a zero
    d.fft_size = 1024
    d.dtype = DType.FP32
    d.backend = ffc.Backend.CPU
    assert _raw_plan_create(d) == (Status.SUCCESS, "")
    # In version 1 the slot is reserved: a pointer there is an invalid descriptor.
    d.force_kernel = b"fused_n1024_4x16x16"
    st, msg = _raw_plan_create(d)
    assert st == Status.ERROR_INVALID_DESCRIPTOR and "reserved" in msg


def test_force_kernel_cpu_backend():
    # The CPU backend has no kernel variants: any name is refused, clearly.
    for name in ("fused_n1024_4x16x16", "cpu_monarch"):
        with pytest.raises(FlashFFTConvError) as ei:
            ffc.Plan(1024, "fp32", "cpu", force_kernel=name)
        assert ei.value.status == Status.ERROR_NO_KERNEL
        assert "CPU backend" in ei.value.message and name in ei.value.message
    # Malformed names: INVALID_FLAGS (empty, embedded NUL, longer than the library reads).
    for bad in ("", "fused\0n1024", "x" * 300):
        with pytest.raises(FlashFFTConvError) as ei:
            ffc.Plan(1024, "fp32", "cpu", force_kernel=bad)
        assert ei.value.status == Status.ERROR_INVALID_FLAGS, bad
        assert "force_kernel" in ei.value.message
    with pytest.raises(TypeError):
        ffc.Plan(1024, "fp32", "cpu", force_kernel=b"fused_n1024_4x16x16")
    # None (the default) lets the planner decide, with or without forced factors.
    with ffc.Plan(1024, "fp32", "cpu", force_kernel=None, force_factors=(32, 32)) as plan:
        assert plan.info().factors == (32, 32)


@pytest.mark.skipif(not ffc.backend_available("cuda"), reason="needs a CUDA device")
def test_force_kernel_cuda():
    with ffc.Plan(16384, "fp16", "cuda") as auto:
        text = auto.describe()
    names = [n for n in ("fused_n16384_4x16cx16x16", "fused_n16384_4x16cx16x16_c2") if n in text]
    assert names
    for name in names:
        try:
            plan = ffc.Plan(16384, "fp16", "cuda", force_kernel=name)
        except FlashFFTConvError as e:  # e.g. a cluster variant on a device without clusters
            assert e.status == Status.ERROR_NO_KERNEL and "cannot run" in e.message
            continue
        with plan:
            assert plan.info().kernel_name == name
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.Plan(16384, "fp16", "cuda", force_kernel="no_such_kernel")
    assert ei.value.status == Status.ERROR_NO_KERNEL and "fused_n16384_" in ei.value.message
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.Plan(16384, "fp16", "cuda", force_kernel="fused_n16384_4x16cx16x16", force_factors=(8, 8, 16, 16))
    assert ei.value.status == Status.ERROR_INVALID_FLAGS


def test_workspace_too_small_raw_pointers():
    plan = ffc.get_plan(256, "fp32", "cpu")
    shape = ffc.Shape(1, 1, 256, 256)
    need = plan.workspace_size(shape)
    if need == 0:
        pytest.skip("the CPU backend needs no workspace for this shape")
    u = np.zeros((1, 1, 256), np.float32)
    k = np.zeros((1, 256), np.float32)
    y = np.empty_like(u)
    ws = np.empty(need, np.uint8)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.forward_ptr(shape, u.ctypes.data, k.ctypes.data, None, None, y.ctypes.data, ws.ctypes.data, need - 1)
    assert ei.value.status == Status.ERROR_WORKSPACE_TOO_SMALL
    assert str(need) in ei.value.message


def test_plan_cache():
    ffc.clear_plan_cache()
    a = ffc.get_plan(512, np.float16, "cpu")
    b = ffc.get_plan(512, "fp16", ffc.Backend.CPU)
    c = ffc.get_plan(512, "fp32", "cpu")
    assert a is b and a is not c
    u, k, _, _ = make((1, 1, 100, 100), np.float16, "none")
    ffc.fftconv(u, k, fft_size=512)
    assert (512, DType.FP16, ffc.Backend.CPU, -1, False) in ffc.cached_plans()
    # Partial plans are cached apart from plain ones of the same size.
    p = ffc.get_plan(512, "fp16", "cpu", partial=True)
    assert p is not a and p.partial and not a.partial
    assert ffc.get_plan(512, "fp16", "cpu", -1, True) is p
    assert (512, DType.FP16, ffc.Backend.CPU, -1, True) in ffc.cached_plans()


def test_spectrum_reuse():
    u, k, ig, og = make((2, 3, 120, 120), np.float32, "both")
    plan = ffc.get_plan(256, "fp32", "cpu")
    y = forward_with_spectrum(plan, ffc.Shape(2, 3, 120, 120), u, k, ig, og)
    assert_close(y, forward_ref(u, k, ig, og, n=256), np.float32, "y")


# -- loading ---------------------------------------------------------------------------------


def _run_python(code, **env):
    e = dict(os.environ, **env)
    e["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                      e.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=120)


def test_library_env_var_is_honoured():
    # Fresh interpreters, so the process-wide loaded library is not disturbed.
    ffc.load_library()
    bad = _run_python("import flashfftconv as f\ntry:\n  f.build_info()\nexcept f.LibraryNotFoundError as e:\n"
                      "  print('NOTFOUND', e)\n", FLASHFFTCONV_LIBRARY="/nonexistent/libflashfftconv.so")
    assert "NOTFOUND" in bad.stdout and "/nonexistent/libflashfftconv.so" in bad.stdout, bad.stderr
    good = _run_python("import flashfftconv as f, json\nprint(json.dumps(f.build_info()))",
                       FLASHFFTCONV_LIBRARY=ffc.library_path())
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["library_path"] == ffc.library_path()


def test_import_does_not_import_torch():
    r = _run_python("import sys, flashfftconv\nprint('torch' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
