"""Kernels that move, select or sum values without arithmetic on each: Flatten, Reshape,
Transpose, Squeeze, Unsqueeze, Concat, Split, Slice, Gather, GatherElements, ScatterElements,
Trilu, Pad, Tile, ReduceMean, ReduceSum and ReduceProd, and the shape computations of exported
models: Shape, ConstantOfShape and Expand.

Axes, shapes and slice bounds are inputs (opset 13 style); when they are initializers they are
parsed once at load time. ReduceMean and ReduceProd also take their axes as an attribute (opset
17's form).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.base import (
    Attributes,
    Consts,
    Kernel,
    Workspace,
    arity,
    check_size,
    const_ints,
    given,
    ints_of,
    register,
)


@register("Flatten")
def _flatten(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    axis = Attributes(node).int("axis", 1)

    def flatten(x: np.ndarray) -> np.ndarray:
        a = axis + x.ndim if axis < 0 else axis
        if not 0 <= a <= x.ndim:
            raise ValueError(f"axis {axis} is out of range for an input of rank {x.ndim}")
        return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))

    return flatten


def _reshape_target(shape: list[int], allowzero: bool) -> None:
    if shape.count(-1) > 1:
        raise ValueError(f"shape {shape} has more than one -1")
    if any(s < -1 for s in shape):
        raise ValueError(f"shape {shape} has a negative size other than -1")
    if allowzero and 0 in shape and -1 in shape:
        raise ValueError(f"shape {shape} has both 0 and -1, which allowzero=1 forbids")


def _resolve(in_shape: tuple[int, ...], shape: list[int]) -> list[int]:
    """Reshape's 0 entries copy the input's size on that axis (allowzero=0)."""
    if len(shape) > len(in_shape) and 0 in shape[len(in_shape):]:
        raise ValueError(f"shape {shape}: a 0 past the input's rank {len(in_shape)} has no "
                         f"size to copy")
    return [in_shape[i] if s == 0 else s for i, s in enumerate(shape)]


@register("Reshape")
def _reshape(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))
    allowzero = bool(Attributes(node).int("allowzero", 0, 0, 1))
    shape = const_ints(consts, 1, "Reshape's shape")
    if shape is not None:
        _reshape_target(shape, allowzero)
        if allowzero or 0 not in shape:
            target = tuple(shape)
            return lambda x, s: x.reshape(target)
        return lambda x, s: x.reshape(_resolve(x.shape, shape))

    def reshape(x: np.ndarray, s: np.ndarray) -> np.ndarray:
        target = ints_of(s, "Reshape's shape")
        _reshape_target(target, allowzero)
        return x.reshape(target if allowzero else _resolve(x.shape, target))

    return reshape


@register("Transpose")
def _transpose(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    perm = Attributes(node).ints("perm", None, minimum=0)
    if perm is None:
        return lambda x: x.transpose()
    if sorted(perm) != list(range(len(perm))):
        raise ValueError(f"attribute 'perm' must be a permutation of 0..{len(perm) - 1}; "
                         f"got {perm}")
    return lambda x: x.transpose(perm)


def _axes_kernel(node: Node, consts: Consts, apply: Any, required: bool) -> Kernel:
    """A kernel of (data, axes) where axes is an optional input, parsed once when constant."""
    arity(node, (2 if required else 1, 2))
    if given(node, 1) and consts[1] is not None:
        axes = tuple(ints_of(consts[1], f"{node.op}'s axes"))
        return lambda x, a=None: apply(x, axes)
    if not given(node, 1):
        return lambda x: apply(x, None)
    return lambda x, a: apply(x, tuple(ints_of(a, f"{node.op}'s axes")))


@register("Squeeze")
def _squeeze(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    return _axes_kernel(node, consts, lambda x, axes: np.squeeze(x, axis=axes), required=False)


@register("Unsqueeze")
def _unsqueeze(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    return _axes_kernel(node, consts, np.expand_dims, required=True)


@register("Concat")
def _concat(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 2 ** 31))
    attrs = Attributes(node)
    if not attrs.has("axis"):
        raise ValueError("attribute 'axis' is required")
    axis = attrs.int("axis")
    return lambda *xs: np.concatenate(xs, axis=axis)


@register("Split")
def _split(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 2), (1, 2 ** 31))
    axis = Attributes(node).int("axis", 0)
    parts = len(node.outputs)
    fixed = const_ints(consts, 1, "Split's split") if given(node, 1) else None

    def split(x: np.ndarray, sizes: Any = None) -> Any:
        a = axis + x.ndim if axis < 0 else axis
        if not 0 <= a < x.ndim:
            raise ValueError(f"axis {axis} is out of range for an input of rank {x.ndim}")
        dim = x.shape[a]
        if sizes is None:
            if dim % parts:
                raise ValueError(f"cannot split size {dim} into {parts} equal parts")
            sizes = [dim // parts] * parts
        else:
            sizes = fixed if fixed is not None else ints_of(sizes, "Split's split")
            if len(sizes) != parts or min(sizes) < 0 or sum(sizes) != dim:
                raise ValueError(f"split {sizes} must be {parts} sizes >= 0 summing to {dim}")
        pieces = np.split(x, np.cumsum(sizes)[:-1], axis=a)
        return tuple(pieces) if parts > 1 else pieces[0]

    return split


def _slice_index(shape: tuple[int, ...], starts: list[int], ends: list[int],
                 axes: list[int] | None, steps: list[int] | None) -> tuple[slice, ...]:
    """ONNX Slice's bounds as Python slices: negative bounds count from the end and are then
    clamped, and a negative step may run down to before index 0."""
    rank = len(shape)
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} must "
                         f"have the same length")
    index = [slice(None)] * rank
    seen: set[int] = set()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        a = axis + rank if axis < 0 else axis
        if not 0 <= a < rank or a in seen:
            raise ValueError(f"axes {axes} must be distinct axes of a rank-{rank} input")
        seen.add(a)
        if step == 0:
            raise ValueError("a step of 0 is not allowed")
        dim = shape[a]
        start += dim if start < 0 else 0
        end += dim if end < 0 else 0
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        index[a] = slice(start, end if end >= 0 else None, step)
    return tuple(index)


@register("Slice")
def _slice(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (3, 5))
    names = ("starts", "ends", "axes", "steps")
    fixed = [const_ints(consts, i, f"Slice's {n}") for i, n in enumerate(names, 1)]
    if all(f is not None or not given(node, i) for i, f in enumerate(fixed, 1)):
        last: list[Any] = [None, None]  # the last input shape and its index

        def constant_slice(x: np.ndarray, *bounds: Any) -> np.ndarray:
            if x.shape != last[0]:
                last[:] = x.shape, _slice_index(x.shape, *fixed)
            return x[last[1]]

        return constant_slice

    def slice_(x: np.ndarray, *bounds: Any) -> np.ndarray:
        values = [None if b is None else ints_of(b, f"Slice's {n}")
                  for b, n in zip(bounds, names)]
        values += [None] * (4 - len(values))
        return x[_slice_index(x.shape, *values)]

    return slice_


@register("Gather")
def _gather(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))
    axis = Attributes(node).int("axis", 0)

    def gather(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        if indices.dtype.kind not in "iu":
            raise ValueError(f"indices must be integers; got {indices.dtype}")
        return np.take(x, indices, axis=axis)

    return gather


def _element_indices(indices: np.ndarray, data: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    """GatherElements' and ScatterElements' indices checked against the data (the same rank,
    no larger in any other dimension, each in [-size, size) along ``axis``), made non-negative;
    and the axis, made non-negative."""
    if indices.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers; got {indices.dtype}")
    rank = data.ndim
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for an input of rank {rank}")
    axis %= rank
    if indices.ndim != rank or any(n > m for k, (n, m) in enumerate(zip(indices.shape, data.shape))
                                   if k != axis):
        raise ValueError(f"indices of shape {indices.shape} must have the rank of the data "
                         f"{data.shape} and be no larger in any dimension but {axis}")
    size = data.shape[axis]
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ValueError(f"indices must be in [{-size}, {size - 1}] for axis {axis}; got values "
                         f"from {indices.min()} to {indices.max()}")
    return np.where(indices < 0, indices + size, indices), axis


@register("GatherElements")
def _gather_elements(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """out[i][j] = data[indices[i][j]][j] for axis 0 (any axis likewise), out of indices' shape;
    indices smaller than the data in another dimension read its leading corner."""
    arity(node, (2, 2))
    axis_attr = Attributes(node).int("axis", 0)

    def gather_elements(data: np.ndarray, indices: np.ndarray) -> np.ndarray:
        index, axis = _element_indices(indices, data, axis_attr)
        corner = tuple(slice(None) if k == axis else slice(0, n)
                       for k, n in enumerate(index.shape))
        return np.take_along_axis(data[corner], index, axis=axis)

    return gather_elements


@register("ScatterElements")
def _scatter_elements(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """A copy of data with updates[p] written (reduction 'add': added, 'mul': multiplied) at
    each position p of indices, its ``axis`` coordinate replaced by indices[p]."""
    arity(node, (3, 3))
    attrs = Attributes(node)
    axis_attr = attrs.int("axis", 0)
    reduction = attrs.string("reduction", "none", ("none", "add", "mul"))

    def scatter_elements(data: np.ndarray, indices: np.ndarray,
                         updates: np.ndarray) -> np.ndarray:
        index, axis = _element_indices(indices, data, axis_attr)
        if updates.shape != index.shape or updates.dtype != data.dtype:
            raise ValueError(f"updates ({updates.dtype}, shape {updates.shape}) must have the "
                             f"indices' shape {index.shape} and the data's dtype {data.dtype}")
        targets = list(np.indices(index.shape, sparse=True))
        targets[axis] = index
        y = data.copy()
        if reduction == "none":
            y[tuple(targets)] = updates
        else:
            (np.add if reduction == "add" else np.multiply).at(y, tuple(targets), updates)
        return y

    return scatter_elements


@register("Trilu")
def _trilu(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The upper (upper=1) or lower triangle of the last two dimensions from diagonal k (an
    optional 0-d input, default 0), zeros elsewhere."""
    arity(node, (1, 2))
    upper = bool(Attributes(node).int("upper", 1, 0, 1))

    def trilu(x: np.ndarray, k: Any = None) -> np.ndarray:
        if x.ndim < 2:
            raise ValueError(f"needs an input of rank >= 2; got shape {x.shape}")
        diagonal = [0] if k is None else ints_of(k, "Trilu's k")
        if len(diagonal) != 1:
            raise ValueError(f"Trilu's k must hold one integer; got {len(diagonal)}")
        return np.triu(x, diagonal[0]) if upper else np.tril(x, diagonal[0])

    return trilu


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


@register("Pad")
def _pad(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """x padded by pads (every dimension's start, then every end) with constant_value (default
    0), its mirror image without the edge ('reflect') or its edge ('edge'); negative pads
    crop."""
    arity(node, (2, 3))
    mode = Attributes(node).string("mode", "constant", tuple(_PAD_MODES))
    fixed = const_ints(consts, 1, "Pad's pads")

    def pad(x: np.ndarray, pads: np.ndarray, value: Any = None) -> np.ndarray:
        widths = fixed if fixed is not None else ints_of(pads, "Pad's pads")
        rank = x.ndim
        if len(widths) != 2 * rank:
            raise ValueError(f"pads {widths} must hold 2 * {rank} widths for an input of shape "
                             f"{x.shape}")
        if value is not None and np.asarray(value).size != 1:
            raise ValueError(f"constant_value must hold one value; got shape "
                             f"{np.asarray(value).shape}")
        before, after = widths[:rank], widths[rank:]
        if any(max(-b, 0) + max(-a, 0) > n for n, b, a in zip(x.shape, before, after)):
            raise ValueError(f"pads {widths} crop more than the input of shape {x.shape} has")
        x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for n, b, a in zip(x.shape, before, after))]
        pairs = [(max(b, 0), max(a, 0)) for b, a in zip(before, after)]
        for n, (b, a) in zip(x.shape, pairs):
            if (b or a) and (n == 0 if mode == "edge" else mode == "reflect" and max(b, a) >= n):
                raise ValueError(f"mode {mode!r} cannot pad a dimension of size {n} by "
                                 f"({b}, {a})")
        check_size("the output", math.prod(n + b + a for n, (b, a) in zip(x.shape, pairs)),
                   x.size)
        if mode != "constant":
            return np.pad(x, pairs, mode=_PAD_MODES[mode])
        fill = 0 if value is None else np.asarray(value).reshape(()).item()
        return np.pad(x, pairs, constant_values=fill)

    return pad


@register("Tile")
def _tile(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The input repeated ``repeats[i]`` times along each dimension i."""
    arity(node, (2, 2))
    fixed = const_ints(consts, 1, "Tile's repeats")

    def tile(x: np.ndarray, repeats: np.ndarray) -> np.ndarray:
        reps = fixed if fixed is not None else ints_of(repeats, "Tile's repeats")
        if len(reps) != x.ndim or any(r < 0 for r in reps):
            raise ValueError(f"repeats {reps} must be {x.ndim} counts >= 0, one per dimension "
                             f"of the input of shape {x.shape}")
        check_size("the output", x.size * math.prod(reps), x.size)
        return np.tile(x, reps)

    return tile


@register("ReduceMean", "ReduceSum", "ReduceProd")
def _reduce(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 2))
    attrs = Attributes(node)
    keepdims = bool(attrs.int("keepdims", 1, 0, 1))
    noop = bool(attrs.int("noop_with_empty_axes", 0, 0, 1))
    fixed = attrs.ints("axes", None)
    if fixed is not None and given(node, 1):
        raise ValueError("axes is given both as an attribute and as an input")
    if fixed is None and given(node, 1) and consts[1] is not None:
        fixed = ints_of(consts[1], f"{node.op}'s axes")

    def reduce(x: np.ndarray, axes: Any = None) -> np.ndarray:
        chosen = fixed if fixed is not None or axes is None else ints_of(axes, "axes")
        if not chosen:
            if noop:
                return x
            chosen = list(range(x.ndim))
        if node.op == "ReduceMean":
            return np.mean(x, axis=tuple(chosen), keepdims=keepdims).astype(x.dtype, copy=False)
        reduce_op = np.sum if node.op == "ReduceSum" else np.prod
        return reduce_op(x, axis=tuple(chosen), keepdims=keepdims, dtype=x.dtype)

    return reduce


@register("Size")
def _size(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The input's number of elements, an int64 scalar."""
    arity(node, (1, 1))
    return lambda x: np.array(x.size, np.int64)


@register("Shape")
def _shape(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The input's shape as int64, from ``start`` to ``end`` (negative: from the end)."""
    arity(node, (1, 1))
    attrs = Attributes(node)
    start, end = attrs.int("start", 0), attrs.int("end", 2 ** 62)

    def shape(x: np.ndarray) -> np.ndarray:
        rank = x.ndim
        first, last = (min(max(v + rank if v < 0 else v, 0), rank) for v in (start, end))
        return np.array(x.shape[first:last], np.int64)

    return shape


@register("ConstantOfShape")
def _constant_of_shape(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """A tensor of the given shape filled with ``value`` (float32 0 by default)."""
    arity(node, (1, 1))
    value = node.attrs.get("value", [0.0])
    if not (isinstance(value, list) and len(value) == 1
            and isinstance(value[0], (bool, int, float))):
        raise ValueError(f"attribute 'value' must be a one-element list of a number or a "
                         f"bool; got {value!r}")
    fill = value[0]
    dtype = np.bool_ if isinstance(fill, bool) else np.int64 if isinstance(fill, int) else (
        np.float32)

    def constant_of_shape(shape: np.ndarray) -> np.ndarray:
        sizes = ints_of(shape, "ConstantOfShape's input")
        if any(s < 0 for s in sizes):
            raise ValueError(f"shape {sizes} has a negative size")
        check_size("the output", math.prod(sizes), 0)
        return np.full(sizes, fill, dtype)

    return constant_of_shape


@register("Expand")
def _expand(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The input broadcast (both ways, as ONNX's Expand) with the given shape."""
    arity(node, (2, 2))

    def expand(x: np.ndarray, shape: np.ndarray) -> np.ndarray:
        sizes = ints_of(shape, "Expand's shape")
        if any(s < 0 for s in sizes):
            raise ValueError(f"shape {sizes} has a negative size")
        target = np.broadcast_shapes(x.shape, tuple(sizes))
        check_size("the output", math.prod(target), x.size)
        return np.broadcast_to(x, target).copy()

    return expand
