"""The activations and dropouts of ``torch.nn.functional`` that take ``inplace``, with PyTorch's
signatures, and their in-place forms (``F.relu_``, ...): with ``inplace=True`` the result is
written into the input's memory and the input is returned
(:func:`deepgrad.ops.inplace.activate_in_place`); otherwise they are deepgrad's ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deepgrad.ops import activations, piecewise, smooth, thresholding
from deepgrad.ops import dropout as dropouts
from deepgrad.ops.inplace import activate_in_place
from deepgrad.tensor import Tensor


def _run(input: Any, inplace: bool, op: str, activation: Callable[[Any], Tensor],
         reads_input: bool = False) -> Tensor:
    if inplace:
        return activate_in_place(input, activation, op, reads_input)
    return activation(input)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise max(x, 0); the gradient at 0 is 0."""
    return _run(input, inplace, "relu", activations.relu)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise min(max(x, 0), 6)."""
    return _run(input, inplace, "relu6", piecewise.relu6)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Elementwise x for x > 0, else negative_slope * x."""
    return _run(input, inplace, "leaky_relu",
                lambda x: activations.leaky_relu(x, negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Elementwise x for x > 0, else alpha * (exp(x) - 1)."""
    return _run(input, inplace, "elu", lambda x: activations.elu(x, alpha), reads_input=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Elementwise x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    return _run(input, inplace, "celu", lambda x: smooth.celu(x, alpha), reads_input=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise scale * elu(x, alpha) with the self-normalizing constants."""
    return _run(input, inplace, "selu", smooth.selu, reads_input=True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Elementwise min(max(x, min_val), max_val)."""
    return _run(input, inplace, "hardtanh", lambda x: piecewise.hardtanh(x, min_val, max_val))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``input`` where it is greater than ``threshold``, else ``value``."""
    return _run(input, inplace, "threshold",
                lambda x: thresholding.threshold(x, threshold, value))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: random slopes in [lower, upper] while training, their mean
    otherwise."""
    return _run(input, inplace, "rrelu",
                lambda x: thresholding.rrelu(x, lower, upper, training))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise x * sigmoid(x)."""
    return _run(input, inplace, "silu", activations.silu, reads_input=True)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise x * tanh(softplus(x))."""
    return _run(input, inplace, "mish", smooth.mish, reads_input=True)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise x * relu6(x + 3) / 6."""
    return _run(input, inplace, "hardswish", piecewise.hardswish, reads_input=True)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise relu6(x + 3) / 6."""
    return _run(input, inplace, "hardsigmoid", piecewise.hardsigmoid)


def _dropout(op: str, function: Callable[..., Tensor], input: Any, p: float, training: bool,
             inplace: bool) -> Tensor:
    # Not training (or p = 0), dropout is the identity, which returns the input as it is.
    return _run(input, inplace and training and p != 0, op,
                lambda x: function(x, p, training))


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) when
    training; the identity otherwise."""
    return _dropout("dropout", dropouts.dropout, input, p, training, inplace)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) sequences when training."""
    return _dropout("dropout1d", dropouts.dropout1d, input, p, training, inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) feature maps when training."""
    return _dropout("dropout2d", dropouts.dropout2d, input, p, training, inplace)


def _in_place_form(function: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    def in_place(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return function(input, *args, **kwargs, inplace=True)

    in_place.__name__ = in_place.__qualname__ = name
    in_place.__doc__ = f"``{function.__name__}(input, ..., inplace=True)``."
    return in_place


relu_ = _in_place_form(relu, "relu_")
leaky_relu_ = _in_place_form(leaky_relu, "leaky_relu_")
elu_ = _in_place_form(elu, "elu_")
celu_ = _in_place_form(celu, "celu_")
selu_ = _in_place_form(selu, "selu_")
hardtanh_ = _in_place_form(hardtanh, "hardtanh_")
threshold_ = _in_place_form(threshold, "threshold_")
rrelu_ = _in_place_form(rrelu, "rrelu_")

__all__ = ["celu", "celu_", "dropout", "dropout1d", "dropout2d", "elu", "elu_", "hardsigmoid",
           "hardswish", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "mish", "relu",
           "relu6", "relu_", "rrelu", "rrelu_", "selu", "selu_", "silu", "threshold",
           "threshold_"]
