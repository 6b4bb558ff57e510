"""Smooth activations: selu, celu, mish, logsigmoid, softsign, and glu and softmin, which work
along a dimension.

selu and celu are PyTorch's elu with a scale and an input scale (:class:`ScaledELU`), and mish
has a Function of its own: composed of existing ops they would take several more passes over the
data, selu would round the scale separately, and celu with a negative alpha would lose expm1's
accuracy. The others are compositions of differentiable ops that compute exactly PyTorch's
formulas, so their gradients, and their export to ONNX, come from those ops.
"""

from __future__ import annotations

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops import arithmetic, elementwise, join, reductions
from deepgrad.ops._util import normalize_dim
from deepgrad.ops.activations import (
    _check_floating,
    _filled,
    _number,
    _scratch,
    sigmoid,
    softplus,
)
from deepgrad.tensor import Tensor

# PyTorch's constants (Klambauer et al., 2017), which fix the mean 0 and variance 1.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class ScaledELU(Function):
    """y = scale * x if x > 0 else scale * alpha * (exp(input_scale * x) - 1);
    gx = gy * scale if x > 0 else gy * scale * alpha * input_scale * exp(input_scale * x)."""

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        # As in ELU: the expm1 term is 0 for x > 0 and the linear one is 0 for x <= 0.
        y = _filled(x, 0)
        xp.minimum(x, y, out=y)
        y *= input_scale
        with xp.errstate(over="ignore"):  # input_scale < 0 (celu, alpha < 0): inf, as PyTorch
            xp.expm1(y, out=y)
        y *= alpha * scale
        linear = _scratch(xp.maximum(x, _filled(x, 0)))
        linear *= scale
        y += linear
        if ctx.needs_input_grad[0]:
            ctx.save(x=x, alpha=alpha, scale=scale, input_scale=input_scale)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, input_scale = ctx.x, ctx.input_scale
        positive = x > 0
        factor = _filled(x, 0)
        xp.minimum(x, factor, out=factor)
        factor *= input_scale
        with xp.errstate(over="ignore"):
            xp.exp(factor, out=factor)
        # (e - positive) * c + positive * scale: exactly scale where x > 0 (e = 1 there) and
        # c * e elsewhere, without a select.
        factor -= positive
        factor *= input_scale * ctx.alpha * ctx.scale
        factor += xp.multiply(positive, ctx.scale, dtype=factor.dtype)
        factor *= gy
        return factor, None, None, None


class Mish(Function):
    """y = x * t, t = tanh(softplus(x));  gx = gy * (t + x * sigmoid(x) * (1 - t**2))."""

    @staticmethod
    def forward(ctx, x):
        # softplus(x) = max(x, 0) + log1p(exp(-|x|)): exp never overflows, and sigmoid(x) comes
        # from the same exp (as in Softplus).
        e = _scratch(xp.abs(x))
        xp.negative(e, out=e)
        xp.exp(e, out=e)
        t = _scratch(xp.log1p(e))
        t += xp.maximum(x, _filled(x, 0))
        xp.tanh(t, out=t)
        if ctx.needs_input_grad[0]:
            s = _scratch(xp.maximum(e, x >= 0))
            e += 1.0
            s /= e
            ctx.save(x=x, t=t, s=s)
        return x * t

    @staticmethod
    def backward(ctx, gy):
        t = ctx.t
        gx = _scratch(t * t)
        xp.subtract(1.0, gx, out=gx)
        gx *= ctx.s
        gx *= ctx.x
        gx += t
        gx *= gy
        return gx


def selu(x: Tensor) -> Tensor:
    """Elementwise scale * (x if x > 0 else alpha * (exp(x) - 1)) with the self-normalizing
    constants alpha = 1.6733 and scale = 1.0507."""
    _check_floating("selu", x)
    return ScaledELU.apply(x, _SELU_ALPHA, _SELU_SCALE, 1.0)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Elementwise x if x > 0 else alpha * (exp(x / alpha) - 1).

    Raises:
        ValueError: if ``alpha`` is 0.
    """
    _check_floating("celu", x)
    alpha = _number("celu", "alpha", alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must be nonzero (the input is divided by alpha), got 0")
    return ScaledELU.apply(x, alpha, 1.0, 1.0 / alpha)


def mish(x: Tensor) -> Tensor:
    """Elementwise x * tanh(softplus(x))."""
    _check_floating("mish", x)
    return Mish.apply(x)


def logsigmoid(x: Tensor) -> Tensor:
    """Elementwise log(sigmoid(x)) = -softplus(-x), without overflow or log(0)."""
    _check_floating("logsigmoid", x)
    # An infinite threshold keeps the stable formula everywhere, as PyTorch's log_sigmoid does;
    # softplus's default would return -x beyond 20 and be off by exp(x) there.
    return arithmetic.neg(softplus(arithmetic.neg(x), 1.0, float("inf")))


def softsign(x: Tensor) -> Tensor:
    """Elementwise x / (1 + |x|); integer tensors give float32."""
    return arithmetic.div(x, arithmetic.add(elementwise.abs(x), 1))


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: ``x`` halved along ``dim`` into a and b, then a * sigmoid(b).

    Raises:
        ShapeError: for a 0-d tensor or a dimension of odd size.
    """
    _check_floating("glu", x)
    if x.ndim == 0:
        raise ShapeError("glu: expects a tensor with at least one dimension to halve; got a "
                         "0-d tensor")
    d = normalize_dim(dim, x.ndim, "glu")
    size = x.shape[d]
    if size % 2:
        raise ShapeError(f"glu: dimension {dim} must have an even size to be halved; got size "
                         f"{size} in shape {shape_str(x.shape)}")
    a, b = join.split(x, [size // 2, size // 2], d)
    return arithmetic.mul(a, sigmoid(b))


def softmin(x: Tensor, dim: int) -> Tensor:
    """softmax(-x) along ``dim``: weights that favour the smallest entries."""
    _check_floating("softmin", x)
    if isinstance(dim, bool) or not isinstance(dim, (int, xp.integer)):
        raise TypeError(f"softmin: dim must be an int; got {dim!r}")
    normalize_dim(int(dim), x.ndim, "softmin")
    return reductions.softmax(arithmetic.neg(x), dim)


__all__ = ["celu", "glu", "logsigmoid", "mish", "selu", "softmin", "softsign"]
