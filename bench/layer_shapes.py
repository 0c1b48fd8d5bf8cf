"""The real MobileNet v2/v3 layer shapes (batch 1, 224x224), read off the zoo models
themselves so the per-op benchmarks always follow the architectures."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mobilekernels import models
from mobilekernels.nn import unfused


@dataclass(frozen=True)
class ConvShape:
    cin: int
    cout: int
    kernel: int
    stride: int
    groups: int
    height: int
    width: int

    @property
    def depthwise(self) -> bool:
        return self.groups == self.cin == self.cout and self.groups > 1

    @property
    def id(self) -> str:
        kind = "dw" if self.depthwise else ("pw" if self.kernel == 1 else "conv")
        return f"{kind}{self.kernel}x{self.kernel}s{self.stride}_{self.cin}to{self.cout}_{self.height}x{self.width}"

    def macs(self) -> int:
        ho = (self.height - 1) // self.stride + 1
        wo = (self.width - 1) // self.stride + 1
        return ho * wo * self.cout * self.kernel * self.kernel * self.cin // self.groups


def conv_shapes(names=("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"), size=224):
    seen = {}
    for name in names:
        model = models.MODELS[name]().eval()
        hooks = []

        def hook(m, inp, out):
            x = inp[0]
            s = ConvShape(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.groups,
                          x.shape[2], x.shape[3])
            seen.setdefault(s, None)

        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                hooks.append(m.register_forward_hook(hook))
        with torch.no_grad(), unfused():
            model(torch.zeros(1, 3, size, size))
        for h in hooks:
            h.remove()
    return list(seen)


DEPTHWISE = [s for s in conv_shapes() if s.depthwise]
# 1x1 convs of the body; the SE FCs (which see 1x1 pooled maps) are not GEMM-bound layers.
POINTWISE = [s for s in conv_shapes() if s.kernel == 1 and s.height > 1]


@dataclass(frozen=True)
class BlockShape:
    """An inverted-residual block as the fused kernels see it (batch 1); squeeze = the SE's
    squeeze channels, 0 for a block without SE."""
    cin: int
    hidden: int
    cout: int
    kernel: int
    stride: int
    expand_act: str   # "none" when the block has no expand conv (expansion 1)
    dw_act: str
    residual: bool
    height: int
    width: int
    squeeze: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        pad = (self.kernel - 1) // 2
        return ((self.height + 2 * pad - self.kernel) // self.stride + 1,
                (self.width + 2 * pad - self.kernel) // self.stride + 1)

    @property
    def id(self) -> str:
        res = "+res" if self.residual else ""
        se = f"_se{self.squeeze}" if self.squeeze else ""
        return (f"ir{self.kernel}x{self.kernel}s{self.stride}_{self.cin}-{self.hidden}-{self.cout}{res}_"
                f"{self.height}x{self.width}_{self.dw_act}{se}")

    def activation_bytes(self, batch: int, element_size: int) -> int:
        """Input read once + output written once: the block's fused-traffic floor (without weights)."""
        ho, wo = self.out_hw
        return batch * (self.cin * self.height * self.width + self.cout * ho * wo) * element_size


def inverted_residual_blocks(names=("mobilenet_v2", "mobilenet_v3_large"), size=224, se=False):
    """[(BlockShape, module)]: the distinct inverted-residual blocks WITHOUT squeeze-excite
    (se=True: only those WITH it) of the zoo models (first occurrence of each geometry), read
    from the modules themselves (InvertedResidual.current_plan()) and a forward pass at `size`
    for the spatial sizes. The modules come from freshly built models (eval mode, float32, CPU)."""
    from mobilekernels.nn import InvertedResidual

    seen = {}
    for name in names:
        model = models.MODELS[name]().eval()
        found, hooks = [], []

        def hook(m, inp):
            p = m.current_plan()
            x = inp[0]
            found.append((BlockShape(
                cin=x.shape[1], hidden=p.dw.conv.in_channels, cout=p.project.conv.out_channels,
                kernel=p.dw.conv.kernel_size[0], stride=p.dw.conv.stride[0],
                expand_act=p.expand.activation.name.lower() if p.expand is not None else "none",
                dw_act=p.dw.activation.name.lower(), residual=m.use_res_connect,
                height=x.shape[2], width=x.shape[3], squeeze=0 if p.se is None else p.se.fc1.out_channels), m))

        for m in model.features:
            if isinstance(m, InvertedResidual) and (m.current_plan().se is not None) == se:
                hooks.append(m.register_forward_pre_hook(hook))
        with torch.no_grad(), unfused():
            model(torch.zeros(1, 3, size, size))
        for h in hooks:
            h.remove()
        for s, m in found:
            seen.setdefault(s, m)
    return list(seen.items())
