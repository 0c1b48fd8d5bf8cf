"""CPU backend: thin bridges from torch tensors to the C++ extension (float32, NHWC).

Tensors go to C++ as zero-copy numpy views of their NHWC memory; outputs are allocated
here as channels-last torch tensors. Ops without a C++ kernel yet are absent from this
module and dispatch falls back to the reference.
"""
from __future__ import annotations

import torch

from .. import _ext
from . import checks

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


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation, isa="auto"):
    y = _new_output(checks.dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation), x)
    _ext._C.dwconv_bn_act(
        _nhwc(x), packed.detach().contiguous().numpy(), y.permute(0, 2, 3, 1).numpy(),
        kernel_size, kernel_size, stride, stride, list(padding), dilation, dilation, int(activation), isa)
    return y
