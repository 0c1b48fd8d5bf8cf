"""profile(model, input_size): parameters and multiply-adds per layer and in total.

Counts what the papers count: every Conv2d (k*k*Cin/groups MACs per output element) and
Linear (in*out), from the real shapes of one forward pass; parameters are all of the
model's parameters (BatchNorm included, as torchvision counts them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nn.fused import unfused
from ..nn.linear import FusedLinear


@dataclass
class LayerProfile:
    name: str
    kind: str
    out_shape: tuple
    params: int
    macs: int


@dataclass
class ModelProfile:
    layers: list
    params: int
    macs: int

    def table(self) -> str:
        rows = [f"{'layer':<40} {'kind':<10} {'output':<22} {'params':>10} {'MACs':>14}"]
        for l in self.layers:
            rows.append(f"{l.name:<40} {l.kind:<10} {str(l.out_shape):<22} {l.params:>10,} {l.macs:>14,}")
        rows.append(f"{'total':<40} {'':<10} {'':<22} {self.params:>10,} {self.macs:>14,}")
        return "\n".join(rows)


def profile(model: nn.Module, input_size=None) -> ModelProfile:
    """input_size: (H, W), an int, or None for the model's `resolution` (224 if absent)."""
    if input_size is None:
        input_size = getattr(model, "resolution", 224)
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    layers, hooks = [], []

    def hook(name):
        def fn(m, inp, out):
            own = sum(p.numel() for p in m.parameters(recurse=False))
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
                macs, kind = out.numel() // out.shape[0] * k, "conv"
                if m.groups == m.in_channels == m.out_channels and m.groups > 1:
                    kind = "dwconv"
            else:
                macs, kind = m.in_features * m.out_features, "linear"
            layers.append(LayerProfile(name, kind, tuple(out.shape), own, macs))
        return fn

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, FusedLinear)):
            hooks.append(m.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters())
        with torch.no_grad(), unfused():
            model(torch.zeros(1, 3, *input_size, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return ModelProfile(layers, params, sum(l.macs for l in layers))
