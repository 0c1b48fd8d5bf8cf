"""Triton backend (CUDA; also runs on CPU tensors under TRITON_INTERPRET=1 for tests).

Every function has the signature of the matching op in mobilekernels.ops.reference and
returns channels-last tensors; ops/dispatch.py routes CUDA tensors here.
"""
import sys

from ..ops.reference import compose_inverted_residual
from .conv import conv_bn_act
from .dwconv import dwconv_bn_act
from .gemm import gemm_bias_act, pwconv_bn_act
from .pool import global_avgpool, pooled_rows, scale_channels


def squeeze_excite(x, fc1, fc2, activation, gate):
    """Pool (Triton reduction) -> the two FCs as M = batch GEMMs -> gate -> channel scale."""
    hidden = gemm_bias_act(pooled_rows(x), fc1.contiguous(), activation, block_m=16, block_n=32)
    scale = gemm_bias_act(hidden, fc2.contiguous(), gate, block_m=16, block_n=64, block_k=16)
    return scale_channels(x, scale)


def inverted_residual(*args):
    """Per-op composition; the single fused block kernel is the GPU fusion issue's."""
    return compose_inverted_residual(sys.modules[__name__], *args)


__all__ = ["conv_bn_act", "dwconv_bn_act", "gemm_bias_act", "global_avgpool", "inverted_residual",
           "pwconv_bn_act", "squeeze_excite"]
