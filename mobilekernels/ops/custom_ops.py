"""torch.library custom ops: the functional API of mobilekernels.

Each op validates its arguments (checks.py), then asks dispatch.select for the backend's
implementation. Fake impls give torch.compile / export the output's shape and
channels-last strides without running anything.

The public functions (ops.dwconv_bn_act, ...) call the registered op
(torch.ops.mobilekernels.*) whenever anything may be watching: torch.compile, tracing,
dispatch or function modes, tensor subclasses (fake/functional tensors), or autograd.
In plain eager inference they run the same implementation directly, skipping the
dispatcher's round trip through Python (~90 us a call, measured in bench/NOTES.md), which
at batch 1 costs more than most MobileNet layers take to compute.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor
from torch.utils._python_dispatch import _get_current_dispatch_mode

from . import checks, dispatch, packing


def _plain_eager(args) -> bool:
    if torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None:
        return False
    if torch._C._are_functorch_transforms_active():  # vmap, grad, ...
        return False
    if _get_current_dispatch_mode() is not None or torch._C._is_torch_function_mode_enabled():
        return False
    grad = torch.is_grad_enabled()
    for a in args:
        if isinstance(a, Tensor) and (type(a) is not Tensor or (grad and a.requires_grad)):
            return False
    return True


def _define(name: str, impl, fake):
    """Registers mobilekernels::<name> (schema from impl's annotations) and returns the
    public function: the registered op, or impl itself in plain eager inference."""
    op = torch.library.custom_op(f"mobilekernels::{name}", impl, mutates_args=())
    op.register_fake(fake)

    @functools.wraps(impl)
    def call(*args, **kwargs):
        if not kwargs and _plain_eager(args):
            return impl(*args)
        return op(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.op = op
    return call


def _empty_channels_last(x: Tensor, shape) -> Tensor:
    n, c, h, w = shape
    return x.new_empty_strided(shape, (h * w * c, 1, w * c, c))


def _dwconv_bn_act(x: Tensor, packed: Tensor, kernel_size: int, stride: int, padding: list[int],
                   dilation: int, activation: int) -> Tensor:
    """Depthwise conv (BN folded into packed) + activation. padding = [top, left, bottom, right]."""
    checks.dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation)
    impl = dispatch.select("dwconv_bn_act", x)
    return impl(x, packed, kernel_size, stride, padding, dilation, activation)


dwconv_bn_act = _define("dwconv_bn_act", _dwconv_bn_act, lambda *a: _empty_channels_last(
    a[0], checks.dwconv_bn_act(*a)))


def _conv_bn_act(x: Tensor, packed: Tensor, kernel_size: int, stride: int, padding: list[int],
                 activation: int) -> Tensor:
    """Dense (groups=1) k x k conv + folded BN + activation, e.g. the stem conv."""
    checks.conv_bn_act(x, packed, kernel_size, stride, padding, activation)
    return dispatch.select("conv_bn_act", x)(x, packed, kernel_size, stride, padding, activation)


conv_bn_act = _define("conv_bn_act", _conv_bn_act, lambda *a: _empty_channels_last(
    a[0], checks.conv_bn_act(*a)))


def _pwconv_bn_act(x: Tensor, packed: Tensor, activation: int, residual: Optional[Tensor]) -> Tensor:
    """1x1 conv = GEMM + bias + activation, then + residual when given."""
    checks.pwconv_bn_act(x, packed, activation, residual)
    return dispatch.select("pwconv_bn_act", x)(x, packed, activation, residual)


pwconv_bn_act = _define("pwconv_bn_act", _pwconv_bn_act, lambda *a: _empty_channels_last(
    a[0], checks.pwconv_bn_act(*a)))


def _global_avgpool(x: Tensor) -> Tensor:
    """Mean over H and W, kept as [N, C, 1, 1]."""
    checks.global_avgpool(x)
    return dispatch.select("global_avgpool", x)(x)


global_avgpool = _define("global_avgpool", _global_avgpool, lambda x: _empty_channels_last(
    x, checks.global_avgpool(x)))


def _squeeze_excite(x: Tensor, fc1: Tensor, fc2: Tensor, activation: int, gate: int) -> Tensor:
    """x * gate(fc2(activation(fc1(mean_hw(x))))); fc1/fc2 packed by pack_conv."""
    checks.squeeze_excite(x, fc1, fc2, activation, gate)
    return dispatch.select("squeeze_excite", x)(x, fc1, fc2, activation, gate)


squeeze_excite = _define("squeeze_excite", _squeeze_excite, lambda *a: _empty_channels_last(
    a[0], checks.squeeze_excite(*a)))


def _inverted_residual(x: Tensor, expand: Optional[Tensor], expand_activation: int, dw: Tensor,
                       kernel_size: int, stride: int, padding: list[int], dw_activation: int,
                       se_fc1: Optional[Tensor], se_fc2: Optional[Tensor], se_activation: int,
                       se_gate: int, project: Tensor, residual: bool) -> Tensor:
    """expand 1x1 (optional) -> depthwise -> SE (optional) -> project 1x1 (linear) [+ x]."""
    args = (x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
            se_fc1, se_fc2, se_activation, se_gate, project, residual)
    checks.inverted_residual(*args)
    return dispatch.select("inverted_residual", x)(*args)


inverted_residual = _define("inverted_residual", _inverted_residual, lambda *a: _empty_channels_last(
    a[0], checks.inverted_residual(*a)))


def _pack_conv(weight: Tensor, bias: Tensor) -> Tensor:
    """[Cout, Cin, k, k] + [Cout] -> [k*k*Cin + 1, Cout] (see packing.py)."""
    checks.pack_conv(weight, bias)
    return packing.pack_conv(weight, bias)


pack_conv = _define("pack_conv", _pack_conv, lambda w, b: w.new_empty(checks.pack_conv(w, b)))


def _pack_dwconv(weight: Tensor, bias: Tensor) -> Tensor:
    """[C, 1, k, k] + [C] -> [k*k + 1, C] (see packing.py)."""
    checks.pack_dwconv(weight, bias)
    return packing.pack_dwconv(weight, bias)


pack_dwconv = _define("pack_dwconv", _pack_dwconv, lambda w, b: w.new_empty(checks.pack_dwconv(w, b)))
