"""Toy 2-D classification sets: small, instant, and easy to plot, for trying out models.

Every function returns ``(x, y)``: points ``x`` float32 of shape (n, 2) and labels ``y`` int64 of
shape (n,), in a random order (so that ``x[:k]`` is a fair sample). The same ``seed`` always
gives the same arrays; ``seed=None`` draws from deepgrad's generator (``dg.manual_seed``).
Classes get ``n // classes`` points each, the first ``n % classes`` classes one more.
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator


def _rng(seed: int | None) -> Any:
    return generator() if seed is None else xp.random.default_rng(seed)


def _check(owner: str, n: int, noise: float, classes: int = 2) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, xp.integer)) or n < 1:
        raise ValueError(f"{owner}: n must be a positive integer; got {n!r}")
    if not noise >= 0:
        raise ValueError(f"{owner}: noise must be >= 0; got {noise!r}")
    if isinstance(classes, bool) or not isinstance(classes, (int, xp.integer)) or classes < 2:
        raise ValueError(f"{owner}: classes must be an integer >= 2; got {classes!r}")


def _counts(n: int, classes: int) -> list[int]:
    return [n // classes + (c < n % classes) for c in range(classes)]


def _finish(rng: Any, points: list, labels: list) -> tuple[Any, Any]:
    x = xp.concatenate(points).astype(xp.float32)
    y = xp.concatenate(labels).astype(xp.int64)
    order = rng.permutation(len(y))
    return x[order], y[order]


def make_spiral(n: int, classes: int = 3, noise: float = 0.2, seed: int | None = None
                ) -> tuple[Any, Any]:
    """Interleaved spiral arms, one per class (the CS231n spiral).

    Arm c: radius r from 0 to 1, angle ``2*pi*c/classes + 4*r`` plus ``noise`` times a standard
    normal; the point is ``r * (sin(angle), cos(angle))``.
    """
    _check("make_spiral", n, noise, classes)
    rng = _rng(seed)
    points, labels = [], []
    for c, count in enumerate(_counts(n, classes)):
        r = xp.linspace(0.0, 1.0, count)
        angle = 2 * math.pi * c / classes + 4 * r + noise * rng.standard_normal(count)
        points.append(xp.stack([r * xp.sin(angle), r * xp.cos(angle)], axis=1))
        labels.append(xp.full(count, c))
    return _finish(rng, points, labels)


def make_moons(n: int, noise: float = 0.1, seed: int | None = None) -> tuple[Any, Any]:
    """Two interleaving half circles (scikit-learn's make_moons): class 0 on
    ``(cos t, sin t)``, class 1 on ``(1 - cos t, 0.5 - sin t)``, t evenly in [0, pi], plus
    Gaussian noise of standard deviation ``noise`` on each coordinate."""
    _check("make_moons", n, noise)
    rng = _rng(seed)
    outer, inner = _counts(n, 2)
    t_outer, t_inner = xp.linspace(0, math.pi, outer), xp.linspace(0, math.pi, inner)
    points = [xp.stack([xp.cos(t_outer), xp.sin(t_outer)], axis=1),
              xp.stack([1 - xp.cos(t_inner), 0.5 - xp.sin(t_inner)], axis=1)]
    points = [p + noise * rng.standard_normal(p.shape) for p in points]
    return _finish(rng, points, [xp.zeros(outer), xp.ones(inner)])


def make_circles(n: int, noise: float = 0.05, factor: float = 0.5, seed: int | None = None
                 ) -> tuple[Any, Any]:
    """Two concentric circles (scikit-learn's make_circles): class 0 of radius 1, class 1 of
    radius ``factor``, angles evenly spaced, plus Gaussian noise of standard deviation
    ``noise`` on each coordinate."""
    _check("make_circles", n, noise)
    if not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1); got {factor!r}")
    rng = _rng(seed)
    outer, inner = _counts(n, 2)
    points = []
    for count, radius in ((outer, 1.0), (inner, factor)):
        t = xp.linspace(0, 2 * math.pi, count, endpoint=False)
        ring = radius * xp.stack([xp.cos(t), xp.sin(t)], axis=1)
        points.append(ring + noise * rng.standard_normal(ring.shape))
    return _finish(rng, points, [xp.zeros(outer), xp.ones(inner)])


def make_xor(n: int, noise: float = 0.05, seed: int | None = None) -> tuple[Any, Any]:
    """Points uniform in the square [-1, 1]^2; the label is 1 where the two coordinates have
    different signs (the XOR of their signs), decided before Gaussian noise of standard
    deviation ``noise`` moves the points."""
    _check("make_xor", n, noise)
    rng = _rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(xp.int64)
    x = x + noise * rng.standard_normal(x.shape)
    return _finish(rng, [x], [y])


def make_gaussians(n: int, noise: float = 0.5, seed: int | None = None, classes: int = 2
                   ) -> tuple[Any, Any]:
    """One round Gaussian blob per class, of standard deviation ``noise``, centred at
    ``2 * (cos(2*pi*c/classes), sin(2*pi*c/classes))`` for class c."""
    _check("make_gaussians", n, noise, classes)
    rng = _rng(seed)
    points, labels = [], []
    for c, count in enumerate(_counts(n, classes)):
        angle = 2 * math.pi * c / classes
        center = 2 * xp.array([math.cos(angle), math.sin(angle)])
        points.append(center + noise * rng.standard_normal((count, 2)))
        labels.append(xp.full(count, c))
    return _finish(rng, points, labels)
