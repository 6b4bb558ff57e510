"""Label-mixing augmentations: MixUp and CutMix (torchvision.transforms.v2's).

They see a whole labelled batch: ``images, soft_labels = mixup((images, labels), rng)``. Each
image is mixed with the one before it in the batch (the first with the last, torchvision's
``roll(1)`` pairing), by one weight ``lam ~ Beta(alpha, alpha)`` drawn per batch, and the labels
become float32 class probabilities (N, num_classes) that sum to 1 per row:
``lam * one_hot(labels) + (1 - lam) * one_hot(labels rolled by one)``. ``CrossEntropyLoss``
takes such targets as they are.

In a DataLoader, pass them as ``batch_transform``, which runs after ``transform`` and sees the
whole ``(x, y)`` batch::

    loader = DataLoader(train, batch_size=128, shuffle=True, transform=augment,
                        batch_transform=T.CutMix(1.0, num_classes=10))

To pick one of the two per batch, as torchvision's ``RandomChoice([cutmix, mixup])``::

    def cutmix_or_mixup(batch, rng):
        return (cutmix if rng.random() < 0.5 else mixup)(batch, rng)

In a hand-written loop, call them on the batch: ``x, y = mixup((x, y))``.
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import ShapeError, shape_str


class _LabelMixing:
    """Shared by MixUp and CutMix: arguments, batch checks, soft labels."""

    def __init__(self, alpha: float = 1.0, num_classes: int | None = None) -> None:
        name = type(self).__name__
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (
                0 < alpha < math.inf):
            raise ValueError(f"{name}: alpha must be a number > 0 (the Beta(alpha, alpha) "
                             f"distribution of the mixing weight); got {alpha!r}")
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"{name}: num_classes must be a positive int or None; got "
                             f"{num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = num_classes

    def __call__(self, batch: Any, rng: Any = None) -> tuple[Any, Any]:
        """``(images, labels)`` to ``(mixed images, soft labels)``; randomness from ``rng``
        (a NumPy Generator), else deepgrad's global generator."""
        name = type(self).__name__
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            got = (f"a {type(batch).__name__} of {len(batch)}"
                   if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}")
            raise TypeError(f"{name} expects a batch (images, labels); got {got}")
        images, labels = batch[0], xp.asarray(batch[1])
        if not isinstance(images, xp.ndarray) or images.ndim not in (3, 4):
            got = (shape_str(images.shape) if isinstance(images, xp.ndarray)
                   else type(images).__name__)
            raise ShapeError(f"{name} expects images (N, H, W) or (N, C, H, W); got {got}")
        return self.forward(images, self._one_hot(labels, images.shape[0]),
                            generator() if rng is None else rng)

    def forward(self, images: Any, labels: Any, rng: Any) -> tuple[Any, Any]:
        """Mixed images and labels; ``labels`` are class probabilities (N, num_classes)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def _one_hot(self, labels: Any, n: int) -> Any:
        name = type(self).__name__
        if labels.ndim == 1 and labels.dtype.kind in "iu":
            if self.num_classes is None:
                raise ValueError(f"{name}: class-index labels need num_classes to be one-hot "
                                 "encoded; pass num_classes=")
            bad = xp.flatnonzero((labels < 0) | (labels >= self.num_classes))
            if bad.size:
                raise ValueError(f"{name}: label {labels[bad[0]]} at position {bad[0]} is not a "
                                 f"class index in [0, {self.num_classes})")
            soft = xp.zeros((labels.shape[0], self.num_classes), xp.float32)
            soft[xp.arange(labels.shape[0]), labels] = 1
        elif labels.ndim == 2 and labels.dtype.kind == "f" and (
                self.num_classes in (None, labels.shape[1])):
            soft = labels
        else:
            classes = "num_classes" if self.num_classes is None else self.num_classes
            raise ShapeError(f"{name} expects labels as class indices (N,) of an integer dtype "
                             f"or class probabilities (N, {classes}) of a float dtype; got "
                             f"{labels.dtype} of shape {shape_str(labels.shape)}")
        if soft.shape[0] != n:
            raise ShapeError(f"{name}: the batch has {n} images but {soft.shape[0]} labels")
        return soft

    @staticmethod
    def _mix(values: Any, lam: float) -> Any:
        """``lam * values + (1 - lam) * values rolled by one``, torchvision's arithmetic."""
        mixed = xp.roll(values, 1, axis=0) * (1.0 - lam)
        mixed += values * lam
        return mixed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha!r}, num_classes={self.num_classes!r})"


class MixUp(_LabelMixing):
    """Blend each image with the previous one in the batch (Zhang et al. 2018), and their
    labels in the same proportion (torchvision.transforms.v2's MixUp; see the module docs).

    Args:
        alpha: the mixing weight is drawn from Beta(alpha, alpha), once per batch.
        num_classes: the number of classes, to one-hot encode class-index labels (None when
            the labels are already class probabilities).
    """

    def forward(self, images: Any, labels: Any, rng: Any) -> tuple[Any, Any]:
        """``lam * x + (1 - lam) * x_rolled``, the labels likewise."""
        if images.dtype.kind != "f":
            raise TypeError(f"MixUp expects float images; got {images.dtype} (put ToFloat() "
                            "before MixUp)")
        lam = float(rng.beta(self.alpha, self.alpha))
        return self._mix(images, lam), self._mix(labels, lam)


class CutMix(_LabelMixing):
    """Paste a box of the previous image in the batch into each image (Yun et al. 2019), and
    mix the labels by the box's area (torchvision.transforms.v2's CutMix; see the module docs).

    With ``lam ~ Beta(alpha, alpha)``, the box has sides about ``sqrt(1 - lam)`` of the
    image's, centered on a uniform pixel and clipped to the image; the same box for the whole
    batch. The labels weigh the previous image by the box's exact share of the image.

    Args:
        alpha: the Beta(alpha, alpha) parameter of the box size, drawn once per batch.
        num_classes: the number of classes, to one-hot encode class-index labels (None when
            the labels are already class probabilities).
    """

    def forward(self, images: Any, labels: Any, rng: Any) -> tuple[Any, Any]:
        """The images with the box pasted in, same dtype, and the area-weighted labels."""
        lam = float(rng.beta(self.alpha, self.alpha))
        height, width = images.shape[-2:]
        center_x, center_y = int(rng.integers(width)), int(rng.integers(height))
        half = 0.5 * math.sqrt(1.0 - lam)
        half_w, half_h = int(half * width), int(half * height)
        left, top = max(center_x - half_w, 0), max(center_y - half_h, 0)
        right, bottom = min(center_x + half_w, width), min(center_y + half_h, height)
        out = images.copy()
        out[..., top:bottom, left:right] = xp.roll(images[..., top:bottom, left:right], 1,
                                                   axis=0)
        kept = 1.0 - (right - left) * (bottom - top) / (width * height)
        return out, self._mix(labels, kept)
