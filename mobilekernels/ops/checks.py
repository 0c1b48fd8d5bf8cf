"""Argument validation for every op, run before any kernel (and by the fake impls).

Every failure is a ValueError/TypeError that names the argument. Each check returns
the output shape so the real and fake implementations agree on it by construction.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..activation import Activation

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
DWCONV_KERNEL_SIZES = (3, 5)
DWCONV_DILATIONS = (1, 2, 3, 4)
CONV_KERNEL_SIZES = (1, 3, 5, 7)
STRIDES = (1, 2)


def _fail(op: str, msg: str, exc=ValueError):
    raise exc(f"{op}: {msg}")


def check_tensor(op: str, t, name: str, ndim: int | None = None) -> None:
    if not isinstance(t, torch.Tensor):
        _fail(op, f"{name} must be a torch.Tensor, got {type(t).__name__}", TypeError)
    if t.dtype not in FLOAT_DTYPES:
        _fail(op, f"{name} must be float32, float16, bfloat16 or float64, got {t.dtype}", TypeError)
    if ndim is not None and t.dim() != ndim:
        _fail(op, f"{name} must be {ndim}-d, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        _fail(op, f"{name} is empty (shape {tuple(t.shape)})")


def check_like(op: str, t, name: str, x: torch.Tensor, shape: Sequence[int]) -> None:
    """t must be a tensor on x's device with x's dtype and exactly this shape."""
    check_tensor(op, t, name)
    if t.device != x.device:
        _fail(op, f"{name} is on {t.device} but x is on {x.device}")
    if t.dtype != x.dtype:
        _fail(op, f"{name} has dtype {t.dtype} but x has {x.dtype}", TypeError)
    if tuple(t.shape) != tuple(shape):
        _fail(op, f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")


_ACTIVATION_CODES = frozenset(int(a) for a in Activation)


# Each check first tries the common case with exact type tests (`type(x) is int` also
# rules out bool): these run on every op call, and the isinstance chains (an ABC check for
# Sequence, ~26 isinstance calls per depthwise call) cost ~4 us of its ~37 us in Python.
def check_activation(op: str, act, name: str = "activation") -> None:
    if type(act) is int and act in _ACTIVATION_CODES:
        return
    if isinstance(act, bool) or not isinstance(act, int) or act not in _ACTIVATION_CODES:
        _fail(op, f"{name} must be an Activation code 0..{len(Activation) - 1}, got {act!r}")


def check_choice(op: str, value, name: str, allowed: Sequence[int]) -> None:
    if type(value) is int and value in allowed:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        _fail(op, f"{name} must be one of {tuple(allowed)}, got {value!r}")


def check_padding(op: str, padding) -> tuple[int, int, int, int]:
    if type(padding) in (list, tuple) and len(padding) == 4:
        t, l, b, r = padding
        if type(t) is int and type(l) is int and type(b) is int and type(r) is int and min(t, l, b, r) >= 0:
            return (t, l, b, r)
    if (not isinstance(padding, Sequence) or len(padding) != 4
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in padding)):
        _fail(op, f"padding must be 4 ints (top, left, bottom, right), got {padding!r}")
    if any(p < 0 for p in padding):
        _fail(op, f"padding must be >= 0, got {tuple(padding)}")
    return tuple(padding)


def out_extent(size: int, k: int, stride: int, before: int, after: int, dilation: int = 1) -> int:
    """Output length of a convolution along one axis (arguments already validated)."""
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def out_hw(x, k: int, stride: int, padding, dilation: int = 1) -> tuple[int, int]:
    """(Ho, Wo) for an [N, C, H, W] input and padding (top, left, bottom, right)."""
    top, left, bottom, right = padding
    return (out_extent(x.shape[2], k, stride, top, bottom, dilation),
            out_extent(x.shape[3], k, stride, left, right, dilation))


def conv_out_size(op: str, size: int, k: int, stride: int, before: int, after: int,
                  dilation: int, axis: str) -> int:
    span = dilation * (k - 1) + 1
    if size + before + after < span:
        _fail(op, f"input {axis} {size} + padding ({before}, {after}) is smaller than the "
                  f"kernel's extent {span}")
    return out_extent(size, k, stride, before, after, dilation)


def _spatial_out(op, x, k, stride, padding, dilation=1):
    top, left, bottom, right = padding
    n, c, h, w = x.shape
    return (n, c, conv_out_size(op, h, k, stride, top, bottom, dilation, "height"),
            conv_out_size(op, w, k, stride, left, right, dilation, "width"))


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation):
    op = "dwconv_bn_act"
    check_tensor(op, x, "x", 4)
    check_choice(op, kernel_size, "kernel_size", DWCONV_KERNEL_SIZES)
    check_choice(op, stride, "stride", STRIDES)
    check_choice(op, dilation, "dilation", DWCONV_DILATIONS)
    padding = check_padding(op, padding)
    check_activation(op, activation)
    check_like(op, packed, "packed", x, (kernel_size * kernel_size + 1, x.shape[1]))
    return _spatial_out(op, x, kernel_size, stride, padding, dilation)


def conv_bn_act(x, packed, kernel_size, stride, padding, activation):
    op = "conv_bn_act"
    check_tensor(op, x, "x", 4)
    check_choice(op, kernel_size, "kernel_size", CONV_KERNEL_SIZES)
    check_choice(op, stride, "stride", STRIDES)
    padding = check_padding(op, padding)
    check_activation(op, activation)
    check_tensor(op, packed, "packed", 2)
    rows = kernel_size * kernel_size * x.shape[1] + 1
    check_like(op, packed, "packed", x, (rows, packed.shape[1]))
    n, _, ho, wo = _spatial_out(op, x, kernel_size, stride, padding)
    return (n, packed.shape[1], ho, wo)


def pwconv_bn_act(x, packed, activation, residual):
    op = "pwconv_bn_act"
    check_tensor(op, x, "x", 4)
    check_activation(op, activation)
    check_tensor(op, packed, "packed", 2)
    check_like(op, packed, "packed", x, (x.shape[1] + 1, packed.shape[1]))
    out = (x.shape[0], packed.shape[1], x.shape[2], x.shape[3])
    if residual is not None:
        check_like(op, residual, "residual", x, out)
    return out


def global_avgpool(x):
    check_tensor("global_avgpool", x, "x", 4)
    return (x.shape[0], x.shape[1], 1, 1)


def squeeze_excite(x, fc1, fc2, activation, gate):
    op = "squeeze_excite"
    check_tensor(op, x, "x", 4)
    check_activation(op, activation)
    check_activation(op, gate, "gate")
    check_tensor(op, fc1, "fc1", 2)
    check_like(op, fc1, "fc1", x, (x.shape[1] + 1, fc1.shape[1]))
    check_like(op, fc2, "fc2", x, (fc1.shape[1] + 1, x.shape[1]))
    return tuple(x.shape)


def inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding,
                      dw_activation, se_fc1, se_fc2, se_activation, se_gate, project, residual):
    op = "inverted_residual"
    check_tensor(op, x, "x", 4)
    if expand is not None:
        check_tensor(op, expand, "expand", 2)
        check_like(op, expand, "expand", x, (x.shape[1] + 1, expand.shape[1]))
        check_activation(op, expand_activation, "expand_activation")
        hidden = expand.shape[1]
    else:
        hidden = x.shape[1]
    check_choice(op, kernel_size, "kernel_size", DWCONV_KERNEL_SIZES)
    check_choice(op, stride, "stride", STRIDES)
    padding = check_padding(op, padding)
    check_activation(op, dw_activation, "dw_activation")
    check_like(op, dw, "dw", x, (kernel_size * kernel_size + 1, hidden))
    if (se_fc1 is None) != (se_fc2 is None):
        _fail(op, "se_fc1 and se_fc2 must be given together")
    if se_fc1 is not None:
        check_tensor(op, se_fc1, "se_fc1", 2)
        check_like(op, se_fc1, "se_fc1", x, (hidden + 1, se_fc1.shape[1]))
        check_like(op, se_fc2, "se_fc2", x, (se_fc1.shape[1] + 1, hidden))
        check_activation(op, se_activation, "se_activation")
        check_activation(op, se_gate, "se_gate")
    check_tensor(op, project, "project", 2)
    check_like(op, project, "project", x, (hidden + 1, project.shape[1]))
    n, _, ho, wo = _spatial_out(op, x, kernel_size, stride, padding)
    out = (n, project.shape[1], ho, wo)
    if not isinstance(residual, bool):
        _fail(op, f"residual must be a bool, got {residual!r}", TypeError)
    if residual and out != tuple(x.shape):
        _fail(op, f"residual=True needs the output shape {out} to equal the input shape "
                  f"{tuple(x.shape)} (stride 1, same channels)")
    return out


def pack_conv(weight, bias):
    op = "pack_conv"
    check_tensor(op, weight, "weight", 4)
    check_tensor(op, bias, "bias", 1)
    if weight.shape[2] != weight.shape[3]:
        _fail(op, f"only square kernels are supported, got {tuple(weight.shape[2:])}")
    check_like(op, bias, "bias", weight, (weight.shape[0],))
    k = weight.shape[2]
    return (k * k * weight.shape[1] + 1, weight.shape[0])


def pack_dwconv(weight, bias):
    op = "pack_dwconv"
    check_tensor(op, weight, "weight", 4)
    check_tensor(op, bias, "bias", 1)
    if weight.shape[1] != 1:
        _fail(op, f"weight must be depthwise [C, 1, k, k], got {tuple(weight.shape)}")
    if weight.shape[2] != weight.shape[3]:
        _fail(op, f"only square kernels are supported, got {tuple(weight.shape[2:])}")
    check_like(op, bias, "bias", weight, (weight.shape[0],))
    k = weight.shape[2]
    return (k * k + 1, weight.shape[0])
