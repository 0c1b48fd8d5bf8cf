"""SqueezeExcite: global average pool -> 1x1 FC -> act -> 1x1 FC -> gate -> channel scale.

Attribute names (fc1, fc2, activation, scale_activation) follow torchvision's
SqueezeExcitation, so its state_dict keys carry over.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import ops
from ..activation import activation_module, activation_of, parse_activation
from .fused import FusedModule, fold_bn, run_unfused, source_tensors


def _is_fc(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.kernel_size == (1, 1) and m.stride == (1, 1)
            and m.groups == 1 and m.bias is not None and conv_padding_is_zero(m))


def conv_padding_is_zero(m: nn.Conv2d) -> bool:
    return m.padding in ((0, 0), "valid") and m.padding_mode == "zeros"


class SqueezeExcite(FusedModule):
    def __init__(self, in_channels: int, squeeze_channels: int, activation="relu",
                 gate="hardsigmoid"):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(in_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, in_channels, 1)
        self.activation = activation_module(parse_activation(activation))
        self.scale_activation = activation_module(parse_activation(gate, "gate"))

    @classmethod
    def from_modules(cls, fc1: nn.Conv2d, fc2: nn.Conv2d, activation: nn.Module,
                     gate: nn.Module) -> "SqueezeExcite":
        """Wraps existing FC convs (sharing their parameters); ValueError if unsupported."""
        act, gate_act = activation_of(activation), activation_of(gate)
        if not (_is_fc(fc1) and _is_fc(fc2) and fc1.out_channels == fc2.in_channels
                and fc2.out_channels == fc1.in_channels) or act is None or gate_act is None:
            raise ValueError("SqueezeExcite.from_modules: not a squeeze-excite pattern")
        se = cls(fc1.in_channels, fc1.out_channels, int(act), int(gate_act))
        se.fc1, se.fc2, se.activation, se.scale_activation = fc1, fc2, activation, gate
        return se

    def packed_fcs(self) -> tuple[torch.Tensor, torch.Tensor]:
        fc1 = self.cached_pack("fc1_packed", source_tensors(self.fc1),
                          lambda: ops.pack_conv(*fold_bn(self.fc1, None)))
        fc2 = self.cached_pack("fc2_packed", source_tensors(self.fc2),
                          lambda: ops.pack_conv(*fold_bn(self.fc2, None)))
        return fc1, fc2

    def refresh_packed(self) -> None:
        self._pack_keys.clear()
        self.packed_fcs()

    @property
    def act_code(self) -> int:
        return int(activation_of(self.activation))

    @property
    def gate_code(self) -> int:
        return int(activation_of(self.scale_activation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if run_unfused(self):
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return scale * x
        fc1, fc2 = self.packed_fcs()
        return ops.squeeze_excite(x, fc1, fc2, self.act_code, self.gate_code)
