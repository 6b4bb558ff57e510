"""The Transform base class, Compose and Lambda, and the argument checks the families share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import ShapeError, shape_str


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


def _size(owner: str, value: Any) -> tuple[int, int]:
    """An image size (height, width) of positive ints, from an int (square) or a pair."""
    size = _pair(owner, "size", value)
    if not all(isinstance(s, (int, xp.integer)) and not isinstance(s, bool) and s >= 1
               for s in size):
        raise ValueError(f"{owner}: size must be a positive int or a pair of them; got "
                         f"{value!r}")
    return int(size[0]), int(size[1])


def _interval(owner: str, name: str, value: Any, low: float = 0.0) -> tuple[float, float]:
    """A (min, max) range with ``low < min <= max``."""
    first, last = _pair(owner, name, value)
    if not low < first <= last:
        raise ValueError(f"{owner}: {name} needs {low:g} < min <= max; got {value!r}")
    return float(first), float(last)


def _interpolation(owner: str, interpolation: str) -> str:
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"{owner}: interpolation must be 'nearest' or 'bilinear'; got "
                         f"{interpolation!r}")
    return interpolation


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


class Lambda(Transform):
    """Apply a function of the batch alone, ``fn(batch) -> batch`` (torchvision's Lambda): a
    deterministic step inside :class:`Compose`, e.g. ``Lambda(lambda x: x[:, :1])``.

    ``fn`` must not modify its argument in place (transforms leave their input unchanged).
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: fn must be callable; got {type(fn).__name__}")
        self.fn = fn

    def forward(self, batch: Any, rng: Any) -> Any:
        """``fn(batch)``."""
        return self.fn(batch)

    def __repr__(self) -> str:
        return f"Lambda(fn={getattr(self.fn, '__qualname__', type(self.fn).__name__)})"
