"""The depthwise convolution (groups == in_channels == out_channels) behind
:func:`deepgrad.ops.conv.conv2d`: kH*kW multiply-accumulate passes, not C tiny GEMMs; for
stride 1 over long runs of the flattened planes, and per block of channels that fits in cache.
With numba (the ``fast`` extra), compiled loops run instead, one output plane at a time, over the
input's phases (:func:`_phases`), which turn every stride into long contiguous runs as well; the
NumPy code is the reference the tests hold them to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.ops._conv_args import _out_size, _taps, _unpadded
from deepgrad.ops._kernels import compiled
from deepgrad.parallel import in_blocks

_BLOCK_BYTES = 2 << 20


def _depthwise_padded(x: Any, pads: tuple[int, int, int, int], stride: tuple[int, int]) -> Any:
    """A zero-padded contiguous channel-major copy (C, N, Hp, Wp) of x (N, C, H, W); for stride
    1 with one more zero row, which the last runs of :func:`_tap_views` reach into."""
    n, c, h, w = x.shape
    top, bottom, left, right = pads
    extra = 1 if stride == (1, 1) else 0
    out = xp.zeros((c, n, h + top + bottom + extra, w + left + right), x.dtype)
    out[:, :, top:top + h, left:left + w] = x.transpose(1, 0, 2, 3)
    return out


def _phases(kernels: Any, x: Any, pads: tuple[int, int, int, int],
            stride: tuple[int, int]) -> Any:
    """The zero-padded input x (N, C, H, W) split into its stride's phases, channel-major:
    (C, N, sh * sw, Hph + 1, Wph), phase a * sw + b holding the padded rows a, a + sh, ... and
    columns b, b + sw, ... (Hph, Wph: the padded size over the stride, rounded up), plus one zero
    row. Stride 1: the padded input, one phase (NumPy's zeros and copy measured 1.5x faster
    than the compiled loop there)."""
    if stride == (1, 1):
        padded = _depthwise_padded(x, pads, stride)
        return padded.reshape(padded.shape[0], padded.shape[1], 1, *padded.shape[2:])
    n, c, h, w = x.shape
    (sh, sw), (top, bottom, left, right) = stride, pads
    hph, wph = -(-(h + top + bottom) // sh), -(-(w + left + right) // sw)
    out = xp.empty((c, n, sh * sw, hph + 1, wph), x.dtype)
    channel_major = x.transpose(1, 0, 2, 3)
    in_blocks(lambda part: kernels.phase_split(channel_major[part], top, left, sh, sw, out[part]),
              c, out.size)
    return out


def _phase_starts(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                  plane: tuple[int, int]) -> Any:
    """int64 (kH, kW): where in the flattened phases of one channel and sample (each phase a
    ``plane`` (Hph + 1, Wph)) kernel offset (i, j) reads the input of the first output; those
    of the next outputs follow as in a stride-1 convolution."""
    (sh, sw), (dh, dw), (hp, wp) = stride, dilation, plane
    i = xp.arange(kernel[0])[:, None] * dh
    j = xp.arange(kernel[1])[None, :] * dw
    return ((i % sh) * sw + j % sw) * hp * wp + (i // sh) * wp + j // sw


def _tap_views(a: Any, kernel: tuple[int, int], stride: tuple[int, int],
               dilation: tuple[int, int], out_hw: tuple[int, int]) -> list[tuple[int, int, Any]]:
    """(i, j, view) per kernel offset: what the offset multiplies in a padded channel-major
    array from :func:`_depthwise_padded`, all views of one shape.

    Stride 1: runs of the flattened planes, (C, N, Ho*Wp), as if the output were Wp wide (its
    Wp - Wo extra columns are garbage, dropped). Long contiguous runs make each pass several
    times faster than 2-D windows, whose rows are only Wo long. Other strides: the windows.
    """
    if stride != (1, 1):
        return [(i, j, a[:, :, rows, cols]) for i, j, rows, cols in
                _taps(kernel, stride, dilation, out_hw)]
    c, n, hp, wp = a.shape
    flat = a.reshape(c, n, hp * wp)
    run = out_hw[0] * wp
    return [(i, j, flat[:, :, i * dilation[0] * wp + j * dilation[1]:][:, :, :run])
            for i in range(kernel[0]) for j in range(kernel[1])]


def _tap_weights(weight: Any, stride: tuple[int, int]) -> Any:
    """Depthwise weights (C, 1, kH, kW) as (C, kH, kW, 1, 1[, 1]): [c, i, j] broadcasts over the
    (N, ...) dims of a channel's views from :func:`_tap_views`."""
    taps = weight[:, 0, :, :, None, None]
    return taps if stride == (1, 1) else taps[..., None]


def _channel_blocks(a: Any) -> list[slice]:
    """Slices of the channels of a channel-major array, each about 2 MiB: the kH*kW passes of a
    depthwise convolution over one block stay in cache (measured 2x faster than whole arrays)."""
    c = a.shape[0]
    step = max(1, _BLOCK_BYTES // max(1, a[:1].nbytes))
    return [slice(c0, c0 + step) for c0 in range(0, c, step)]


def _per_block(work: Callable[[slice], None], a: Any) -> None:
    """``work(block)`` for every block of channels of ``a`` (:func:`_channel_blocks`), the
    blocks shared out among the threads."""
    blocks = _channel_blocks(a)
    in_blocks(lambda part: [work(block) for block in blocks[part]], len(blocks), a.size)


def _compiled_backward(ctx: Any, g: Any) -> tuple[Any, Any]:
    """The input and weight gradients of DepthwiseConv2d in compiled loops, one plane at a time
    (``g``: the output gradient as a channel-major view)."""
    needs, kernels = ctx.needs_input_grad, ctx.kernels
    c = g.shape[0]
    gx = gw = None
    if needs[0]:
        n, _, h, w = ctx.x_shape
        gx = xp.empty((c, n, h, w), g.dtype)
        in_blocks(lambda part: kernels.depthwise_input_grad(
            g[part], ctx.weight[part, 0], ctx.pads[0], ctx.pads[2], *ctx.stride, ctx.starts,
            *ctx.padded[3:], gx[part]), c, gx.size)
        gx = gx.transpose(1, 0, 2, 3)
    if needs[1]:
        gw = xp.empty((c, 1, *ctx.kernel), g.dtype)
        in_blocks(lambda part: kernels.depthwise_weight_grad(g[part], ctx.xpad[part],
                                                             gw[part, 0], ctx.starts),
                  c, ctx.xpad.size)
    return gx, gw


class DepthwiseConv2d(Function):
    """groups == C_in == C_out: y[n, c] = sum_{i, j} x_pad[n, c, rows_i, cols_j] * W[c, 0, i, j]
    + b[c], as kH*kW multiply-accumulate passes over whole arrays (per block of channels).

    gx_pad[n, c, rows_i, cols_j] += gy[n, c] * W[c, 0, i, j];  gW[c, 0, i, j] = sum of
    gy * x_pad[n, c, rows_i, cols_j] over n, h, w.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, pads, dilation):
        n, c, h, w = x.shape
        kernel = weight.shape[2:]
        out_hw = _out_size((h + pads[0] + pads[1], w + pads[2] + pads[3]), kernel, stride,
                           dilation)
        kernels = compiled()
        # The compiled loops read the input's phases; the NumPy passes the padded input.
        xpad = (_depthwise_padded(x, pads, stride) if kernels is None
                else _phases(kernels, x, pads, stride))
        starts = (None if kernels is None
                  else _phase_starts(kernel, stride, dilation, xpad.shape[3:]))
        needs = ctx.needs_input_grad
        ctx.save(xpad=xpad if needs[1] else None, weight=weight if needs[0] else None,
                 x_shape=x.shape, pads=pads, kernel=kernel, stride=stride, dilation=dilation,
                 out_hw=out_hw, padded=xpad.shape, kernels=kernels, starts=starts)
        if kernels is not None:
            y = xp.empty((c, n, *out_hw), x.dtype)
            shift = xp.zeros(c, x.dtype) if bias is None else bias
            in_blocks(lambda part: kernels.depthwise(xpad[part], weight[part, 0], shift[part],
                                                     y[part], starts), c, xpad.size)
            return y.transpose(1, 0, 2, 3)
        views = _tap_views(xpad, kernel, stride, dilation, out_hw)
        taps = _tap_weights(weight, stride)
        y = xp.empty(views[0][2].shape, x.dtype)
        tmp = xp.empty_like(y)

        def accumulate(block: slice) -> None:
            y_block, tmp_block = y[block], tmp[block]
            for k, (i, j, view) in enumerate(views):
                if k == 0:
                    xp.multiply(view[block], taps[block, i, j], out=y_block)
                else:
                    xp.multiply(view[block], taps[block, i, j], out=tmp_block)
                    y_block += tmp_block

        _per_block(accumulate, xpad)
        y = y.reshape(c, n, out_hw[0], -1)
        if y.shape[3] != out_hw[1]:
            y = xp.ascontiguousarray(y[..., :out_hw[1]])  # drop the garbage columns
        if bias is not None:
            y += bias[:, None, None, None]
        return y.transpose(1, 0, 2, 3)

    @staticmethod
    def backward(ctx, gy):
        needs = ctx.needs_input_grad
        kernel, stride, dilation, out_hw = ctx.kernel, ctx.stride, ctx.dilation, ctx.out_hw
        gb = gy.sum(axis=(0, 2, 3)) if needs[2] else None
        g = gy.transpose(1, 0, 2, 3)
        if ctx.kernels is not None:
            return (*_compiled_backward(ctx, g), gb, None, None, None)
        c, n, _, wp = ctx.padded
        if stride == (1, 1):
            # As wide as the padded input, like the forward's runs; zero in the extra columns.
            wide = xp.zeros((c, n, out_hw[0], wp), gy.dtype)
            wide[..., :out_hw[1]] = g
            g = wide.reshape(c, n, -1)
        gx = gw = None
        if needs[0]:
            gpad = xp.zeros(ctx.padded, gy.dtype)
            views = _tap_views(gpad, kernel, stride, dilation, out_hw)
            weights, tmp = _tap_weights(ctx.weight, stride), xp.empty_like(g)

            def spread(block: slice) -> None:
                g_block, tmp_block = g[block], tmp[block]
                for i, j, view in views:
                    xp.multiply(g_block, weights[block, i, j], out=tmp_block)
                    view[block] += tmp_block

            _per_block(spread, gpad)
            gx = _unpadded(gpad, ctx.x_shape, ctx.pads)
        if needs[1]:
            xpad = ctx.xpad
            gw = xp.empty((c, 1, *kernel), gy.dtype)
            views = _tap_views(xpad, kernel, stride, dilation, out_hw)

            def weight_grad(block: slice) -> None:
                g_block = g[block]
                for i, j, view in views:
                    products = xp.vecdot(g_block, view[block])
                    gw[block, 0, i, j] = products.reshape(products.shape[0], -1).sum(axis=1)

            _per_block(weight_grad, xpad)
        return gx, gw, gb, None, None, None
