"""MobileNet v3 Large / Small (Howard et al. 2019), laid out exactly like torchvision's
so its state_dict and checkpoints load directly. SE squeezes to expanded/4 rounded to a
multiple of 8; hardsigmoid is relu6(x + 3) / 6; a block whose expansion equals its
input width has no expand conv."""
from __future__ import annotations

import torch
from torch import nn

from ..nn import ConvBNAct, FusedLinear, FusedSequential, GlobalAvgPool, InvertedResidual
from ._common import PooledClassifier, init_weights, make_divisible

# input, kernel, expanded, output, SE, activation (RE = relu, HS = hardswish), stride
V3_LARGE = [
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
]
V3_SMALL = [
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
]
_BN = dict(bn_eps=0.001, bn_momentum=0.01)


class MobileNetV3(PooledClassifier):
    def __init__(self, setting, last_channel: int, width_mult: float = 1.0,
                 num_classes: int = 1000, dropout: float = 0.2, resolution: int = 224):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"mobilenet_v3: width_mult must be > 0, got {width_mult}")
        self.resolution = resolution

        def ch(c):
            return make_divisible(c * width_mult, 8)

        features = [ConvBNAct.build(3, ch(setting[0][0]), 3, 2, activation="hardswish", **_BN)]
        for cin, k, exp, cout, se, act, stride in setting:
            cin, exp, cout = ch(cin), ch(exp), ch(cout)
            features.append(InvertedResidual.build(
                cin, cout, exp, k, stride, activation="relu" if act == "RE" else "hardswish",
                se_channels=make_divisible(exp // 4, 8) if se else None, **_BN))
        last_in = ch(setting[-1][3])
        features.append(ConvBNAct.build(last_in, 6 * last_in, 1, activation="hardswish", **_BN))
        self.features = FusedSequential(*features)
        self.avgpool = GlobalAvgPool()
        last = ch(last_channel)
        self.classifier = FusedSequential(
            FusedLinear(6 * last_in, last), nn.Hardswish(inplace=True), nn.Dropout(dropout, inplace=True),
            FusedLinear(last, num_classes))
        init_weights(self)


def mobilenet_v3_large(width_mult: float = 1.0, **kwargs) -> MobileNetV3:
    return MobileNetV3(V3_LARGE, 1280, width_mult, **kwargs)


def mobilenet_v3_small(width_mult: float = 1.0, **kwargs) -> MobileNetV3:
    return MobileNetV3(V3_SMALL, 1024, width_mult, **kwargs)
