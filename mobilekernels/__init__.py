"""mobilekernels: fused MobileNet kernels for PyTorch (Triton on GPU, AVX2/NEON C++ on CPU)."""
from . import _ext
from .activation import Activation
from .ops import get_backend, set_backend, use_backend

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Threads used by the CPU kernels (default: all cores available)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    if _ext.available():
        _ext._C.set_num_threads(n)


def get_num_threads() -> int:
    return _ext._C.get_num_threads() if _ext.available() else 1


def __getattr__(name):  # lazy: nn/models/convert import torch.nn machinery
    if name in ("nn", "models"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    if name == "optimize":
        from .convert import optimize
        return optimize
    if name in ("compile_for_inference", "InferenceModule"):
        from . import inference
        return getattr(inference, name)
    raise AttributeError(f"module 'mobilekernels' has no attribute {name!r}")


__all__ = ["Activation", "InferenceModule", "compile_for_inference", "get_backend", "get_num_threads",
           "optimize", "set_backend", "set_num_threads", "use_backend"]
