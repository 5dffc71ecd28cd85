"""Array adapters: one small class per array library the bindings talk to.

Every call is normalised to a single "namespace": NumPy arrays (host memory, CPU
backend), torch tensors (CPU or CUDA), or CuPy arrays (CUDA). Other CUDA arrays
(anything with __cuda_array_interface__ or a CUDA __dlpack__) are viewed zero-copy
as CuPy arrays, or as torch tensors when CuPy is missing, because the bindings need
an allocator on that device for the outputs and the workspace. torch and cupy are
never imported here unless the caller's arrays already come from them (or, for
foreign CUDA arrays, to view them).
"""

from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from ._lib import Backend, DType, FlashFFTConvError, Status

_DLPACK_CPU = 1
_DLPACK_CUDA = 2
_DLPACK_CUDA_MANAGED = 13


def _dtype_from_name(name: str) -> Optional[DType]:
    return {"float32": DType.FP32, "float16": DType.FP16, "bfloat16": DType.BF16}.get(name)


class _Namespace:
    """Interface: how to inspect and allocate arrays of one library."""

    name = "?"

    def contiguous(self, x): ...
    def dtype(self, x) -> Optional[DType]: ...
    def ptr(self, x) -> int: ...
    def shape(self, x) -> tuple: ...
    def device(self, x) -> int: ...          # -1: host memory
    def empty_like(self, x): ...             # same shape, dtype, device; C-contiguous
    def empty(self, shape, like): ...        # like's dtype and device; C-contiguous
    def empty_f32(self, shape, like): ...    # float32 on like's device
    def to_f32(self, x): ...                 # float32, C-contiguous (no copy when already)
    def workspace(self, nbytes: int, like): ...
    def stream(self, device: int) -> Optional[int]: ...  # the library's stream handle for device
    def device_guard(self, device: int): ...


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class NumpyNS(_Namespace):
    name = "numpy"

    def contiguous(self, x):
        return np.ascontiguousarray(x)

    def dtype(self, x):
        return _dtype_from_name(x.dtype.name)  # ml_dtypes.bfloat16 is named "bfloat16"

    def ptr(self, x):
        return x.ctypes.data

    def shape(self, x):
        return tuple(x.shape)

    def device(self, x):
        return -1

    def empty_like(self, x):
        return np.empty(x.shape, dtype=x.dtype)

    def empty(self, shape, like):
        return np.empty(shape, dtype=like.dtype)

    def empty_f32(self, shape, like):
        return np.empty(shape, dtype=np.float32)

    def to_f32(self, x):
        return np.ascontiguousarray(x, dtype=np.float32)

    def workspace(self, nbytes, like):
        return np.empty(max(int(nbytes), 1), dtype=np.uint8)

    def stream(self, device):
        return None

    def device_guard(self, device):
        return _Null()


class TorchNS(_Namespace):
    name = "torch"

    def __init__(self):
        import torch  # only reached when the caller passed torch tensors

        self.torch = torch
        self._dtypes = {torch.float32: DType.FP32, torch.float16: DType.FP16, torch.bfloat16: DType.BF16}

    def contiguous(self, x):
        return x.detach().contiguous()  # the library never participates in autograd directly

    def dtype(self, x):
        return self._dtypes.get(x.dtype)

    def ptr(self, x):
        return x.data_ptr()

    def shape(self, x):
        return tuple(x.shape)

    def device(self, x):
        if x.device.type == "cpu":
            return -1
        if x.device.type == "cuda":
            return x.device.index if x.device.index is not None else self.torch.cuda.current_device()
        raise FlashFFTConvError(
            Status.ERROR_INVALID_POINTER, f"tensors on device type {x.device.type!r} are not supported (cpu or cuda)"
        )

    def empty_like(self, x):
        return self.torch.empty(x.shape, dtype=x.dtype, device=x.device)

    def empty(self, shape, like):
        return self.torch.empty(shape, dtype=like.dtype, device=like.device)

    def empty_f32(self, shape, like):
        return self.torch.empty(shape, dtype=self.torch.float32, device=like.device)

    def to_f32(self, x):
        return x.detach().to(self.torch.float32).contiguous()

    def workspace(self, nbytes, like):
        # The caching allocator hands out blocks aligned far beyond the 256 bytes
        # the CUDA backend needs, and frees them in stream order, so the buffer may
        # be dropped as soon as the (asynchronous) call has been enqueued.
        return self.torch.empty(max(int(nbytes), 1), dtype=self.torch.uint8, device=like.device)

    def stream(self, device):
        if device < 0:
            return None
        return self.torch.cuda.current_stream(device).cuda_stream

    def device_guard(self, device):
        return self.torch.cuda.device(device) if device >= 0 else _Null()


class CupyNS(_Namespace):
    name = "cupy"

    def __init__(self):
        import cupy

        self.cp = cupy

    def contiguous(self, x):
        return self.cp.ascontiguousarray(x)

    def dtype(self, x):
        return _dtype_from_name(x.dtype.name)

    def ptr(self, x):
        return x.data.ptr

    def shape(self, x):
        return tuple(x.shape)

    def device(self, x):
        return x.device.id

    def empty_like(self, x):
        with self.cp.cuda.Device(x.device.id):
            return self.cp.empty(x.shape, dtype=x.dtype)

    def empty(self, shape, like):
        with self.cp.cuda.Device(like.device.id):
            return self.cp.empty(shape, dtype=like.dtype)

    def empty_f32(self, shape, like):
        with self.cp.cuda.Device(like.device.id):
            return self.cp.empty(shape, dtype=self.cp.float32)

    def to_f32(self, x):
        with self.cp.cuda.Device(x.device.id):
            return self.cp.ascontiguousarray(x, dtype=self.cp.float32)

    def workspace(self, nbytes, like):
        # CuPy's memory pool aligns to 512 bytes and is stream-ordered per stream.
        with self.cp.cuda.Device(like.device.id):
            return self.cp.empty(max(int(nbytes), 1), dtype=self.cp.uint8)

    def stream(self, device):
        with self.cp.cuda.Device(device):
            return self.cp.cuda.get_current_stream().ptr

    def device_guard(self, device):
        return self.cp.cuda.Device(device)


_NUMPY = NumpyNS()
_namespaces = {}


def _ns(name: str) -> _Namespace:
    if name == "numpy":
        return _NUMPY
    if name not in _namespaces:
        _namespaces[name] = TorchNS() if name == "torch" else CupyNS()
    return _namespaces[name]


def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_cupy(x) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def _view_foreign_cuda(x, via_dlpack: bool):
    """A zero-copy CuPy (preferred) or torch view of a CUDA array from another library."""
    errors = []
    try:
        import cupy

        return (cupy.from_dlpack(x) if via_dlpack else cupy.asarray(x)), "cupy"
    except ImportError as e:
        errors.append(str(e))
    try:
        import torch

        return (torch.from_dlpack(x) if via_dlpack else torch.as_tensor(x, device="cuda")), "torch"
    except ImportError as e:
        errors.append(str(e))
    raise TypeError(
        f"{type(x).__name__} is a CUDA array; the bindings need cupy or torch to allocate its outputs "
        f"({'; '.join(errors)})"
    )


def classify(x):
    """Returns (array, namespace name) for one operand, converting foreign arrays."""
    if isinstance(x, np.ndarray):
        return x, "numpy"
    if _is_torch(x):
        return x, "torch"
    if _is_cupy(x):
        return x, "cupy"
    if hasattr(x, "__cuda_array_interface__"):
        return _view_foreign_cuda(x, via_dlpack=False)
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        dev_type, _ = x.__dlpack_device__()
        if int(dev_type) in (_DLPACK_CUDA, _DLPACK_CUDA_MANAGED):
            return _view_foreign_cuda(x, via_dlpack=True)
        if int(dev_type) == _DLPACK_CPU:
            return np.from_dlpack(x), "numpy"
        raise TypeError(f"{type(x).__name__} lives on DLPack device type {dev_type}, not CPU or CUDA")
    # Lists and other array-likes: NumPy decides the dtype (and the dtype check rejects float64).
    return np.asarray(x), "numpy"


def normalise(*arrays):
    """Classifies every non-None operand; all must come from one namespace.

    Returns (namespace, list of arrays with None kept in place).
    """
    out, names = [], set()
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        arr, name = classify(a)
        out.append(arr)
        names.add(name)
    if len(names) > 1:
        raise TypeError(f"all arrays of one call must come from the same library, got {sorted(names)}")
    return _ns(names.pop() if names else "numpy"), out


def backend_for(device: int) -> Backend:
    return Backend.CPU if device < 0 else Backend.CUDA
