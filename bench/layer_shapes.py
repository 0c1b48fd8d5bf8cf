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
