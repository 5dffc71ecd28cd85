"""Frequency-sparse plans (ffc_plan_desc_t::freq_mask, library 0.4) on NumPy
arrays (CPU backend): forward, backward and the precomputed-spectrum path against
float64 references of the masked convolution

    z = IFFT_N(FFT_N(v) * FFT_N(k) * M)[:L],   M[f] = (mask[f % G] != 0),

under the DESIGN §3 precision rule; freq_block_mask and the mask conversion; the
library's validation (G a power of two up to N, a symmetric mask, no partial
plans); plans, the descriptor and the cache."""
import ctypes

import numpy as np
import pytest

import flashfftconv as ffc
from flashfftconv import DType, FlashFFTConvError, Status

from _helpers import DTYPE_PARAMS, DTYPES, assert_close, assert_gradients_close, forward_with_spectrum, make
from _reference import default_n, f64, forward_ref, rel_l2

# -- float64 references --------------------------------------------------------------------


def bin_mask(mask, n):
    """M[f] for the n // 2 + 1 bins of an rfft of size n: mask[f % G] != 0."""
    m = np.asarray(mask) != 0
    return m[np.arange(n // 2 + 1) % m.size].astype(np.float64)


def masked_forward_ref(u, k, in_gate, out_gate, mask, n):
    """y = out_gate * IFFT_n(FFT_n(in_gate * u) * FFT_n(k) * M)[:L] in float64."""
    u, k, ig, og = f64(u), f64(k), f64(in_gate), f64(out_gate)
    L = u.shape[-1]
    v = u if ig is None else ig * u
    z = np.fft.irfft(np.fft.rfft(v, n) * np.fft.rfft(k, n) * bin_mask(mask, n), n)[..., :L]
    return z if og is None else og * z


def masked_backward_ref(dy, u, k, in_gate, out_gate, mask, n):
    """(du, dk, d_in_gate, d_out_gate) of masked_forward_ref, in float64: the
    plain gradients with the filter spectrum FFT(k) * M, and dk masked as well,
    dk = IFFT_n(M * sum_b conj(V_b) * DZ_b)[:K]."""
    dy, u, k, ig, og = f64(dy), f64(u), f64(k), f64(in_gate), f64(out_gate)
    L, K = u.shape[-1], k.shape[-1]
    M = bin_mask(mask, n)
    v = u if ig is None else ig * u
    V, KF = np.fft.rfft(v, n), np.fft.rfft(k, n) * M
    z = np.fft.irfft(V * KF, n)[..., :L]
    dz = dy if og is None else og * dy
    DZ = np.fft.rfft(dz, n)
    dv = np.fft.irfft(DZ * np.conj(KF), n)[..., :L]
    dk = np.fft.irfft(M * (DZ * np.conj(V)).sum(axis=0), n)[..., :K]
    du = dv if ig is None else ig * dv
    d_ig = None if ig is None else u * dv
    d_og = None if og is None else dy * z
    return du, dk, d_ig, d_og


def full_mask(mask, n):
    """M[f] for all n bins of a complex FFT."""
    m = np.asarray(mask) != 0
    return m[np.arange(n) % m.size].astype(np.float64)


def test_references_match_masked_filter_and_numerical_gradients():
    rng = np.random.default_rng(1)
    n, G = 64, 8
    mask = np.array([1, 0, 1, 1, 0, 1, 1, 0], np.uint8)
    # Forward: the complex FFT with the mask on all n bins (its imaginary part
    # vanishes because the mask is symmetric) equals the rfft form.
    u, k, ig, og = (rng.standard_normal(s) for s in ((2, 3, 40), (3, 9), (2, 3, 40), (2, 3, 40)))
    zc = np.fft.ifft(np.fft.fft(ig * u, n) * np.fft.fft(k, n) * full_mask(mask, n))[..., :40]
    assert np.abs(zc.imag).max() < 1e-13
    assert rel_l2(masked_forward_ref(u, k, ig, og, mask, n), og * zc.real) < 1e-13
    # The masked filter k' = IFFT(FFT(k) * M) (length n) in the plain convolution.
    kp = np.fft.irfft(np.fft.rfft(k, n) * bin_mask(mask, n), n)
    assert rel_l2(masked_forward_ref(u, k, ig, og, mask, n), forward_ref(u, kp, ig, og, n)) < 1e-13
    # The all-ones mask is the dense convolution; G = 1 with a zero removes everything.
    assert rel_l2(masked_forward_ref(u, k, ig, og, [1], n), forward_ref(u, k, ig, og, n)) < 1e-13
    assert np.abs(masked_forward_ref(u, k, ig, og, [0], n)).max() == 0
    # Backward against central differences of <dy, y>.
    u, k, ig, og = (rng.standard_normal(s) for s in ((2, 2, 12), (2, 5), (2, 2, 12), (2, 2, 12)))
    dy = rng.standard_normal(u.shape)
    n, mask = 32, np.array([1, 1, 0, 1], np.uint8)
    grads = masked_backward_ref(dy, u, k, ig, og, mask, n)
    args = [u, k, ig, og]
    for i, g in enumerate(grads):
        num = np.zeros_like(args[i])
        for idx in np.ndindex(args[i].shape):
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[i][idx] += 1e-6
            minus[i][idx] -= 1e-6
            fp = np.sum(dy * masked_forward_ref(*plus, mask, n))
            fm = np.sum(dy * masked_forward_ref(*minus, mask, n))
            num[idx] = (fp - fm) / 2e-6
        assert rel_l2(g, num) < 1e-8, i


# -- freq_block_mask and the conversion ------------------------------------------------------


def is_symmetric(mask):
    m = np.asarray(mask) != 0
    G = m.size
    return all(m[j] == m[(G - j) % G] for j in range(G))


def test_freq_block_mask_values():
    assert ffc.freq_block_mask is ffc._plan.freq_block_mask
    m = ffc.freq_block_mask(16, 4)
    assert m.dtype == np.uint8 and m.shape == (16,)
    assert m.tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert ffc.freq_block_mask(1, 1).tolist() == [1]
    assert ffc.freq_block_mask(2, 1).tolist() == [1, 0]
    assert ffc.freq_block_mask(2, 2).tolist() == [1, 1]
    assert ffc.freq_block_mask(8, 1).tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert ffc.freq_block_mask(8, 4).tolist() == [1, 1, 1, 1, 0, 1, 1, 1]
    assert ffc.freq_block_mask(8, 5).tolist() == [1] * 8
    for G in (1, 2, 4, 8, 16, 64, 1024):
        for kept in range(1, G // 2 + 2):
            m = ffc.freq_block_mask(G, kept)
            assert is_symmetric(m), (G, kept)
            assert int(m.sum()) == min(2 * kept - 1, G), (G, kept)
            j = np.arange(G)
            assert np.array_equal(m != 0, np.minimum(j, G - j) < kept)
    assert ffc.freq_block_mask(np.int64(32), np.int32(3)).sum() == 5  # NumPy integers are integers


@pytest.mark.parametrize("blocks,kept", [(0, 1), (-4, 1), (3, 1), (6, 2), (12, 1), (16, 0), (16, -1), (16, 10),
                                         (1, 2), (2, 3)])
def test_freq_block_mask_rejects_bad_arguments(blocks, kept):
    with pytest.raises(ValueError):
        ffc.freq_block_mask(blocks, kept)


def test_freq_block_mask_rejects_non_integers():
    for blocks, kept in ((16.0, 2), (16, 2.5), ("16", 2), (True, 1)):
        with pytest.raises(TypeError):
            ffc.freq_block_mask(blocks, kept)


def test_as_freq_mask_conversion():
    assert ffc.as_freq_mask(None) is None
    for src in ([1, 0, 0, 1], (True, False, False, True), np.array([5, 0, 0, 256], np.int64),
                np.array([-1, 0, 0, 1], np.int8), np.array([1, 0, 0, 1], np.uint16)):
        m = ffc.as_freq_mask(src)
        assert m.dtype == np.uint8 and m.flags.c_contiguous
        assert m.tolist() == [1, 0, 0, 1], src  # nonzero is 1 (256 must not wrap to 0)
    # A strided view becomes a contiguous copy; the result never aliases the input.
    a = np.array([1, 9, 0, 9, 0, 9, 1, 9], np.uint8)
    m = ffc.as_freq_mask(a[::2])
    assert m.tolist() == [1, 0, 0, 1] and m.flags.c_contiguous
    b = np.array([1, 1], np.uint8)
    assert not np.shares_memory(ffc.as_freq_mask(b), b)
    with pytest.raises(TypeError):
        ffc.as_freq_mask([1.0, 0.0])
    with pytest.raises(TypeError):
        ffc.as_freq_mask(["a"])
    with pytest.raises(ValueError):
        ffc.as_freq_mask(np.ones((2, 2), np.uint8))
    with pytest.raises(ValueError):
        ffc.as_freq_mask(1)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.as_freq_mask(np.ones(ffc.MAX_FREQ_MASK_LEN + 1, np.bool_))
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT


# -- forward and backward against the references ---------------------------------------------

# (B, H, L, K, N): causal with the default N, circular (L = N) with K = N, odd B, and
# one larger N. N None: the default (the smallest power of two >= L + K - 1).
SHAPES = [
    (2, 3, 100, 100, None),
    (3, 2, 300, 41, None),
    (1, 2, 256, 256, 256),
    (3, 1, 1000, 200, 4096),
]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]


def masks_for(n):
    """Masks of every kind a plan takes: blocks (G dividing the Monarch rows),
    a low-pass of all N bins, a free symmetric pattern of N bins, G = 1 (all or
    nothing), G = 2 (even bins) and a hand-made symmetric G = 8 pattern."""
    rng = np.random.default_rng(n)
    free = rng.integers(0, 2, n).astype(np.uint8)
    free = np.maximum(free, free[(n - np.arange(n)) % n])  # symmetrise
    free[0] = 1
    return {
        "block16x4": ffc.freq_block_mask(16, 4),
        "block4x1": ffc.freq_block_mask(4, 1),
        "lowpassN": ffc.freq_block_mask(n, n // 8),
        "freeN": free,
        "ones1": np.array([1], np.uint8),
        "even2": np.array([1, 0], np.uint8),
        "comb8": np.array([1, 0, 1, 1, 0, 1, 1, 0], np.uint8),
    }


MASK_NAMES = list(masks_for(256))


def test_masks_for_are_valid():
    for n in (256, 512, 4096):
        for name, m in masks_for(n).items():
            assert is_symmetric(m), (n, name)
            assert m.size <= n and m.size & (m.size - 1) == 0, (n, name)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("gates", ["none", "both"])
@pytest.mark.parametrize("mask_name", MASK_NAMES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_masked_forward(dtype, gates, mask_name, shape):
    dt = DTYPES[dtype]
    B, H, L, K, N = shape
    n = N or default_n(L, K)
    mask = masks_for(n)[mask_name]
    u, k, ig, og = make((B, H, L, K), dt, gates, seed=L + K)
    y = ffc.fftconv(u, k, ig, og, fft_size=N, freq_mask=mask)
    assert y.shape == u.shape and y.dtype == u.dtype
    assert_close(y, masked_forward_ref(u, k, ig, og, mask, n), dt, f"y ({mask_name}, N = {n})")


@pytest.mark.parametrize("gates", ["in", "out"])
def test_masked_forward_single_gate(gates):
    u, k, ig, og = make((2, 3, 300, 41), np.float16, gates, seed=7)
    mask = ffc.freq_block_mask(32, 5)
    y = ffc.fftconv(u, k, ig, og, freq_mask=mask)
    assert_close(y, masked_forward_ref(u, k, ig, og, mask, 512), np.float16, "y")


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("mask_name", ["block16x4", "lowpassN", "freeN", "ones1", "even2"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_masked_backward(dtype, mask_name, shape):
    dt = DTYPES[dtype]
    B, H, L, K, N = shape
    n = N or default_n(L, K)
    mask = masks_for(n)[mask_name]
    u, k, ig, og = make((B, H, L, K), dt, "both", seed=3 * L + K)
    dy = np.random.default_rng(L * K).standard_normal(u.shape).astype(dt)
    g = ffc.fftconv_backward(dy, u, k, ig, og, fft_size=N, freq_mask=mask)
    assert_gradients_close(g, masked_backward_ref(dy, u, k, ig, og, mask, n), u, k, dt)


def test_masked_backward_without_gates_and_subset():
    u, k, _, _ = make((3, 2, 300, 41), np.float32, "none", seed=4)
    dy = np.random.default_rng(5).standard_normal(u.shape).astype(np.float32)
    mask = ffc.freq_block_mask(8, 2)
    ref = masked_backward_ref(dy, u, k, None, None, mask, 512)
    g = ffc.fftconv_backward(dy, u, k, freq_mask=mask)
    assert g.d_in_gate is None and g.d_out_gate is None
    assert_close(g.du, ref[0], np.float32, "du")
    assert_close(g.dk, ref[1], np.float32, "dk")
    only_dk = ffc.fftconv_backward(dy, u, k, freq_mask=mask, need_du=False)
    assert only_dk.du is None
    assert_close(only_dk.dk, ref[1], np.float32, "dk")
    # dk is deterministic on masked plans too.
    assert np.array_equal(only_dk.dk.view(np.uint32), g.dk.view(np.uint32))


def test_masked_spectrum_path():
    B, H, L, K, N = 3, 2, 300, 41, 512
    u, k, ig, og = make((B, H, L, K), np.float32, "both", seed=11)
    mask = ffc.freq_block_mask(16, 3)
    plan = ffc.get_plan(N, "fp32", "cpu", freq_mask=mask)
    y = forward_with_spectrum(plan, ffc.Shape(B, H, L, K), u, k, ig, og)
    assert_close(y, masked_forward_ref(u, k, ig, og, mask, N), np.float32, "y")


def test_all_zero_mask_gives_zero():
    u, k, ig, og = make((2, 2, 200, 30), np.float32, "both", seed=12)
    dy = np.random.default_rng(13).standard_normal(u.shape).astype(np.float32)
    for mask in ([0], [0, 0, 0, 0], np.zeros(256, np.uint8)):
        y = ffc.fftconv(u, k, ig, og, freq_mask=mask)
        assert np.all(y == 0), mask
        g = ffc.fftconv_backward(dy, u, k, ig, og, freq_mask=mask)
        # Nothing passes the filter: every gradient vanishes, d_out_gate = dy * z too.
        for name, a in zip(g._fields, g):
            assert np.all(a == 0), (name, mask)


def test_all_ones_mask_is_the_dense_convolution():
    # Not necessarily bit for bit (the masked plan may multiply by the mask), but
    # both are held to the rule against the same dense reference.
    u, k, ig, og = make((2, 3, 300, 41), np.float16, "both", seed=14)
    ref = forward_ref(u, k, ig, og, 512)
    for mask in ([1], [1, 1], np.ones(512, np.uint8), [3, 7, 250, 1]):
        assert_close(ffc.fftconv(u, k, ig, og, freq_mask=mask), ref, np.float16, f"y ({mask!r})")
    assert_close(ffc.fftconv(u, k, ig, og), ref, np.float16, "y (dense)")


def test_mask_applies_modulo_g():
    # G = 16 on N = 512 and the same pattern spelled out over all N bins: one function.
    u, k, ig, og = make((1, 2, 400, 100), np.float32, "both", seed=15)
    small = ffc.freq_block_mask(16, 3)
    big = np.tile(small, 512 // 16)
    a = ffc.fftconv(u, k, ig, og, freq_mask=small)
    b = ffc.fftconv(u, k, ig, og, freq_mask=big)
    ref = masked_forward_ref(u, k, ig, og, small, 512)
    assert_close(a, ref, np.float32, "G = 16")
    assert_close(b, ref, np.float32, "G = N")


# -- errors ------------------------------------------------------------------------------------


def create_error(n, mask, **kw):
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.Plan(n, "fp32", "cpu", freq_mask=mask, **kw)
    return ei.value


@pytest.mark.parametrize(
    "mask",
    [
        [1, 1, 0, 0],           # j = 1 kept, its mirror j = 3 dropped
        [0, 1, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        np.r_[np.ones(255, np.uint8), np.zeros(1, np.uint8)],  # G = N = 256: bin 255 without bin 1
    ],
    ids=["g4a", "g4b", "g16", "g256"],
)
def test_asymmetric_mask_is_refused(mask):
    e = create_error(256, mask)
    assert e.status == Status.ERROR_INVALID_ARGUMENT
    assert "freq_mask" in e.message or "symmetric" in e.message, e.message


@pytest.mark.parametrize("G", [3, 5, 6, 12, 100, 255])
def test_mask_length_not_a_power_of_two_is_refused(G):
    e = create_error(256, np.ones(G, np.uint8))
    assert e.status == Status.ERROR_INVALID_ARGUMENT
    assert str(G) in e.message or "power of two" in e.message, e.message


def test_mask_longer_than_fft_size_is_refused():
    for n, G in ((256, 512), (1024, 2048)):
        e = create_error(n, np.ones(G, np.uint8))
        assert e.status == Status.ERROR_INVALID_ARGUMENT, (n, G)
    # G = N is the longest accepted.
    with ffc.Plan(1024, "fp32", "cpu", freq_mask=np.ones(1024, np.uint8)) as plan:
        assert plan.freq_mask.size == 1024


def test_empty_mask_is_refused():
    # None is the dense plan; an empty array is a mask of G = 0 entries, not a power of two.
    for empty in (np.zeros(0, np.uint8), []):
        e = create_error(256, empty)
        assert e.status == Status.ERROR_INVALID_ARGUMENT and "empty" in e.message
    # What the library says about G = 0 behind a non-NULL pointer.
    one = np.ones(1, np.uint8)
    d = _desc(one)
    d.freq_mask_len = 0
    assert _raw_create(d)[0] in (Status.ERROR_INVALID_ARGUMENT, Status.ERROR_INVALID_DESCRIPTOR)


def test_mask_with_partial_is_not_supported():
    e = create_error(256, ffc.freq_block_mask(16, 4), partial=True)
    assert e.status == Status.ERROR_NOT_SUPPORTED
    u, k, _, _ = make((1, 1, 1000, 5), np.float32, "none", seed=16)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, fft_size=256, partial=True, freq_mask=[1])
    assert ei.value.status == Status.ERROR_NOT_SUPPORTED


def test_functional_errors_surface():
    u, k, _, _ = make((1, 2, 100, 10), np.float32, "none", seed=17)
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv(u, k, freq_mask=[1, 1, 0, 0])
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(FlashFFTConvError) as ei:
        ffc.fftconv_backward(np.ones_like(u), u, k, freq_mask=np.ones(512, np.uint8))  # N = 256 < G
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    with pytest.raises(TypeError):
        ffc.fftconv(u, k, freq_mask=[0.5, 0.5])


# -- the descriptor ----------------------------------------------------------------------------


def _raw_create(desc):
    from flashfftconv import _lib

    L = _lib.lib()
    h = ctypes.c_void_p()
    st = L.ffc_plan_create(ctypes.byref(h), ctypes.byref(desc))
    msg = "" if st == 0 else _lib.last_error_message()
    if h.value:
        L.ffc_plan_destroy(h)
    return st, msg


def _desc(mask=None, version=None):
    from flashfftconv import _lib

    d = _lib.PlanDescC.init()
    d.fft_size, d.dtype, d.backend = 1024, DType.FP32, ffc.Backend.CPU
    if version is not None:
        d.version = version
    if mask is not None:
        d.freq_mask = mask.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        d.freq_mask_len = mask.size
    return d


def test_raw_descriptor_versions():
    mask = ffc.freq_block_mask(16, 4)
    assert _raw_create(_desc(mask)) == (Status.SUCCESS, "")
    assert _raw_create(_desc(None)) == (Status.SUCCESS, "")
    # Versions 1 and 2 (zeros in the slots) still create dense plans ...
    for v in (1, 2):
        assert _raw_create(_desc(None, version=v)) == (Status.SUCCESS, ""), v
    # ... and in them the slots are reserved: a mask there is an invalid descriptor.
    for v in (1, 2):
        st, msg = _raw_create(_desc(mask, version=v))
        assert st == Status.ERROR_INVALID_DESCRIPTOR, (v, msg)


def test_raw_descriptor_reserved_tail_must_be_zero():
    d = _desc()
    d.reserved1 = 1
    assert _raw_create(d)[0] == Status.ERROR_INVALID_DESCRIPTOR
    d = _desc()
    d.reserved[2] = 1
    assert _raw_create(d)[0] == Status.ERROR_INVALID_DESCRIPTOR


def test_raw_descriptor_mask_is_read_at_creation_only():
    # The library keeps its own copy: overwriting the caller's mask afterwards
    # changes nothing.
    u, k, ig, og = make((2, 2, 300, 41), np.float32, "both", seed=18)
    mask = ffc.freq_block_mask(16, 2)
    keep = mask.copy()
    with ffc.Plan(512, "fp32", "cpu", freq_mask=mask) as plan:
        mask[:] = 1
        shape = ffc.Shape(2, 2, 300, 41)
        ws = np.empty(max(plan.workspace_size(shape), 1), np.uint8)
        y = np.empty_like(u)
        plan.forward_ptr(shape, u.ctypes.data, k.ctypes.data, ig.ctypes.data, og.ctypes.data, y.ctypes.data,
                         ws.ctypes.data, ws.size)
        assert_close(y, masked_forward_ref(u, k, ig, og, keep, 512), np.float32, "y")
        assert plan.freq_mask.tolist() == keep.tolist()


# -- plans and the cache -----------------------------------------------------------------------


def test_plan_object():
    mask = ffc.freq_block_mask(16, 4)
    with ffc.Plan(1024, "fp16", "cpu", freq_mask=mask) as plan:
        assert plan.freq_mask.dtype == np.uint8 and plan.freq_mask.tolist() == mask.tolist()
        assert not plan.freq_mask.flags.writeable
        assert not plan.partial and plan.flags == ffc.PLAN_DEFAULT
        assert "freq_mask=<7 of 16 kept>" in repr(plan)
        assert plan.info().fft_size == 1024
        assert plan.describe()
    with ffc.Plan(1024, "fp16", "cpu") as dense:
        assert dense.freq_mask is None and "freq_mask" not in repr(dense)
    # Bools and other integers are normalised to 0 / 1.
    with ffc.Plan(256, "fp32", "cpu", freq_mask=[True, False, False, False]) as plan:
        assert plan.freq_mask.tolist() == [1, 0, 0, 0]


def test_masked_plans_are_cached_per_pattern():
    ffc.clear_plan_cache()
    u, k, _, _ = make((1, 1, 200, 5), np.float32, "none", seed=19)
    ffc.fftconv(u, k)
    ffc.fftconv(u, k, freq_mask=ffc.freq_block_mask(16, 4))
    ffc.fftconv(u, k, freq_mask=[5, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])  # the same pattern
    ffc.fftconv(u, k, freq_mask=ffc.freq_block_mask(16, 2))
    ffc.fftconv(u, k, freq_mask=ffc.freq_block_mask(8, 4))
    cached = ffc.cached_plans()
    base = (256, DType.FP32, ffc.Backend.CPU, -1, False)
    assert base in cached and cached[base].freq_mask is None  # dense plans keep the five-element key
    masked = {key[5]: plan for key, plan in cached.items() if len(key) == 6}
    assert set(masked) == {ffc.freq_block_mask(16, 4).tobytes(), ffc.freq_block_mask(16, 2).tobytes(),
                           ffc.freq_block_mask(8, 4).tobytes()}
    for key_bytes, plan in masked.items():
        assert plan.freq_mask.tobytes() == key_bytes
    assert len(cached) == 4
    p1 = ffc.get_plan(256, "fp32", "cpu", freq_mask=ffc.freq_block_mask(16, 4))
    p2 = ffc.get_plan(256, "fp32", "cpu", -1, False, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    assert p1 is p2 and p1 is not cached[base]
    # A failed creation caches nothing.
    with pytest.raises(FlashFFTConvError):
        ffc.get_plan(256, "fp32", "cpu", freq_mask=[1, 1, 0, 0])
    assert len(ffc.cached_plans()) == 4
