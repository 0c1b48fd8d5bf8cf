"""Who ran a benchmark, and how fast the machine can go at all (the ceilings every
result is quoted against): a large copy (memory bandwidth) and a large matmul (FLOP rate)."""
from __future__ import annotations

import platform
import time

import torch

from . import _ext


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "CPU part")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: str = "cpu") -> dict:
    info = {
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "isa": _ext._C.cpu_features()["best_isa"] if _ext.available() else "reference (no extension)",
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    try:
        import triton
        info["triton"] = triton.__version__
    except ImportError:
        pass
    return info


def _best_time(fn, repeats: int, device: str) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def ceilings(device: str = "cpu", dtype=torch.float32, repeats: int = 20) -> dict:
    """Measured with torch at the current thread count: copy GB/s (read + write) and
    matmul GFLOP/s, the best of `repeats` calls each (best of 5 read 80 GFLOP/s once on a
    VM that gives 173-212: a slow spell can last a whole short sample)."""
    n_copy = (64 << 20) // 4 if device == "cpu" else (1 << 30) // 4
    src = torch.ones(n_copy, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    t = _best_time(lambda: dst.copy_(src), repeats, device)
    size = 1024 if device == "cpu" else 8192
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    tm = _best_time(lambda: torch.mm(a, b), repeats, device)
    return {"copy_GBps": 2 * src.numel() * 4 / t / 1e9, "matmul_GFLOPs": 2 * size ** 3 / tm / 1e9}
