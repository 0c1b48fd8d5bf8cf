"""Helpers shared by the zoo: torchvision's channel rounding and weight init."""
from __future__ import annotations

from torch import nn

from ..nn import FusedLinear


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
