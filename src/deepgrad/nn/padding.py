"""Padding layers: (N, C, H, W) or (C, H, W) inputs widened along W and H, or (N, C, L) or
(C, L) inputs along L, with a constant, a mirror image of the edges, copies of the edge pixels or
a wrap-around (PyTorch's ``ZeroPad2d``, ``ConstantPad2d``, ``ReflectionPad2d``,
``ReplicationPad2d``, ``CircularPad2d`` and their 1-D twins).

``padding`` is an int for all sides, ``(left, right, top, bottom)`` in 2-D or ``(left, right)``
in 1-D; each layer calls :func:`deepgrad.pad`.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.nn.module import Module, layer_error
from deepgrad.ops.join import pad
from deepgrad.tensor import Tensor

_SIDES = {1: "2 ints (left, right)", 2: "4 ints (left, right, top, bottom)"}
_LAYOUTS = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)"}


def _sides(layer: str, padding: Any, spatial: int) -> tuple[int, ...]:
    """(left, right) or (left, right, top, bottom) from an int or a sequence of ints."""
    def is_int(value: Any) -> bool:
        return isinstance(value, (int, xp.integer)) and not isinstance(value, bool)

    count = 2 * spatial
    sides = (padding,) * count if is_int(padding) else padding
    if isinstance(sides, (tuple, list)) and len(sides) == count and all(map(is_int, sides)):
        return tuple(int(side) for side in sides)
    raise TypeError(f"{layer}: padding must be an int or a tuple of {_SIDES[spatial]}; got "
                    f"{padding!r}")


class _Pad(Module):
    _mode = "constant"
    _spatial = 2

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _sides(type(self).__name__, padding, self._spatial)

    def _check(self, x: Tensor) -> None:
        if x.ndim not in (self._spatial + 1, self._spatial + 2):
            raise layer_error(self, _LAYOUTS[self._spatial], x.shape)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pad(x, self.padding, mode=self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPad(_Pad):
    """Pads with ``value``; negative widths crop."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pad(x, self.padding, value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(_ConstantPad):
    """Pads with ``value``; negative widths crop.   (N, C, H, W) -> (N, C, H + top + bottom,
    W + left + right)."""


class ZeroPad2d(ConstantPad2d):
    """Pads with zeros; negative widths crop.   (N, C, H, W) -> (N, C, H + top + bottom,
    W + left + right)."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(_Pad):
    """Pads with the mirror image of the input, the edge not repeated (each width must be
    smaller than its dimension): [1, 2, 3] padded by 2 on the left is [3, 2, 1, 2, 3]."""

    _mode = "reflect"


class ReplicationPad2d(_Pad):
    """Pads with copies of the edge pixels: [1, 2, 3] padded by 2 on the left is
    [1, 1, 1, 2, 3]."""

    _mode = "replicate"


class CircularPad2d(_Pad):
    """Pads by wrapping around (each width at most its dimension): [1, 2, 3] padded by 2 on the
    left is [2, 3, 1, 2, 3]."""

    _mode = "circular"


class ConstantPad1d(_ConstantPad):
    """Pads with ``value``; negative widths crop.   (N, C, L) -> (N, C, L + left + right)."""

    _spatial = 1


class ZeroPad1d(ConstantPad1d):
    """Pads with zeros; negative widths crop.   (N, C, L) -> (N, C, L + left + right)."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_Pad):
    """Pads with the mirror image of the input, the edge not repeated (each width smaller than
    the length)."""

    _mode = "reflect"
    _spatial = 1


class ReplicationPad1d(_Pad):
    """Pads with copies of the edge values."""

    _mode = "replicate"
    _spatial = 1


class CircularPad1d(_Pad):
    """Pads by wrapping around (each width at most the length)."""

    _mode = "circular"
    _spatial = 1


__all__ = ["CircularPad1d", "CircularPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d",
           "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d", "ZeroPad2d"]
