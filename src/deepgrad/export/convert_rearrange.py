"""Converters of the ops that rearrange, select or place values: ``flip`` and ``roll`` (Slice and
Concat), ``tril`` / ``triu`` (Trilu), ``index_select`` (Gather), ``gather`` (GatherElements),
``scatter`` / ``scatter_add`` and ``index_add`` / ``index_copy`` (ScatterElements),
``index_fill`` and ``diag`` of a vector (Where over a constant mask) and ``pad`` (Pad;
'circular' as Slice and Concat, which ONNX's Pad has only from opset 19).

PyTorch's gather and scatter accept an index smaller than the input in the other dimensions (and
scatter a larger source): the exported graph slices the input's (or source's) leading block to
the index's size first, which ONNX's GatherElements needs and keeps ScatterElements' updates the
index's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deepgrad.export.convert_tensor import ONNX_CODES
from deepgrad.export.emit import INT64_MAX, Emitter, data_of
from deepgrad.ops import indexing, join, rearrange, scatter


def _identity(e: Emitter, x: str) -> list:
    """``x`` as the op's output: a new value, as every op's output is."""
    return [e.one("Identity", [x])]


def _indices(e: Emitter, i: int) -> str:
    """Integer argument ``i`` as ONNX's indices (int32 or int64): a constant made int64, a value
    the model computes cast to int64 if it is another integer type."""
    if e.builder.lookup(e.args[i]) is None:
        array = e.constant_array(i).astype(np.int64)
        return e.builder.cached_constant(array, f"{e.layer or 'model'}.indices")
    name = e.input(i)
    if e.array(i).dtype in (np.int32, np.int64):
        return name
    return e.one("Cast", [name], to=ONNX_CODES[np.dtype(np.int64)])


def _sizes(e: Emitter, i: int, axes: list[int]) -> str:
    """The sizes of argument ``i`` along ``axes`` as a 1-D int64 value: a constant, or read from
    the argument where a size changes with the batch."""
    dynamic = e.dynamic_axes(i)
    if not dynamic.intersection(axes):
        return e.ints([e.shape(i)[a] for a in axes], "sizes")
    value = e.input(i)
    parts = [e.one("Shape", [value], start=a, end=a + 1) if a in dynamic
             else e.ints([e.shape(i)[a]], "sizes") for a in axes]
    return parts[0] if len(parts) == 1 else e.one("Concat", parts, axis=0)


def _block(e: Emitter, x: str, i: int, index: int, skip: int | None) -> str:
    """Argument ``i`` (``x``) cut to the size of argument ``index`` in every dimension but
    ``skip``, where the two differ in either trace."""
    shapes = [(e.shape(i), e.shape(index)),
              (data_of(e.op2.args[i]).shape, data_of(e.op2.args[index]).shape)]
    axes = [a for a in range(len(e.shape(i))) if a != skip
            and any(big[a] != small[a] for big, small in shapes)]
    if not axes:
        return x
    starts = e.ints([0] * len(axes), "starts")
    return e.one("Slice", [x, starts, _sizes(e, index, axes), e.ints(axes, "axes")])


def _slice(e: Emitter, x: str, axis: int, start: int, end: int) -> str:
    return e.one("Slice", [x, e.ints([start], "starts"), e.ints([end], "ends"),
                           e.ints([axis], "axes")])


# ------------------------------------------------------------------------------ rearranging
def _flip(e: Emitter) -> list:
    """Slice from the last element down past the first, step -1, along each flipped dim."""
    dims = list(e.args[1])
    if not dims:
        return _identity(e, e.input(0))
    count = len(dims)
    return [e.one("Slice", [e.input(0), e.ints([-1] * count, "starts"),
                            e.ints([-INT64_MAX] * count, "ends"), e.ints(dims, "axes"),
                            e.ints([-1] * count, "steps")])]


def _roll_axis(e: Emitter, x: str, axis: int, shift: int, size: int) -> str:
    """``x`` rolled by ``shift`` along ``axis`` of ``size``: its last elements, then the rest."""
    shift = shift % size if size else 0
    if not shift:
        return x
    return e.one("Concat", [_slice(e, x, axis, size - shift, size),
                            _slice(e, x, axis, 0, size - shift)], axis=axis)


def _roll(e: Emitter) -> list:
    shifts, dims = e.args[1], e.args[2]
    shape, dynamic = e.shape(0), e.dynamic_axes(0)
    x = e.input(0)
    if dims is None:  # over the flattened elements, the shape kept
        if dynamic:
            raise e.fail("it rolls the flattened tensor, whose length changes with the batch "
                         "size, so the shift wraps around at a different element (roll along "
                         "dims, or export with dynamic_batch=False)")
        size = math.prod(shape)
        flat = e.one("Reshape", [x, e.ints([-1], "shape")])
        rolled = _roll_axis(e, flat, 0, shifts, size)
        if rolled == flat:
            return _identity(e, x)
        return [e.one("Reshape", [rolled, e.ints(shape, "shape")])]
    y = x
    for shift, dim in zip(shifts, dims):
        if dim in dynamic:
            raise e.fail(f"it rolls dimension {dim}, whose size changes with the batch size, so "
                         f"the shift wraps around at a different element (export with "
                         f"dynamic_batch=False)")
        y = _roll_axis(e, y, dim, shift, shape[dim])
    return _identity(e, x) if y == x else [y]


def _triangle(e: Emitter) -> list:
    _, k, lower = e.args
    return [e.one("Trilu", [e.input(0), e.scalar(k, np.int64)], upper=int(not lower))]


def _diag(e: Emitter) -> list:
    """The vector, padded to the matrix's width so that entry j belongs to column j, broadcast
    over the rows and kept on the diagonal by a constant mask (zeros elsewhere, even where the
    vector holds inf or nan)."""
    k = e.args[1]
    if e.dynamic_axes(0):
        raise e.fail("the vector's length, and so the matrix's size, changes with the batch "
                     "size (export with dynamic_batch=False)")
    (length,) = e.shape(0)
    size = length + abs(k)
    row = e.one("Pad", [e.input(0), e.ints([max(k, 0), max(-k, 0)], "pads")])
    row = e.one("Unsqueeze", [row, e.ints([0], "axes")])
    mask = e.builder.cached_constant(np.eye(size, k=k, dtype=np.bool_), "diagonal")
    return [e.one("Where", [mask, row, e.scalar(0, e.dtype(0))])]


# ------------------------------------------------------------------------------ selection
def _index_select(e: Emitter) -> list:
    return [e.one("Gather", [e.input(0), _indices(e, 2)], axis=int(e.args[1]))]


def _gather(e: Emitter) -> list:
    dim = int(e.args[2])
    if not e.shape(0):
        raise e.fail("ONNX's GatherElements takes tensors of at least one dimension; this one "
                     "is 0-d")
    x = _block(e, e.input(0), 0, 1, dim)
    return [e.one("GatherElements", [x, _indices(e, 1)], axis=dim)]


def _filled(e: Emitter, i: int) -> bool:
    """Whether argument ``i`` is a constant filled with one value that changes shape between
    the traces: what ``scatter(input, dim, index, value)`` makes of its number."""
    if e.builder.lookup(e.args[i]) is not None:
        return False
    a, b = e.array(i), data_of(e.op2.args[i])
    return (a.size > 0 and b.size > 0 and a.shape != b.shape and bool((a == a.flat[0]).all())
            and bool((b == a.flat[0]).all()))


def _scatter(e: Emitter) -> list:
    _, _, dim, _, add = e.args
    if not e.shape(0):
        raise e.fail("ONNX's ScatterElements takes tensors of at least one dimension; this one "
                     "is 0-d")
    if _filled(e, 1):  # the number, expanded to the index's shape
        value = e.scalar(e.array(1).flat[0], e.array(1).dtype)
        updates = e.one("Expand", [value, _sizes(e, 3, list(range(len(e.shape(3)))))])
    else:
        updates = _block(e, e.input(1), 1, 3, None)
    return [e.one("ScatterElements", [e.input(0), _indices(e, 3), updates], axis=int(dim),
                  reduction="add" if add else "none")]


def _along(positions: np.ndarray, dim: int, ndim: int) -> np.ndarray:
    """1-D ``positions`` shaped to lie along ``dim`` of ``ndim`` dimensions."""
    return positions.reshape([-1 if k == dim else 1 for k in range(ndim)])


def _index_source(e: Emitter) -> list:
    """index_add and index_copy: a ScatterElements of the source (times alpha, added), whose
    indices are the positions along ``dim`` expanded to the source's shape. Of a position
    named twice, index_copy keeps one slice, which ONNX leaves open (onnxruntime and
    deepgrad_runtime keep the last, as deepgrad does)."""
    dim = int(e.args[2])
    ndim = len(e.shape(0))
    positions = _along(e.constant_array(3).astype(np.int64), dim, ndim)
    index = e.builder.cached_constant(positions, f"{e.layer or 'model'}.indices")
    index = e.one("Expand", [index, _sizes(e, 1, list(range(ndim)))])
    updates, add = e.input(1), e.op.cls is scatter.IndexAdd
    if add and e.args[4] != 1:
        updates = e.one("Mul", [updates, e.scalar(e.args[4], e.dtype(0))])
    return [e.one("ScatterElements", [e.input(0), index, updates], axis=dim,
                  reduction="add" if add else "none")]


def _index_fill(e: Emitter) -> list:
    """Where over a constant mask of the filled slices (of the dimension's size)."""
    dim = int(e.args[2])
    if dim in e.dynamic_axes(0):
        raise e.fail(f"it fills slices of dimension {dim}, whose size changes with the batch "
                     f"(the mask of the filled slices has that size); export with "
                     f"dynamic_batch=False")
    shape = e.shape(0)
    mask = np.zeros(shape[dim], np.bool_)
    mask[e.constant_array(3)] = True
    mask_name = e.builder.cached_constant(_along(mask, dim, len(shape)),
                                          f"{e.layer or 'model'}.mask")
    if isinstance(e.array(1), np.ndarray):  # a 0-d tensor, in x's dtype
        value = e.input(1)
    else:
        value = e.scalar(e.args[1], e.dtype(0))
    return [e.one("Where", [mask_name, value, e.input(0)])]


# ------------------------------------------------------------------------------ padding
def _onnx_pads(widths: list[tuple[int, int]]) -> list[int]:
    return [before for before, _ in widths] + [after for _, after in widths]


def _constant_pad(e: Emitter) -> list:
    """Negative widths crop (a Slice, ends counted from the end), the others pad (Pad)."""
    widths, value = e.options["widths"], e.options["value"]
    x = y = e.input(0)
    crops = [(axis, -min(before, 0), -min(after, 0))
             for axis, (before, after) in enumerate(widths) if min(before, after) < 0]
    if crops:
        axes, starts, ends = zip(*crops)
        y = e.one("Slice", [y, e.ints(starts, "starts"),
                            e.ints([-end if end else INT64_MAX for end in ends], "ends"),
                            e.ints(axes, "axes")])
    pads = _onnx_pads([(max(before, 0), max(after, 0)) for before, after in widths])
    if any(pads):
        y = e.one("Pad", [y, e.ints(pads, "pads"), e.scalar(value, e.dtype(0))], mode="constant")
    return _identity(e, x) if y == x else [y]


def _pad(e: Emitter) -> list:
    widths, mode = e.options["widths"], e.options["mode"]
    x = e.input(0)
    if not any(before or after for before, after in widths):
        return _identity(e, x)
    if mode != "circular":
        onnx_mode = "reflect" if mode == "reflect" else "edge"
        return [e.one("Pad", [x, e.ints(_onnx_pads(widths), "pads")], mode=onnx_mode)]
    y = x
    for axis, (before, after) in enumerate(widths):
        if before or after:  # the last `before` elements, the tensor, the first `after`
            parts = ([_slice(e, y, axis, -before, INT64_MAX)] if before else []) + [y] + (
                [_slice(e, y, axis, 0, after)] if after else [])
            y = e.one("Concat", parts, axis=axis)
    return [y]


REARRANGE_CONVERTERS: dict[type, Callable[[Emitter], list]] = {
    rearrange.Flip: _flip,
    rearrange.Roll: _roll,
    rearrange.Triangle: _triangle,
    rearrange.Diag: _diag,
    rearrange.IndexSelect: _index_select,
    indexing.Gather: _gather,
    scatter.Scatter: _scatter,
    scatter.IndexAdd: _index_source,
    scatter.IndexCopy: _index_source,
    scatter.IndexFill: _index_fill,
    join.ConstantPad: _constant_pad,
    join.Pad: _pad,
}

__all__ = ["REARRANGE_CONVERTERS"]
