"""Triton backend (CUDA; also runs on CPU tensors under TRITON_INTERPRET=1 for tests).

Every function has the signature of the matching op in mobilekernels.ops.reference and
returns channels-last tensors; ops/dispatch.py routes CUDA tensors here.
"""
import sys

from ..ops.reference import compose_inverted_residual
from .conv import conv_bn_act
from .dwconv import dwconv_bn_act
from .gemm import gemm_bias_act, pwconv_bn_act
from .inverted_residual import fused_inverted_residual
from .pool import global_avgpool, pooled_rows, scale_channels


def squeeze_excite(x, fc1, fc2, activation, gate):
    """Pool (Triton reduction) -> the two FCs as M = batch GEMMs -> gate -> channel scale."""
    hidden = gemm_bias_act(pooled_rows(x), fc1.contiguous(), activation, block_m=16, block_n=32)
    scale = gemm_bias_act(hidden, fc2.contiguous(), gate, block_m=16, block_n=64, block_k=16)
    return scale_channels(x, scale)


def inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                      se_fc1, se_fc2, se_activation, se_gate, project, residual):
    """Blocks without SE: one fused kernel (inverted_residual.py; the expanded tensor never
    reaches global memory). SE blocks: the per-op composition (SE needs the whole depthwise
    output pooled before the project, i.e. a grid-wide sync between the two halves)."""
    if se_fc1 is None:
        return fused_inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding,
                                       dw_activation, project, residual)
    return compose_inverted_residual(sys.modules[__name__], x, expand, expand_activation, dw, kernel_size, stride,
                                     padding, dw_activation, se_fc1, se_fc2, se_activation, se_gate, project,
                                     residual)


__all__ = ["conv_bn_act", "dwconv_bn_act", "fused_inverted_residual", "gemm_bias_act", "global_avgpool",
           "inverted_residual", "pwconv_bn_act", "squeeze_excite"]
