"""Padding layers: (N, C, H, W) or (C, H, W) inputs widened along W and H with a constant, a
mirror image of the edges, copies of the edge pixels or a wrap-around (PyTorch's ``ZeroPad2d``,
``ConstantPad2d``, ``ReflectionPad2d``, ``ReplicationPad2d`` and ``CircularPad2d``).

``padding`` is an int for all four sides or ``(left, right, top, bottom)``; each layer calls
:func:`deepgrad.pad`.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.nn.module import Module, layer_error
from deepgrad.ops.join import pad
from deepgrad.tensor import Tensor


def _four_sides(layer: str, padding: Any) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) from an int or a sequence of four ints."""
    def is_int(value: Any) -> bool:
        return isinstance(value, (int, xp.integer)) and not isinstance(value, bool)

    sides = (padding,) * 4 if is_int(padding) else padding
    if isinstance(sides, (tuple, list)) and len(sides) == 4 and all(map(is_int, sides)):
        left, right, top, bottom = (int(side) for side in sides)
        return left, right, top, bottom
    raise TypeError(f"{layer}: padding must be an int or a tuple of 4 ints (left, right, top, "
                    f"bottom); got {padding!r}")


class _Pad2d(Module):
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _four_sides(type(self).__name__, padding)

    def _check(self, x: Tensor) -> None:
        if x.ndim not in (3, 4):
            raise layer_error(self, "(N, C, H, W) or (C, H, W)", x.shape)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pad(x, self.padding, mode=self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad2d(_Pad2d):
    """Pads with ``value``; negative widths crop.   (N, C, H, W) -> (N, C, H + top + bottom,
    W + left + right)."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pad(x, self.padding, value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """Pads with zeros; negative widths crop.   (N, C, H, W) -> (N, C, H + top + bottom,
    W + left + right)."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    """Pads with the mirror image of the input, the edge not repeated (each width must be
    smaller than its dimension): [1, 2, 3] padded by 2 on the left is [3, 2, 1, 2, 3]."""

    _mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Pads with copies of the edge pixels: [1, 2, 3] padded by 2 on the left is
    [1, 1, 1, 2, 3]."""

    _mode = "replicate"


class CircularPad2d(_Pad2d):
    """Pads by wrapping around (each width at most its dimension): [1, 2, 3] padded by 2 on the
    left is [2, 3, 1, 2, 3]."""

    _mode = "circular"


__all__ = ["CircularPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "ZeroPad2d"]
