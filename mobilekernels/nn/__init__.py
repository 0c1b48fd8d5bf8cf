"""Drop-in torch.nn modules over the fused ops."""
from .conv_bn_act import ConvBNAct
from .fused import FusedModule, fold_bn, unfused, unfused_copy
from .global_avgpool import GlobalAvgPool
from .inverted_residual import InvertedResidual
from .linear import FusedLinear
from .sequential import FusedSequential
from .squeeze_excite import SqueezeExcite

__all__ = ["ConvBNAct", "FusedLinear", "FusedModule", "FusedSequential", "GlobalAvgPool", "InvertedResidual", "SqueezeExcite", "fold_bn", "unfused", "unfused_copy"]
