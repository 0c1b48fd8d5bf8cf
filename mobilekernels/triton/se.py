"""Squeeze-and-excitation on the Triton backend: the standalone op and the inverted-residual
block with SE, in the fewest passes the data dependence allows.

The SE gate depends on the pool of the WHOLE depthwise output D [N, hidden, Ho, Wo] (a
grid-wide reduction), and the project needs the gate, so the block cannot be one kernel: it is
two passes over the image around a tiny SE step. In both modes the expanded tensor
E [N, hidden, H, W] (t times wider than x) never reaches global memory: pass 1 is the fused
expand + depthwise kernel of inverted_residual.py in its pooling mode.

SE block (`inverted_residual_se`, `se_mode=`):

- "reload" (default): pass 1 = expand + depthwise + pooled partial sums in one kernel
  (`fused_expand_dw_pool`, store=True), writing D and atomically adding its per-(n, c) channel
  sums into a zeroed float32 [N, hidden] buffer; SE = the two FCs as M = batch GEMMs (FC1
  scales the sums to means on its A-load, FC2 applies the gate activation in its epilogue);
  pass 2 = the project GEMM with the gate applied on its A-load (D[m, k] * gate[m // (Ho*Wo), k],
  rounded to the storage dtype as the unfused path stores it), bias and residual in its
  epilogue. Activation traffic: x read (twice with a residual) + D written once and read once
  + y written.
- "recompute": pass 1 = the same kernel with store=False (only the channel sums leave the
  chip); the same SE step; pass 2 = the fused block kernel again (`fused_inverted_residual`
  with gate=): expand + depthwise recomputed, the gate applied to the depthwise result before
  the project dot, bias + residual in its epilogue. Nothing but x (read twice) and y touch
  memory.

Trade-off: reload moves D -- 1/stride^2 of the expanded tensor, t/stride^2 times x's size --
twice through HBM (write + read: 2 * N*Ho*Wo*hidden elements); recompute reads x once more
instead (2*t/stride^2 times fewer elements) but doubles the expand + depthwise FLOPs (the
fused kernel's: with halo="recompute" the expand is already redone per tap, with "gather" it
runs on the halo, ~1.3-2.6x the unfused expand). Per element of D, reload pays 2 elements of
traffic (4 bytes in fp16), recompute 2*k*k depthwise FLOPs on CUDA cores plus ~2*Cin*(halo
overhead) expand FLOPs on tensor cores. On an H100 (3.35 TB/s, 67 TFLOP/s fp32 FMA) the
depthwise alone at peak takes 0.22x (3x3) / 0.62x (5x5) of the time of those 4 bytes, and the
expand (gather halo) adds 0.15-0.7x at dense fp16 tensor-core peak at stride 1 (Cin 40-160),
0.3-1.7x at stride 2 (the expand runs on 4 input pixels per D element). So at PEAK rates
recompute's extra pass would be the cheaper one at the stride-1 3x3 shapes of v3-large and
about even at 5x5; at the fraction of peak a fused Triton kernel realistically reaches (small
K = Cin dots, gathered taps: well under half) it is the larger cost, and reload is the expected
winner -- clearly at stride 2 (D shrinks by 4) and at small batch (D stays in L2), closest at
80->480->112 3x3. `autotune` measures both per shape; se_mode="auto" (what the dispatcher
passes) takes the winner, else "reload".

Against the per-op composition (expand, dw, pool, FC, FC, scale, project) reload saves the
write + read of E, one read of D (pool) and the read + write of the scaled D; recompute also
the write + read of D.

Determinism: the pooled sums are accumulated with float atomics, so on a GPU their summation
order -- and the last bits of the gate, rarely of the block output -- varies from run to run.
"""
from __future__ import annotations

import torch
import triton

from ..activation import Activation
from ..ops.checks import out_hw
from .gemm import _rows, gemm_bias_act
from .inverted_residual import _shape_key, autotune as autotune_fused, autotune_pool
from .inverted_residual import fused_expand_dw_pool, fused_inverted_residual
from .pool import pooled_rows, scale_channels

SE_MODES = ("reload", "recompute")
_SE_MODE: dict = {}  # autotune's winner per block shape, used by se_mode="auto"


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


def _se_key(x, expand, dw, kernel_size, stride, padding, project, residual):
    return _shape_key(x, expand, dw, kernel_size, stride, padding, project, residual, "se")


def inverted_residual_se(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                         se_fc1, se_fc2, se_activation, se_gate, project, residual, *, se_mode="reload",
                         **knobs):
    """The inverted-residual block with SE (module docstring). Same arguments and result as
    reference.inverted_residual with se_fc1 given. se_mode: "reload" (pass 1 writes the
    depthwise output D, pass 2 = gated project GEMM reading it: D crosses HBM twice) or
    "recompute" (pass 1 writes only the pooled sums, pass 2 = the fused block kernel again
    with the gate: expand + depthwise FLOPs twice, nothing but x and y in memory), or "auto"
    (autotune's winner for this shape, else "reload"). `knobs` (halo, max_lanes, hid_block,
    ...) go to the fused kernels of both passes (default: tuned / DEFAULTS per pass)."""
    n = x.shape[0]
    x = x.contiguous(memory_format=torch.channels_last)
    dtype = x.dtype
    if se_mode == "auto":
        se_mode = _SE_MODE.get(_se_key(x, expand, dw, kernel_size, stride, padding, project, residual), "reload")
    if se_mode not in SE_MODES:
        raise ValueError(f"inverted_residual_se: se_mode must be one of {SE_MODES} or 'auto', got {se_mode!r}")
    reload = se_mode == "reload"
    d, sums = fused_expand_dw_pool(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                                   store=reload, **knobs)
    ho, wo = out_hw(x, kernel_size, stride, padding)
    gate = excitation(sums, se_fc1, se_fc2, se_activation, se_gate, inv_count=1.0 / (ho * wo), dtype=dtype)
    if not reload:
        return fused_inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                                       project, residual, gate=gate, **knobs)
    out = gemm_bias_act(_rows(d), project.to(dtype).contiguous(), Activation.IDENTITY,
                        _rows(x) if residual else None, gate=gate, rows_per_gate=ho * wo)
    return out.view(n, ho, wo, -1).permute(0, 3, 1, 2)


def autotune(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
             se_fc1, se_fc2, se_activation, se_gate, project, residual, configs=None, **bench):
    """GPU (triton.testing.do_bench). Tunes every fused launch of both se_modes over
    `configs` (default inverted_residual.CONFIGS) and caches each per shape: pass 1 with and
    without the depthwise output (autotune_pool), the gated pass 2 of "recompute"
    (inverted_residual.autotune with a gate). Then times the whole block in each mode with
    those configs and remembers the faster one for se_mode="auto" (the dispatcher's).
    Returns (best_mode, {mode: ms}, {launch: (best config, [(ms, config), ...])})."""
    x = x.contiguous(memory_format=torch.channels_last)
    front = (x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation)
    tuning = {"pass1_store": autotune_pool(*front, store=True, configs=configs, **bench),
              "pass1": autotune_pool(*front, store=False, configs=configs, **bench)}
    _, sums = fused_expand_dw_pool(*front, store=False)
    ho, wo = out_hw(x, kernel_size, stride, padding)
    gate = excitation(sums, se_fc1, se_fc2, se_activation, se_gate, inv_count=1.0 / (ho * wo), dtype=x.dtype)
    tuning["pass2_gated"] = autotune_fused(*front, project, residual, configs, gate=gate, **bench)
    args = front + (se_fc1, se_fc2, se_activation, se_gate, project, residual)
    times = {mode: triton.testing.do_bench(lambda m=mode: inverted_residual_se(*args, se_mode=m), **bench)
             for mode in SE_MODES}
    best = min(times, key=times.get)
    _SE_MODE[_se_key(x, expand, dw, kernel_size, stride, padding, project, residual)] = best
    return best, times, tuning
