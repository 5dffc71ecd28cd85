"""PyTorch integration: a torch.library custom op (so torch.compile sees one opaque
node instead of a graph break), a torch.autograd.Function (for eager use and for
PyTorch versions without torch.library.custom_op), and the nn.Module
``FlashFFTConv(seqlen, dtype=torch.bfloat16)`` whose ``forward(u, k, in_gate=None,
out_gate=None)`` has the original project's signature.

CPU tensors run on the library's CPU backend, CUDA tensors on its CUDA backend on
torch's current stream.
"""

# No `from __future__ import annotations` here: torch.library.custom_op infers the
# operator schema from the real annotation objects.
from typing import Optional, Tuple

import torch

from . import functional as _F
from ._lib import MAX_FFT_SIZE, MIN_FFT_SIZE, FlashFFTConvError, Status

Tensor = torch.Tensor

_SUPPORTED = (torch.float32, torch.float16, torch.bfloat16)


# -- the computations on plain tensors (no autograd inside) -------------------------


def _forward_impl(u: Tensor, k: Tensor, in_gate: Optional[Tensor], out_gate: Optional[Tensor], fft_size: int) -> Tensor:
    return _F.fftconv(u, k, in_gate, out_gate, fft_size)


def _backward_impl(dy, u, k, in_gate, out_gate, fft_size, need_du, need_dk, need_dig, need_dog):
    g = _F.fftconv_backward(
        dy, u, k, in_gate, out_gate, fft_size,
        need_du=need_du, need_dk=need_dk, need_d_in_gate=need_dig, need_d_out_gate=need_dog,
    )
    # A custom op returns tensors only: an empty tensor stands for "not computed".
    # Each placeholder is a separate tensor because outputs may not alias each other.
    return tuple(t if t is not None else u.new_empty(0) for t in g)


def _grads_wanted(ctx, in_gate, out_gate):
    need = ctx.needs_input_grad
    return need[0], need[1], bool(need[2] and in_gate is not None), bool(need[3] and out_gate is not None)


def _grads_out(k, wanted, grads):
    du, dk, dig, dog = grads
    nu, nk, nig, nog = wanted
    # The library's dk is float32; autograd wants the gradient in k's own dtype.
    return (du if nu else None, dk.to(k.dtype) if nk else None, dig if nig else None, dog if nog else None, None)


# -- autograd.Function --------------------------------------------------------------


class FFTConvFunction(torch.autograd.Function):
    """y = out_gate * conv(in_gate * u, k) with the library's backward.

    ``FFTConvFunction.apply(u, k, in_gate, out_gate, fft_size)``; gates may be None.
    """

    @staticmethod
    def forward(ctx, u, k, in_gate, out_gate, fft_size):
        ctx.save_for_backward(u, k, in_gate, out_gate)
        ctx.fft_size = fft_size
        return _forward_impl(u, k, in_gate, out_gate, fft_size)

    @staticmethod
    def backward(ctx, dy):
        u, k, in_gate, out_gate = ctx.saved_tensors
        wanted = _grads_wanted(ctx, in_gate, out_gate)
        if not any(wanted):
            return None, None, None, None, None
        grads = _backward_impl(dy, u, k, in_gate, out_gate, ctx.fft_size, *wanted)
        return _grads_out(k, wanted, grads)


# -- torch.library custom op --------------------------------------------------------

HAS_CUSTOM_OP = hasattr(torch.library, "custom_op")

if HAS_CUSTOM_OP:

    @torch.library.custom_op("flashfftconv::fftconv", mutates_args=())
    def _fftconv_op(
        u: Tensor, k: Tensor, in_gate: Optional[Tensor], out_gate: Optional[Tensor], fft_size: int
    ) -> Tensor:
        return _forward_impl(u, k, in_gate, out_gate, fft_size)

    @_fftconv_op.register_fake
    def _(u, k, in_gate, out_gate, fft_size):
        return u.new_empty(u.shape)  # contiguous, like the real output

    @torch.library.custom_op("flashfftconv::fftconv_backward", mutates_args=())
    def _fftconv_backward_op(
        dy: Tensor,
        u: Tensor,
        k: Tensor,
        in_gate: Optional[Tensor],
        out_gate: Optional[Tensor],
        fft_size: int,
        need_du: bool,
        need_dk: bool,
        need_d_in_gate: bool,
        need_d_out_gate: bool,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        return _backward_impl(dy, u, k, in_gate, out_gate, fft_size, need_du, need_dk, need_d_in_gate,
                              need_d_out_gate)

    @_fftconv_backward_op.register_fake
    def _(dy, u, k, in_gate, out_gate, fft_size, need_du, need_dk, need_d_in_gate, need_d_out_gate):
        def like_u(need):
            return u.new_empty(u.shape) if need else u.new_empty(0)

        dk = k.new_empty(k.shape, dtype=torch.float32) if need_dk else u.new_empty(0)
        return like_u(need_du), dk, like_u(need_d_in_gate), like_u(need_d_out_gate)

    def _setup_context(ctx, inputs, output):
        u, k, in_gate, out_gate, fft_size = inputs
        ctx.save_for_backward(u, k, in_gate, out_gate)
        ctx.fft_size = fft_size

    def _op_backward(ctx, dy):
        u, k, in_gate, out_gate = ctx.saved_tensors
        wanted = _grads_wanted(ctx, in_gate, out_gate)
        if not any(wanted):
            return None, None, None, None, None
        grads = _fftconv_backward_op(dy, u, k, in_gate, out_gate, ctx.fft_size, *wanted)
        return _grads_out(k, wanted, grads)

    _fftconv_op.register_autograd(_op_backward, setup_context=_setup_context)


# -- public API ---------------------------------------------------------------------


def _check_fft_size(n: int) -> None:
    if n < MIN_FFT_SIZE or n > MAX_FFT_SIZE or n & (n - 1):
        raise FlashFFTConvError(
            Status.ERROR_INVALID_FFT_SIZE,
            f"fft_size = {n} (must be a power of two from {MIN_FFT_SIZE} to {MAX_FFT_SIZE})",
        )


def fftconv(u: Tensor, k: Tensor, in_gate: Optional[Tensor] = None, out_gate: Optional[Tensor] = None,
            fft_size: Optional[int] = None) -> Tensor:
    """Differentiable y = out_gate * conv(in_gate * u, k) on torch tensors.

    fft_size defaults to the smallest power of two >= L + K - 1 (causal). Uses the
    custom op ``torch.ops.flashfftconv.fftconv`` when this PyTorch has
    torch.library.custom_op (torch.compile traces it without a graph break), else
    FFTConvFunction.
    """
    if fft_size is None:
        fft_size = _F.default_fft_size(u.shape[-1], k.shape[-1])
    if HAS_CUSTOM_OP:
        return _fftconv_op(u, k, in_gate, out_gate, int(fft_size))
    return FFTConvFunction.apply(u, k, in_gate, out_gate, int(fft_size))


class FlashFFTConv(torch.nn.Module):
    """Drop-in replacement for the original project's module.

    ``FlashFFTConv(seqlen, dtype=torch.bfloat16)`` fixes the FFT size N = seqlen;
    ``forward(u, k, in_gate=None, out_gate=None)`` takes u and the gates of shape
    (B, H, L) with L <= N and k of shape (H, K) with K <= N, and returns
    out_gate * conv(in_gate * u, k) with u and k zero-padded to N (N = 2L gives
    the causal convolution). Unlike the original, any L (odd too) and any H work.

    u keeps its own dtype when it is float32, float16 or bfloat16; other dtypes
    are cast to ``dtype`` for the computation and the result is cast back. Gates
    are cast to u's dtype. k may be any floating dtype (the library computes with
    a float32 copy; its gradient comes back in k's dtype). One module can be
    shared by every layer of a model, as with the original.
    """

    def __init__(self, seqlen: int, dtype: torch.dtype = torch.bfloat16, use_32_butterfly: bool = True):
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
        y = fftconv(u, k, in_gate, out_gate, self.fft_size)
        return y if y.dtype == out_dtype else y.to(out_dtype)

    def extra_repr(self) -> str:
        return f"fft_size={self.fft_size}, dtype={self.dtype}"
