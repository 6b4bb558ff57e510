"""Rearranging images: pixel_shuffle and pixel_unshuffle (channels to space and back),
channel_shuffle (ShuffleNet), and unfold / fold (im2col and col2im, sliding blocks as columns).

The shuffles are a reshape, a permute and a reshape, so their gradients are those of the views.
``unfold`` is a grouped convolution whose weight picks one kernel tap per output channel, and
``fold`` the matching transposed convolution: they run on the convolutions' im2col and col2im
kernels, and each one's backward is the other.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops import conv
from deepgrad.ops._conv_args import _tuple
from deepgrad.tensor import Tensor, check_tensor


def _factor(op: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int; got {value!r}")
    return int(value)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r**2, H, W) -> (*, C, H * r, W * r), r = ``upscale_factor`` (sub-pixel
    convolution's upsampling): channel c * r**2 + i * r + j becomes the pixel (i, j) of each
    r x r block of output channel c."""
    op = "pixel_shuffle"
    r = _factor(op, "upscale_factor", upscale_factor)
    x = check_tensor(op, input)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ShapeError(f"{op}: expects input (*, C * {r * r}, H, W) for upscale_factor {r} "
                         f"(channels divisible by {r * r}); got {shape_str(x.shape)}")
    *lead, c, h, w = x.shape
    b = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r**2, H, W), r = ``downscale_factor``: the inverse of
    :func:`pixel_shuffle`."""
    op = "pixel_unshuffle"
    r = _factor(op, "downscale_factor", downscale_factor)
    x = check_tensor(op, input)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ShapeError(f"{op}: expects input (*, C, H, W) with H and W divisible by "
                         f"downscale_factor {r}; got {shape_str(x.shape)}")
    *lead, c, h, w = x.shape
    b = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with the channels seen as (groups, C / groups) transposed to
    (C / groups, groups) (ShuffleNet's mixing of grouped convolutions' outputs)."""
    op = "channel_shuffle"
    g = _factor(op, "groups", groups)
    x = check_tensor(op, input)
    if x.ndim < 3 or x.shape[1] % g:
        raise ShapeError(f"{op}: expects input (N, C, *) with at least 3 dims and C divisible by "
                         f"groups {g}; got {shape_str(x.shape)}")
    n, c, *rest = x.shape
    return x.reshape(n, g, c // g, *rest).transpose(1, 2).reshape(n, c, *rest)


def _taps(channels: int, kernel: tuple[int, int], dtype: Any) -> Tensor:
    """The constant weight (C * kH * kW, 1, kH, kW) whose output channel c * kH * kW + i * kW + j
    is the tap (i, j) of channel c: as a grouped convolution (groups=C) it is im2col."""
    kh, kw = kernel
    taps = xp.eye(kh * kw, dtype=dtype).reshape(kh * kw, 1, kh, kw)
    return Tensor._make(xp.tile(taps, (channels, 1, 1, 1)))


def _pairs(op: str, kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> tuple:
    return (_tuple(kernel_size, 2, "kernel_size", op, 1), _tuple(dilation, 2, "dilation", op, 1),
            _tuple(padding, 2, "padding", op, 0), _tuple(stride, 2, "stride", op, 1))


def _blocks(size: tuple, kernel: tuple, dilation: tuple, padding: tuple, stride: tuple) -> tuple:
    """How many blocks fit along each spatial dim."""
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Sliding ``kernel_size`` blocks as columns (im2col, PyTorch's ``F.unfold``).
    (N, C, H, W) -> (N, C * kH * kW, L), L the number of blocks; (C, H, W) -> (C * kH * kW, L).

    Row c * kH * kW + i * kW + j holds the tap (i, j) of channel c of every block, blocks in
    row-major order. Arguments are ints or pairs, as for :func:`~deepgrad.ops.conv.conv2d`.
    """
    op = "unfold"
    x = check_tensor(op, input)
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expects input (N, C, H, W) or (C, H, W); got "
                         f"{shape_str(x.shape)}")
    kernel, dilation, padding, stride = _pairs(op, kernel_size, dilation, padding, stride)
    batched = x if x.ndim == 4 else x.unsqueeze(0)
    n, c, h, w = batched.shape
    if min(_blocks((h, w), kernel, dilation, padding, stride)) < 1:
        raise ShapeError(f"{op}: no block of kernel_size {kernel} (dilation {dilation}) fits the "
                         f"input {shape_str(x.shape)} padded by {padding}")
    cols = conv.conv2d(batched, _taps(c, kernel, x.data.dtype), None, stride, padding, dilation,
                       groups=c)
    cols = cols.reshape(n, cols.shape[1], -1)
    return cols if x.ndim == 4 else cols.squeeze(0)


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """Columns summed back into an image (col2im, PyTorch's ``F.fold``), the adjoint of
    :func:`unfold`: overlapping taps add up.   (N, C * kH * kW, L) -> (N, C, *output_size);
    (C * kH * kW, L) -> (C, *output_size).
    """
    op = "fold"
    x = check_tensor(op, input)
    out_hw = _tuple(output_size, 2, "output_size", op, 1)
    kernel, dilation, padding, stride = _pairs(op, kernel_size, dilation, padding, stride)
    taps = kernel[0] * kernel[1]
    blocks = _blocks(out_hw, kernel, dilation, padding, stride)
    count = blocks[0] * blocks[1]
    if x.ndim not in (2, 3) or x.shape[-2] % taps or x.shape[-1] != count or min(blocks) < 1:
        raise ShapeError(f"{op}: expects input (N, C * {taps}, {count}) or (C * {taps}, {count}) "
                         f"for output_size {out_hw}, kernel_size {kernel}, dilation {dilation}, "
                         f"padding {padding}, stride {stride} ({blocks[0]} x {blocks[1]} "
                         f"blocks); got {shape_str(x.shape)}")
    batched = x if x.ndim == 3 else x.unsqueeze(0)
    n, rows, _ = batched.shape
    full = tuple((b - 1) * s + d * (k - 1) + 1 - 2 * p
                 for b, s, d, k, p in zip(blocks, stride, dilation, kernel, padding))
    # The rows or columns past the last block (fewer than a stride) get output_padding.
    image = conv.conv_transpose2d(batched.reshape(n, rows, *blocks),
                                  _taps(rows // taps, kernel, x.data.dtype), None, stride,
                                  padding, tuple(o - f for o, f in zip(out_hw, full)),
                                  groups=rows // taps, dilation=dilation)
    return image if x.ndim == 3 else image.squeeze(0)


__all__ = ["channel_shuffle", "fold", "pixel_shuffle", "pixel_unshuffle", "unfold"]
