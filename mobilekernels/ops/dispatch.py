"""The one place that picks a backend for an op call.

Backends: "reference" (pure torch, any device/dtype), "cpu" (C++ extension, float32 CPU
tensors), "triton" (CUDA tensors; float32/float16/bfloat16). set_backend("reference") or
MOBILEKERNELS_BACKEND=reference forces the reference everywhere; set_backend("triton")
forces Triton for every op (on CPU tensors this needs TRITON_INTERPRET=1: how CI tests the
GPU kernels); "auto" (the default) uses the fastest backend that implements the op for the
input's device and dtype.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable

import torch

from .. import _ext
from . import cpu, reference

BACKENDS = ("auto", "reference", "triton")
_TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_backend = "auto"


def set_backend(name: str) -> None:
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"set_backend: backend must be one of {BACKENDS}, got {name!r}")
    _backend = name


def get_backend() -> str:
    return _backend


@contextlib.contextmanager
def use_backend(name: str):
    saved = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(saved)


def _triton():
    """mobilekernels.triton, or None where triton is not installed (e.g. torch CPU builds)."""
    global _triton_module
    if _triton_module is None:
        try:
            from .. import triton as module
        except ImportError:
            module = False
        _triton_module = module
    return _triton_module or None


_triton_module = None


def backend_for(op: str, x: torch.Tensor) -> str:
    if _backend == "reference":
        return "reference"
    if _backend == "triton" or x.device.type == "cuda":
        module = _triton()
        if module is not None and x.dtype in _TRITON_DTYPES and hasattr(module, op):
            return "triton"
        return "reference"
    if x.device.type == "cpu" and x.dtype == torch.float32 and _ext.available() and hasattr(cpu, op):
        return "cpu"
    return "reference"


def implementation(backend: str, op: str) -> Callable:
    module = {"reference": reference, "cpu": cpu}.get(backend) or _triton()
    return getattr(module, op)


def select(op: str, x: torch.Tensor) -> Callable:
    return implementation(backend_for(op, x), op)


set_backend(os.environ.get("MOBILEKERNELS_BACKEND", "auto"))
