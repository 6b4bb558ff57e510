"""Geometric transforms: flips, and rotations and affine maps by inverse mapping.

:class:`RandomRotation` and :class:`RandomAffine` share one sampler, :func:`_warp`: each output
pixel reads the input at ``M @ (x, y, 1)``, with ``M`` a per-image 2x3 matrix in pixel units
relative to the image center ((H - 1) / 2, (W - 1) / 2), the convention of torchvision's tensor
kernels (``affine_grid`` + ``grid_sample`` with ``align_corners=False``).
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
    _probability,
)

_WARP_CHUNK = 1 << 13  # values warped per step (see _warp)


class _RandomFlip(Transform):
    """Mirror each image along ``_axis`` with probability ``p``."""

    _axis: int

    def __init__(self, p: float = 0.5) -> None:
        self.p = _probability(type(self).__name__, p)

    def forward(self, batch: Any, rng: Any) -> Any:
        """The batch with the chosen images mirrored."""
        _check_images(self, batch)
        flipped = xp.flatnonzero(rng.random(batch.shape[0]) < self.p)
        out = batch.copy()
        out[flipped] = xp.flip(batch[flipped], axis=self._axis)
        return out


class RandomHorizontalFlip(_RandomFlip):
    """Mirror each image left-right with probability ``p``."""

    _axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Mirror each image upside down with probability ``p`` (torchvision's RandomVerticalFlip)."""

    _axis = -2


def _degrees(owner: str, degrees: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(degrees, (int, float)):
        if degrees < 0:
            raise ValueError(f"{owner}: degrees must be >= 0 when one number; got {degrees!r}")
        degrees = (-degrees, degrees)
    low, high = _pair(owner, "degrees", degrees)
    if low > high:
        raise ValueError(f"{owner}: degrees (min, max) needs min <= max; got {degrees!r}")
    return float(low), float(high)


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
        self.degrees = _degrees("RandomRotation", degrees)
        self.interpolation = _interpolation("RandomRotation", interpolation)
        self.fill = fill

    def forward(self, batch: Any, rng: Any) -> Any:
        """The rotated batch, same shape and dtype."""
        _check_images(self, batch)
        _check_fill(self, "fill", [self.fill], batch.dtype)
        angles = xp.deg2rad(rng.uniform(*self.degrees, size=batch.shape[0])).astype(xp.float32)
        cos, sin, zero = xp.cos(angles), xp.sin(angles), xp.zeros_like(angles)
        matrices = xp.stack([cos, -sin, zero, sin, cos, zero], axis=1).reshape(-1, 2, 3)
        return _warp(batch, matrices, self.interpolation, self.fill)


class RandomAffine(Transform):
    """A random affine map of each image about its center: rotation, translation, scale and
    shear drawn per image as in torchvision's RandomAffine (same parameters, same matrix);
    pixels from outside the image are ``fill``.

    As in torchvision, a positive angle here turns the image clockwise (``RandomRotation``'s
    turns it counter-clockwise), the translation is a whole number of pixels (a uniform draw,
    rounded), and an x-shear by ``s`` degrees maps the point (x, y) to (x - tan(s) y, y).
    ``RandomAffine((a, a))`` equals ``RandomRotation((-a, -a))``.

    Args:
        degrees: the rotation range in degrees: d for [-d, d], or (min, max).
        translate: (a, b), fractions in [0, 1]: horizontal shifts up to ``a * W`` pixels and
            vertical ones up to ``b * H``, either way; None for none.
        scale: (min, max) of the zoom factor (> 0); None keeps the size.
        shear: the x-shear range in degrees, s for [-s, s] or (min, max), or
            (x_min, x_max, y_min, y_max) to shear along y too; None for none.
        interpolation: ``'nearest'`` or ``'bilinear'``.
        fill: the value of pixels that come from outside the image.
    """

    def __init__(self, degrees: float | tuple[float, float],
                 translate: tuple[float, float] | None = None,
                 scale: tuple[float, float] | None = None,
                 shear: float | tuple[float, ...] | None = None, interpolation: str = "nearest",
                 fill: float = 0) -> None:
        self.degrees = _degrees("RandomAffine", degrees)
        if translate is not None:
            translate = tuple(float(t) for t in _pair("RandomAffine", "translate", translate))
            if not all(0 <= t <= 1 for t in translate):
                raise ValueError("RandomAffine: translate needs fractions of the image size in "
                                 f"[0, 1]; got {translate!r}")
        self.translate = translate
        self.scale = None if scale is None else _interval("RandomAffine", "scale", scale)
        self.shear = None if shear is None else _shears(shear)
        self.interpolation = _interpolation("RandomAffine", interpolation)
        self.fill = fill

    def forward(self, batch: Any, rng: Any) -> Any:
        """The transformed batch, same shape and dtype."""
        _check_images(self, batch)
        _check_fill(self, "fill", [self.fill], batch.dtype)
        n, (height, width) = batch.shape[0], batch.shape[-2:]
        # Drawn in torchvision's order: angle, translation, scale, shear.
        angle = xp.deg2rad(rng.uniform(*self.degrees, size=n))
        tx = ty = xp.zeros(n)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            tx = xp.rint(rng.uniform(-max_dx, max_dx, size=n))
            ty = xp.rint(rng.uniform(-max_dy, max_dy, size=n))
        scale = xp.ones(n) if self.scale is None else rng.uniform(*self.scale, size=n)
        shear_x = shear_y = xp.zeros(n)
        if self.shear is not None:
            shear_x = xp.deg2rad(rng.uniform(*self.shear[:2], size=n))
            if len(self.shear) == 4:
                shear_y = xp.deg2rad(rng.uniform(*self.shear[2:], size=n))
        # torchvision's _get_inverse_affine_matrix with the center at the origin: the forward
        # map is translation . rotation . scale . y-shear . x-shear; this is its inverse.
        cos_y = xp.cos(shear_y)
        a = xp.cos(angle - shear_y) / cos_y
        b = -xp.cos(angle - shear_y) * xp.tan(shear_x) / cos_y - xp.sin(angle)
        c = xp.sin(angle - shear_y) / cos_y
        d = -xp.sin(angle - shear_y) * xp.tan(shear_x) / cos_y + xp.cos(angle)
        inverse = xp.stack([d, -b, -c, a], axis=1).reshape(n, 2, 2) / scale[:, None, None]
        shift = -(inverse @ xp.stack([tx, ty], axis=1)[:, :, None])
        matrices = xp.concatenate([inverse, shift], axis=2).astype(xp.float32)
        return _warp(batch, matrices, self.interpolation, self.fill)


def _shears(shear: Any) -> tuple[float, ...]:
    if isinstance(shear, (int, float)):
        if shear < 0:
            raise ValueError(f"RandomAffine: shear must be >= 0 when one number; got {shear!r}")
        return (-float(shear), float(shear))
    values = tuple(float(s) for s in shear)
    if len(values) not in (2, 4) or values[0] > values[1] or values[-2] > values[-1]:
        raise ValueError("RandomAffine: shear must be a number, (min, max) or (x_min, x_max, "
                         f"y_min, y_max) with each min <= max; got {shear!r}")
    return values


def _warp(batch: Any, matrices: Any, interpolation: str, fill: float) -> Any:
    """``batch`` with output pixel (y, x) of image i read at ``matrices[i] @ (x, y, 1)``, both
    relative to the center (float32 (N, 2, 3) matrices)."""
    n = batch.shape[0]
    out = xp.empty(batch.shape, batch.dtype)
    # A few images at a time: temporaries of a whole batch are given back to the OS after
    # each call and page-fault on the next, which made the whole 2-4x slower.
    step = max(1, _WARP_CHUNK // max(1, math.prod(batch.shape[1:])))
    for start in range(0, n, step):
        out[start:start + step] = _warp_chunk(batch[start:start + step],
                                              matrices[start:start + step], interpolation, fill)
    return out


def _warp_chunk(batch: Any, matrices: Any, interpolation: str, fill: float) -> Any:
    n, (height, width) = batch.shape[0], batch.shape[-2:]
    m = matrices[:, :, :, None, None]
    cy, cx = (height - 1) / 2, (width - 1) / 2
    y = (xp.arange(height, dtype=xp.float32) - cy)[:, None]
    x = (xp.arange(width, dtype=xp.float32) - cx)[None, :]
    # (N, H, W): where each output pixel reads from.
    src_x = xp.add(m[:, 0, 0] * x, m[:, 0, 1] * y)
    src_x += m[:, 0, 2] + xp.float32(cx)
    src_y = xp.add(m[:, 1, 0] * x, m[:, 1, 1] * y)
    src_y += m[:, 1, 2] + xp.float32(cy)
    # Each image gets one extra pixel holding `fill`: positions outside the image read it,
    # so one gather does both (no masking pass afterwards).
    dtype = xp.float32 if interpolation == "bilinear" else batch.dtype
    channels = batch.shape[1] if batch.ndim == 4 else 1
    images = xp.empty((n, channels, height * width + 1), dtype)
    images[:, :, :-1] = batch.reshape(n, -1, height * width)
    images[:, :, -1] = fill
    if interpolation == "nearest":
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
