"""Running sums, sorting, contraction and repetition kernels of
:class:`~deepgrad.export.graph_module.GraphModule` (see :mod:`deepgrad.export.graph_ops`):
CumSum, TopK, Einsum and Tile, on deepgrad's differentiable ``cumsum``, ``topk``, ``einsum`` and
``tile``, and ArgMax / ArgMin on ``argmax`` / ``argmin``. TopK's values pass their gradient back
to where they came from; its indices have none.
"""

from __future__ import annotations

import numpy as np

from deepgrad.export.graph_ops import KernelTable, as_tensor, axis_index, ints
from deepgrad.ops import join, reductions, scan, shape, sorting
from deepgrad.ops.einsum import einsum
from deepgrad.ops.elementwise import to
from deepgrad.tensor import Tensor
from deepgrad_runtime.graph import Node

KERNELS = KernelTable()


def _one_int(value: object, what: str) -> int:
    values = ints(value, what)
    if len(values) != 1:
        raise ValueError(f"{what} must hold one integer; got {len(values)}")
    return values[0]


def _reversed(x: Tensor, axis: int) -> Tensor:
    """``x`` in reverse order along ``axis`` (Tensors take no negative steps: an index array)."""
    return x[(slice(None),) * axis + (np.arange(x.shape[axis] - 1, -1, -1),)]


@KERNELS.register("CumSum")
def _cumsum(training: bool, node: Node, xs: list) -> Tensor:
    x, axis = xs
    axis = axis_index(_one_int(axis, "CumSum axis"), x.ndim, "CumSum axis")
    reverse = bool(node.attrs.get("reverse", 0))
    if reverse:
        x = _reversed(x, axis)
    y = scan.cumsum(x, axis)
    if node.attrs.get("exclusive", 0):  # each sum without its own element: shift by one
        first = list(x.shape)
        first[axis] = 1
        earlier = [slice(None)] * x.ndim
        earlier[axis] = slice(0, x.shape[axis] - 1)
        y = join.cat([Tensor(np.zeros(first, y.dtype)), y[tuple(earlier)]], axis)
    if reverse:
        y = _reversed(y, axis)
    # deepgrad sums integers as int64; ONNX keeps the input's type.
    return y if y.dtype == x.dtype else to(y, x.dtype)


@KERNELS.register("TopK")
def _topk(training: bool, node: Node, xs: list) -> tuple:
    x, k = xs
    axis = axis_index(node.attrs.get("axis", -1), x.ndim, "TopK axis")
    values, indices = sorting.topk(x, _one_int(k, "TopK K"), axis,
                                   largest=bool(node.attrs.get("largest", 1)))
    return values, indices


@KERNELS.register("ArgMax", "ArgMin", arrays=True)
def _arg_extremum(training: bool, node: Node, xs: list) -> Tensor | np.ndarray:
    """The first index of the extremum (NaN counts as one, as NumPy's), or with
    ``select_last_index`` the last (the first of the reversed input); arrays when the input is
    one."""
    (x,) = xs
    t = as_tensor(x)
    axis = axis_index(node.attrs.get("axis", 0), t.ndim, f"{node.op} axis")
    keepdim = bool(node.attrs.get("keepdims", 1))
    find = reductions.argmax if node.op == "ArgMax" else reductions.argmin
    if node.attrs.get("select_last_index", 0):
        y = (t.shape[axis] - 1) - find(_reversed(t, axis), axis, keepdim)
    else:
        y = find(t, axis, keepdim)
    return y.data if isinstance(x, np.ndarray) else y


@KERNELS.register("Einsum")
def _einsum(training: bool, node: Node, xs: list) -> Tensor:
    equation = node.attrs.get("equation")
    if not isinstance(equation, str):
        raise ValueError(f"Einsum: attribute 'equation' (a string) is required; got "
                         f"{equation!r}")
    return einsum(equation.replace(" ", ""), *[as_tensor(x) for x in xs])


@KERNELS.register("Tile")
def _tile(training: bool, node: Node, xs: list) -> Tensor:
    x, repeats = xs
    reps = ints(repeats, "Tile repeats")
    if len(reps) != x.ndim:
        raise ValueError(f"Tile: repeats {reps} must have one count per dimension of the input "
                         f"of shape {x.shape}")
    return shape.tile(x, reps)


__all__ = ["KERNELS"]
