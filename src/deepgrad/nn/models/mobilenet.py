"""A MobileNet (Howard et al. 2017) for small images: depthwise separable convolution blocks."""

from __future__ import annotations

import os

from deepgrad.nn.activation import ReLU
from deepgrad.nn.containers import Sequential
from deepgrad.nn.conv import Conv2d
from deepgrad.nn.flatten import Flatten
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import Module
from deepgrad.nn.norm import BatchNorm2d
from deepgrad.nn.pool import AdaptiveAvgPool2d
from deepgrad.nn.utils.transfer import load_pretrained
from deepgrad.tensor import Tensor

# (output channels at width 1, stride) of each depthwise separable block, for 28x28 or 32x32.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 1))


def separable_block(in_channels: int, out_channels: int, stride: int) -> Sequential:
    """Depthwise 3x3 convolution, batch norm, ReLU, then pointwise 1x1 convolution, batch norm,
    ReLU."""
    return Sequential(
        Conv2d(in_channels, in_channels, 3, stride, padding=1, groups=in_channels, bias=False),
        BatchNorm2d(in_channels), ReLU(),
        Conv2d(in_channels, out_channels, 1, bias=False), BatchNorm2d(out_channels), ReLU(),
    )


class MobileNet(Module):
    """A 3x3 stem, depthwise separable blocks (channels scaled by ``width``), global average
    pooling and a linear classifier."""

    head_name = "head"  # what replace_head replaces: the layers after the features

    def __init__(self, width: float = 1.0, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"mobilenet: width must be positive; got {width}")
        channels = max(8, int(32 * width))
        self.stem = Sequential(Conv2d(in_channels, channels, 3, padding=1, bias=False),
                               BatchNorm2d(channels), ReLU())
        blocks = []
        for out, stride in _BLOCKS:
            out_channels = max(8, int(out * width))
            blocks.append(separable_block(channels, out_channels, stride))
            channels = out_channels
        self.blocks = Sequential(*blocks)
        self.head = Sequential(AdaptiveAvgPool2d(1), Flatten(), Linear(channels, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))

    def embed(self, x: Tensor) -> Tensor:
        """The penultimate features: the globally pooled last block, the input of the
        classifier.  (N, in_channels, H, W) -> (N, channels of the last block)."""
        x = self.blocks(self.stem(x))
        for layer in list(self.head)[:-1]:
            x = layer(x)
        return x


def mobilenet(width: float = 1.0, in_channels: int = 1, num_classes: int = 10,
              pretrained: str | os.PathLike | None = None) -> MobileNet:
    """A MobileNet of depthwise separable blocks for 28x28 or 32x32 images.

    ``pretrained`` is a weights file of the same architecture (from ``deepgrad pretrain`` or
    ``dg.save``) to load; a file of another architecture raises a StateDictError listing the
    keys that do not fit.
    """
    model = MobileNet(width, in_channels, num_classes)
    return model if pretrained is None else load_pretrained(model, pretrained)


__all__ = ["MobileNet", "mobilenet", "separable_block"]
