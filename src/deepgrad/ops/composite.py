"""Functions built from the primitives (differentiable through them), PyTorch's names: lerp
logaddexp hypot logit xlogy clamp_min clamp_max nanmean var_mean std_mean quantile cross kron
tensordot, and the reshapes swapaxes unflatten ravel; argwhere."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops import (
    activations,
    arithmetic,
    compare,
    elementwise,
    indexing,
    join,
    reductions,
    shape,
    sorting,
    unary,
)
from deepgrad.ops._util import normalize_dim
from deepgrad.tensor import Tensor, check_tensor


def lerp(input: Tensor, end: Any, weight: Any) -> Tensor:
    """``input + weight * (end - input)``, elementwise with broadcasting."""
    x = check_tensor("lerp", input)
    return arithmetic.add(x, arithmetic.mul(weight, arithmetic.sub(end, x)))


def logaddexp(input: Tensor, other: Any) -> Tensor:
    """``log(exp(input) + exp(other))`` without overflow: max + log1p(exp(-|input - other|))."""
    x = check_tensor("logaddexp", input)
    top = indexing.maximum(x, other)
    gap = elementwise.abs(arithmetic.sub(x, other))
    return arithmetic.add(top, unary.log1p(elementwise.exp(arithmetic.neg(gap))))


def hypot(input: Tensor, other: Any) -> Tensor:
    """``sqrt(input**2 + other**2)``, elementwise with broadcasting."""
    x = check_tensor("hypot", input)
    return elementwise.sqrt(arithmetic.add(arithmetic.mul(x, x), arithmetic.mul(other, other)))


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``, the inverse of the sigmoid; with ``eps``, p clamped to
    [eps, 1 - eps] first."""
    p = check_tensor("logit", input)
    if eps is not None:
        p = activations.clamp(p, eps, 1 - eps)
    return arithmetic.sub(elementwise.log(p), elementwise.log(arithmetic.sub(1, p)))


def xlogy(input: Tensor, other: Any) -> Tensor:
    """``input * log(other)``, and 0 where input is 0 (also where other is 0), as in entropy
    terms."""
    x = check_tensor("xlogy", input)
    y = other if isinstance(other, Tensor) else Tensor._make(xp.asarray(other, x.data.dtype))
    zero = compare.eq(x, 0)
    safe = indexing.where(zero, 1.0, y)  # no log(0) where the product is 0 anyway
    return indexing.where(zero, 0.0, arithmetic.mul(x, elementwise.log(safe)))


def clamp_min(input: Tensor, min: float) -> Tensor:
    """``clamp(input, min=min)``."""
    return activations.clamp(input, min=min)


def clamp_max(input: Tensor, max: float) -> Tensor:
    """``clamp(input, max=max)``."""
    return activations.clamp(input, max=max)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The mean over ``dim`` of the elements that are not NaN (NaN where all are)."""
    x = check_tensor("nanmean", input)
    present = compare.logical_not(compare.isnan(x))
    total = reductions.sum(indexing.where(present, x, 0.0), dim, keepdim)
    count = reductions.sum(elementwise.to(present, x.data.dtype), dim, keepdim)
    return arithmetic.div(total, count)


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The sum over ``dim`` of the elements that are not NaN (NaN counted as 0)."""
    x = check_tensor("nansum", input)
    return reductions.sum(indexing.where(compare.isnan(x), 0.0, x), dim, keepdim)


def addcmul(input: Tensor, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (broadcasting), as optimizers write their updates."""
    return arithmetic.add(check_tensor("addcmul", input),
                          arithmetic.mul(arithmetic.mul(tensor1, tensor2), value))


def addcdiv(input: Tensor, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (broadcasting)."""
    return arithmetic.add(check_tensor("addcdiv", input),
                          arithmetic.mul(arithmetic.div(tensor1, tensor2), value))


def take_along_dim(input: Tensor, indices: Any, dim: int | None = None) -> Tensor:
    """The values of ``input`` at ``indices`` along ``dim`` (the two broadcast against each
    other but along ``dim``), or in the flattened input when ``dim`` is None: NumPy's
    ``take_along_axis``, e.g. with the indices of ``argsort`` or ``topk``."""
    x = check_tensor("take_along_dim", input)
    index = indices.data if isinstance(indices, Tensor) else xp.asarray(indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"take_along_dim: indices must be integers; got dtype {index.dtype}")
    if dim is None:
        return indexing.gather(shape.reshape(x, -1), 0, index.reshape(-1))
    axis = normalize_dim(dim, x.ndim, "take_along_dim")
    if index.ndim != x.ndim:
        raise ShapeError(f"take_along_dim: indices need as many dimensions as the input "
                         f"({x.ndim}); got shape {shape_str(index.shape)}")
    sizes = [max(a, b) if i != axis else None for i, (a, b) in enumerate(zip(x.shape,
                                                                              index.shape))]
    try:
        target = tuple(x.shape[axis] if s is None else s for s in sizes)
        x = shape.expand(x, *target) if target != x.shape else x
        index = xp.broadcast_to(index, tuple(index.shape[axis] if s is None else s
                                             for s in sizes))
    except (ValueError, ShapeError):
        raise ShapeError(f"take_along_dim: indices of shape {shape_str(index.shape)} do not "
                         f"broadcast with the input's {shape_str(input.shape)} outside "
                         f"dimension {axis}") from None
    return indexing.gather(x, axis, index)


def var_mean(input: Tensor, dim: Any = None, *, correction: float = 1,
             keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """``(var, mean)`` over ``dim``."""
    return (reductions.var(input, dim, keepdim=keepdim, correction=correction),
            reductions.mean(input, dim, keepdim))


def std_mean(input: Tensor, dim: Any = None, *, correction: float = 1,
             keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """``(std, mean)`` over ``dim``."""
    return (reductions.std(input, dim, keepdim=keepdim, correction=correction),
            reductions.mean(input, dim, keepdim))


def quantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The ``q``-quantiles (a number, or a 1-D sequence of them, in [0, 1]) over ``dim`` (all
    elements when None), interpolating linearly between the sorted values as PyTorch's default;
    several q are a leading dimension of the result."""
    x = check_tensor("quantile", input)
    qs = xp.atleast_1d(xp.asarray(q.data if isinstance(q, Tensor) else q, xp.float64))
    if qs.ndim != 1 or ((qs < 0) | (qs > 1)).any():
        raise ValueError(f"quantile: q must be numbers in [0, 1]; got {q!r}")
    if dim is None:
        x, axis = shape.reshape(x, -1), 0
    else:
        axis = normalize_dim(dim, x.ndim, "quantile")
    n = x.shape[axis]
    if n == 0:
        raise ValueError("quantile: the dimension is empty")
    ordered = sorting.sort(x, axis).values
    position = qs * (n - 1)
    low = xp.floor(position).astype(xp.int64)
    high = xp.minimum(low + 1, n - 1)
    before = (slice(None),) * axis
    parts = []
    for lo, hi, frac in zip(low, high, position - low):
        a = indexing.getitem(ordered, (*before, slice(lo, lo + 1)))
        b = indexing.getitem(ordered, (*before, slice(hi, hi + 1)))
        value = lerp(a, b, float(frac))
        parts.append(value if keepdim or dim is None else shape.squeeze(value, axis))
    if dim is None:
        parts = [shape.reshape(p, *((1,) * input.ndim if keepdim else ())) for p in parts]
    out = join.stack(parts, 0)
    scalar_q = xp.ndim(q.data if isinstance(q, Tensor) else q) == 0
    return shape.squeeze(out, 0) if scalar_q else out


def cross(input: Tensor, other: Tensor, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (of size 3), broadcasting."""
    a, b = check_tensor("cross", input), check_tensor("cross", other)
    try:
        common = xp.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"cross: shapes {shape_str(a.shape)} and {shape_str(b.shape)} do not "
                         f"broadcast together") from None
    d = normalize_dim(dim, len(common), "cross")
    if common[d] != 3:
        raise ShapeError(f"cross: dimension {dim} must have size 3; got shapes "
                         f"{shape_str(a.shape)} and {shape_str(b.shape)}")
    a, b = shape.expand(a, *common), shape.expand(b, *common)
    before = (slice(None),) * d

    def term(i: int, j: int) -> Tensor:
        ai, aj = (indexing.getitem(a, (*before, slice(k, k + 1))) for k in (i, j))
        bi, bj = (indexing.getitem(b, (*before, slice(k, k + 1))) for k in (i, j))
        return arithmetic.sub(arithmetic.mul(ai, bj), arithmetic.mul(aj, bi))

    return join.cat([term(1, 2), term(2, 0), term(0, 1)], d)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: every element of ``input`` times the whole ``other``, in blocks."""
    a, b = check_tensor("kron", input), check_tensor("kron", other)
    n = max(a.ndim, b.ndim)
    a = shape.reshape(a, *((1,) * (n - a.ndim) + a.shape))
    b = shape.reshape(b, *((1,) * (n - b.ndim) + b.shape))
    # a[i] * b[j] at (i, j) pairs of axes, interleaved, then each pair merged.
    wide_a = shape.reshape(a, *[s for size in a.shape for s in (size, 1)])
    wide_b = shape.reshape(b, *[s for size in b.shape for s in (1, size)])
    return shape.reshape(arithmetic.mul(wide_a, wide_b),
                         *[p * q for p, q in zip(a.shape, b.shape)])


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """The sum of products over ``dims``: the last ``dims`` axes of ``a`` with the first of
    ``b`` (an int), or the listed pairs of axes ``([a axes], [b axes])``."""
    a, b = check_tensor("tensordot", a), check_tensor("tensordot", b)
    if isinstance(dims, int):
        a_axes, b_axes = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        a_axes = [normalize_dim(d, a.ndim, "tensordot") for d in dims[0]]
        b_axes = [normalize_dim(d, b.ndim, "tensordot") for d in dims[1]]
    if [a.shape[i] for i in a_axes] != [b.shape[j] for j in b_axes]:
        raise ShapeError(f"tensordot: the contracted sizes differ: {[a.shape[i] for i in a_axes]} "
                         f"and {[b.shape[j] for j in b_axes]}")
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [j for j in range(b.ndim) if j not in b_axes]
    inner = math.prod(a.shape[i] for i in a_axes)
    left = shape.reshape(shape.permute(a, *a_free, *a_axes), -1, inner)
    right = shape.reshape(shape.permute(b, *b_axes, *b_free), inner, -1)
    return shape.reshape(arithmetic.matmul(left, right), *[a.shape[i] for i in a_free],
                         *[b.shape[j] for j in b_free])


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose`` under NumPy's name."""
    return shape.transpose(input, axis0, axis1)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """``input`` with dimension ``dim`` split into ``sizes`` (one may be -1)."""
    x = check_tensor("unflatten", input)
    d = normalize_dim(dim, x.ndim, "unflatten")
    return shape.reshape(x, *x.shape[:d], *sizes, *x.shape[d + 1:])


def ravel(input: Tensor) -> Tensor:
    """``input`` flattened to 1-D."""
    return shape.reshape(check_tensor("ravel", input), -1)


def argwhere(input: Tensor) -> Tensor:
    """The indices of the nonzero elements, (count, ndim) int64 (``nonzero``)."""
    return compare.nonzero(input)


METHODS = {"lerp": lerp, "logaddexp": logaddexp, "hypot": hypot, "logit": logit,
           "xlogy": xlogy, "clamp_min": clamp_min, "clamp_max": clamp_max, "nanmean": nanmean,
           "quantile": quantile, "cross": cross, "kron": kron, "swapaxes": swapaxes,
           "unflatten": unflatten, "ravel": ravel, "argwhere": argwhere, "nansum": nansum,
           "addcmul": addcmul, "addcdiv": addcdiv, "take_along_dim": take_along_dim}
__all__ = [*METHODS, "var_mean", "std_mean", "tensordot"]
