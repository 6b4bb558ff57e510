"""Scans (cumulative ops) along one dimension: cumsum and cumprod, cummax and cummin.

As in PyTorch, integer and boolean inputs of cumsum and cumprod accumulate as int64, and ``dtype``
converts the input before the scan (differentiably between floating types). cummax and cummin
keep the input's dtype and return ``(values, indices)``.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.ops.elementwise import to
from deepgrad.ops.reductions import _axis
from deepgrad.ops.sorting import ValuesIndices
from deepgrad.tensor import Tensor, check_tensor, int64

_INTEGER_KINDS = "biu"


def _reversed_cumsum(g: Any, axis: int) -> Any:
    """gx_k = sum of g_j for j >= k along axis."""
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)


class Cumsum(Function):
    """y_j = x_0 + ... + x_j along axis;  gx_k = sum of gy_j for j >= k."""

    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.save(axis=axis)
        dtype = int64 if x.dtype.kind in _INTEGER_KINDS else None
        # A 0-d tensor (axis None) comes back from NumPy 1-d: the reshape restores its shape.
        return xp.cumsum(x, axis=axis, dtype=dtype).reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        if ctx.axis is None:
            return gy
        return _reversed_cumsum(gy, ctx.axis)


class Cumprod(Function):
    """y_j = x_0 * ... * x_j along axis;  gx_k = sum over j >= k of gy_j * (y_j without x_k).

    As in PyTorch: before the first zero z1 (or without zeros), y_j without x_k is y_j / x_k.
    Every gx_k for k > z1 is 0, since each of its terms holds x_z1 = 0. At z1 itself, with z2 the
    second zero (or the end), no division is possible and the products are formed directly:
    gx_z1 = y_(z1-1) * sum over z1 <= j < z2 of gy_j * x_(z1+1) * ... * x_j.
    """

    @staticmethod
    def forward(ctx, x, *, axis):
        dtype = int64 if x.dtype.kind in _INTEGER_KINDS else None
        y = xp.cumprod(x, axis=axis, dtype=dtype).reshape(x.shape)
        ctx.save(x=x, y=y, axis=axis)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y, axis = ctx.x, ctx.y, ctx.axis
        if axis is None or x.shape[axis] <= 1:
            return gy
        w = y * gy
        is_zero = x == 0
        if not is_zero.any():
            return _reversed_cumsum(w, axis) / x
        zeros_so_far = xp.cumsum(is_zero, axis=axis)
        before = zeros_so_far == 0
        # Where x is 0 the quotient is masked out; dividing by 1 there avoids a 0/0 warning.
        gx = _reversed_cumsum(xp.where(before, w, 0), axis) / xp.where(before, x, 1)
        gx = xp.where(before, gx, 0)
        first_zero = is_zero & (zeros_so_far == 1)
        after_first = (zeros_so_far == 1) & ~first_zero
        # The product of the x between the first zero and each j up to the second zero.
        partial = xp.cumprod(xp.where(after_first, x, 1), axis=axis)
        at_zero = (partial * xp.where(zeros_so_far == 1, gy, 0)).sum(axis=axis, keepdims=True)
        # y just before the first zero, or 1 when the first zero comes first.
        z1 = first_zero.argmax(axis=axis, keepdims=True)
        prefix = xp.take_along_axis(y, xp.maximum(z1 - 1, 0), axis=axis)
        prefix = xp.where(z1 == 0, 1, prefix)
        return xp.where(first_zero, at_zero * prefix, gx)


class CumExtreme(Function):
    """values_j = the max (``largest``) or min of x_0 ... x_j along axis, indices_j = where it
    is;  gx_k = the sum of gy_j over the j whose index is k.

    As PyTorch: among equal extremes the index is the last one so far; from the first NaN on
    the value is NaN and the index that of the last NaN so far.
    """

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, *, axis, largest):
        if axis is None:  # a 0-d tensor is its own extreme
            ctx.save(axis=None)
            return x.copy(), xp.zeros((), int64)
        values = (xp.maximum if largest else xp.minimum).accumulate(x, axis=axis)
        # x_j takes over where it equals the extreme so far (ties too) or is NaN.
        takes_over = values == x
        if x.dtype.kind in "fc":
            takes_over |= xp.isnan(x)
        positions = xp.arange(x.shape[axis]).reshape([-1 if d == axis else 1
                                                      for d in range(x.ndim)])
        indices = xp.maximum.accumulate(xp.where(takes_over, positions, 0), axis=axis)
        indices = indices.astype(int64, copy=False)
        ctx.save(axis=axis, indices=indices)
        return values, indices

    @staticmethod
    def backward(ctx, gy, g_indices):
        if ctx.axis is None:
            return gy
        targets = list(xp.indices(gy.shape, sparse=True))
        targets[ctx.axis] = ctx.indices
        gx = xp.zeros_like(gy)
        xp.add.at(gx, tuple(targets), gy)
        return gx


def _cum_extreme(x: Tensor, dim: int, largest: bool, op: str) -> ValuesIndices:
    check_tensor(op, x)
    values, indices = CumExtreme.apply(x, axis=_axis(x, dim, op), largest=largest)
    return ValuesIndices(values, indices)


def cummax(x: Tensor, dim: int) -> ValuesIndices:
    """``(values, indices)``: the running maximum of ``x`` along ``dim`` and where each came
    from (the last of equal maxima; NaN, once met, stays). The gradient goes to those
    positions."""
    return _cum_extreme(x, dim, True, "cummax")


def cummin(x: Tensor, dim: int) -> ValuesIndices:
    """``(values, indices)``: the running minimum of ``x`` along ``dim`` and where each came
    from (the last of equal minima; NaN, once met, stays). The gradient goes to those
    positions."""
    return _cum_extreme(x, dim, False, "cummin")


def _scan(fn: type[Function], x: Tensor, dim: int, dtype: Any, op: str) -> Tensor:
    check_tensor(op, x)
    axis = _axis(x, dim, op)
    if dtype is not None:
        x = to(x, dtype)
    return fn.apply(x, axis=axis)


def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """The running sum of ``x`` along ``dim``: y_j = x_0 + ... + x_j.

    Args:
        x: the input; integers and booleans sum as int64.
        dim: the dimension to scan along.
        dtype: when given, ``x`` is converted to it first.
    """
    return _scan(Cumsum, x, dim, dtype, "cumsum")


def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """The running product of ``x`` along ``dim``: y_j = x_0 * ... * x_j; the gradient is exact
    where ``x`` holds zeros.

    Args:
        x: the input; integers and booleans multiply as int64.
        dim: the dimension to scan along.
        dtype: when given, ``x`` is converted to it first.
    """
    return _scan(Cumprod, x, dim, dtype, "cumprod")


METHODS = {"cumsum": cumsum, "cumprod": cumprod, "cummax": cummax, "cummin": cummin}
__all__ = list(METHODS)
