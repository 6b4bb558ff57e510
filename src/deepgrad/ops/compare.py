"""Comparisons and logic: == != < <= > >=, isnan/isinf/isfinite, logical ops, any/all, allclose.

Every result is a bool tensor (or a Python bool for ``allclose`` and ``equal``) that records no
graph: comparisons have no gradient. Binary ops accept Tensors and Python numbers on either side
and broadcast. ``Tensor.__eq__`` returns a tensor, as in PyTorch; comparing with an object that is
not a number, array or tensor returns NotImplemented, so ``t == None`` is False as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import broadcast_error, normalize_dims, operand
from deepgrad.tensor import Tensor

_COMPARABLE = (Tensor, xp.ndarray, xp.generic, int, float, list, tuple)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _binary(ufunc: Any, name: str, a: Any, b: Any) -> Any:
    if not (isinstance(a, _COMPARABLE) and isinstance(b, _COMPARABLE)):
        return NotImplemented
    a, b = _data(operand(a)), _data(operand(b))
    try:
        return Tensor._make(xp.asarray(ufunc(a, b)))
    except ValueError:
        raise broadcast_error(name, a, b) from None


def eq(a: Any, b: Any) -> Tensor:
    """Elementwise ``a == b`` as a bool tensor."""
    return _binary(xp.equal, "eq", a, b)


def ne(a: Any, b: Any) -> Tensor:
    """Elementwise ``a != b`` as a bool tensor."""
    return _binary(xp.not_equal, "ne", a, b)


def lt(a: Any, b: Any) -> Tensor:
    """Elementwise ``a < b`` as a bool tensor."""
    return _binary(xp.less, "lt", a, b)


def le(a: Any, b: Any) -> Tensor:
    """Elementwise ``a <= b`` as a bool tensor."""
    return _binary(xp.less_equal, "le", a, b)


def gt(a: Any, b: Any) -> Tensor:
    """Elementwise ``a > b`` as a bool tensor."""
    return _binary(xp.greater, "gt", a, b)


def ge(a: Any, b: Any) -> Tensor:
    """Elementwise ``a >= b`` as a bool tensor."""
    return _binary(xp.greater_equal, "ge", a, b)


def isnan(x: Tensor) -> Tensor:
    """Elementwise: True where ``x`` is NaN."""
    return Tensor._make(xp.asarray(xp.isnan(_data(operand(x)))))


def isinf(x: Tensor) -> Tensor:
    """Elementwise: True where ``x`` is +inf or -inf."""
    return Tensor._make(xp.asarray(xp.isinf(_data(operand(x)))))


def isfinite(x: Tensor) -> Tensor:
    """Elementwise: True where ``x`` is neither NaN nor infinite."""
    return Tensor._make(xp.asarray(xp.isfinite(_data(operand(x)))))


def logical_not(x: Tensor) -> Tensor:
    """Elementwise NOT (nonzero counts as True)."""
    return Tensor._make(xp.asarray(xp.logical_not(_data(operand(x)))))


def logical_and(a: Any, b: Any) -> Tensor:
    """Elementwise AND with broadcasting (nonzero counts as True)."""
    return _binary(xp.logical_and, "logical_and", a, b)


def logical_or(a: Any, b: Any) -> Tensor:
    """Elementwise OR with broadcasting (nonzero counts as True)."""
    return _binary(xp.logical_or, "logical_or", a, b)


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """True where any element along ``dim`` (an int, a tuple, or None for all) is nonzero."""
    data = _data(operand(x))
    axes = normalize_dims(dim, data.ndim, "any")
    return Tensor._make(xp.asarray(xp.any(data, axis=axes, keepdims=keepdim)))


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """True where every element along ``dim`` (an int, a tuple, or None for all) is nonzero."""
    data = _data(operand(x))
    axes = normalize_dims(dim, data.ndim, "all")
    return Tensor._make(xp.asarray(xp.all(data, axis=axes, keepdims=keepdim)))


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """True when ``|a - b| <= atol + rtol * |b|`` everywhere (broadcasting), as a Python bool."""
    a, b = _data(operand(a)), _data(operand(b))
    try:
        return bool(xp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise ShapeError(f"allclose: shapes {shape_str(xp.shape(a))} and {shape_str(xp.shape(b))} "
                         "do not broadcast together") from None


def equal(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` have the same shape and the same values (NaN is never equal)."""
    return bool(xp.array_equal(_data(operand(a)), _data(operand(b))))


METHODS = {"eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge, "isnan": isnan,
           "isinf": isinf, "isfinite": isfinite, "logical_not": logical_not,
           "logical_and": logical_and, "logical_or": logical_or, "any": any, "all": all,
           "allclose": allclose, "equal": equal}
__all__ = list(METHODS)
