"""Functional API: fftconv() and fftconv_backward() on NumPy, torch, CuPy or any
CUDA array (see _arrays.py), using cached plans.

Semantics (DESIGN §1), for u of shape (B, H, L) and k of shape (H, K):

    v = in_gate * u;  z[t] = sum_s k[s] v[(t - s) mod N] for t < L;  y = out_gate * z

With the default FFT size N (the smallest power of two >= L + K - 1, at least 256)
this is the causal linear convolution; pass fft_size = L for a circular one.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from . import _arrays
from ._lib import MAX_FFT_SIZE, MIN_FFT_SIZE, FlashFFTConvError, Status
from ._plan import Shape, get_plan


class Gradients(NamedTuple):
    """Gradients returned by fftconv_backward(); None where not requested."""

    du: object
    dk: object
    d_in_gate: object
    d_out_gate: object


def default_fft_size(seq_len: int, kernel_len: int) -> int:
    """Smallest supported power of two N with N >= seq_len + kernel_len - 1: the FFT
    size for which the circular convolution equals the causal linear one."""
    need = max(int(seq_len) + int(kernel_len) - 1, MIN_FFT_SIZE)
    if need > MAX_FFT_SIZE:
        raise FlashFFTConvError(
            Status.ERROR_INVALID_SHAPE,
            f"a causal convolution of L = {seq_len} and K = {kernel_len} needs N >= {need}, above the largest "
            f"FFT size {MAX_FFT_SIZE}; pass fft_size explicitly for a circular convolution",
        )
    n = MIN_FFT_SIZE
    while n < need:
        n *= 2
    return n


def _shape_error(msg: str) -> FlashFFTConvError:
    return FlashFFTConvError(Status.ERROR_INVALID_SHAPE, msg)


class _Call:
    """Validated operands of one call: namespace, contiguous arrays, shape, dtype, plan."""

    def __init__(self, u, k, in_gate, out_gate, fft_size, extra=()):
        ns, arrs = _arrays.normalise(u, k, in_gate, out_gate, *extra)
        u, k, in_gate, out_gate, *extra = arrs
        ushape = ns.shape(u)
        if len(ushape) != 3:
            raise _shape_error(f"u must be 3-D (B, H, L), got shape {ushape}")
        kshape = ns.shape(k)
        if len(kshape) != 2:
            raise _shape_error(f"k must be 2-D (H, K), got shape {kshape}")
        B, H, L = ushape
        if kshape[0] != H:
            raise _shape_error(f"k has {kshape[0]} channels but u has H = {H} (u {ushape}, k {kshape})")
        for name, g in (("in_gate", in_gate), ("out_gate", out_gate), *zip(("dy",), extra)):
            if g is not None and ns.shape(g) != ushape:
                raise _shape_error(f"{name} has shape {ns.shape(g)}, expected u's shape {ushape}")

        dtype = ns.dtype(u)
        if dtype is None:
            raise FlashFFTConvError(
                Status.ERROR_INVALID_DTYPE,
                f"u has dtype {getattr(u, 'dtype', '?')}; supported: float32, float16, bfloat16 "
                "(bfloat16 NumPy arrays via ml_dtypes)",
            )
        for name, g in (("in_gate", in_gate), ("out_gate", out_gate), *zip(("dy",), extra)):
            if g is not None and ns.dtype(g) != dtype:
                raise FlashFFTConvError(
                    Status.ERROR_INVALID_DTYPE, f"{name} has dtype {g.dtype}, but u has {u.dtype}; they must match"
                )

        device = ns.device(u)
        for name, a in (("k", k), ("in_gate", in_gate), ("out_gate", out_gate), *zip(("dy",), extra)):
            if a is not None and ns.device(a) != device:
                raise FlashFFTConvError(
                    Status.ERROR_INVALID_POINTER, f"{name} is on device {ns.device(a)} but u is on {device}"
                )

        self.ns = ns
        self.u = ns.contiguous(u)
        self.k = ns.to_f32(k)  # the library takes k (and returns dk) in float32 only
        self.in_gate = None if in_gate is None else ns.contiguous(in_gate)
        self.out_gate = None if out_gate is None else ns.contiguous(out_gate)
        self.extra = [None if e is None else ns.contiguous(e) for e in extra]
        self.device = device
        self.shape = Shape(int(B), int(H), int(L), int(kshape[1]))
        n = default_fft_size(L, kshape[1]) if fft_size is None else int(fft_size)
        self.plan = get_plan(n, dtype, _arrays.backend_for(device), device)

    def p(self, x) -> Optional[int]:
        return None if x is None else self.ns.ptr(x)


def fftconv(u, k, in_gate=None, out_gate=None, fft_size: Optional[int] = None):
    """y = out_gate * conv(in_gate * u, k).

    Args:
        u: (B, H, L) float32, float16 or bfloat16 array: NumPy (CPU backend), a torch
            tensor (CPU or CUDA), a CuPy array, or any CUDA array exposing
            __cuda_array_interface__ or DLPack.
        k: (H, K) filter; converted to float32 (the library's filter type).
        in_gate, out_gate: optional (B, H, L) gates of u's dtype.
        fft_size: N; default the smallest power of two >= L + K - 1 (causal linear
            convolution). L and K must not exceed N.

    Returns:
        y, shape and dtype of u, from the same library and device as u. CUDA work
        is enqueued on the framework's current stream and not synchronised.

    Raises:
        FlashFFTConvError: invalid shapes, dtypes or sizes, or a library failure
            (carrying the library's message).
    """
    c = _Call(u, k, in_gate, out_gate, fft_size)
    ns = c.ns
    with ns.device_guard(c.device):
        y = ns.empty_like(c.u)
        ws_size = c.plan.workspace_size(c.shape)
        ws = ns.workspace(ws_size, c.u)
        c.plan.forward_ptr(c.shape, c.p(c.u), c.p(c.k), c.p(c.in_gate), c.p(c.out_gate), c.p(y),
                           c.p(ws), ws_size, ns.stream(c.device))
    return y


def fftconv_backward(
    dy,
    u,
    k,
    in_gate=None,
    out_gate=None,
    fft_size: Optional[int] = None,
    *,
    need_du: bool = True,
    need_dk: bool = True,
    need_d_in_gate: Optional[bool] = None,
    need_d_out_gate: Optional[bool] = None,
) -> Gradients:
    """Gradients of fftconv() for upstream gradient ``dy``.

    Args:
        dy: (B, H, L) upstream gradient, u's dtype.
        u, k, in_gate, out_gate, fft_size: as passed to fftconv().
        need_du, need_dk: whether to compute du and dk.
        need_d_in_gate, need_d_out_gate: default: whenever the gate is given.

    Returns:
        Gradients(du, dk, d_in_gate, d_out_gate), None for each one not requested.
        dk is float32 (H, K); the others have u's shape and dtype. Work that only
        feeds an unrequested gradient is skipped by the library.
    """
    c = _Call(u, k, in_gate, out_gate, fft_size, extra=(dy,))
    ns = c.ns
    if need_d_in_gate is None:
        need_d_in_gate = c.in_gate is not None
    if need_d_out_gate is None:
        need_d_out_gate = c.out_gate is not None
    for name, need, gate in (("d_in_gate", need_d_in_gate, c.in_gate), ("d_out_gate", need_d_out_gate, c.out_gate)):
        if need and gate is None:
            raise FlashFFTConvError(Status.ERROR_INVALID_ARGUMENT, f"{name} requested but the gate was not given")
    (dy,) = c.extra
    with ns.device_guard(c.device):
        du = ns.empty_like(c.u) if need_du else None
        dk = ns.empty_f32((c.shape.channels, c.shape.kernel_len), c.u) if need_dk else None
        dig = ns.empty_like(c.u) if need_d_in_gate else None
        dog = ns.empty_like(c.u) if need_d_out_gate else None
        ws_size = c.plan.workspace_size(c.shape)
        ws = ns.workspace(ws_size, c.u)
        c.plan.backward_ptr(c.shape, c.p(dy), c.p(c.u), c.p(c.k), c.p(c.in_gate), c.p(c.out_gate),
                            c.p(du), c.p(dk), c.p(dig), c.p(dog), c.p(ws), ws_size, ns.stream(c.device))
    return Gradients(du, dk, dig, dog)
