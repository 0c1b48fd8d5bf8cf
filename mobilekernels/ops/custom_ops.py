"""torch.library custom ops: the functional API of mobilekernels.

Each op validates its arguments (checks.py), then asks dispatch.select for the backend's
implementation. Fake impls give torch.compile / export the output's shape and
channels-last strides without running anything.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import checks, dispatch, packing


def _empty_channels_last(x: Tensor, shape) -> Tensor:
    n, c, h, w = shape
    return x.new_empty_strided(shape, (h * w * c, 1, w * c, c))


@torch.library.custom_op("mobilekernels::dwconv_bn_act", mutates_args=())
def dwconv_bn_act(x: Tensor, packed: Tensor, kernel_size: int, stride: int, padding: list[int],
                  dilation: int, activation: int) -> Tensor:
    """Depthwise conv (BN folded into packed) + activation. padding = [top, left, bottom, right]."""
    checks.dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation)
    impl = dispatch.select("dwconv_bn_act", x)
    return impl(x, packed, kernel_size, stride, padding, dilation, activation)


@dwconv_bn_act.register_fake
def _(x, packed, kernel_size, stride, padding, dilation, activation):
    return _empty_channels_last(
        x, checks.dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation))


@torch.library.custom_op("mobilekernels::conv_bn_act", mutates_args=())
def conv_bn_act(x: Tensor, packed: Tensor, kernel_size: int, stride: int, padding: list[int],
                activation: int) -> Tensor:
    """Dense (groups=1) k x k conv + folded BN + activation, e.g. the stem conv."""
    checks.conv_bn_act(x, packed, kernel_size, stride, padding, activation)
    return dispatch.select("conv_bn_act", x)(x, packed, kernel_size, stride, padding, activation)


@conv_bn_act.register_fake
def _(x, packed, kernel_size, stride, padding, activation):
    return _empty_channels_last(x, checks.conv_bn_act(x, packed, kernel_size, stride, padding, activation))


@torch.library.custom_op("mobilekernels::pwconv_bn_act", mutates_args=())
def pwconv_bn_act(x: Tensor, packed: Tensor, activation: int, residual: Optional[Tensor]) -> Tensor:
    """1x1 conv = GEMM + bias + activation, then + residual when given."""
    checks.pwconv_bn_act(x, packed, activation, residual)
    return dispatch.select("pwconv_bn_act", x)(x, packed, activation, residual)


@pwconv_bn_act.register_fake
def _(x, packed, activation, residual):
    return _empty_channels_last(x, checks.pwconv_bn_act(x, packed, activation, residual))


@torch.library.custom_op("mobilekernels::global_avgpool", mutates_args=())
def global_avgpool(x: Tensor) -> Tensor:
    """Mean over H and W, kept as [N, C, 1, 1]."""
    checks.global_avgpool(x)
    return dispatch.select("global_avgpool", x)(x)


@global_avgpool.register_fake
def _(x):
    return _empty_channels_last(x, checks.global_avgpool(x))


@torch.library.custom_op("mobilekernels::squeeze_excite", mutates_args=())
def squeeze_excite(x: Tensor, fc1: Tensor, fc2: Tensor, activation: int, gate: int) -> Tensor:
    """x * gate(fc2(activation(fc1(mean_hw(x))))); fc1/fc2 packed by pack_conv."""
    checks.squeeze_excite(x, fc1, fc2, activation, gate)
    return dispatch.select("squeeze_excite", x)(x, fc1, fc2, activation, gate)


@squeeze_excite.register_fake
def _(x, fc1, fc2, activation, gate):
    return _empty_channels_last(x, checks.squeeze_excite(x, fc1, fc2, activation, gate))


@torch.library.custom_op("mobilekernels::inverted_residual", mutates_args=())
def inverted_residual(x: Tensor, expand: Optional[Tensor], expand_activation: int, dw: Tensor,
                      kernel_size: int, stride: int, padding: list[int], dw_activation: int,
                      se_fc1: Optional[Tensor], se_fc2: Optional[Tensor], se_activation: int,
                      se_gate: int, project: Tensor, residual: bool) -> Tensor:
    """expand 1x1 (optional) -> depthwise -> SE (optional) -> project 1x1 (linear) [+ x]."""
    args = (x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
            se_fc1, se_fc2, se_activation, se_gate, project, residual)
    checks.inverted_residual(*args)
    return dispatch.select("inverted_residual", x)(*args)


@inverted_residual.register_fake
def _(*args):
    return _empty_channels_last(args[0], checks.inverted_residual(*args))


@torch.library.custom_op("mobilekernels::pack_conv", mutates_args=())
def pack_conv(weight: Tensor, bias: Tensor) -> Tensor:
    """[Cout, Cin, k, k] + [Cout] -> [k*k*Cin + 1, Cout] (see packing.py)."""
    checks.pack_conv(weight, bias)
    return packing.pack_conv(weight, bias)


@pack_conv.register_fake
def _(weight, bias):
    return weight.new_empty(checks.pack_conv(weight, bias))


@torch.library.custom_op("mobilekernels::pack_dwconv", mutates_args=())
def pack_dwconv(weight: Tensor, bias: Tensor) -> Tensor:
    """[C, 1, k, k] + [C] -> [k*k + 1, C] (see packing.py)."""
    checks.pack_dwconv(weight, bias)
    return packing.pack_dwconv(weight, bias)


@pack_dwconv.register_fake
def _(weight, bias):
    return weight.new_empty(checks.pack_dwconv(weight, bias))
