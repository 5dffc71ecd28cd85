"""Functional API: fftconv() and fftconv_backward() (long FFT convolutions), and
depthwise_conv1d() and depthwise_conv1d_backward() (short depthwise convolutions),
on NumPy, torch, CuPy or any CUDA array (see _arrays.py), using cached plans.

Semantics (DESIGN §1), for u of shape (B, H, L) and k of shape (H, K):

    v = in_gate * u;  z[t] = sum_s k[s] v[(t - s) mod N] for t < L;  y = out_gate * z

With the default FFT size N (the smallest power of two >= L + K - 1, at least 256)
this is the causal linear convolution; pass fft_size = L for a circular one.

With ``partial=True`` (an ``FFC_PLAN_PARTIAL`` plan, library 0.3) the result is
the causal linear convolution z[t] = sum_{s<K} k[s] v[t - s] for any L, L > N
included: the FFT size follows the kernel (default: the smallest power of two
>= max(256, 4K), capped at the causal default above) and the library runs
overlap-save windows of N when L + K - 1 > N (which needs K <= N/2).

With ``freq_mask=m`` (a frequency-sparse plan, library 0.4; G = len(m)) the
filter's N-point spectrum is masked, bin f kept when m[f % G] != 0:

    z = IFFT_N(FFT_N(v) * FFT_N(k) * M)[:L],   M[f] = (m[f % G] != 0)

(G a power of two from 1 to N, m symmetric; see :func:`freq_block_mask`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from . import _arrays
from ._lib import MAX_FFT_SIZE, MIN_FFT_SIZE, FlashFFTConvError, Layout, Status, as_layout
from ._plan import Conv1dShape, Shape, get_conv1d_plan, get_plan, resolve_padding


class Gradients(NamedTuple):
    """Gradients returned by fftconv_backward(); None where not requested."""

    du: object
    dk: object
    d_in_gate: object
    d_out_gate: object


def _pow2_at_least(x: int) -> int:
    n = MIN_FFT_SIZE
    while n < x:
        n *= 2
    return n


def default_fft_size(seq_len: int, kernel_len: int, partial: bool = False) -> int:
    """The FFT size fftconv() uses when none is given.

    Plain plans (``partial=False``): the smallest supported power of two N with
    N >= seq_len + kernel_len - 1, the FFT size for which the circular
    convolution equals the causal linear one (FlashFFTConvError with
    ERROR_INVALID_SHAPE above 4194304).

    Partial plans (``partial=True``): the smallest power of two N >= max(256,
    4 * kernel_len) (at most 4194304), but no larger than the plain size
    above: the kernel, not the sequence, sets N, and any seq_len runs in
    overlap-save windows of N. ValueError when 2 * kernel_len > 4194304, since
    a partial plan that needs windows takes K <= N/2 only.
    """
    if partial:
        kernel_len = int(kernel_len)
        if 2 * kernel_len > MAX_FFT_SIZE:
            raise ValueError(
                f"partial convolution: kernel_len = {kernel_len} is too long; a partial plan runs K <= N/2 and the "
                f"largest FFT size is {MAX_FFT_SIZE}, so K may be at most {MAX_FFT_SIZE // 2}"
            )
        n = min(_pow2_at_least(4 * kernel_len), MAX_FFT_SIZE)
        # Never above the plain causal size: a short sequence then runs as one
        # FFT, exactly as on a plain plan.
        return min(n, _pow2_at_least(int(seq_len) + kernel_len - 1))
    need = max(int(seq_len) + int(kernel_len) - 1, MIN_FFT_SIZE)
    if need > MAX_FFT_SIZE:
        raise FlashFFTConvError(
            Status.ERROR_INVALID_SHAPE,
            f"a causal convolution of L = {seq_len} and K = {kernel_len} needs N >= {need}, above the largest "
            f"FFT size {MAX_FFT_SIZE}; pass fft_size explicitly for a circular convolution, or use "
            "partial=True for a long sequence with a shorter kernel",
        )
    return _pow2_at_least(need)


def _shape_error(msg: str) -> FlashFFTConvError:
    return FlashFFTConvError(Status.ERROR_INVALID_SHAPE, msg)


class _Call:
    """Validated operands of one call: namespace, contiguous arrays, shape, dtype, plan."""

    def __init__(self, u, k, in_gate, out_gate, fft_size, partial=False, freq_mask=None, extra=()):
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
        partial = bool(partial)
        n = default_fft_size(L, kshape[1], partial) if fft_size is None else int(fft_size)
        self.plan = get_plan(n, dtype, _arrays.backend_for(device), device, partial, freq_mask)

    def p(self, x) -> Optional[int]:
        return None if x is None else self.ns.ptr(x)


def fftconv(u, k, in_gate=None, out_gate=None, fft_size: Optional[int] = None, partial: bool = False,
            freq_mask=None, *, return_spectrum: bool = False):
    """y = out_gate * conv(in_gate * u, k).

    Args:
        u: (B, H, L) float32, float16 or bfloat16 array: NumPy (CPU backend), a torch
            tensor (CPU or CUDA), a CuPy array, or any CUDA array exposing
            __cuda_array_interface__ or DLPack.
        k: (H, K) filter; converted to float32 (the library's filter type).
        in_gate, out_gate: optional (B, H, L) gates of u's dtype.
        fft_size: N; default the smallest power of two >= L + K - 1 (causal linear
            convolution). L and K must not exceed N (except with partial).
        partial: a partial plan (``FFC_PLAN_PARTIAL``): the causal linear
            convolution for any L, L > N included; fft_size then defaults to
            :func:`default_fft_size` (L, K, partial=True), and K must be at most
            N/2 when L + K - 1 > N.
        freq_mask: a frequency-sparse plan (library 0.4): a 1-D array-like of
            G integers or bools, G a power of two from 1 to N, symmetric
            (``m[j] != 0`` exactly when ``m[(G - j) % G] != 0``). Spectrum bin f
            of the filter is kept when ``freq_mask[f % G]`` is nonzero, zeroed
            otherwise. None (default): the dense convolution. Not combinable
            with ``partial``. Plans are cached per mask pattern.
        return_spectrum: also return the filter's spectrum (library 0.5), for
            :func:`fftconv_backward` (``spectrum=``) to reuse instead of
            transforming k again: a training step then transforms its filter
            once. y is the same either way.

    Returns:
        y, shape and dtype of u, from the same library and device as u; with
        ``return_spectrum`` the pair (y, spectrum), the spectrum a 1-D float32
        array of the plan's spectrum size (H·N·8 bytes for a dense plan: keep
        it only as long as it is needed). CUDA work is enqueued on the
        framework's current stream and not synchronised.

    Raises:
        FlashFFTConvError: invalid shapes, dtypes or sizes, or a library failure
            (carrying the library's message).
    """
    c = _Call(u, k, in_gate, out_gate, fft_size, partial, freq_mask)
    ns = c.ns
    with ns.device_guard(c.device):
        y = ns.empty_like(c.u)
        ws_size = c.plan.workspace_size(c.shape)
        ws = ns.workspace(ws_size, c.u)
        stream = ns.stream(c.device)
        if not return_spectrum:
            c.plan.forward_ptr(c.shape, c.p(c.u), c.p(c.k), c.p(c.in_gate), c.p(c.out_gate), c.p(y),
                               c.p(ws), ws_size, stream)
            return y
        spectrum_size = c.plan.spectrum_size(c.shape)
        spectrum = _spectrum_buffer(ns, spectrum_size, c.u)
        c.plan.compute_spectrum_ptr(c.shape, c.p(c.k), c.p(spectrum), spectrum_size, stream)
        c.plan.forward_spectrum_ptr(c.shape, c.p(c.u), c.p(spectrum), spectrum_size, c.p(c.in_gate),
                                    c.p(c.out_gate), c.p(y), c.p(ws), ws_size, stream)
    return y, spectrum


def _spectrum_buffer(ns, nbytes: int, like):
    """A 1-D float32 array of nbytes (rounded up to whole floats), 16-byte aligned
    as the library wants spectra. Device allocators align far beyond that; host
    allocators need not, so a host buffer is cut from a slightly larger one."""
    count = (nbytes + 3) // 4
    buf = ns.empty_f32((count,), like)
    if ns.ptr(buf) % 16:
        buf = ns.empty_f32((count + 3,), like)
        skip = (-ns.ptr(buf) % 16) // 4
        buf = buf[skip:skip + count]
    return buf


def spectrum_nbytes(u, k, fft_size: Optional[int] = None, partial: bool = False, freq_mask=None) -> int:
    """Bytes of the spectrum ``fftconv(u, k, ..., return_spectrum=True)`` returns
    for these operands (it depends on H, the FFT size and the plan, not on the
    values)."""
    c = _Call(u, k, None, None, fft_size, partial, freq_mask)
    return c.plan.spectrum_size(c.shape)


def _spectrum_operand(ns, spectrum, device):
    """A caller's spectrum, checked to come from the call's library and device (its
    size is the library's to check: FFC_ERROR_BUFFER_TOO_SMALL)."""
    spectrum_ns, (spectrum,) = _arrays.normalise(spectrum)
    if spectrum_ns.name != ns.name:
        raise TypeError(f"spectrum comes from {spectrum_ns.name}, but the other operands from {ns.name}")
    if ns.device(spectrum) != device:
        raise FlashFFTConvError(
            Status.ERROR_INVALID_POINTER, f"spectrum is on device {ns.device(spectrum)} but u is on {device}"
        )
    return ns.contiguous(spectrum)


def fftconv_backward(
    dy,
    u,
    k,
    in_gate=None,
    out_gate=None,
    fft_size: Optional[int] = None,
    partial: bool = False,
    freq_mask=None,
    *,
    need_du: bool = True,
    need_dk: bool = True,
    need_d_in_gate: Optional[bool] = None,
    need_d_out_gate: Optional[bool] = None,
    spectrum=None,
) -> Gradients:
    """Gradients of fftconv() for upstream gradient ``dy``.

    Args:
        dy: (B, H, L) upstream gradient, u's dtype.
        u, k, in_gate, out_gate, fft_size, partial, freq_mask: as passed to
            fftconv(). With a mask the gradients are those of the masked
            convolution: dk = IFFT_N(M * sum_b conj(FFT_N(v_b)) * FFT_N(dz_b))[:K].
        need_du, need_dk: whether to compute du and dk.
        need_d_in_gate, need_d_out_gate: default: whenever the gate is given.
        spectrum: the spectrum ``fftconv(..., return_spectrum=True)`` returned
            for this k and these operands (library 0.5), used instead of
            transforming k again; the gradients are bitwise the same. k's
            values are then not read, but its shape (H, K) still sets dk's.

    Returns:
        Gradients(du, dk, d_in_gate, d_out_gate), None for each one not requested.
        dk is float32 (H, K); the others have u's shape and dtype. Work that only
        feeds an unrequested gradient is skipped by the library.
    """
    c = _Call(u, k, in_gate, out_gate, fft_size, partial, freq_mask, extra=(dy,))
    ns = c.ns
    if need_d_in_gate is None:
        need_d_in_gate = c.in_gate is not None
    if need_d_out_gate is None:
        need_d_out_gate = c.out_gate is not None
    for name, need, gate in (("d_in_gate", need_d_in_gate, c.in_gate), ("d_out_gate", need_d_out_gate, c.out_gate)):
        if need and gate is None:
            raise FlashFFTConvError(Status.ERROR_INVALID_ARGUMENT, f"{name} requested but the gate was not given")
    (dy,) = c.extra
    if spectrum is not None:
        spectrum = _spectrum_operand(ns, spectrum, c.device)
    with ns.device_guard(c.device):
        du = ns.empty_like(c.u) if need_du else None
        dk = ns.empty_f32((c.shape.channels, c.shape.kernel_len), c.u) if need_dk else None
        dig = ns.empty_like(c.u) if need_d_in_gate else None
        dog = ns.empty_like(c.u) if need_d_out_gate else None
        ws_size = c.plan.workspace_size(c.shape)
        ws = ns.workspace(ws_size, c.u)
        if spectrum is None:
            c.plan.backward_ptr(c.shape, c.p(dy), c.p(c.u), c.p(c.k), c.p(c.in_gate), c.p(c.out_gate),
                                c.p(du), c.p(dk), c.p(dig), c.p(dog), c.p(ws), ws_size, ns.stream(c.device))
        else:
            c.plan.backward_spectrum_ptr(c.shape, c.p(dy), c.p(c.u), c.p(spectrum), int(spectrum.nbytes),
                                         c.p(c.in_gate), c.p(c.out_gate), c.p(du), c.p(dk), c.p(dig), c.p(dog),
                                         c.p(ws), ws_size, ns.stream(c.device))
    return Gradients(du, dk, dig, dog)


# -- short depthwise convolution ---------------------------------------------------------


class Conv1dGradients(NamedTuple):
    """Gradients returned by depthwise_conv1d_backward(); None where not requested."""

    dx: object
    dweight: object
    dbias: object


class _Conv1dCall:
    """Validated operands of one short-convolution call."""

    def __init__(self, x, weight, bias, padding, layout, dy=None):
        ns, (x, weight, bias, dy) = _arrays.normalise(x, weight, bias, dy)
        lay = as_layout(layout)
        if not isinstance(lay, Layout):
            raise FlashFFTConvError(Status.ERROR_INVALID_ARGUMENT, f"unknown layout {layout!r} (\"bhl\" or \"blh\")")
        xshape = ns.shape(x)
        dims = "(B, H, L)" if lay == Layout.BHL else "(B, L, H)"
        if len(xshape) != 3:
            raise _shape_error(f"x must be 3-D {dims}, got shape {xshape}")
        B, H, L = (xshape[0], xshape[1], xshape[2]) if lay == Layout.BHL else (xshape[0], xshape[2], xshape[1])
        wshape = ns.shape(weight)
        # (H, K), or PyTorch's Conv1d weight (H, 1, K).
        if not (len(wshape) == 2 or (len(wshape) == 3 and wshape[1] == 1)):
            raise _shape_error(f"weight must be (H, K) or (H, 1, K), got shape {wshape}")
        if wshape[0] != H:
            raise _shape_error(
                f"weight has {wshape[0]} channels but x has H = {H} (x {xshape} {dims}, weight {wshape})"
            )
        K = int(wshape[-1])
        if bias is not None and ns.shape(bias) != (H,):
            raise _shape_error(f"bias has shape {ns.shape(bias)}, expected ({H},)")

        dtype = ns.dtype(x)
        if dtype is None:
            raise FlashFFTConvError(
                Status.ERROR_INVALID_DTYPE,
                f"x has dtype {getattr(x, 'dtype', '?')}; supported: float32, float16, bfloat16 "
                "(bfloat16 NumPy arrays via ml_dtypes)",
            )
        if dy is not None and ns.dtype(dy) != dtype:
            raise FlashFFTConvError(
                Status.ERROR_INVALID_DTYPE, f"dy has dtype {dy.dtype}, but x has {x.dtype}; they must match"
            )
        device = ns.device(x)
        for name, a in (("weight", weight), ("bias", bias), ("dy", dy)):
            if a is not None and ns.device(a) != device:
                raise FlashFFTConvError(
                    Status.ERROR_INVALID_POINTER, f"{name} is on device {ns.device(a)} but x is on {device}"
                )

        self.ns = ns
        self.layout = lay
        self.device = device
        self.shape = Conv1dShape(int(B), int(H), int(L))
        self.plan = get_conv1d_plan(K, resolve_padding(padding, K), dtype, lay, _arrays.backend_for(device), device)
        # The library checks L >= 1 and L_out >= 1 (ERROR_INVALID_SHAPE with its message).
        self.out_len = self.plan.output_length(L)
        self.x = ns.contiguous(x)
        self.weight = ns.to_f32(weight)  # the library takes weight and bias (and returns their grads) in float32
        self.bias = None if bias is None else ns.to_f32(bias)
        self.wshape = wshape
        if dy is not None:
            want = self.out_shape()
            if ns.shape(dy) != want:
                raise _shape_error(f"dy has shape {ns.shape(dy)}, expected {want} (L_out = {self.out_len})")
            dy = ns.contiguous(dy)
        self.dy = dy

    def out_shape(self):
        s = self.shape
        return (s.batch, s.channels, self.out_len) if self.layout == Layout.BHL else (s.batch, self.out_len, s.channels)

    def p(self, a) -> Optional[int]:
        return None if a is None else self.ns.ptr(a)

    def workspace(self):
        n = self.plan.workspace_size(self.shape)
        return (self.ns.workspace(n, self.x), n) if n > 0 else (None, 0)


def depthwise_conv1d(x, weight, bias=None, padding=0, layout="bhl"):
    """Short depthwise convolution: PyTorch's
    ``conv1d(x, weight, bias, padding=padding, groups=H)`` (a cross-correlation),
    for K = 1..128 taps, computed directly by the library::

        y[b,h,t] = bias[h] + sum_j weight[h,j] * x[b,h,t + j - padding_left]   (x zero outside [0, L))

    Args:
        x: (B, H, L) for layout "bhl", (B, L, H) for "blh"; float32, float16 or
            bfloat16: NumPy (CPU backend), a torch tensor (CPU or CUDA), a CuPy
            array, or any CUDA array exposing __cuda_array_interface__ or DLPack.
        weight: (H, K) or PyTorch's (H, 1, K); converted to float32.
        bias: optional (H,); converted to float32.
        padding: an int p (p zeros on both sides, as PyTorch), "valid", "same",
            "causal" (K-1 on the left) or (left, right); each side at most K-1.
        layout: "bhl" or "blh" (or a Layout), for x and y.

    Returns:
        y, (B, H, L_out) or (B, L_out, H) with L_out = L + left + right - K + 1, in
        x's dtype, library and device. CUDA work is enqueued on the framework's
        current stream and not synchronised.

    Raises:
        FlashFFTConvError: invalid shapes, dtypes, paddings or kernel sizes, or a
            library failure (carrying the library's message).
    """
    c = _Conv1dCall(x, weight, bias, padding, layout)
    ns = c.ns
    with ns.device_guard(c.device):
        y = ns.empty(c.out_shape(), c.x)
        ws, ws_size = c.workspace()
        c.plan.forward_ptr(c.shape, c.p(c.x), c.p(c.weight), c.p(c.bias), c.p(y), c.p(ws), ws_size,
                           ns.stream(c.device))
    return y


def depthwise_conv1d_backward(
    dy,
    x,
    weight,
    padding=0,
    layout="bhl",
    *,
    need_dx: bool = True,
    need_dweight: bool = True,
    need_dbias: bool = True,
) -> Conv1dGradients:
    """Gradients of depthwise_conv1d() for upstream gradient ``dy``.

    Args:
        dy: y's shape, x's dtype.
        x, weight, padding, layout: as passed to depthwise_conv1d() (the bias does
            not enter the gradients).
        need_dx, need_dweight, need_dbias: which gradients to compute; the library
            skips the work that only feeds one not requested.

    Returns:
        Conv1dGradients(dx, dweight, dbias), None for each one not requested. dx
        has x's shape and dtype; dweight (float32) has weight's shape ((H, K) or
        (H, 1, K)); dbias is float32 (H,). dweight and dbias are reduced in a
        fixed order: identical bits on every run.
    """
    c = _Conv1dCall(x, weight, None, padding, layout, dy=dy)
    ns = c.ns
    H = c.shape.channels
    with ns.device_guard(c.device):
        dx = ns.empty_like(c.x) if need_dx else None
        dw = ns.empty_f32(tuple(c.wshape), c.x) if need_dweight else None
        db = ns.empty_f32((H,), c.x) if need_dbias else None
        if dx is not None or dw is not None or db is not None:
            ws, ws_size = c.workspace()
            c.plan.backward_ptr(c.shape, c.p(c.dy), c.p(c.x) if need_dweight else None,
                                c.p(c.weight) if need_dx else None, c.p(dx), c.p(dw), c.p(db), c.p(ws), ws_size,
                                ns.stream(c.device))
    return Conv1dGradients(dx, dw, db)
