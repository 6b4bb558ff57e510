"""Pooling layers: max, average and power-average (LP) over windows, and adaptive (global)
average and max pooling."""

from __future__ import annotations

from typing import Any

from deepgrad.nn.module import Module, layer_error
from deepgrad.ops import pool, pool_variants
from deepgrad.ops.adaptive_pool import adaptive_max_pool2d
from deepgrad.tensor import Tensor


class _Pool(Module):
    _spatial = 2

    def _check(self, x: Tensor) -> None:
        n = self._spatial
        if x.ndim not in (n + 1, n + 2):
            raise layer_error(self, "(N, C, H, W) or (C, H, W)" if n == 2 else
                              "(N, C, L) or (C, L)", x.shape)


class MaxPool2d(_Pool):
    """Maximum over ``kernel_size`` windows.   (N, C, H, W) -> (N, C, H_out, W_out)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        self._check(x)
        return pool.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                               self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool):
    """Average over ``kernel_size`` windows.   (N, C, H, W) -> (N, C, H_out, W_out)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                               self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, "
                f"padding={self.padding}")


class AdaptiveAvgPool2d(_Pool):
    """Average pooling to a fixed ``output_size``; ``1`` is global average pooling."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_Pool):
    """Max pooling to a fixed ``output_size`` (windows of unequal sizes when it does not divide
    the input size); ``return_indices`` also returns each max's flat index in its plane."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Any:
        self._check(x)
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(_Pool):
    """Maximum over ``kernel_size`` windows.   (N, C, L) -> (N, C, L_out)."""

    _spatial = 1

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0,
                 dilation: int = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                               self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, "
                f"padding={self.padding}")


class AvgPool1d(_Pool):
    """Average over ``kernel_size`` windows.   (N, C, L) -> (N, C, L_out)."""

    _spatial = 1

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                               self.count_include_pad)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, "
                f"padding={self.padding}")


class AdaptiveAvgPool1d(_Pool):
    """Average pooling to a fixed length ``output_size``.   (N, C, L) -> (N, C, output_size)."""

    _spatial = 1

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool_variants.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_Pool):
    """Max pooling to a fixed length ``output_size``; ``return_indices`` also returns each max's
    position along L.   (N, C, L) -> (N, C, output_size)."""

    _spatial = 1

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Any:
        self._check(x)
        return pool_variants.adaptive_max_pool1d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _LPPool(_Pool):
    """The settings of the power-average pools, in PyTorch's order."""

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPool):
    """Power-average pooling, (sum of x**norm_type over each window)**(1 / norm_type).
    (N, C, L) -> (N, C, L_out)."""

    _spatial = 1

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool_variants.lp_pool1d(x, self.norm_type, self.kernel_size, self.stride,
                                       self.ceil_mode)


class LPPool2d(_LPPool):
    """Power-average pooling over 2-D windows.   (N, C, H, W) -> (N, C, H_out, W_out)."""

    _spatial = 2

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return pool_variants.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride,
                                       self.ceil_mode)


__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "LPPool1d",
    "LPPool2d",
    "MaxPool1d",
    "MaxPool2d",
]
