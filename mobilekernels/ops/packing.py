"""Packed weight layouts (plain tensors), shared by every backend.

- conv / pointwise: [k*k*Cin + 1, Cout]; row (ky*k + kx)*Cin + ci holds w[:, ci, ky, kx]
  (the GEMM B matrix of an NHWC im2col), the last row is the bias.
- depthwise: [k*k + 1, C]; row ky*k + kx holds w[:, 0, ky, kx] (one contiguous C vector
  per tap: coalesced on GPU, vector loads on CPU), the last row is the bias.
"""
from __future__ import annotations

import torch


def pack_conv(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    cout = weight.shape[0]
    taps = weight.permute(2, 3, 1, 0).reshape(-1, cout)
    return torch.cat([taps, bias.reshape(1, cout)], 0).contiguous()


def unpack_conv(packed: torch.Tensor, kernel_size: int, cin: int):
    cout = packed.shape[1]
    w = packed[:-1].reshape(kernel_size, kernel_size, cin, cout).permute(3, 2, 0, 1)
    return w, packed[-1]


def pack_dwconv(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    c = weight.shape[0]
    taps = weight.reshape(c, -1).t()
    return torch.cat([taps, bias.reshape(1, c)], 0).contiguous()


def unpack_dwconv(packed: torch.Tensor, kernel_size: int):
    c = packed.shape[1]
    w = packed[:-1].t().reshape(c, 1, kernel_size, kernel_size)
    return w, packed[-1]
