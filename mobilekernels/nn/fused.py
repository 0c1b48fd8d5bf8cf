"""What every fused module shares: BatchNorm folding, packed-weight caching, and the
switch that makes modules run their plain PyTorch composition in eval mode too."""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch
from torch import nn

_UNFUSED = False


@contextlib.contextmanager
def unfused():
    """Within this context, fused modules in eval mode run the plain torch composition
    (conv -> BatchNorm with running stats -> activation): the original model's math."""
    global _UNFUSED
    saved, _UNFUSED = _UNFUSED, True
    try:
        yield
    finally:
        _UNFUSED = saved


def run_unfused(module: nn.Module) -> bool:
    return module.training or _UNFUSED or module.force_unfused


def unfused_copy(model: nn.Module) -> nn.Module:
    """A deep copy that always runs the plain torch composition (the baseline to compare
    a fused model against: same weights, torch's conv/BatchNorm/activation kernels)."""
    import copy

    model = copy.deepcopy(model)
    for m in model.modules():
        m.force_unfused = True
    return model


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv weight and bias with an eval-mode BatchNorm folded in, computed in float64
    and returned in the conv weight's dtype: w*g/sqrt(v+eps), beta + (b - mu)*g/sqrt(v+eps)."""
    w = conv.weight.detach().double()
    b = (conv.bias.detach().double() if conv.bias is not None
         else torch.zeros(w.shape[0], dtype=torch.float64, device=w.device))
    if bn is not None:
        gamma = (bn.weight.detach().double() if bn.weight is not None
                 else torch.ones_like(b))
        beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(b)
        scale = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        w = w * scale.reshape(-1, 1, 1, 1)
        b = beta + (b - bn.running_mean.detach().double()) * scale
    dtype = conv.weight.dtype
    return w.to(dtype), b.to(dtype)


def source_tensors(*modules: nn.Module | None) -> list[torch.Tensor]:
    out = []
    for m in modules:  # the dicts directly: parameters() costs ~5 us a call on the hot path
        if m is not None:
            out.extend(p for p in m._parameters.values() if p is not None)
            out.extend(b for b in m._buffers.values() if b is not None and b.is_floating_point())
    return out


class FusedModule(nn.Module):
    """Base of the drop-in modules: caches packed weights as non-persistent buffers,
    rebuilt when a source tensor changes (its _version, storage, device or dtype) and on
    every switch to eval mode, so state_dict, .to(), fine-tuning, torch.compile and export
    keep working. Writes that bypass the version counter (through `.data` or a numpy view)
    are not seen: call `refresh_packed()` (or `.eval()`) after them."""

    # Modules inside a fused block are never run fused on their own: they skip packing.
    pack_on_eval = True
    force_unfused = False  # set per instance by unfused_copy()

    def __init__(self):
        super().__init__()
        self._pack_keys: dict[str, tuple] = {}

    def cached_pack(self, name: str, sources: Sequence[torch.Tensor], pack: Callable[[], torch.Tensor]):
        buf = getattr(self, name, None)
        if torch.compiler.is_compiling():
            # Guards cannot see _version: trust buffers packed by an eager call or by
            # .eval(); without them the packing is traced into the graph.
            return buf if buf is not None else pack()
        # A new dtype or device means new storage, so data_ptr covers .to()/.half().
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in sources)
        if buf is None or self._pack_keys.get(name) != key:
            with torch.no_grad():
                buf = pack()
            self.register_buffer(name, buf, persistent=False)
            self._pack_keys[name] = key
        return buf

    def refresh_packed(self) -> None:
        """Pack now (e.g. before torch.compile, or after writes through `.data`)."""

    def train(self, mode: bool = True):
        super().train(mode)
        if not mode:
            # BatchNorm updates its running statistics without bumping their _version:
            # entering eval always repacks, so train -> eval never keeps a stale fold.
            self._pack_keys.clear()
            if self.pack_on_eval:
                self.refresh_packed()
        return self
