"""Loads the compiled CPU extension mobilekernels._C, or warns once and returns None.

Without it the package still works: every op falls back to the reference backend.
MOBILEKERNELS_DISABLE_EXTENSION=1 skips loading it (used to test that fallback).
"""
from __future__ import annotations

import importlib.util
import os
import warnings

_C = None
load_error: str | None = None

if os.environ.get("MOBILEKERNELS_DISABLE_EXTENSION") == "1":
    load_error = "disabled by MOBILEKERNELS_DISABLE_EXTENSION=1"
else:
    try:
        from . import _C  # type: ignore[attr-defined,no-redef]
    except ImportError as err:  # not built, or built for another Python/CPU
        missing = importlib.util.find_spec(f"{__package__}._C") is None
        load_error = "it was not built" if missing else str(err)

if _C is None:
    warnings.warn(
        f"mobilekernels: the CPU extension mobilekernels._C is not available ({load_error}); "
        "CPU ops run on the pure-PyTorch reference backend. Reinstall with `pip install -e .` "
        "and a C++17 compiler + CMake to build it.",
        RuntimeWarning,
        stacklevel=2,
    )


def available() -> bool:
    return _C is not None
