"""Argument checks shared by the loss functions of :mod:`deepgrad.nn.losses` and
:mod:`deepgrad.nn.classification_losses`: reductions, numbers, float inputs and targets of the
same shape, constant weights, and value ranges named by their first offending position."""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import _State
from deepgrad.tensor import Tensor, check_tensor, to_array

_REDUCTIONS = ("mean", "sum", "none")


def check_reduction(op: str, reduction: Any, allowed: tuple = _REDUCTIONS) -> None:
    """Raise unless ``reduction`` is one of ``allowed``."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}; got "
                         f"{reduction!r}")


def _check_input(op: str, input: Any, name: str = "input") -> Any:
    """The array of a floating point Tensor argument, or a TypeError."""
    if check_tensor(op, input, name).data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point; got {input.data.dtype}")
    return input.data


def _float_target(op: str, input: Tensor, target: Any) -> Tensor:
    """The target as a Tensor (keeping its graph) with the input's shape and a float dtype."""
    t = target if isinstance(target, Tensor) else Tensor._make(to_array(target))
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating point like the input; got "
                        f"{t.data.dtype} (convert it with .float())")
    if t.shape != input.shape:
        try:
            hint = (f"; broadcasting them would give shape "
                    f"{shape_str(xp.broadcast_shapes(input.shape, t.shape))}, rarely what is meant")
        except ValueError:
            hint = ""
        raise ShapeError(f"{op}: target shape {shape_str(t.shape)} differs from input shape "
                         f"{shape_str(input.shape)}; losses here do not broadcast them{hint}")
    return t


def _constant(op: str, name: str, value: Any, dtype: Any, shape: tuple | None = None,
              broadcasts_to: tuple | None = None) -> Any:
    """A weight argument as an array of ``dtype``: it gets no gradient (raises if it needs one),
    and has ``shape`` or broadcasts to ``broadcasts_to``."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value.requires_grad and _State.enabled:
            raise ValueError(f"{op}: {name} requires grad, but the loss is not differentiable "
                             f"with respect to {name} (as in PyTorch); pass {name}.detach()")
        value = value.data
    try:
        a = to_array(value)
    except TypeError:
        a = None
    if a is None or a.dtype.kind not in "fiu":
        raise TypeError(f"{op}: {name} must be a Tensor or an array of numbers; got "
                        f"{type(value).__name__}" + ("" if a is None else f" of dtype {a.dtype}"))
    if shape is not None and a.shape != shape:
        raise ShapeError(f"{op}: {name} must have shape {shape_str(shape)}; got "
                         f"{shape_str(a.shape)}")
    if broadcasts_to is not None:
        try:
            fits = xp.broadcast_shapes(a.shape, broadcasts_to) == broadcasts_to
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{op}: {name} of shape {shape_str(a.shape)} does not broadcast to "
                             f"the input's shape {shape_str(broadcasts_to)}")
    return a.astype(dtype, copy=False)


def _position(flat: int, shape: tuple) -> str:
    if len(shape) <= 1:
        return str(flat)
    return str(tuple(int(i) for i in xp.unravel_index(flat, shape)))


def _check_range(op: str, name: str, a: Any, low: float, high: float, hint: str = "") -> None:
    """Raise naming the first element of ``a`` outside [low, high] (one min and max pass)."""
    if a.size and (a.min() < low or a.max() > high):
        flat = int(xp.flatnonzero((a < low) | (a > high))[0])
        raise ValueError(f"{op}: {name} must be in [{low:g}, {high:g}]; got "
                         f"{a.flat[flat].item()!r} at position {_position(flat, a.shape)}{hint}")


def check_number(op: str, name: str, value: Any, low: float, high: float = float("inf"),
                 low_open: bool = False) -> float:
    """``value`` as a float, or an error unless it is a number in [low, high] (> low if
    ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)):
        raise TypeError(f"{op}: {name} must be a number; got {type(value).__name__}")
    value = float(value)
    if not (low < value if low_open else low <= value) or value > high:
        bounds = f"> {low:g}" if low_open else \
            f">= {low:g}" if high == float("inf") else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{op}: {name} must be {bounds}; got {value:g}")
    return value
