"""Loading libflashfftconv.so with ctypes, the C structs, and error mapping.

This module mirrors include/flashfftconv/flashfftconv.h. Nothing here knows about
arrays; it only moves integers and pointers across the C ABI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import glob
import json
import os
import threading
from typing import Optional

# The ABI this package was written against. The major version must match; so must
# the minor while the major is 0, because 0.x releases are only compatible within
# one minor version (the library's SONAME is MAJOR.MINOR until 1.0). From 1.0 on,
# a newer minor is accepted (minor releases only add).
EXPECTED_MAJOR = 0
EXPECTED_MINOR = 5


def version_compatible(number: int) -> bool:
    """Whether a library of version ``number`` (MAJOR*10000 + MINOR*100 + PATCH) fits these bindings."""
    major, minor = number // 10000, number // 100 % 100
    if major != EXPECTED_MAJOR:
        return False
    return minor == EXPECTED_MINOR if major == 0 else minor >= EXPECTED_MINOR

MIN_FFT_SIZE = 256
MAX_FFT_SIZE = 4194304
MAX_FACTORS = 8

MAX_KERNEL_NAME = 128  # bytes the library reads of force_kernel, NUL included

# Plan flags (ffc_plan_desc_t.flags, bitwise OR); unknown bits are FFC_ERROR_INVALID_FLAGS.
PLAN_DEFAULT = 0
PLAN_PARTIAL = 1  # FFC_PLAN_PARTIAL (0.3): causal linear convolution of any seq_len (overlap-save windows of N)

PLAN_DESC_MAGIC = 0x46464344  # "FFCD"
# 2 added force_kernel (in reserved[0]'s slot), 3 added freq_mask and freq_mask_len
# (in version 2's reserved[0] and reserved[1] slots); the size never changed.
PLAN_DESC_VERSION = 3
MAX_FREQ_MASK_LEN = MAX_FFT_SIZE  # longest freq_mask: one entry per bin of the largest N
PLAN_INFO_MAGIC = 0x46464349  # "FFCI"
PLAN_INFO_VERSION = 1

CONV1D_DESC_MAGIC = 0x46464331  # "FFC1"
CONV1D_DESC_VERSION = 1
CONV1D_MAX_KERNEL_SIZE = 128  # longest filter of a short depthwise convolution


class Status(enum.IntEnum):
    """ffc_status_t."""

    SUCCESS = 0
    ERROR_INVALID_ARGUMENT = 1000
    ERROR_NULL_POINTER = 1001
    ERROR_INVALID_FFT_SIZE = 1002
    ERROR_INVALID_SHAPE = 1003
    ERROR_INVALID_DTYPE = 1004
    ERROR_INVALID_DESCRIPTOR = 1005
    ERROR_WORKSPACE_TOO_SMALL = 1006
    ERROR_BUFFER_TOO_SMALL = 1007
    ERROR_INVALID_BACKEND = 1008
    ERROR_INVALID_DEVICE = 1009
    ERROR_INVALID_FLAGS = 1010
    ERROR_MISALIGNED_POINTER = 1011
    ERROR_INVALID_POINTER = 1012
    ERROR_NOT_SUPPORTED = 2000
    ERROR_BACKEND_UNAVAILABLE = 2001
    ERROR_NO_KERNEL = 2002
    ERROR_CUDA = 3000
    ERROR_OUT_OF_MEMORY = 3001
    ERROR_INTERNAL = 4000


class DType(enum.IntEnum):
    """ffc_dtype_t: element type of u, the gates, y and their gradients."""

    FP32 = 0
    FP16 = 1
    BF16 = 2

    @property
    def itemsize(self) -> int:
        return 4 if self is DType.FP32 else 2


class Backend(enum.IntEnum):
    """ffc_backend_t."""

    AUTO = 0
    CPU = 1
    CUDA = 2


class Layout(enum.IntEnum):
    """ffc_layout_t: memory layout of the (batch, channels, length) tensors of a
    short depthwise convolution."""

    BHL = 0  # (B, H, L): PyTorch's Conv1d layout
    BLH = 1  # (B, L, H): channels innermost


class FlashFFTConvError(RuntimeError):
    """A failure reported by libflashfftconv (or an argument the bindings reject
    for the same reason the library would).

    Attributes:
        status: the :class:`Status` (an int for codes this package does not know).
        message: the library's detail message for the failed call.
    """

    def __init__(self, status, message: str):
        try:
            status = Status(int(status))
        except ValueError:
            status = int(status)
        self.status = status
        self.message = message
        name = status.name if isinstance(status, Status) else "UNKNOWN"
        super().__init__(f"{message} [FFC_{name} ({int(status)})]")


class LibraryNotFoundError(OSError):
    """libflashfftconv could not be located or loaded."""


class PlanDescC(ctypes.Structure):
    """ffc_plan_desc_t; field order and types follow the header exactly (LP64: 128 bytes).

    Assigning bytes to ``force_kernel`` keeps a reference to them in the
    structure, so the pointer stays valid as long as the structure lives.
    ``freq_mask`` is a plain pointer: whoever sets it keeps the bytes alive
    until ffc_plan_create returns (the library reads them only then).
    """

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("magic", ctypes.c_uint32),
        ("version", ctypes.c_uint32),
        ("fft_size", ctypes.c_uint64),
        ("dtype", ctypes.c_int32),
        ("backend", ctypes.c_int32),
        ("device", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
        ("force_factors", ctypes.c_uint32 * MAX_FACTORS),
        ("cpu_threads", ctypes.c_int32),
        ("reserved0", ctypes.c_uint32),
        ("force_kernel", ctypes.c_char_p),
        ("freq_mask", ctypes.POINTER(ctypes.c_uint8)),  # version 3 (version 2's reserved[0] slot)
        ("freq_mask_len", ctypes.c_uint32),  # G; version 3 (version 2's reserved[1] slot)
        ("reserved1", ctypes.c_uint32),
        ("reserved", ctypes.c_uint64 * 3),
    ]

    @classmethod
    def init(cls) -> "PlanDescC":
        """The equivalent of FFC_PLAN_DESC_INIT (fp16, automatic backend, current device)."""
        d = cls()
        d.struct_size = ctypes.sizeof(cls)
        d.magic = PLAN_DESC_MAGIC
        d.version = PLAN_DESC_VERSION
        d.dtype = DType.FP16
        d.backend = Backend.AUTO
        d.device = -1
        return d


class PlanInfoC(ctypes.Structure):
    """ffc_plan_info_t."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("magic", ctypes.c_uint32),
        ("version", ctypes.c_uint32),
        ("fft_size", ctypes.c_uint64),
        ("dtype", ctypes.c_int32),
        ("backend", ctypes.c_int32),
        ("device", ctypes.c_int32),
        ("num_factors", ctypes.c_int32),
        ("factors", ctypes.c_uint32 * MAX_FACTORS),
        ("fused", ctypes.c_int32),
        ("reserved0", ctypes.c_uint32),
        ("predicted_us_per_sequence", ctypes.c_double),
        ("kernel_name", ctypes.c_char * 64),
    ]

    @classmethod
    def init(cls) -> "PlanInfoC":
        i = cls()
        i.struct_size = ctypes.sizeof(cls)
        i.magic = PLAN_INFO_MAGIC
        i.version = PLAN_INFO_VERSION
        return i


class ShapeC(ctypes.Structure):
    """ffc_shape_t."""

    _fields_ = [
        ("batch", ctypes.c_int64),
        ("channels", ctypes.c_int64),
        ("seq_len", ctypes.c_int64),
        ("kernel_len", ctypes.c_int64),
    ]


class Conv1dDescC(ctypes.Structure):
    """ffc_conv1d_desc_t; field order and types follow the header exactly (LP64: 96 bytes)."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("magic", ctypes.c_uint32),
        ("version", ctypes.c_uint32),
        ("dtype", ctypes.c_int32),
        ("backend", ctypes.c_int32),
        ("device", ctypes.c_int32),
        ("layout", ctypes.c_int32),
        ("kernel_size", ctypes.c_int32),
        ("padding_left", ctypes.c_int32),
        ("padding_right", ctypes.c_int32),
        ("cpu_threads", ctypes.c_int32),
        ("reserved", ctypes.c_uint64 * 6),
    ]

    @classmethod
    def init(cls) -> "Conv1dDescC":
        """The equivalent of FFC_CONV1D_DESC_INIT (fp16, (B, H, L), automatic backend, K = 3, causal)."""
        d = cls()
        d.struct_size = ctypes.sizeof(cls)
        d.magic = CONV1D_DESC_MAGIC
        d.version = CONV1D_DESC_VERSION
        d.dtype = DType.FP16
        d.backend = Backend.AUTO
        d.device = -1
        d.layout = Layout.BHL
        d.kernel_size = 3
        d.padding_left = 2
        d.padding_right = 0
        return d


class Conv1dShapeC(ctypes.Structure):
    """ffc_conv1d_shape_t."""

    _fields_ = [
        ("batch", ctypes.c_int64),
        ("channels", ctypes.c_int64),
        ("seq_len", ctypes.c_int64),
    ]


# The ABI is defined for LP64 targets; the library rejects any other struct_size.
assert ctypes.sizeof(PlanDescC) == 128, ctypes.sizeof(PlanDescC)
assert ctypes.sizeof(Conv1dDescC) == 96, ctypes.sizeof(Conv1dDescC)

_status = ctypes.c_int  # enums are int-sized in C
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
_plan = ctypes.c_void_p
_shape_p = ctypes.POINTER(ShapeC)
_c1shape_p = ctypes.POINTER(Conv1dShapeC)

# name -> (restype, argtypes). Declaring every prototype keeps ctypes from
# truncating 64-bit pointers to int.
_PROTOTYPES = {
    "ffc_status_string": (ctypes.c_char_p, [_status]),
    "ffc_last_error_message": (_sz, [ctypes.c_char_p, _sz]),
    "ffc_version_number": (ctypes.c_uint, []),
    "ffc_version_string": (ctypes.c_char_p, []),
    "ffc_build_info": (ctypes.c_char_p, []),
    "ffc_backend_available": (ctypes.c_int, [ctypes.c_int]),
    "ffc_plan_create": (_status, [ctypes.POINTER(_plan), ctypes.POINTER(PlanDescC)]),
    "ffc_plan_destroy": (None, [_plan]),
    "ffc_plan_get_workspace_size": (_status, [_plan, _shape_p, ctypes.POINTER(_sz)]),
    "ffc_plan_describe": (_status, [_plan, ctypes.c_char_p, _sz, ctypes.POINTER(_sz)]),
    "ffc_plan_get_info": (_status, [_plan, ctypes.POINTER(PlanInfoC)]),
    "ffc_conv_forward": (_status, [_plan, _shape_p, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp]),
    "ffc_conv_backward": (
        _status,
        [_plan, _shape_p, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp],
    ),
    "ffc_kernel_spectrum_get_size": (_status, [_plan, _shape_p, ctypes.POINTER(_sz)]),
    "ffc_kernel_spectrum_compute": (_status, [_plan, _shape_p, _vp, _vp, _sz, _vp]),
    "ffc_conv_forward_spectrum": (_status, [_plan, _shape_p, _vp, _vp, _sz, _vp, _vp, _vp, _vp, _sz, _vp]),
    "ffc_conv_backward_spectrum": (  # 0.5
        _status,
        [_plan, _shape_p, _vp, _vp, _vp, _sz, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp],
    ),
    # Short depthwise convolution (0.2).
    "ffc_conv1d_plan_create": (_status, [ctypes.POINTER(_plan), ctypes.POINTER(Conv1dDescC)]),
    "ffc_conv1d_plan_destroy": (None, [_plan]),
    "ffc_conv1d_plan_get_desc": (_status, [_plan, ctypes.POINTER(Conv1dDescC)]),
    "ffc_conv1d_output_length": (_status, [_plan, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64)]),
    "ffc_conv1d_get_workspace_size": (_status, [_plan, _c1shape_p, ctypes.POINTER(_sz)]),
    "ffc_conv1d_forward": (_status, [_plan, _c1shape_p, _vp, _vp, _vp, _vp, _vp, _sz, _vp]),
    "ffc_conv1d_backward": (_status, [_plan, _c1shape_p, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _sz, _vp]),
}

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None


def _candidates():
    """Where to look, in order: $FLASHFFTCONV_LIBRARY, this package's folder, the system loader."""
    env = os.environ.get("FLASHFFTCONV_LIBRARY")
    if env:
        if os.path.isdir(env):
            yield from sorted(glob.glob(os.path.join(env, "libflashfftconv.so*")))
        else:
            yield env
        # An explicit setting that fails must not silently fall back to another copy.
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for pattern in ("libflashfftconv.so", "libflashfftconv.so.*", "libflashfftconv.dylib", "flashfftconv.dll"):
        yield from sorted(glob.glob(os.path.join(here, pattern)))
    yield "libflashfftconv.so"  # dlopen's own search: LD_LIBRARY_PATH, rpath, ld.so.cache
    found = ctypes.util.find_library("flashfftconv")
    if found:
        yield found


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _check_version(lib: ctypes.CDLL, path: str) -> None:
    number = int(lib.ffc_version_number())
    if not version_compatible(number):
        have = lib.ffc_version_string().decode()
        want = f"{EXPECTED_MAJOR}.{EXPECTED_MINOR}.x" if EXPECTED_MAJOR == 0 else f"{EXPECTED_MAJOR}.x (x >= {EXPECTED_MINOR})"
        raise LibraryNotFoundError(f"{path} is libflashfftconv {have}, but these bindings need {want}")
    info = json.loads(lib.ffc_build_info().decode())
    if int(info.get("version_number", -1)) != number:
        raise LibraryNotFoundError(
            f"{path}: ffc_build_info() reports version_number {info.get('version_number')} "
            f"but ffc_version_number() returns {number}; the library is inconsistent"
        )


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads (once) and returns libflashfftconv.

    Args:
        path: an explicit file to load; when omitted the search order is
            $FLASHFFTCONV_LIBRARY, the package folder, then the system loader.

    Raises:
        LibraryNotFoundError: nothing loadable was found, or its version is incompatible.
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None and path is None:
            return _lib
        tried = []
        for cand in [path] if path else _candidates():
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                tried.append(f"{cand}: {e}")
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                tried.append(f"{cand}: not libflashfftconv ({e})")
                continue
            _check_version(lib, cand)
            _lib, _lib_path = lib, cand
            return lib
        raise LibraryNotFoundError(
            "could not load libflashfftconv; set FLASHFFTCONV_LIBRARY to the .so file. Tried:\n  "
            + "\n  ".join(tried)
        )


def lib() -> ctypes.CDLL:
    """The loaded library, loading it on first use."""
    return _lib if _lib is not None else load_library()


def library_path() -> Optional[str]:
    """The path the library was loaded from (None before the first load)."""
    return _lib_path


def last_error_message() -> str:
    """The calling thread's last error message (must be read right after the failure)."""
    L = lib()
    n = L.ffc_last_error_message(None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    L.ffc_last_error_message(buf, n + 1)
    return buf.value.decode("utf-8", errors="replace")


def check(status: int) -> None:
    """Raises FlashFFTConvError for a non-success status, with the library's message.

    ctypes releases the GIL during a foreign call but the call and this check run
    on the same OS thread, and the message is thread-local in the library, so
    another Python thread cannot overwrite it in between.
    """
    if status != Status.SUCCESS:
        raise FlashFFTConvError(status, last_error_message())


def status_string(status: int) -> str:
    """ffc_status_string(): the fixed description of a status code."""
    return lib().ffc_status_string(int(status)).decode()


def version() -> str:
    """Version of the loaded library, "MAJOR.MINOR.PATCH"."""
    return lib().ffc_version_string().decode()


def version_number() -> int:
    """Version of the loaded library as MAJOR*10000 + MINOR*100 + PATCH."""
    return int(lib().ffc_version_number())


def build_info() -> dict:
    """ffc_build_info() parsed: version, CUDA on/off, compiled SM list, kernel count."""
    info = json.loads(lib().ffc_build_info().decode())
    info["library_path"] = _lib_path
    return info


def backend_available(backend) -> bool:
    """Whether a backend ("cpu", "cuda", "auto" or a Backend) can run in this process."""
    return bool(lib().ffc_backend_available(int(as_backend(backend))))


def as_layout(layout):
    """Accepts a Layout, a name ("bhl", "blh", case-insensitive) or an int. An int
    that names no layout is passed through unchanged, for the library to judge."""
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str):
        try:
            return Layout[layout.upper()]
        except KeyError:
            raise FlashFFTConvError(
                Status.ERROR_INVALID_ARGUMENT, f"unknown layout {layout!r} (\"bhl\" or \"blh\")"
            ) from None
    if isinstance(layout, int) and not isinstance(layout, bool):
        try:
            return Layout(layout)
        except ValueError:
            return int(layout)
    raise TypeError(f"layout must be a Layout, a str or an int, not {type(layout).__name__}")


def as_backend(b) -> Backend:
    if isinstance(b, Backend):
        return b
    if isinstance(b, str):
        try:
            return Backend[b.upper()]
        except KeyError:
            raise FlashFFTConvError(Status.ERROR_INVALID_BACKEND, f"unknown backend {b!r}") from None
    return Backend(int(b))
