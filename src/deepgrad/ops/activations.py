"""Activation functions: sigmoid, relu, leaky_relu, elu, gelu, silu, softplus, clamp.

These run in every training step, so forward and backward work in place on freshly allocated
temporaries and use what measured fastest in NumPy: branch-free arithmetic rather than
``xp.where`` (a select on a mask that flips at random, like the sign of activations, is several
times slower than a multiply by that mask) and ``maximum``/``minimum`` against a filled array
rather than a scalar for arrays in cache (the array-array loops ran faster there; ReLU, on
activations of many MiB, uses the scalar above 1 MiB, which saves the fill's pass over memory).
With numba, ReLU's input gradient over 256 KiB is one compiled pass. Python floats serve as
constants so that float32 stays float32.
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.ops._erf import erf
from deepgrad.ops._kernels import compiled
from deepgrad.ops.elementwise import float_input
from deepgrad.parallel import blockwise
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, check_tensor

_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_TANH_CUBIC = 0.044715
_GELU_APPROXIMATIONS = ("none", "tanh")

_ndarray = xp.ndarray


def _scratch(a: Any) -> Any:
    """``a`` as an array that ``out=`` accepts: ufuncs return NumPy scalars for 0-d operands."""
    return a if type(a) is _ndarray else xp.asarray(a)


_IN_CACHE_BYTES = 1 << 20
"""Below this size NumPy's maximum of two arrays runs faster than its maximum with a scalar
(1.35x at 128 x 256 float32), so ReLU fills an array of zeros; above it, the memory pass that
the zeros cost outweighs that (the scalar form 1.4x faster at 128 x 64 x 28 x 28)."""


_COMPILED_GRAD_BYTES = 1 << 18
"""ReLU's compiled gradient pass from this size on: below, its call costs more than the NumPy
passes it replaces (equal at 128 x 256 float32, 1.3x slower at 32 x 128, 1.3x faster at
128 x 1024)."""


def _filled(x: Any, value: float) -> Any:
    """A new array like ``x`` (in its memory layout) holding ``value``, the second operand of a
    fast maximum/minimum."""
    if not x.flags.c_contiguous:  # e.g. a channel-major activation: keep its layout
        return xp.full_like(x, value)
    # xp.zeros(shape) skips zeros_like's Python-level wrapper: measurably faster on small arrays.
    return xp.zeros(x.shape, x.dtype) if value == 0 else xp.full(x.shape, value, x.dtype)


def _in_memory_order(a: Any) -> Any:
    """``a`` as a 1-D view of its values in the order of its memory (a channel-major NCHW
    array channel by channel), or None when that memory has gaps."""
    view = a.transpose(sorted(range(a.ndim), key=lambda axis: a.strides[axis], reverse=True))
    return view.reshape(-1) if view.flags.c_contiguous else None


def _sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) as a new array, without overflow warnings."""
    # exp(-x) overflows to inf for x below about -88 (float32) or -709 (float64), and
    # 1 / (1 + inf) = 0 is the correctly rounded limit, so the overflow is harmless. The formula
    # has no cancellation: its relative error stays within a few ulps for every x.
    with xp.errstate(over="ignore"):
        s = _scratch(xp.negative(x))
        xp.exp(s, out=s)
    s += 1.0
    return xp.divide(1.0, s, out=s)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  gx = gy * y * (1 - y) (from the output, saves no input)."""

    @staticmethod
    def forward(ctx, x):
        y = _sigmoid(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        gx = xp.subtract(1.0, y)
        gx *= y
        gx *= gy
        return gx


class ReLU(Function):
    """y = max(x, 0);  gx = gy * (x > 0) (0 at x = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        if x.nbytes < _IN_CACHE_BYTES:
            y = _filled(x, 0)
            blockwise(lambda xb, yb: xp.maximum(xb, yb, out=yb), x, y)
        else:
            y = xp.empty(x.shape, x.dtype) if x.flags.c_contiguous else xp.empty_like(x)
            zero = x.dtype.type(0)
            blockwise(lambda xb, yb: xp.maximum(xb, zero, out=yb), x, y)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        gx = xp.empty(y.shape, gy.dtype) if y.flags.c_contiguous else xp.empty_like(y, gy.dtype)
        kernels = compiled() if y.nbytes >= _COMPILED_GRAD_BYTES else None
        if (kernels is not None and gy.strides == y.strides and gy.dtype == y.dtype
                and _in_memory_order(y) is not None):
            # One memory layout without gaps (gx's is y's): the blocks are runs of memory.
            blockwise(lambda *blocks: kernels.relu_grad(*map(_in_memory_order, blocks)),
                      y, gy, gx)
            return gx

        def grad(y: Any, g: Any, out: Any) -> None:
            # y > 0 exactly where x > 0. Writing the mask as floats, then multiplying in place,
            # measured faster than one multiply that mixes bool and float (as in Clamp).
            xp.greater(y, 0.0, out=out)
            out *= g

        blockwise(grad, ctx.y, gy, gx)
        return gx


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  gx = gy if x > 0 else gy * slope (slope at x = 0)."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        # max(x, slope * x) for slope <= 1 and min(x, slope * x) for slope > 1 select the right
        # branch for either sign of x, without a mask.
        y = _scratch(x * negative_slope)
        (xp.maximum if negative_slope <= 1 else xp.minimum)(x, y, out=y)
        if ctx.needs_input_grad[0]:
            ctx.save(positive=x > 0, negative_slope=negative_slope)
        return y

    @staticmethod
    def backward(ctx, gy):
        slope, positive = ctx.negative_slope, ctx.positive
        # slope - slope * positive + positive: exactly 1 where x > 0 and slope elsewhere.
        factor = xp.multiply(positive, -slope, dtype=gy.dtype)
        factor += slope
        factor += positive
        factor *= gy
        return factor, None


class ELU(Function):
    """y = x if x > 0 else alpha * (exp(x) - 1);  gx = gy if x > 0 else gy * alpha * exp(x)."""

    @staticmethod
    def forward(ctx, x, alpha):
        # alpha * expm1(min(x, 0)) is 0 for x > 0 and max(x, 0) is 0 for x <= 0: their sum is
        # each branch exactly, with expm1 accurate near 0 and no overflow for large x.
        y = _filled(x, 0)
        xp.minimum(x, y, out=y)
        xp.expm1(y, out=y)
        y *= alpha
        y += xp.maximum(x, _filled(x, 0))
        if ctx.needs_input_grad[0]:
            ctx.save(x=x, alpha=alpha)
        return y

    @staticmethod
    def backward(ctx, gy):
        x = ctx.x
        # exp(x) from the input, not y + alpha from the output: that cancels for x << 0 and
        # loses every digit of a float32 gradient below x = -17.
        positive = x > 0
        factor = _filled(x, 0)
        xp.minimum(x, factor, out=factor)
        xp.exp(factor, out=factor)
        # positive + alpha * (e - positive): exactly 1 where x > 0 (e = 1 there), alpha * e
        # elsewhere, without a select.
        factor -= positive
        factor *= ctx.alpha
        factor += positive
        factor *= gy
        return factor, None


class GELU(Function):
    """y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  gx = gy * (Phi(x) + x * phi(x)),
    phi(x) = exp(-x**2 / 2) / sqrt(2 pi)."""

    @staticmethod
    def forward(ctx, x):
        kernels = compiled()
        if kernels is not None and x.dtype.kind == "f":  # the same numbers in one pass
            y, cdf = xp.empty(x.shape, x.dtype), xp.empty(x.shape, x.dtype)
            kind = x.dtype.type
            kernels.gelu(x.reshape(-1), y.reshape(-1), cdf.reshape(-1), kind(_INV_SQRT2),
                         kind(1.0), kind(0.5))
        else:
            cdf = erf(x * _INV_SQRT2)
            cdf += 1.0
            cdf *= 0.5
            y = x * cdf
        if ctx.needs_input_grad[0]:
            ctx.save(x=x, cdf=cdf)
        return y

    @staticmethod
    def backward(ctx, gy):
        x = ctx.x
        with xp.errstate(over="ignore"):  # x**2 = inf gives exp(-inf) = 0, the right density
            gx = _scratch(x * x)
        gx *= -0.5
        xp.exp(gx, out=gx)
        gx *= _INV_SQRT_2PI
        gx *= x
        gx += ctx.cdf
        gx *= gy
        return gx


class GELUTanh(Function):
    """y = x (1 + tanh(u)) / 2 = x * s, u = sqrt(2/pi) (x + 0.044715 x**3), s = sigmoid(2u);
    gx = gy * (s + x * s * (1 - s) * 2 sqrt(2/pi) (1 + 3 * 0.044715 x**2))."""

    @staticmethod
    def forward(ctx, x):
        # The sigmoid form avoids 1 + tanh(u) and 1 - tanh(u)**2, which cancel for x << 0, and
        # exp is cheaper than tanh.
        s = _scratch(x * x)
        s *= -2 * _SQRT_2_OVER_PI * _GELU_TANH_CUBIC
        s -= 2 * _SQRT_2_OVER_PI
        s *= x
        with xp.errstate(over="ignore"):  # exp(-2u) = inf for x << 0 gives s = 0, the limit
            xp.exp(s, out=s)
        s += 1.0
        xp.divide(1.0, s, out=s)
        if ctx.needs_input_grad[0]:
            ctx.save(x=x, s=s)
        return x * s

    @staticmethod
    def backward(ctx, gy):
        x, s = ctx.x, ctx.s
        gx = x * x
        gx *= 6 * _SQRT_2_OVER_PI * _GELU_TANH_CUBIC
        gx += 2 * _SQRT_2_OVER_PI
        gx *= x
        gx *= xp.subtract(1.0, s)
        gx *= s
        gx += s
        gx *= gy
        return gx


class SiLU(Function):
    """y = x * s, s = sigmoid(x);  gx = gy * s * (1 + x * (1 - s))."""

    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(x)
        if ctx.needs_input_grad[0]:
            ctx.save(x=x, s=s)
        return x * s

    @staticmethod
    def backward(ctx, gy):
        s = ctx.s
        gx = xp.subtract(1.0, s)
        gx *= ctx.x
        gx += 1.0
        gx *= s
        gx *= gy
        return gx


class Softplus(Function):
    """y = log(1 + exp(beta x)) / beta, or x where beta x > threshold;
    gx = gy * sigmoid(beta x), or gy where beta x > threshold."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        z = _scratch(x * beta)
        above = z > threshold
        # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): exp never overflows.
        e = _scratch(xp.abs(z))
        xp.negative(e, out=e)
        xp.exp(e, out=e)
        y = _scratch(xp.log1p(e))
        if ctx.needs_input_grad[0]:
            # sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0; as e <= 1, the
            # numerator is max(e, z >= 0).
            s = _scratch(xp.maximum(e, z >= 0))
            e += 1.0
            s /= e
            xp.copyto(s, 1.0, where=above)
            ctx.save(s=s)
        y += xp.maximum(z, _filled(z, 0), out=z)
        y /= beta
        xp.copyto(y, x, where=above)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.s, None, None


class Clamp(Function):
    """y = min(max(x, low), high);  gx = gy where low <= x <= high (boundaries included)."""

    @staticmethod
    def forward(ctx, x, low, high):
        if low is None:
            y = _filled(x, high)
            xp.minimum(x, y, out=y)
        else:
            y = _filled(x, low)
            xp.maximum(x, y, out=y)
            if high is not None:
                xp.minimum(y, _filled(x, high), out=y)
        if ctx.needs_input_grad[0]:
            if low is None:
                inside = x <= high
            else:
                inside = x >= low
                if high is not None:
                    inside &= x <= high
            ctx.save(inside=inside)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = ctx.inside.astype(gy.dtype)
        gx *= gy
        return gx, None, None


def _number(op: str, name: str, value: Any) -> int | float:
    """A Python int or float from a number argument (NumPy scalars included), or a TypeError."""
    if isinstance(value, xp.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    return value


def _check_floating(op: str, x: Tensor) -> None:
    if check_tensor(op, x).data.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating-point tensor, got dtype {x.data.dtype}")


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise logistic sigmoid 1 / (1 + exp(-x)); integer tensors give float32."""
    return Sigmoid.apply(float_input("sigmoid", x))


def relu(x: Tensor) -> Tensor:
    """Elementwise max(x, 0); the gradient at 0 is 0."""
    return ReLU.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Elementwise x for x > 0, else negative_slope * x."""
    _check_floating("leaky_relu", x)
    return LeakyReLU.apply(x, _number("leaky_relu", "negative_slope", negative_slope))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Elementwise x for x > 0, else alpha * (exp(x) - 1)."""
    _check_floating("elu", x)
    return ELU.apply(x, _number("elu", "alpha", alpha))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x); ``approximate='tanh'`` uses the tanh formula."""
    if approximate not in _GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    _check_floating("gelu", x)
    return (GELU if approximate == "none" else GELUTanh).apply(x)


def silu(x: Tensor) -> Tensor:
    """Elementwise x * sigmoid(x) (also called swish)."""
    _check_floating("silu", x)
    return SiLU.apply(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Elementwise log(1 + exp(beta * x)) / beta, reverting to x where beta * x > threshold."""
    _check_floating("softplus", x)
    beta = _number("softplus", "beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero (the result divides by beta), got 0")
    return Softplus.apply(x, beta, _number("softplus", "threshold", threshold))


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Elementwise min(max(x, min), max); either bound may be None, not both, and a number or
    a tensor (broadcast with x; its gradient is where it is the result).

    The gradient flows to x where min <= x <= max, boundaries included, as in PyTorch. With
    min > max every element becomes max. Integer tensors stay integer with integer bounds and
    become float32 with a float bound.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given (both are None)")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from deepgrad.ops.indexing import where  # indexing imports this module's users

        check_tensor("clamp", x)
        if min is not None:
            x = where(x < min, min, x) if isinstance(min, Tensor) else clamp(x, min=min)
        if max is not None:
            x = where(x > max, max, x) if isinstance(max, Tensor) else clamp(x, max=max)
        return x
    low = None if min is None else _number("clamp", "min", min)
    high = None if max is None else _number("clamp", "max", max)
    if (check_tensor("clamp", x).data.dtype.kind != "f"
            and (isinstance(low, float) or isinstance(high, float))):
        x = Tensor._make(x.data.astype(DEFAULT_FLOAT))
    return Clamp.apply(x, low, high)


def clip(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Alias of :func:`clamp`."""
    return clamp(x, min, max)


METHODS = {"sigmoid": sigmoid, "relu": relu, "leaky_relu": leaky_relu, "elu": elu, "gelu": gelu,
           "silu": silu, "softplus": softplus, "clamp": clamp, "clip": clip}
__all__ = list(METHODS)
