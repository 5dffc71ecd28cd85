"""fftconv(..., return_spectrum=True) and fftconv_backward(..., spectrum=...)
(library 0.5) on NumPy arrays (CPU backend): the forward's y is bitwise the same
with and without the spectrum, the backward from the returned spectrum is bitwise
the backward from k (k's values are not read), on plain, partial and
frequency-sparse plans; and the errors of a spectrum that does not fit."""
import numpy as np
import pytest

import flashfftconv as ffc
from flashfftconv import FlashFFTConvError, Status

from _helpers import DTYPE_PARAMS, DTYPES, assert_close, make
from _reference import forward_ref

OUTPUTS = ("du", "dk", "d_in_gate", "d_out_gate")

# (fft_size, partial, freq_mask, (B, H, L, K)): causal default N, a circular
# multi-factor size, an overlap-save partial plan with L > N, a masked plan.
PLANS = [
    pytest.param(None, False, None, (3, 2, 300, 200), id="causal"),
    pytest.param(4096, False, None, (1, 3, 4096, 4096), id="circular4096"),
    pytest.param(None, True, None, (2, 2, 1000, 64), id="partial"),
    pytest.param(512, False, ffc.freq_block_mask(16, 3), (3, 2, 300, 41), id="masked"),
]


def _bits(a):
    return None if a is None else np.ascontiguousarray(a).view(np.uint8)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("fft_size, partial, mask, shape", PLANS)
def test_returned_spectrum_serves_the_backward(fft_size, partial, mask, shape, dtype):
    dt = DTYPES[dtype]
    u, k, ig, og = make(shape, dt, "both", seed=31)
    dy = np.random.default_rng(32).standard_normal(u.shape).astype(dt)
    plain = ffc.fftconv(u, k, ig, og, fft_size, partial, mask)
    y, spectrum = ffc.fftconv(u, k, ig, og, fft_size, partial, mask, return_spectrum=True)
    assert np.array_equal(_bits(y), _bits(plain)), "y differs with return_spectrum"
    assert spectrum.dtype == np.float32 and spectrum.ndim == 1
    assert spectrum.nbytes >= ffc.spectrum_nbytes(u, k, fft_size, partial, mask)
    assert spectrum.ctypes.data % 16 == 0

    want = ffc.fftconv_backward(dy, u, k, ig, og, fft_size, partial, mask)
    # k's values must not be read: a NaN filter of the same shape stands in for it.
    got = ffc.fftconv_backward(dy, u, np.full_like(k, np.nan), ig, og, fft_size, partial, mask, spectrum=spectrum)
    for name, a, b in zip(OUTPUTS, got, want):
        assert np.array_equal(_bits(a), _bits(b)), f"{name} differs with the spectrum"


def test_spectrum_and_subsets_of_gradients():
    # Only dk, only du: the skipped work is skipped the same way with a spectrum.
    u, k, ig, og = make((3, 2, 256, 256), np.float16, "both", seed=33)
    dy = np.random.default_rng(34).standard_normal(u.shape).astype(np.float16)
    y, spectrum = ffc.fftconv(u, k, ig, og, 256, return_spectrum=True)
    assert_close(y, forward_ref(u, k, ig, og, n=256), np.float16, "y")
    for need in ({"need_du": False, "need_d_in_gate": False, "need_d_out_gate": False},
                 {"need_dk": False, "need_d_out_gate": False}):
        want = ffc.fftconv_backward(dy, u, k, ig, og, 256, **need)
        got = ffc.fftconv_backward(dy, u, k, ig, og, 256, spectrum=spectrum, **need)
        for name, a, b in zip(OUTPUTS, got, want):
            assert (a is None) == (b is None), name
            assert a is None or np.array_equal(_bits(a), _bits(b)), name


def test_spectrum_of_fewer_channels_is_too_small():
    u, k, _, _ = make((2, 3, 256, 256), np.float32, "none", seed=35)
    _, spectrum = ffc.fftconv(u[:, :2], k[:2], fft_size=256, return_spectrum=True)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv_backward(u, u, k, fft_size=256, spectrum=spectrum)
    assert ei.value.status == Status.ERROR_BUFFER_TOO_SMALL


def test_spectrum_from_another_array_library_is_rejected():
    torch = pytest.importorskip("torch")
    u, k, _, _ = make((2, 2, 256, 256), np.float32, "none", seed=36)
    _, spectrum = ffc.fftconv(u, k, fft_size=256, return_spectrum=True)
    with pytest.raises(TypeError, match="spectrum comes from torch"):
        ffc.fftconv_backward(u, u, k, fft_size=256, spectrum=torch.from_numpy(spectrum))


def test_spectrum_nbytes_is_the_plans():
    u, k, _, _ = make((2, 5, 300, 100), np.float16, "none", seed=37)
    plan = ffc.get_plan(512, "fp16", "cpu")
    assert ffc.spectrum_nbytes(u, k, 512) == plan.spectrum_size(ffc.Shape(2, 5, 300, 100))
