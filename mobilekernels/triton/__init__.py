"""Triton backend (CUDA; also runs on CPU tensors under TRITON_INTERPRET=1 for tests).

Every function has the signature of the matching op in mobilekernels.ops.reference and
returns channels-last tensors; ops/dispatch.py routes CUDA tensors here.
"""
from .conv import conv_bn_act
from .dwconv import dwconv_bn_act, dwconv_bn_act_pool
from .gemm import gemm_bias_act, pwconv_bn_act
from .inverted_residual import fused_inverted_residual
from .pool import global_avgpool
from .se import inverted_residual_se, squeeze_excite


def inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                      se_fc1, se_fc2, se_activation, se_gate, project, residual):
    """Blocks without SE: one fused kernel (inverted_residual.py; the expanded tensor never
    reaches global memory). SE blocks need the whole depthwise output pooled before the project
    (a grid-wide sync between the two halves): expand -> depthwise with the pool fused into its
    epilogue -> the two FCs -> project with the gate applied on its A-load (se.py)."""
    if se_fc1 is None:
        return fused_inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding,
                                       dw_activation, project, residual)
    return inverted_residual_se(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                                se_fc1, se_fc2, se_activation, se_gate, project, residual)


__all__ = ["conv_bn_act", "dwconv_bn_act", "dwconv_bn_act_pool", "fused_inverted_residual", "gemm_bias_act",
           "global_avgpool", "inverted_residual", "inverted_residual_se", "pwconv_bn_act", "squeeze_excite"]
