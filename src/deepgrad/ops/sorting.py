"""Sorting and what builds on it: sort, argsort and topk along one dimension, median, kthvalue
and mode, and unique, bincount and histc (counting, without gradient).

The order is always stable: equal elements keep their order in the input (first occurrence first)
in both directions, also with ``stable=False``, where PyTorch leaves the order of ties unspecified.
The same holds for which of several equal elements ``topk`` picks and in what order. NaN sorts as
larger than every number, as in PyTorch: last in ascending order, first in descending order and
in the ``largest`` topk.

Values are differentiable: their gradient goes back to the positions they came from. Indices are
int64 and carry no gradient.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

from deepgrad.autograd import Function, NoGradFunction
from deepgrad.backend import xp
from deepgrad.errors import shape_str
from deepgrad.ops.indexing import gather
from deepgrad.ops.reductions import _axis, _check_float, _check_nonempty, _scatter_to_indices
from deepgrad.tensor import Tensor, check_tensor, int64


def _int(op: str, name: str, value: Any) -> int:
    """``value`` as an int (an integer of any kind: Python, NumPy, a 0-d integer tensor)."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int; got {value!r}") from None


class ValuesIndices(NamedTuple):
    """What ``sort``, ``topk``, ``median``, ``kthvalue``, ``mode``, ``cummax`` and ``cummin``
    return, like ``torch.return_types.sort``, ``.topk`` and the others."""

    values: Tensor
    indices: Tensor


def _stable_order(x: Any, axis: int, descending: bool) -> Any:
    """The int64 indices that sort ``x`` along ``axis``, ties in input order."""
    if not descending:
        order = xp.argsort(x, axis=axis, kind="stable")
    else:
        # Negating would overflow unsigned and minimum integers and keep NaN last. Sorting the
        # reversed input ascending and reversing the result puts the largest (and NaN) first, and
        # ties, reversed twice, back in input order.
        reversed_order = xp.argsort(xp.flip(x, axis), axis=axis, kind="stable")
        order = (x.shape[axis] - 1) - xp.flip(reversed_order, axis)
    return order.astype(int64, copy=False)


class Sort(Function):
    """values, indices = the first ``k`` elements of x sorted along axis (all when k is None),
    with their positions in x;  gx = gy at those positions, 0 elsewhere."""

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, *, axis, descending, k):
        # A 0-d tensor (axis None) sorts as the one element it holds.
        x1, axis1 = (x.reshape(1), 0) if axis is None else (x, axis)
        index = _stable_order(x1, axis1, descending)
        if k is not None:
            index = index[(slice(None),) * axis1 + (slice(0, k),)]
        values = xp.take_along_axis(x1, index, axis=axis1)
        ctx.save(index=index, axis=axis1, shape=x.shape)
        out_shape = x.shape if axis is None else index.shape
        return values.reshape(out_shape), index.reshape(out_shape)

    @staticmethod
    def backward(ctx, gy, g_indices):
        return _scatter_to_indices(ctx, gy)


def sort(x: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> ValuesIndices:
    """``(values, indices)``: ``x`` sorted along ``dim`` and where each value came from.

    Args:
        x: the tensor to sort.
        dim: the dimension to sort along.
        descending: largest first (NaN first) instead of smallest first (NaN last).
        stable: accepted for PyTorch compatibility; the order is always stable (ties keep their
            input order).
    """
    check_tensor("sort", x)
    values, indices = Sort.apply(x, axis=_axis(x, dim, "sort"), descending=descending, k=None)
    return ValuesIndices(values, indices)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """The int64 indices that sort ``x`` along ``dim`` (the ``indices`` of :func:`sort`; the
    order is always stable)."""
    check_tensor("argsort", x)
    # Through Sort, so that an export traces it (as TopK) like sort's indices.
    return Sort.apply(x, axis=_axis(x, dim, "argsort"), descending=descending, k=None)[1]


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> ValuesIndices:
    """``(values, indices)`` of the ``k`` largest (or with ``largest=False`` smallest) elements
    along ``dim``.

    Among equal elements the first in ``x`` is taken first. The values come in sorted order
    (largest first, or smallest first); ``sorted=False`` returns that order too, which PyTorch
    allows, as it leaves the order unspecified then.
    """
    check_tensor("topk", x)
    axis = _axis(x, dim, "topk")
    k = _int("topk", "k", k)
    size = 1 if axis is None else x.shape[axis]
    if not 0 <= k <= size:
        raise ValueError(f"topk: k={k} is out of range for dimension {dim} of size {size} "
                         f"(input shape {shape_str(x.shape)}); expected 0 <= k <= {size}")
    # A 0-d tensor gives its element for k=0 too, as in PyTorch.
    values, indices = Sort.apply(x, axis=axis, descending=largest, k=None if axis is None else k)
    return ValuesIndices(values, indices)


def median(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median (for an even count, the smaller of the two middle values), as PyTorch:
    of all elements when ``dim`` is None (a 0-d tensor), else ``(values, indices)`` along
    ``dim``. A slice holding NaN has median NaN. The gradient goes to the median's position."""
    check_tensor("median", x)
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            raise ValueError("median: the tensor is empty")
        return median(flat, 0).values
    axis = _axis(x, dim, "median")
    if axis is None:  # a 0-d tensor is its own median
        return ValuesIndices(x, Tensor._make(xp.zeros((), int64)))
    n = x.shape[axis]
    if n == 0:
        raise ValueError(f"median: dimension {dim} is empty (input shape {shape_str(x.shape)})")
    values, indices = Sort.apply(x, axis=axis, descending=False, k=None)
    # NaN sorts last: where a slice holds one, its last element is the (NaN) median.
    has_nan = xp.isnan(x.data).any(axis=axis, keepdims=True) if x.data.dtype.kind == "f" \
        else xp.zeros((1,) * x.ndim, bool)
    picks = xp.where(has_nan, n - 1, (n - 1) // 2).astype(int64)
    picks = xp.broadcast_to(picks, (*x.shape[:axis], 1, *x.shape[axis + 1:]))
    value, index = gather(values, axis, picks), xp.take_along_axis(indices.data, picks, axis)
    if not keepdim:
        value, index = value.squeeze(axis), index.squeeze(axis)
    return ValuesIndices(value, Tensor._make(index))


def _select(x: Tensor, axis: int | None, index: Any, keepdim: bool) -> ValuesIndices:
    """The values of ``x`` at ``index`` (one per slice along ``axis``, kept as a dimension of 1)
    with the indices; the gradient goes to those positions."""
    if axis is None:  # a 0-d tensor: its one element
        index = xp.zeros((), int64)
        return ValuesIndices(gather(x, 0, index), Tensor._make(index))
    value = gather(x, axis, index)
    if not keepdim:
        value, index = value.squeeze(axis), index.squeeze(axis)
    return ValuesIndices(value, Tensor._make(index))


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """``(values, indices)``: the ``k``-th smallest element (``k`` from 1) along ``dim`` and its
    position; NaN counts as larger than every number. The gradient goes to that position.

    Among equal elements the k-th in sorted order is taken, ties in input order (PyTorch leaves
    which one unspecified).
    """
    check_tensor("kthvalue", x)
    axis = _axis(x, dim, "kthvalue")
    k = _int("kthvalue", "k", k)
    size = 1 if axis is None else x.shape[axis]
    if axis is not None:
        _check_nonempty(x, (axis,), "kthvalue")
    if not 1 <= k <= size:
        raise ValueError(f"kthvalue: k={k} is out of range for dimension {dim} of size {size} "
                         f"(input shape {shape_str(x.shape)}); expected 1 <= k <= {size}")
    if axis is None:
        return _select(x, None, None, keepdim)
    # The last of the k smallest: an export traces it as a TopK and a slice.
    values, indices = Sort.apply(x, axis=axis, descending=False, k=k)
    kth = (slice(None),) * axis + (slice(k - 1, k),)
    value, index = values[kth], indices[kth]
    if not keepdim:
        value, index = value.squeeze(axis), index.squeeze(axis)
    return ValuesIndices(value, index)


class ModeIndex(NoGradFunction):
    """y = where the mode of x along ``axis`` (the smallest of the most frequent values) last
    occurs, kept as a dimension of size 1."""

    @staticmethod
    def forward(x, *, axis):
        data = xp.moveaxis(x, axis, -1)
        order = _stable_order(data, -1, descending=False)
        ordered = xp.take_along_axis(data, order, axis=-1)
        # In sorted order, equal values form runs; count within each run from its start.
        starts = xp.ones(ordered.shape, bool)
        starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
        positions = xp.arange(ordered.shape[-1])
        run_start = xp.maximum.accumulate(xp.where(starts, positions, 0), axis=-1)
        # The first longest count ends the run of the smallest mode, at its last occurrence
        # (the sort is stable).
        end = (positions - run_start).argmax(axis=-1, keepdims=True)
        return xp.moveaxis(xp.take_along_axis(order, end, axis=-1), -1, axis)


def mode(x: Tensor, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest of equally
    frequent ones, as PyTorch) and the position of its last occurrence; each NaN counts as a
    value of its own. The gradient goes to that position."""
    check_tensor("mode", x)
    axis = _axis(x, dim, "mode")
    index = None
    if axis is not None:
        _check_nonempty(x, (axis,), "mode")
        # An export stops at ModeIndex, which has no ONNX form; the array serves _select.
        index = ModeIndex.apply(x, axis=axis).data
    return _select(x, axis, index, keepdim)


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False) -> Any:
    """The distinct values of ``x``, flattened and in increasing order; with ``return_inverse``
    also where each element's value is among them (x's shape), with ``return_counts`` how often
    each occurs (int64). No gradient."""
    check_tensor("unique", x)
    values, inverse, counts = xp.unique(x.data, return_inverse=True, return_counts=True)
    out = [Tensor._make(values)]
    if return_inverse:
        out.append(Tensor._make(inverse.reshape(x.shape).astype(int64)))
    if return_counts:
        out.append(Tensor._make(counts.astype(int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the 1-D non-negative integer tensor ``x``
    (at least ``minlength`` counts), or the sum of ``weights`` per value. No gradient."""
    data = check_tensor("bincount", x).data
    if data.ndim != 1 or data.dtype.kind not in "iu":
        raise ValueError(f"bincount: expects a 1-D tensor of non-negative integers; got "
                         f"{data.dtype} of shape {shape_str(data.shape)}")
    if data.size and data.min() < 0:
        raise ValueError(f"bincount: expects non-negative integers; got {data.min()}")
    w = None if weights is None else check_tensor("bincount", weights, "weights").data
    if w is not None and w.shape != data.shape:
        raise ValueError(f"bincount: weights must have the input's shape {shape_str(data.shape)}; "
                         f"got {shape_str(w.shape)}")
    counts = xp.bincount(data, weights=w, minlength=minlength)
    return Tensor._make(counts.astype(int64 if w is None else w.dtype))


class Histc(NoGradFunction):
    """y = how many of x's elements fall in each of ``bins`` equal-width bins from ``minimum``
    to ``maximum`` (from x's smallest to largest element when both are equal), in x's dtype."""

    @staticmethod
    def forward(x, *, bins, minimum, maximum):
        data = x.reshape(-1)
        dtype = data.dtype.type
        low, high = dtype(minimum), dtype(maximum)
        if low == high and data.size:
            low, high = data.min(), data.max()
        if low == high:  # one value: a range of width 2 around it, as PyTorch
            low, high = low - 1, high + 1
        if not (xp.isfinite(low) and xp.isfinite(high)):
            raise ValueError(f"histc: the range [{low}, {high}] is not finite")
        if low > high:
            raise ValueError(f"histc: max must be larger than min; got min={minimum}, "
                             f"max={maximum}")
        inside = data[(data >= low) & (data <= high)]
        # The same arithmetic, in x's dtype, as PyTorch's, so that edge cases fall in the same
        # bin.
        position = ((inside - low) * dtype(bins) / (high - low)).astype(int64)
        position = xp.minimum(position, bins - 1)
        return xp.bincount(position, minlength=bins).astype(data.dtype)


def histc(x: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """The histogram of ``x``'s elements: ``bins`` equal-width bins from ``min`` to ``max`` (when
    both are equal, from the smallest to the largest element), in ``x``'s float dtype. Elements
    outside the range (and NaN) are not counted; ``max`` falls in the last bin. No gradient.
    """
    _check_float(x, "histc")
    bins = _int("histc", "bins", bins)
    if bins <= 0:
        raise ValueError(f"histc: bins must be > 0; got {bins}")
    return Histc.apply(x, bins=bins, minimum=min, maximum=max)


METHODS = {"sort": sort, "argsort": argsort, "topk": topk, "median": median,
           "kthvalue": kthvalue, "mode": mode, "unique": unique, "bincount": bincount,
           "histc": histc}
__all__ = list(METHODS)
