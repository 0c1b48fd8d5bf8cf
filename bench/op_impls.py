"""The per-op variants every benchmark compares, built once per layer shape: ours
(mobilekernels.ops through the dispatcher) and the torch peer (F.conv2d channels_last +
separate activation, i.e. what eager PyTorch runs for a fused layer)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mobilekernels import Activation, ops
from mobilekernels.activation import apply_activation

from layer_shapes import ConvShape

ACT = Activation.RELU6


def _input(s: ConvShape, batch, g, device, dtype):
    x = torch.randn(batch, s.cin, s.height, s.width, generator=g)
    return x.to(device, dtype).contiguous(memory_format=torch.channels_last)


def dwconv_variants(s: ConvShape, batch: int = 1, device="cpu", dtype=torch.float32):
    """({name: fn}, bytes moved by ours) for a depthwise layer."""
    g = torch.Generator().manual_seed(0)
    x = _input(s, batch, g, device, dtype)
    w = (torch.randn(s.cin, 1, s.kernel, s.kernel, generator=g) / s.kernel).to(device, dtype)
    b = torch.randn(s.cin, generator=g).to(device, dtype)
    packed = ops.pack_dwconv(w, b)
    pad = (s.kernel - 1) // 2
    ours = lambda: ops.dwconv_bn_act(x, packed, s.kernel, s.stride, [pad] * 4, 1, int(ACT))  # noqa: E731
    torch_ = lambda: F.relu6(F.conv2d(x, w, b, s.stride, pad, groups=s.cin))  # noqa: E731
    nbytes = (x.numel() + ours().numel() + packed.numel()) * x.element_size()
    return {"mobilekernels": ours, "torch": torch_}, nbytes


def pwconv_variants(s: ConvShape, batch: int = 1, device="cpu", dtype=torch.float32):
    """({name: fn}, bytes moved by ours) for a 1x1 layer."""
    g = torch.Generator().manual_seed(0)
    x = _input(s, batch, g, device, dtype)
    w = (torch.randn(s.cout, s.cin, 1, 1, generator=g) / s.cin ** 0.5).to(device, dtype)
    b = torch.randn(s.cout, generator=g).to(device, dtype)
    packed = ops.pack_conv(w, b)
    ours = lambda: ops.pwconv_bn_act(x, packed, int(ACT), None)  # noqa: E731
    torch_ = lambda: apply_activation(F.conv2d(x, w, b), int(ACT))  # noqa: E731
    nbytes = (x.numel() + batch * s.cout * s.height * s.width + packed.numel()) * x.element_size()
    return {"mobilekernels": ours, "torch": torch_}, nbytes
