"""The multi-layer perceptron and the flagship small CNN for 28x28 images."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

from deepgrad.errors import ShapeError
from deepgrad.nn.activation import ReLU
from deepgrad.nn.containers import Sequential
from deepgrad.nn.conv import Conv2d
from deepgrad.nn.dropout import Dropout
from deepgrad.nn.flatten import Flatten
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import Module
from deepgrad.nn.norm import BatchNorm2d
from deepgrad.nn.pool import MaxPool2d
from deepgrad.nn.utils.transfer import load_pretrained
from deepgrad.tensor import Tensor


def mlp(sizes: Sequence[int] = (784, 256, 256, 10), dropout: float = 0.0) -> Sequential:
    """Fully connected layers with ReLU between them, after a Flatten.

    Args:
        sizes: the flattened input size, the hidden sizes, and the number of classes last;
            ``(784, 256, 256, 10)`` is 784-256-256-10.
        dropout: dropout probability after each hidden layer (0 for none).
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size; got {sizes}")
    layers: list[Module] = [Flatten()]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ReLU())
            if dropout:
                layers.append(Dropout(dropout))
    return Sequential(*layers)


class CNN(Module):
    """The flagship: ``len(widths)`` blocks of 3x3 convolution, batch norm, 2x2 max pooling and
    ReLU, then a dropout-regularized classifier.  (N, in_channels, H, W) -> (N, num_classes).

    Each block halves the image side (rounding down): 28 -> 14 -> 7 -> 3 for the default widths.
    ReLU comes after the pooling: both are monotonic, so the order changes no value and no
    gradient, and the ReLU passes over a quarter of the elements.
    """

    head_name = "classifier"  # what replace_head replaces: the layers after the features

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 widths: Sequence[int] = (32, 64, 128), hidden: int = 128, dropout: float = 0.1,
                 image_size: int = 28) -> None:
        super().__init__()
        if not widths:
            raise ValueError("cnn: widths needs at least one block's channel count")
        layers: list[Module] = []
        side = image_size
        for fan_in, width in zip([in_channels, *widths], widths):
            layers += [Conv2d(fan_in, width, 3, padding=1, bias=False), BatchNorm2d(width),
                       MaxPool2d(2), ReLU()]
            side //= 2
        if side < 1:
            raise ValueError(f"cnn: {len(widths)} pooling blocks need images of at least "
                             f"{2 ** len(widths)} pixels a side; got image_size={image_size}")
        self.image_size, self._blocks = image_size, len(widths)
        self.features = Sequential(*layers)
        self.classifier = Sequential(
            Flatten(), Dropout(dropout), Linear(widths[-1] * side * side, hidden), ReLU(),
            Dropout(dropout), Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        self._check_size(x)
        return self.classifier(self.features(x))

    def _check_size(self, x: Tensor) -> None:
        """Images whose side the pooling does not bring to the classifier's (the usual mistake:
        another dataset's image size) fail here, naming the fix, not in the first Linear."""
        if x.ndim not in (3, 4):
            return  # the first convolution says what it expects
        def pooled(side: int) -> int:
            return side // 2 ** self._blocks

        built = pooled(self.image_size)
        h, w = x.shape[-2:]
        if (pooled(h), pooled(w)) != (built, built):
            raise ShapeError(f"CNN: built for {self.image_size}x{self.image_size} images (its "
                             f"classifier takes {built}x{built} positions after the pooling); "
                             f"got {h}x{w}: build it with dg.models.cnn(image_size={h})"
                             + ("" if h == w else " for square images, or resize them"))

    def embed(self, x: Tensor) -> Tensor:
        """The penultimate features: the hidden layer's activations, before the last dropout
        and Linear.  (N, in_channels, H, W) -> (N, hidden)."""
        x = self.features(x)
        for layer in list(self.classifier)[:-2]:
            x = layer(x)
        return x


def cnn(in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128),
        hidden: int = 128, dropout: float = 0.1, image_size: int = 28,
        pretrained: str | os.PathLike | None = None) -> CNN:
    """The flagship small CNN for Fashion-MNIST (``features`` then ``classifier``).

    ``pretrained`` is a weights file of the same architecture (from ``deepgrad pretrain`` or
    ``dg.save``) to load; a file of another architecture raises a StateDictError listing the
    keys that do not fit.
    """
    model = CNN(in_channels, num_classes, widths, hidden, dropout, image_size)
    return model if pretrained is None else load_pretrained(model, pretrained)


__all__ = ["CNN", "cnn", "mlp"]
