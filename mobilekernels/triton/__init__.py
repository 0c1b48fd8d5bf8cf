"""Triton backend (CUDA; also runs on CPU tensors under TRITON_INTERPRET=1 for tests).

Every function has the signature of the matching op in mobilekernels.ops.reference and
returns channels-last tensors; ops/dispatch.py routes CUDA tensors here.
"""
from .conv import conv_bn_act
from .dwconv import dwconv_bn_act, dwconv_bn_act_pool
from .gemm import gemm_bias_act, pwconv_bn_act
from .inverted_residual import fused_expand_dw_pool, fused_inverted_residual
from .pool import global_avgpool
from .se import inverted_residual_se, squeeze_excite


def inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                      se_fc1, se_fc2, se_activation, se_gate, project, residual):
    """Blocks without SE: one fused kernel (inverted_residual.py; the expanded tensor never
    reaches global memory). SE blocks need the whole depthwise output pooled before the project
    (a grid-wide sync between the two halves): pass 1 = the fused expand + depthwise kernel with
    the pool's partial sums in its epilogue -> the two FCs -> pass 2 = the gated project reading
    the depthwise output ("reload") or the fused kernel again with the gate ("recompute"),
    whichever se.autotune measured faster for the shape, else "reload" (se.py)."""
    if se_fc1 is None:
        return fused_inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding,
                                       dw_activation, project, residual)
    return inverted_residual_se(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                                se_fc1, se_fc2, se_activation, se_gate, project, residual, se_mode="auto")


__all__ = ["conv_bn_act", "dwconv_bn_act", "dwconv_bn_act_pool", "fused_expand_dw_pool", "fused_inverted_residual",
           "gemm_bias_act", "global_avgpool", "inverted_residual", "inverted_residual_se", "pwconv_bn_act",
           "squeeze_excite"]
