"""Python bindings for libflashfftconv (ctypes; no compiled extension).

Functional API on NumPy / torch / CuPy / any CUDA array::

    from flashfftconv import fftconv, fftconv_backward
    y = fftconv(u, k, in_gate, out_gate)            # causal: N = next pow2 >= L + K - 1

PyTorch module with the original project's signature (torch is imported only
when this name is first used)::

    from flashfftconv import FlashFFTConv
    conv = FlashFFTConv(2 * L, dtype=torch.bfloat16)
    y = conv(u, k, in_gate, out_gate)

The shared library is looked up in $FLASHFFTCONV_LIBRARY, then next to this
package, then by the system loader, on first use.
"""

from ._lib import (
    Backend,
    DType,
    FlashFFTConvError,
    LibraryNotFoundError,
    Status,
    backend_available,
    build_info,
    library_path,
    load_library,
    status_string,
    version,
    version_number,
)
from ._plan import Plan, PlanInfo, Shape, cached_plans, clear_plan_cache, get_plan
from .functional import Gradients, default_fft_size, fftconv, fftconv_backward

__version__ = "0.1.0"

__all__ = [
    "Backend", "DType", "FlashFFTConvError", "LibraryNotFoundError", "Status",
    "backend_available", "build_info", "library_path", "load_library", "status_string",
    "version", "version_number",
    "Plan", "PlanInfo", "Shape", "cached_plans", "clear_plan_cache", "get_plan",
    "Gradients", "default_fft_size", "fftconv", "fftconv_backward",
    "FlashFFTConv", "pytorch",
]

# Names served lazily from the torch integration, so that `import flashfftconv`
# never imports torch (which is optional and slow to import).
_TORCH_NAMES = {"FlashFFTConv", "FFTConvFunction"}


def __getattr__(name):
    if name in _TORCH_NAMES or name == "pytorch":
        # importlib, not `from . import pytorch`: that statement would look the
        # attribute up on this package first and land back here, recursively.
        import importlib

        pytorch = importlib.import_module(__name__ + ".pytorch")
        return pytorch if name == "pytorch" else getattr(pytorch, name)
    raise AttributeError(f"module 'flashfftconv' has no attribute {name!r}")
