"""CPU backend: thin bridges from torch tensors to the C++ extension (float32, NHWC).

Tensors go to C++ as zero-copy numpy views of their NHWC memory; outputs are allocated
here as channels-last torch tensors. Ops without a C++ kernel yet are absent from this
module and dispatch falls back to the reference.
"""
from __future__ import annotations

import torch

from .. import _ext
from .checks import out_hw

# Tests set this to fill every output with NaN before the kernel runs, so an element
# the kernel forgets to write fails the comparison.
POISON_OUTPUTS = False


def _nhwc(t: torch.Tensor):
    return _nhwc_view(t.detach().contiguous(memory_format=torch.channels_last))


def _nhwc_view(t: torch.Tensor):
    """A channels-last [N, C, H, W] tensor's memory as an [N, H, W, C] array (numpy's
    transpose: a view, ~1.2 us less per call than torch's permute before .numpy())."""
    return t.numpy().transpose(0, 2, 3, 1)


def _network_input(t: torch.Tensor):
    """(array, nchw) for Network.run: an NCHW-contiguous input goes as is (a first conv
    reads it directly; other first layers get it moved to NHWC, faster than torch's
    strided copy), anything else as an NHWC view."""
    if t.is_contiguous() and not t.is_contiguous(memory_format=torch.channels_last):
        return t.detach().numpy(), True
    return _nhwc(t), False


def _new_output(shape, like: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] outputs channels-last; [N, C] ones (a network's flat output) plain."""
    fmt = torch.channels_last if len(shape) == 4 else torch.contiguous_format
    y = torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt)
    if POISON_OUTPUTS:
        y.fill_(float("nan"))
    return y


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation, isa="auto"):
    # Arguments were validated by the op (checks.py); the extension re-checks every size.
    y = _new_output((*x.shape[:2], *out_hw(x, kernel_size, stride, padding, dilation)), x)
    _ext._C.dwconv_bn_act(
        _nhwc(x), _packed(packed), _nhwc_view(y),
        kernel_size, kernel_size, stride, stride, list(padding), dilation, dilation, int(activation), isa)
    return y


def _rows(t: torch.Tensor):
    """[N, C, H, W] tensor -> zero-copy [N*H*W, C] numpy view of its NHWC memory."""
    n, c, h, w = t.shape
    return _nhwc(t).reshape(n * h * w, c)


def _out_rows(y: torch.Tensor):
    """A fresh channels-last output as a [N*H*W, C] view (.view: never a silent copy)."""
    return y.permute(0, 2, 3, 1).view(-1, y.shape[1]).numpy()


def pwconv_bn_act(x, packed, activation, residual=None, isa="auto"):
    n, _, h, w = x.shape
    y = _new_output((n, packed.shape[1], h, w), x)
    _ext._C.pwconv_bn_act(_rows(x), _packed(packed), _out_rows(y), int(activation),
                          None if residual is None else _rows(residual), isa)
    return y


def _packed(t):
    return None if t is None else t.detach().contiguous().numpy()


def conv_bn_act(x, packed, kernel_size, stride, padding, activation, isa="auto"):
    y = _new_output((x.shape[0], packed.shape[1], *out_hw(x, kernel_size, stride, padding)), x)
    _ext._C.conv_bn_act(_nhwc(x), _packed(packed), _nhwc_view(y), kernel_size, stride,
                        list(padding), int(activation), isa)
    return y


def global_avgpool(x, isa="auto"):
    n, c = x.shape[:2]
    y = _new_output((n, c, 1, 1), x)
    _ext._C.global_avgpool(_nhwc(x), _out_rows(y), isa)
    return y


def squeeze_excite(x, fc1, fc2, activation, gate, isa="auto"):
    y = _new_output(tuple(x.shape), x)
    _ext._C.squeeze_excite(_nhwc(x), _packed(fc1), _packed(fc2), _nhwc_view(y),
                           int(activation), int(gate), isa)
    return y


def inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding,
                      dw_activation, se_fc1, se_fc2, se_activation, se_gate, project, residual,
                      isa="auto"):
    """The whole block in one C++ call (intermediates in reused scratch buffers)."""
    y = _new_output((x.shape[0], project.shape[1], *out_hw(x, kernel_size, stride, padding)), x)
    _ext._C.inverted_residual(
        _nhwc(x), _packed(expand), int(expand_activation), _packed(dw), kernel_size, stride,
        list(padding), int(dw_activation), _packed(se_fc1), _packed(se_fc2), int(se_activation),
        int(se_gate), _packed(project), bool(residual), _nhwc_view(y), isa)
    return y


def _network_handle(net, in_channels: int):
    """The C++ Network for an ops.network.Network, built once (for inputs of `in_channels`
    channels, which only a network starting with a pool does not fix) and cached on it."""
    handle = net.compiled.get("cpu")
    if handle is None:
        handle = _ext._C.Network()
        for layer in net.layers:
            a = layer.args
            if layer.op == "conv_bn_act":
                packed, k, stride, padding, act = a
                if k < 1:
                    raise ValueError(f"run_network: kernel size must be >= 1, got {k}")
                handle.add_conv(_packed(packed), (packed.shape[0] - 1) // (k * k), k, stride, list(padding), int(act))
            elif layer.op == "dwconv_bn_act":
                packed, k, stride, padding, dilation, act = a
                handle.add_dwconv(_packed(packed), k, stride, list(padding), dilation, int(act))
            elif layer.op == "pwconv_bn_act":
                packed, act, residual = a
                if residual is not None:
                    raise ValueError("run_network: a pointwise layer cannot take an external residual")
                handle.add_pwconv(_packed(packed), int(act))
            elif layer.op == "global_avgpool":
                handle.add_global_avgpool(in_channels if len(handle) == 0 else None)
            else:
                (expand, expand_act, dw, k, stride, padding, dw_act, fc1, fc2, se_act, se_gate,
                 project, residual) = a
                handle.add_inverted_residual(
                    _packed(expand), int(expand_act), _packed(dw), k, stride, list(padding), int(dw_act),
                    _packed(fc1), _packed(fc2), int(se_act), int(se_gate), _packed(project), bool(residual))
        net.compiled["cpu"] = handle
    return handle


class FrozenNetwork:
    """One C++ network run per call into a static output, for compile_for_inference on
    the CPU: no plan checks, no allocation. The caller guarantees the input's shape (the
    example's) and that the weights do not change (recapture after they do)."""

    def __init__(self, net, example):
        if example.dim() != 4:
            raise ValueError(f"run_network: x must be 4-d [N, C, H, W], got {example.dim()} dimensions")
        self.handle = _network_handle(net, example.shape[1])
        n, _, h, w = example.shape
        _, ho, wo, c = self.handle.out_shape(n, h, w)
        self.output = _new_output((n, c, ho, wo), example)
        self._out = _nhwc_view(self.output)
        self._last = self._last_ptr = self._last_view = None

    def __call__(self, x):
        # The same tensor as last time, on the same memory: its view is still valid. A forward
        # leaves torch's code cold, so building the view costs ~50 us a call there (v3-small
        # is ~1.3 ms); a loop that refills one input tensor in place pays it once.
        if x is self._last and x.data_ptr() == self._last_ptr:
            array, nchw = self._last_view
        else:
            array, nchw = self._last_view = _network_input(x)
            self._last, self._last_ptr = x, x.data_ptr()
        self.handle.run(array, self._out, "auto", nchw)
        return self.output


def run_network(net, x, isa="auto", flat=False):
    """The whole chain in one C++ call. flat: the output flattened to [N, C * H * W]; a 1x1
    output (a classifier's) is written as [N, C] through a [N, 1, 1, C] view."""
    if x.dim() != 4:
        raise ValueError(f"run_network: x must be 4-d [N, C, H, W], got {x.dim()} dimensions")
    handle = _network_handle(net, x.shape[1])
    n, _, h, w = x.shape
    _, ho, wo, c = handle.out_shape(n, h, w)
    array, nchw = _network_input(x)
    if flat and ho == 1 and wo == 1:
        y = _new_output((n, c), x)
        handle.run(array, y.numpy().reshape(n, 1, 1, c), isa, nchw)
        return y
    y = _new_output((n, c, ho, wo), x)
    handle.run(array, _nhwc_view(y), isa, nchw)
    return y.flatten(1) if flat else y
