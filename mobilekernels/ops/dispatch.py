"""The one place that picks a backend for an op call.

Backends: "reference" (pure torch, any device/dtype), "cpu" (C++ extension, float32 CPU
tensors), "triton" (CUDA; lands with the GPU backend). set_backend("reference") or
MOBILEKERNELS_BACKEND=reference forces the reference everywhere; "auto" (the default)
uses the fastest backend that implements the op for the input's device and dtype.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable

import torch

from .. import _ext
from . import cpu, reference

BACKENDS = ("auto", "reference")
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


def backend_for(op: str, x: torch.Tensor) -> str:
    if _backend == "reference":
        return "reference"
    if (x.device.type == "cpu" and x.dtype == torch.float32 and _ext.available()
            and hasattr(cpu, op)):
        return "cpu"
    return "reference"


_MODULES = {"reference": reference, "cpu": cpu}


def select(op: str, x: torch.Tensor) -> Callable:
    return getattr(_MODULES[backend_for(op, x)], op)


set_backend(os.environ.get("MOBILEKERNELS_BACKEND", "auto"))
