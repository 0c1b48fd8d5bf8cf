"""Helpers shared by the zoo: torchvision's channel rounding, weight init, and the
one-call forward."""
from __future__ import annotations

import torch
from torch import nn

from ..nn import FusedLinear
from ..nn.sequential import PlanOwner
from ..ops.custom_ops import _plain_eager


def _flatten(y: torch.Tensor) -> torch.Tensor:
    return y.flatten(1)


class PooledClassifier(PlanOwner, nn.Module):
    """features -> avgpool -> flatten -> classifier, torchvision's forward. In plain eager
    inference, when all three can be Network layers, the whole forward is one Network
    (on the CPU backend one C++ call): after the features' long C++ pass the Python of
    separate pool and head calls runs with cold caches and cost 0.3-0.7 ms at batch 1,
    as much as the head's GEMV (bench/NOTES.md)."""

    force_unfused = False  # set per instance by unfused_copy()

    def single_network(self):
        """(Network, post-process) when the whole forward is one Network as of now, else
        None (compile_for_inference captures it on the CPU)."""
        return self._single_network((self.features, self.avgpool, self.classifier), _flatten)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 4 and _plain_eager((x,)):
            single = self.single_network()
            if single is not None:
                return single[0]._run_eager(x, flat=True)  # = post(net(x)): flattened [N, C]
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round v to a multiple of divisor, never below 90% of v (torchvision/TF rule)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def init_weights(model: nn.Module) -> None:
    """torchvision's MobileNet initialization."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Linear, FusedLinear)):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
