"""InvertedResidual: expand 1x1 -> depthwise -> [SE] -> project 1x1 [+ input], one fused op
in eval mode.

It wraps a torch Sequential laid out like torchvision's blocks (so their state_dict
keys carry over): ConvBNAct children, or a bare Conv2d + BatchNorm2d pair for the
projection (torchvision's v2), and an optional SqueezeExcite.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import ops
from ..ops.network import Layer
from ..activation import Activation, activation_of
from .conv_bn_act import ConvBNAct, conv_kind, conv_padding4
from .fused import FusedModule, fold_bn, run_unfused, source_tensors
from .squeeze_excite import SqueezeExcite


@dataclass
class Stage:
    conv: nn.Conv2d
    bn: nn.BatchNorm2d | None
    activation: Activation


@dataclass
class BlockPlan:
    expand: Stage | None
    dw: Stage
    se: SqueezeExcite | None
    project: Stage


def _stages(layers: nn.Sequential) -> list:
    """Children as Stage / SqueezeExcite items; ValueError on anything else."""
    items, children, i = [], list(layers), 0
    while i < len(children):
        m = children[i]
        if isinstance(m, ConvBNAct):
            if m.bn is not None and not m.bn.track_running_stats:
                raise ValueError("InvertedResidual: BatchNorm without running statistics cannot be folded")
            items.append(Stage(m.conv, m.bn, m.activation))
            i += 1
        elif isinstance(m, SqueezeExcite):
            items.append(m)
            i += 1
        elif type(m) is nn.Conv2d:
            bn = children[i + 1] if i + 1 < len(children) and type(children[i + 1]) is nn.BatchNorm2d else None
            if bn is not None and not bn.track_running_stats:
                raise ValueError("InvertedResidual: BatchNorm without running statistics cannot be folded")
            i += 1 + (bn is not None)
            act = activation_of(children[i]) if i < len(children) else None
            if act is not None and i < len(children):
                i += 1
            items.append(Stage(m, bn, act if act is not None else Activation.IDENTITY))
        else:
            raise ValueError(f"InvertedResidual: unexpected layer {type(m).__name__}")
    return items


def plan_block(layers: nn.Sequential) -> BlockPlan:
    """Recognizes [pw expand]? dw [SE]? pw project(linear); ValueError otherwise."""
    items = _stages(layers)

    def take(pred):
        if items and pred(items[0]):
            return items.pop(0)
        return None

    def is_kind(kind):
        return lambda s: isinstance(s, Stage) and conv_kind(s.conv) == kind

    expand = take(is_kind("pointwise"))
    dw = take(is_kind("depthwise"))
    se = take(lambda s: isinstance(s, SqueezeExcite))
    project = take(lambda s: is_kind("pointwise")(s) and s.activation == Activation.IDENTITY)
    if dw is None or project is None or items:
        raise ValueError("InvertedResidual: layers are not [pw]? dw [se]? pw(linear)")
    if dw.conv.dilation[0] != 1:
        raise ValueError("InvertedResidual: dilated depthwise is not fused")
    return BlockPlan(expand, dw, se, project)


class InvertedResidual(FusedModule):
    def __init__(self, layers: nn.Sequential, use_residual: bool, layers_name: str = "block"):
        super().__init__()
        self._plan = plan_block(layers)
        self._plan_key = self._children_key(layers)
        self._layers_name = layers_name
        self.add_module(layers_name, layers)
        self.use_res_connect = bool(use_residual)
        for m in layers:
            if isinstance(m, ConvBNAct):
                m.pack_on_eval = False
        p = self._plan
        if self.use_res_connect and (p.dw.conv.stride[0] != 1 or
                                     p.project.conv.out_channels != self.in_channels):
            raise ValueError("InvertedResidual: a residual needs stride 1 and out == in channels")

    @classmethod
    def build(cls, in_channels: int, out_channels: int, expanded_channels: int, kernel_size: int = 3,
              stride: int = 1, activation="relu6", se_channels: int | None = None,
              se_activation="relu", se_gate="hardsigmoid", bn_eps: float = 1e-5,
              bn_momentum: float = 0.1, project_as_pair: bool = False,
              layers_name: str = "block") -> "InvertedResidual":
        """From sizes. project_as_pair=True lays the projection out as bare Conv2d +
        BatchNorm2d (torchvision's MobileNetV2); otherwise as a ConvBNAct (its V3)."""
        bn = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        layers = []
        if expanded_channels != in_channels:
            layers.append(ConvBNAct.build(in_channels, expanded_channels, 1, activation=activation, **bn))
        layers.append(ConvBNAct.build(expanded_channels, expanded_channels, kernel_size, stride,
                                      groups=expanded_channels, activation=activation, **bn))
        if se_channels:
            layers.append(SqueezeExcite(expanded_channels, se_channels, se_activation, se_gate))
        if project_as_pair:
            layers += [nn.Conv2d(expanded_channels, out_channels, 1, bias=False),
                       nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)]
        else:
            layers.append(ConvBNAct.build(expanded_channels, out_channels, 1, activation="identity", **bn))
        residual = stride == 1 and in_channels == out_channels
        return cls(nn.Sequential(*layers), residual, layers_name)

    @staticmethod
    def _children_key(layers: nn.Sequential) -> tuple:
        """Identity of the layers and their direct children (conv, bn, act, SE FCs): two
        dict walks, not modules() (which cost ~20 us per block per call)."""
        key = []
        for m in layers._modules.values():
            key.append(id(m))
            key.extend(map(id, m._modules.values()))
        return tuple(key)

    def current_plan(self) -> BlockPlan:
        """The plan for the layers as they are now: re-derived (and repacked) when a
        layer was replaced after construction."""
        key = self._children_key(self.sequence())
        if key != self._plan_key:
            self._plan = plan_block(self.sequence())
            self._plan_key = key
            self._pack_keys.clear()
        return self._plan

    def sequence(self) -> nn.Sequential:
        """The wrapped Sequential (registered under layers_name, e.g. 'block' or 'conv')."""
        return self._modules[self._layers_name]

    @property
    def in_channels(self) -> int:
        p = self.current_plan()
        return (p.expand or p.dw).conv.in_channels

    def _stage_packed(self, name: str, stage: Stage) -> torch.Tensor:
        pack = ops.pack_dwconv if stage is self._plan.dw else ops.pack_conv
        return self.cached_pack(name, source_tensors(stage.conv, stage.bn),
                           lambda: pack(*fold_bn(stage.conv, stage.bn)))

    def packed_weights(self):
        p = self.current_plan()
        expand = self._stage_packed("expand_packed", p.expand) if p.expand else None
        dw = self._stage_packed("dw_packed", p.dw)
        fc1, fc2 = p.se.packed_fcs() if p.se is not None else (None, None)
        project = self._stage_packed("project_packed", p.project)
        return expand, dw, fc1, fc2, project

    def refresh_packed(self) -> None:
        self._pack_keys.clear()
        self.packed_weights()

    def network_layers(self) -> list[Layer] | None:
        """The block as one ops.network Layer (None where it must run as a module)."""
        if run_unfused(self) or self._forward_hooks or self._forward_pre_hooks:
            return None
        return [self._layer()]

    def _layer(self) -> Layer:
        expand, dw, fc1, fc2, project = self.packed_weights()
        p = self._plan
        se_act = p.se.act_code if p.se is not None else 0
        se_gate = p.se.gate_code if p.se is not None else 0
        return Layer("inverted_residual", (
            expand, int(p.expand.activation) if p.expand else 0, dw, p.dw.conv.kernel_size[0],
            p.dw.conv.stride[0], conv_padding4(p.dw.conv), int(p.dw.activation), fc1, fc2,
            se_act, se_gate, project, self.use_res_connect))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if run_unfused(self):
            y = self.sequence()(x)
            return x + y if self.use_res_connect else y
        return ops.inverted_residual(x, *self._layer().args)

    def extra_repr(self) -> str:
        p = self._plan
        return (f"expand={p.expand is not None}, kernel={p.dw.conv.kernel_size[0]}, "
                f"stride={p.dw.conv.stride[0]}, se={p.se is not None}, residual={self.use_res_connect}")
