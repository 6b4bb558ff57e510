"""Value transforms: uint8 to float, per-channel normalization, and random erasing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.data.transforms.core import (
    Transform,
    _check_fill,
    _check_images,
    _pair,
    _probability,
)
from deepgrad.errors import ShapeError, shape_str

_ERASE_ATTEMPTS = 10  # torchvision's number of tries to find a rectangle that fits


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
