"""ConvBNAct: Conv2d -> BatchNorm2d -> activation as one fused op in eval mode.

Children are named "0" (conv), "1" (bn), then the activation, like torchvision's
Conv2dNormActivation, so state_dict keys are unchanged when one replaces the other.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import ops
from ..activation import Activation, activation_module, activation_of, parse_activation
from ..ops import checks
from ..ops.network import Layer
from .fused import FusedModule, fold_bn, run_unfused, source_tensors


def conv_padding4(conv: nn.Conv2d) -> list[int] | None:
    """[top, left, bottom, right] of a zero-padded conv, or None if not expressible."""
    if conv.padding_mode != "zeros":
        return None
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return [0, 0, 0, 0]
        # 'same' (stride 1 only in torch): torch puts the extra row/col at the bottom/right.
        total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        return [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]
    ph, pw = conv.padding
    return [ph, pw, ph, pw]


def conv_kind(conv: nn.Module) -> str | None:
    """'depthwise', 'pointwise', 'regular', or None when no fused op computes this conv."""
    if type(conv) is not nn.Conv2d or conv_padding4(conv) is None:
        return None
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    if kh != kw or sh != sw or sh not in checks.STRIDES:
        return None
    cin, cout, groups = conv.in_channels, conv.out_channels, conv.groups
    dilation = conv.dilation[0]
    if conv.dilation[0] != conv.dilation[1]:
        return None
    if groups == cin == cout and kh in checks.DWCONV_KERNEL_SIZES and dilation in checks.DWCONV_DILATIONS:
        return "depthwise"
    if groups != 1 or dilation != 1:
        return None
    if kh == 1 and sh == 1 and conv_padding4(conv) == [0, 0, 0, 0]:
        return "pointwise"
    if kh in checks.CONV_KERNEL_SIZES:
        return "regular"
    return None


class ConvBNAct(FusedModule):
    """A conv (regular, depthwise or pointwise) with its BatchNorm and activation.

    Training mode runs conv -> BatchNorm (batch statistics) -> activation, so fine-tuning
    works; eval mode folds BN into the conv and runs one fused op on channels-last data.
    """

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None,
                 activation: nn.Module | None = None):
        super().__init__()
        kind = conv_kind(conv)
        if kind is None:
            raise ValueError(f"ConvBNAct: no fused op for {conv}")
        act = activation_of(activation)
        if act is None:
            raise ValueError(f"ConvBNAct: unsupported activation {activation}")
        if bn is not None and (type(bn) is not nn.BatchNorm2d or bn.num_features != conv.out_channels
                               or not bn.track_running_stats):
            raise ValueError(f"ConvBNAct: {bn} does not match {conv}")
        self.kind = kind
        self.activation = act
        self.add_module("0", conv)
        if bn is not None:
            self.add_module("1", bn)
        self.add_module(str(len(self._modules)), activation if activation is not None else nn.Identity())
        self._has_bn = bn is not None

    @classmethod
    def build(cls, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
              groups: int = 1, activation="relu", dilation: int = 1, bn_eps: float = 1e-5,
              bn_momentum: float = 0.1) -> "ConvBNAct":
        """From sizes; padding keeps 'same' geometry ((k - 1) // 2 * dilation)."""
        padding = (kernel_size - 1) // 2 * dilation
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                         dilation=dilation, groups=groups, bias=False)
        bn = nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)
        return cls(conv, bn, activation_module(parse_activation(activation)))

    @property
    def conv(self) -> nn.Conv2d:
        return self._modules["0"]

    @property
    def bn(self) -> nn.BatchNorm2d | None:
        return self._modules["1"] if self._has_bn else None

    @property
    def act(self) -> nn.Module:
        return self._modules[str(len(self._modules) - 1)]

    def _pack(self) -> torch.Tensor:
        w, b = fold_bn(self.conv, self.bn)
        return ops.pack_dwconv(w, b) if self.kind == "depthwise" else ops.pack_conv(w, b)

    def packed_weight(self) -> torch.Tensor:
        return self.cached_pack("weight_packed", source_tensors(self.conv, self.bn), self._pack)

    def refresh_packed(self) -> None:
        self._pack_keys.clear()
        self.packed_weight()

    def network_layers(self) -> list[Layer] | None:
        """This layer as an ops.network Layer (None where it must run as a module: training,
        unfused, or hooked)."""
        if run_unfused(self) or self._forward_hooks or self._forward_pre_hooks:
            return None
        return [self._layer(None)]

    def _layer(self, residual: torch.Tensor | None) -> Layer:
        packed = self.packed_weight()
        conv = self.conv
        if self.kind == "pointwise":
            return Layer("pwconv_bn_act", (packed, int(self.activation), residual))
        if residual is not None:
            raise ValueError("ConvBNAct: a residual is only fused into pointwise convs")
        pad = conv_padding4(conv)
        if self.kind == "depthwise":
            return Layer("dwconv_bn_act", (packed, conv.kernel_size[0], conv.stride[0], pad,
                                           conv.dilation[0], int(self.activation)))
        return Layer("conv_bn_act", (packed, conv.kernel_size[0], conv.stride[0], pad, int(self.activation)))

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if run_unfused(self):
            y = self.act(self.bn(self.conv(x)) if self._has_bn else self.conv(x))
            return y if residual is None else y + residual
        layer = self._layer(residual)
        return getattr(ops, layer.op)(x, *layer.args)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, activation={Activation(self.activation).name.lower()}"
