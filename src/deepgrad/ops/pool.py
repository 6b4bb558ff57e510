"""Pooling: max and average over sliding windows (1-D and 2-D), and adaptive average pooling.

A 2-D window is separable: its max (or sum) is the max over its columns of each row, then the max
of those over its rows. Each of the two stages is a max of ``kernel`` strided views of the array,
so a pooling is ``kernel_h + kernel_w`` whole-array NumPy passes, with no Python loop over pixels
and no copy of the windows (the tiled max makes one transposing copy of its input, so that its
comparisons run as vectorized loops). Backward runs the stages in reverse, writing each view's
share of the gradient straight into place where windows do not overlap (2x2 stride 2 and every
other kernel == stride case) and adding it where they do. 1-D pooling is 2-D pooling of height 1.
With numba (the ``fast`` extra), max pooling of floats runs instead as one compiled pass per
block of channels or samples (:func:`deepgrad.ops._compiled.max_pool`), its output in the input's
memory layout; the NumPy code above is the reference the tests hold it to.
The windows' geometry and the checks of the arguments are in :mod:`deepgrad.ops._pool_args`.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.ops._kernels import compiled
from deepgrad.ops._pool_args import (
    _NO_WINDOW,
    _adaptive_size,
    _check_input,
    _divisor,
    _Window,
    _windows,
)
from deepgrad.parallel import block, blockwise, in_blocks, in_layout, memory_order, outer_axis
from deepgrad.tensor import Tensor


def _window_views(a: Any, axis: int, w: _Window) -> list:
    """The ``w.kernel`` strided views of ``a`` along ``axis`` (-1 or -2): view i holds the i-th
    position of every window."""
    span = (w.out - 1) * w.stride + 1
    views = []
    for i in range(w.kernel):
        start = i * w.dilation
        cut = slice(start, start + span, w.stride)
        views.append(a[..., cut] if axis == -1 else a[..., cut, :])
    return views


def _pad(x: Any, rows: _Window, cols: _Window, fill: float) -> Any:
    """``x`` inside a border of ``fill`` large enough for every window (``x`` itself if none)."""
    if rows.padded == rows.size and cols.padded == cols.size:
        return x
    out = xp.full((*x.shape[:-2], rows.padded, cols.padded), fill, x.dtype)
    out[..., rows.padding:rows.padding + rows.size, cols.padding:cols.padding + cols.size] = x
    return out


def _unpad(g: Any, rows: _Window, cols: _Window) -> Any:
    if rows.padded == rows.size and cols.padded == cols.size:
        return g
    return g[..., rows.padding:rows.padding + rows.size, cols.padding:cols.padding + cols.size]


def _max_along(a: Any, axis: int, w: _Window) -> tuple[Any, Any]:
    """Window maxima along ``axis`` and the position of the first maximum in each window (bool
    for two positions, an integer array for more, None for one)."""
    if axis == -1 and w.tiles and w.kernel > 1:
        # NumPy's comparisons do not vectorize over strided views: one transposing copy into a
        # contiguous plane per window position costs less than the slowdown.
        views = list(xp.moveaxis(a.reshape(*a.shape[:-1], w.out, w.kernel), -1, 0).copy())
    else:
        views = _window_views(a, axis, w)
    if w.kernel == 1:
        return views[0], None
    # Strictly greater: on ties the earlier position keeps the max, as in PyTorch; NaN, which
    # maximum propagates, takes the position too (a later NaN over an earlier one, as torch).
    arg = _later_wins(views[1], views[0])
    y = xp.maximum(views[0], views[1])
    if w.kernel > 2:
        arg = arg.astype(xp.uint8 if w.kernel < 256 else xp.intp)
        for i in range(2, w.kernel):
            xp.copyto(arg, i, where=_later_wins(views[i], y))
            xp.maximum(y, views[i], out=y)
    return y, arg


def _later_wins(later: Any, best: Any) -> Any:
    """Where ``later`` replaces ``best`` as a window's max: greater, or NaN."""
    wins = xp.greater(later, best)
    if later.dtype.kind == "f":
        wins |= xp.isnan(later)
    return wins


def _max_only(a: Any, rows: _Window, cols: _Window) -> Any:
    """Window maxima of a padded array without the positions (when no gradient needs them):
    rows first, whose views keep whole contiguous rows, then columns. Measured 1.4x (batch
    1024) to 3x (batch 1) faster than :func:`_max_along`'s transposing copy."""
    for axis, w in ((-2, rows), (-1, cols)):
        views = _window_views(a, axis, w)
        if len(views) > 1:
            a = xp.maximum(views[0], views[1])
            for view in views[2:]:
                xp.maximum(a, view, out=a)
    return a


def _sum_along(a: Any, axis: int, w: _Window) -> Any:
    """Window sums along ``axis`` (a view of ``a`` for a window of one position)."""
    views = _window_views(a, axis, w)
    if w.kernel == 1:
        return views[0]
    y = views[0] + views[1]
    for view in views[2:]:
        y += view
    return y


def _spread(g: Any, arg: Any, axis: int, w: _Window, out: Any = None) -> Any:
    """The gradient of the input of one stage: each window's gradient goes to the position that
    ``arg`` names (max) or to all its positions (``arg`` None: sum), added where windows overlap."""
    shape = list(g.shape)
    shape[axis] = w.padded
    # Disjoint windows write their share in place: only positions outside every window need zeros.
    gx = (xp.empty if w.tiles else xp.zeros)(shape, g.dtype) if out is None else out
    if arg is None:
        masks: Any = (None,) * w.kernel
    elif arg.dtype == xp.bool_:
        masks = (~arg, arg)
    else:
        masks = (arg == i for i in range(w.kernel))
    for view, mask in zip(_window_views(gx, axis, w), masks):
        if w.disjoint:
            if mask is None:
                xp.copyto(view, g)
            else:
                xp.multiply(g, mask, out=view)
        else:
            view += g if mask is None else g * mask
    return gx


def _flat_indices(row_arg: Any, col_arg: Any, rows: _Window, cols: _Window, shape: tuple) -> Any:
    """PyTorch's indices of max pooling: the flat position (row * W + col) in the input plane."""
    row = xp.broadcast_to(xp.arange(rows.out)[:, None] * rows.stride, shape)
    if row_arg is not None:
        row = row + row_arg.astype(xp.int64) * rows.dilation
    col = xp.arange(cols.out) * cols.stride
    if col_arg is not None:
        col = col + xp.take_along_axis(col_arg, row, axis=-2).astype(xp.int64) * cols.dilation
    return (row - rows.padding) * cols.size + (col - cols.padding)


def _window_args(rows: _Window, cols: _Window) -> tuple:
    return (rows.kernel, cols.kernel, rows.stride, cols.stride, rows.padding, cols.padding,
            rows.dilation, cols.dilation)


def _compiled_max_pool(ctx: Any, kernels: Any, x: Any, shape: tuple, rows: _Window,
                       cols: _Window, return_indices: bool) -> Any:
    """MaxPool's forward in one compiled pass per block of channels or samples; the output in
    the input's memory layout. ``x`` is (N, C, H, W) or unbatched (C, H, W) (H = 1 in 1-D)."""
    x4 = x if x.ndim == 4 else x[None]
    axis = outer_axis(x4)
    out_shape = (*x4.shape[:2], rows.out, cols.out)
    y = in_layout(out_shape, x.dtype, axis)
    arg = in_layout(out_shape, xp.uint8 if rows.kernel * cols.kernel <= 256 else xp.int32,
                    axis)
    window = _window_args(rows, cols)
    # The kernels loop over axis 0 outermost.
    blockwise(lambda *blocks: kernels.max_pool(*(memory_order(b, axis) for b in blocks), *window),
              x4, y, arg)
    if ctx.needs_input_grad[0]:
        ctx.save(arg=arg, axis=axis, rows=rows, cols=cols, shape=shape, x_shape=x4.shape)
    outputs = [y]
    if return_indices:
        row = (xp.arange(rows.out)[:, None] * rows.stride - rows.padding
               + (arg // cols.kernel).astype(xp.int64) * rows.dilation)
        col = (xp.arange(cols.out) * cols.stride - cols.padding
               + (arg % cols.kernel).astype(xp.int64) * cols.dilation)
        outputs.append(row * cols.size + col)
    outputs = [o if x.ndim == 4 else o[0] for o in outputs]
    if rows is _NO_WINDOW:
        outputs = [o[..., 0, :] for o in outputs]
    return tuple(outputs) if return_indices else outputs[0]


def _compiled_max_pool_backward(ctx: Any, gy: Any) -> Any:
    kernels = ctx.kernels
    rows, cols, axis, x_shape = ctx.rows, ctx.cols, ctx.axis, ctx.x_shape
    gy4 = gy if gy.ndim == 4 else gy[None]
    # The tiled loop has no bounds checks: ceil_mode windows past the input's edge must not count.
    tiled = (rows.tiles and cols.tiles and rows.kernel == cols.kernel == rows.stride == 2
             and rows.padding == cols.padding == 0
             and (rows.padded, cols.padded) == (rows.size, cols.size))
    gx = in_layout(x_shape, gy.dtype, axis, xp.empty if tiled else xp.zeros)
    window = _window_args(rows, cols)[1:]
    in_blocks(lambda part: kernels.max_pool_backward(
        *(memory_order(block(a, axis, part), axis) for a in (gy4, ctx.arg, gx)), *window,
        tiled), x_shape[axis], gx.size)
    return gx.reshape(ctx.shape)


class MaxPool(Function):
    """y[o] = max of x over window o (x padded with -inf);  gx = gy at the first position of each
    window holding its max (row-major order, as PyTorch), 0 elsewhere, summed over windows.

    The columns are reduced first: the first max of the first row holding a window's max is the
    window's first max in row-major order. Output 1 (the indices) carries no gradient.
    """

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, rows, cols, return_indices):
        shape = x.shape
        if rows is _NO_WINDOW:
            x = x[..., None, :]
        kernels = compiled() if x.dtype.kind == "f" else None
        ctx.save(kernels=kernels)
        if kernels is not None:
            return _compiled_max_pool(ctx, kernels, x, shape, rows, cols, return_indices)
        fill = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        if not (ctx.needs_input_grad[0] or return_indices) and rows.kernel * cols.kernel > 1:
            y = _max_only(_pad(x, rows, cols, fill), rows, cols)
            return y[..., 0, :] if rows is _NO_WINDOW else y
        # Blocks along the outer of the leading axes (samples or channels; the channels alone
        # for an unbatched input), in parallel when large.
        axis = outer_axis(x) if x.ndim > 3 else 0

        def pool(part: slice) -> tuple:
            m, col_arg = _max_along(_pad(block(x, axis, part), rows, cols, fill), -1, cols)
            y, row_arg = _max_along(m, -2, rows)
            indices = (_flat_indices(row_arg, col_arg, rows, cols, y.shape) if return_indices
                       else None)
            return part, y, row_arg, col_arg, indices

        parts = in_blocks(pool, x.shape[axis], x.size)
        y = parts[0][1] if len(parts) == 1 else xp.concatenate([p[1] for p in parts], axis)
        if rows.kernel == cols.kernel == 1 and len(parts) == 1:
            y = y.copy()  # a view of the input otherwise
        if ctx.needs_input_grad[0]:
            ctx.save(args=[(p[0], p[2], p[3]) for p in parts], axis=axis, rows=rows, cols=cols,
                     shape=shape, padded=(*x.shape[:-2], rows.padded, cols.padded),
                     dtype=x.dtype)
        if not return_indices:
            return y[..., 0, :] if rows is _NO_WINDOW else y
        indices = (parts[0][4] if len(parts) == 1
                   else xp.concatenate([p[4] for p in parts], axis))
        if rows is _NO_WINDOW:
            return y[..., 0, :], indices[..., 0, :]
        return y, indices

    @staticmethod
    def backward(ctx, gy, _indices_grad=None):
        rows, cols = ctx.rows, ctx.cols
        if rows is _NO_WINDOW:
            gy = gy[..., None, :]
        if ctx.kernels is not None:
            return _compiled_max_pool_backward(ctx, gy)
        gx = (xp.empty if cols.tiles else xp.zeros)(ctx.padded, ctx.dtype)

        def spread(where: slice, row_arg: Any, col_arg: Any) -> None:
            g = _spread(block(gy, ctx.axis, where), row_arg, -2, rows)
            _spread(g, col_arg, -1, cols, out=block(gx, ctx.axis, where))

        # The blocks of the forward, whose window positions were saved per block.
        in_blocks(lambda i: [spread(*args) for args in ctx.args[i]], len(ctx.args), gx.size)
        return _unpad(gx, rows, cols).reshape(ctx.shape)


class AvgPool(Function):
    """y[o] = sum of x over window o (x padded with zeros) / divisor[o];
    gx = the sum, over the windows holding each position, of gy / divisor."""

    @staticmethod
    def forward(ctx, x, rows, cols, divisor):
        shape = x.shape
        if rows is _NO_WINDOW:
            x = x[..., None, :]
        if type(divisor) is not float:
            divisor = divisor.astype(x.dtype)
        y = _sum_along(_sum_along(_pad(x, rows, cols, 0), -1, cols), -2, rows)
        if rows.kernel == cols.kernel == 1:
            y = y / divisor  # y is a view of the input
        else:
            y /= divisor
        ctx.save(rows=rows, cols=cols, divisor=divisor, shape=shape)
        return y[..., 0, :] if rows is _NO_WINDOW else y

    @staticmethod
    def backward(ctx, gy):
        rows, cols = ctx.rows, ctx.cols
        if rows is _NO_WINDOW:
            gy = gy[..., None, :]
        g = gy / ctx.divisor
        gx = _spread(_spread(g, None, -2, rows), None, -1, cols)
        return _unpad(gx, rows, cols).reshape(ctx.shape)


class GlobalAvgPool(Function):
    """y = mean of x over (H, W), kept as 1 x 1;  gx = gy / (H W) at every position."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(shape=x.shape)
        return x.mean(axis=(-2, -1), keepdims=True)

    @staticmethod
    def backward(ctx, gy):
        shape = ctx.shape
        return xp.broadcast_to(gy / (shape[-2] * shape[-1]), shape)


class AdaptiveAvgPool(Function):
    """y = (R @ x @ C^T) / counts, R and C the 0/1 matrices saying which rows (columns) each
    output row (column) averages, counts their window sizes;  gx = R^T @ (gy / counts) @ C."""

    @staticmethod
    def forward(ctx, x, row_members, col_members):
        row_members = row_members.astype(x.dtype)
        col_members = col_members.astype(x.dtype)
        counts = row_members.sum(axis=1)[:, None] * col_members.sum(axis=1)
        y = row_members @ x @ col_members.T
        y /= counts
        ctx.save(row_members=row_members, col_members=col_members, counts=counts)
        return y

    @staticmethod
    def backward(ctx, gy):
        return ctx.row_members.T @ (gy / ctx.counts) @ ctx.col_members


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """2-D max pooling over (N, C, H, W) or (C, H, W) (PyTorch's ``F.max_pool2d``).

    Args:
        input: the input; float (or integer, without gradient).
        kernel_size: the window, an int or (height, width).
        stride: the step between windows; defaults to ``kernel_size``.
        padding: implicit -inf padding on each side, at most ``kernel_size // 2``.
        dilation: the step between the elements of a window.
        ceil_mode: round the output size up, so that a last partial window is kept.
        return_indices: also return the flat index (row * W + col) of each max in its plane.
    """
    _check_input("max_pool2d", input, 2, integers=True)
    rows, cols = _windows("max_pool2d", input, 2, kernel_size, stride, padding, dilation,
                          ceil_mode)
    return MaxPool.apply(input, rows=rows, cols=cols, return_indices=return_indices)


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-D max pooling over (N, C, L) or (C, L) (PyTorch's ``F.max_pool1d``).

    Args are those of :func:`max_pool2d` for one dimension; the indices count along L.
    """
    _check_input("max_pool1d", input, 1, integers=True)
    rows, cols = _windows("max_pool1d", input, 1, kernel_size, stride, padding, dilation,
                          ceil_mode)
    return MaxPool.apply(input, rows=rows, cols=cols, return_indices=return_indices)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over (N, C, H, W) or (C, H, W) (PyTorch's ``F.avg_pool2d``).

    Args:
        input: the float input.
        kernel_size: the window, an int or (height, width).
        stride: the step between windows; defaults to ``kernel_size``.
        padding: implicit zero padding on each side, at most ``kernel_size // 2``.
        ceil_mode: round the output size up, so that a last partial window is kept.
        count_include_pad: count the padding in each window's divisor.
        divisor_override: divide every window's sum by this instead.
    """
    _check_input("avg_pool2d", input, 2)
    rows, cols = _windows("avg_pool2d", input, 2, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must not be zero")
        divisor: Any = float(divisor_override)
    else:
        divisor = _divisor(rows, cols, count_include_pad)
    return AvgPool.apply(input, rows=rows, cols=cols, divisor=divisor)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L) (PyTorch's ``F.avg_pool1d``).

    Args are those of :func:`avg_pool2d` for one dimension.
    """
    _check_input("avg_pool1d", input, 1)
    rows, cols = _windows("avg_pool1d", input, 1, kernel_size, stride, padding, 1, ceil_mode)
    return AvgPool.apply(input, rows=rows, cols=cols,
                         divisor=_divisor(rows, cols, count_include_pad))


def _members(size: int, out: int) -> Any:
    """Which inputs each adaptive window averages: rows floor(i*size/out) to
    ceil((i+1)*size/out) - 1, as a 0/1 matrix (out, size)."""
    i = xp.arange(out)[:, None]
    position = xp.arange(size)
    return (position >= i * size // out) & (position < -(-(i + 1) * size // out))


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """2-D average pooling to a fixed output size (PyTorch's ``F.adaptive_avg_pool2d``).

    Args:
        input: the float input, (N, C, H, W) or (C, H, W).
        output_size: (height, width) or an int for both; None keeps that input size. Output row
            i averages input rows floor(i * H / height) to ceil((i + 1) * H / height) - 1.
    """
    _check_input("adaptive_avg_pool2d", input, 2)
    height, width = input.shape[-2:]
    out_h, out_w = _adaptive_size("adaptive_avg_pool2d", output_size, height, width)
    if out_h == out_w == 1:
        return GlobalAvgPool.apply(input)
    if out_h and out_w and height % out_h == 0 and width % out_w == 0:
        kernel_h, kernel_w = height // out_h, width // out_w
        rows = _Window(height, kernel_h, kernel_h, 0, 1, out_h, height)
        cols = _Window(width, kernel_w, kernel_w, 0, 1, out_w, width)
        return AvgPool.apply(input, rows=rows, cols=cols, divisor=float(kernel_h * kernel_w))
    return AdaptiveAvgPool.apply(input, row_members=_members(height, out_h),
                                 col_members=_members(width, out_w))


__all__ = ["adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d"]
