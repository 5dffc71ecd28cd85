"""Plan: an owned ffc_plan_t, plus the process-wide plan cache.

Execute methods take raw integer pointers; the array handling lives in
_arrays.py and functional.py, so that this class stays a thin mirror of the C API
(and of the Rust and Julia Plan types).
"""

from __future__ import annotations

import ctypes
import operator
import threading
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from ._lib import (
    Backend,
    Conv1dDescC,
    Conv1dShapeC,
    DType,
    FlashFFTConvError,
    Layout,
    PlanDescC,
    PlanInfoC,
    ShapeC,
    Status,
    check,
)


@dataclass(frozen=True)
class Shape:
    """Problem shape: u, gates, y are (batch, channels, seq_len); k is (channels, kernel_len)."""

    batch: int
    channels: int
    seq_len: int
    kernel_len: int

    def _c(self) -> ShapeC:
        return ShapeC(self.batch, self.channels, self.seq_len, self.kernel_len)


@dataclass(frozen=True)
class PlanInfo:
    """What a plan resolved to (ffc_plan_info_t)."""

    fft_size: int
    dtype: DType
    backend: Backend
    device: int
    factors: Tuple[int, ...]
    fused: bool
    predicted_us_per_sequence: float
    kernel_name: str


def as_dtype(d) -> DType:
    """Accepts a DType, a name ("float16", "fp16", "bfloat16", ...), a NumPy dtype or a torch dtype."""
    if isinstance(d, DType):
        return d
    if isinstance(d, int) and not isinstance(d, bool):
        return DType(d)
    if isinstance(d, type):  # scalar types such as np.float16 or ml_dtypes.bfloat16
        try:
            d = np.dtype(d)
        except TypeError:
            pass
    name = d if isinstance(d, str) else getattr(d, "name", None)
    if not isinstance(name, str):
        name = str(d)  # torch dtypes print as "torch.float16"
    name = name.replace("torch.", "").lower()
    table = {
        "float32": DType.FP32, "fp32": DType.FP32, "float": DType.FP32,
        "float16": DType.FP16, "fp16": DType.FP16, "half": DType.FP16,
        "bfloat16": DType.BF16, "bf16": DType.BF16,
    }
    if name in table:
        return table[name]
    raise FlashFFTConvError(
        Status.ERROR_INVALID_DTYPE,
        f"unsupported data type {d!r}: libflashfftconv takes float32, float16 or bfloat16",
    )


def _host_array(x):
    """A NumPy view or copy of an array-like, moving torch and CuPy arrays to the host."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, on any device
        return x.detach().cpu().numpy()
    if hasattr(x, "get") and hasattr(x, "__cuda_array_interface__"):  # a CuPy array
        return x.get()
    return np.asarray(x)


def as_freq_mask(freq_mask) -> Optional[np.ndarray]:
    """A frequency mask as the library reads it: None stays None (the dense
    convolution); anything else becomes a new contiguous uint8 array of 0 and 1
    (1 where the entry is nonzero; the library tells only zero from nonzero).

    Accepts any 1-D array-like of integers or bools (a list, a NumPy array, a
    torch tensor or a CuPy array). Whether its length G and its entries form a
    valid mask (G a power of two from 1 to N, symmetric) is the library's to
    judge when the plan is created.

    Raises:
        TypeError: not an array of integers or bools.
        ValueError: not 1-D.
        FlashFFTConvError: ERROR_INVALID_ARGUMENT for an empty mask or one of more
            than MAX_FREQ_MASK_LEN entries (longer than any FFT size).
    """
    if freq_mask is None:
        return None
    a = _host_array(freq_mask)
    if a.ndim != 1:
        raise ValueError(f"freq_mask must be 1-D, got shape {a.shape}")
    if a.size == 0:  # first: np.asarray([]) is float64
        # Refused here rather than passed on: the C++ wrapper reads an empty mask
        # as "no mask", while to the C API G = 0 is not a power of two.
        raise FlashFFTConvError(
            Status.ERROR_INVALID_ARGUMENT,
            "freq_mask is empty: it needs G entries, G a power of two from 1 to N (None: the dense convolution)",
        )
    if a.dtype != np.bool_ and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"freq_mask must hold integers or bools, not {a.dtype}")
    if a.size > _lib.MAX_FREQ_MASK_LEN:
        raise FlashFFTConvError(
            Status.ERROR_INVALID_ARGUMENT,
            f"freq_mask has {a.size} entries, more than the largest FFT size {_lib.MAX_FREQ_MASK_LEN}",
        )
    # != 0 first: a plain cast would turn 256 into 0.
    return np.ascontiguousarray(a != 0, dtype=np.uint8)


def freq_block_mask(blocks: int, kept: int) -> np.ndarray:
    """A symmetric frequency mask of ``blocks`` entries that keeps the ``kept``
    residues nearest 0 on either side: entry j is 1 when min(j, blocks - j) < kept,
    else 0.

    As ``freq_mask`` of a plan (G = blocks) it keeps spectrum bin f exactly when
    f mod G is within kept - 1 of 0 (circularly). With blocks = M, the outer
    factor of the Monarch decomposition N = M * N_in, residue r is row r of the
    spectrum, so whole rows are kept or dropped (see ``ffc_plan_desc_t::freq_mask``);
    with blocks = N it is a low-pass filter keeping the kept lowest frequencies
    (and their mirror images).

    Args:
        blocks: G, a power of two (1, 2, 4, ...).
        kept: 1 to blocks // 2 + 1; the mask keeps min(2 * kept - 1, blocks)
            residues (residue 0 only at kept = 1, all of them at blocks // 2 + 1).

    Returns:
        a uint8 array of length ``blocks``.

    Raises:
        ValueError: blocks not a power of two, or kept out of range.
    """
    if isinstance(blocks, bool) or isinstance(kept, bool):
        raise TypeError("blocks and kept must be integers, not bools")
    blocks, kept = operator.index(blocks), operator.index(kept)
    if blocks < 1 or blocks & (blocks - 1):
        raise ValueError(f"blocks = {blocks} is not a power of two")
    if not 1 <= kept <= blocks // 2 + 1:
        raise ValueError(f"kept = {kept} is outside 1..{blocks // 2 + 1} (blocks // 2 + 1 for blocks = {blocks})")
    j = np.arange(blocks)
    return (np.minimum(j, blocks - j) < kept).astype(np.uint8)


def _ptr(p) -> Optional[int]:
    # None stays NULL; 0 as well. ctypes c_void_p converts ints directly.
    return p if p else None


class _OwnedPlan:
    """The lifetime of a plan handle, shared by :class:`Plan` and :class:`Conv1dPlan`:
    ``close()``, a ``with`` block or garbage collection destroys it, through the C
    function named by ``_DESTROY``. Subclasses set ``_handle = None`` first in
    ``__init__`` (so that ``__del__`` is safe if creation fails), then ``_L`` (kept
    for ``__del__`` at interpreter shutdown) and ``_handle``."""

    _DESTROY = ""
    _handle = None

    def close(self) -> None:
        """Destroys the plan now (idempotent)."""
        h, self._handle = self._handle, None
        if h is not None:
            getattr(self._L, self._DESTROY)(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # never raise from a finalizer
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _h(self):
        if self._handle is None:
            raise FlashFFTConvError(Status.ERROR_NULL_POINTER, "the plan has been closed")
        return self._handle


class Plan(_OwnedPlan):
    """An owned libflashfftconv plan.

    A plan is immutable after creation and may be used from many threads at once
    (each call with its own workspace and outputs). ``close()`` (or leaving a
    ``with`` block, or garbage collection) destroys it; it must not race with
    other uses.
    """

    _DESTROY = "ffc_plan_destroy"

    def __init__(
        self,
        fft_size: int,
        dtype="float16",
        backend="auto",
        device: int = -1,
        cpu_threads: int = 0,
        force_factors: Sequence[int] = (),
        force_kernel: Optional[str] = None,
        partial: bool = False,
        freq_mask=None,
    ):
        """Creates a plan (runs the planner, builds tables).

        Args:
            fft_size: N, a power of two from 256 to 4194304.
            dtype, backend, device, cpu_threads: as in ``ffc_plan_desc_t``.
            force_factors: a Monarch factorisation to force, outermost first
                (empty: the planner decides). Several CUDA candidates can share
                one; the cheapest of them runs.
            force_kernel: one candidate to force, by the name :meth:`describe`
                prints in its candidate table's kernel column (None: the planner
                decides). CUDA backend only: the CPU backend has no kernel
                variants and refuses any name with ``ERROR_NO_KERNEL``.
            partial: set ``FFC_PLAN_PARTIAL`` (library 0.3): the plan computes
                the causal *linear* convolution
                ``z[t] = sum_{s<K} k[s] v[t-s]`` (v zero before t = 0) for any
                seq_len L, L > N included. When L + K - 1 <= N the call is the
                plain plan's; otherwise the library runs overlap-save windows
                of N that overlap by K - 1 rounded up to a multiple of 8, which needs
                K <= N/2 (else ``ERROR_INVALID_SHAPE``). Forward, backward and
                the precomputed-spectrum path all work; y may not be u
                (``ERROR_INVALID_ARGUMENT``).
            freq_mask: a frequency-sparse plan (library 0.4): a 1-D array-like
                of G integers or bools (see :func:`as_freq_mask`; None: the
                dense convolution). Spectrum bin f of the filter (0 <= f < N)
                is kept when ``freq_mask[f % G]`` is nonzero and zeroed
                otherwise, so every call (forward, backward, spectrum) computes
                ``z = IFFT_N(FFT_N(v) * FFT_N(k) * m)[:L]``; backward is that
                function's exact gradient. G must be a power of two from 1 to N
                and the mask symmetric (``mask[j] != 0`` exactly when
                ``mask[(G - j) % G] != 0``), else ``ERROR_INVALID_ARGUMENT``;
                not combinable with ``partial`` (``ERROR_NOT_SUPPORTED``).
                :func:`freq_block_mask` makes a block mask. The plan keeps a
                copy (:attr:`freq_mask`).
        """
        self._handle = None  # set first so __del__ is safe if creation fails
        self._partial = bool(partial)
        mask = as_freq_mask(freq_mask)
        desc = PlanDescC.init()
        desc.fft_size = int(fft_size)
        desc.flags = _lib.PLAN_PARTIAL if self._partial else _lib.PLAN_DEFAULT
        desc.dtype = as_dtype(dtype)
        desc.backend = _lib.as_backend(backend)
        desc.device = int(device)
        desc.cpu_threads = int(cpu_threads)
        if len(force_factors) > _lib.MAX_FACTORS:
            raise FlashFFTConvError(Status.ERROR_INVALID_FLAGS, f"at most {_lib.MAX_FACTORS} forced factors")
        for i, f in enumerate(force_factors):
            desc.force_factors[i] = int(f)
        if force_kernel is not None:
            if not isinstance(force_kernel, str):
                raise TypeError(f"force_kernel must be a str or None, not {type(force_kernel).__name__}")
            if "\0" in force_kernel:
                raise FlashFFTConvError(Status.ERROR_INVALID_FLAGS, "force_kernel contains a NUL character")
            # Length and content are the library's to judge (it reads at most
            # MAX_KERNEL_NAME bytes); the structure keeps the bytes alive.
            desc.force_kernel = force_kernel.encode("utf-8")
        if mask is not None:
            # `mask` stays referenced (alive) until ffc_plan_create, the only reader, returns.
            desc.freq_mask = mask.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
            desc.freq_mask_len = mask.size
            mask.flags.writeable = False
        L = _lib.lib()
        handle = ctypes.c_void_p()
        check(L.ffc_plan_create(ctypes.byref(handle), ctypes.byref(desc)))
        self._L = L  # keep the library alive for __del__ at interpreter shutdown
        self._handle = handle
        self._freq_mask = mask
        self._info = self._query_info()

    # -- queries ------------------------------------------------------------------

    def _query_info(self) -> PlanInfo:
        c = PlanInfoC.init()
        check(self._L.ffc_plan_get_info(self._h(), ctypes.byref(c)))
        return PlanInfo(
            fft_size=int(c.fft_size),
            dtype=DType(c.dtype),
            backend=Backend(c.backend),
            device=int(c.device),
            factors=tuple(int(c.factors[i]) for i in range(min(c.num_factors, _lib.MAX_FACTORS))),
            fused=bool(c.fused),
            predicted_us_per_sequence=float(c.predicted_us_per_sequence),
            kernel_name=c.kernel_name.decode("utf-8", errors="replace"),
        )

    def info(self) -> PlanInfo:
        """What the plan resolved to (backend, factorisation, kernel...)."""
        return self._info

    @property
    def fft_size(self) -> int:
        return self._info.fft_size

    @property
    def dtype(self) -> DType:
        return self._info.dtype

    @property
    def backend(self) -> Backend:
        return self._info.backend

    @property
    def partial(self) -> bool:
        """Whether the plan was created with ``FFC_PLAN_PARTIAL`` (causal linear
        convolution of any seq_len)."""
        return self._partial

    @property
    def freq_mask(self) -> Optional[np.ndarray]:
        """The frequency mask the plan was created with, as 0/1 uint8 (read-only),
        or None for a dense plan."""
        return self._freq_mask

    @property
    def flags(self) -> int:
        """The ``ffc_plan_desc_t.flags`` the plan was created with."""
        return _lib.PLAN_PARTIAL if self._partial else _lib.PLAN_DEFAULT

    def describe(self) -> str:
        """The planner's decision in words (every candidate it considered)."""
        need = ctypes.c_size_t(0)
        st = self._L.ffc_plan_describe(self._h(), None, 0, ctypes.byref(need))
        if st != Status.ERROR_BUFFER_TOO_SMALL:  # a size query answers BUFFER_TOO_SMALL by design
            check(st)
        buf = ctypes.create_string_buffer(need.value)
        check(self._L.ffc_plan_describe(self._h(), buf, need.value, ctypes.byref(need)))
        return buf.value.decode("utf-8", errors="replace")

    def workspace_size(self, shape: Shape) -> int:
        """Bytes of workspace forward() and backward() need for ``shape``."""
        n = ctypes.c_size_t(0)
        check(self._L.ffc_plan_get_workspace_size(self._h(), ctypes.byref(shape._c()), ctypes.byref(n)))
        return n.value

    def spectrum_size(self, shape: Shape) -> int:
        """Bytes of a precomputed filter spectrum for ``shape`` (depends on H)."""
        n = ctypes.c_size_t(0)
        check(self._L.ffc_kernel_spectrum_get_size(self._h(), ctypes.byref(shape._c()), ctypes.byref(n)))
        return n.value

    # -- execution on raw pointers ------------------------------------------------

    def forward_ptr(self, shape: Shape, u, k, in_gate, out_gate, y, workspace, workspace_size, stream=None):
        """ffc_conv_forward on integer addresses (host for CPU plans, device for CUDA)."""
        check(self._L.ffc_conv_forward(
            self._h(), ctypes.byref(shape._c()), _ptr(u), _ptr(k), _ptr(in_gate), _ptr(out_gate), _ptr(y),
            _ptr(workspace), int(workspace_size), _ptr(stream)))

    def backward_ptr(self, shape: Shape, dy, u, k, in_gate, out_gate, du, dk, d_in_gate, d_out_gate,
                     workspace, workspace_size, stream=None):
        """ffc_conv_backward on integer addresses; any gradient address may be None."""
        check(self._L.ffc_conv_backward(
            self._h(), ctypes.byref(shape._c()), _ptr(dy), _ptr(u), _ptr(k), _ptr(in_gate), _ptr(out_gate),
            _ptr(du), _ptr(dk), _ptr(d_in_gate), _ptr(d_out_gate), _ptr(workspace), int(workspace_size),
            _ptr(stream)))

    def compute_spectrum_ptr(self, shape: Shape, k, spectrum, spectrum_size, stream=None):
        """ffc_kernel_spectrum_compute on integer addresses."""
        check(self._L.ffc_kernel_spectrum_compute(
            self._h(), ctypes.byref(shape._c()), _ptr(k), _ptr(spectrum), int(spectrum_size), _ptr(stream)))

    def forward_spectrum_ptr(self, shape: Shape, u, spectrum, spectrum_size, in_gate, out_gate, y,
                             workspace, workspace_size, stream=None):
        """ffc_conv_forward_spectrum on integer addresses."""
        check(self._L.ffc_conv_forward_spectrum(
            self._h(), ctypes.byref(shape._c()), _ptr(u), _ptr(spectrum), int(spectrum_size), _ptr(in_gate),
            _ptr(out_gate), _ptr(y), _ptr(workspace), int(workspace_size), _ptr(stream)))

    def backward_spectrum_ptr(self, shape: Shape, dy, u, spectrum, spectrum_size, in_gate, out_gate, du, dk,
                              d_in_gate, d_out_gate, workspace, workspace_size, stream=None):
        """ffc_conv_backward_spectrum on integer addresses (library 0.5): backward_ptr
        with k replaced by a spectrum from compute_spectrum_ptr; any gradient address
        may be None. dk is still computed (shape.kernel_len long); the results are
        bitwise those of backward_ptr with the k the spectrum came from."""
        check(self._L.ffc_conv_backward_spectrum(
            self._h(), ctypes.byref(shape._c()), _ptr(dy), _ptr(u), _ptr(spectrum), int(spectrum_size),
            _ptr(in_gate), _ptr(out_gate), _ptr(du), _ptr(dk), _ptr(d_in_gate), _ptr(d_out_gate), _ptr(workspace),
            int(workspace_size), _ptr(stream)))

    def __repr__(self) -> str:
        i = self._info
        state = "closed" if self._handle is None else f"factors={list(i.factors)}"
        mode = ", partial=True" if self._partial else ""
        if self._freq_mask is not None:
            m = self._freq_mask
            mode += f", freq_mask=<{int(np.count_nonzero(m))} of {m.size} kept>"
        return (f"Plan(fft_size={i.fft_size}, dtype={i.dtype.name}, backend={i.backend.name}, device={i.device}"
                f"{mode}, {state})")


# -- the plan cache ----------------------------------------------------------------
#
# Creating a plan runs the planner and builds DFT tables, which costs far more than
# a small convolution; models call the same few sizes over and over. Plans are
# immutable and thread-safe, so one per (fft_size, dtype, backend, device, partial)
# is shared, and for a frequency-sparse plan one per mask too: its key has the
# mask's 0/1 bytes as a sixth element (dense plans keep the five-element key).

_PlanKey = Union[Tuple[int, DType, Backend, int, bool], Tuple[int, DType, Backend, int, bool, bytes]]
_cache: Dict[_PlanKey, Plan] = {}
_cache_lock = threading.Lock()


def get_plan(fft_size: int, dtype, backend, device: int = -1, partial: bool = False, freq_mask=None) -> Plan:
    """The cached plan for (fft_size, dtype, backend, device, partial) and, when
    given, ``freq_mask``, created on first use; ``partial`` selects an
    ``FFC_PLAN_PARTIAL`` plan and ``freq_mask`` a frequency-sparse one (see
    :class:`Plan`). Masks with the same zero / nonzero pattern share a plan."""
    key = (int(fft_size), as_dtype(dtype), _lib.as_backend(backend), int(device), bool(partial))
    mask = as_freq_mask(freq_mask)
    if mask is not None:
        key += (mask.tobytes(),)
    plan = _cache.get(key)
    if plan is not None:
        return plan
    with _cache_lock:
        plan = _cache.get(key)
        if plan is None:
            plan = Plan(key[0], key[1], key[2], key[3], partial=key[4], freq_mask=mask)
            _cache[key] = plan
        return plan


def clear_plan_cache() -> None:
    """Drops every cached plan, FFT and short-convolution plans alike (they are
    destroyed once no caller still holds one)."""
    with _cache_lock:
        _cache.clear()
        _conv1d_cache.clear()


def cached_plans() -> Dict[_PlanKey, Plan]:
    """A snapshot of the cache, for inspection, keyed by
    (fft_size, dtype, backend, device, partial), with the mask's 0/1 bytes
    appended for a frequency-sparse plan."""
    with _cache_lock:
        return dict(_cache)


# -- short depthwise convolution ---------------------------------------------------------


@dataclass(frozen=True)
class Conv1dShape:
    """Shape of one short-convolution call: x and dx hold (batch, channels, seq_len)
    elements (in the plan's layout), y and dy (batch, channels, L_out)."""

    batch: int
    channels: int
    seq_len: int

    def _c(self) -> Conv1dShapeC:
        return Conv1dShapeC(self.batch, self.channels, self.seq_len)


def resolve_padding(padding, kernel_size: int) -> Tuple[int, int]:
    """(padding_left, padding_right) for a padding given as PyTorch's Conv1d takes it,
    or as the two sides.

    - an int p: p zeros on both sides (PyTorch's ``padding=p``);
    - ``"valid"``: none (0, 0);
    - ``"same"``: L_out = L, with PyTorch's split for even K: ((K-1)//2, K-1-(K-1)//2);
    - ``"causal"``: (K-1, 0), so that y[t] depends on x[t-K+1 .. t];
    - a pair (left, right).

    The values are not range-checked here: the library refuses a side outside
    [0, K-1] with ERROR_INVALID_ARGUMENT when the plan is created.
    """
    k = int(kernel_size)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return (k - 1) // 2, (k - 1) - (k - 1) // 2
        if mode == "causal":
            return k - 1, 0
        raise FlashFFTConvError(
            Status.ERROR_INVALID_ARGUMENT,
            f"unknown padding {padding!r}: an int, \"valid\", \"same\", \"causal\" or (left, right)",
        )
    if isinstance(padding, bool):
        raise TypeError("padding must be an int, a str or a (left, right) pair, not a bool")
    if isinstance(padding, int):
        return int(padding), int(padding)
    try:
        left, right = padding
    except (TypeError, ValueError):
        raise TypeError(f"padding must be an int, a str or a (left, right) pair, not {padding!r}") from None
    return int(left), int(right)


def resolve_backend(backend) -> Backend:
    """AUTO resolved the way the library resolves it (CUDA if it can run here, else
    CPU), before a plan exists: the plan cache's key. A plan itself reports what it
    resolved to (``ffc_conv1d_plan_get_desc``)."""
    b = _lib.as_backend(backend)
    if b == Backend.AUTO:
        return Backend.CUDA if _lib.backend_available(Backend.CUDA) else Backend.CPU
    return b


class Conv1dPlan(_OwnedPlan):
    """An owned short depthwise convolution plan (``ffc_conv1d_plan_t``): PyTorch's
    ``nn.Conv1d(H, H, K, groups=H)`` with fp32 weights (H, K) and bias (H), on
    activations of the plan's dtype and layout.

    Immutable and thread-safe like :class:`Plan`; ``close()``, a ``with`` block or
    garbage collection destroys it. Execute methods take integer addresses (host
    memory for a CPU plan, device memory for a CUDA plan);
    :func:`flashfftconv.depthwise_conv1d` is the array-level API.
    """

    _DESTROY = "ffc_conv1d_plan_destroy"

    def __init__(
        self,
        kernel_size: int,
        padding="causal",
        dtype="float16",
        layout="bhl",
        backend="auto",
        device: int = -1,
        cpu_threads: int = 0,
    ):
        """Creates a plan.

        Args:
            kernel_size: K, 1 to 128 taps.
            padding: see :func:`resolve_padding`; default causal (K-1, 0), as
                ``FFC_CONV1D_DESC_INIT``.
            dtype: of x, y, dy and dx (float32, float16, bfloat16).
            layout: "bhl" (B, H, L) or "blh" (B, L, H), or a :class:`Layout`.
            backend: "auto" (CUDA when available, else CPU), "cpu"
                or "cuda".
            device, cpu_threads: as in ``ffc_conv1d_desc_t``.
        """
        self._handle = None  # first, so that __del__ is safe if creation fails
        left, right = resolve_padding(padding, kernel_size)
        desc = Conv1dDescC.init()
        desc.dtype = as_dtype(dtype)
        desc.backend = resolve_backend(backend)
        desc.device = int(device)
        desc.layout = int(_lib.as_layout(layout))
        desc.kernel_size = int(kernel_size)
        desc.padding_left = left
        desc.padding_right = right
        desc.cpu_threads = int(cpu_threads)
        L = _lib.lib()
        handle = ctypes.c_void_p()
        check(L.ffc_conv1d_plan_create(ctypes.byref(handle), ctypes.byref(desc)))
        self._L = L
        self._handle = handle
        self.kernel_size = int(kernel_size)
        self.padding = (left, right)
        resolved = Conv1dDescC.init()
        check(L.ffc_conv1d_plan_get_desc(handle, ctypes.byref(resolved)))
        self.dtype = DType(resolved.dtype)
        self.layout = Layout(resolved.layout)
        self.backend = Backend(resolved.backend)  # never AUTO
        self.device = int(resolved.device)  # the CUDA ordinal, -1 on the CPU

    # -- queries ------------------------------------------------------------------

    def output_length(self, seq_len: int) -> int:
        """L_out = L + padding_left + padding_right - K + 1 (the library checks L >= 1, L_out >= 1)."""
        n = ctypes.c_int64(0)
        check(self._L.ffc_conv1d_output_length(self._h(), int(seq_len), ctypes.byref(n)))
        return int(n.value)

    def workspace_size(self, shape: Conv1dShape) -> int:
        """Bytes of workspace forward_ptr() and backward_ptr() need for ``shape`` (may be 0)."""
        n = ctypes.c_size_t(0)
        check(self._L.ffc_conv1d_get_workspace_size(self._h(), ctypes.byref(shape._c()), ctypes.byref(n)))
        return n.value

    # -- execution on raw pointers ------------------------------------------------

    def forward_ptr(self, shape: Conv1dShape, x, weight, bias, y, workspace=None, workspace_size=0, stream=None):
        """ffc_conv1d_forward on integer addresses; bias may be None."""
        check(self._L.ffc_conv1d_forward(
            self._h(), ctypes.byref(shape._c()), _ptr(x), _ptr(weight), _ptr(bias), _ptr(y), _ptr(workspace),
            int(workspace_size), _ptr(stream)))

    def backward_ptr(self, shape: Conv1dShape, dy, x, weight, dx, dweight, dbias, workspace=None,
                     workspace_size=0, stream=None):
        """ffc_conv1d_backward on integer addresses; any gradient address may be None
        (x may be None without dweight, weight without dx)."""
        check(self._L.ffc_conv1d_backward(
            self._h(), ctypes.byref(shape._c()), _ptr(dy), _ptr(x), _ptr(weight), _ptr(dx), _ptr(dweight),
            _ptr(dbias), _ptr(workspace), int(workspace_size), _ptr(stream)))

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"device={self.device}"
        return (f"Conv1dPlan(kernel_size={self.kernel_size}, padding={self.padding}, dtype={self.dtype.name}, "
                f"layout={self.layout.name}, backend={self.backend.name}, {state})")


_Conv1dKey = Tuple[int, int, int, DType, Layout, Backend, int]
_conv1d_cache: Dict[_Conv1dKey, Conv1dPlan] = {}


def get_conv1d_plan(kernel_size: int, padding, dtype, layout, backend, device: int = -1) -> Conv1dPlan:
    """The cached short-convolution plan for (K, padding, dtype, layout, backend,
    device), created on first use."""
    left, right = resolve_padding(padding, kernel_size)
    lay = _lib.as_layout(layout)
    if not isinstance(lay, Layout):
        # Not cached: let the library refuse it.
        return Conv1dPlan(kernel_size, (left, right), dtype, lay, backend, device)
    key = (int(kernel_size), left, right, as_dtype(dtype), lay, resolve_backend(backend), int(device))
    plan = _conv1d_cache.get(key)
    if plan is not None:
        return plan
    with _cache_lock:
        plan = _conv1d_cache.get(key)
        if plan is None:
            plan = Conv1dPlan(key[0], (left, right), key[3], key[4], key[5], key[6])
            _conv1d_cache[key] = plan
        return plan


def cached_conv1d_plans() -> Dict[_Conv1dKey, Conv1dPlan]:
    """A snapshot of the short-convolution plan cache, keyed by
    (kernel_size, padding_left, padding_right, dtype, layout, backend, device)."""
    with _cache_lock:
        return dict(_conv1d_cache)
