"""Piecewise-linear activations: hardtanh, relu6, hardsigmoid, hardswish and prelu.

Each is a Function of its own because PyTorch's gradients at the kinks differ from what a
composition gives: hardtanh's gradient is 0 on the boundaries (clamp's is 1), hardswish's is 0 at
x = -3 and 1 at x = 3, and prelu's is the weight at x = 0. Their values follow PyTorch's
arithmetic step by step, so that float32 results round as PyTorch's do.
"""

from __future__ import annotations

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import unbroadcast
from deepgrad.ops.activations import _check_floating, _filled, _number, _scratch
from deepgrad.tensor import Tensor


class Hardtanh(Function):
    """y = min(max(x, low), high);  gx = gy where low < x < high, 0 on the boundaries."""

    @staticmethod
    def forward(ctx, x, low, high):
        y = _filled(x, low)
        xp.maximum(x, y, out=y)
        xp.minimum(y, _filled(x, high), out=y)
        if ctx.needs_input_grad[0]:
            inside = x > low
            inside &= x < high
            ctx.save(inside=inside)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = ctx.inside.astype(gy.dtype)
        gx *= gy
        return gx, None, None


def _relu6_of_shifted(x):
    """min(max(x + 3, 0), 6), the ramp that hardsigmoid and hardswish share."""
    y = _scratch(x + 3.0)
    xp.maximum(y, _filled(y, 0), out=y)
    xp.minimum(y, _filled(y, 6.0), out=y)
    return y


class Hardsigmoid(Function):
    """y = min(max(x + 3, 0), 6) / 6;  gx = gy / 6 where -3 < x < 3, else 0."""

    @staticmethod
    def forward(ctx, x):
        y = _relu6_of_shifted(x)
        y /= 6.0
        if ctx.needs_input_grad[0]:
            inside = x > -3.0
            inside &= x < 3.0
            ctx.save(inside=inside)
        return y

    @staticmethod
    def backward(ctx, gy):
        # PyTorch multiplies by 1/6 rounded to float32 even for float64 (a relative error of
        # 3e-8); this is the exact 1/6.
        gx = ctx.inside.astype(gy.dtype)
        gx *= gy
        gx /= 6.0
        return gx


class Hardswish(Function):
    """y = x * min(max(x + 3, 0), 6) / 6;  gx = 0 for x <= -3, gy * (x / 3 + 1/2) for
    -3 < x < 3 and gy for x >= 3."""

    @staticmethod
    def forward(ctx, x):
        y = _relu6_of_shifted(x)
        y *= x
        y /= 6.0
        if ctx.needs_input_grad[0]:
            ctx.save(x=x)
        return y

    @staticmethod
    def backward(ctx, gy):
        x = ctx.x
        # Masks multiplied in rather than copyto(where=...), which measured 5x slower on
        # random signs; x is clamped first so that infinite inputs give 0 and 1, not nan.
        gx = _filled(x, -3.0)
        xp.maximum(x, gx, out=gx)
        xp.minimum(gx, _filled(x, 3.0), out=gx)
        gx /= 3.0
        gx += 0.5
        above = x >= 3.0
        inside = x > -3.0
        inside &= ~above
        gx *= inside
        gx += above
        gx *= gy
        return gx


class PReLU(Function):
    """y = x if x > 0 else w * x, w = weight reshaped to ``shape`` (one per channel, broadcast);
    gx = gy if x > 0 else w * gy, gweight = sum of x * gy where x <= 0."""

    @staticmethod
    def forward(ctx, x, weight, *, shape):
        w = weight.reshape(shape)
        positive = x > 0
        # A select rather than max(x, w * x): the weights may lie on either side of 1.
        y = xp.where(positive, x, x * w)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            ctx.save(positive=positive, w=w, weight_shape=weight.shape,
                     x=x if ctx.needs_input_grad[1] else None)
        return y

    @staticmethod
    def backward(ctx, gy):
        positive, w = ctx.positive, ctx.w
        gx = xp.where(positive, gy, gy * w) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            gw = unbroadcast(xp.where(positive, 0.0, ctx.x * gy).astype(gy.dtype, copy=False),
                             w.shape).reshape(ctx.weight_shape)
        return gx, gw


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """Elementwise min(max(x, min_val), max_val); the gradient is 0 on both boundaries.

    Raises:
        ValueError: if ``min_val > max_val``.
    """
    low = _number("hardtanh", "min_val", min_val)
    high = _number("hardtanh", "max_val", max_val)
    if low > high:
        raise ValueError(f"hardtanh: min_val ({low}) cannot be greater than max_val ({high})")
    return Hardtanh.apply(x, low, high)


def relu6(x: Tensor) -> Tensor:
    """Elementwise min(max(x, 0), 6), which is ``hardtanh(x, 0, 6)``."""
    return Hardtanh.apply(x, 0.0, 6.0)


def hardsigmoid(x: Tensor) -> Tensor:
    """Elementwise relu6(x + 3) / 6, a piecewise-linear sigmoid."""
    _check_floating("hardsigmoid", x)
    return Hardsigmoid.apply(x)


def hardswish(x: Tensor) -> Tensor:
    """Elementwise x * relu6(x + 3) / 6, MobileNetV3's piecewise-linear swish."""
    _check_floating("hardswish", x)
    return Hardswish.apply(x)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """Elementwise x for x > 0, else weight * x, with a learned slope per channel (dimension 1
    of ``x``) or one slope for all: ``weight`` has 1 element or one per channel.

    Raises:
        TypeError: for a weight that is not a tensor or whose dtype differs from ``x``'s.
        ShapeError: for a weight with more than one dimension or a wrong number of elements.
    """
    _check_floating("prelu", x)
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu: weight must be a Tensor, got {type(weight).__name__}")
    if weight.data.dtype != x.data.dtype:
        raise TypeError(f"prelu: weight has dtype {weight.data.dtype} but the input has "
                        f"{x.data.dtype}; convert one with .to()")
    if weight.ndim > 1:
        raise ShapeError(f"prelu: weight must have 0 or 1 dimensions; got shape "
                         f"{shape_str(weight.shape)}")
    count = weight.data.size
    if count == 1:
        return PReLU.apply(x, weight, shape=())
    channels = x.shape[1] if x.ndim > 1 else 1
    if x.ndim == 0 or channels != count:
        raise ShapeError(f"prelu: weight has {count} elements but the input of shape "
                         f"{shape_str(x.shape)} has {channels if x.ndim else 'no'} channels "
                         f"(dimension 1); give one weight per channel or a single one")
    return PReLU.apply(x, weight, shape=(1, count) + (1,) * (x.ndim - 2))


# PyTorch has prelu as a Tensor method and as torch.prelu; the others only in nn.functional.
METHODS = {"prelu": prelu}
__all__ = ["prelu"]
