"""Layers that rearrange images: PixelShuffle and PixelUnshuffle, ChannelShuffle, and Unfold and
Fold (im2col and col2im), the modules of the functions in :mod:`deepgrad.ops.pixel`."""

from __future__ import annotations

from typing import Any

from deepgrad.nn.module import Module, layer_error
from deepgrad.ops import pixel
from deepgrad.tensor import Tensor


class PixelShuffle(Module):
    """Channels to space.   (*, C * r**2, H, W) -> (*, C, H * r, W * r), r = upscale_factor."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        r2 = self.upscale_factor ** 2
        if x.ndim < 3 or x.shape[-3] % r2:
            raise layer_error(self, f"(*, C, H, W) with C divisible by {r2}", x.shape)
        return pixel.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Space to channels.   (*, C, H * r, W * r) -> (*, C * r**2, H, W), r = downscale_factor."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        r = self.downscale_factor
        if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
            raise layer_error(self, f"(*, C, H, W) with H and W divisible by {r}", x.shape)
        return pixel.pixel_unshuffle(x, r)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleaves the channels of ``groups`` groups (ShuffleNet).   (N, C, *), same shape."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 3 or x.shape[1] % self.groups:
            raise layer_error(self, f"(N, C, *) with C divisible by {self.groups}", x.shape)
        return pixel.channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Unfold(Module):
    """Sliding blocks as columns (im2col).   (N, C, H, W) -> (N, C * kH * kW, L); see
    :func:`deepgrad.nn.functional.unfold`."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (3, 4):
            raise layer_error(self, "(N, C, H, W) or (C, H, W)", x.shape)
        return pixel.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Columns summed back into an image (col2im).   (N, C * kH * kW, L) -> (N, C,
    *output_size); see :func:`deepgrad.nn.functional.fold`."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3):
            raise layer_error(self, "(N, C * kH * kW, L) or (C * kH * kW, L)", x.shape)
        return pixel.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                          self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


__all__ = ["ChannelShuffle", "Fold", "PixelShuffle", "PixelUnshuffle", "Unfold"]
