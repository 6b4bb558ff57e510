"""The layers of :mod:`deepgrad.ops.classic` as modules: ``LocalResponseNorm`` (AlexNet),
``MaxUnpool2d`` (SegNet's decoder) and ``AlphaDropout`` (for SELU networks), with PyTorch's
arguments and state (none: these layers have no parameters)."""

from __future__ import annotations

from typing import Any

from deepgrad.nn.module import Module
from deepgrad.ops import classic
from deepgrad.tensor import Tensor


class LocalResponseNorm(Module):
    """Each activation divided by ``(k + alpha * mean of the squares of ``size`` neighbouring
    channels) ** beta``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
                 ) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return classic.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class MaxUnpool2d(Module):
    """The inverse of ``MaxPool2d(..., return_indices=True)``: ``unpool(pooled, indices)``
    puts each value back at its index, zeros elsewhere."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return classic.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                                    output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AlphaDropout(Module):
    """Dropout that keeps self-normalizing (SELU) activations standardized while training;
    the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"AlphaDropout: p must be between 0 and 1; got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        out = classic.alpha_dropout(x, self.p, self.training)
        if self.inplace and out is not x:
            return x.copy_(out)
        return out

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=True" if self.inplace else f"p={self.p}"
