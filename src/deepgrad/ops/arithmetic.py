"""Arithmetic with broadcasting: + - * / ** @ and negation.

Every binary op accepts Tensors and Python numbers on either side. Gradients are summed back to
each input's shape over the dimensions that broadcasting stretched (``unbroadcast``).
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import silent_float_errors, xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import binary_operands, broadcast_error, unbroadcast
from deepgrad.parallel import matmul as _gemm
from deepgrad.tensor import DEFAULT_FLOAT, Tensor

_ndarray = xp.ndarray


def _shape(x: Any) -> tuple:
    return x.shape if type(x) is _ndarray else ()


class Add(Function):
    """y = a + b;  ga = gy, gb = gy (each summed back to its input's shape)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = a + b
        except ValueError:
            raise broadcast_error("add", a, b) from None
        ctx.save(a_shape=_shape(a), b_shape=_shape(b))
        return y

    @staticmethod
    def backward(ctx, gy):
        ga = unbroadcast(gy, ctx.a_shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(gy, ctx.b_shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Sub(Function):
    """y = a - b;  ga = gy, gb = -gy."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = a - b
        except ValueError:
            raise broadcast_error("sub", a, b) from None
        ctx.save(a_shape=_shape(a), b_shape=_shape(b))
        return y

    @staticmethod
    def backward(ctx, gy):
        ga = unbroadcast(gy, ctx.a_shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-gy, ctx.b_shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Mul(Function):
    """y = a * b;  ga = gy * b, gb = gy * a."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = a * b
        except ValueError:
            raise broadcast_error("mul", a, b) from None
        ctx.save(a=a if ctx.needs_input_grad[1] else None,
                 b=b if ctx.needs_input_grad[0] else None,
                 a_shape=_shape(a), b_shape=_shape(b))
        return y

    @staticmethod
    def backward(ctx, gy):
        ga = unbroadcast(gy * ctx.b, ctx.a_shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(gy * ctx.a, ctx.b_shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b;  ga = gy / b, gb = -gy * y / b."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, a, b):
        try:
            y = a / b
        except ValueError:
            raise broadcast_error("div", a, b) from None
        ctx.save(b=b, y=y if ctx.needs_input_grad[1] else None,
                 a_shape=_shape(a), b_shape=_shape(b))
        return y

    @staticmethod
    def backward(ctx, gy):
        ga_full = gy / ctx.b
        ga = unbroadcast(ga_full, ctx.a_shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-ga_full * ctx.y, ctx.b_shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Remainder(Function):
    """y = a - b * q, q = floor(a / b) (Python's %: the sign of b) or trunc(a / b) (C's fmod:
    the sign of a);  ga = gy, gb = -gy * q."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, a, b, floored):
        try:
            y = xp.remainder(a, b) if floored else xp.fmod(a, b)
        except ValueError:
            raise broadcast_error("remainder" if floored else "fmod", a, b) from None
        ctx.save(a=a, b=b, floored=floored, a_shape=_shape(a), b_shape=_shape(b))
        return y

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        ga = unbroadcast(gy, ctx.a_shape) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            q = ctx.a / ctx.b
            q = xp.floor(q) if ctx.floored else xp.trunc(q)
            gb = unbroadcast(-gy * q, ctx.b_shape)
        return ga, gb, None


class Neg(Function):
    """y = -x;  gx = -gy."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy


class Pow(Function):
    """y = a ** b;  ga = gy * b * a ** (b - 1), gb = gy * y * log(a)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, a, b):
        try:
            y = a**b
        except ValueError:
            raise broadcast_error("pow", a, b) from None
        ctx.save(a=a, b=b, y=y if ctx.needs_input_grad[1] else None,
                 a_shape=_shape(a), b_shape=_shape(b))
        return y

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.a, ctx.b
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if type(b) is not _ndarray and b == 2:
                ga = gy * (2 * a)
            else:
                ga = unbroadcast(gy * b * a ** (b - 1), ctx.a_shape)
        if ctx.needs_input_grad[1]:
            if type(a) is _ndarray:
                # d(a**b)/db = a**b log a, taken as 0 where a == 0 (PyTorch's limit) not 0*-inf.
                with xp.errstate(divide="ignore", invalid="ignore"):
                    gb = xp.where(a == 0, 0.0, gy * ctx.y * xp.log(a))
            else:
                gb = gy * ctx.y * (math.log(a) if a != 0 else 0.0)
            gb = unbroadcast(gb, ctx.b_shape)
        return ga, gb


class MatMul(Function):
    """y = a @ b (NumPy/PyTorch semantics: 1-D operands, batched stacks, broadcast batch dims).

    ga = gy @ b^T and gb = a^T @ gy, with 1-D operands treated as a row (a) or column (b) and
    broadcast batch dimensions summed back.
    """

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: both operands need at least one dimension; got shapes "
                             f"{shape_str(a.shape)} and {shape_str(b.shape)} (use * for scalars)")
        try:
            y = _gemm(a, b) if a.ndim == b.ndim == 2 else xp.matmul(a, b)
        except ValueError:
            raise _matmul_error(a.shape, b.shape) from None
        ctx.save(a=a if ctx.needs_input_grad[1] else None,
                 b=b if ctx.needs_input_grad[0] else None,
                 a_shape=a.shape, b_shape=b.shape, a_fortran=_is_fortran(a),
                 b_fortran=_is_fortran(b))
        return y

    @staticmethod
    def backward(ctx, gy):
        a_shape, b_shape = ctx.a_shape, ctx.b_shape
        if len(a_shape) == 2 and len(b_shape) == 2:
            # Each gradient is computed in its input's memory order, so the gradient of a
            # transposed weight view (x @ W.T) reaches W C-ordered, like W: a later in-place
            # update ``W -= lr * W.grad`` then runs at memory speed instead of strided.
            ga = gb = None
            if ctx.needs_input_grad[0]:
                ga = _gemm(ctx.b, gy.T).T if ctx.a_fortran else _gemm(gy, ctx.b.T)
            if ctx.needs_input_grad[1]:
                gb = _gemm(gy.T, ctx.a).T if ctx.b_fortran else _gemm(ctx.a.T, gy)
            return ga, gb
        if len(a_shape) == 1 and len(b_shape) == 1:  # a dot product: gy is 0-d
            return (gy * ctx.b if ctx.needs_input_grad[0] else None,
                    gy * ctx.a if ctx.needs_input_grad[1] else None)
        if len(a_shape) == 1:
            gy = xp.expand_dims(gy, -2)
        if len(b_shape) == 1:
            gy = xp.expand_dims(gy, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            b = ctx.b
            b2 = b[:, None] if b.ndim == 1 else b
            ga = xp.matmul(gy, xp.swapaxes(b2, -1, -2))
            if len(a_shape) == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
            ga = unbroadcast(ga, a_shape)
        if ctx.needs_input_grad[1]:
            a = ctx.a
            a2 = a[None, :] if a.ndim == 1 else a
            if a2.ndim == 2 and gy.ndim > 2:
                # (N, K)^T @ (B, N, M) for every batch at once: fold the batch into the columns.
                gy2 = xp.moveaxis(gy, -2, 0).reshape(gy.shape[-2], -1)
                gb = (a2.T @ gy2).reshape(a2.shape[1], *gy.shape[:-2], gy.shape[-1])
                gb = xp.moveaxis(gb, 0, -2)
            else:
                gb = xp.matmul(xp.swapaxes(a2, -1, -2), gy)
            if len(b_shape) == 1:
                gb = gb[..., 0]
            gb = unbroadcast(gb, b_shape)
        return ga, gb


def _is_fortran(x: Any) -> bool:
    return x.ndim == 2 and x.flags.f_contiguous and not x.flags.c_contiguous


def _matmul_error(a_shape: tuple, b_shape: tuple) -> ShapeError:
    inner = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    shapes = f"matmul: cannot multiply shapes {shape_str(a_shape)} and {shape_str(b_shape)}"
    if a_shape[-1] != inner:
        return ShapeError(f"{shapes}: the last dimension of the first ({a_shape[-1]}) must equal "
                          f"the {'first' if len(b_shape) == 1 else 'second-to-last'} dimension "
                          f"of the second ({inner})")
    return ShapeError(f"{shapes}: the batch dimensions {shape_str(a_shape[:-2])} and "
                      f"{shape_str(b_shape[:-2])} do not broadcast together")


def add(a: Any, b: Any, *, alpha: float = 1) -> Tensor:
    """Elementwise ``a + alpha * b`` with broadcasting."""
    return Add.apply(*binary_operands(a, b if alpha == 1 else mul(b, alpha)))


def sub(a: Any, b: Any, *, alpha: float = 1) -> Tensor:
    """Elementwise ``a - alpha * b`` with broadcasting."""
    return Sub.apply(*binary_operands(a, b if alpha == 1 else mul(b, alpha)))


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    return Mul.apply(*binary_operands(a, b))


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """Elementwise true division ``a / b``; integer tensors give float32, as in PyTorch. With
    ``rounding_mode`` ``"floor"`` (:func:`floor_divide`) or ``"trunc"`` (towards 0) the
    quotient is rounded, keeps an integer dtype, and has no gradient."""
    if rounding_mode is not None:
        return _rounded_division(a, b, rounding_mode)
    a, b = binary_operands(a, b)
    if _is_integer(a) and _is_integer(b):
        a, b = _as_default_float(a), _as_default_float(b)
    return Div.apply(a, b)


def _rounded_division(a: Any, b: Any, rounding_mode: str) -> Tensor:
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode != "trunc":
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor'; got "
                         f"{rounding_mode!r}")
    a, b = binary_operands(a, b)
    # Python numbers stay as they are: NumPy then keeps the tensor's dtype, as PyTorch does.
    a_data = a.data if isinstance(a, Tensor) else a
    b_data = b.data if isinstance(b, Tensor) else b
    if _is_integer(a) and _is_integer(b):
        if xp.any(xp.asarray(b_data) == 0):
            raise ZeroDivisionError("div: integer division by zero")
        # Exact for integers of any size: floor division corrected where the signs differ.
        quotient = a_data // b_data
        quotient = quotient + ((quotient < 0) & (quotient * b_data != a_data))
        return Tensor._make(xp.asarray(quotient))
    with xp.errstate(divide="ignore", invalid="ignore"):
        return Tensor._make(xp.asarray(xp.trunc(a_data / b_data)))


def neg(x: Tensor) -> Tensor:
    """Elementwise ``-x``."""
    return Neg.apply(x)


def pow(a: Any, b: Any) -> Tensor:
    """Elementwise ``a ** b`` with broadcasting."""
    return Pow.apply(*binary_operands(a, b))


def remainder(a: Any, b: Any) -> Tensor:
    """Elementwise ``a % b`` with Python's (and PyTorch's) sign rule: the sign of ``b``."""
    return Remainder.apply(*binary_operands(a, b), True)


def fmod(a: Any, b: Any) -> Tensor:
    """Elementwise remainder of C's fmod: the sign of ``a``."""
    return Remainder.apply(*binary_operands(a, b), False)


def floor_divide(a: Any, b: Any) -> Tensor:
    """Elementwise ``a // b``, rounded down; without gradient (a step function), as a new
    tensor that records no graph."""
    a, b = binary_operands(a, b)
    a_data = a.data if isinstance(a, Tensor) else a
    b_data = b.data if isinstance(b, Tensor) else b
    if _is_integer(b) and xp.any(xp.asarray(b_data) == 0) and _is_integer(a):
        raise ZeroDivisionError("floor_divide: integer division by zero")
    try:
        return Tensor._make(xp.asarray(_floor_divide(a_data, b_data)))
    except ValueError:
        raise broadcast_error("floor_divide", a_data, b_data) from None


@silent_float_errors
def _floor_divide(a: Any, b: Any) -> Any:
    return xp.floor_divide(a, b)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics (1-D, 2-D and batched operands)."""
    a, b = binary_operands(a, b)
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        raise ShapeError("matmul: both operands need at least one dimension; got a Python "
                         "number (use * to multiply by a scalar)")
    return MatMul.apply(a, b)


def _as_default_float(x: Any) -> Any:
    if isinstance(x, Tensor):
        return Tensor._make(x.data.astype(DEFAULT_FLOAT))
    return float(x)


def _is_integer(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.data.dtype.kind in "iub"
    return isinstance(x, int)


METHODS = {"add": add, "sub": sub, "mul": mul, "div": div, "neg": neg, "pow": pow,
           "matmul": matmul, "remainder": remainder, "fmod": fmod, "floor_divide": floor_divide}
__all__ = list(METHODS)
