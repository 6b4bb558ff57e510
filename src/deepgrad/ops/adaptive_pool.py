"""Adaptive max pooling: the maximum over each of a fixed number of windows (PyTorch's
``F.adaptive_max_pool2d``).

Output row i covers input rows ``floor(i * H / out)`` to ``ceil((i + 1) * H / out) - 1``, and
likewise for columns: windows of unequal sizes that may overlap. When the output size divides
the input size the windows tile it, and the pooling is an ordinary max pooling (the fused
:class:`~deepgrad.ops.pool.MaxPool`, which also exports). Otherwise the maximum is taken in two
stages as in ``pool.py``, columns then rows: each stage compares, for each window offset k, the
elements at ``start + k`` of every window (the last element standing in for windows shorter
than k), one whole-array pass per offset. With the compiled loops (the ``fast`` extra), one pass
over the input visits each window in turn: forward and backward 1.5-1.9x torch's time where
those passes took 4.8-8.2x (7x7 to 28x28 inputs, 3 to 6 outputs a side).
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.ops._kernels import compiled
from deepgrad.ops._pool_args import _adaptive_size, _check_input, _Window
from deepgrad.ops.pool import MaxPool
from deepgrad.parallel import block, blockwise, in_blocks, in_layout, outer_axis
from deepgrad.tensor import Tensor


def _bins(size: int, out: int) -> tuple[Any, Any]:
    """(starts, ends) of the ``out`` adaptive windows over ``size`` positions."""
    i = xp.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _max_along(a: Any, axis: int, starts: Any, ends: Any) -> tuple[Any, Any]:
    """Maxima of ``a`` over the windows [starts, ends) along ``axis`` (-1 or -2) and the position
    of each, chosen as PyTorch's kernel chooses it: the first maximum, or the last NaN."""
    shape = (-1,) if axis == -1 else (-1, 1)

    def take(positions: Any) -> Any:
        return a[..., positions] if axis == -1 else a[..., positions, :]

    y = take(starts)
    at = xp.broadcast_to(starts.reshape(shape), y.shape).copy()
    longest = int((ends - starts).max()) if starts.size else 1
    for offset in range(1, longest):
        positions = xp.minimum(starts + offset, ends - 1)
        candidate = take(positions)
        better = (candidate > y) | xp.isnan(candidate)
        xp.copyto(y, candidate, where=better)
        xp.copyto(at, positions.reshape(shape), where=better)
    return y, at


class AdaptiveMaxPool(Function):
    """y[i, j] = max of x over rows [row_starts[i], row_ends[i]) and columns [col_starts[j],
    col_ends[j]); gx = gy at the first position of each window holding its max (row-major, as
    PyTorch), summed over the windows that share it. Output 1 (the indices) has no gradient."""

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, rows, cols, return_indices):
        kernels = compiled() if x.dtype in (xp.float32, xp.float64) else None
        ctx.save(kernels=kernels)
        if kernels is not None:
            return _compiled_forward(ctx, kernels, x, rows, cols, return_indices)
        row_max, col_at = _max_along(x, -1, *cols)
        y, row_at = _max_along(row_max, -2, *rows)
        if not (ctx.needs_input_grad[0] or return_indices):
            return y
        # The column of each window's max is the one found in the row that holds it.
        col_at = xp.take_along_axis(col_at, row_at, axis=-2)
        indices = row_at * x.shape[-1] + col_at
        if ctx.needs_input_grad[0]:
            ctx.save(indices=indices, shape=x.shape)
        return (y, indices) if return_indices else y

    @staticmethod
    def backward(ctx, gy, _indices_grad=None):
        if ctx.kernels is not None:
            return _compiled_backward(ctx, gy)
        shape = ctx.shape
        plane = shape[-2] * shape[-1]
        planes = math.prod(shape[:-2])
        flat = ctx.indices.reshape(planes, -1) + (xp.arange(planes) * plane)[:, None]
        # bincount adds up the gradients of a position that is the max of several windows.
        gx = xp.bincount(flat.ravel(), weights=gy.ravel(), minlength=planes * plane)
        return gx.astype(gy.dtype, copy=False).reshape(shape)


def _compiled_forward(ctx: Any, kernels: Any, x: Any, rows: tuple, cols: tuple,
                      return_indices: bool) -> Any:
    """AdaptiveMaxPool's forward in one compiled pass per block of channels or samples; the
    outputs in the input's memory layout."""
    x4 = x if x.ndim == 4 else x[None]
    axis = outer_axis(x4)
    out_shape = (*x4.shape[:2], len(rows[0]), len(cols[0]))
    y, indices = in_layout(out_shape, x.dtype, axis), in_layout(out_shape, xp.int64, axis)
    blockwise(lambda xb, yb, ib: kernels.adaptive_max_pool(xb, yb, ib, *rows, *cols),
              x4, y, indices)
    if ctx.needs_input_grad[0]:
        ctx.save(indices=indices, axis=axis, shape=x.shape, x_shape=x4.shape)
    if x.ndim == 3:
        y, indices = y[0], indices[0]
    return (y, indices) if return_indices else y


def _compiled_backward(ctx: Any, gy: Any) -> Any:
    axis, x_shape = ctx.axis, ctx.x_shape
    gy4 = gy if gy.ndim == 4 else gy[None]
    gx = in_layout(x_shape, gy.dtype, axis, xp.zeros)
    in_blocks(lambda part: ctx.kernels.adaptive_max_pool_backward(
        block(gy4, axis, part), block(ctx.indices, axis, part), block(gx, axis, part)),
        x_shape[axis], gx.size)
    return gx.reshape(ctx.shape)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """2-D max pooling to a fixed output size (PyTorch's ``F.adaptive_max_pool2d``).

    Args:
        input: the float input, (N, C, H, W) or (C, H, W).
        output_size: (height, width) or an int for both; None keeps that input size. Output row
            i is the max over input rows floor(i * H / height) to ceil((i + 1) * H / height) - 1.
        return_indices: also return the flat index (row * W + col) of each max in its plane.
    """
    op = "adaptive_max_pool2d"
    _check_input(op, input, 2)
    height, width = input.shape[-2:]
    out_h, out_w = _adaptive_size(op, output_size, height, width)
    if out_h and out_w and height % out_h == 0 and width % out_w == 0:
        kernel_h, kernel_w = height // out_h, width // out_w
        rows = _Window(height, kernel_h, kernel_h, 0, 1, out_h, height)
        cols = _Window(width, kernel_w, kernel_w, 0, 1, out_w, width)
        return MaxPool.apply(input, rows=rows, cols=cols, return_indices=return_indices)
    return AdaptiveMaxPool.apply(input, rows=_bins(height, out_h), cols=_bins(width, out_w),
                                 return_indices=return_indices)


__all__ = ["adaptive_max_pool2d"]
