"""Running sums and sorting: CumSum (with ``exclusive`` and ``reverse``), TopK, ArgMax and
ArgMin.

TopK orders equal elements by their index, lower first, in both directions (as ONNX specifies
and deepgrad's stable sort does); NaN counts as larger than every number, as in deepgrad. The
values always come sorted, which ``sorted=0`` (any order) allows. ArgMax and ArgMin take the
first of equal elements (``select_last_index=1``: the last) and, where a slice holds NaN, a NaN,
as NumPy and deepgrad do (ONNX leaves NaN open).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.base import (
    Attributes,
    Consts,
    Kernel,
    Workspace,
    arity,
    const_ints,
    ints_of,
    register,
)


def _one_int(value: Any, what: str) -> int:
    """A tensor holding exactly one integer (CumSum's axis, TopK's K)."""
    values = ints_of(value, what)
    if len(values) != 1:
        raise ValueError(f"{what} must hold one integer; got {len(values)}")
    return values[0]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for an input of rank {rank}")
    return axis % rank


@register("CumSum")
def _cumsum(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """y_j = x_0 + ... + x_j along the axis (exclusive: up to x_(j-1); reverse: from the
    end), in the input's type."""
    arity(node, (2, 2))
    attrs = Attributes(node)
    exclusive = bool(attrs.int("exclusive", 0, 0, 1))
    reverse = bool(attrs.int("reverse", 0, 0, 1))
    fixed = None if consts[1] is None else _one_int(consts[1], "CumSum's axis")

    def cumsum(x: np.ndarray, axis_value: np.ndarray) -> np.ndarray:
        axis = _axis(fixed if fixed is not None else _one_int(axis_value, "CumSum's axis"),
                     x.ndim)
        if reverse:
            x = np.flip(x, axis)
        y = np.cumsum(x, axis=axis, dtype=x.dtype)
        if exclusive:
            shifted = np.zeros_like(y)
            before = [slice(None)] * x.ndim
            after = list(before)
            before[axis], after[axis] = slice(1, None), slice(None, -1)
            shifted[tuple(before)] = y[tuple(after)]
            y = shifted
        return np.ascontiguousarray(np.flip(y, axis)) if reverse else y

    return cumsum


def _stable_order(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """The int64 indices that sort ``x`` along ``axis``, equal elements in input order."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    # Negating would overflow unsigned and minimum integers and keep NaN last: sort the
    # reversed input ascending, then reverse the order (ties, reversed twice, keep theirs).
    reversed_order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return ((x.shape[axis] - 1) - np.flip(reversed_order, axis)).astype(np.int64, copy=False)


@register("TopK")
def _topk(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """(values, indices) of the K largest (largest=0: smallest) elements along the axis."""
    arity(node, (2, 2), (2, 2), first_output=False)
    attrs = Attributes(node)
    axis = attrs.int("axis", -1)
    largest = bool(attrs.int("largest", 1, 0, 1))
    attrs.int("sorted", 1, 0, 1)
    fixed = const_ints(consts, 1, "TopK's K")
    if fixed is not None and len(fixed) != 1:
        raise ValueError(f"TopK's K must hold one integer; got {len(fixed)}")

    def topk(x: np.ndarray, k_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = fixed[0] if fixed is not None else _one_int(k_value, "TopK's K")
        a = _axis(axis, x.ndim)
        if not 0 <= k <= x.shape[a]:
            raise ValueError(f"K={k} is out of range for axis {axis} of size {x.shape[a]} "
                             f"(input shape {x.shape})")
        order = _stable_order(x, a, largest)
        indices = order[(slice(None),) * a + (slice(0, k),)]
        return np.take_along_axis(x, indices, axis=a), indices

    return topk


@register("ArgMax", "ArgMin")
def _arg_extremum(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The int64 index of the largest (ArgMin: smallest) element along the axis."""
    arity(node, (1, 1))
    attrs = Attributes(node)
    axis = attrs.int("axis", 0)
    keepdims = bool(attrs.int("keepdims", 1, 0, 1))
    last = bool(attrs.int("select_last_index", 0, 0, 1))
    find = np.argmax if node.op == "ArgMax" else np.argmin

    def arg_extremum(x: np.ndarray) -> np.ndarray:
        a = _axis(axis, x.ndim)
        if x.shape[a] == 0:
            raise ValueError(f"axis {axis} of the input (shape {x.shape}) is empty")
        if last:  # the first from the end
            index = (x.shape[a] - 1) - find(np.flip(x, a), axis=a, keepdims=keepdims)
        else:
            index = find(x, axis=a, keepdims=keepdims)
        return np.asarray(index, np.int64)

    return arg_extremum
