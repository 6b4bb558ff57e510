"""Shape kernels of :class:`~deepgrad.export.graph_module.GraphModule` (see
:mod:`deepgrad.export.graph_ops`): Reshape, Transpose, Concat, Slice, Gather, GatherElements,
ScatterElements, Trilu, Pad, ... on Tensors, and
on NumPy arrays when every input is one, which keeps the shape computations of exported models
(``Shape -> Gather -> Concat -> Reshape``) out of the autograd graph. Cast is here too, as
exporters write it into those computations; on a float Tensor it is differentiable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepgrad.export.graph_ops import (
    KernelTable,
    as_array,
    as_tensor,
    axis_index,
    ints,
    padded,
    scalar,
)
from deepgrad.nn import functional as F
from deepgrad.ops import indexing, rearrange, scatter
from deepgrad.ops.elementwise import to
from deepgrad.ops.join import cat, pad, split
from deepgrad.ops.shape import broadcast_to
from deepgrad.tensor import Tensor
from deepgrad_runtime.graph import Node, onnx_dtype

KERNELS = KernelTable()


@KERNELS.register("Transpose", arrays=True)
def _transpose(training: bool, node: Node, xs: list) -> Any:
    x = xs[0]
    perm = tuple(node.attrs.get("perm", range(x.ndim - 1, -1, -1)))
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of {x.ndim} dimensions")
    return np.transpose(x, perm) if isinstance(x, np.ndarray) else x.permute(*perm)


@KERNELS.register("Reshape", arrays=True)
def _reshape(training: bool, node: Node, xs: list) -> Any:
    x, shape = xs[0], ints(xs[1], "Reshape shape")
    if not node.attrs.get("allowzero", 0):  # 0 copies the input's size
        if any(s == 0 and i >= x.ndim for i, s in enumerate(shape)):
            raise ValueError(f"Reshape: shape {shape} copies a dimension that the input of shape "
                             f"{x.shape} does not have")
        shape = tuple(x.shape[i] if s == 0 else s for i, s in enumerate(shape))
    return x.reshape(shape)


@KERNELS.register("Flatten", arrays=True)
def _flatten(training: bool, node: Node, xs: list) -> Any:
    x = xs[0]
    axis = node.attrs.get("axis", 1)
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten: axis {axis} is out of range for {x.ndim} dimensions")
    axis %= x.ndim + 1
    return x.reshape((math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


@KERNELS.register("Squeeze", arrays=True)
def _squeeze(training: bool, node: Node, xs: list) -> Any:
    x, axes = padded(xs, 2)
    if axes is None:
        dims = {i for i, s in enumerate(x.shape) if s == 1}
    else:
        dims = {axis_index(a, x.ndim, "Squeeze axis") for a in ints(axes, "Squeeze axes")}
        if any(x.shape[d] != 1 for d in dims):
            raise ValueError(f"Squeeze: axes {sorted(dims)} of shape {x.shape} are not all 1")
    return x.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))


@KERNELS.register("Unsqueeze", arrays=True)
def _unsqueeze(training: bool, node: Node, xs: list) -> Any:
    x, axes = xs[0], ints(xs[1], "Unsqueeze axes")
    rank = x.ndim + len(axes)
    dims = {axis_index(a, rank, "Unsqueeze axis") for a in axes}
    if len(dims) != len(axes):
        raise ValueError(f"Unsqueeze: repeated axes {axes}")
    sizes = iter(x.shape)
    return x.reshape(tuple(1 if i in dims else next(sizes) for i in range(rank)))


@KERNELS.register("Concat", arrays=True)
def _concat(training: bool, node: Node, xs: list) -> Any:
    axis = node.attrs.get("axis")
    if axis is None:
        raise ValueError("Concat: the axis attribute is required")
    if all(isinstance(x, np.ndarray) for x in xs):
        return np.concatenate(xs, axis)
    return cat([as_tensor(x) for x in xs], axis)


@KERNELS.register("Split")
def _split(training: bool, node: Node, xs: list) -> tuple:
    x, sizes = padded(xs, 2)
    axis = axis_index(node.attrs.get("axis", 0), x.ndim, "Split axis")
    if sizes is None:
        count = len(node.outputs)
        if x.shape[axis] % count:
            raise ValueError(f"Split: dimension {axis} of shape {x.shape} does not split into "
                             f"{count} equal parts")
        return tuple(split(x, x.shape[axis] // count, axis))
    return tuple(split(x, list(ints(sizes, "Split sizes")), axis))


@KERNELS.register("Slice", arrays=True)
def _slice(training: bool, node: Node, xs: list) -> Any:
    x, starts, ends, axes, steps = padded(xs, 5)
    starts, ends = ints(starts, "Slice starts"), ints(ends, "Slice ends")
    axes = tuple(range(len(starts))) if axes is None else ints(axes, "Slice axes")
    steps = (1,) * len(starts) if steps is None else ints(steps, "Slice steps")
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise ValueError(f"Slice: starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                         f"must have one entry each per sliced axis, and no step 0")
    # Python's slices clamp out-of-range bounds exactly as ONNX's Slice does.
    index: list[Any] = [slice(None)] * x.ndim
    reversed_axes = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis_index(axis, x.ndim, "Slice axis")
        if step > 0 or isinstance(x, np.ndarray):
            index[axis] = slice(start, end, step)
        else:  # Tensors take no negative steps: index those axes with arrays
            reversed_axes.append((axis, np.arange(x.shape[axis])[start:end:step]))
    y = x[tuple(index)]
    for axis, positions in reversed_axes:
        y = y[(slice(None),) * axis + (positions,)]
    return y


@KERNELS.register("Gather", arrays=True)
def _gather(training: bool, node: Node, xs: list) -> Any:
    data, indices = xs
    indices = as_array(indices)
    if indices.dtype.kind not in "iu":
        raise ValueError(f"Gather: indices must be integers; got {indices.dtype}")
    axis = axis_index(node.attrs.get("axis", 0), data.ndim, "Gather axis")
    size = data.shape[axis]
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ValueError(f"Gather: indices must be in [{-size}, {size - 1}] for dimension "
                         f"{axis} of shape {data.shape}; got values from {indices.min()} to "
                         f"{indices.max()}")
    if isinstance(data, np.ndarray):
        return np.take(data, indices, axis)
    indices = indices % max(size, 1)
    if axis == 0 and data.ndim == 2:
        return F.embedding(indices, data)
    return data[(slice(None),) * axis + (indices,)]


def _element_indices(node: Node, data: Any, indices: Any) -> tuple[int, np.ndarray]:
    """GatherElements' and ScatterElements' axis and indices, made non-negative."""
    index = as_array(indices)
    if index.dtype.kind not in "iu":
        raise ValueError(f"{node.op}: indices must be integers; got {index.dtype}")
    axis = axis_index(node.attrs.get("axis", 0), data.ndim, f"{node.op} axis")
    return axis, np.where(index < 0, index + data.shape[axis], index)


@KERNELS.register("GatherElements")
def _gather_elements(training: bool, node: Node, xs: list) -> Tensor:
    data, indices = xs
    axis, index = _element_indices(node, data, indices)
    return indexing.gather(data, axis, index)


@KERNELS.register("ScatterElements")
def _scatter_elements(training: bool, node: Node, xs: list) -> Tensor:
    data, indices, updates = xs
    axis, index = _element_indices(node, data, indices)
    reduction = node.attrs.get("reduction", "none")
    if reduction not in ("none", "add"):
        raise ValueError(f"ScatterElements: reduction {reduction!r} is not supported (none or "
                         f"add)")
    fn = scatter.scatter if reduction == "none" else scatter.scatter_add
    return fn(data, axis, index, updates)


@KERNELS.register("Trilu")
def _trilu(training: bool, node: Node, xs: list) -> Tensor:
    x, k = padded(xs, 2)
    diagonal = (0,) if k is None else ints(k, "Trilu k")
    if len(diagonal) != 1:
        raise ValueError(f"Trilu: k must hold one integer; got {diagonal}")
    return (rearrange.triu if node.attrs.get("upper", 1) else rearrange.tril)(x, diagonal[0])


# ONNX's padding modes as deepgrad's (PyTorch's)
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


@KERNELS.register("Pad")
def _pad(training: bool, node: Node, xs: list) -> Tensor:
    x, pads, value = padded(xs, 3)
    widths = ints(pads, "Pad pads")
    mode = _PAD_MODES.get(node.attrs.get("mode", "constant"))
    if mode is None:
        raise ValueError(f"Pad: mode {node.attrs['mode']!r} is not supported (constant, reflect "
                         f"or edge)")
    if len(widths) != 2 * x.ndim:
        raise ValueError(f"Pad: pads {widths} must hold 2 * {x.ndim} widths for an input of "
                         f"shape {x.shape}")
    # ONNX: every dimension's start, then every end; PyTorch: (start, end) pairs, last first
    pairs = [w for d in reversed(range(x.ndim)) for w in (widths[d], widths[x.ndim + d])]
    if mode != "constant":
        return pad(x, pairs, mode)
    return pad(x, pairs, mode, 0 if value is None else scalar(value, "Pad constant_value"))


@KERNELS.register("Shape", arrays=True)
def _shape(training: bool, node: Node, xs: list) -> np.ndarray:
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return np.array(xs[0].shape[start:end], dtype=np.int64)


@KERNELS.register("Size", arrays=True)
def _size(training: bool, node: Node, xs: list) -> np.ndarray:
    return np.array(math.prod(xs[0].shape), dtype=np.int64)


@KERNELS.register("ConstantOfShape", arrays=True)
def _constant_of_shape(training: bool, node: Node, xs: list) -> np.ndarray:
    shape = ints(xs[0], "ConstantOfShape shape")
    if any(s < 0 for s in shape):
        raise ValueError(f"ConstantOfShape: negative size in {shape}")
    (value,) = node.attrs.get("value", [0.0])
    # The value's Python type stands for its dtype (see onnx_import._tensor_attribute).
    dtype = np.bool_ if isinstance(value, bool) else np.int64 if isinstance(value, int) \
        else np.float32
    return np.full(shape, value, dtype=dtype)


@KERNELS.register("Expand", arrays=True)
def _expand(training: bool, node: Node, xs: list) -> Any:
    x, shape = xs[0], ints(xs[1], "Expand shape")
    target = np.broadcast_shapes(x.shape, shape)
    if isinstance(x, np.ndarray):
        return np.broadcast_to(x, target)
    return broadcast_to(x, target)


@KERNELS.register("Cast", arrays=True)
def _cast(training: bool, node: Node, xs: list) -> Any:
    x, dtype = xs[0], onnx_dtype(node.attrs.get("to"))
    if isinstance(x, np.ndarray):
        return x.astype(dtype, copy=False)
    return to(x, dtype)  # between floats the gradient is cast back; to integers there is none


__all__ = ["KERNELS"]
