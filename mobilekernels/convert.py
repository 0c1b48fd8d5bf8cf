"""optimize(model): swap the layers mobilekernels can fuse into any eval-ready model.

A module-pattern walk (no class names of any library), in four passes:
  1. a Sequential that is exactly Conv2d -> BatchNorm2d [-> activation]
     (torchvision's Conv2dNormActivation) becomes a ConvBNAct with the same keys;
  2. a module with two 1x1 convs (C -> r -> C, with bias), an activation and a
     sigmoid-like gate becomes a SqueezeExcite;
  3. a module holding one Sequential of [pw expand]? dw [SE]? pw(linear) becomes an
     InvertedResidual (with or without the residual add), keeping its keys;
     a module whose children, in order, are conv/BatchNorm[+act] pairs and SE (timm's
     blocks: conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3) becomes an InvertedResidual
     or a Sequential of ConvBNAct over the same parameters;
  4. remaining Conv2d -> BatchNorm2d [-> activation] runs inside Sequentials become a
     ConvBNAct followed by Identity placeholders;
  5. nn.Linear layers inside Sequentials (classifier heads) become FusedLinear (same
     parameters and keys), and every plain Sequential holding fused layers becomes a
     FusedSequential (same children, same keys), innermost first, so a run of fused layers
     (a whole MobileNet feature extractor, a classifier head) executes as one ops.Network call.
Passes 2 and 3 guess from structure, so every candidate is proven on random data against
the module it replaces (eval mode) and is dropped unless it agrees: what optimize()
cannot fuse it leaves untouched, and the report says why.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn

from .activation import Activation, activation_of
from .nn import ConvBNAct, FusedLinear, FusedSequential, InvertedResidual, SqueezeExcite
from .nn.conv_bn_act import conv_kind
from .nn.fused import FusedModule, unfused
from .nn.inverted_residual import plan_block

_TOL = {torch.float32: 1e-4, torch.float64: 1e-9, torch.float16: 1e-2, torch.bfloat16: 5e-2}
_GATES = (Activation.SIGMOID, Activation.HARDSIGMOID)


@dataclass
class ConversionReport:
    swapped: list = field(default_factory=list)   # (name, original type, new type)
    skipped: list = field(default_factory=list)   # (name, reason)

    def __str__(self) -> str:
        counts: dict = {}
        for _, old, new in self.swapped:
            counts[(old, new)] = counts.get((old, new), 0) + 1
        lines = [f"swapped {len(self.swapped)} modules:"]
        lines += [f"  {n:3d} x {old} -> {new}" for (old, new), n in sorted(counts.items())]
        if self.skipped:
            lines.append(f"left untouched {len(self.skipped)}:")
            lines += [f"  {name}: {why}" for name, why in self.skipped]
        return "\n".join(lines)


def _param_like(module: nn.Module):
    p = next(module.parameters(), None)
    return (p.dtype, p.device) if p is not None else (torch.float32, torch.device("cpu"))


def _agrees(original: nn.Module, candidate: nn.Module, channels: int) -> bool:
    """Same output on random data, in eval mode, candidate running its fused path."""
    dtype, device = _param_like(original)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, channels, 9, 9, generator=gen, dtype=torch.float32).to(dtype=dtype, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    original.eval()
    candidate.eval()
    try:
        with torch.no_grad():
            want = original(x)
            got = candidate(x)
    except Exception:  # noqa: BLE001 - a candidate that cannot run is simply not used
        return False
    if got.shape != want.shape:
        return False
    err = (got.double() - want.double()).norm() / want.double().norm().clamp_min(1e-30)
    return bool(err <= _TOL.get(dtype, 1e-4))


def _conv_bn_act_run(children: list, i: int):
    """(conv, bn, act_module, length) if children[i:] starts a fusable run, else None."""
    conv = children[i]
    if type(conv) is not nn.Conv2d or conv_kind(conv) is None:
        return None
    if i + 1 >= len(children) or type(children[i + 1]) is not nn.BatchNorm2d:
        return None
    bn = children[i + 1]
    if bn.num_features != conv.out_channels or not bn.track_running_stats:
        return None
    act = children[i + 2] if i + 2 < len(children) else None
    if act is not None and activation_of(act) is not None and not isinstance(act, nn.Identity):
        return conv, bn, act, 3
    return conv, bn, None, 2


def _walk(module: nn.Module, prefix: str = ""):
    """(parent, child name, child, qualified name) for every descendant, parents first,
    not descending into modules that are already fused."""
    for name, child in list(module.named_children()):
        qual = f"{prefix}.{name}" if prefix else name
        yield module, name, child, qual
        if not isinstance(child, FusedModule):
            yield from _walk(child, qual)


def _plain_sequential(m: nn.Module) -> bool:
    """A Sequential whose forward is Sequential's (a subclass may compute anything)."""
    return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward


def _fuse_cna_sequentials(root, report):
    for parent, name, child, qual in list(_walk(root)):
        if _plain_sequential(child):
            kids = list(child)
            run = _conv_bn_act_run(kids, 0) if kids else None
            if run and run[3] == len(kids):
                fused = ConvBNAct(run[0], run[1], run[2])
                if _agrees(child, fused, run[0].in_channels):
                    setattr(parent, name, fused)
                    report.swapped.append((qual, type(child).__name__, "ConvBNAct"))
                else:
                    report.skipped.append((qual, "conv/BN/act run: fused output differs"))


def _se_candidate(module: nn.Module):
    kids = list(module.children())
    convs = [m for m in kids if type(m) is nn.Conv2d]
    acts = [m for m in kids if activation_of(m) is not None and not isinstance(m, nn.Identity)]
    others = [m for m in kids if m not in convs and m not in acts
              and not isinstance(m, (nn.AdaptiveAvgPool2d, nn.Identity))]
    if len(convs) != 2 or len(acts) != 2 or others:
        return None
    for fc1, fc2 in (convs, convs[::-1]):
        for act, gate in (acts, acts[::-1]):
            if activation_of(gate) not in _GATES:
                continue
            try:
                se = SqueezeExcite.from_modules(fc1, fc2, act, gate)
            except ValueError:
                continue
            if _agrees(module, se, fc1.in_channels):
                return se
    return None


def _fuse_squeeze_excite(root, report):
    for parent, name, child, qual in list(_walk(root)):
        if isinstance(child, FusedModule) or not any(True for _ in child.children()):
            continue
        se = _se_candidate(child)
        if se is not None:
            setattr(parent, name, se)
            report.swapped.append((qual, type(child).__name__, "SqueezeExcite"))


def _block_candidate(module: nn.Module, qual: str, report):
    named = list(module.named_children())
    with_params = [(n, m) for n, m in named if any(True for _ in m.parameters())]
    if len(with_params) != 1 or not isinstance(with_params[0][1], nn.Sequential):
        return None
    layers_name, layers = with_params[0]
    try:
        plan_block(layers)
    except ValueError:
        return None
    cin = next(m for m in layers.modules() if type(m) is nn.Conv2d).in_channels
    for residual in (True, False):
        try:
            block = InvertedResidual(layers, residual, layers_name)
        except ValueError:
            continue
        if _agrees(module, block, cin):
            return block
    report.skipped.append((qual, f"{type(module).__name__}: block structure recognized but "
                                 "outputs differ from the original"))
    return None


def _plain_bn(bn: nn.Module):
    """(BatchNorm2d, activation) from a BatchNorm2d, or from a BatchNorm2d subclass that
    carries its activation as a child (timm's BatchNormAct2d); the plain BatchNorm2d
    shares the original's parameters and running statistics."""
    if type(bn) is nn.BatchNorm2d:
        return bn, None
    if not isinstance(bn, nn.BatchNorm2d) or not bn.track_running_stats:
        return None
    act = getattr(bn, "act", None)
    if activation_of(act) is None:
        return None
    plain = nn.BatchNorm2d(bn.num_features, bn.eps, bn.momentum, bn.affine, True)
    plain.weight, plain.bias = bn.weight, bn.bias
    plain.running_mean, plain.running_var = bn.running_mean, bn.running_var
    plain.num_batches_tracked = bn.num_batches_tracked
    return plain, act


def _chain(module: nn.Module):
    """The module's children, in order, as a Sequential of ConvBNAct / SqueezeExcite, or
    None. Parameter-free children that are not activations (Identity, DropPath, ...) are
    assumed to be identities in eval; the numeric check decides."""
    stages, pending = [], None  # pending: [name, conv, bn, act]

    def close():
        if pending is not None:
            conv_ = pending[1]
            if conv_kind(conv_) is None:
                raise ValueError
            stages.append((pending[0], ConvBNAct(conv_, pending[2], pending[3])))

    try:
        for name, child in module.named_children():
            if type(child) is nn.Conv2d:
                close()
                pending = [name, child, None, None]
            elif isinstance(child, nn.BatchNorm2d):
                split = _plain_bn(child)
                if pending is None or pending[2] is not None or split is None:
                    return None
                pending[2], pending[3] = split
            elif activation_of(child) is not None and not isinstance(child, nn.Identity):
                if pending is None or pending[3] is not None:
                    return None
                pending[3] = child
            elif isinstance(child, SqueezeExcite):
                close()
                pending = None
                stages.append((name, child))
            elif any(True for _ in child.parameters()) or any(True for _ in child.buffers()):
                return None
        close()
    except ValueError:
        return None
    if len(stages) < 2:
        return None
    return nn.Sequential(OrderedDict(stages))


def _chain_candidate(module: nn.Module, qual: str, report):
    chain = _chain(module)
    if chain is None:
        return None
    cin = chain[0].conv.in_channels
    candidates = []
    try:
        plan_block(chain)
        candidates = [InvertedResidual(chain, r, "block") for r in (True, False)
                      if not r or _residual_possible(chain)]
    except ValueError:
        pass
    candidates.append(chain)
    for cand in candidates:
        if _agrees(module, cand, cin):
            return cand
    report.skipped.append((qual, f"{type(module).__name__}: conv/BN chain recognized but outputs "
                                 "differ from the original"))
    return None


def _residual_possible(chain: nn.Sequential) -> bool:
    try:
        InvertedResidual(chain, True, "block")
        return True
    except ValueError:
        return False


def _fuse_inverted_residuals(module, report, prefix=""):
    for name, child in list(module.named_children()):
        qual = f"{prefix}.{name}" if prefix else name
        if isinstance(child, FusedModule):
            continue
        if not isinstance(child, nn.Sequential):
            block = _block_candidate(child, qual, report) or _chain_candidate(child, qual, report)
            if block is not None:
                setattr(module, name, block)
                kind = "InvertedResidual" if isinstance(block, InvertedResidual) else "ConvBNAct chain"
                report.swapped.append((qual, type(child).__name__, kind))
                continue
        _fuse_inverted_residuals(child, report, qual)


def _fuse_remaining_runs(module, report, prefix=""):
    for name, child in list(module.named_children()):
        qual = f"{prefix}.{name}" if prefix else name
        if isinstance(child, FusedModule):
            continue
        if _plain_sequential(child):
            kids, i = list(child), 0
            while i < len(kids):
                run = _conv_bn_act_run(kids, i)
                if run is None:
                    i += 1
                    continue
                conv, bn, act, n = run
                fused = ConvBNAct(conv, bn, act)
                if not _agrees(nn.Sequential(*kids[i:i + n]), fused, conv.in_channels):
                    report.skipped.append((f"{qual}.{i}", "conv/BN/act run: fused output differs"))
                    i += n
                    continue
                child[i] = fused
                for j in range(i + 1, i + n):
                    child[j] = nn.Identity()
                report.swapped.append((f"{qual}.{i}", "Conv2d+BatchNorm2d" + ("+act" if act else ""),
                                       "ConvBNAct"))
                i += n
        _fuse_remaining_runs(child, report, qual)


def _fuse_linears(module, report, prefix=""):
    for name, child in list(module.named_children()):
        qual = f"{prefix}.{name}" if prefix else name
        if isinstance(child, FusedModule):
            continue
        if _plain_sequential(child):
            for i, m in enumerate(child):
                if type(m) is not nn.Linear:
                    continue
                fused = FusedLinear.from_linear(m).eval()
                x = torch.randn(3, m.in_features, generator=torch.Generator().manual_seed(0))
                x = x.to(dtype=m.weight.dtype, device=m.weight.device)
                with torch.no_grad():
                    want, got = m(x), fused(x)
                err = (got.double() - want.double()).norm() / want.double().norm().clamp_min(1e-30)
                if err <= _TOL.get(m.weight.dtype, 1e-4):
                    child[i] = fused
                    report.swapped.append((f"{qual}.{i}", "Linear", "FusedLinear"))
                else:
                    report.skipped.append((f"{qual}.{i}", "Linear: fused output differs"))
        _fuse_linears(child, report, qual)


def _chain_sequentials(module, report, prefix=""):
    for name, child in list(module.named_children()):
        qual = f"{prefix}.{name}" if prefix else name
        if isinstance(child, FusedModule):
            continue
        _chain_sequentials(child, report, qual)  # innermost first: nested chains flatten
        if not _plain_sequential(child) or type(child) is FusedSequential:
            continue
        fused = [m for m in child if isinstance(m, (FusedModule, FusedSequential))]
        passive = [m for m in child if isinstance(m, (nn.Identity, nn.Dropout)) or activation_of(m) is not None]
        # Two fused layers to chain, or a wrapper of one (timm's one-block stages, a
        # Dropout + Linear head) that runs as one call or flattens into an enclosing chain.
        if len(fused) < 2 and not (fused and len(fused) + len(passive) == len(child)):
            continue
        chained = FusedSequential(OrderedDict(child._modules))
        first = next(iter(child), None)
        cin = _in_channels(first)
        if cin is not None and not _agrees(child, chained, cin):
            report.skipped.append((qual, "Sequential of fused layers: chained output differs"))
            continue
        setattr(module, name, chained)
        report.swapped.append((qual, type(child).__name__, "FusedSequential"))


def _in_channels(m):
    """Input channels of a fused layer (None when not known from its structure)."""
    if isinstance(m, ConvBNAct):
        return m.conv.in_channels
    if isinstance(m, InvertedResidual):
        return m.in_channels
    if isinstance(m, FusedSequential) and len(m):
        return _in_channels(m[0])
    return None


def optimize(model: nn.Module, *, inplace: bool = False, return_report: bool = False):
    """Return `model` (a copy unless inplace) in eval mode with every Conv-BN-act run,
    squeeze-excite and inverted-residual block it recognizes replaced by fused modules.
    The result computes the same outputs; with return_report=True also returns a
    ConversionReport of what was swapped and what was left untouched."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"optimize: expected an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    report = ConversionReport()
    holder = nn.Module()  # lets the root itself be replaced like any child
    holder.root = model
    with torch.no_grad():
        _fuse_cna_sequentials(holder, report)
        _fuse_squeeze_excite(holder, report)
        _fuse_inverted_residuals(holder, report)
        _fuse_remaining_runs(holder, report)
        _fuse_linears(holder, report)
        _chain_sequentials(holder, report)
    model = holder.root
    model.eval()
    report.swapped = [(q.removeprefix("root.").removeprefix("root"), o, n) for q, o, n in report.swapped]
    report.skipped = [(q.removeprefix("root.").removeprefix("root"), w) for q, w in report.skipped]
    return (model, report) if return_report else model


__all__ = ["ConversionReport", "optimize", "unfused"]
