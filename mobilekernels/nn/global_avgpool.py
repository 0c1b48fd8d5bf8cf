"""GlobalAvgPool: AdaptiveAvgPool2d(1) as the fused op in eval mode."""
import torch

from .. import ops
from .fused import FusedModule, run_unfused


class GlobalAvgPool(FusedModule):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if run_unfused(self):
            return x.mean(dim=(2, 3), keepdim=True)
        return ops.global_avgpool(x)
