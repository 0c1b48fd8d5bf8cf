"""The per-op variants every benchmark compares, built once per layer shape: ours
(mobilekernels.ops through the dispatcher), ours as a one-layer network with a static
output (the kernel's cost inside a network: no per-call allocation or checks; its layer
time inside the C++ call is recorded too, see StaticLayer), and the
torch peer (F.conv2d channels_last + separate activation, i.e. what eager PyTorch runs
for a fused layer). `peers=True` (CPU) adds ONNX Runtime's fused conv (op_ort.OrtConv)."""
from __future__ import annotations

import statistics

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


class StaticLayer:
    """The op as a one-layer C++ network run into a static output. Each call also records
    the layer's own time inside the C++ call (`run_profiled`): `kernel_us()` is then the
    same quantity as ONNX Runtime's node time from its profiler (op_ort.OrtConv.node_us),
    without the Python call around it."""

    def __init__(self, op: str, args: tuple, x):
        from mobilekernels.ops import cpu

        self.frozen = cpu.FrozenNetwork(Network([Layer(op, args)]), x)
        self.array, self.nchw = cpu._network_input(x)
        self.seconds = []

    def __call__(self):
        f = self.frozen
        self.seconds.append(f.handle.run_profiled(self.array, f._out, "auto", self.nchw)[0])
        return f.output

    def kernel_us(self, skip: int = 3) -> float:
        """Median of the layer's times over every call so far (the first `skip` dropped)."""
        d = self.seconds[skip:] if len(self.seconds) > 2 * skip else self.seconds
        return statistics.median(d) * 1e6


def _static(op: str, args: tuple, x):
    """StaticLayer for the op (None off the CPU backend)."""
    from mobilekernels import _ext

    if x.device.type != "cpu" or x.dtype != torch.float32 or not _ext.available():
        return None
    return StaticLayer(op, args, x)


def _add_peers(fns: dict, op: str, args: tuple, x, w, b, stride, pad, groups, peers: bool):
    static = _static(op, args, x)
    if static is not None:
        fns["mk static"] = static
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
