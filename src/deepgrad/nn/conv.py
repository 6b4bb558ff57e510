"""Convolution layers (NCHW / NCL): Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, and
SeparableConv2d (a depthwise convolution, ``groups=in_channels``, then a 1x1 pointwise one)."""

from __future__ import annotations

import math
from typing import Any

from deepgrad.creation import empty
from deepgrad.nn import init
from deepgrad.nn.module import Module, Parameter, layer_error
from deepgrad.ops import conv
from deepgrad.tensor import Tensor


def _tuple(value: Any, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _ConvNd(Module):
    """Shared parts: the parameters, PyTorch's initialization, the input check, the repr."""

    _spatial = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 output_padding: Any = 0) -> None:
        super().__init__()
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        n = self._spatial
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n)
        self.dilation = _tuple(dilation, n)
        self.output_padding = _tuple(output_padding, n)
        self.groups = groups
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups))
        self.weight = Parameter(empty(*shape, *self.kernel_size))
        self.bias = Parameter(empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight, the bias uniform in
        +-1/sqrt(fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _check(self, x: Tensor) -> None:
        n = self._spatial
        if x.ndim not in (n + 1, n + 2) or x.shape[-n - 1] != self.in_channels:
            dims = "H, W" if n == 2 else "L"
            hint = ""
            if x.ndim in (n + 1, n + 2):
                got = x.shape[-n - 1]
                hint = (f"The layer has in_channels={self.in_channels}, but the data has {got} "
                        f"channel{'s' if got != 1 else ''}")
                if x.ndim == n + 1:  # torch's unbatched form, often a batch missing its C axis
                    hint += (f" (a {n + 1}-D input is one sample without a batch axis, its first "
                             f"axis the channels")
                    hint += (": for a batch of one-channel inputs add the channel axis, "
                             "x.unsqueeze(1))" if self.in_channels == 1 else ")")
                elif x.shape[-1] == self.in_channels:  # Keras' and PIL's channels-last layout
                    order = ", ".join(str(d) for d in (0, n + 1, *range(1, n + 1)))
                    hint += (f"; its last axis has {self.in_channels}: channels-last data "
                             f"becomes channels-first with x.permute({order})")
            raise layer_error(self, f"(N, {self.in_channels}, {dims})", x.shape, hint)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ("valid", (0,) * self._spatial):
            text += f", padding={self.padding!r}" if isinstance(self.padding, str) else \
                f", padding={self.padding}"
        if self.dilation != (1,) * self._spatial:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._spatial:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-D convolution.   x: (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    ``padding`` may be an int, a pair, ``'valid'`` or ``'same'``; ``groups=in_channels`` makes
    it depthwise.
    """

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return conv.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)


class Conv1d(_ConvNd):
    """1-D convolution.   x: (N, C_in, L) -> (N, C_out, L_out)."""

    _spatial = 1

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return conv.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)


class _ConvTransposeNd(_ConvNd):
    """PyTorch's argument order for the transposed convolutions (output_padding before groups)."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, output_padding)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (the gradient of Conv2d with respect to its input), used to
    upsample.   x: (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return conv.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                     self.output_padding, self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution.   x: (N, C_in, L) -> (N, C_out, L_out) with
    L_out = (L - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1."""

    _spatial = 1

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return conv.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                     self.output_padding, self.groups, self.dilation)


class SeparableConv2d(Module):
    """Depthwise separable convolution (MobileNet's block): a depthwise ``kernel_size``
    convolution with ``depth_multiplier`` filters per input channel, then a 1x1 pointwise
    convolution to ``out_channels``. Far fewer weights and operations than a full Conv2d."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, depth_multiplier: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.depthwise = Conv2d(in_channels, in_channels * depth_multiplier, kernel_size,
                                stride, padding, groups=in_channels, bias=False)
        self.pointwise = Conv2d(in_channels * depth_multiplier, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "SeparableConv2d"]
