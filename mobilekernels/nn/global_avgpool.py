"""GlobalAvgPool: AdaptiveAvgPool2d(1) as the fused op in eval mode."""
from __future__ import annotations

import torch

from .. import ops
from ..ops.network import Layer
from .fused import FusedModule, run_unfused


class GlobalAvgPool(FusedModule):
    def network_layers(self) -> list[Layer] | None:
        """One Network layer (pooled to a 1x1 map), so a zoo model's pool and classifier
        run in the same C++ call as its features."""
        if run_unfused(self) or self._forward_hooks or self._forward_pre_hooks:
            return None
        return [Layer("global_avgpool", ())]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if run_unfused(self):
            return x.mean(dim=(2, 3), keepdim=True)
        return ops.global_avgpool(x)
