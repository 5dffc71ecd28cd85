"""PyTorch integration: torch.library custom ops (so torch.compile sees one opaque
node instead of a graph break), torch.autograd.Functions (for eager use and for
PyTorch versions without torch.library.custom_op), and two nn.Modules:

- ``FlashFFTConv(seqlen, dtype=torch.bfloat16)``, whose ``forward(u, k,
  in_gate=None, out_gate=None)`` has the original project's signature (long FFT
  convolutions; ``partial=True`` makes it a causal linear convolution of any
  sequence length with FFT size ``seqlen``, ``freq_mask=m`` a frequency-sparse
  convolution whose filter spectrum keeps bin f only where m[f % len(m)] != 0);
- ``FlashDepthwiseConv1d(channels, kernel_size, padding=0, bias=True,
  layout="bhl")``, ``nn.Conv1d(channels, channels, kernel_size, groups=channels)``
  computed by the library's short depthwise convolution (1 to 128 taps).

CPU tensors run on the library's CPU backend, CUDA tensors on its CUDA backend on
torch's current stream.
"""

# No `from __future__ import annotations` here: torch.library.custom_op infers the
# operator schema from the real annotation objects.
from typing import Optional, Tuple

import torch

from . import functional as _F
from ._lib import MAX_FFT_SIZE, MIN_FFT_SIZE, FlashFFTConvError, Layout, Status, as_layout
from ._plan import as_freq_mask, resolve_padding

Tensor = torch.Tensor

_SUPPORTED = (torch.float32, torch.float16, torch.bfloat16)


# -- the computations on plain tensors (no autograd inside) -------------------------


def _forward_impl(u: Tensor, k: Tensor, in_gate: Optional[Tensor], out_gate: Optional[Tensor], fft_size: int,
                  partial: bool, freq_mask: Optional[Tensor]) -> Tensor:
    return _F.fftconv(u, k, in_gate, out_gate, fft_size, partial, freq_mask)


def _forward_keep_spectrum_impl(u: Tensor, k: Tensor, in_gate: Optional[Tensor], out_gate: Optional[Tensor],
                                fft_size: int, partial: bool, freq_mask: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    return _F.fftconv(u, k, in_gate, out_gate, fft_size, partial, freq_mask, return_spectrum=True)


def _backward_impl(dy, u, k, in_gate, out_gate, fft_size, partial, freq_mask, need_du, need_dk, need_dig,
                   need_dog, spectrum=None):
    g = _F.fftconv_backward(
        dy, u, k, in_gate, out_gate, fft_size, partial, freq_mask,
        need_du=need_du, need_dk=need_dk, need_d_in_gate=need_dig, need_d_out_gate=need_dog, spectrum=spectrum,
    )
    # A custom op returns tensors only: an empty tensor stands for "not computed".
    # Each placeholder is a separate tensor because outputs may not alias each other.
    return tuple(t if t is not None else u.new_empty(0) for t in g)


def _grads_wanted(ctx, in_gate, out_gate):
    need = ctx.needs_input_grad
    return need[0], need[1], bool(need[2] and in_gate is not None), bool(need[3] and out_gate is not None)


def _grads_out(k, wanted, grads, trailing=3):
    du, dk, dig, dog = grads
    nu, nk, nig, nog = wanted
    # The library's dk is float32; autograd wants the gradient in k's own dtype.
    # The trailing Nones are for the arguments without gradients (fft_size,
    # partial, freq_mask and, where the signature has it, reuse_spectrum).
    return (du if nu else None, dk.to(k.dtype) if nk else None, dig if nig else None,
            dog if nog else None) + (None,) * trailing


def _wants_spectrum(reuse_spectrum, u, k, in_gate, out_gate) -> bool:
    """Keep the spectrum for backward only when a backward can follow."""
    if not reuse_spectrum or not torch.is_grad_enabled():
        return False
    return any(t is not None and t.requires_grad for t in (u, k, in_gate, out_gate))


def _mask_tensor(freq_mask) -> Optional[Tensor]:
    """freq_mask as the ops take it: None, or a 1-D uint8 CPU tensor (passed on
    unchanged when it already is one, e.g. FlashFFTConv's, so that nothing is
    converted per call)."""
    if freq_mask is None:
        return None
    if isinstance(freq_mask, Tensor) and freq_mask.dtype == torch.uint8 and freq_mask.device.type == "cpu" \
            and freq_mask.dim() == 1:
        return freq_mask
    return torch.from_numpy(as_freq_mask(freq_mask))


# -- autograd.Function --------------------------------------------------------------


class FFTConvFunction(torch.autograd.Function):
    """y = out_gate * conv(in_gate * u, k) with the library's backward.

    ``FFTConvFunction.apply(u, k, in_gate, out_gate, fft_size, partial=False,
    freq_mask=None, reuse_spectrum=False)``; gates may be None; ``partial``
    selects an ``FFC_PLAN_PARTIAL`` plan, ``freq_mask`` (None or a 1-D integer
    or bool array-like) a frequency-sparse one; ``reuse_spectrum`` keeps the
    filter's spectrum from forward for backward (see :func:`fftconv`).
    """

    @staticmethod
    def forward(ctx, u, k, in_gate, out_gate, fft_size, partial=False, freq_mask=None, reuse_spectrum=False):
        freq_mask = _mask_tensor(freq_mask)
        ctx.fft_size = fft_size
        ctx.partial = bool(partial)
        # forward() runs with grad mode off; whether a backward can follow is
        # read from the inputs.
        if reuse_spectrum and any(ctx.needs_input_grad[:4]):
            y, spectrum = _forward_keep_spectrum_impl(u, k, in_gate, out_gate, fft_size, bool(partial), freq_mask)
        else:
            y, spectrum = _forward_impl(u, k, in_gate, out_gate, fft_size, bool(partial), freq_mask), None
        ctx.save_for_backward(u, k, in_gate, out_gate, freq_mask)
        # An intermediate, not an input or output: a plain attribute (PyTorch
        # before 2.0 saves only inputs and outputs); nothing modifies it.
        ctx.spectrum = spectrum
        return y

    @staticmethod
    def backward(ctx, dy):
        u, k, in_gate, out_gate, freq_mask = ctx.saved_tensors
        spectrum = ctx.spectrum
        wanted = _grads_wanted(ctx, in_gate, out_gate)
        if not any(wanted):
            return (None,) * 8
        grads = _backward_impl(dy, u, k, in_gate, out_gate, ctx.fft_size, ctx.partial, freq_mask, *wanted,
                               spectrum=spectrum)
        return _grads_out(k, wanted, grads, trailing=4)


# -- torch.library custom op --------------------------------------------------------

HAS_CUSTOM_OP = hasattr(torch.library, "custom_op")

if HAS_CUSTOM_OP:

    # partial and freq_mask have defaults so that calls written for the
    # five-argument schema (before library 0.3) and the six-argument one (0.3)
    # keep working. freq_mask is a 1-D uint8 CPU tensor (see _mask_tensor): a
    # tensor rather than an int list, so that torch.compile neither guards on
    # nor copies each of its up to N entries.
    @torch.library.custom_op("flashfftconv::fftconv", mutates_args=())
    def _fftconv_op(
        u: Tensor, k: Tensor, in_gate: Optional[Tensor], out_gate: Optional[Tensor], fft_size: int,
        partial: bool = False, freq_mask: Optional[Tensor] = None,
    ) -> Tensor:
        return _forward_impl(u, k, in_gate, out_gate, fft_size, partial, freq_mask)

    @_fftconv_op.register_fake
    def _(u, k, in_gate, out_gate, fft_size, partial=False, freq_mask=None):
        return u.new_empty(u.shape)  # contiguous, like the real output

    @torch.library.custom_op("flashfftconv::fftconv_backward", mutates_args=())
    def _fftconv_backward_op(
        dy: Tensor,
        u: Tensor,
        k: Tensor,
        in_gate: Optional[Tensor],
        out_gate: Optional[Tensor],
        fft_size: int,
        partial: bool,
        freq_mask: Optional[Tensor],
        need_du: bool,
        need_dk: bool,
        need_d_in_gate: bool,
        need_d_out_gate: bool,
        spectrum: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        # spectrum (library 0.5): the one fftconv_keep_spectrum returned, used
        # instead of transforming k again (a trailing default, so that calls
        # written for the schema without it keep working).
        return _backward_impl(dy, u, k, in_gate, out_gate, fft_size, partial, freq_mask, need_du, need_dk,
                              need_d_in_gate, need_d_out_gate, spectrum=spectrum)

    @_fftconv_backward_op.register_fake
    def _(dy, u, k, in_gate, out_gate, fft_size, partial, freq_mask, need_du, need_dk, need_d_in_gate,
          need_d_out_gate, spectrum=None):
        def like_u(need):
            return u.new_empty(u.shape) if need else u.new_empty(0)

        dk = k.new_empty(k.shape, dtype=torch.float32) if need_dk else u.new_empty(0)
        return like_u(need_du), dk, like_u(need_d_in_gate), like_u(need_d_out_gate)

    def _setup_context(ctx, inputs, output):
        u, k, in_gate, out_gate, fft_size = inputs[:5]
        freq_mask = inputs[6] if len(inputs) > 6 else None
        ctx.save_for_backward(u, k, in_gate, out_gate, freq_mask)
        ctx.fft_size = fft_size
        ctx.partial = bool(inputs[5]) if len(inputs) > 5 else False

    def _op_backward(ctx, dy):
        u, k, in_gate, out_gate, freq_mask = ctx.saved_tensors
        wanted = _grads_wanted(ctx, in_gate, out_gate)
        if not any(wanted):
            return None, None, None, None, None, None, None
        grads = _fftconv_backward_op(dy, u, k, in_gate, out_gate, ctx.fft_size, ctx.partial, freq_mask, *wanted)
        return _grads_out(k, wanted, grads)

    _fftconv_op.register_autograd(_op_backward, setup_context=_setup_context)

    # The forward that also returns the filter's spectrum (fftconv(...,
    # reuse_spectrum=True)): the spectrum is an output so that autograd can save
    # it for fftconv_backward's spectrum argument.
    @torch.library.custom_op("flashfftconv::fftconv_keep_spectrum", mutates_args=())
    def _fftconv_keep_spectrum_op(
        u: Tensor, k: Tensor, in_gate: Optional[Tensor], out_gate: Optional[Tensor], fft_size: int,
        partial: bool, freq_mask: Optional[Tensor],
    ) -> Tuple[Tensor, Tensor]:
        return _forward_keep_spectrum_impl(u, k, in_gate, out_gate, fft_size, partial, freq_mask)

    @_fftconv_keep_spectrum_op.register_fake
    def _(u, k, in_gate, out_gate, fft_size, partial, freq_mask):
        # The size is the plan's (it depends on H and the plan, not on values).
        nbytes = _F.spectrum_nbytes(u, k, fft_size, partial, freq_mask)
        return u.new_empty(u.shape), u.new_empty(((nbytes + 3) // 4,), dtype=torch.float32)

    def _keep_spectrum_setup_context(ctx, inputs, output):
        u, k, in_gate, out_gate, fft_size, partial, freq_mask = inputs
        ctx.save_for_backward(u, k, in_gate, out_gate, freq_mask, output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.fft_size = fft_size
        ctx.partial = bool(partial)

    def _keep_spectrum_backward(ctx, dy, _d_spectrum):
        u, k, in_gate, out_gate, freq_mask, spectrum = ctx.saved_tensors
        wanted = _grads_wanted(ctx, in_gate, out_gate)
        if not any(wanted):
            return (None,) * 7
        grads = _fftconv_backward_op(dy, u, k, in_gate, out_gate, ctx.fft_size, ctx.partial, freq_mask, *wanted,
                                     spectrum)
        return _grads_out(k, wanted, grads)

    _fftconv_keep_spectrum_op.register_autograd(_keep_spectrum_backward, setup_context=_keep_spectrum_setup_context)


# -- public API ---------------------------------------------------------------------


def _check_fft_size(n: int) -> None:
    if n < MIN_FFT_SIZE or n > MAX_FFT_SIZE or n & (n - 1):
        raise FlashFFTConvError(
            Status.ERROR_INVALID_FFT_SIZE,
            f"fft_size = {n} (must be a power of two from {MIN_FFT_SIZE} to {MAX_FFT_SIZE})",
        )


def fftconv(u: Tensor, k: Tensor, in_gate: Optional[Tensor] = None, out_gate: Optional[Tensor] = None,
            fft_size: Optional[int] = None, partial: bool = False, freq_mask=None,
            reuse_spectrum: bool = False) -> Tensor:
    """Differentiable y = out_gate * conv(in_gate * u, k) on torch tensors.

    fft_size defaults to the smallest power of two >= L + K - 1 (causal). With
    ``partial=True`` (an ``FFC_PLAN_PARTIAL`` plan) the result is the causal
    linear convolution for any L, L > fft_size included, and fft_size defaults
    to ``default_fft_size(L, K, partial=True)`` (the smallest power of two
    >= max(256, 4K), capped at the causal size). ``freq_mask`` (None, or a
    1-D integer or bool array-like or tensor of G entries; see
    :func:`flashfftconv.freq_block_mask`) makes the plan frequency-sparse:
    bin f of the filter's spectrum is kept only where freq_mask[f % G] != 0, in
    forward and backward alike.

    ``reuse_spectrum=True`` (library 0.5) transforms k once per training step
    instead of twice: forward keeps the filter's spectrum for backward, which
    then skips its own transform of k (gradients bitwise the same). The saved
    spectrum holds H·N·8 bytes (a dense plan) until backward: 48 MiB at
    H = 768, N = 8K, 6 GiB at N = 1M. It is kept only when grad mode is on and
    an input requires a gradient.

    Uses the custom ops ``torch.ops.flashfftconv.fftconv`` (and
    ``fftconv_keep_spectrum`` with reuse_spectrum) when this PyTorch has
    torch.library.custom_op (torch.compile traces them without a graph break),
    else FFTConvFunction.
    """
    partial = bool(partial)
    freq_mask = _mask_tensor(freq_mask)
    if fft_size is None:
        fft_size = _F.default_fft_size(u.shape[-1], k.shape[-1], partial)
    if not HAS_CUSTOM_OP:
        return FFTConvFunction.apply(u, k, in_gate, out_gate, int(fft_size), partial, freq_mask, bool(reuse_spectrum))
    if _wants_spectrum(reuse_spectrum, u, k, in_gate, out_gate):
        y, _ = _fftconv_keep_spectrum_op(u, k, in_gate, out_gate, int(fft_size), partial, freq_mask)
        return y
    return _fftconv_op(u, k, in_gate, out_gate, int(fft_size), partial, freq_mask)


class FlashFFTConv(torch.nn.Module):
    """Drop-in replacement for the original project's module.

    ``FlashFFTConv(seqlen, dtype=torch.bfloat16)`` fixes the FFT size N = seqlen;
    ``forward(u, k, in_gate=None, out_gate=None)`` takes u and the gates of shape
    (B, H, L) with L <= N and k of shape (H, K) with K <= N, and returns
    out_gate * conv(in_gate * u, k) with u and k zero-padded to N (N = 2L gives
    the causal convolution). Unlike the original, any L (odd too) and any H work.

    ``FlashFFTConv(N, partial=True)`` (an ``FFC_PLAN_PARTIAL`` plan) computes the
    causal linear convolution z[t] = sum_{s<K} k[s] (in_gate * u)[t - s] for any
    L, L > N included, by overlap-save windows of N when L + K - 1 > N (which
    needs K <= N/2): N is chosen for the kernel, not the sequence.

    ``FlashFFTConv(N, freq_mask=m)`` (a frequency-sparse plan, library 0.4)
    masks the filter's N-point spectrum: bin f is kept when m[f % G] != 0
    (G = len(m), a power of two up to N; m symmetric; see
    :func:`flashfftconv.freq_block_mask`), in forward and backward. The mask
    is copied once, at construction, into the module's ``freq_mask`` (a uint8
    CPU tensor, not a buffer: it stays on the CPU whatever the module's device).

    ``reuse_spectrum=True`` (library 0.5) keeps the filter's spectrum from
    forward for backward, so that a training step transforms k once instead of
    twice, at the cost of holding H·N·8 bytes until backward (see
    :func:`fftconv`).

    u keeps its own dtype when it is float32, float16 or bfloat16; other dtypes
    are cast to ``dtype`` for the computation and the result is cast back. Gates
    are cast to u's dtype. k may be any floating dtype (the library computes with
    a float32 copy; its gradient comes back in k's dtype). One module can be
    shared by every layer of a model, as with the original.
    """

    def __init__(self, seqlen: int, dtype: torch.dtype = torch.bfloat16, use_32_butterfly: bool = True,
                 partial: bool = False, freq_mask=None, reuse_spectrum: bool = False):
        super().__init__()
        _check_fft_size(int(seqlen))
        if dtype not in _SUPPORTED:
            raise FlashFFTConvError(Status.ERROR_INVALID_DTYPE, f"dtype {dtype} is not float32, float16 or bfloat16")
        self.seqlen = int(seqlen)
        self.fft_size = int(seqlen)
        self.dtype = dtype
        # Accepted for source compatibility with the original module; the planner
        # chooses the factorisation here.
        self.use_32_butterfly = use_32_butterfly
        self.partial = bool(partial)
        m = as_freq_mask(freq_mask)
        self.freq_mask = None if m is None else torch.from_numpy(m)
        self.reuse_spectrum = bool(reuse_spectrum)

    def forward(self, u: Tensor, k: Tensor, in_gate: Optional[Tensor] = None,
                out_gate: Optional[Tensor] = None) -> Tensor:
        out_dtype = u.dtype
        compute = u.dtype if u.dtype in _SUPPORTED else self.dtype
        if u.dtype != compute:
            u = u.to(compute)
        if in_gate is not None and in_gate.dtype != compute:
            in_gate = in_gate.to(compute)
        if out_gate is not None and out_gate.dtype != compute:
            out_gate = out_gate.to(compute)
        y = fftconv(u, k, in_gate, out_gate, self.fft_size, self.partial, self.freq_mask, self.reuse_spectrum)
        return y if y.dtype == out_dtype else y.to(out_dtype)

    def extra_repr(self) -> str:
        mode = ", partial=True" if self.partial else ""
        if self.freq_mask is not None:
            mode += f", freq_mask=<{int(self.freq_mask.count_nonzero())} of {self.freq_mask.numel()} kept>"
        if self.reuse_spectrum:
            mode += ", reuse_spectrum=True"
        return f"fft_size={self.fft_size}, dtype={self.dtype}{mode}"



# =====================================================================================
# Short depthwise convolution
# =====================================================================================


def _dw_forward_impl(x: Tensor, weight: Tensor, bias: Optional[Tensor], padding_left: int, padding_right: int,
                     layout: int) -> Tensor:
    return _F.depthwise_conv1d(x, weight, bias, (padding_left, padding_right), layout)


def _dw_backward_impl(dy, x, weight, padding_left, padding_right, layout, need_dx, need_dweight, need_dbias):
    g = _F.depthwise_conv1d_backward(
        dy, x, weight, (padding_left, padding_right), layout,
        need_dx=need_dx, need_dweight=need_dweight, need_dbias=need_dbias,
    )
    # As for fftconv: an empty tensor stands for "not computed" (a custom op returns tensors only).
    return tuple(t if t is not None else x.new_empty(0) for t in g)


def _dw_grads_wanted(ctx):
    need = ctx.needs_input_grad
    return bool(need[0]), bool(need[1]), bool(need[2] and ctx.has_bias)


def _dw_grads_out(ctx, wanted, grads):
    dx, dw, db = grads
    nx, nw, nb = wanted
    # The library's dweight and dbias are float32; autograd wants each in its parameter's dtype.
    return (dx if nx else None, dw.to(ctx.weight_dtype) if nw else None, db.to(ctx.bias_dtype) if nb else None,
            None, None, None)


def _dw_save(ctx, x, weight, bias, padding_left, padding_right, layout):
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None
    ctx.weight_dtype = weight.dtype
    ctx.bias_dtype = bias.dtype if bias is not None else None
    ctx.padding = (padding_left, padding_right)
    ctx.layout = layout


class DepthwiseConv1dFunction(torch.autograd.Function):
    """y = depthwise_conv1d(x, weight, bias) with the library's backward.

    ``DepthwiseConv1dFunction.apply(x, weight, bias, padding_left, padding_right,
    layout)``: weight (H, K), bias (H,) or None, layout 0 (B, H, L) or 1 (B, L, H).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, padding_left, padding_right, layout):
        _dw_save(ctx, x, weight, bias, padding_left, padding_right, layout)
        return _dw_forward_impl(x, weight, bias, padding_left, padding_right, layout)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        wanted = _dw_grads_wanted(ctx)
        if not any(wanted):
            return None, None, None, None, None, None
        grads = _dw_backward_impl(dy, x, weight, *ctx.padding, ctx.layout, *wanted)
        return _dw_grads_out(ctx, wanted, grads)


if HAS_CUSTOM_OP:

    @torch.library.custom_op("flashfftconv::depthwise_conv1d", mutates_args=())
    def _depthwise_conv1d_op(
        x: Tensor, weight: Tensor, bias: Optional[Tensor], padding_left: int, padding_right: int, layout: int
    ) -> Tensor:
        return _dw_forward_impl(x, weight, bias, padding_left, padding_right, layout)

    @_depthwise_conv1d_op.register_fake
    def _(x, weight, bias, padding_left, padding_right, layout):
        time_dim = 2 if layout == int(Layout.BHL) else 1
        shape = list(x.shape)
        shape[time_dim] = x.shape[time_dim] + padding_left + padding_right - weight.shape[-1] + 1
        return x.new_empty(shape)  # contiguous, like the real output

    @torch.library.custom_op("flashfftconv::depthwise_conv1d_backward", mutates_args=())
    def _depthwise_conv1d_backward_op(
        dy: Tensor,
        x: Tensor,
        weight: Tensor,
        padding_left: int,
        padding_right: int,
        layout: int,
        need_dx: bool,
        need_dweight: bool,
        need_dbias: bool,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        return _dw_backward_impl(dy, x, weight, padding_left, padding_right, layout, need_dx, need_dweight,
                                 need_dbias)

    @_depthwise_conv1d_backward_op.register_fake
    def _(dy, x, weight, padding_left, padding_right, layout, need_dx, need_dweight, need_dbias):
        dx = x.new_empty(x.shape) if need_dx else x.new_empty(0)
        dw = weight.new_empty(weight.shape, dtype=torch.float32) if need_dweight else x.new_empty(0)
        db = x.new_empty((weight.shape[0],), dtype=torch.float32) if need_dbias else x.new_empty(0)
        return dx, dw, db

    def _dw_setup_context(ctx, inputs, output):
        _dw_save(ctx, *inputs)

    def _dw_op_backward(ctx, dy):
        x, weight = ctx.saved_tensors
        wanted = _dw_grads_wanted(ctx)
        if not any(wanted):
            return None, None, None, None, None, None
        grads = _depthwise_conv1d_backward_op(dy, x, weight, *ctx.padding, ctx.layout, *wanted)
        return _dw_grads_out(ctx, wanted, grads)

    _depthwise_conv1d_op.register_autograd(_dw_op_backward, setup_context=_dw_setup_context)


def _layout_int(layout) -> int:
    lay = as_layout(layout)
    if not isinstance(lay, Layout):
        raise FlashFFTConvError(Status.ERROR_INVALID_ARGUMENT, f"unknown layout {layout!r} (\"bhl\" or \"blh\")")
    return int(lay)


def depthwise_conv1d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, padding=0,
                     layout="bhl") -> Tensor:
    """Differentiable short depthwise convolution on torch tensors:
    ``torch.nn.functional.conv1d(x, weight, bias, padding=padding, groups=H)``
    for layout "bhl".

    x is (B, H, L) ("bhl") or (B, L, H) ("blh"), or unbatched (H, L) / (L, H);
    float32, float16 or bfloat16. weight is (H, 1, K) or (H, K) with K <= 128, bias
    (H,) or None, of any float dtype (the library computes with float32 copies; the
    gradients come back in their dtypes). padding: an int, "valid", "same",
    "causal" or (left, right), each side at most K - 1. Uses the custom op
    ``torch.ops.flashfftconv.depthwise_conv1d`` when this PyTorch has
    torch.library.custom_op, else DepthwiseConv1dFunction.
    """
    lay = _layout_int(layout)
    if weight.dim() == 3 and weight.shape[1] == 1:
        weight = weight.reshape(weight.shape[0], weight.shape[2])  # a view; autograd reshapes the gradient back
    elif weight.dim() != 2:
        raise FlashFFTConvError(
            Status.ERROR_INVALID_SHAPE, f"weight must be (H, 1, K) or (H, K), got shape {tuple(weight.shape)}"
        )
    left, right = resolve_padding(padding, weight.shape[-1])
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
    if HAS_CUSTOM_OP:
        y = _depthwise_conv1d_op(x, weight, bias, int(left), int(right), lay)
    else:
        y = DepthwiseConv1dFunction.apply(x, weight, bias, int(left), int(right), lay)
    return y.squeeze(0) if unbatched else y


class FlashDepthwiseConv1d(torch.nn.Module):
    """``nn.Conv1d(channels, channels, kernel_size, groups=channels, padding=...,
    bias=bias)`` on the library's short depthwise convolution (forward and
    backward), for K = 1..128 taps.

    The parameters are those of nn.Conv1d: ``weight`` (channels, 1, kernel_size)
    and ``bias`` (channels,), float32, initialised as nn.Conv1d initialises them,
    so state dicts move between the two modules unchanged. Activations are
    float32, float16 or bfloat16 and keep their dtype; CPU tensors run on the CPU
    backend, CUDA tensors on the CUDA backend on torch's current stream.

    Args:
        channels: H (in = out channels, one filter each).
        kernel_size: K, 1 to 128.
        padding: an int p (p zeros on both sides, as nn.Conv1d), "valid", "same"
            (L_out = L; for even K the extra zero goes on the right, as PyTorch),
            "causal" (K - 1 zeros on the left: y[t] depends on x[t-K+1 .. t]) or
            (left, right). Each side is at most K - 1.
        bias: whether to learn a bias.
        layout: "bhl": x is (B, H, L) as for nn.Conv1d; "blh": x is (B, L, H), a
            sequence model's activations, with no transposes.
        device: where to create the parameters.
    """

    def __init__(self, channels: int, kernel_size: int, padding=0, bias: bool = True, layout="bhl",
                 device=None):
        super().__init__()
        channels, kernel_size = int(channels), int(kernel_size)
        if channels < 1:
            raise FlashFFTConvError(Status.ERROR_INVALID_SHAPE, f"channels = {channels} (must be >= 1)")
        self.in_channels = self.out_channels = self.groups = channels
        self.kernel_size = (kernel_size,)
        self.padding = padding
        self.padding_left, self.padding_right = resolve_padding(padding, kernel_size)
        self.layout = Layout(_layout_int(layout)).name.lower()
        self.weight = torch.nn.Parameter(torch.empty(channels, 1, kernel_size, device=device, dtype=torch.float32))
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(channels, device=device, dtype=torch.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv1d's initialisation: U(-1/sqrt(K), 1/sqrt(K)) for weight and bias
        (fan_in = in_channels / groups * K = K)."""
        torch.nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        if self.bias is not None:
            bound = 1.0 / self.kernel_size[0] ** 0.5
            torch.nn.init.uniform_(self.bias, -bound, bound)

    def output_length(self, seq_len: int) -> int:
        """L_out = L + padding_left + padding_right - K + 1."""
        return int(seq_len) + self.padding_left + self.padding_right - self.kernel_size[0] + 1

    def forward(self, x: Tensor) -> Tensor:
        return depthwise_conv1d(x, self.weight, self.bias, (self.padding_left, self.padding_right), self.layout)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"padding={self.padding!r} (left={self.padding_left}, right={self.padding_right}), "
                f"groups={self.groups}, bias={self.bias is not None}, layout={self.layout!r}")
