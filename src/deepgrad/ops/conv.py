"""Convolutions: conv1d, conv2d, conv_transpose1d and conv_transpose2d, NCL / NCHW at the
interface.

How they are fast:

* Channel-major im2col: the input, as (C, N, H, W) memory (padded once when needed), is read
  through a strided view (C, kH, kW, N, Ho, Wo) and copied into the column matrix
  (C*kH*kW, N*Ho*Wo), whose rows are runs of Wo contiguous values (with numba, by a compiled
  loop: NumPy's copy pays its per-row overhead on rows of 7-28 values). One GEMM per group (a
  batched matmul over groups), W (C_out, C_in*kH*kW) @ cols, gives the output as
  (C_out, N, Ho, Wo) memory, returned as an NCHW view: elementwise ops keep that layout, so the
  next convolution reads it without a copy. The weights are used in their own layout, never
  transposed.
* Backward: the weight gradient is one GEMM, gy @ cols^T, straight into the weight's layout; the
  input gradient is one GEMM into columns, W^T @ gy, summed back by col2im as kH*kW slice-adds,
  each reading one contiguous block of the columns.
* The column matrices (tens of MiB) reuse the memory of the previous step's once it is free:
  fresh memory of that size costs page faults that measured as much as the copy itself.
* A 1x1 convolution is a plain GEMM: its column matrix is the input itself (channel-major memory,
  as a previous convolution leaves it) or one transposing copy (measured faster than a batched
  GEMM per image over NCHW memory).
* A depthwise convolution (groups == in_channels == out_channels) runs its own kernel of kH*kW
  multiply-accumulate passes (:mod:`deepgrad.ops.depthwise`), not C tiny GEMMs.
* conv_transpose2d is conv2d's input gradient as a forward: one GEMM and col2im; its backward is
  a conv2d (im2col and one GEMM) and one GEMM for the weight.
"""

from __future__ import annotations

import sys
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops import winograd
from deepgrad.ops._conv_args import (
    _arrays,
    _check,
    _geometry,
    _out_size,
    _taps,
    _tuple,
    _unpadded,
)
from deepgrad.ops._kernels import compiled
from deepgrad.ops.depthwise import DepthwiseConv2d
from deepgrad.parallel import in_blocks, matmul
from deepgrad.tensor import Tensor

_as_strided = xp.lib.stride_tricks.as_strided

# Recently used column buffers; one is handed out again only when nothing else refers to it.
_BUFFERS: list[Any] = []
_MAX_BUFFERS = 6


def _free_refcount() -> int:
    """What sys.getrefcount reports, inside the loop of :func:`_buffer`, for a buffer that only
    the list refers to (measured, as it differs between Python versions)."""
    probe = [xp.empty(0)]
    for buf in probe:
        return sys.getrefcount(buf)
    return 0


_FREE_REFCOUNT = _free_refcount()


# ------------------------------------------------------------------------------ layout helpers
def _buffer(shape: tuple[int, ...], dtype: Any) -> Any:
    """An uninitialized array of ``shape``, in the memory of a recent one that nothing (no view,
    no saved graph value) refers to any more, else fresh."""
    for buf in _BUFFERS:
        if buf.shape == shape and buf.dtype == dtype and sys.getrefcount(buf) == _FREE_REFCOUNT:
            return buf
    buf = xp.empty(shape, dtype)
    _BUFFERS.append(buf)
    if len(_BUFFERS) > _MAX_BUFFERS:
        del _BUFFERS[0]
    return buf


def _padded(x: Any, pads: tuple[int, int, int, int]) -> Any:
    """(N, C, H, W) as channel-major (C, N, H + top + bottom, W + left + right), zero-padded;
    a view of ``x`` when there is no padding."""
    cnhw = x.transpose(1, 0, 2, 3)
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return cnhw
    c, n, h, w = cnhw.shape
    out = xp.zeros((c, n, h + top + bottom, w + left + right), x.dtype)
    out[:, :, top:top + h, left:left + w] = cnhw
    return out


def _windows(a: Any, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int], out_hw: tuple[int, int]) -> Any:
    """A read-only strided view (C, kH, kW, N, Ho, Wo) of a channel-major (C, N, H, W) array:
    [c, i, j] is channel c shifted by the kernel offset (i, j), the rows of the columns."""
    c, n, _, _ = a.shape
    sc, sn, sh, sw = a.strides
    return _as_strided(a, (c, *kernel, n, *out_hw),
                       (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0],
                        sw * stride[1]), writeable=False)


def _im2col(a: Any, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], out_hw: tuple[int, int]) -> Any:
    """The column matrix (C*kH*kW, N*Ho*Wo) of a channel-major (C, N, H, W) array: row
    (c, i, j) is channel c shifted by the kernel offset (i, j). A view of ``a`` for a 1x1 kernel
    over contiguous memory; otherwise a reused buffer."""
    c, n, _, _ = a.shape
    (kh, kw), (oh, ow) = kernel, out_hw
    shape = (c * kh * kw, n * oh * ow)
    if kh == kw == 1 and a.shape[2:] == out_hw:  # every position once, in order
        return a.reshape(shape)
    cols = _buffer(shape, a.dtype)
    _fill_columns(a, cols, kernel, stride, dilation, out_hw, threaded=True)
    return cols


def _fill_columns(a: Any, cols: Any, kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int], out_hw: tuple[int, int], threaded: bool) -> None:
    """The column matrix ``cols`` of the channel-major ``a`` (see :func:`_im2col`): a compiled
    copy when numba is there, else NumPy's strided one; ``threaded``: in blocks of channels
    shared out among the threads."""
    windows = _windows(a, kernel, stride, dilation, out_hw)
    cols6 = cols.reshape(windows.shape)
    kernels = compiled()

    def fill(part: slice) -> None:
        if kernels is None:
            xp.copyto(cols6[part], windows[part])
        else:
            kernels.im2col(a[part], cols6[part], *stride, *dilation)

    if threaded:
        in_blocks(fill, a.shape[0], cols.size)
    else:
        fill(slice(None))


def _col2im(cols: Any, padded: tuple[int, int, int, int], kernel: tuple[int, int],
            stride: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int],
            crop: tuple[int, int, int, int]) -> Any:
    """The adjoint of :func:`_im2col`: columns (C*kH*kW, N*Ho*Wo) summed into a zero
    channel-major (C, N, Hp, Wp) array, one slice-add per kernel offset, and its window
    ``crop = (top, left, height, width)``: (C, N, height, width). With numba, a compiled loop
    sums each plane while it is in cache and writes the window alone, as contiguous memory;
    otherwise the window is a view of the padded sum. A 1x1 kernel at stride 1 without padding
    has nothing to sum: its columns are the result (a view of them)."""
    c, n, hp, wp = padded
    top, left, height, width = crop
    if kernel == stride == (1, 1) and (height, width) == (hp, wp):
        return cols.reshape(c, n, hp, wp)  # one column per input value: nothing to sum
    blocks = cols.reshape(c, kernel[0], kernel[1], n, *out_hw)
    kernels = compiled()
    if kernels is not None:
        out = xp.empty((c, n, height, width), cols.dtype)

        def add_up(part: slice) -> None:
            plane = xp.empty((hp, wp), cols.dtype)  # per thread: each sums its own planes
            kernels.col2im(blocks[part], out[part], top, left, *stride, *dilation, plane)

        in_blocks(add_up, c, cols.size)
        return out
    out = xp.zeros(padded, cols.dtype)
    taps = list(_taps(kernel, stride, dilation, out_hw))

    def add(part: slice) -> None:
        for i, j, rows, columns in taps:
            out[part, :, rows, columns] += blocks[part, i, j]

    in_blocks(add, c, cols.size)
    return out[:, :, top:top + height, left:left + width]


def _gemm(a: Any, b: Any, groups: int, transpose_a: bool = False, transpose_b: bool = False,
          out: Any = None) -> Any:
    """Per group g, a[g] @ b[g] (each optionally transposed), where a and b stack the groups'
    matrices along their first axis; the groups' results stacked the same way. One GEMM for one
    group, a batched matmul for several."""
    if groups == 1:
        return matmul(a.T if transpose_a else a, b.T if transpose_b else b, out)
    a3 = a.reshape(groups, -1, a.shape[1])
    b3 = b.reshape(groups, -1, b.shape[1])
    y = xp.matmul(a3.transpose(0, 2, 1) if transpose_a else a3,
                  b3.transpose(0, 2, 1) if transpose_b else b3,
                  out=None if out is None else out.reshape(groups, -1, out.shape[1]))
    return y.reshape(-1, y.shape[2])


_BLOCK_BYTES = 2 << 20


def _sample_blocks(xpad: Any, kernel: tuple[int, int], out_hw: tuple[int, int], c_out: int,
                   groups: int) -> list[slice]:
    """Blocks of samples whose column matrices are about 2 MB, when the convolution should run
    a block at a time (else none): for few output channels, whose GEMMs (up to 32 rows) are
    bound by reading the column matrix, when that matrix is far larger than the cache. A block's
    columns are built, multiplied and dropped while in cache; measured 13-21% faster forward and
    backward for 16 and 32 output channels at 28x28, none at 32 channels 14x14, slower from 64
    channels (BENCHMARKS.md)."""
    c, n = xpad.shape[:2]
    per_sample = c * kernel[0] * kernel[1] * out_hw[0] * out_hw[1] * xpad.itemsize
    if groups != 1 or c_out > 32 or n < 2 or per_sample * n < 8 * _BLOCK_BYTES:
        return []
    step = max(1, _BLOCK_BYTES // per_sample)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _block_columns(xpad: Any, samples: slice, kernel: tuple[int, int], stride: tuple[int, int],
                   dilation: tuple[int, int], out_hw: tuple[int, int]) -> Any:
    """The column matrix of one block of samples, in fresh memory (each thread builds its own)."""
    block = xpad[:, samples]
    c, n = block.shape[:2]
    cols = xp.empty((c * kernel[0] * kernel[1], n * out_hw[0] * out_hw[1]), xpad.dtype)
    _fill_columns(block, cols, kernel, stride, dilation, out_hw, threaded=False)
    return cols


def _forward_in_blocks(xpad: Any, w2: Any, blocks: list[slice], kernel: tuple[int, int],
                       stride: tuple[int, int], dilation: tuple[int, int],
                       out_hw: tuple[int, int]) -> Any:
    """W @ cols, a block of samples at a time, the blocks shared out among the threads."""
    per = out_hw[0] * out_hw[1]
    y2 = xp.empty((w2.shape[0], xpad.shape[1] * per), xp.result_type(w2, xpad))

    def run(part: slice) -> None:
        for samples in blocks[part]:
            cols = _block_columns(xpad, samples, kernel, stride, dilation, out_hw)
            xp.matmul(w2, cols, out=y2[:, samples.start * per:samples.stop * per])

    in_blocks(run, len(blocks), w2.shape[1] * xpad.shape[1] * per, gemms=True)  # the columns
    return y2


def _backward_in_blocks(ctx: Any, gy2: Any, need_x: bool, need_w: bool) -> tuple[Any, Any]:
    """The weight gradient (C_out, K) and the padded input gradient (C, N, Hp, Wp) of a
    convolution run in blocks: per block, its columns rebuilt for gy @ cols^T (summed over the
    blocks of each thread, then over threads) and W^T @ gy summed back by col2im into the
    block's own samples."""
    xpad, blocks, kernel, out_hw = ctx.xpad, ctx.blocks, ctx.kernel, ctx.out_hw
    per = out_hw[0] * out_hw[1]
    w2 = ctx.weight.reshape(gy2.shape[0], -1) if need_x else None
    gpad = xp.zeros(ctx.padded, gy2.dtype) if need_x else None
    c = ctx.padded[0]
    taps = _taps(kernel, ctx.stride, ctx.dilation, out_hw)

    def run(part: slice) -> Any:
        gw = None
        for samples in blocks[part]:
            g = gy2[:, samples.start * per:samples.stop * per]
            if need_w:
                cols = _block_columns(xpad, samples, kernel, ctx.stride, ctx.dilation, out_hw)
                product = xp.matmul(g, cols.T)
                gw = product if gw is None else xp.add(gw, product, out=gw)
            if need_x:
                gcols = xp.matmul(w2.T, g).reshape(c, kernel[0], kernel[1], -1, *out_hw)
                target = gpad[:, samples]
                for i, j, rows, columns in taps:
                    target[:, :, rows, columns] += gcols[:, i, j]
        return gw

    columns = c * kernel[0] * kernel[1] * gy2.shape[1]
    partials = in_blocks(run, len(blocks), columns, gemms=True)
    gw = None
    if need_w:
        gw = partials[0]
        for partial in partials[1:]:
            gw += partial
    return gw, gpad


# ------------------------------------------------------------------------------ functions
class Conv2d(Function):
    """y[n, o, h, w] = sum_{c, i, j} x_pad[n, c, h*s + i*d, w*s + j*d] * W[o, c, i, j] + b[o],
    with c over the group of o.  Per group: y = W @ cols, as (C_out, N*Ho*Wo).

    gW = gy @ cols^T;  gx = col2im(W^T @ gy);  gb = gy summed over n, h, w.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, pads, dilation, groups):
        n = x.shape[0]
        c_out, cg, kh, kw = weight.shape
        xpad = _padded(x, pads)
        out_hw = _out_size(xpad.shape[2:], (kh, kw), stride, dilation)
        needs = ctx.needs_input_grad
        if winograd.applies(x.shape, weight.shape, stride, dilation, groups, out_hw, x.dtype):
            y = winograd.forward(xpad, winograd.weight_transform(weight), bias, out_hw)
            if needs[0] or needs[1]:
                ctx.save(winograd=True, xpad=xpad if needs[1] else None,
                         weight=weight if needs[0] else None, x_shape=x.shape, pads=pads,
                         padded=xpad.shape,
                         source=x if needs[1] and xp.may_share_memory(xpad, x) else None)
            return y.transpose(1, 0, 2, 3)
        w2 = weight.reshape(c_out, cg * kh * kw)
        blocks = _sample_blocks(xpad, (kh, kw), out_hw, c_out, groups)
        if blocks:
            cols = None
            y2 = _forward_in_blocks(xpad, w2, blocks, (kh, kw), stride, dilation, out_hw)
        else:
            cols = _im2col(xpad, (kh, kw), stride, dilation, out_hw)
            y2 = _gemm(w2, cols, groups)
        if bias is not None:
            y2 += bias[:, None]
        if needs[0] or needs[1]:
            # Saving the input and weight arrays themselves (not views) lets the graph see
            # in-place changes of them. In blocks, backward rebuilds the columns from xpad.
            kept = xpad if blocks else cols
            ctx.save(winograd=False, cols=cols if needs[1] else None,
                     weight=weight if needs[0] else None,
                     xpad=xpad if blocks and needs[1] else None, blocks=blocks,
                     source=x if needs[1] and xp.may_share_memory(kept, x) else None,
                     x_shape=x.shape, padded=xpad.shape, pads=pads, kernel=(kh, kw),
                     stride=stride, dilation=dilation, out_hw=out_hw, groups=groups)
        return y2.reshape(c_out, n, *out_hw).transpose(1, 0, 2, 3)

    @staticmethod
    def backward(ctx, gy):
        needs = ctx.needs_input_grad
        c_out = gy.shape[1]
        g = gy.transpose(1, 0, 2, 3)  # (C_out, N, Ho, Wo): a view, contiguous when channel-major
        crop = (ctx.pads[0], ctx.pads[2], *ctx.x_shape[2:])  # the input inside the padded input
        if (needs[0] or needs[1]) and ctx.winograd:
            # Winograd's loops read any layout: no copy of gy into a matrix.
            gb = g.sum(axis=(1, 2, 3)) if needs[2] else None
            u = winograd.weight_transform(ctx.weight) if needs[0] else None
            gw, gx = winograd.backward(g, ctx.xpad, u, ctx.padded, crop)
            gx = None if gx is None else gx.transpose(1, 0, 2, 3)
            return gx, gw, gb, None, None, None, None
        gy2 = g.reshape(c_out, -1)  # free when gy is channel-major
        gb = gy2.sum(axis=1) if needs[2] else None
        if not (needs[0] or needs[1]):
            return None, None, gb, None, None, None, None
        gx = gw = None
        groups = ctx.groups
        if ctx.blocks:
            gw, gpad = _backward_in_blocks(ctx, gy2, needs[0], needs[1])
            if gw is not None:
                gw = gw.reshape(c_out, -1, *ctx.kernel)
            if gpad is not None:
                gx = _unpadded(gpad, ctx.x_shape, ctx.pads)
            return gx, gw, gb, None, None, None, None
        if needs[1]:
            gw = _gemm(gy2, ctx.cols, groups, transpose_b=True).reshape(c_out, -1, *ctx.kernel)
        if needs[0]:
            w2 = ctx.weight.reshape(c_out, -1)
            gcols = _gemm(w2, gy2, groups, transpose_a=True,
                          out=_buffer((w2.shape[1] * groups, gy2.shape[1]), gy2.dtype))
            gx = _col2im(gcols, ctx.padded, ctx.kernel, ctx.stride, ctx.dilation, ctx.out_hw,
                         crop).transpose(1, 0, 2, 3)
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Function):
    """The gradient of conv2d with respect to its input, as a forward: per group,
    y = crop(col2im(W^T @ x)) + b, with W (C_in, C_out/groups, kH, kW) as a matrix
    (C_in, C_out/groups*kH*kW) and x as (C_in, N*H*W).

    gx = W @ im2col(pad(gy)) (a conv2d of gy);  gW = x @ im2col(pad(gy))^T;  gb = sum of gy.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation, groups):
        n, c_in, h, w = x.shape
        _, cgo, kh, kw = weight.shape
        # The full output before cropping: every input pixel spreads over a dilated kernel.
        padded = (groups * cgo, n,
                  (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0],
                  (w - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + output_padding[1])
        x2 = x.transpose(1, 0, 2, 3).reshape(c_in, n * h * w)
        w2 = weight.reshape(c_in, cgo * kh * kw)
        cols = _gemm(w2, x2, groups, transpose_a=True,
                     out=_buffer((groups * cgo * kh * kw, n * h * w), x.dtype))
        top, left = padding
        y = _col2im(cols, padded, (kh, kw), stride, dilation, (h, w),
                    (top, left, padded[2] - 2 * top, padded[3] - 2 * left))
        if bias is not None:
            y += bias[:, None, None, None]
        needs = ctx.needs_input_grad
        if needs[0] or needs[1]:
            ctx.save(x2=x2 if needs[1] else None, weight=weight if needs[0] else None,
                     source=x if needs[1] and xp.may_share_memory(x2, x) else None,
                     x_shape=x.shape, padding=padding, kernel=(kh, kw), stride=stride,
                     dilation=dilation, groups=groups)
        return y.transpose(1, 0, 2, 3)

    @staticmethod
    def backward(ctx, gy):
        needs = ctx.needs_input_grad
        gb = gy.sum(axis=(0, 2, 3)) if needs[2] else None
        if not (needs[0] or needs[1]):
            return None, None, gb, None, None, None, None, None
        n, c_in, h, w = ctx.x_shape
        groups, (top, left) = ctx.groups, ctx.padding
        gpad = _padded(gy, (top, top, left, left))
        cols = _im2col(gpad, ctx.kernel, ctx.stride, ctx.dilation, (h, w))
        gx = gw = None
        if needs[0]:
            gx = _gemm(ctx.weight.reshape(c_in, -1), cols, groups)
            gx = gx.reshape(c_in, n, h, w).transpose(1, 0, 2, 3)
        if needs[1]:
            gw = _gemm(ctx.x2, cols, groups, transpose_b=True).reshape(c_in, -1, *ctx.kernel)
        return gx, gw, gb, None, None, None, None, None


# ------------------------------------------------------------------------------ public functions
def _unbatched(fn: Any, input: Tensor, *args: Any) -> Tensor:
    """``fn`` on one example without its batch dim: run as a batch of one."""
    y = fn(input.reshape(1, *input.shape), *args)
    return y.reshape(y.shape[1:])


def _conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple, pads: tuple,
            dilation: tuple, groups: int) -> Tensor:
    """The depthwise kernel when it applies, else the GEMM one."""
    c_out, cg = weight.shape[:2]
    if cg == 1 and groups == c_out and groups > 1:
        return DepthwiseConv2d.apply(x, weight, bias, stride, pads, dilation)
    return Conv2d.apply(x, weight, bias, stride, pads, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (PyTorch's ``F.conv2d``).   (N, C_in, H, W) -> (N, C_out, Ho, Wo).

    Args:
        input: (N, C_in, H, W), or (C_in, H, W) for one image.
        weight: (C_out, C_in/groups, kH, kW).
        bias: (C_out,), or None.
        stride: an int or a pair (rows, columns).
        padding: an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input size,
            stride 1 only; an odd total puts the extra row/column at the bottom/right).
        dilation: spacing between kernel taps, an int or a pair.
        groups: split the channels into this many independent convolutions.
    """
    xa, wa, ba = _arrays("conv2d", input, weight, bias)
    _check("conv2d", xa, wa, ba, groups, 2, False)
    if xa.ndim == 3:
        return _unbatched(conv2d, input, weight, bias, stride, padding, dilation, groups)
    stride, pads, dilation = _geometry("conv2d", xa, wa, stride, padding, dilation, 2)
    return _conv2d(input, weight, bias, stride, pads, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution (PyTorch's ``F.conv1d``).   (N, C_in, L) -> (N, C_out, Lo).

    Runs as a conv2d of height 1. Arguments as in :func:`conv2d`, with ints (or 1-tuples) for
    stride, padding and dilation, and a weight (C_out, C_in/groups, kL).
    """
    xa, wa, ba = _arrays("conv1d", input, weight, bias)
    _check("conv1d", xa, wa, ba, groups, 1, False)
    if xa.ndim == 2:
        return _unbatched(conv1d, input, weight, bias, stride, padding, dilation, groups)
    (stride,), pads, (dilation,) = _geometry("conv1d", xa, wa, stride, padding, dilation, 1)
    n, c_in, length = xa.shape
    y = _conv2d(input.reshape(n, c_in, 1, length), weight.unsqueeze(2), bias, (1, stride),
                (0, 0, *pads), (1, dilation), groups)
    return y.reshape(n, y.shape[1], y.shape[3])


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """2-D transposed convolution (PyTorch's ``F.conv_transpose2d``), the gradient of conv2d
    with respect to its input.   (N, C_in, H, W) -> (N, C_out, Ho, Wo) with
    Ho = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1.

    Args:
        input: (N, C_in, H, W), or (C_in, H, W) for one image.
        weight: (C_in, C_out/groups, kH, kW).
        bias: (C_out,), or None.
        stride: an int or a pair.
        padding: an int or a pair: rows/columns removed from each side of the full output.
        output_padding: an int or a pair added at the bottom/right, smaller than the stride or
            the dilation (it picks one of the input sizes that conv2d maps to the same size).
        groups: split the channels into this many independent convolutions.
        dilation: spacing between kernel taps, an int or a pair.
    """
    op = "conv_transpose2d"
    xa, wa, ba = _arrays(op, input, weight, bias)
    _check(op, xa, wa, ba, groups, 2, True)
    if xa.ndim == 3:
        return _unbatched(conv_transpose2d, input, weight, bias, stride, padding,
                          output_padding, groups, dilation)
    stride = _tuple(stride, 2, "stride", op, 1)
    padding = _tuple(padding, 2, "padding", op, 0)
    output_padding = _tuple(output_padding, 2, "output_padding", op, 0)
    dilation = _tuple(dilation, 2, "dilation", op, 1)
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than the "
                         f"stride {stride} or the dilation {dilation} in each dim")
    out_hw = tuple((size - 1) * s - 2 * p + d * (k - 1) + o + 1 for size, s, p, d, k, o in zip(
        xa.shape[2:], stride, padding, dilation, wa.shape[2:], output_padding))
    if min(out_hw) < 1:
        raise ShapeError(f"{op}: the output would have size {shape_str(out_hw)} for input "
                         f"{shape_str(xa.shape)}, weight {shape_str(wa.shape)}, stride {stride}, "
                         f"padding {padding}, dilation {dilation}; reduce the padding")
    return ConvTranspose2d.apply(input, weight, bias, stride, padding, output_padding, dilation,
                                 groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """1-D transposed convolution (PyTorch's ``F.conv_transpose1d``).   (N, C_in, L) ->
    (N, C_out, Lo), Lo = (L - 1) * stride - 2 * padding + dilation * (kL - 1) + output_padding + 1.

    Runs as a conv_transpose2d of height 1. Arguments as in :func:`conv_transpose2d`, with ints
    (or 1-tuples) and a weight (C_in, C_out/groups, kL).
    """
    op = "conv_transpose1d"
    xa, wa, ba = _arrays(op, input, weight, bias)
    _check(op, xa, wa, ba, groups, 1, True)
    if xa.ndim == 2:
        return _unbatched(conv_transpose1d, input, weight, bias, stride, padding,
                          output_padding, groups, dilation)
    stride, padding, output_padding, dilation = (
        _tuple(value, 1, name, op, low)[0] for value, name, low in (
            (stride, "stride", 1), (padding, "padding", 0), (output_padding, "output_padding", 0),
            (dilation, "dilation", 1)))
    y = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride),
                         (0, padding), (0, output_padding), groups, (1, dilation))
    return y.squeeze(2)

