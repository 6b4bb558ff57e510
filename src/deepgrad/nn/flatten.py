"""Layers that only change the shape: ``Identity``, ``Flatten``, ``Unflatten``."""

from __future__ import annotations

from typing import Any

from deepgrad.nn.module import Module, layer_error
from deepgrad.ops import shape
from deepgrad.tensor import Tensor


class Identity(Module):
    """y = x (a placeholder, e.g. for a removed head); accepts and ignores any arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Dimensions ``start_dim`` to ``end_dim`` merged into one.   (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim <= max(self.start_dim, self.end_dim if self.end_dim >= 0 else 0):
            raise layer_error(self, f"with at least {self.start_dim + 1} dimensions", x.shape)
        return shape.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Dimension ``dim`` split into ``unflattened_size``.   (N, C*H*W) -> (N, C, H, W)."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        d = self.dim % x.ndim if -x.ndim <= self.dim < x.ndim else None
        size = 1
        for s in self.unflattened_size:
            size *= s if s != -1 else 1
        if d is None or (-1 not in self.unflattened_size and x.shape[d] != size):
            raise layer_error(self, f"with dimension {self.dim} of size "
                              f"{'a multiple of ' if -1 in self.unflattened_size else ''}{size}",
                              x.shape)
        return shape.reshape(x, *x.shape[:d], *self.unflattened_size, *x.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


__all__ = ["Flatten", "Identity", "Unflatten"]
