"""Dense k x k conv (groups = 1) + bias + activation in Triton, for the 3-channel stem:
each program computes BLOCK_W pixels x BLOCK_N output channels of one output row as a sum
of k*k*Cin outer products (the packed [k*k*Cin + 1, Cout] rows are contiguous in Cout)."""
import torch
import triton
import triton.language as tl

from ..ops.checks import out_hw
from .activation import apply_activation


@triton.jit
def _conv_kernel(x_ptr, w_ptr, y_ptr, H, W, Ho, Wo, Cout, stride, pad_t, pad_l,
                 CIN: tl.constexpr, K: tl.constexpr, ACT: tl.constexpr,
                 BLOCK_W: tl.constexpr, BLOCK_N: tl.constexpr):
    row = tl.program_id(0)
    n = row // Ho
    oy = row % Ho
    ox = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    co = tl.program_id(2) * BLOCK_N + tl.arange(0, BLOCK_N)
    w_ok = ox < Wo
    n_ok = co < Cout
    bias = tl.load(w_ptr + K * K * CIN * Cout + co, mask=n_ok, other=0.0).to(tl.float32)
    acc = tl.zeros((BLOCK_W, BLOCK_N), dtype=tl.float32) + bias[None, :]
    for ky in tl.static_range(K):
        iy = oy * stride - pad_t + ky
        for kx in tl.static_range(K):
            ix = ox * stride - pad_l + kx
            ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W) & w_ok
            pix = ((n * H + iy) * W + ix).to(tl.int64)
            for ci in tl.static_range(CIN):
                xv = tl.load(x_ptr + pix * CIN + ci, mask=ok, other=0.0).to(tl.float32)
                wv = tl.load(w_ptr + ((ky * K + kx) * CIN + ci) * Cout + co, mask=n_ok, other=0.0).to(tl.float32)
                acc += xv[:, None] * wv[None, :]
    acc = apply_activation(acc, ACT)
    out = ((n * Ho + oy) * Wo + ox).to(tl.int64)
    tl.store(y_ptr + out[:, None] * Cout + co[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=w_ok[:, None] & n_ok[None, :])


def conv_bn_act(x, packed, kernel_size, stride, padding, activation, block_w=32, block_n=32):
    n, cin, h, w = x.shape
    top, left = padding[0], padding[1]
    ho, wo = out_hw(x, kernel_size, stride, padding)
    cout = packed.shape[1]
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.empty((n, cout, ho, wo), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    grid = (n * ho, triton.cdiv(wo, block_w), triton.cdiv(cout, block_n))
    _conv_kernel[grid](x, packed.contiguous(), y, h, w, ho, wo, cout, stride, top, left,
                       CIN=cin, K=kernel_size, ACT=int(activation), BLOCK_W=block_w, BLOCK_N=block_n)
    return y
