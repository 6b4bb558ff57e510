"""``Upsample``: the layer of :func:`deepgrad.nn.functional.interpolate`, resizing (N, C, H, W)
images to a size or by a scale factor, in modes 'nearest' and 'bilinear'; and PyTorch's fixed-mode
``UpsamplingNearest2d`` and ``UpsamplingBilinear2d``."""

from __future__ import annotations

from typing import Any

from deepgrad.nn.module import Module, layer_error
from deepgrad.ops.resample import interpolate
from deepgrad.tensor import Tensor


class Upsample(Module):
    """Resizes (N, C, H, W) -> (N, C, height, width), with ``size = (height, width)`` or
    ``scale_factor`` (the size rounded down); see :func:`~deepgrad.ops.resample.interpolate`
    for the modes and ``align_corners``."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size = size
        # Floats, as PyTorch keeps them (its repr shows scale_factor=2.0).
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise layer_error(self, "(N, C, H, W)", x.shape)
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            return f"scale_factor={self.scale_factor!r}, mode={self.mode!r}"
        return f"size={self.size!r}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample`` in mode 'nearest' (PyTorch's older name for it)."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample`` in mode 'bilinear' with ``align_corners=True``, as PyTorch's (which differs
    from ``Upsample(mode='bilinear')``'s default of False)."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


__all__ = ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]
