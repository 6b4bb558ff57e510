"""CIFAR-style ResNet (He et al. 2016, section 4.2) for small images: depth = 6n + 2."""

from __future__ import annotations

import os

from deepgrad.nn.activation import ReLU
from deepgrad.nn.containers import Residual, Sequential
from deepgrad.nn.conv import Conv2d
from deepgrad.nn.flatten import Flatten
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import Module
from deepgrad.nn.norm import BatchNorm2d
from deepgrad.nn.pool import AdaptiveAvgPool2d
from deepgrad.nn.utils.transfer import load_pretrained
from deepgrad.tensor import Tensor


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> list[Module]:
    return [Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2,
                   bias=False), BatchNorm2d(out_channels)]


class BasicBlock(Module):
    """Two 3x3 convolutions with batch norm, added to the input (through a 1x1 convolution when
    the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        block = Sequential(*_conv_bn(in_channels, out_channels, 3, stride), ReLU(),
                           *_conv_bn(out_channels, out_channels, 3, 1))
        shortcut = None
        if stride != 1 or in_channels != out_channels:
            shortcut = Sequential(*_conv_bn(in_channels, out_channels, 1, stride))
        self.residual = Residual(block, shortcut)
        self.relu = ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.residual(x))


class ResNet(Module):
    """A 3x3 stem, three stages of ``n`` basic blocks (widths w, 2w, 4w; the last two halve the
    resolution), global average pooling and a linear classifier."""

    head_name = "head"  # what replace_head replaces: the layers after the features

    def __init__(self, depth: int = 20, in_channels: int = 1, num_classes: int = 10,
                 width: int = 16) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"resnet: depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...); "
                             f"got {depth}")
        n = (depth - 2) // 6
        self.stem = Sequential(*_conv_bn(in_channels, width, 3, 1), ReLU())
        blocks: list[Module] = []
        channels = width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(channels, out_channels, 2 if stage and not i else 1))
                channels = out_channels
        self.stages = Sequential(*blocks)
        self.head = Sequential(AdaptiveAvgPool2d(1), Flatten(), Linear(channels, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))

    def embed(self, x: Tensor) -> Tensor:
        """The penultimate features: the globally pooled last stage, the input of the
        classifier.  (N, in_channels, H, W) -> (N, 4 * width)."""
        x = self.stages(self.stem(x))
        for layer in list(self.head)[:-1]:
            x = layer(x)
        return x


def resnet(depth: int = 20, in_channels: int = 1, num_classes: int = 10, width: int = 16,
           pretrained: str | os.PathLike | None = None) -> ResNet:
    """A CIFAR-style ResNet of ``depth`` layers (6n + 2) for 28x28 or 32x32 images.

    ``pretrained`` is a weights file of the same architecture (from ``deepgrad pretrain`` or
    ``dg.save``) to load; a file of another architecture raises a StateDictError listing the
    keys that do not fit.
    """
    model = ResNet(depth, in_channels, num_classes, width)
    return model if pretrained is None else load_pretrained(model, pretrained)


__all__ = ["BasicBlock", "ResNet", "resnet"]
