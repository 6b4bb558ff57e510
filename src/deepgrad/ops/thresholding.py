"""Activations that cut or shrink at thresholds: threshold, hardshrink, softshrink, tanhshrink
and the randomized leaky ReLU (PyTorch's ``F.threshold``, ``F.hardshrink``, ...).

Each is a composition of differentiable ops (where, clamp, tanh, mul) that computes PyTorch's
formula, so its gradient is theirs: none is on a hot path that would pay for a fused Function.
"""

from __future__ import annotations

from deepgrad.creation import generator
from deepgrad.ops import arithmetic, elementwise
from deepgrad.ops.activations import _check_floating, _number, clamp, leaky_relu
from deepgrad.ops.indexing import where
from deepgrad.tensor import Tensor


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """``input`` where it is greater than ``threshold``, else ``value``; the gradient flows only
    where the input is kept."""
    _check_floating("threshold", input)
    limit = _number("threshold", "threshold", threshold)
    return where(input > limit, input, _number("threshold", "value", value))


def _lambd(op: str, lambd: float) -> float:
    value = _number(op, "lambd", lambd)
    if value < 0:
        raise ValueError(f"{op}: lambd must be >= 0; got {value}")
    return value


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``input`` where ``|input| > lambd``, else 0."""
    _check_floating("hardshrink", input)
    limit = _lambd("hardshrink", lambd)
    return where(elementwise.abs(input) > limit, input, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``input`` moved towards 0 by ``lambd`` and 0 within [-lambd, lambd]: that is
    ``input - clamp(input, -lambd, lambd)``, whose gradient is 1 outside the band, 0 inside."""
    _check_floating("softshrink", input)
    limit = _lambd("softshrink", lambd)
    return input - clamp(input, -limit, limit)


def tanhshrink(input: Tensor) -> Tensor:
    """``input - tanh(input)``."""
    _check_floating("tanhshrink", input)
    return input - elementwise.tanh(input)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False) -> Tensor:
    """Randomized leaky ReLU (Xu et al., 2015): ``input`` where positive, else ``a * input``.

    While training, ``a`` is drawn uniformly from [lower, upper] for each element from
    deepgrad's generator (so ``dg.manual_seed`` reproduces it); otherwise it is the mean slope
    (lower + upper) / 2, a leaky ReLU.
    """
    op = "rrelu"
    _check_floating(op, input)
    lower, upper = _number(op, "lower", lower), _number(op, "upper", upper)
    if lower > upper:
        raise ValueError(f"{op}: lower ({lower}) must not exceed upper ({upper})")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    slopes = generator().uniform(lower, upper, input.shape).astype(input.data.dtype)
    # PyTorch scales x <= 0 (so the gradient at 0 is the slope, not 1).
    return where(input > 0, input, arithmetic.mul(input, Tensor._make(slopes)))


__all__ = ["hardshrink", "rrelu", "softshrink", "tanhshrink", "threshold"]
