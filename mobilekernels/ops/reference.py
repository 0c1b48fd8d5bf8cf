"""Pure-PyTorch oracle for every op: same signatures as the custom ops, computes in
x's dtype (pass float64 tensors for the test oracle), returns channels-last tensors.
It is also the fallback backend wherever no kernel exists.
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from ..activation import Activation, apply_activation
from . import packing


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """t with exactly the strides torch.empty(..., memory_format=channels_last) has."""
    n, c, h, w = t.shape
    want = (h * w * c, 1, w * c, c)
    if t.stride() == want:
        return t
    return torch.empty_strided(t.shape, want, dtype=t.dtype, device=t.device).copy_(t)


def _pad(x, padding):
    top, left, bottom, right = padding
    return F.pad(x, (left, right, top, bottom)) if any(padding) else x


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation):
    w, b = packing.unpack_dwconv(packed, kernel_size)
    y = F.conv2d(_pad(x, padding), w, b, stride=stride, dilation=dilation, groups=x.shape[1])
    return channels_last(apply_activation(y, activation))


def conv_bn_act(x, packed, kernel_size, stride, padding, activation):
    w, b = packing.unpack_conv(packed, kernel_size, x.shape[1])
    y = F.conv2d(_pad(x, padding), w, b, stride=stride)
    return channels_last(apply_activation(y, activation))


def pwconv_bn_act(x, packed, activation, residual=None):
    w, b = packing.unpack_conv(packed, 1, x.shape[1])
    y = apply_activation(F.conv2d(x, w, b), activation)
    if residual is not None:
        y = y + residual
    return channels_last(y)


def global_avgpool(x):
    return channels_last(x.mean(dim=(2, 3), keepdim=True))


def _linear(v, packed):
    return v @ packed[:-1] + packed[-1]


def squeeze_excite(x, fc1, fc2, activation, gate):
    pooled = x.mean(dim=(2, 3))
    scale = apply_activation(_linear(apply_activation(_linear(pooled, fc1), activation), fc2), gate)
    return channels_last(x * scale[:, :, None, None])


def compose_inverted_residual(impl, x, expand, expand_activation, dw, kernel_size, stride, padding,
                              dw_activation, se_fc1, se_fc2, se_activation, se_gate, project, residual):
    """The block as a sequence of per-op calls on `impl` (a backend module with
    pwconv_bn_act, dwconv_bn_act and squeeze_excite): the reference, and any backend
    without a fused block kernel, compute it this way."""
    h = x if expand is None else impl.pwconv_bn_act(x, expand, expand_activation)
    h = impl.dwconv_bn_act(h, dw, kernel_size, stride, padding, 1, dw_activation)
    if se_fc1 is not None:
        h = impl.squeeze_excite(h, se_fc1, se_fc2, se_activation, se_gate)
    return impl.pwconv_bn_act(h, project, Activation.IDENTITY, x if residual else None)


def inverted_residual(*args):
    return compose_inverted_residual(sys.modules[__name__], *args)
