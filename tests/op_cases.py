"""Random inputs for every op (fresh data per case, never zeros), shared by the op tests.

Weights are scaled so pre-activations span roughly [-8, 8]: the clamps of relu6,
hardswish and hardsigmoid are really exercised.
"""
from __future__ import annotations

import torch

from mobilekernels import ops


def make_input(n, c, h, w, *, seed, layout="channels_last", dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * 2
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":  # a non-contiguous view: every other column of a wider tensor
        wide = torch.randn(n, c, h, 2 * w, generator=g, dtype=torch.float64) * 2
        x = wide[..., ::2]
    return x.to(dtype)


def dw_packed(c, k, *, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed + 1)
    w = torch.randn(c, 1, k, k, generator=g, dtype=torch.float64) * (1.5 / k)
    b = torch.randn(c, generator=g, dtype=torch.float64)
    return ops.pack_dwconv(w, b).to(dtype)


def conv_packed(cin, cout, k=1, *, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed + 2)
    w = torch.randn(cout, cin, k, k, generator=g, dtype=torch.float64) * (2.5 / (k * cin ** 0.5))
    b = torch.randn(cout, generator=g, dtype=torch.float64)
    return ops.pack_conv(w, b).to(dtype)
