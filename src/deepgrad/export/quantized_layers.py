"""Quantized layers: int8 weights and uint8 inputs, simulated around float compute (QDQ).

A quantized layer stores its weight as int8 with a float32 scale per output channel and the
quantization of its input, and computes what ONNX's QDQ format writes in front of a Conv or Gemm::

    x' = DequantizeLinear(QuantizeLinear(x, s_x, z_x), s_x, z_x)   # x on 256 levels
    W  = DequantizeLinear(W_int8, s_w, axis=0)                      # the weight, exactly
    y  = conv(x', W) + b                                            # float compute

One op (:class:`QuantizeOperands`) computes both operands, and its converter writes those three
nodes, so a traced quantized model exports as standard QDQ ONNX (int8 weights as initializers)
and as a runtime artifact a quarter the size of the float one. Rounding and saturation follow
ONNX (round half to even), so deepgrad, the runtime and onnxruntime see the same levels.

Choices:

* Weights: symmetric int8 in [-127, 127], one scale per output channel (``max |w| / 127``):
  no zero point, so a weight of 0 stays 0, and each channel uses its whole range however
  different the channels' magnitudes are (after a folded batch norm they differ a lot).
* Inputs: asymmetric uint8 (``x ~ (q - zero_point) * scale``) over the calibrated range,
  widened to hold 0, which is then exact (zero padding stays exact). Most layers read the output
  of a ReLU (>= 0): [0, max] on 256 levels is twice as fine as symmetric int8's 128 levels, and
  the first layer's normalized images are not centred on 0 either.
* The bias stays float32: it is a few hundred numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepgrad.autograd import Function
from deepgrad.export.convert import CONVERTERS
from deepgrad.export.emit import Emitter
from deepgrad.nn.conv import Conv1d, Conv2d
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import Module, layer_error
from deepgrad.ops import conv
from deepgrad.ops.linear import linear
from deepgrad.tensor import Tensor

_INPUT_LEVELS = 255  # uint8: q in [0, 255]
_WEIGHT_MAX = 127  # int8, symmetric: q in [-127, 127]


def _along_axis0(scale: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel scale (C,) shaped to broadcast along axis 0 of a weight; a scalar as is."""
    return scale.reshape((-1,) + (1,) * (ndim - 1)) if scale.ndim == 1 else scale


def quantize_weight(weight: Any, per_channel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization of a weight whose axis 0 is the output channel.

    ``weight ~ q * scale`` (per channel: ``q[c] * scale[c]``) with ``q`` in [-127, 127] and
    ``scale = max |w| / 127`` over each channel (over the whole weight unless ``per_channel``),
    so that every value is off by at most ``scale / 2``. An all-zero channel gets scale 1.

    Returns:
        ``(q, scale)``: int8 of the weight's shape, and float32 of shape (C,) per channel or ()
        per tensor.
    """
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w.dtype.kind != "f" or w.ndim < 1 or w.size == 0:
        raise ValueError(f"quantize_weight: expects a non-empty float array; got {w.dtype} of "
                         f"shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("quantize_weight: the weight holds NaN or inf values")
    axes = tuple(range(1, w.ndim)) if per_channel else None
    peak = np.abs(w).max(axis=axes).astype(np.float32)
    scale = np.where(peak > 0, peak / np.float32(_WEIGHT_MAX), np.float32(1)).astype(np.float32)
    q = np.rint(w / _along_axis0(scale, w.ndim))
    return np.clip(q, -_WEIGHT_MAX, _WEIGHT_MAX).astype(np.int8), scale


def input_quantization(low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 scale and zero point of inputs observed in [low, high] (widened to hold 0).

    Returns:
        ``(scale, zero_point)``: a float32 scalar and a uint8 scalar (0-d arrays).
    """
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ValueError(f"input_quantization: expects a finite range low <= high; got "
                         f"[{low}, {high}]")
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if high == low:  # only zeros were seen: any scale represents them exactly
        return np.array(1, np.float32), np.array(0, np.uint8)
    scale = np.float32((high - low) / _INPUT_LEVELS)
    zero = np.clip(np.rint(-low / scale), 0, _INPUT_LEVELS)
    return np.array(scale, np.float32), np.array(zero, np.uint8)


class QuantizeOperands(Function):
    """The two operands of a quantized layer's float op, as ONNX's QDQ nodes compute them:
    ``x' = (clip(round(x / s) + z, 0, 255) - z) * s`` and ``W = W_int8 * s_w`` (per axis 0).

    Backward is the straight-through estimator: ``gx = gy`` where ``x`` was inside the
    quantized range, 0 where it was clipped; the weight and the scales get no gradient.
    """

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x, scale, zero_point, weight, weight_scale):
        zero = zero_point.astype(x.dtype)
        # Division, not multiplication by 1/s, and rint (half to even): QuantizeLinear's levels.
        q = np.rint(x / scale)
        q += zero
        if ctx.needs_input_grad[0]:
            ctx.save(inside=(q >= 0) & (q <= _INPUT_LEVELS))
        np.clip(q, 0, _INPUT_LEVELS, out=q)
        q -= zero
        q *= scale
        w = weight.astype(weight_scale.dtype) * _along_axis0(weight_scale, weight.ndim)
        return q, w

    @staticmethod
    def backward(ctx, gy, gw):
        return gy * ctx.inside, None, None, None, None


def _convert_quantize_operands(e: Emitter) -> list:
    scale, zero = e.input(1), e.input(2)
    q = e.one("QuantizeLinear", [e.input(0), scale, zero])
    x = e.one("DequantizeLinear", [q, scale, zero])
    per_axis = {"axis": 0} if e.array(4).ndim == 1 else {}
    w = e.one("DequantizeLinear", [e.input(3), e.input(4)], **per_axis)
    return [x, w]


CONVERTERS[QuantizeOperands] = _convert_quantize_operands


class _QuantizedLayer(Module):
    """The buffers of a quantized layer and its operands.

    Buffers (all in ``state_dict``): ``weight_int8`` (int8, the float layer's weight shape),
    ``weight_scale`` (float32, (out,) per channel or () per tensor), ``bias`` (float32 (out,),
    or None), ``input_scale`` (float32 scalar), ``input_zero_point`` (uint8 scalar).
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: bool, per_channel: bool) -> None:
        super().__init__()
        out = weight_shape[0]
        self.per_channel = per_channel
        self.register_buffer("weight_int8", Tensor(np.zeros(weight_shape, np.int8)))
        self.register_buffer("weight_scale",
                             Tensor(np.ones((out,) if per_channel else (), np.float32)))
        self.register_buffer("bias", Tensor(np.zeros(out, np.float32)) if bias else None)
        self.register_buffer("input_scale", Tensor(np.array(1, np.float32)))
        self.register_buffer("input_zero_point", Tensor(np.array(0, np.uint8)))

    def _fill(self, layer: Module, input_range: tuple[float, float]) -> None:
        """Quantize a float layer's weight (and copy its bias); set the input's quantization."""
        q, scale = quantize_weight(layer.weight, self.per_channel)
        self.weight_int8.data = q
        self.weight_scale.data = scale
        if layer.bias is not None:
            self.bias.data = layer.bias.data.astype(np.float32)
        self.input_scale.data, self.input_zero_point.data = input_quantization(*input_range)

    def _operands(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dtype != self.input_scale.dtype:
            raise TypeError(f"{type(self).__name__}: expects {self.input_scale.dtype} inputs; "
                            f"got {x.dtype}")
        return QuantizeOperands.apply(x, self.input_scale, self.input_zero_point,
                                      self.weight_int8, self.weight_scale)

    def _quantization_repr(self) -> str:
        return f"per_channel={self.per_channel}"


class _QuantizedConv(_QuantizedLayer):
    _spatial = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, per_channel: bool = True) -> None:
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (
            (kernel_size,) * self._spatial)
        super().__init__((out_channels, in_channels // groups, *kernel), bias, per_channel)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    @classmethod
    def from_float(cls, layer: Module, input_range: tuple[float, float],
                   per_channel: bool = True) -> _QuantizedConv:
        """The quantized copy of a float convolution whose inputs span ``input_range``."""
        q = cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                layer.padding, layer.dilation, layer.groups, layer.bias is not None,
                per_channel)
        q._fill(layer, input_range)
        return q

    def _check(self, x: Tensor) -> None:
        n = self._spatial
        if x.ndim not in (n + 1, n + 2) or x.shape[-n - 1] != self.in_channels:
            raise layer_error(self, f"(N, {self.in_channels}, {'H, W' if n == 2 else 'L'})",
                              x.shape)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"bias={self.bias is not None}, {self._quantization_repr()}")


class QuantizedConv2d(_QuantizedConv):
    """Conv2d with int8 weights and uint8 inputs (see the module docstring).
    x: (N, C_in, H, W) -> (N, C_out, H_out, W_out). Build it with :meth:`from_float`."""

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        x, weight = self._operands(x)
        return conv.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)


class QuantizedConv1d(_QuantizedConv):
    """Conv1d with int8 weights and uint8 inputs (see the module docstring).
    x: (N, C_in, L) -> (N, C_out, L_out). Build it with :meth:`from_float`."""

    _spatial = 1

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        x, weight = self._operands(x)
        return conv.conv1d(x, weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)


class QuantizedLinear(_QuantizedLayer):
    """Linear with int8 weights and uint8 inputs (see the module docstring).
    x: (..., in_features) -> (..., out_features). Build it with :meth:`from_float`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 per_channel: bool = True) -> None:
        super().__init__((out_features, in_features), bias, per_channel)
        self.in_features, self.out_features = in_features, out_features

    @classmethod
    def from_float(cls, layer: Linear, input_range: tuple[float, float],
                   per_channel: bool = True) -> QuantizedLinear:
        """The quantized copy of a float Linear whose inputs span ``input_range``."""
        q = cls(layer.in_features, layer.out_features, layer.bias is not None, per_channel)
        q._fill(layer, input_range)
        return q

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise layer_error(self, f"(..., {self.in_features})", x.shape)
        x, weight = self._operands(x)
        return linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, {self._quantization_repr()}")


# The float layers that quantize, and their quantized counterparts.
QUANTIZED: dict[type, Any] = {Conv2d: QuantizedConv2d, Conv1d: QuantizedConv1d,
                              Linear: QuantizedLinear}

__all__ = ["QUANTIZED", "QuantizeOperands", "QuantizedConv1d", "QuantizedConv2d",
           "QuantizedLinear", "input_quantization", "quantize_weight"]
