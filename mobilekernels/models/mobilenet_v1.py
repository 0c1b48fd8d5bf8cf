"""MobileNet v1 (Howard et al. 2017, Table 1): a 3x3 stem and 13 depthwise-separable
layers, width multiplier alpha on every layer's channels, resolution multiplier rho
as the default input size."""
from __future__ import annotations

import torch
from torch import nn

from ..nn import ConvBNAct, FusedLinear, FusedSequential, GlobalAvgPool
from ._common import PooledClassifier, init_weights

# (output channels, stride of the depthwise conv) of the 13 separable layers, Table 1.
V1_LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNetV1(PooledClassifier):
    def __init__(self, width_mult: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                 dropout: float = 0.0):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"mobilenet_v1: width_mult must be > 0, got {width_mult}")
        if resolution < 32:
            raise ValueError(f"mobilenet_v1: resolution must be >= 32, got {resolution}")
        self.resolution = resolution

        def ch(c):
            return max(1, int(c * width_mult))

        cin = ch(32)
        layers = [ConvBNAct.build(3, cin, 3, 2, activation="relu")]
        for cout, stride in V1_LAYERS:
            layers.append(ConvBNAct.build(cin, cin, 3, stride, groups=cin, activation="relu"))
            layers.append(ConvBNAct.build(cin, ch(cout), 1, activation="relu"))
            cin = ch(cout)
        self.features = FusedSequential(*layers)
        self.avgpool = GlobalAvgPool()
        self.classifier = FusedSequential(nn.Dropout(dropout), FusedLinear(cin, num_classes))
        init_weights(self)


def mobilenet_v1(width_mult: float = 1.0, resolution: int = 224, **kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult, resolution, **kwargs)
