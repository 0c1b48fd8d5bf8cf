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
