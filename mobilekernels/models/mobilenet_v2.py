"""MobileNet v2 (Sandler et al. 2018), laid out exactly like torchvision's so its
state_dict (keys and shapes) and checkpoints load directly."""
from __future__ import annotations

import torch
from torch import nn

from ..nn import ConvBNAct, FusedLinear, FusedSequential, GlobalAvgPool, InvertedResidual
from ._common import PooledClassifier, init_weights, make_divisible

# t (expansion), c (channels), n (repeats), s (stride of the first repeat): Table 2.
V2_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
              [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


class MobileNetV2(PooledClassifier):
    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000, dropout: float = 0.2,
                 round_nearest: int = 8, resolution: int = 224):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"mobilenet_v2: width_mult must be > 0, got {width_mult}")
        self.resolution = resolution
        cin = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [ConvBNAct.build(3, cin, 3, 2, activation="relu6")]
        for t, c, n, s in V2_SETTING:
            cout = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                hidden = int(round(cin * t))
                features.append(InvertedResidual.build(
                    cin, cout, hidden, 3, s if i == 0 else 1, activation="relu6",
                    project_as_pair=True, layers_name="conv"))
                cin = cout
        features.append(ConvBNAct.build(cin, self.last_channel, 1, activation="relu6"))
        self.features = FusedSequential(*features)
        self.avgpool = GlobalAvgPool()
        self.classifier = FusedSequential(nn.Dropout(dropout), FusedLinear(self.last_channel, num_classes))
        init_weights(self)


def mobilenet_v2(width_mult: float = 1.0, **kwargs) -> MobileNetV2:
    return MobileNetV2(width_mult, **kwargs)
