"""The fully connected layers: Linear, LazyLinear (in_features taken from the first input) and
Bilinear."""

from __future__ import annotations

import math

from deepgrad.creation import empty
from deepgrad.errors import shape_str
from deepgrad.nn import init
from deepgrad.nn.module import Module, Parameter, layer_error
from deepgrad.ops.bilinear import bilinear
from deepgrad.ops.linear import linear
from deepgrad.tensor import Tensor, as_array


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


class LazyLinear(Linear):
    """A Linear whose ``in_features`` is the last dim of its first input: the parameters are
    created (with PyTorch's initialization, in the input's dtype) at the first call, and the
    module then becomes a plain :class:`Linear`, as in PyTorch. Loading a state dict into it
    first creates them with the saved weight's shape and dtype.

    Build the optimizer after the first forward (or after loading a state dict, whose shapes
    also create the parameters): before it the module has no parameters to give it.
    """

    def __init__(self, out_features: int, bias: bool = True) -> None:
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)
        self._with_bias = bias

    def initialize(self, in_features: int, dtype: object = None) -> None:
        """Create the parameters for ``in_features`` inputs and become a Linear."""
        self.in_features = in_features
        self.weight = Parameter(empty(self.out_features, in_features, dtype=dtype))
        if self._with_bias:
            self.bias = Parameter(empty(self.out_features, dtype=dtype))
        del self._with_bias
        self.__class__ = Linear
        self.reset_parameters()

    def _materialize_from_state(self, state_dict: dict, prefix: str) -> None:
        """Called by ``load_state_dict`` before copying: the saved weight gives the shape and
        the dtype."""
        if prefix + "weight" not in state_dict:
            return
        weight = as_array(state_dict[prefix + "weight"])
        if weight.ndim != 2 or weight.shape[0] != self.out_features:
            raise ValueError(f"LazyLinear: the state dict's {prefix}weight has shape "
                             f"{shape_str(weight.shape)}; expected ({self.out_features}, "
                             "in_features)")
        self.initialize(int(weight.shape[1]), weight.dtype if weight.dtype.kind == "f" else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 0:
            raise layer_error(self, "(..., in_features)", x.shape)
        self.initialize(x.shape[-1], x.dtype if x.data.dtype.kind == "f" else None)
        return self.forward(x)

    def extra_repr(self) -> str:
        return f"in_features=0, out_features={self.out_features}, bias={self._with_bias}"


class Bilinear(Module):
    """y = x1 @ W_k @ x2 + b_k for each output k.   x1: (..., in1_features) and
    x2: (..., in2_features) -> y: (..., out_features).

    ``weight`` is (out_features, in1_features, in2_features); weight and bias are initialized
    uniform in +-1/sqrt(in1_features), as in PyTorch.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True) -> None:
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in1_features, in2_features))
        self.bias = Parameter(empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial weights (PyTorch's default for Bilinear)."""
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        in1, in2 = self.in1_features, self.in2_features
        if (x1.ndim == 0 or x2.ndim == 0 or x1.shape[-1] != in1 or x2.shape[-1] != in2
                or x1.shape[:-1] != x2.shape[:-1]):
            raise layer_error(self, f"(..., {in1}) and a second input (..., {in2}) with the same "
                              "leading dims", x1.shape,
                              f"The second input has shape {shape_str(x2.shape)}")
        return bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


__all__ = ["Bilinear", "LazyLinear", "Linear"]
