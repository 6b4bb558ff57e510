"""Comparisons and logic: == != < <= > >=, isnan/isinf/isfinite, isclose, logical and bitwise
ops (``& | ^ ~`` on bool and integer tensors), nonzero, any/all, allclose.

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


def logical_xor(a: Any, b: Any) -> Tensor:
    """Elementwise XOR with broadcasting (nonzero counts as True)."""
    return _binary(xp.logical_xor, "logical_xor", a, b)


def _integral(name: str, *values: Any) -> None:
    for v in values:
        dtype = xp.asarray(_data(v)).dtype
        if dtype.kind not in "biu":
            raise TypeError(f"{name}: needs bool or integer tensors; got {dtype} (for masks "
                            f"compare first: (x > 0) & (x < 1))")


def bitwise_and(a: Any, b: Any) -> Tensor:
    """Elementwise ``a & b``: AND of bool tensors, bitwise AND of integers."""
    _integral("bitwise_and", a, b)
    return _binary(xp.bitwise_and, "bitwise_and", a, b)


def bitwise_or(a: Any, b: Any) -> Tensor:
    """Elementwise ``a | b``: OR of bool tensors, bitwise OR of integers."""
    _integral("bitwise_or", a, b)
    return _binary(xp.bitwise_or, "bitwise_or", a, b)


def bitwise_xor(a: Any, b: Any) -> Tensor:
    """Elementwise ``a ^ b``: XOR of bool tensors, bitwise XOR of integers."""
    _integral("bitwise_xor", a, b)
    return _binary(xp.bitwise_xor, "bitwise_xor", a, b)


def bitwise_not(x: Tensor) -> Tensor:
    """Elementwise ``~x``: NOT of a bool tensor, bitwise NOT of integers."""
    _integral("bitwise_not", x)
    return Tensor._make(xp.asarray(xp.invert(_data(operand(x)))))


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` as a bool tensor (broadcasting)."""
    return _binary(lambda u, v: xp.isclose(u, v, rtol=rtol, atol=atol, equal_nan=equal_nan),
                   "isclose", a, b)


def nonzero(x: Tensor, as_tuple: bool = False) -> Any:
    """The indices of the nonzero elements: an int64 tensor (count, x.ndim), one row per element
    in row-major order; with ``as_tuple`` one 1-D tensor per dimension (for indexing)."""
    found = xp.nonzero(_data(operand(x)))
    if as_tuple:
        return tuple(Tensor._make(i.astype(xp.int64)) for i in found)
    return Tensor._make(xp.stack(found, axis=1).astype(xp.int64) if found else
                        xp.zeros((0, 0), xp.int64))


def count_nonzero(x: Tensor, dim: Any = None) -> Tensor:
    """How many elements are nonzero, over ``dim`` (an int, a tuple, or all)."""
    data = _data(operand(x))
    return Tensor._make(xp.asarray(xp.count_nonzero(data, axis=normalize_dims(
        dim, data.ndim, "count_nonzero")), dtype=xp.int64))


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
           "isinf": isinf, "isfinite": isfinite, "isclose": isclose, "logical_not": logical_not,
           "logical_and": logical_and, "logical_or": logical_or, "logical_xor": logical_xor,
           "bitwise_and": bitwise_and, "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor,
           "bitwise_not": bitwise_not, "nonzero": nonzero, "count_nonzero": count_nonzero,
           "any": any, "all": all, "allclose": allclose, "equal": equal}
__all__ = list(METHODS)
