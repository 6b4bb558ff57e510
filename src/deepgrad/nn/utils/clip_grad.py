"""Gradient clipping: rescale all gradients so that their total norm stays under a bound
(``clip_grad_norm_``), or clamp each gradient element (``clip_grad_value_``). Both change the
``.grad`` arrays in place, between ``backward()`` and ``optimizer.step()``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import shape_str
from deepgrad.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor], caller: str) -> list[tuple[int, Any]]:
    """(position, gradient array) of every parameter that has a gradient."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for position, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{caller}: parameters must be Tensors; got {type(p).__name__} at "
                            f"position {position}")
    return [(position, p.grad.data) for position, p in enumerate(params) if p.grad is not None]


def _norm_type(norm_type: Any) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, Real) or not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be a positive number or inf; got "
                         f"{norm_type!r}")
    return float(norm_type)


def _power_sum(g: Any, norm_type: float) -> Any:
    """``sum(|g| ** norm_type)`` (``max |g|`` for inf), without temporaries for 2 and inf."""
    if norm_type == math.inf:
        return xp.maximum(g.max(), -g.min()) if g.size else g.dtype.type(0)
    if norm_type == 2.0:
        flat = g.reshape(-1)
        return xp.dot(flat, flat)
    magnitude = xp.abs(g)
    return (magnitude if norm_type == 1.0 else magnitude ** norm_type).sum()


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their total norm (the norm of all
    gradients concatenated into one vector) is at most ``max_norm``.

    Args:
        parameters: a Tensor or Tensors (e.g. ``model.parameters()``); those without a
            gradient are left out.
        max_norm: the largest allowed total norm.
        norm_type: the p of the p-norm; ``inf`` (or ``"inf"``) for the largest magnitude.
        error_if_nonfinite: raise if the total norm is nan or inf, instead of scaling the
            gradients by it (which makes them nan or zero, as PyTorch does).

    Returns:
        the total norm before clipping, a 0-d Tensor of the gradients' dtype.
    """
    grads = _grads(parameters, "clip_grad_norm_")
    p = _norm_type(norm_type)
    if isinstance(max_norm, bool) or not isinstance(max_norm, Real) or not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0; got {max_norm!r}")
    if not grads:
        return Tensor(xp.asarray(0.0, dtype=xp.float32))
    dtype = xp.result_type(*(g.dtype for _, g in grads))
    sums = xp.array([_power_sum(g, p) for _, g in grads], dtype=dtype)
    if p == math.inf:
        total = sums.max()
    else:
        total = sums.sum() ** dtype.type(1 / p)
    if not math.isfinite(total):
        if error_if_nonfinite:
            position, g = next((i, g) for (i, g), s in zip(grads, sums) if not math.isfinite(s))
            raise RuntimeError(
                f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                f"{total}, so they cannot be clipped; the first non-finite norm is that of the "
                f"gradient of parameter {position} (shape {shape_str(g.shape)}). Pass "
                "error_if_nonfinite=False to scale the gradients by it anyway")
    coefficient = dtype.type(max_norm) / (total + dtype.type(1e-6))
    # A coefficient >= 1 leaves the gradients as they are; nan must still reach them, and an
    # inf norm zeroes them (inf elements become nan), silently, as in PyTorch.
    if not coefficient >= 1:
        with xp.errstate(invalid="ignore"):
            for _, g in grads:
                g *= coefficient
    return Tensor(xp.asarray(total, dtype=dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element of ``parameters`` to ``[-clip_value, clip_value]``, in place.

    Args:
        parameters: a Tensor or Tensors; those without a gradient are left out.
        clip_value: the largest allowed magnitude, >= 0.
    """
    grads = _grads(parameters, "clip_grad_value_")
    if isinstance(clip_value, bool) or not isinstance(clip_value, Real) or not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a number >= 0; got "
                         f"{clip_value!r}")
    for _, g in grads:
        xp.clip(g, -clip_value, clip_value, out=g)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
