"""PyTorch twins of deepgrad's model zoo: the same architectures with the same state_dict keys,
for the benchmarks (and the tests that load one's weights into the other)."""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any


def torch_mlp(t: ModuleType, sizes: tuple[int, ...] = (784, 256, 256, 10)) -> Any:
    """``dg.models.mlp(sizes)`` in torch."""
    tnn = t.nn
    layers: list[Any] = [tnn.Flatten()]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(tnn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(tnn.ReLU())
    return tnn.Sequential(*layers)


def torch_cnn(t: ModuleType, in_channels: int = 1, num_classes: int = 10,
              widths: tuple[int, ...] = (32, 64, 128), hidden: int = 128,
              dropout: float = 0.1) -> Any:
    """``dg.models.cnn`` in torch (``t`` is the torch module)."""
    tnn = t.nn
    blocks = []
    for i, o in zip([in_channels, *widths], widths):
        blocks += [tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o),
                   tnn.MaxPool2d(2), tnn.ReLU()]
    side = 28 >> len(widths)

    class CNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(*blocks)
            self.classifier = tnn.Sequential(
                tnn.Flatten(), tnn.Dropout(dropout), tnn.Linear(widths[-1] * side * side, hidden),
                tnn.ReLU(), tnn.Dropout(dropout), tnn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    return CNN()


def torch_resnet(t: ModuleType, depth: int = 20, in_channels: int = 1, num_classes: int = 10,
                 width: int = 16) -> Any:
    """``dg.models.resnet`` in torch."""
    tnn = t.nn

    def conv_bn(i, o, k, s):
        return [tnn.Conv2d(i, o, k, s, padding=k // 2, bias=False), tnn.BatchNorm2d(o)]

    class Residual(tnn.Module):
        def __init__(self, block, shortcut):
            super().__init__()
            self.block, self.shortcut = block, shortcut

        def forward(self, x):
            return self.block(x) + (x if self.shortcut is None else self.shortcut(x))

    class Block(tnn.Module):
        def __init__(self, i, o, s):
            super().__init__()
            shortcut = tnn.Sequential(*conv_bn(i, o, 1, s)) if s != 1 or i != o else None
            self.residual = Residual(tnn.Sequential(*conv_bn(i, o, 3, s), tnn.ReLU(),
                                                    *conv_bn(o, o, 3, 1)), shortcut)
            self.relu = tnn.ReLU()

        def forward(self, x):
            return self.relu(self.residual(x))

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            n = (depth - 2) // 6
            self.stem = tnn.Sequential(*conv_bn(in_channels, width, 3, 1), tnn.ReLU())
            blocks, c = [], width
            for stage, o in enumerate((width, 2 * width, 4 * width)):
                for i in range(n):
                    blocks.append(Block(c, o, 2 if stage and not i else 1))
                    c = o
            self.stages = tnn.Sequential(*blocks)
            self.head = tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(),
                                       tnn.Linear(c, num_classes))

        def forward(self, x):
            return self.head(self.stages(self.stem(x)))

    return ResNet()


def torch_mobilenet(t: ModuleType, width: float = 1.0, in_channels: int = 1,
                    num_classes: int = 10) -> Any:
    """``dg.models.mobilenet`` in torch."""
    tnn = t.nn
    c = max(8, int(32 * width))
    stem = tnn.Sequential(tnn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                          tnn.BatchNorm2d(c), tnn.ReLU())
    blocks = []
    for out, s in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 1)):
        o = max(8, int(out * width))
        blocks.append(tnn.Sequential(
            tnn.Conv2d(c, c, 3, s, padding=1, groups=c, bias=False), tnn.BatchNorm2d(c),
            tnn.ReLU(), tnn.Conv2d(c, o, 1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU()))
        c = o
    model = tnn.Module()
    model.stem, model.blocks = stem, tnn.Sequential(*blocks)
    model.head = tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(c, num_classes))
    model.forward = lambda x: model.head(model.blocks(model.stem(x)))
    return model


__all__ = ["torch_cnn", "torch_mlp", "torch_mobilenet", "torch_resnet"]
