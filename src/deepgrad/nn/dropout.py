"""Dropout layers: zero random activations while training (scaling the rest), identity in eval."""

from __future__ import annotations

from deepgrad.nn import inplace_functions as functions
from deepgrad.nn.module import Module, layer_error
from deepgrad.tensor import Tensor


class Dropout(Module):
    """Inverted dropout: each element zeroed with probability ``p`` while training, the rest
    scaled by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be between 0 and 1; got {p}")
        self.p = p
        self.inplace = inplace  # PyTorch's: the input's memory holds the output

    def forward(self, x: Tensor) -> Tensor:
        return functions.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=True" if self.inplace else f"p={self.p}"


class Dropout2d(Dropout):
    """Dropout of whole channels of (N, C, H, W) feature maps."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.dropout2d(x, self.p, self.training, self.inplace)


class Dropout1d(Dropout):
    """Dropout of whole channels of (N, C, L) or (C, L) sequences."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3):
            raise layer_error(self, "(N, C, L) or (C, L)", x.shape)
        return functions.dropout1d(x, self.p, self.training, self.inplace)


__all__ = ["Dropout", "Dropout1d", "Dropout2d"]
