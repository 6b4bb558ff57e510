"""Reductions: sum, mean, amax/amin, max/min, argmax/argmin, var/std, logsumexp, and softmax.

``dim`` follows PyTorch: an int, a tuple or list of ints, or None for every dimension, with
``keepdim`` keeping the reduced dimensions as size 1. Backward reshapes the incoming gradient to
the ``keepdim=True`` shape and broadcasts it back over the reduced dimensions.

NumPy reduces a 0-d array to a NumPy scalar, not an array; ops that write into an intermediate
in place therefore allocate it with ``out=xp.empty_like(x)``, which stays an array.
"""

from __future__ import annotations

import builtins
import math
import warnings
from typing import Any, NamedTuple

from deepgrad.autograd import Function, NoGradFunction, _Trace
from deepgrad.backend import silent_float_errors, xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import normalize_dim, normalize_dims
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, check_tensor, int64

_INTEGER_KINDS = "biu"


def _kept_shape(shape: tuple, axes: tuple | None) -> tuple:
    """``shape`` with the reduced dimensions kept as size 1 (the ``keepdim=True`` shape)."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _out_shape(shape: tuple, axes: tuple | None, keepdim: bool) -> tuple:
    if keepdim:
        return _kept_shape(shape, axes)
    if axes is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _count(shape: tuple, axes: tuple | None) -> int:
    """How many elements are reduced into each output element."""
    return math.prod(shape if axes is None else (shape[a] for a in axes))


class Sum(Function):
    """y = sum of x over axes;  gx = gy broadcast back over the reduced dimensions."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.save(shape=x.shape, axes=axes)
        # PyTorch sums integers and booleans as int64 (NumPy would keep uint8 as uint64).
        dtype = int64 if x.dtype.kind in _INTEGER_KINDS else None
        return x.sum(axis=axes, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, gy):
        shape = ctx.shape
        return xp.broadcast_to(gy.reshape(_kept_shape(shape, ctx.axes)), shape)


class Mean(Function):
    """y = sum of x over axes / N;  gx = gy / N broadcast back over the reduced dimensions."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x, axes, keepdim):
        ctx.save(shape=x.shape, axes=axes)
        if x.size == 0:  # NumPy's mean warns "Mean of empty slice"; 0 / 0 is PyTorch's silent nan
            return x.sum(axis=axes, keepdims=keepdim) / x.dtype.type(0)
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        shape, axes = ctx.shape, ctx.axes
        g = gy / _count(shape, axes)
        return xp.broadcast_to(g.reshape(_kept_shape(shape, axes)), shape)


class Amax(Function):
    """y = max (``largest``) or min of x over axes;  gx = gy / k at each of the k elements equal
    to y (ties share the gradient evenly, as in PyTorch), 0 elsewhere."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        reduce = x.max if largest else x.min
        y = reduce(axis=axes, keepdims=True)
        ctx.save(x=x, y=y, axes=axes)
        return y.reshape(_out_shape(x.shape, axes, keepdim))

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        mask = ctx.x == y
        ties = mask.sum(axis=ctx.axes, keepdims=True, dtype=gy.dtype)
        return mask * (gy.reshape(y.shape) / ties)


class MaxDim(Function):
    """values, indices = max (``largest``) or min of x along one axis, with the index of its first
    occurrence;  gx = gy at each returned index, 0 elsewhere (indices carry no gradient)."""

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, axis, keepdim, largest):
        x1 = xp.atleast_1d(x)
        index = (x1.argmax if largest else x1.argmin)(axis=axis, keepdims=True)
        values = xp.take_along_axis(x1, index, axis=axis)
        ctx.save(index=index, axis=axis, shape=x.shape)
        out_shape = _out_shape(x.shape, (axis,), keepdim)
        return values.reshape(out_shape), index.reshape(out_shape)

    @staticmethod
    def backward(ctx, gy, g_indices):
        return _scatter_to_indices(ctx, gy)


class Var(Function):
    """y = sum((x - mean)**2) / dof with dof = N - correction;  gx = gy * 2 (x - mean) / dof."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x, axes, keepdim, dof):
        d = x - x.mean(axis=axes, keepdims=True)
        ctx.save(d=d, axes=axes, dof=dof)
        return (d * d).sum(axis=axes, keepdims=keepdim) / dof

    @staticmethod
    def backward(ctx, gy):
        d = ctx.d
        g = gy.reshape(_kept_shape(d.shape, ctx.axes)) / (0.5 * ctx.dof)
        return d * g


class Std(Function):
    """y = sqrt(sum((x - mean)**2) / dof);  gx = gy * (x - mean) / (dof * y), 0 where y = 0
    (as in PyTorch)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x, axes, keepdim, dof):
        d = x - x.mean(axis=axes, keepdims=True)
        y = xp.sqrt((d * d).sum(axis=axes, keepdims=True) / dof)
        ctx.save(d=d, y=y, dof=dof)
        return y.reshape(_out_shape(x.shape, axes, keepdim))

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        # Dividing by inf where y = 0 gives PyTorch's zero gradient without a 0/0 warning.
        g = gy.reshape(y.shape) / (ctx.dof * xp.where(y == 0, math.inf, y))
        return ctx.d * g


class LogSumExp(Function):
    """y = m + log(sum(exp(x - m))) with m = max(x) for stability;  gx = gy * exp(x - y), the
    softmax of x, kept from forward as exp(x - m) / sum."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = x.max(axis=axes, keepdims=True, initial=-math.inf)
        # With an infinite max (all -inf, or a +inf) x - m would be NaN; a shift of 0 gives
        # PyTorch's -inf and inf instead.
        m = xp.where(xp.isinf(m), 0.0, m)
        e = xp.subtract(x, m, out=xp.empty_like(x))
        xp.exp(e, out=e)
        s = e.sum(axis=axes, keepdims=True)
        with xp.errstate(divide="ignore"):  # log(0) = -inf: the sum of an all -inf row
            y = xp.log(s) + m
        ctx.save(e=e, s=s)
        return y.reshape(_out_shape(x.shape, axes, keepdim))

    @staticmethod
    def backward(ctx, gy):
        s = ctx.s
        return ctx.e * (gy.reshape(s.shape) / s)


class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)) along axis;  gx = y * (gy - sum(gy * y))."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x, axis):
        y = xp.subtract(x, x.max(axis=axis, keepdims=True, initial=-math.inf),
                        out=xp.empty_like(x))
        xp.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        ctx.save(y=y, axis=axis)
        return y

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        gx = gy - (gy * y).sum(axis=ctx.axis, keepdims=True)
        gx *= y
        return gx


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max))) along axis;  gx = gy - softmax(x) * sum(gy)."""

    @staticmethod
    def forward(ctx, x, axis):
        y = xp.subtract(x, x.max(axis=axis, keepdims=True, initial=-math.inf),
                        out=xp.empty_like(x))
        e = xp.exp(y)
        s = e.sum(axis=axis, keepdims=True)
        if y.size:  # along an empty dim the sums are 0 and their log would warn, for nothing
            y -= xp.log(s)
        if ctx.needs_input_grad[0]:
            # The softmax from the exponentials at hand: cheaper than exp(y) again in backward.
            e /= s
            ctx.save(softmax=e, axis=axis)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = ctx.softmax * -gy.sum(axis=ctx.axis, keepdims=True)
        gx += gy
        return gx


class ArgExtremum(NoGradFunction):
    """y = the int64 index of the first maximum (``largest``) or minimum of x along ``axis``
    (into the flattened x for None); no gradient."""

    @staticmethod
    def forward(x, *, axis, keepdim, largest):
        return (x.argmax if largest else x.argmin)(axis=axis, keepdims=keepdim)


class MaxMin(NamedTuple):
    """What ``max`` and ``min`` with a ``dim`` return, like ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def _scatter_to_indices(ctx: Any, gy: Any) -> Any:
    """The gradient of values picked at ``ctx.index`` along ``ctx.axis`` from an input of
    ``ctx.shape``: gy at those positions, 0 elsewhere."""
    index = ctx.index
    gx = xp.zeros(ctx.shape, dtype=gy.dtype)
    xp.put_along_axis(xp.atleast_1d(gx), index, gy.reshape(index.shape), axis=ctx.axis)
    return gx


def _check_float(x: Any, op: str) -> None:
    check_tensor(op, x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating point tensor; got dtype {x.data.dtype} "
                        "(convert it with .float())")


def _is_int(d: Any) -> bool:
    return isinstance(d, (int, xp.integer))


def _axes(x: Tensor, dim: Any, op: str) -> tuple[int, ...] | None:
    """NumPy's ``axis`` for PyTorch's ``dim``: None (every dimension) also for an empty sequence,
    as in PyTorch, and for a 0-d tensor, whose dims 0 and -1 are the tensor itself."""
    if _is_int(dim):
        dim = int(dim)
    elif not (dim is None or (isinstance(dim, (tuple, list)) and all(map(_is_int, dim)))):
        raise TypeError(f"{op}: dim must be an int, a tuple of ints or None; got {dim!r}")
    axes = normalize_dims(dim, x.ndim, op)
    return axes if axes and x.ndim else None


def _axis(x: Tensor, dim: Any, op: str) -> int | None:
    """NumPy's ``axis`` for a single required ``dim`` (None for a 0-d tensor)."""
    if not _is_int(dim):
        raise TypeError(f"{op}: dim must be an int; got {dim!r}")
    axis = normalize_dim(int(dim), x.ndim, op)
    return axis if x.ndim else None


def _check_nonempty(x: Tensor, axes: tuple | None, op: str) -> None:
    """The max, min and their indices of no elements are undefined: say so, as PyTorch does."""
    for a in range(x.ndim) if axes is None else axes:
        if x.shape[a] == 0:
            raise ShapeError(f"{op}: cannot reduce dimension {a} of size 0 (input shape "
                             f"{shape_str(x.shape)}): there is no {op} of zero elements")


def sum(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (an int, a tuple of ints, or None for all); integers sum as int64."""
    check_tensor("sum", x)
    return Sum.apply(x, axes=_axes(x, dim, "sum"), keepdim=keepdim)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (an int, a tuple of ints, or None for all) of a floating tensor."""
    _check_float(x, "mean")
    return Mean.apply(x, axes=_axes(x, dim, "mean"), keepdim=keepdim)


def _amax_amin(x: Tensor, dim: Any, keepdim: bool, largest: bool, op: str) -> Tensor:
    check_tensor(op, x)
    axes = _axes(x, dim, op)
    _check_nonempty(x, axes, op)
    return Amax.apply(x, axes=axes, keepdim=keepdim, largest=largest)


def amax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (an int, a tuple of ints, or None for all); ties share the gradient."""
    return _amax_amin(x, dim, keepdim, True, "amax")


def amin(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (an int, a tuple of ints, or None for all); ties share the gradient."""
    return _amax_amin(x, dim, keepdim, False, "amin")


def _max_min(x: Tensor, dim: Any, keepdim: bool, largest: bool, op: str) -> Tensor | MaxMin:
    if dim is None:
        return _amax_amin(x, None, keepdim, largest, op)
    check_tensor(op, x)
    if isinstance(dim, Tensor):  # PyTorch's max(input, other): the elementwise maximum
        from deepgrad.ops.indexing import maximum, minimum  # indexing imports this module

        if keepdim:
            raise TypeError(f"{op}(input, other): the elementwise form takes no keepdim")
        return maximum(x, dim) if largest else minimum(x, dim)
    if not _is_int(dim):
        raise TypeError(f"{op}: dim must be an int (use a{op} to reduce several dims); "
                        f"got {dim!r}")
    axis = normalize_dim(int(dim), x.ndim, op)
    _check_nonempty(x, (axis,) if x.ndim else None, op)
    values, indices = MaxDim.apply(x, axis=axis, keepdim=keepdim, largest=largest)
    return MaxMin(values, indices)


def max(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | MaxMin:
    """The largest element (dim None; ties share the gradient), or ``(values, indices)`` along
    ``dim``, with the index of the first maximum (which alone receives the gradient); with a
    tensor in place of ``dim``, PyTorch's ``max(input, other)``: :func:`maximum`."""
    return _max_min(x, dim, keepdim, True, "max")


def min(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | MaxMin:
    """The smallest element (dim None; ties share the gradient), or ``(values, indices)`` along
    ``dim``, with the index of the first minimum (which alone receives the gradient); with a
    tensor in place of ``dim``, PyTorch's ``min(input, other)``: :func:`minimum`."""
    return _max_min(x, dim, keepdim, False, "min")


def _arg_extremum(x: Tensor, dim: int | None, keepdim: bool, largest: bool, op: str) -> Tensor:
    check_tensor(op, x)
    axis = None if dim is None else _axis(x, dim, op)
    _check_nonempty(x, None if axis is None else (axis,), op)
    # ArgExtremum.apply written out: argmax runs per batch (predictions, accuracy), and the
    # generic argument handling would double its cost on small tensors.
    y = Tensor._make(xp.asarray(ArgExtremum.forward(x.data, axis=axis, keepdim=keepdim,
                                                    largest=largest)))
    if _Trace.observer is not None:
        _Trace.observer(ArgExtremum, (x,), {"axis": axis, "keepdim": keepdim,
                                            "largest": largest}, y)
    return y


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Indices (int64) of the first maximum along ``dim``; with dim None, into the flattened
    tensor."""
    return _arg_extremum(x, dim, keepdim, True, "argmax")


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Indices (int64) of the first minimum along ``dim``; with dim None, into the flattened
    tensor."""
    return _arg_extremum(x, dim, keepdim, False, "argmin")


def _var_args(x: Tensor, dim: Any, correction: float, unbiased: bool | None,
              op: str) -> tuple[tuple[int, ...] | None, float]:
    """The axes and the degrees of freedom N - correction (at least 0, as in PyTorch)."""
    _check_float(x, op)
    if isinstance(dim, bool):  # PyTorch's var(x, unbiased) overload
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction != 1:
            raise ValueError(f"{op}: pass either unbiased or correction, not both")
        correction = 1 if unbiased else 0
    axes = _axes(x, dim, op)
    count = _count(x.shape, axes)
    if count - correction <= 0:
        warnings.warn(f"{op}: {count} element(s) per result and correction={correction} leave no "
                      "degrees of freedom (N - correction <= 0): the result is nan or inf",
                      RuntimeWarning, stacklevel=3)
    return axes, builtins.max(0, count - correction)


def var(x: Tensor, dim: Any = None, *, keepdim: bool = False, correction: float = 1,
        unbiased: bool | None = None) -> Tensor:
    """Variance over ``dim``: sum((x - mean)**2) / (N - correction).

    Args:
        x: a floating tensor.
        dim: an int, a tuple of ints, or None for every dimension.
        keepdim: keep the reduced dimensions as size 1.
        correction: subtracted from N; 1 (the default) is unbiased, 0 the population variance.
        unbiased: PyTorch's older spelling: True means correction=1, False correction=0.
    """
    axes, dof = _var_args(x, dim, correction, unbiased, "var")
    return Var.apply(x, axes=axes, keepdim=keepdim, dof=dof)


def std(x: Tensor, dim: Any = None, *, keepdim: bool = False, correction: float = 1,
        unbiased: bool | None = None) -> Tensor:
    """Standard deviation over ``dim``: the square root of :func:`var` (same arguments)."""
    axes, dof = _var_args(x, dim, correction, unbiased, "std")
    return Std.apply(x, axes=axes, keepdim=keepdim, dof=dof)


def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim`` (an int or a tuple of ints), computed without overflow;
    integer tensors give float32."""
    check_tensor("logsumexp", x)
    if dim is None:
        raise TypeError("logsumexp: dim is required (an int or a tuple of ints); got None")
    if x.data.dtype.kind in _INTEGER_KINDS:
        x = Tensor._make(x.data.astype(DEFAULT_FLOAT))
    return LogSumExp.apply(x, axes=_axes(x, dim, "logsumexp"), keepdim=keepdim)


def _as_dtype(x: Tensor, dtype: Any) -> Tensor:
    return x if dtype is None else x.to(dtype)


def softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed without overflow (in ``dtype``, when
    given, as PyTorch's: x is cast first)."""
    x = _as_dtype(x, dtype)
    _check_float(x, "softmax")
    return Softmax.apply(x, axis=_axis(x, dim, "softmax"))


def log_softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed without overflow or log(0) (in ``dtype``, when
    given)."""
    x = _as_dtype(x, dtype)
    _check_float(x, "log_softmax")
    return LogSoftmax.apply(x, axis=_axis(x, dim, "log_softmax"))


METHODS = {"sum": sum, "mean": mean, "amax": amax, "amin": amin, "max": max, "min": min,
           "argmax": argmax, "argmin": argmin, "var": var, "std": std, "logsumexp": logsumexp,
           "softmax": softmax, "log_softmax": log_softmax}
__all__ = list(METHODS)
