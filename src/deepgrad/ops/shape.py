"""Shape ops: reshape, view, flatten, squeeze, unsqueeze, permute, transpose, expand, clone,
repeat and tile.

Except for ``clone``, ``contiguous``, ``repeat`` and ``tile`` (and ``reshape`` of data whose layout
forbids it), every op returns a NumPy view of its input, copying nothing, and its backward is the
inverse reshape, transpose or broadcast of ``gy``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import normalize_dim, normalize_dims, unbroadcast
from deepgrad.tensor import Tensor


class Reshape(Function):
    """y = x with a new shape, sharing x's memory;  gx = gy reshaped to x's shape."""

    is_view = True

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.save(x_shape=x.shape)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.x_shape)


class ReshapeCopy(Reshape):
    """y = a reshaped copy of x (its layout allows no view);  gx = gy reshaped to x's shape."""

    is_view = False


class Permute(Function):
    """y = x with its dimensions reordered by ``dims`` (a view);  gx = gy in the inverse order."""

    is_view = True

    @staticmethod
    def forward(ctx, x, *, dims):
        ctx.save(dims=dims)
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, gy):
        dims = ctx.dims
        return gy.transpose(sorted(range(len(dims)), key=dims.__getitem__))


class Expand(Function):
    """y = x broadcast to ``shape`` (a read-only view);  gx = gy summed over the broadcast dims."""

    is_view = True

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.save(x_shape=x.shape)
        return xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, gy):
        return unbroadcast(gy, ctx.x_shape)


class Clone(Function):
    """y = a copy of x in memory ``order`` ('K' keeps x's layout, 'C' is contiguous);  gx = gy."""

    @staticmethod
    def forward(ctx, x, *, order):
        return x.copy(order=order)

    @staticmethod
    def backward(ctx, gy):
        return gy


class Tile(Function):
    """y = x repeated ``reps[i]`` times along dimension i (a copy), after x's shape is padded
    with leading 1s to len(reps) dims;  gx = gy summed over the copies."""

    @staticmethod
    def forward(ctx, x, *, reps):
        ctx.save(x_shape=x.shape, reps=reps)
        return xp.tile(x, reps)

    @staticmethod
    def backward(ctx, gy):
        x_shape, reps = ctx.x_shape, ctx.reps
        padded = (1,) * (len(reps) - len(x_shape)) + x_shape
        # Dimension i of y, of size reps[i] * padded[i], splits into (copy, element of x).
        split = [n for pair in zip(reps, padded) for n in pair]
        copies = tuple(range(0, 2 * len(reps), 2))
        return gy.reshape(split).sum(axis=copies).reshape(x_shape)


def size_args(op: str, sizes: tuple, kind: str = "sizes") -> tuple[int, ...]:
    """Sizes (or dims, says ``kind``) given as ``f(x, 2, 3)`` or ``f(x, (2, 3))``, as ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    try:
        return tuple(operator.index(s) for s in sizes)
    except TypeError:
        raise TypeError(f"{op}: {kind} must be integers; got {sizes!r}") from None


def new_dim(dim: int, ndim: int, op: str) -> int:
    """The index in ``[0, ndim]`` of a dimension inserted into a tensor with ``ndim`` dimensions."""
    if not -ndim - 1 <= dim <= ndim:
        raise IndexError(f"{op}: dimension {dim} is out of range for inserting a dimension into a "
                         f"tensor with {ndim} dimension{'s' if ndim != 1 else ''} (expected "
                         f"{-ndim - 1} to {ndim})")
    return dim % (ndim + 1)


def _target_shape(op: str, x_shape: tuple, shape: tuple[int, ...]) -> tuple[int, ...]:
    numel = math.prod(x_shape)
    what = f"{op}: cannot reshape a tensor of shape {shape_str(x_shape)} ({numel} elements) into " \
           f"{shape_str(shape)}"
    for s in shape:
        if s < -1:
            raise ValueError(f"{op}: invalid size {s} in {shape_str(shape)}; sizes must be >= 0, "
                             "or -1 for the one dimension to infer")
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: only one dimension can be -1 (inferred); got {shape_str(shape)}")
    known = math.prod(s for s in shape if s != -1)
    if -1 not in shape:
        if known != numel:
            raise ShapeError(f"{what} ({known} elements)")
        return shape
    if known == 0:
        raise ShapeError(f"{what}: the -1 is ambiguous because the other sizes hold 0 elements")
    if numel % known:
        raise ShapeError(f"{what}: {numel} is not a multiple of {known}")
    return tuple(numel // known if s == -1 else s for s in shape)


def _viewable(array: Any, shape: tuple[int, ...]) -> bool:
    if array.flags.c_contiguous:
        return True
    try:
        xp.reshape(array, shape, copy=False)
    except ValueError:
        return False
    return True


def _reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    if _viewable(x.data, shape):
        return Reshape.apply(x, shape=shape)
    return ReshapeCopy.apply(x, shape=shape)


def _expand_shape(op: str, x_shape: tuple, sizes: tuple[int, ...]) -> tuple[int, ...]:
    what = f"{op}: cannot expand a tensor of shape {shape_str(x_shape)} to {shape_str(sizes)}"
    lead = len(sizes) - len(x_shape)
    if lead < 0:
        raise ShapeError(f"{what}: give at least one size per dimension ({len(x_shape)})")
    shape = list(sizes)
    for i, s in enumerate(sizes):
        current = x_shape[i - lead] if i >= lead else None
        if s == -1 and current is not None:
            shape[i] = current
        elif s < 0:
            where = "a new leading dimension" if current is None else "a size"
            raise ShapeError(f"{what}: {s} is not allowed as {where} (dimension {i})")
        elif current not in (None, 1, s):
            raise ShapeError(f"{what}: dimension {i} has size {current}, which is not 1, so it "
                             f"must stay {current} (or -1)")
    return tuple(shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """``x`` with a new shape and the same elements; one size may be -1 (inferred).

    Shares memory with ``x`` when its layout allows, copies otherwise.
    """
    return _reshape(x, _target_shape("reshape", x.shape, size_args("reshape", shape)))


def view(x: Tensor, *shape: Any) -> Tensor:
    """Like :func:`reshape`, but always shares memory with ``x``; raises when that would need a
    copy (a non-contiguous layout that the user made, as PyTorch does).

    deepgrad's convolutions, pooling and batch norm return channel-major memory (their GEMMs'
    layout) where PyTorch's return contiguous tensors, so ``x.view(x.size(0), -1)`` after them,
    PyTorch's idiom, would fail on memory that the user never chose. Such a tensor, whose memory
    nothing else can see (no view or detach of it, its array not handed out), first moves to a
    contiguous array of its own, and the view shares that, as in PyTorch."""
    shape = _target_shape("view", x.shape, size_args("view", shape))
    if not _viewable(x.data, shape) and _layout_is_private(x):
        x.data = xp.ascontiguousarray(x.data)
    if not _viewable(x.data, shape):
        strides = tuple(s // x.data.itemsize for s in x.data.strides)
        raise ShapeError(f"view: cannot view a tensor of shape {shape_str(x.shape)} and strides "
                         f"{shape_str(strides)} as {shape_str(shape)} without copying its data "
                         "(its memory is not contiguous enough); use .reshape(...) instead")
    return Reshape.apply(x, shape=shape)


def _layout_is_private(x: Tensor) -> bool:
    """Whether ``x``'s memory layout is deepgrad's to change: an op's result, not a parameter, and
    no other tensor or array shares its memory."""
    return (x._base is None and not getattr(x, "_aliased", False)
            and not (x.requires_grad and x._node is None))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``x`` with dimensions ``start_dim`` to ``end_dim`` (inclusive) merged into one."""
    start = normalize_dim(start_dim, x.ndim, "flatten")
    end = normalize_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor with {x.ndim} dimensions")
    if x.ndim == 0:
        return _reshape(x, (1,))
    shape = x.shape
    return _reshape(x, (*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:]))


def squeeze(x: Tensor, dim: int | tuple[int, ...] | None = None) -> Tensor:
    """``x`` without its size-1 dimensions (only those in ``dim`` when given; others stay)."""
    dims = range(x.ndim) if dim is None else normalize_dims(dim, x.ndim, "squeeze")
    shape = tuple(s for i, s in enumerate(x.shape) if s != 1 or i not in dims)
    # Removing size-1 dimensions never needs a copy.
    return Reshape.apply(x, shape=shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """``x`` with a size-1 dimension inserted at ``dim``."""
    d = new_dim(dim, x.ndim, "unsqueeze")
    return Reshape.apply(x, shape=(*x.shape[:d], 1, *x.shape[d:]))


def permute(x: Tensor, *dims: Any) -> Tensor:
    """``x`` with its dimensions reordered: output dimension i is input dimension ``dims[i]``."""
    dims = size_args("permute", dims, "dims")
    if len(dims) != x.ndim:
        raise ShapeError(f"permute: got {len(dims)} dims {shape_str(dims)} for a tensor of shape "
                         f"{shape_str(x.shape)}; give each of its {x.ndim} dimensions once")
    order = tuple(normalize_dim(d, x.ndim, "permute") for d in dims)
    if len(set(order)) != len(order):
        raise ValueError(f"permute: dims {shape_str(dims)} name a dimension twice; give each of "
                         f"the {x.ndim} dimensions once")
    return Permute.apply(x, dims=order)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """``x`` with dimensions ``dim0`` and ``dim1`` swapped."""
    d0 = normalize_dim(dim0, x.ndim, "transpose")
    d1 = normalize_dim(dim1, x.ndim, "transpose")
    order = list(range(x.ndim))
    if d0 != d1:
        order[d0], order[d1] = d1, d0
    return Permute.apply(x, dims=tuple(order))


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """``x`` repeated along its size-1 dimensions (and new leading ones) without copying;
    -1 keeps a dimension's size."""
    return Expand.apply(x, shape=_expand_shape("expand", x.shape, size_args("expand", sizes)))


def broadcast_to(x: Tensor, shape: Any) -> Tensor:
    """``x`` broadcast to ``shape`` without copying (like :func:`expand`)."""
    sizes = size_args("broadcast_to", (shape,) if isinstance(shape, int) else tuple(shape))
    return Expand.apply(x, shape=_expand_shape("broadcast_to", x.shape, sizes))


def clone(x: Tensor) -> Tensor:
    """A copy of ``x`` with the same memory layout; gradients flow through it."""
    return Clone.apply(x, order="K")


def contiguous(x: Tensor) -> Tensor:
    """``x`` itself when its memory is C-contiguous, else a contiguous copy."""
    if x.data.flags.c_contiguous:
        return x
    return Clone.apply(x, order="C")


def _tile(x: Tensor, reps: tuple[int, ...], op: str) -> Tensor:
    if any(r < 0 for r in reps):
        raise ValueError(f"{op}: repetitions must be >= 0; got {shape_str(reps)}")
    return Tile.apply(x, reps=reps)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """``x`` repeated ``sizes[i]`` times along dimension i (a copy, like ``torch.Tensor.repeat``);
    sizes beyond x's dimensions add leading dimensions."""
    reps = size_args("repeat", sizes)
    if len(reps) < x.ndim:
        raise ShapeError(f"repeat: got {len(reps)} size{'s' if len(reps) != 1 else ''} "
                         f"{shape_str(reps)} for a tensor of shape {shape_str(x.shape)}; expected "
                         f"at least one per dimension ({x.ndim})")
    return _tile(x, reps, "repeat")


def tile(x: Tensor, *dims: Any) -> Tensor:
    """``x`` repeated ``dims[i]`` times along dimension i (a copy, like ``torch.tile``); fewer
    dims than x has are padded with leading 1s, more add leading dimensions."""
    reps = size_args("tile", dims, "dims")
    return _tile(x, (1,) * (x.ndim - len(reps)) + reps, "tile")


METHODS = {"reshape": reshape, "view": view, "flatten": flatten, "squeeze": squeeze,
           "unsqueeze": unsqueeze, "permute": permute, "transpose": transpose, "expand": expand,
           "broadcast_to": broadcast_to, "clone": clone, "contiguous": contiguous,
           "repeat": repeat, "tile": tile}
# PyTorch has repeat as a Tensor method only.
__all__ = [name for name in METHODS if name != "repeat"]
