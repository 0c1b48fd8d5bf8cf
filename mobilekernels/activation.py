"""The activation enum shared by C++ (csrc/kernels/activation.h), Triton and the reference.

hardsigmoid(x) = relu6(x + 3) / 6 and hardswish(x) = x * hardsigmoid(x), as in the
MobileNetV3 paper and torch.
"""
from __future__ import annotations

import enum

import torch
import torch.nn.functional as F
from torch import nn


class Activation(enum.IntEnum):
    IDENTITY = 0
    RELU = 1
    RELU6 = 2
    HARDSWISH = 3
    HARDSIGMOID = 4
    SILU = 5
    SIGMOID = 6


_MODULE_TO_ACT = {
    nn.Identity: Activation.IDENTITY,
    nn.ReLU: Activation.RELU,
    nn.ReLU6: Activation.RELU6,
    nn.Hardswish: Activation.HARDSWISH,
    nn.Hardsigmoid: Activation.HARDSIGMOID,
    nn.SiLU: Activation.SILU,
    nn.Sigmoid: Activation.SIGMOID,
}

_ACT_TO_MODULE = {v: k for k, v in _MODULE_TO_ACT.items()}


def activation_of(module: nn.Module | None) -> Activation | None:
    """The Activation a torch module computes, or None if it is not one we know."""
    if module is None:
        return Activation.IDENTITY
    return _MODULE_TO_ACT.get(type(module))


def activation_module(act: int) -> nn.Module:
    return _ACT_TO_MODULE[Activation(act)]()


def parse_activation(act, name: str = "activation") -> Activation:
    """Accepts an Activation, its int code or its name ('relu6', 'hardswish', ...)."""
    if isinstance(act, str):
        try:
            return Activation[act.upper()]
        except KeyError:
            raise ValueError(f"{name}: unknown activation {act!r}; expected one of "
                             f"{[a.name.lower() for a in Activation]}") from None
    if isinstance(act, bool) or not isinstance(act, int):
        raise TypeError(f"{name}: expected an Activation, int or str, got {type(act).__name__}")
    try:
        return Activation(act)
    except ValueError:
        raise ValueError(f"{name}: unknown activation code {act}") from None


def apply_activation(x: torch.Tensor, act: int) -> torch.Tensor:
    """Reference activation in x's dtype (float64-capable)."""
    act = Activation(act)
    if act == Activation.IDENTITY:
        return x
    if act == Activation.RELU:
        return F.relu(x)
    if act == Activation.RELU6:
        return F.relu6(x)
    if act == Activation.HARDSWISH:
        return x * (F.relu6(x + 3) / 6)
    if act == Activation.HARDSIGMOID:
        return F.relu6(x + 3) / 6
    if act == Activation.SILU:
        return F.silu(x)
    return torch.sigmoid(x)
