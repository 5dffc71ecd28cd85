"""Helpers shared by the NumPy tests (test_numpy, test_partial_numpy,
test_conv1d_numpy): the dtype parameters, random FFT-convolution operands, the
DESIGN §3 assertions and the aligned-spectrum call. Kept in one place so that
plain and partial plans are held to exactly the same checks."""
import numpy as np
import pytest

from _reference import rel_l2, tolerance

try:  # bfloat16 NumPy arrays need ml_dtypes; only the bf16 cases depend on it
    import ml_dtypes

    _BF16 = ml_dtypes.bfloat16
except ImportError:
    _BF16 = None

DTYPES = {"fp32": np.float32, "fp16": np.float16, "bf16": _BF16}
DTYPE_PARAMS = [
    pytest.param(name, marks=pytest.mark.skipif(dt is None, reason="ml_dtypes is not installed"))
    for name, dt in DTYPES.items()
]


def make(shape, dtype, gates, seed=0):
    """Random operands (u, k, in_gate, out_gate) for shape (B, H, L, K), already
    rounded to dtype (k to float32), so the references use the same values."""
    B, H, L, K = shape
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((B, H, L)).astype(dtype)
    k = (rng.standard_normal((H, K)) / np.sqrt(K)).astype(np.float32)
    ig = rng.standard_normal((B, H, L)).astype(dtype) if gates in ("in", "both") else None
    og = rng.standard_normal((B, H, L)).astype(dtype) if gates in ("out", "both") else None
    return u, k, ig, og


def assert_close(x, ref, dtype, what):
    err, tol = rel_l2(x, ref), tolerance(ref, dtype)
    assert err <= tol, f"{what}: rel-L2 error {err:.3e} > tolerance {tol:.3e}"


def assert_gradients_close(g, ref, u, k, dtype):
    """fftconv_backward's result g against the float64 reference (du, dk, d_in_gate,
    d_out_gate): dk is float32 and held to float32's rule, the others to dtype's; a
    gate gradient is present exactly when the reference has one."""
    assert g.du.dtype == u.dtype and g.dk.dtype == np.float32 and g.dk.shape == k.shape
    assert_close(g.du, ref[0], dtype, "du")
    assert_close(g.dk, ref[1], np.float32, "dk")
    for name, got, want in (("d_in_gate", g.d_in_gate, ref[2]), ("d_out_gate", g.d_out_gate, ref[3])):
        assert (got is None) == (want is None), name
        if want is not None:
            assert_close(got, want, dtype, name)


def aligned_bytes(size):
    """A uint8 array of ``size`` bytes whose data is 16-byte aligned (the library
    wants spectra 16-byte aligned)."""
    buf = np.empty(size + 16, np.uint8)
    off = (-buf.ctypes.data) % 16
    return buf[off:off + size]


def compute_spectrum(plan, shape, k):
    """The spectrum of k from plan.compute_spectrum_ptr, in an aligned uint8 array
    of exactly plan.spectrum_size(shape) bytes."""
    spec = aligned_bytes(plan.spectrum_size(shape))
    plan.compute_spectrum_ptr(shape, k.ctypes.data, spec.ctypes.data, spec.nbytes)
    return spec


def forward_with_spectrum(plan, shape, u, k, ig, og):
    """y from plan.compute_spectrum_ptr then plan.forward_spectrum_ptr on raw pointers."""
    spec = compute_spectrum(plan, shape, k)
    ws = np.empty(max(plan.workspace_size(shape), 1), np.uint8)
    y = np.empty_like(u)
    plan.forward_spectrum_ptr(shape, u.ctypes.data, spec.ctypes.data, spec.nbytes, ig.ctypes.data, og.ctypes.data,
                              y.ctypes.data, ws.ctypes.data, ws.nbytes)
    return y
