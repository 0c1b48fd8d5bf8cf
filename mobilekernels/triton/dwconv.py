"""Depthwise conv + bias + activation in Triton (NHWC / channels-last).

One program = one output row of one image x BLOCK_W pixels x BLOCK_C channels: loads are
contiguous along C (coalesced), weights come as [k*k + 1, C] rows (packing.py), float32
accumulation whatever the input dtype. Halo reuse across output rows is the next step
(bench/NOTES.md).
"""
import torch
import triton
import triton.language as tl

from ..ops.checks import out_hw
from .activation import apply_activation


@triton.jit
def _dwconv_kernel(x_ptr, w_ptr, y_ptr, H, W, C, Ho, Wo, stride, pad_t, pad_l, dil,
                   K: tl.constexpr, ACT: tl.constexpr, BLOCK_W: tl.constexpr, BLOCK_C: tl.constexpr):
    row = tl.program_id(0)
    n = row // Ho
    oy = row % Ho
    ox = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    w_ok = ox < Wo
    bias = tl.load(w_ptr + K * K * C + c, mask=c_ok, other=0.0).to(tl.float32)
    acc = tl.zeros((BLOCK_W, BLOCK_C), dtype=tl.float32) + bias[None, :]
    for ky in tl.static_range(K):
        iy = oy * stride - pad_t + ky * dil
        row_ok = (iy >= 0) & (iy < H)
        for kx in tl.static_range(K):
            ix = ox * stride - pad_l + kx * dil
            ok = row_ok & (ix >= 0) & (ix < W) & w_ok
            pix = ((n * H + iy) * W + ix).to(tl.int64)
            xv = tl.load(x_ptr + pix[:, None] * C + c[None, :], mask=ok[:, None] & c_ok[None, :], other=0.0)
            wv = tl.load(w_ptr + (ky * K + kx) * C + c, mask=c_ok, other=0.0)
            acc += xv.to(tl.float32) * wv.to(tl.float32)[None, :]
    acc = apply_activation(acc, ACT)
    out = ((n * Ho + oy) * Wo + ox).to(tl.int64)
    tl.store(y_ptr + out[:, None] * C + c[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=w_ok[:, None] & c_ok[None, :])


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation,
                  block_w: int = 16, block_c: int = 64):
    n, c, h, w = x.shape
    top, left = padding[0], padding[1]
    ho, wo = out_hw(x, kernel_size, stride, padding, dilation)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.empty((n, c, ho, wo), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    grid = (n * ho, triton.cdiv(wo, block_w), triton.cdiv(c, block_c))
    _dwconv_kernel[grid](x, packed.contiguous(), y, h, w, c, ho, wo, stride, top, left, dilation,
                         K=kernel_size, ACT=int(activation), BLOCK_W=block_w, BLOCK_C=block_c)
    return y
