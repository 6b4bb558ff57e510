"""Comparisons and logic: == != < <= > >=, isnan/isinf/isfinite, isclose, logical and bitwise
ops (``& | ^ ~`` on bool and integer tensors), nonzero, any/all, allclose.

Every result is a bool tensor (or a Python bool for ``allclose`` and ``equal``) that records no
graph: comparisons have no gradient. They are :class:`~deepgrad.autograd.NoGradFunction` ops, so
that an export traces the masks a model computes from its input (``nonzero`` is not: its shape
depends on the values). Binary ops accept Tensors and Python numbers on either side and
broadcast. ``Tensor.__eq__`` returns a tensor, as in PyTorch; comparing with an object that is
not a number, array or tensor returns NotImplemented, so ``t == None`` is False as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import NoGradFunction, _Trace
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import broadcast_error, normalize_dims, operand
from deepgrad.tensor import Tensor

_COMPARABLE = (Tensor, xp.ndarray, xp.generic, int, float, list, tuple)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


class BinaryLogic(NoGradFunction):
    """y = ufunc(a, b) with broadcasting: a comparison (``ufunc`` is ``xp.less``, ...), or the
    logical or bitwise op of two operands."""

    @staticmethod
    def forward(a, b, *, ufunc):
        return ufunc(a, b)


class UnaryLogic(NoGradFunction):
    """y = ufunc(x): the NaN and infinity tests (``xp.isnan``, ...), logical and bitwise NOT."""

    @staticmethod
    def forward(x, *, ufunc):
        return ufunc(x)


class IsClose(NoGradFunction):
    """y = |a - b| <= atol + rtol * |b| with broadcasting (equal infinities are close; NaN is
    close to NaN with ``equal_nan``)."""

    @staticmethod
    def forward(a, b, *, rtol, atol, equal_nan):
        return xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


class AnyAll(NoGradFunction):
    """y = whether any (or with ``every``, each) element over ``axes`` is nonzero."""

    @staticmethod
    def forward(x, *, axes, keepdim, every):
        return (xp.all if every else xp.any)(x, axis=axes, keepdims=keepdim)


class CountNonzero(NoGradFunction):
    """y = how many elements over ``axes`` are nonzero, as int64."""

    @staticmethod
    def forward(x, *, axes):
        return xp.asarray(xp.count_nonzero(x, axis=axes), dtype=xp.int64)


def _binary(name: str, a: Any, b: Any, ufunc: Any) -> Any:
    """``BinaryLogic.apply(a, b, ufunc=ufunc)`` written out, so that only the op's own
    ValueError (shapes that do not broadcast) becomes the ShapeError naming ``name``, and no
    generic argument handling slows down a comparison of small tensors."""
    if not (isinstance(a, _COMPARABLE) and isinstance(b, _COMPARABLE)):
        return NotImplemented
    a, b = operand(a), operand(b)
    try:
        y = Tensor._make(xp.asarray(BinaryLogic.forward(_data(a), _data(b), ufunc=ufunc)))
    except ValueError:
        raise broadcast_error(name, _data(a), _data(b)) from None
    if _Trace.observer is not None:
        _Trace.observer(BinaryLogic, (a, b), {"ufunc": ufunc}, y)
    return y


def _unary(ufunc: Any, x: Any) -> Tensor:
    """``UnaryLogic.apply(x, ufunc=ufunc)`` written out, as in :func:`_binary`."""
    x = operand(x)
    y = Tensor._make(xp.asarray(UnaryLogic.forward(_data(x), ufunc=ufunc)))
    if _Trace.observer is not None:
        _Trace.observer(UnaryLogic, (x,), {"ufunc": ufunc}, y)
    return y


def eq(a: Any, b: Any) -> Tensor:
    """Elementwise ``a == b`` as a bool tensor."""
    return _binary("eq", a, b, xp.equal)


def ne(a: Any, b: Any) -> Tensor:
    """Elementwise ``a != b`` as a bool tensor."""
    return _binary("ne", a, b, xp.not_equal)


def lt(a: Any, b: Any) -> Tensor:
    """Elementwise ``a < b`` as a bool tensor."""
    return _binary("lt", a, b, xp.less)


def le(a: Any, b: Any) -> Tensor:
    """Elementwise ``a <= b`` as a bool tensor."""
    return _binary("le", a, b, xp.less_equal)


def gt(a: Any, b: Any) -> Tensor:
    """Elementwise ``a > b`` as a bool tensor."""
    return _binary("gt", a, b, xp.greater)


def ge(a: Any, b: Any) -> Tensor:
    """Elementwise ``a >= b`` as a bool tensor."""
    return _binary("ge", a, b, xp.greater_equal)


def isnan(x: Tensor) -> Tensor:
    """Elementwise: True where ``x`` is NaN."""
    return _unary(xp.isnan, x)


def isinf(x: Tensor) -> Tensor:
    """Elementwise: True where ``x`` is +inf or -inf."""
    return _unary(xp.isinf, x)


def isfinite(x: Tensor) -> Tensor:
    """Elementwise: True where ``x`` is neither NaN nor infinite."""
    return _unary(xp.isfinite, x)


def logical_not(x: Tensor) -> Tensor:
    """Elementwise NOT (nonzero counts as True)."""
    return _unary(xp.logical_not, x)


def logical_and(a: Any, b: Any) -> Tensor:
    """Elementwise AND with broadcasting (nonzero counts as True)."""
    return _binary("logical_and", a, b, xp.logical_and)


def logical_or(a: Any, b: Any) -> Tensor:
    """Elementwise OR with broadcasting (nonzero counts as True)."""
    return _binary("logical_or", a, b, xp.logical_or)


def logical_xor(a: Any, b: Any) -> Tensor:
    """Elementwise XOR with broadcasting (nonzero counts as True)."""
    return _binary("logical_xor", a, b, xp.logical_xor)


def _integral(name: str, *values: Any) -> None:
    for v in values:
        dtype = xp.asarray(_data(v)).dtype
        if dtype.kind not in "biu":
            raise TypeError(f"{name}: needs bool or integer tensors; got {dtype} (for masks "
                            f"compare first: (x > 0) & (x < 1))")


def bitwise_and(a: Any, b: Any) -> Tensor:
    """Elementwise ``a & b``: AND of bool tensors, bitwise AND of integers."""
    _integral("bitwise_and", a, b)
    return _binary("bitwise_and", a, b, xp.bitwise_and)


def bitwise_or(a: Any, b: Any) -> Tensor:
    """Elementwise ``a | b``: OR of bool tensors, bitwise OR of integers."""
    _integral("bitwise_or", a, b)
    return _binary("bitwise_or", a, b, xp.bitwise_or)


def bitwise_xor(a: Any, b: Any) -> Tensor:
    """Elementwise ``a ^ b``: XOR of bool tensors, bitwise XOR of integers."""
    _integral("bitwise_xor", a, b)
    return _binary("bitwise_xor", a, b, xp.bitwise_xor)


def bitwise_not(x: Tensor) -> Tensor:
    """Elementwise ``~x``: NOT of a bool tensor, bitwise NOT of integers."""
    _integral("bitwise_not", x)
    return _unary(xp.invert, x)


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` as a bool tensor (broadcasting)."""
    if not (isinstance(a, _COMPARABLE) and isinstance(b, _COMPARABLE)):
        return NotImplemented
    a, b = operand(a), operand(b)
    try:
        xp.broadcast_shapes(xp.shape(_data(a)), xp.shape(_data(b)))
    except ValueError:
        raise broadcast_error("isclose", _data(a), _data(b)) from None
    return IsClose.apply(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


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
    x = operand(x)
    return CountNonzero.apply(x, axes=normalize_dims(dim, _data(x).ndim, "count_nonzero"))


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """True where any element along ``dim`` (an int, a tuple, or None for all) is nonzero."""
    x = operand(x)
    axes = normalize_dims(dim, _data(x).ndim, "any")
    return AnyAll.apply(x, axes=axes, keepdim=keepdim, every=False)


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """True where every element along ``dim`` (an int, a tuple, or None for all) is nonzero."""
    x = operand(x)
    axes = normalize_dims(dim, _data(x).ndim, "all")
    return AnyAll.apply(x, axes=axes, keepdim=keepdim, every=True)


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
