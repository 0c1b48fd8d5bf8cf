"""A chain of fused layers run as one call.

A Network is a list of Layer(op, args): `op` names one of the ops (conv_bn_act,
dwconv_bn_act, pwconv_bn_act, inverted_residual, global_avgpool) and `args` are that op's
arguments after the input (global_avgpool has none: it pools to a 1x1 map, so a
classifier head of pointwise layers can follow it in the same chain). On the CPU backend,
in plain eager inference, the whole chain is one C++ call (csrc/ops/network.cc: the
same drivers, intermediates in reused buffers), which removes the per-layer Python cost
that dominates small MobileNets at batch 1 (bench/NOTES.md). Anywhere else (CUDA, the
reference backend, torch.compile, autograd) it is exactly the per-op calls in order.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import custom_ops, dispatch

LAYER_OPS = ("conv_bn_act", "dwconv_bn_act", "pwconv_bn_act", "inverted_residual", "global_avgpool")


@dataclass(frozen=True, eq=False)
class Layer:
    op: str
    args: tuple

    def __post_init__(self):
        if self.op not in LAYER_OPS:
            raise ValueError(f"Layer: op must be one of {LAYER_OPS}, got {self.op!r}")


class Network:
    """Runs `layers` in order on x. Holds the layers' tensors: they must stay unchanged
    while the network is used (modules rebuild their Network when they repack)."""

    def __init__(self, layers):
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("Network: needs at least one layer")
        self.compiled = {}  # backend name -> backend-specific handle (e.g. the C++ Network)

    def __getstate__(self):
        return {"layers": self.layers, "compiled": {}}  # backend handles are rebuilt, not copied

    def __len__(self) -> int:
        return len(self.layers)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and custom_ops._plain_eager((x,)):
            return self._run_eager(x)
        return self._per_op(x)

    def _run_eager(self, x: torch.Tensor, flat: bool = False) -> torch.Tensor:
        """__call__ for a caller that has checked x is a tensor in plain eager inference
        (each torch call costs ~10-15 us after a network's pass has evicted torch's code
        and data: the module path repeats none). flat: the output flattened to [N, -1]."""
        if dispatch.backend_for("run_network", x) == "cpu":
            return dispatch.implementation("cpu", "run_network")(self, x, flat=flat)
        y = self._per_op(x)
        return y.flatten(1) if flat else y

    def _per_op(self, x):
        for layer in self.layers:
            x = getattr(custom_ops, layer.op)(x, *layer.args)
        return x
