"""CPU backend: thin bridges from torch tensors to the C++ extension (float32, NHWC).

Tensors go to C++ as zero-copy numpy views of their NHWC memory; outputs are allocated
here as channels-last torch tensors. Ops without a C++ kernel yet are absent from this
module and dispatch falls back to the reference.
"""
from __future__ import annotations

import torch

from .. import _ext

# Tests set this to fill every output with NaN before the kernel runs, so an element
# the kernel forgets to write fails the comparison.
POISON_OUTPUTS = False


def _nhwc(t: torch.Tensor):
    return t.detach().contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).numpy()


def _new_output(shape, like: torch.Tensor) -> torch.Tensor:
    y = torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=torch.channels_last)
    if POISON_OUTPUTS:
        y.fill_(float("nan"))
    return y


def _out_size(size, k, stride, before, after, dilation):
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation, isa="auto"):
    # Arguments were validated by the op (checks.py); the extension re-checks every size.
    n, c, h, w = x.shape
    top, left, bottom, right = padding
    shape = (n, c, _out_size(h, kernel_size, stride, top, bottom, dilation),
             _out_size(w, kernel_size, stride, left, right, dilation))
    y = _new_output(shape, x)
    _ext._C.dwconv_bn_act(
        _nhwc(x), packed.detach().contiguous().numpy(), y.permute(0, 2, 3, 1).numpy(),
        kernel_size, kernel_size, stride, stride, list(padding), dilation, dilation, int(activation), isa)
    return y


def _rows(t: torch.Tensor):
    """[N, C, H, W] tensor -> zero-copy [N*H*W, C] numpy view of its NHWC memory."""
    n, c, h, w = t.shape
    return _nhwc(t).reshape(n * h * w, c)


def _out_rows(y: torch.Tensor):
    """A fresh channels-last output as a [N*H*W, C] view (.view: never a silent copy)."""
    return y.permute(0, 2, 3, 1).view(-1, y.shape[1]).numpy()


def pwconv_bn_act(x, packed, activation, residual=None, isa="auto"):
    n, _, h, w = x.shape
    y = _new_output((n, packed.shape[1], h, w), x)
    _ext._C.pwconv_bn_act(_rows(x), packed.detach().contiguous().numpy(), _out_rows(y), int(activation),
                          None if residual is None else _rows(residual), isa)
    return y


def inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding,
                      dw_activation, se_fc1, se_fc2, se_activation, se_gate, project, residual):
    """Block from the per-op kernels (the single-pass fused kernel is the next step);
    squeeze-excite runs on the reference until its kernel lands."""
    from . import reference
    h = x if expand is None else pwconv_bn_act(x, expand, expand_activation)
    h = dwconv_bn_act(h, dw, kernel_size, stride, padding, 1, dw_activation)
    if se_fc1 is not None:
        h = reference.squeeze_excite(h, se_fc1, se_fc2, se_activation, se_gate)
    return pwconv_bn_act(h, project, 0, x if residual else None)
