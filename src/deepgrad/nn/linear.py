"""The fully connected layer."""

from __future__ import annotations

import math

from deepgrad.creation import empty
from deepgrad.nn import init
from deepgrad.nn.module import Module, Parameter, layer_error
from deepgrad.ops.linear import linear
from deepgrad.tensor import Tensor


class Linear(Module):
    """y = x @ W.T + b.   x: (..., in_features) -> y: (..., out_features).

    Initialized like PyTorch's: W and b uniform in +-1/sqrt(in_features) (kaiming_uniform_ with
    a = sqrt(5) for W).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features))
        self.bias = Parameter(empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial weights (PyTorch's default for Linear)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise layer_error(self, f"(..., {self.in_features})", x.shape)
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


__all__ = ["Linear"]
