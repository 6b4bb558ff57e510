"""Batch transforms: augment and normalize a whole batch of images at once, reproducibly.

Every transform maps a batch to a new batch and leaves its input unchanged::

    out = transform(batch, rng)

``batch`` is a NumPy array of images, (N, C, H, W) or (N, H, W) (one image: ``image[None]``);
``rng`` is the NumPy ``Generator`` all randomness is drawn from. A ``DataLoader`` passes each
batch's own generator (derived from its seed, epoch and batch index), so the same seed gives the
same augmented batches, also after a resume; called without ``rng``, a transform draws from
deepgrad's global generator (``dg.manual_seed``). Each random choice is made for the
whole batch in one call (one offset, angle or rectangle per image), and the pixels are moved by
fancy indexing: no Python loop over images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import ShapeError, shape_str

_ERASE_ATTEMPTS = 10  # torchvision's number of tries to find a rectangle that fits
_ROTATION_CHUNK = 1 << 13  # values rotated per step (see RandomRotation.forward)


class Transform:
    """Base class: ``transform(batch, rng=None)`` checks the batch, then calls :meth:`forward`."""

    def __call__(self, batch: Any, rng: Any = None) -> Any:
        if not isinstance(batch, xp.ndarray):
            raise TypeError(f"{type(self).__name__} expects a batch as a NumPy array; got "
                            f"{type(batch).__name__}")
        return self.forward(batch, generator() if rng is None else rng)

    def forward(self, batch: Any, rng: Any) -> Any:
        """The new batch; ``rng`` is a NumPy Generator."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({args})"


def _check_images(owner: Transform, batch: Any) -> None:
    if batch.ndim not in (3, 4):
        raise ShapeError(f"{type(owner).__name__} expects a batch of images (N, H, W) or "
                         f"(N, C, H, W); got shape {shape_str(batch.shape)} (for one image, "
                         "pass image[None])")


def _check_fill(owner: Transform, name: str, values: Sequence[float], dtype: Any) -> None:
    if dtype.kind in "iu":
        info = xp.iinfo(dtype)
        for v in values:
            if not (float(v).is_integer() and info.min <= v <= info.max):
                raise ValueError(f"{type(owner).__name__}: {name}={v!r} is not a value of "
                                 f"{dtype} images (integers in [{info.min}, {info.max}])")


def _probability(owner: str, p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner}: p must be a probability in [0, 1]; got {p!r}")
    return float(p)


def _pair(owner: str, name: str, value: Any) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{owner}: {name} must be a number or a pair; got {value!r}")
    return pair


class Compose(Transform):
    """Apply transforms one after the other, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Callable[[Any, Any], Any]]) -> None:
        self.transforms = list(transforms)
        for position, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {position} is a {type(t).__name__}, not "
                                "a callable transform(batch, rng)")

    def forward(self, batch: Any, rng: Any) -> Any:
        """Each transform's output feeds the next."""
        for t in self.transforms:
            batch = t(batch, rng)
        return batch


class ToFloat(Transform):
    """uint8 images in [0, 255] to float32 in [0, 1] (``x / 255``, as torchvision's ToTensor);
    float batches become float32, unscaled."""

    def forward(self, batch: Any, rng: Any) -> Any:
        """The float32 batch."""
        if batch.dtype == xp.uint8:
            return xp.divide(batch, xp.float32(255), dtype=xp.float32)
        if batch.dtype.kind == "f":
            return batch.astype(xp.float32)
        raise TypeError(f"ToFloat expects uint8 images (scaled to [0, 1]) or floats; got "
                        f"{batch.dtype}")


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` per channel c (torchvision's Normalize).

    Args:
        mean: one number, or one per channel.
        std: one positive number, or one per channel.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = tuple(float(m) for m in xp.atleast_1d(mean))
        self.std = tuple(float(s) for s in xp.atleast_1d(std))
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: got {len(self.mean)} means but {len(self.std)} stds")
        if not all(s > 0 for s in self.std):
            raise ValueError(f"Normalize: every std must be positive; got {self.std}")

    def forward(self, batch: Any, rng: Any) -> Any:
        """The normalized batch, in the batch's float dtype."""
        _check_images(self, batch)
        if batch.dtype.kind != "f":
            raise TypeError(f"Normalize expects float images; got {batch.dtype} (put ToFloat() "
                            "before Normalize)")
        channels = batch.shape[1] if batch.ndim == 4 else 1
        if len(self.mean) not in (1, channels):
            raise ShapeError(f"Normalize has {len(self.mean)} means (one per channel), but the "
                             f"batch {shape_str(batch.shape)} has {channels} channel(s)")
        shape = (1, len(self.mean), 1, 1) if batch.ndim == 4 else (1, 1, 1)
        out = xp.subtract(batch, xp.asarray(self.mean, dtype=batch.dtype).reshape(shape))
        return xp.divide(out, xp.asarray(self.std, dtype=batch.dtype).reshape(shape), out=out)


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


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _probability("RandomHorizontalFlip", p)

    def forward(self, batch: Any, rng: Any) -> Any:
        """The batch with the chosen images mirrored."""
        _check_images(self, batch)
        flipped = xp.flatnonzero(rng.random(batch.shape[0]) < self.p)
        out = batch.copy()
        out[flipped] = batch[flipped, ..., ::-1]
        return out


class RandomRotation(Transform):
    """Rotate each image about its center by a random angle, counter-clockwise for a positive
    one (torchvision's convention); pixels from outside the image are ``fill``.

    Each output pixel reads the input at its inversely rotated position, by nearest neighbour
    or bilinear interpolation. The center is ((H - 1) / 2, (W - 1) / 2), so that a rotation by
    a multiple of 90 degrees of a square image is exact (``np.rot90``).

    Args:
        degrees: the angle range in degrees: d for [-d, d], or (min, max).
        interpolation: ``'nearest'`` or ``'bilinear'``.
        fill: the value of pixels that come from outside the image.
    """

    def __init__(self, degrees: float | tuple[float, float], interpolation: str = "nearest",
                 fill: float = 0) -> None:
        if isinstance(degrees, (int, float)):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0 when one number; got "
                                 f"{degrees!r}")
            degrees = (-degrees, degrees)
        low, high = _pair("RandomRotation", "degrees", degrees)
        if low > high:
            raise ValueError(f"RandomRotation: degrees (min, max) needs min <= max; got "
                             f"{degrees!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError("RandomRotation: interpolation must be 'nearest' or 'bilinear'; "
                             f"got {interpolation!r}")
        self.degrees = (float(low), float(high))
        self.interpolation = interpolation
        self.fill = fill

    def forward(self, batch: Any, rng: Any) -> Any:
        """The rotated batch, same shape and dtype."""
        _check_images(self, batch)
        _check_fill(self, "fill", [self.fill], batch.dtype)
        n = batch.shape[0]
        angles = xp.deg2rad(rng.uniform(*self.degrees, size=n)).astype(xp.float32)
        out = xp.empty(batch.shape, batch.dtype)
        # A few images at a time: temporaries of a whole batch are given back to the OS after
        # each call and page-fault on the next, which made the whole 2-4x slower.
        step = max(1, _ROTATION_CHUNK // max(1, math.prod(batch.shape[1:])))
        for start in range(0, n, step):
            out[start:start + step] = self._rotate(batch[start:start + step],
                                                   angles[start:start + step])
        return out

    def _rotate(self, batch: Any, angles: Any) -> Any:
        """``batch`` rotated by ``angles`` (radians, float32, one per image)."""
        n, (height, width) = batch.shape[0], batch.shape[-2:]
        cos, sin = xp.cos(angles)[:, None, None], xp.sin(angles)[:, None, None]
        cy, cx = (height - 1) / 2, (width - 1) / 2
        y = (xp.arange(height, dtype=xp.float32) - cy)[:, None]
        x = (xp.arange(width, dtype=xp.float32) - cx)[None, :]
        # (N, H, W): where each output pixel reads from.
        src_x = xp.subtract(cos * x, sin * y)
        src_x += cx
        src_y = xp.add(sin * x, cos * y)
        src_y += cy
        # Each image gets one extra pixel holding `fill`: positions outside the image read it,
        # so one gather does both (no masking pass afterwards).
        dtype = xp.float32 if self.interpolation == "bilinear" else batch.dtype
        channels = batch.shape[1] if batch.ndim == 4 else 1
        images = xp.empty((n, channels, height * width + 1), dtype)
        images[:, :, :-1] = batch.reshape(n, -1, height * width)
        images[:, :, -1] = self.fill
        if self.interpolation == "nearest":
            rows = xp.rint(src_y, out=src_y).astype(xp.int32)
            cols = xp.rint(src_x, out=src_x).astype(xp.int32)
            return _gather(images, rows, cols).reshape(batch.shape)
        y0, x0 = xp.floor(src_y), xp.floor(src_x)
        dy, dx = (src_y - y0).reshape(n, 1, -1), (src_x - x0).reshape(n, 1, -1)
        y0, x0 = y0.astype(xp.int32), x0.astype(xp.int32)
        top = _gather(images, y0, x0)
        top += dx * (_gather(images, y0, x0 + 1) - top)
        bottom = _gather(images, y0 + 1, x0)
        bottom += dx * (_gather(images, y0 + 1, x0 + 1) - bottom)
        top += dy * (bottom - top)
        if batch.dtype.kind in "iu":
            info = xp.iinfo(batch.dtype)
            top = xp.clip(xp.rint(top, out=top), info.min, info.max, out=top)
        return top.astype(batch.dtype).reshape(batch.shape)


def _gather(images: Any, rows: Any, cols: Any) -> Any:
    """images (N, C, H*W + 1) at int32 positions rows, cols (N, H, W); a position outside the
    H x W image reads the last pixel. Returns (N, C, H*W)."""
    n, channels, size = images.shape
    height, width = rows.shape[1:]
    # Seen as unsigned, a negative position is huge: one comparison per bound.
    inside = rows.view(xp.uint32) < height
    inside &= cols.view(xp.uint32) < width
    flat = rows * width
    flat += cols
    flat -= size - 1
    flat *= inside
    flat += size - 1      # inside: row * width + col; outside: the last pixel
    # One flat gather over the whole batch (much faster than take_along_axis).
    flat = flat.reshape(n, 1, -1) + (xp.arange(n) * (channels * size))[:, None, None]
    if channels > 1:
        flat = flat + (xp.arange(channels) * size)[None, :, None]
    return xp.take(images, flat)


class RandomErasing(Transform):
    """With probability ``p``, set a random rectangle of each image to ``value`` in all channels
    (torchvision's RandomErasing; Zhong et al. 2017).

    The rectangle's area is a fraction of the image drawn uniformly from ``scale``, its aspect
    ratio (height / width) log-uniformly from ``ratio``; of up to 10 draws the first that fits
    inside the image is used (none fitting: the image is left as is), at a uniform position.

    Args:
        p: the probability that an image gets a rectangle.
        scale: (min, max) of the erased fraction of the image's area.
        ratio: (min, max) of the rectangle's aspect ratio.
        value: the erased pixels' value: one number, or one per channel.
    """

    def __init__(self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3),
                 value: float | Sequence[float] = 0) -> None:
        self.p = _probability("RandomErasing", p)
        low, high = _pair("RandomErasing", "scale", scale)
        if not 0 < low <= high <= 1:
            raise ValueError(f"RandomErasing: scale needs 0 < min <= max <= 1; got {scale!r}")
        self.scale = (float(low), float(high))
        low, high = _pair("RandomErasing", "ratio", ratio)
        if not 0 < low <= high:
            raise ValueError(f"RandomErasing: ratio needs 0 < min <= max; got {ratio!r}")
        self.ratio = (float(low), float(high))
        self.value = tuple(float(v) for v in xp.atleast_1d(value))

    def forward(self, batch: Any, rng: Any) -> Any:
        """The batch with the rectangles erased."""
        _check_images(self, batch)
        n, (height, width) = batch.shape[0], batch.shape[-2:]
        channels = batch.shape[1] if batch.ndim == 4 else 1
        if len(self.value) not in (1, channels):
            raise ShapeError(f"RandomErasing has {len(self.value)} values (one per channel), "
                             f"but the batch {shape_str(batch.shape)} has {channels} channel(s)")
        _check_fill(self, "value", self.value, batch.dtype)
        erase = rng.random(n) < self.p
        area = height * width * rng.uniform(*self.scale, size=(n, _ERASE_ATTEMPTS))
        aspect = xp.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]),
                                    size=(n, _ERASE_ATTEMPTS)))
        heights = xp.rint(xp.sqrt(area * aspect)).astype(xp.int64)
        widths = xp.rint(xp.sqrt(area / aspect)).astype(xp.int64)
        fits = (heights > 0) & (heights < height) & (widths > 0) & (widths < width)
        first, images = fits.argmax(axis=1), xp.arange(n)
        erase &= fits[images, first]
        h = xp.where(erase, heights[images, first], 0)
        w = xp.where(erase, widths[images, first], 0)
        top = rng.integers(0, height - h + 1)
        left = rng.integers(0, width - w + 1)
        rows, cols = xp.arange(height), xp.arange(width)
        mask = (((rows >= top[:, None]) & (rows < (top + h)[:, None]))[:, :, None]
                & ((cols >= left[:, None]) & (cols < (left + w)[:, None]))[:, None, :])
        out = batch.copy()
        if batch.ndim == 4:
            mask = mask[:, None]
            value = xp.asarray(self.value, dtype=batch.dtype).reshape(1, -1, 1, 1)
        else:
            value = xp.asarray(self.value, dtype=batch.dtype).reshape(1, 1, 1)
        xp.copyto(out, value, where=mask)
        return out
