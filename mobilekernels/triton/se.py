"""Squeeze-and-excitation on the Triton backend: the standalone op and the inverted-residual
block with SE, fused so that no pass over a full-size tensor exists for the SE itself.

SE block (`inverted_residual_se`), four launches plus a zero-fill:

1. expand 1x1 (if any): the pointwise GEMM (gemm.py), writes E [N, hidden, H, W].
2. depthwise + bias + activation with the global average pool fused into its epilogue
   (dwconv.dwconv_bn_act_pool): writes D [N, hidden, Ho, Wo] once and atomically adds each
   tile's channel sums into a float32 [N, hidden] buffer -- no second read of D for pooling.
3. the two FCs as M = batch GEMMs: FC1 reads the sums and scales them to means on its A-load
   (SCALE_A), FC2 applies the gate activation in its epilogue -> gate [N, hidden].
4. project 1x1 with the gate applied on the A-load (GATED: D[m, k] * gate[m // (Ho*Wo), k],
   rounded to the storage dtype as the unfused path stores it), bias and residual in the
   epilogue: the gated tensor D * gate is never written.

Against the per-op composition (dw, pool, FC, FC, scale, project) this saves one full read of
D (pool) and one full read + write of D (scale): of the ~5 passes over the hidden tensor at
the SE (dw write, pool read, scale read + write, project read) 2 remain. It cannot be one
kernel: the gate depends on ALL of D (a grid-wide reduction) before any of the project can
run.

Determinism: the pooled sums are accumulated with float atomics, so on a GPU their summation
order -- and the last bits of the gate, rarely of the block output -- varies from run to run.
"""
from __future__ import annotations

import torch

from ..activation import Activation
from .dwconv import dwconv_bn_act_pool
from .gemm import _rows, gemm_bias_act, pwconv_bn_act
from .pool import pooled_rows, scale_channels


def excitation(pooled, fc1, fc2, activation, gate, *, inv_count=None, dtype=None):
    """gate [N, C] = gate_act(fc2(act(fc1(mean)))). `pooled` is either the means in the
    storage dtype, or (inv_count given) float32 sums that the first FC scales to means as it
    loads them. Both FCs are M = batch GEMMs."""
    dtype = dtype or pooled.dtype
    hidden = gemm_bias_act(pooled, fc1.to(dtype).contiguous(), activation, block_m=16, block_n=32,
                           a_scale=inv_count, out_dtype=dtype)
    return gemm_bias_act(hidden, fc2.to(dtype).contiguous(), gate, block_m=16, block_n=64, block_k=16)


def squeeze_excite(x, fc1, fc2, activation, gate):
    """Standalone SE: pool (Triton reduction) -> the two FCs -> channel scale (a pass over x,
    needed here because the op's result IS the scaled tensor)."""
    return scale_channels(x, excitation(pooled_rows(x), fc1, fc2, activation, gate))


def inverted_residual_se(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                         se_fc1, se_fc2, se_activation, se_gate, project, residual):
    """The inverted-residual block with SE (module docstring). Same arguments and result as
    reference.inverted_residual with se_fc1 given."""
    n = x.shape[0]
    x = x.contiguous(memory_format=torch.channels_last)
    dtype = x.dtype
    e = x if expand is None else pwconv_bn_act(x, expand.to(dtype).contiguous(), expand_activation)
    d, sums = dwconv_bn_act_pool(e, dw, kernel_size, stride, padding, 1, dw_activation)
    ho, wo = d.shape[2], d.shape[3]
    gate = excitation(sums, se_fc1, se_fc2, se_activation, se_gate, inv_count=1.0 / (ho * wo), dtype=dtype)
    out = gemm_bias_act(_rows(d), project.to(dtype).contiguous(), Activation.IDENTITY,
                        _rows(x) if residual else None, gate=gate, rows_per_gate=ho * wo)
    return out.view(n, ho, wo, -1).permute(0, 3, 1, 2)
