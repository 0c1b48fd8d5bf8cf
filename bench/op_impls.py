"""The per-op variants every benchmark compares, built once per layer shape: ours
(mobilekernels.ops through the dispatcher), ours as a one-layer network with a static
output (the kernel's cost inside a network: no per-call allocation or checks), and the
torch peer (F.conv2d channels_last + separate activation, i.e. what eager PyTorch runs
for a fused layer). `peers=True` (CPU) adds ONNX Runtime's fused conv (op_ort.OrtConv)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mobilekernels import Activation, ops
from mobilekernels.activation import apply_activation
from mobilekernels.ops import Layer, Network

from layer_shapes import ConvShape

ACT = Activation.RELU6


def _input(s: ConvShape, batch, g, device, dtype):
    x = torch.randn(batch, s.cin, s.height, s.width, generator=g)
    return x.to(device, dtype).contiguous(memory_format=torch.channels_last)


def _static(op: str, args: tuple, x):
    """The op as a one-layer C++ network run into a static output (None off the CPU backend)."""
    from mobilekernels import _ext
    from mobilekernels.ops import cpu

    if x.device.type != "cpu" or x.dtype != torch.float32 or not _ext.available():
        return None
    return cpu.FrozenNetwork(Network([Layer(op, args)]), x)


def _add_peers(fns: dict, op: str, args: tuple, x, w, b, stride, pad, groups, peers: bool):
    static = _static(op, args, x)
    if static is not None:
        fns["mk static"] = lambda: static(x)  # noqa: E731
    if peers and x.device.type == "cpu":
        try:
            from op_ort import OrtConv
            fns["onnxruntime"] = OrtConv(w, b, stride, pad, groups, x, torch.get_num_threads())
        except ImportError:
            pass
    return fns


def dwconv_variants(s: ConvShape, batch: int = 1, device="cpu", dtype=torch.float32, peers=False):
    """({name: fn}, bytes moved by ours) for a depthwise layer."""
    g = torch.Generator().manual_seed(0)
    x = _input(s, batch, g, device, dtype)
    w = (torch.randn(s.cin, 1, s.kernel, s.kernel, generator=g) / s.kernel).to(device, dtype)
    b = torch.randn(s.cin, generator=g).to(device, dtype)
    packed = ops.pack_dwconv(w, b)
    pad = (s.kernel - 1) // 2
    args = (packed, s.kernel, s.stride, [pad] * 4, 1, int(ACT))
    ours = lambda: ops.dwconv_bn_act(x, *args)  # noqa: E731
    torch_ = lambda: F.relu6(F.conv2d(x, w, b, s.stride, pad, groups=s.cin))  # noqa: E731
    nbytes = (x.numel() + ours().numel() + packed.numel()) * x.element_size()
    fns = {"mobilekernels": ours, "torch": torch_}
    return _add_peers(fns, "dwconv_bn_act", args, x, w, b, s.stride, pad, s.cin, peers), nbytes


def pwconv_variants(s: ConvShape, batch: int = 1, device="cpu", dtype=torch.float32, peers=False):
    """({name: fn}, bytes moved by ours) for a 1x1 layer."""
    g = torch.Generator().manual_seed(0)
    x = _input(s, batch, g, device, dtype)
    w = (torch.randn(s.cout, s.cin, 1, 1, generator=g) / s.cin ** 0.5).to(device, dtype)
    b = torch.randn(s.cout, generator=g).to(device, dtype)
    packed = ops.pack_conv(w, b)
    args = (packed, int(ACT), None)
    ours = lambda: ops.pwconv_bn_act(x, *args)  # noqa: E731
    torch_ = lambda: apply_activation(F.conv2d(x, w, b), int(ACT))  # noqa: E731
    nbytes = (x.numel() + batch * s.cout * s.height * s.width + packed.numel()) * x.element_size()
    fns = {"mobilekernels": ours, "torch": torch_}
    return _add_peers(fns, "pwconv_bn_act", args, x, w, b, 1, 0, 1, peers), nbytes
