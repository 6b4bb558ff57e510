"""Crops, padding and resizing: Pad, RandomCrop, CenterCrop, Resize, RandomResizedCrop.

:class:`Resize` and :class:`RandomResizedCrop` share one resampler, :func:`_resample`: image i's
box (top, left, height, width) is resized by the arithmetic of torch's ``interpolate``
(``align_corners=False``, no antialiasing), the kernel of torchvision's Resize on tensors.
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.data.transforms.core import (
    Transform,
    _check_fill,
    _check_images,
    _interpolation,
    _interval,
    _pair,
    _size,
)
from deepgrad.errors import ShapeError, shape_str

_CROP_ATTEMPTS = 10  # torchvision's number of tries to find a box that fits
_PADDING_MODES = ("constant", "edge", "reflect")


class RandomCrop(Transform):
    """Pad every image by ``padding`` pixels of ``fill``, then cut a ``size`` window at a random
    offset, one per image (torchvision's RandomCrop with constant padding).

    Args:
        size: the output height and width, an int (square) or (height, width).
        padding: pixels added on each side before cropping.
        fill: the value of the padding pixels.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0) -> None:
        self.size = tuple(int(s) for s in _pair("RandomCrop", "size", size))
        if min(self.size) < 1:
            raise ValueError(f"RandomCrop: size must be positive; got {size!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an integer >= 0; got {padding!r}")
        self.padding = padding
        self.fill = fill

    def forward(self, batch: Any, rng: Any) -> Any:
        """The cropped batch, (N, [C,] size[0], size[1])."""
        _check_images(self, batch)
        height, width = self.size
        p = self.padding
        padded_h, padded_w = batch.shape[-2] + 2 * p, batch.shape[-1] + 2 * p
        if height > padded_h or width > padded_w:
            raise ShapeError(f"RandomCrop: the crop {height}x{width} is larger than the images "
                             f"{shape_str(batch.shape)} padded by {p} ({padded_h}x{padded_w})")
        if p:
            _check_fill(self, "fill", [self.fill], batch.dtype)
            padded = xp.full((*batch.shape[:-2], padded_h, padded_w), self.fill, batch.dtype)
            padded[..., p:padded_h - p, p:padded_w - p] = batch
        else:
            padded = batch
        n = batch.shape[0]
        top = rng.integers(0, padded_h - height + 1, size=n)
        left = rng.integers(0, padded_w - width + 1, size=n)
        windows = xp.lib.stride_tricks.sliding_window_view(padded, (height, width),
                                                           axis=(-2, -1))
        images = xp.arange(n)
        if batch.ndim == 4:
            return windows[images, :, top, left]
        return windows[images, top, left]


class Pad(Transform):
    """Pad the borders of each image (torchvision's Pad).

    Args:
        padding: pixels added on each side: p on all four, (left and right, top and bottom),
            or (left, top, right, bottom).
        fill: the new pixels' value with ``padding_mode='constant'``.
        padding_mode: ``'constant'`` (``fill``), ``'edge'`` (the border pixel repeated) or
            ``'reflect'`` (mirrored about the border pixel, which is not repeated: padding
            ``1 2 3 4`` by 2 on the left gives ``3 2 1 2 3 4``; each padding must then be
            smaller than the image side).
    """

    def __init__(self, padding: int | tuple[int, ...], fill: float = 0,
                 padding_mode: str = "constant") -> None:
        sides = (padding,) if isinstance(padding, int) else tuple(padding)
        if len(sides) not in (1, 2, 4) or not all(
                isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in sides):
            raise ValueError("Pad: padding must be an integer >= 0 or a sequence of 2 or 4 of "
                             f"them; got {padding!r}")
        self.padding = sides * 4 if len(sides) == 1 else sides * 2 if len(sides) == 2 else sides
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Pad: padding_mode must be one of {_PADDING_MODES}; got "
                             f"{padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode

    def forward(self, batch: Any, rng: Any) -> Any:
        """The padded batch, (N, [C,] top + H + bottom, left + W + right), same dtype."""
        _check_images(self, batch)
        left, top, right, bottom = self.padding
        widths = [(0, 0)] * (batch.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            _check_fill(self, "fill", [self.fill], batch.dtype)
            return xp.pad(batch, widths, constant_values=self.fill)
        height, width = batch.shape[-2:]
        if self.padding_mode == "reflect" and (max(top, bottom) >= height
                                               or max(left, right) >= width):
            raise ShapeError(f"Pad: reflect padding {self.padding} (left, top, right, bottom) "
                             f"must be smaller than the image sides; the batch is "
                             f"{shape_str(batch.shape)}")
        return xp.pad(batch, widths, mode=self.padding_mode)


class CenterCrop(Transform):
    """Cut the central ``size`` window of each image (torchvision's CenterCrop).

    An odd margin puts the window at ``round(margin / 2)`` (half to even, as torchvision); a
    side shorter than ``size`` is first padded with zeros, the odd pixel at the bottom or
    right.

    Args:
        size: the output height and width, an int (square) or (height, width).
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = _size("CenterCrop", size)

    def forward(self, batch: Any, rng: Any) -> Any:
        """The cropped batch, (N, [C,] size[0], size[1])."""
        _check_images(self, batch)
        (height, width), (image_h, image_w) = self.size, batch.shape[-2:]
        extra_h, extra_w = max(height - image_h, 0), max(width - image_w, 0)
        if extra_h or extra_w:
            batch = xp.pad(batch, [(0, 0)] * (batch.ndim - 2) + [
                (extra_h // 2, (extra_h + 1) // 2), (extra_w // 2, (extra_w + 1) // 2)])
            image_h, image_w = batch.shape[-2:]
        top, left = round((image_h - height) / 2), round((image_w - width) / 2)
        return batch[..., top:top + height, left:left + width].copy()


class Resize(Transform):
    """Resize each image (torchvision's Resize on tensors, with ``antialias=False``).

    Output pixel i of a side of length ``n`` resized to ``m`` reads the input at
    ``(i + 0.5) * n / m - 0.5`` (``align_corners=False``): bilinear weighs the two nearest
    pixels, nearest takes pixel ``floor(i * n / m)`` (torch's ``'nearest'``, as torchvision's
    NEAREST). Integer images are interpolated in float32 and rounded (half to even). Shrinking
    by much skips pixels: blur first where that aliases.

    Args:
        size: (height, width), or an int: the shorter side becomes ``size`` and the longer one
            ``int(size * longer / shorter)`` (as torchvision).
        interpolation: ``'bilinear'`` or ``'nearest'``.
    """

    def __init__(self, size: int | tuple[int, int], interpolation: str = "bilinear") -> None:
        shorter_side = isinstance(size, int) and not isinstance(size, bool) and size >= 1
        self.size = size if shorter_side else _size("Resize", size)
        self.interpolation = _interpolation("Resize", interpolation)

    def forward(self, batch: Any, rng: Any) -> Any:
        """The resized batch, same dtype."""
        _check_images(self, batch)
        n, (height, width) = batch.shape[0], batch.shape[-2:]
        if isinstance(self.size, int):
            short, long = sorted((height, width))
            new_long = int(self.size * long / short)
            size = (self.size, new_long) if height <= width else (new_long, self.size)
        else:
            size = self.size
        zeros = xp.zeros(n, xp.int64)
        return _resample(batch, (zeros, zeros, zeros + height, zeros + width), size,
                         self.interpolation)


class RandomResizedCrop(Transform):
    """Cut a random box of each image and resize it to ``size`` (torchvision's
    RandomResizedCrop, resizing as :class:`Resize`: ``antialias=False``).

    The box's area is a fraction of the image drawn uniformly from ``scale``, its aspect ratio
    (width / height) log-uniformly from ``ratio``; of up to 10 draws the first that fits inside
    the image is used, at a uniform position. When none fits, the central box of the whole
    image clamped to ``ratio`` is (torchvision's fallback).

    Args:
        size: the output height and width, an int (square) or (height, width).
        scale: (min, max) of the box's fraction of the image's area.
        ratio: (min, max) of the box's aspect ratio.
        interpolation: ``'bilinear'`` or ``'nearest'``.
    """

    def __init__(self, size: int | tuple[int, int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 interpolation: str = "bilinear") -> None:
        self.size = _size("RandomResizedCrop", size)
        self.scale = _interval("RandomResizedCrop", "scale", scale)
        self.ratio = _interval("RandomResizedCrop", "ratio", ratio)
        self.interpolation = _interpolation("RandomResizedCrop", interpolation)

    def forward(self, batch: Any, rng: Any) -> Any:
        """The batch of resized boxes, (N, [C,] size[0], size[1]), same dtype."""
        _check_images(self, batch)
        n, (height, width) = batch.shape[0], batch.shape[-2:]
        area = height * width * rng.uniform(*self.scale, size=(n, _CROP_ATTEMPTS))
        aspect = xp.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]),
                                    size=(n, _CROP_ATTEMPTS)))
        widths = xp.rint(xp.sqrt(area * aspect)).astype(xp.int64)
        heights = xp.rint(xp.sqrt(area / aspect)).astype(xp.int64)
        fits = (widths > 0) & (widths <= width) & (heights > 0) & (heights <= height)
        first, images = fits.argmax(axis=1), xp.arange(n)
        found = fits[images, first]
        fallback_h, fallback_w = height, width
        if width / height < self.ratio[0]:
            fallback_h = round(width / self.ratio[0])
        elif width / height > self.ratio[1]:
            fallback_w = round(height * self.ratio[1])
        h = xp.where(found, heights[images, first], fallback_h)
        w = xp.where(found, widths[images, first], fallback_w)
        top = xp.where(found, rng.integers(0, height - h + 1), (height - h) // 2)
        left = xp.where(found, rng.integers(0, width - w + 1), (width - w) // 2)
        return _resample(batch, (top, left, h, w), self.size, self.interpolation)


def _resample(batch: Any, boxes: tuple[Any, Any, Any, Any], size: tuple[int, int],
              interpolation: str) -> Any:
    """Box i = (top[i], left[i], height[i], width[i]) of image i resized to ``size``."""
    top, left, heights, widths = boxes
    images = batch if batch.ndim == 4 else batch[:, None]
    shape = (*batch.shape[:-2], *size)
    if interpolation == "nearest":
        picked = _take_rows(images, top[:, None] + _nearest(heights, size[0]))
        return _take_columns(picked, left[:, None] + _nearest(widths, size[1])).reshape(shape)
    # Weights in float32, or float64 for float64 images (torch's "opmath" type).
    work = xp.float64 if batch.dtype == xp.float64 else xp.float32
    rows, row_weights = _linear(heights, size[0], work)
    cols, col_weights = _linear(widths, size[1], work)
    corners, weights = [], []       # x00, x01, x10, x11 and their weights
    for r, h in zip(rows, row_weights):
        picked = _take_rows(images, r + top[:, None])
        for c, w in zip(cols, col_weights):
            corners.append(_take_columns(picked, c + left[:, None]))
            weights.append(h[:, None, :, None] * w[:, None, None, :])
    # torch's CPU kernel sums ((x01 w01 + x00 w00) + x10 w10) + x11 w11 with fused
    # multiply-adds; the same steps give its float32 results bit for bit.
    out = xp.multiply(corners[1], weights[1], dtype=work)
    for k in (0, 2, 3):
        out = _fused_multiply_add(corners[k], weights[k], out)
    if batch.dtype.kind in "iu":
        info = xp.iinfo(batch.dtype)
        out = xp.clip(xp.rint(out, out=out), info.min, info.max, out=out)
    return out.astype(batch.dtype, copy=False).reshape(shape)


def _take_rows(images: Any, rows: Any) -> Any:
    """images (N, C, H, W) at rows (N, m), one row list per image: (N, C, m, W)."""
    n, channels, height, width = images.shape
    flat = xp.arange(n * channels).reshape(n, channels, 1) * height + rows[:, None, :]
    return images.reshape(n * channels * height, width)[flat]


def _take_columns(images: Any, cols: Any) -> Any:
    """images (N, C, m, W) at columns (N, k), one column list per image: (N, C, m, k)."""
    n, channels, m, width = images.shape
    # One flat gather over the whole batch (much faster than take_along_axis).
    flat = (xp.arange(n) * (channels * m * width)).reshape(n, 1, 1) + cols[:, None, :]
    flat = flat + (xp.arange(channels * m) * width).reshape(1, -1, 1)
    return xp.take(images, flat).reshape(n, channels, m, cols.shape[1])


def _fused_multiply_add(a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` rounded once to c's dtype when that is float32 (in float64 the product of
    two float32 values is exact); plain float64 arithmetic otherwise."""
    if c.dtype == xp.float64:
        return xp.multiply(a, b, dtype=xp.float64) + c
    out = xp.multiply(a, b, dtype=xp.float64)
    out += c
    return out.astype(xp.float32)


def _nearest(lengths: Any, size: int) -> Any:
    """(N, size) source positions of torch's 'nearest' for sides of ``lengths`` (N,), which
    computes them in float32 whatever the dtype."""
    scale = (lengths.astype(xp.float32) / xp.float32(size))[:, None]
    index = xp.floor(xp.arange(size, dtype=xp.float32) * scale).astype(xp.int64)
    return xp.minimum(index, lengths[:, None] - 1)


def _linear(lengths: Any, size: int, work: Any) -> tuple[list[Any], list[Any]]:
    """The two source positions and their weights, each (N, size), of bilinear resampling
    sides of ``lengths`` (N,) to ``size`` (torch's ``align_corners=False`` arithmetic)."""
    scale = (lengths.astype(work) / work(size))[:, None]
    # (i + 0.5) * scale - 0.5, one fused multiply-add in torch: exact in float64, then rounded.
    source = (scale.astype(xp.float64) * (xp.arange(size) + 0.5) - 0.5).astype(work)
    xp.maximum(source, 0, out=source)
    first = xp.minimum(xp.floor(source).astype(xp.int64), lengths[:, None] - 1)
    weight = xp.clip(source - first.astype(work), 0, 1)
    second = first + (first < lengths[:, None] - 1)
    return [first, second], [1 - weight, weight]
