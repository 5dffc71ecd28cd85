"""Python bindings for libflashfftconv (ctypes; no compiled extension).

Functional API on NumPy / torch / CuPy / any CUDA array::

    from flashfftconv import fftconv, fftconv_backward
    y = fftconv(u, k, in_gate, out_gate)            # causal: N = next pow2 >= L + K - 1
    y = fftconv(u, k, partial=True)                 # causal, any L: N set by K (overlap-save windows)
    y = fftconv(u, k, freq_mask=freq_block_mask(16, 4))  # frequency-sparse: bins f with f % 16 in {0..3, 13..15}

Short depthwise convolutions (PyTorch's Conv1d with groups = channels, 1 to 128
taps), computed directly::

    from flashfftconv import depthwise_conv1d, depthwise_conv1d_backward
    y = depthwise_conv1d(x, weight, bias, padding="causal", layout="bhl")

PyTorch modules, the first with the original project's signature (torch is
imported only when one of these names is first used)::

    from flashfftconv import FlashFFTConv, FlashDepthwiseConv1d
    conv = FlashFFTConv(2 * L, dtype=torch.bfloat16)
    y = conv(u, k, in_gate, out_gate)
    short = FlashDepthwiseConv1d(H, 4, padding="causal")   # nn.Conv1d(H, H, 4, groups=H), causal
    y = short(x)

The shared library is looked up in $FLASHFFTCONV_LIBRARY, then next to this
package, then by the system loader, on first use.
"""

from ._lib import (
    CONV1D_MAX_KERNEL_SIZE,
    MAX_FREQ_MASK_LEN,
    PLAN_DEFAULT,
    PLAN_PARTIAL,
    Backend,
    DType,
    FlashFFTConvError,
    Layout,
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
from ._plan import (
    Conv1dPlan,
    Conv1dShape,
    Plan,
    PlanInfo,
    Shape,
    cached_conv1d_plans,
    as_freq_mask,
    cached_plans,
    clear_plan_cache,
    freq_block_mask,
    get_conv1d_plan,
    get_plan,
    resolve_padding,
)
from .functional import (
    Conv1dGradients,
    Gradients,
    default_fft_size,
    depthwise_conv1d,
    depthwise_conv1d_backward,
    fftconv,
    fftconv_backward,
    spectrum_nbytes,
)

__version__ = "0.5.0"

__all__ = [
    "Backend", "DType", "FlashFFTConvError", "LibraryNotFoundError", "Status",
    "backend_available", "build_info", "library_path", "load_library", "status_string",
    "version", "version_number", "PLAN_DEFAULT", "PLAN_PARTIAL",
    "Plan", "PlanInfo", "Shape", "cached_plans", "clear_plan_cache", "get_plan",
    "MAX_FREQ_MASK_LEN", "as_freq_mask", "freq_block_mask",
    "Gradients", "default_fft_size", "fftconv", "fftconv_backward", "spectrum_nbytes",
    "CONV1D_MAX_KERNEL_SIZE", "Layout", "Conv1dPlan", "Conv1dShape", "Conv1dGradients", "cached_conv1d_plans",
    "get_conv1d_plan", "resolve_padding", "depthwise_conv1d", "depthwise_conv1d_backward",
    "FlashFFTConv", "FlashDepthwiseConv1d", "pytorch",
]

# Names served lazily from the torch integration, so that `import flashfftconv`
# never imports torch (which is optional and slow to import).
_TORCH_NAMES = {"FlashFFTConv", "FFTConvFunction", "FlashDepthwiseConv1d", "DepthwiseConv1dFunction"}


def __getattr__(name):
    if name in _TORCH_NAMES or name == "pytorch":
        # importlib, not `from . import pytorch`: that statement would look the
        # attribute up on this package first and land back here, recursively.
        import importlib

        pytorch = importlib.import_module(__name__ + ".pytorch")
        return pytorch if name == "pytorch" else getattr(pytorch, name)
    raise AttributeError(f"module 'flashfftconv' has no attribute {name!r}")
