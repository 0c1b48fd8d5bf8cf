"""FusedLinear: nn.Linear as the pointwise GEMM (a 1x1 conv on a 1x1 map) in eval mode, so
a classifier head runs on the same kernels (and in the same Network call) as the rest.

Parameters are `weight` [out, in] and `bias` [out], as in nn.Linear, so state_dict keys
(e.g. torchvision's `classifier.0.weight`) are unchanged when one replaces the other.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops
from ..activation import Activation
from ..ops.network import Layer
from .fused import FusedModule, run_unfused


class FusedLinear(FusedModule):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"FusedLinear: features must be >= 1, got {in_features} -> {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default initialization
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "FusedLinear":
        """Wraps an nn.Linear's parameters (shared, not copied)."""
        m = cls.__new__(cls)
        FusedModule.__init__(m)
        m.in_features, m.out_features = linear.in_features, linear.out_features
        m.weight = linear.weight
        m.bias = linear.bias
        return m

    def _pack(self) -> torch.Tensor:
        w = self.weight.detach()
        b = self.bias.detach() if self.bias is not None else torch.zeros_like(w[:, 0])
        return ops.pack_conv(w[:, :, None, None], b)

    def packed_weight(self) -> torch.Tensor:
        sources = [self.weight] + ([self.bias] if self.bias is not None else [])
        return self.cached_pack("weight_packed", sources, self._pack)

    def refresh_packed(self) -> None:
        self._pack_keys.clear()
        self.packed_weight()

    def network_layers(self) -> list[Layer] | None:
        if run_unfused(self) or self._forward_hooks or self._forward_pre_hooks:
            return None
        return [Layer("pwconv_bn_act", (self.packed_weight(), int(Activation.IDENTITY), None))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if run_unfused(self) or x.dim() < 1 or x.shape[-1] != self.in_features:
            return F.linear(x, self.weight, self.bias)  # torch's own errors for bad shapes
        lead = x.shape[:-1]
        rows = x.reshape(-1, self.in_features, 1, 1)
        y = ops.pwconv_bn_act(rows, self.packed_weight(), int(Activation.IDENTITY), None)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
