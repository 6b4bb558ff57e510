"""Dropout layers: zero random activations while training (scaling the rest), identity in eval."""

from __future__ import annotations

from deepgrad.nn.module import Module, layer_error
from deepgrad.ops import dropout as ops_dropout
from deepgrad.tensor import Tensor


class Dropout(Module):
    """Inverted dropout: each element zeroed with probability ``p`` while training, the rest
    scaled by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be between 0 and 1; got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return ops_dropout.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Dropout of whole channels of (N, C, H, W) feature maps."""

    def forward(self, x: Tensor) -> Tensor:
        return ops_dropout.dropout2d(x, self.p, self.training)


class Dropout1d(Dropout):
    """Dropout of whole channels of (N, C, L) or (C, L) sequences."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3):
            raise layer_error(self, "(N, C, L) or (C, L)", x.shape)
        return ops_dropout.dropout1d(x, self.p, self.training)


__all__ = ["Dropout", "Dropout1d", "Dropout2d"]
