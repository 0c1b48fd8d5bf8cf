"""FusedSequential: an nn.Sequential whose runs of fused layers execute as one call.

Children keep their names ("0", "1", ...), so state_dict keys are those of the
Sequential it replaces. In eval mode, in plain eager inference, each maximal run of
children that describe themselves as ops.network Layers (ConvBNAct, InvertedResidual,
FusedLinear, nested FusedSequentials; Identity and Dropout are no-ops in eval; an
activation module after a layer with none becomes that layer's activation) runs as one
ops.Network: on the CPU backend one C++ call for a whole MobileNet feature extractor, and
one for a classifier head of Linear layers on [N, C] input.
Anything else (training, torch.compile, autograd, hooks, other children) runs child by
child, exactly like nn.Sequential.

The plan (segments and their Networks) is rebuilt when the module tree changes (any
descendant replaced, its mode or hooks changed) or any parameter/buffer in it
changes (storage or _version, as for the fused modules' packed weights); checking that
costs ~0.1 ms per call for a whole MobileNet, against ~0.5 ms for asking every layer.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from itertools import chain

import torch
from torch import nn

from ..activation import activation_of
from ..ops import Layer, Network
from ..ops.custom_ops import _plain_eager
from .fused import run_unfused

_NO_OPS = (nn.Identity, nn.Dropout)


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks)


def _child_layers(child: nn.Module):
    """The child's Layers, [] for an eval no-op, None if it must run as a module."""
    if isinstance(child, _NO_OPS) and not _hooked(child):
        return []
    describe = getattr(child, "network_layers", None)
    return describe() if describe is not None else None


_ACT_ARG = {"conv_bn_act": 4, "dwconv_bn_act": 5, "pwconv_bn_act": 1}  # index in Layer.args


def _fold_activation(layers: list, child: nn.Module) -> bool:
    """An activation module right after a layer whose own activation is identity becomes
    that layer's activation (e.g. a classifier's Linear -> Hardswish)."""
    act = activation_of(child)
    if act is None or isinstance(child, nn.Identity) or _hooked(child) or not layers:
        return False
    last = layers[-1]
    i = _ACT_ARG.get(last.op)
    if i is None or last.args[i] != 0 or (last.op == "pwconv_bn_act" and last.args[2] is not None):
        return False
    args = list(last.args)
    args[i] = int(act)
    layers[-1] = Layer(last.op, tuple(args))
    return True


_TRAINING = operator.attrgetter("training")
_CHILDREN = operator.attrgetter("_modules")
_PARAMETERS = operator.attrgetter("_parameters")
_BUFFERS = operator.attrgetter("_buffers")
_HOOKS = operator.attrgetter("_forward_hooks")
_PRE_HOOKS = operator.attrgetter("_forward_pre_hooks")


class _TreeSnapshot:
    """The module tree under an owner as it was when a plan was built: every module's
    children (shallow copies of the `_modules` dicts), parameter and buffer objects, mode
    and hook counts. `same()` compares the live tree with C-level maps and list/dict
    equality (~50 us for a MobileNet's 220 modules, where a recursive walk took ~55 us
    without the tensors: per-forward cost at batch 1)."""

    def __init__(self, owner: nn.Module):
        self.modules = list(owner.modules())
        self.children = list(map(_CHILDREN, self.modules))
        self.saved_children = [dict(d) for d in self.children]
        # Modules that hold no parameter or buffer slot (containers, activations) read none
        # in their forward: one registered there later changes nothing the layers compute.
        self.tensor_dicts = [d for d in chain(map(_PARAMETERS, self.modules), map(_BUFFERS, self.modules)) if d]
        self.tensors = self._tensors()
        self.hooks = list(map(_HOOKS, self.modules))
        self.pre_hooks = list(map(_PRE_HOOKS, self.modules))
        self.state = self._state()

    def _state(self) -> tuple:
        return (list(map(_TRAINING, self.modules)), list(map(len, self.hooks)), list(map(len, self.pre_hooks)))

    def _tensors(self) -> list:
        return list(chain.from_iterable(map(dict.values, self.tensor_dicts)))

    def same(self) -> bool:
        # A replaced child shows in its parent's _modules, a replaced tensor (a new
        # Parameter, load_state_dict(assign=True)) in its module's _parameters/_buffers;
        # any module outside the saved list can only be reached through such a replacement.
        if self.children != self.saved_children or self._state() != self.state:
            return False
        tensors = self._tensors()
        # By identity: == on two different tensors would compare their values.
        return len(tensors) == len(self.tensors) and all(map(operator.is_, tensors, self.tensors))


_VERSION = operator.attrgetter("_version")
_DATA_PTR = torch.Tensor.data_ptr


def _versions(tensors) -> tuple:
    # Two flat lists of ints: ~15% faster than per-tensor tuples and nothing for the
    # garbage collector to track (a few hundred tuples per call triggered its passes).
    return list(map(_DATA_PTR, tensors)), list(map(_VERSION, tensors))


@dataclass
class _Plan:
    structure: _TreeSnapshot
    sources: list     # every tensor the segments' layers were derived from
    versions: tuple   # their data_ptrs and _versions when the plan was built
    steps: list       # Network objects and child modules, in order


def _build_plan(children, structure: _TreeSnapshot) -> _Plan:
    steps, segment, sources = [], [], []
    for child in children:
        if _fold_activation(segment, child):
            continue
        layers = _child_layers(child)
        if layers is None:
            if segment:
                steps.append(Network(segment))
                segment = []
            steps.append(child)
            continue
        segment.extend(layers)
        sources.extend(child.parameters())
        sources.extend(b for b in child.buffers() if b.is_floating_point())
    if segment:
        steps.append(Network(segment))
    # Versions after packing: the packed buffers are among the sources.
    return _Plan(structure, sources, _versions(sources), steps)


def chain_plan(owner: nn.Module, children) -> _Plan:
    """The plan for running `children` (modules of `owner`, in order) as fused segments,
    cached on owner._plan and rebuilt when any descendant is replaced, changes mode or
    hooks, or any tensor they hold changes (storage or _version)."""
    plan = owner._plan
    if plan is None or not plan.structure.same() or plan.versions != _versions(plan.sources):
        plan = owner._plan = _build_plan(children, _TreeSnapshot(owner))
    return plan


class PlanOwner:
    """Mixin for modules that run children as fused segments through chain_plan (the plan
    cached on self._plan): copies and pickles drop it, mode switches reset it."""

    _plan = None

    def _single_network(self, children, post):
        """(Network, post) when `children` run as one Network as of now, else None."""
        if run_unfused(self):
            return None
        plan = chain_plan(self, children)
        if len(plan.steps) == 1 and isinstance(plan.steps[0], Network):
            return plan.steps[0], post
        return None

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_plan"] = None  # copies and pickles rebuild it (the C++ handle does not copy)
        return state

    def train(self, mode: bool = True):
        # BatchNorm's running statistics change in training without a _version bump.
        self._plan = None
        return super().train(mode)


class FusedSequential(PlanOwner, nn.Sequential):
    force_unfused = False  # set per instance by unfused_copy()

    def __init__(self, *args):
        super().__init__(*args)
        self._plan: _Plan | None = None

    def network_layers(self):
        """All children as one list of Layers (None unless every child can be one)."""
        if run_unfused(self) or _hooked(self):
            return None
        layers = []
        for child in self._modules.values():
            if _fold_activation(layers, child):
                continue
            got = _child_layers(child)
            if got is None:
                return None
            layers.extend(got)
        return layers

    def forward(self, x):
        if run_unfused(self) or not isinstance(x, torch.Tensor) or not _plain_eager((x,)):
            return super().forward(x)
        plan = chain_plan(self, self._modules.values())
        if x.dim() == 2:  # a head of Linear layers on [N, C]: one call on the [N, C, 1, 1] view
            if len(plan.steps) == 1 and isinstance(plan.steps[0], Network) and all(
                    layer.op == "pwconv_bn_act" for layer in plan.steps[0].layers):
                return plan.steps[0]._run_eager(x[:, :, None, None], flat=True)
            return super().forward(x)
        for step in plan.steps:
            x = step._run_eager(x) if isinstance(step, Network) else step(x)
        return x

    def single_network(self):
        """(Network, post-process) when the whole forward on a 4-d input is one Network
        as of now, else None (compile_for_inference captures it on the CPU)."""
        return self._single_network(self._modules.values(), None)
