"""Joining and cutting: cat, stack, split, chunk and pad.

``cat`` and ``stack`` promote mixed dtypes like PyTorch (float32 with float64 gives float64); the
gradient of each input is its slice of ``gy``. ``split`` is one node with several outputs, so its
backward is a single concatenation.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import normalize_dim
from deepgrad.ops.elementwise import to
from deepgrad.ops.shape import new_dim, size_args
from deepgrad.tensor import Tensor

_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _along(axis: int, index: Any) -> tuple:
    """The index that applies ``index`` (a slice or an int) to dimension ``axis``."""
    return (slice(None),) * axis + (index,)


class Cat(Function):
    """y = the inputs joined along ``dim``;  gx_i = the slice of gy that x_i filled."""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.save(sizes=tuple(x.shape[dim] for x in xs), dim=dim)
        return xp.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        grads = []
        start = 0
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad, strict=True):
            grads.append(gy[_along(ctx.dim, slice(start, start + size))] if needed else None)
            start += size
        return tuple(grads)


class Stack(Function):
    """y = the inputs stacked along a new dimension ``dim``;  gx_i = gy[..., i, ...] at dim."""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.save(dim=dim)
        return xp.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        return tuple(gy[_along(ctx.dim, i)] if needed else None
                     for i, needed in enumerate(ctx.needs_input_grad))


class Split(Function):
    """y_i = consecutive slices of x along ``dim`` with ``sizes`` (views of x);
    gx = the gy_i concatenated along dim, zeros for outputs that received no gradient."""

    is_view = True

    @staticmethod
    def forward(ctx, x, *, sizes, dim):
        ctx.save(sizes=sizes, dim=dim, x_shape=x.shape)
        outs = []
        start = 0
        for size in sizes:
            outs.append(x[_along(dim, slice(start, start + size))])
            start += size
        return tuple(outs)

    @staticmethod
    def backward(ctx, *gys):
        dim, x_shape = ctx.dim, ctx.x_shape
        dtype = next(gy.dtype for gy in gys if gy is not None)
        parts = [gy if gy is not None else
                 xp.zeros((*x_shape[:dim], size, *x_shape[dim + 1:]), dtype=dtype)
                 for gy, size in zip(gys, ctx.sizes, strict=True)]
        return xp.concatenate(parts, axis=dim)


class ConstantPad(Function):
    """y = x surrounded by ``value`` (negative widths crop x);  gx = the part of gy over x."""

    @staticmethod
    def forward(ctx, x, *, widths, value):
        shape, src, dst = [], [], []
        for n, (before, after) in zip(x.shape, widths, strict=True):
            crop_before, crop_after = max(-before, 0), max(-after, 0)
            kept = n - crop_before - crop_after
            shape.append(n + before + after)
            src.append(slice(crop_before, crop_before + kept))
            dst.append(slice(max(before, 0), max(before, 0) + kept))
        y = xp.full(shape, value, dtype=x.dtype)
        y[tuple(dst)] = x[tuple(src)]
        ctx.save(x_shape=x.shape, src=tuple(src), dst=tuple(dst),
                 cropped=any(before < 0 or after < 0 for before, after in widths))
        return y

    @staticmethod
    def backward(ctx, gy):
        if not ctx.cropped:
            return gy[ctx.dst]
        gx = xp.zeros(ctx.x_shape, dtype=gy.dtype)
        gx[ctx.src] = gy[ctx.dst]
        return gx


class Pad(Function):
    """y = x extended by reflecting ('reflect'), repeating ('replicate') or wrapping around
    ('circular') its edges, dimension by dimension;  gx = gy over x plus each padded element's
    gradient added onto the element it copies."""

    @staticmethod
    def forward(ctx, x, *, widths, mode):
        ctx.save(widths=widths, mode=mode)
        return xp.pad(x, widths, mode=_MODES[mode])

    @staticmethod
    def backward(ctx, gy):
        # The padding of each dimension is a separate linear map, so its adjoint is applied one
        # dimension at a time.
        for axis, (before, after) in enumerate(ctx.widths):
            if before or after:
                gy = _unpad(gy, axis, before, after, ctx.mode)
        return gy


def _unpad(g: Any, axis: int, before: int, after: int, mode: str) -> Any:
    """The adjoint of padding dimension ``axis`` of a tensor by (before, after) in ``mode``."""
    n = g.shape[axis] - before - after
    gx = g[_along(axis, slice(before, before + n))].copy()
    head = g[_along(axis, slice(0, before))]
    tail = g[_along(axis, slice(before + n, None))]
    if mode == "reflect":
        gx[_along(axis, slice(1, before + 1))] += xp.flip(head, axis)
        gx[_along(axis, slice(n - 1 - after, n - 1))] += xp.flip(tail, axis)
    elif mode == "replicate":
        if before:
            gx[_along(axis, slice(0, 1))] += head.sum(axis=axis, keepdims=True)
        if after:
            gx[_along(axis, slice(n - 1, n))] += tail.sum(axis=axis, keepdims=True)
    else:
        gx[_along(axis, slice(n - before, n))] += head
        gx[_along(axis, slice(0, after))] += tail
    return gx


def _tensor_list(op: str, tensors: Any) -> list[Tensor]:
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors; got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors; got an empty one")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: element {i} is a {type(t).__name__}, not a Tensor")
    return list(tensors)


def _promoted(tensors: list[Tensor]) -> list[Tensor]:
    """The tensors cast to one dtype by PyTorch's rule: the widest float among the floats, else
    the common integer (or bool) type."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) == 1:
        return tensors
    floats = [d for d in dtypes if d.kind == "f"]
    dtype = xp.result_type(*(floats or dtypes))
    return [to(t, dtype) for t in tensors]


def _split(x: Tensor, sizes: tuple[int, ...], dim: int) -> tuple[Tensor, ...]:
    return Split.apply(x, sizes=sizes, dim=dim)


def _split_dim(op: str, x: Tensor, dim: int) -> int:
    if x.ndim == 0:
        raise ShapeError(f"{op}: expects a tensor with at least one dimension; got a 0-d tensor")
    return normalize_dim(dim, x.ndim, op)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors joined along the existing dimension ``dim``; the other sizes must match."""
    tensors = _tensor_list("cat", tensors)
    first = tensors[0]
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ShapeError(f"cat: tensor {i} is 0-d; only tensors with at least one dimension "
                             "can be concatenated (use stack to join scalars)")
    d = normalize_dim(dim, first.ndim, "cat")
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim:
            raise ShapeError(f"cat: tensor {i} has shape {shape_str(t.shape)} but tensor 0 has "
                             f"shape {shape_str(first.shape)}; all tensors need the same number "
                             "of dimensions")
        if t.shape[:d] != first.shape[:d] or t.shape[d + 1:] != first.shape[d + 1:]:
            raise ShapeError(f"cat: tensor {i} has shape {shape_str(t.shape)} but tensor 0 has "
                             f"shape {shape_str(first.shape)}; all dimensions except dim {d} "
                             "must match")
    return Cat.apply(*_promoted(tensors), dim=d)


concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """The tensors, all of one shape, stacked along a new dimension ``dim``."""
    tensors = _tensor_list("stack", tensors)
    first = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != first.shape:
            raise ShapeError(f"stack: tensor {i} has shape {shape_str(t.shape)} but tensor 0 has "
                             f"shape {shape_str(first.shape)}; all tensors must have the same "
                             "shape")
    return Stack.apply(*_promoted(tensors), dim=new_dim(dim, first.ndim, "stack"))


def split(x: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """``x`` cut along ``dim`` into pieces of one size (the last may be smaller) or of the
    given sizes, which must sum to the size of ``dim``. The pieces share x's memory."""
    d = _split_dim("split", x, dim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = size_args("split", (split_size_or_sections,))
        if any(s < 0 for s in sizes):
            raise ValueError(f"split: section sizes must be non-negative; got {list(sizes)}")
        if sum(sizes) != n:
            raise ShapeError(f"split: section sizes {list(sizes)} sum to {sum(sizes)} but "
                             f"dimension {d} of the tensor of shape {shape_str(x.shape)} has "
                             f"size {n}")
        return _split(x, sizes, d)
    (size,) = size_args("split", (split_size_or_sections,))
    if size < 0:
        raise ValueError(f"split: split_size must be non-negative; got {size}")
    if size == 0 and n != 0:
        raise ValueError(f"split: split_size can be 0 only when the dimension is empty; "
                         f"dimension {d} of the tensor of shape {shape_str(x.shape)} has size {n}")
    return _split(x, _chunk_sizes(n, size) or (0,), d)


def _chunk_sizes(n: int, size: int) -> tuple[int, ...]:
    return (size,) * (n // size) + ((n % size,) if n % size else ())


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``x`` cut along ``dim`` into pieces of ceil(n / chunks) elements; may give fewer than
    ``chunks`` pieces, as in PyTorch."""
    chunks = operator.index(chunks)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be greater than 0; got {chunks}")
    d = _split_dim("chunk", x, dim)
    n = x.shape[d]
    if n == 0:
        return _split(x, (0,) * chunks, d)
    return _split(x, _chunk_sizes(n, -(-n // chunks)), d)


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """``x`` padded like ``torch.nn.functional.pad``.

    Args:
        x: the tensor to pad.
        pad: (before, after) widths, flattened, for the last dimension first, then the one
            before it, and so on: ``(left, right, top, bottom)`` pads the last two.
        mode: 'constant' (fill with ``value``; negative widths crop), 'reflect' (mirror without
            repeating the edge), 'replicate' (repeat the edge) or 'circular' (wrap around).
        value: the fill value of 'constant' mode.
    """
    widths_flat = size_args("pad", (pad,))
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular'; "
                         f"got {mode!r}")
    if len(widths_flat) % 2:
        raise ValueError(f"pad: the padding {shape_str(widths_flat)} has odd length "
                         f"{len(widths_flat)}; give a (before, after) pair per padded dimension, "
                         "last dimension first")
    padded = len(widths_flat) // 2
    if padded > x.ndim:
        raise ShapeError(f"pad: the padding {shape_str(widths_flat)} pads {padded} dimensions but "
                         f"the tensor of shape {shape_str(x.shape)} has only {x.ndim}")
    widths = [(0, 0)] * x.ndim
    for i in range(padded):
        widths[x.ndim - 1 - i] = (widths_flat[2 * i], widths_flat[2 * i + 1])
    if mode == "constant":
        for d, (n, (before, after)) in enumerate(zip(x.shape, widths, strict=True)):
            if max(-before, 0) + max(-after, 0) > n:
                raise ShapeError(f"pad: padding ({before}, {after}) of dimension {d} crops more "
                                 f"than its size {n} (tensor of shape {shape_str(x.shape)})")
        return ConstantPad.apply(x, widths=tuple(widths), value=value)
    if value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no fill value; got value={value}")
    for d, (n, (before, after)) in enumerate(zip(x.shape, widths, strict=True)):
        if not (before or after):
            continue
        where = f"padding ({before}, {after}) of dimension {d} (size {n}, tensor of shape " \
                f"{shape_str(x.shape)})"
        if before < 0 or after < 0:
            raise ValueError(f"pad: {where} is negative; only 'constant' mode can crop")
        if mode == "reflect" and max(before, after) >= n:
            raise ShapeError(f"pad: {where}: 'reflect' widths must be smaller than the size")
        if mode == "replicate" and n == 0:
            raise ShapeError(f"pad: {where}: 'replicate' cannot pad an empty dimension")
        if mode == "circular" and max(before, after) > n:
            raise ShapeError(f"pad: {where}: 'circular' widths cannot exceed the size")
    return Pad.apply(x, widths=tuple(widths), mode=mode)


METHODS = {"split": split, "chunk": chunk}
__all__ = ["cat", "chunk", "concatenate", "pad", "split", "stack"]
