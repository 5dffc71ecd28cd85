"""ffc_conv_backward_spectrum (library 0.5) through Plan.backward_spectrum_ptr on
NumPy arrays (CPU backend): the gradients from a precomputed spectrum are bitwise
those of Plan.backward_ptr with the k the spectrum came from, alone or together,
on plain, partial and frequency-sparse plans; and the errors the C API documents
(a spectrum too small, an output or the workspace overlapping the spectrum)."""
import numpy as np
import pytest

import flashfftconv as ffc
from flashfftconv import FlashFFTConvError, Status

from _helpers import DTYPE_PARAMS, DTYPES, aligned_bytes, assert_close, assert_gradients_close, compute_spectrum, make
from _reference import backward_ref, forward_ref

GATES = ["none", "in", "out", "both"]
OUTPUTS = ("du", "dk", "d_in_gate", "d_out_gate")

# (N, (B, H, L, K)): fused sizes (two Monarch factors on the CPU: 256, 4096) and a
# larger one (65536, three factors); odd B; circular (L = K = N) and causal shapes.
CASES = [
    (256, (3, 2, 256, 256)),
    (256, (1, 3, 150, 100)),
    (4096, (3, 2, 3000, 1000)),
    (65536, (3, 1, 40000, 20000)),
]


def _addr(a):
    return None if a is None else a.ctypes.data


def _outputs(u, shape, want, fill):
    """Output arrays for the wanted gradients (None for the others), every byte set
    to ``fill`` so that a gradient left unwritten cannot pass for a result."""
    out = {}
    for name in OUTPUTS:
        if name not in want:
            out[name] = None
        elif name == "dk":
            out[name] = np.full(shape.channels * shape.kernel_len * 4, fill, np.uint8).view(np.float32).reshape(
                shape.channels, shape.kernel_len)
        else:
            out[name] = np.full(u.nbytes, fill, np.uint8).view(u.dtype).reshape(u.shape)
    return out


def _workspace(plan, shape):
    ws = np.empty(max(plan.workspace_size(shape), 1), np.uint8)
    return ws, plan.workspace_size(shape)


def backward_k(plan, shape, dy, u, k, ig, og, want, fill=0x5A):
    """The wanted gradients from plan.backward_ptr (k transformed inside the call)."""
    o = _outputs(u, shape, want, fill)
    ws, ws_size = _workspace(plan, shape)
    plan.backward_ptr(shape, _addr(dy), _addr(u), _addr(k), _addr(ig), _addr(og), _addr(o["du"]), _addr(o["dk"]),
                      _addr(o["d_in_gate"]), _addr(o["d_out_gate"]), ws.ctypes.data, ws_size)
    return o


def backward_spec(plan, shape, dy, u, spec, ig, og, want, fill=0xA5):
    """The wanted gradients from plan.backward_spectrum_ptr with a precomputed spectrum."""
    o = _outputs(u, shape, want, fill)
    ws, ws_size = _workspace(plan, shape)
    plan.backward_spectrum_ptr(shape, _addr(dy), _addr(u), spec.ctypes.data, spec.nbytes, _addr(ig), _addr(og),
                               _addr(o["du"]), _addr(o["dk"]), _addr(o["d_in_gate"]), _addr(o["d_out_gate"]),
                               ws.ctypes.data, ws_size)
    return o


def _wanted(ig, og):
    return tuple(n for n in OUTPUTS if (n != "d_in_gate" or ig is not None) and (n != "d_out_gate" or og is not None))


def assert_bitwise(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), f"{what}: not bitwise equal"


def check_against_backward(plan, shape, dy, u, k, ig, og):
    """backward_spectrum_ptr == backward_ptr bit for bit, all gradients at once and
    each alone; the spectrum is not written. Returns the full call's gradients."""
    want = _wanted(ig, og)
    spec = compute_spectrum(plan, shape, k)
    spec_before = spec.copy()
    ref = backward_k(plan, shape, dy, u, k, ig, og, want)
    full = backward_spec(plan, shape, dy, u, spec, ig, og, want)
    for name in OUTPUTS:
        assert (full[name] is None) == (name not in want), name
        if name in want:
            assert_bitwise(full[name], ref[name], name)
    for name in want:
        alone = backward_spec(plan, shape, dy, u, spec, ig, og, (name,), fill=0x3C)
        assert all(alone[n] is None for n in OUTPUTS if n != name)
        assert_bitwise(alone[name], full[name], f"{name} alone")
    assert np.array_equal(spec, spec_before), "the spectrum was written"
    return full


@pytest.mark.parametrize("gates", GATES)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("n, shape", CASES, ids=lambda c: "x".join(map(str, c)) if isinstance(c, tuple) else str(c))
def test_backward_spectrum_bitwise_equals_backward(n, shape, dtype, gates):
    dt = DTYPES[dtype]
    u, k, ig, og = make(shape, dt, gates, seed=21)
    dy = np.random.default_rng(22).standard_normal(u.shape).astype(dt)
    plan = ffc.get_plan(n, dt, "cpu")
    full = check_against_backward(plan, ffc.Shape(*shape), dy, u, k, ig, og)
    if n <= 4096:  # and right, not only equal: the float64 reference under the DESIGN §3 rule
        g = ffc.Gradients(full["du"], full["dk"], full["d_in_gate"], full["d_out_gate"])
        assert_gradients_close(g, backward_ref(dy, u, k, ig, og, n=n), u, k, dt)


def test_one_spectrum_for_forward_and_backward():
    # A training step: one spectrum serves forward_spectrum_ptr and backward_spectrum_ptr.
    B, H, L, K, N = 3, 4, 500, 200, 1024
    u, k, ig, og = make((B, H, L, K), np.float16, "both", seed=23)
    dy = np.random.default_rng(24).standard_normal(u.shape).astype(np.float16)
    plan = ffc.get_plan(N, "fp16", "cpu")
    shape = ffc.Shape(B, H, L, K)
    spec = compute_spectrum(plan, shape, k)
    ws, ws_size = _workspace(plan, shape)
    y = np.empty_like(u)
    plan.forward_spectrum_ptr(shape, u.ctypes.data, spec.ctypes.data, spec.nbytes, ig.ctypes.data, og.ctypes.data,
                              y.ctypes.data, ws.ctypes.data, ws_size)
    assert_close(y, forward_ref(u, k, ig, og, n=N), np.float16, "y")
    got = backward_spec(plan, shape, dy, u, spec, ig, og, OUTPUTS)
    want = backward_k(plan, shape, dy, u, k, ig, og, OUTPUTS)
    for name in OUTPUTS:
        assert_bitwise(got[name], want[name], name)


def test_backward_spectrum_partial_plan_long_sequence():
    # L > N: overlap-save windows, the spectrum reused for every window.
    B, H, L, K, N = 3, 2, 1000, 100, 256
    u, k, ig, og = make((B, H, L, K), np.float32, "both", seed=25)
    dy = np.random.default_rng(26).standard_normal(u.shape).astype(np.float32)
    check_against_backward(ffc.get_plan(N, "fp32", "cpu", partial=True), ffc.Shape(B, H, L, K), dy, u, k, ig, og)


@pytest.mark.parametrize("gates", ["none", "both"])
def test_backward_spectrum_frequency_sparse_plan(gates):
    B, H, L, K, N = 3, 2, 300, 41, 512
    u, k, ig, og = make((B, H, L, K), np.float32, gates, seed=27)
    dy = np.random.default_rng(28).standard_normal(u.shape).astype(np.float32)
    plan = ffc.get_plan(N, "fp32", "cpu", freq_mask=ffc.freq_block_mask(16, 3))
    check_against_backward(plan, ffc.Shape(B, H, L, K), dy, u, k, ig, og)


def test_backward_spectrum_nothing_wanted():
    u, k, ig, og = make((1, 1, 100, 100), np.float32, "both")
    plan = ffc.get_plan(256, "fp32", "cpu")
    shape = ffc.Shape(1, 1, 100, 100)
    spec = compute_spectrum(plan, shape, k)
    ws, ws_size = _workspace(plan, shape)
    # Every output NULL: a valid call that computes nothing.
    plan.backward_spectrum_ptr(shape, u.ctypes.data, u.ctypes.data, spec.ctypes.data, spec.nbytes,
                               ig.ctypes.data, og.ctypes.data, None, None, None, None, ws.ctypes.data, ws_size)


# -- errors ----------------------------------------------------------------------------


def _error_setup():
    B, H, L, K = 3, 2, 200, 57
    u, k, ig, og = make((B, H, L, K), np.float32, "both", seed=29)
    dy = np.random.default_rng(30).standard_normal(u.shape).astype(np.float32)
    plan = ffc.get_plan(256, "fp32", "cpu")
    return plan, ffc.Shape(B, H, L, K), dy, u, k, ig, og


@pytest.mark.parametrize("short_by", [1, 16, None])
def test_spectrum_too_small(short_by):
    plan, shape, dy, u, k, ig, og = _error_setup()
    spec = compute_spectrum(plan, shape, k)
    size = spec.nbytes - short_by if short_by else spec.nbytes // 2
    o = _outputs(u, shape, OUTPUTS, 0x5A)
    before = {n: a.copy() for n, a in o.items()}
    ws, ws_size = _workspace(plan, shape)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_spectrum_ptr(shape, dy.ctypes.data, u.ctypes.data, spec.ctypes.data, size, ig.ctypes.data,
                                   og.ctypes.data, o["du"].ctypes.data, o["dk"].ctypes.data,
                                   o["d_in_gate"].ctypes.data, o["d_out_gate"].ctypes.data, ws.ctypes.data, ws_size)
    assert ei.value.status == Status.ERROR_BUFFER_TOO_SMALL
    assert str(spec.nbytes) in ei.value.message
    for name in OUTPUTS:  # nothing written
        assert np.array_equal(o[name].view(np.uint8), before[name].view(np.uint8)), name
    # A larger spectrum_size than needed is fine.
    big = aligned_bytes(spec.nbytes + 64)
    big[:spec.nbytes] = spec
    got = backward_spec(plan, shape, dy, u, big, ig, og, OUTPUTS)
    want = backward_k(plan, shape, dy, u, k, ig, og, OUTPUTS)
    for name in OUTPUTS:
        assert_bitwise(got[name], want[name], name)


@pytest.mark.parametrize("where", ["inside", "below"])
@pytest.mark.parametrize("alias", list(OUTPUTS) + ["workspace"])
def test_output_overlapping_spectrum(alias, where):
    """An output (or the workspace) overlapping the spectrum's bytes: INVALID_ARGUMENT,
    and neither the spectrum nor the other outputs are written."""
    plan, shape, dy, u, k, ig, og = _error_setup()
    need = plan.spectrum_size(shape)
    ws_need = plan.workspace_size(shape)
    if alias == "workspace" and ws_need == 0:
        pytest.skip("the CPU backend needs no workspace for this shape")
    nbytes = {"dk": k.nbytes, "workspace": ws_need}.get(alias, u.nbytes)
    # One aligned buffer: [nbytes of room][the spectrum][nbytes of room]; the
    # aliasing operand starts 16 bytes into the spectrum ("inside") or ends 16
    # bytes into it ("below").
    room = -(-nbytes // 16) * 16  # keeps the spectrum 16-byte aligned
    buf = aligned_bytes(room + need + room)
    spec_addr = buf.ctypes.data + room
    plan.compute_spectrum_ptr(shape, k.ctypes.data, spec_addr, need)
    alias_addr = spec_addr + 16 if where == "inside" else spec_addr + 16 - nbytes
    o = _outputs(u, shape, OUTPUTS, 0x5A)
    before = {n: a.copy() for n, a in o.items()}
    buf_before = buf.copy()
    addr = {n: a.ctypes.data for n, a in o.items()}
    ws, ws_size = _workspace(plan, shape)
    addr["workspace"] = ws.ctypes.data
    addr[alias] = alias_addr
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_spectrum_ptr(shape, dy.ctypes.data, u.ctypes.data, spec_addr, need, ig.ctypes.data,
                                   og.ctypes.data, addr["du"], addr["dk"], addr["d_in_gate"], addr["d_out_gate"],
                                   addr["workspace"], ws_size)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT
    assert f"{alias} overlaps spectrum" in ei.value.message
    assert np.array_equal(buf, buf_before), "the spectrum was written"
    for name in OUTPUTS:
        assert np.array_equal(o[name].view(np.uint8), before[name].view(np.uint8)), name


def test_backward_spectrum_gate_gradient_without_gate():
    plan, shape, dy, u, k, ig, _ = _error_setup()
    spec = compute_spectrum(plan, shape, k)
    o = _outputs(u, shape, OUTPUTS, 0)
    ws, ws_size = _workspace(plan, shape)
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_spectrum_ptr(shape, dy.ctypes.data, u.ctypes.data, spec.ctypes.data, spec.nbytes,
                                   ig.ctypes.data, None, None, None, None, o["d_out_gate"].ctypes.data,
                                   ws.ctypes.data, ws_size)
    assert ei.value.status == Status.ERROR_INVALID_ARGUMENT


def test_backward_spectrum_misaligned_or_missing_spectrum():
    plan, shape, dy, u, k, _, _ = _error_setup()
    spec = compute_spectrum(plan, shape, k)
    dk = np.empty_like(k)
    ws, ws_size = _workspace(plan, shape)
    shifted = aligned_bytes(spec.nbytes + 8)[8:]  # 8 mod 16
    shifted[:] = spec
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_spectrum_ptr(shape, dy.ctypes.data, u.ctypes.data, shifted.ctypes.data, shifted.nbytes,
                                   None, None, None, dk.ctypes.data, None, None, ws.ctypes.data, ws_size)
    assert ei.value.status == Status.ERROR_MISALIGNED_POINTER
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_spectrum_ptr(shape, dy.ctypes.data, u.ctypes.data, None, spec.nbytes,
                                   None, None, None, dk.ctypes.data, None, None, ws.ctypes.data, ws_size)
    assert ei.value.status == Status.ERROR_NULL_POINTER


def test_backward_spectrum_on_closed_plan():
    plan = ffc.Plan(256, "fp32", "cpu")
    plan.close()
    with pytest.raises(FlashFFTConvError) as ei:
        plan.backward_spectrum_ptr(ffc.Shape(1, 1, 100, 100), 16, 16, 16, 16, None, None, None, None, None, None,
                                   None, 0)
    assert ei.value.status == Status.ERROR_NULL_POINTER
