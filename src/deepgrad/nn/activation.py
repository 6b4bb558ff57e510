"""Activation layers: modules around the nonlinearities of ``deepgrad.ops``."""

from __future__ import annotations

from deepgrad.creation import empty
from deepgrad.nn import init as initializers
from deepgrad.nn import inplace_functions as functions
from deepgrad.nn.module import Module, Parameter, layer_error
from deepgrad.ops import activations, piecewise, reductions, smooth, thresholding
from deepgrad.tensor import Tensor


class _MaybeInPlace(Module):
    """An activation that may overwrite its input with its output, PyTorch's ``inplace=True``
    (see :func:`deepgrad.ops.inplace.activate_in_place`)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def _with_inplace(self, text: str = "") -> str:
        if not self.inplace:
            return text
        return f"{text}, inplace=True" if text else "inplace=True"

    def extra_repr(self) -> str:
        return self._with_inplace()


class ReLU(_MaybeInPlace):
    """y = max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.relu(x, self.inplace)


class LeakyReLU(_MaybeInPlace):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return functions.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return self._with_inplace(f"negative_slope={self.negative_slope}")


class ELU(_MaybeInPlace):
    """y = x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return functions.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return self._with_inplace(f"alpha={self.alpha}")


class GELU(Module):
    """y = x * Phi(x), exact (``approximate='none'``) or with the tanh formula."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return activations.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_MaybeInPlace):
    """y = x * sigmoid(x) (also called swish)."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.silu(x, self.inplace)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return activations.sigmoid(x)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return reductions.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return reductions.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class ReLU6(_MaybeInPlace):
    """y = min(max(x, 0), 6)."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.relu6(x, self.inplace)


class Hardtanh(_MaybeInPlace):
    """y = min(max(x, min_val), max_val); the gradient is 0 on both boundaries."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__(inplace)
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than max_val "
                             f"({max_val})")
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x: Tensor) -> Tensor:
        return functions.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return self._with_inplace(f"min_val={self.min_val}, max_val={self.max_val}")


class Hardsigmoid(_MaybeInPlace):
    """y = relu6(x + 3) / 6."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.hardsigmoid(x, self.inplace)


class Hardswish(_MaybeInPlace):
    """y = x * relu6(x + 3) / 6 (MobileNetV3)."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.hardswish(x, self.inplace)


class PReLU(Module):
    """y = x if x > 0 else weight * x, with a learned slope: one shared (``num_parameters=1``)
    or one per channel (dimension 1 of the input), each starting at ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, int) \
                or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got "
                             f"{num_parameters!r}")
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(empty(num_parameters))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every slope back to ``init``."""
        initializers.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        channels = self.num_parameters
        if channels > 1 and (x.ndim < 2 or x.shape[1] != channels):
            raise layer_error(self, f"(N, {channels}, ...) with {channels} channels in "
                              f"dimension 1", x.shape)
        return piecewise.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class SELU(_MaybeInPlace):
    """y = scale * (x if x > 0 else alpha * (exp(x) - 1)), the self-normalizing constants."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.selu(x, self.inplace)


class CELU(_MaybeInPlace):
    """y = x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return functions.celu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return self._with_inplace(f"alpha={self.alpha}")


class Mish(_MaybeInPlace):
    """y = x * tanh(softplus(x))."""

    def forward(self, x: Tensor) -> Tensor:
        return functions.mish(x, self.inplace)


class LogSigmoid(Module):
    """y = log(sigmoid(x)), computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        return smooth.logsigmoid(x)


class Softsign(Module):
    """y = x / (1 + |x|)."""

    def forward(self, x: Tensor) -> Tensor:
        return smooth.softsign(x)


class Softplus(Module):
    """y = log(1 + exp(beta * x)) / beta, reverting to x where beta * x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        return activations.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class GLU(Module):
    """y = a * sigmoid(b), a and b the halves of x along ``dim``.   (..., 2n) -> (..., n)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        if -x.ndim <= self.dim < x.ndim and x.shape[self.dim] % 2:
            raise layer_error(self, f"with an even size in dimension {self.dim}", x.shape)
        return smooth.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """y = softmax(-x) along ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return smooth.softmin(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Threshold(_MaybeInPlace):
    """y = x if x > threshold else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def forward(self, x: Tensor) -> Tensor:
        return functions.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return self._with_inplace(f"threshold={self.threshold}, value={self.value}")


class Hardshrink(Module):
    """y = x if |x| > lambd else 0."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return thresholding.hardshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Module):
    """y = x - lambd if x > lambd, x + lambd if x < -lambd, else 0."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return thresholding.softshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Tanhshrink(Module):
    """y = x - tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return thresholding.tanhshrink(x)


class RReLU(_MaybeInPlace):
    """Randomized leaky ReLU: y = x if x > 0 else a * x, with ``a`` drawn uniformly from
    [lower, upper] per element while training (from deepgrad's generator) and the mean slope
    (lower + upper) / 2 in eval mode."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__(inplace)
        self.lower, self.upper = lower, upper

    def forward(self, x: Tensor) -> Tensor:
        return functions.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return self._with_inplace(f"lower={self.lower}, upper={self.upper}")


class Softmax2d(Module):
    """Softmax over the channels at each position.   (N, C, H, W) or (C, H, W), same shape."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (3, 4):
            raise layer_error(self, "(N, C, H, W) or (C, H, W)", x.shape)
        return reductions.softmax(x, -3)


__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "PReLU",
    "RReLU",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmax2d",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Tanh",
    "Tanhshrink",
    "Threshold",
]
