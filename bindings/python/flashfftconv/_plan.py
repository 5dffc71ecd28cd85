"""Plan: an owned ffc_plan_t, plus the process-wide plan cache.

Execute methods take raw integer pointers; the array handling lives in
_arrays.py and functional.py, so that this class stays a thin mirror of the C API
(and of the Rust and Julia Plan types).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from . import _lib
from ._lib import Backend, DType, FlashFFTConvError, PlanDescC, PlanInfoC, ShapeC, Status, check


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


def _ptr(p) -> Optional[int]:
    # None stays NULL; 0 as well. ctypes c_void_p converts ints directly.
    return p if p else None


class Plan:
    """An owned libflashfftconv plan.

    A plan is immutable after creation and may be used from many threads at once
    (each call with its own workspace and outputs). ``close()`` (or leaving a
    ``with`` block, or garbage collection) destroys it; it must not race with
    other uses.
    """

    def __init__(
        self,
        fft_size: int,
        dtype="float16",
        backend="auto",
        device: int = -1,
        cpu_threads: int = 0,
        force_factors: Sequence[int] = (),
        force_kernel: Optional[str] = None,
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
        """
        self._handle = None  # set first so __del__ is safe if creation fails
        desc = PlanDescC.init()
        desc.fft_size = int(fft_size)
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
        L = _lib.lib()
        handle = ctypes.c_void_p()
        check(L.ffc_plan_create(ctypes.byref(handle), ctypes.byref(desc)))
        self._L = L  # keep the library alive for __del__ at interpreter shutdown
        self._handle = handle
        self._info = self._query_info()

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Destroys the plan now (idempotent)."""
        h, self._handle = self._handle, None
        if h is not None:
            self._L.ffc_plan_destroy(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # never raise from a finalizer
            pass

    def __enter__(self) -> "Plan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _h(self):
        if self._handle is None:
            raise FlashFFTConvError(Status.ERROR_NULL_POINTER, "the plan has been closed")
        return self._handle

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

    def __repr__(self) -> str:
        i = self._info
        state = "closed" if self._handle is None else f"factors={list(i.factors)}"
        return f"Plan(fft_size={i.fft_size}, dtype={i.dtype.name}, backend={i.backend.name}, device={i.device}, {state})"


# -- the plan cache ----------------------------------------------------------------
#
# Creating a plan runs the planner and builds DFT tables, which costs far more than
# a small convolution; models call the same few sizes over and over. Plans are
# immutable and thread-safe, so one per (fft_size, dtype, backend, device) is shared.

_cache: Dict[Tuple[int, DType, Backend, int], Plan] = {}
_cache_lock = threading.Lock()


def get_plan(fft_size: int, dtype, backend, device: int = -1) -> Plan:
    """The cached plan for (fft_size, dtype, backend, device), created on first use."""
    key = (int(fft_size), as_dtype(dtype), _lib.as_backend(backend), int(device))
    plan = _cache.get(key)
    if plan is not None:
        return plan
    with _cache_lock:
        plan = _cache.get(key)
        if plan is None:
            plan = Plan(key[0], key[1], key[2], key[3])
            _cache[key] = plan
        return plan


def clear_plan_cache() -> None:
    """Drops every cached plan (they are destroyed once no caller still holds one)."""
    with _cache_lock:
        _cache.clear()


def cached_plans() -> Dict[Tuple[int, DType, Backend, int], Plan]:
    """A snapshot of the cache, for inspection."""
    with _cache_lock:
        return dict(_cache)
