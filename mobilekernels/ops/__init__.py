"""Functional API: torch.library custom ops (torch.ops.mobilekernels.*), one dispatch point."""
from . import reference
from .custom_ops import (
    conv_bn_act,
    dwconv_bn_act,
    global_avgpool,
    inverted_residual,
    pack_conv,
    pack_dwconv,
    pwconv_bn_act,
    squeeze_excite,
)
from .dispatch import backend_for, get_backend, set_backend, use_backend
from .network import Layer, Network


def padding4(padding) -> list[int]:
    """int, (ph, pw) or (top, left, bottom, right) -> [top, left, bottom, right]."""
    if isinstance(padding, int):
        return [padding] * 4
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return [padding[0], padding[1], padding[0], padding[1]]
    if len(padding) == 4:
        return padding
    raise ValueError(f"padding must be an int, 2 or 4 ints, got {padding!r}")


__all__ = [
    "Layer", "Network", "backend_for", "conv_bn_act", "dwconv_bn_act", "get_backend", "global_avgpool",
    "inverted_residual", "pack_conv", "pack_dwconv", "padding4", "pwconv_bn_act",
    "reference", "set_backend", "squeeze_excite", "use_backend",
]
