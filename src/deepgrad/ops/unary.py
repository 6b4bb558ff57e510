"""More elementwise math, PyTorch's names: log1p expm1 log2 log10 exp2 reciprocal rsqrt square,
tan, the inverse and hyperbolic trigonometric functions, atan2, nan_to_num, and the steps sign
floor ceil round trunc (whose gradient is 0, as in PyTorch)."""

from __future__ import annotations

import math
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import silent_float_errors, xp
from deepgrad.ops._util import binary_operands, broadcast_error, unbroadcast
from deepgrad.ops.elementwise import float_input
from deepgrad.tensor import Tensor, check_tensor


class Log1p(Function):
    """y = log(1 + x), exact for small x;  gx = gy / (1 + x)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.log1p(x)

    @staticmethod
    def backward(ctx, gy):
        return gy / (1 + ctx.x)


class Expm1(Function):
    """y = exp(x) - 1, exact for small x;  gx = gy * (y + 1)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = xp.expm1(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * (ctx.y + 1)


class LogBase(Function):
    """y = log(x) / log(base) (base 2 or 10, by NumPy's own log2 and log10);
    gx = gy / (x log(base))."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x, base):
        ctx.save(x=x, base=base)
        return xp.log2(x) if base == 2 else xp.log10(x)

    @staticmethod
    def backward(ctx, gy):
        return gy / (ctx.x * math.log(ctx.base)), None


class Reciprocal(Function):
    """y = 1 / x;  gx = -gy * y**2."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = xp.reciprocal(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return -gy * ctx.y * ctx.y


class Rsqrt(Function):
    """y = 1 / sqrt(x);  gx = -gy * y**3 / 2."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = 1 / xp.sqrt(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        return -0.5 * gy * y * y * y


class Square(Function):
    """y = x**2;  gx = 2 gy x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        return 2 * gy * ctx.x


class Asin(Function):
    """y = asin(x);  gx = gy / sqrt(1 - x**2)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.arcsin(x)

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        return gy / xp.sqrt(1 - ctx.x * ctx.x)


class Acos(Function):
    """y = acos(x);  gx = -gy / sqrt(1 - x**2)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.arccos(x)

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        return -gy / xp.sqrt(1 - ctx.x * ctx.x)


class Atan(Function):
    """y = atan(x);  gx = gy / (1 + x**2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.arctan(x)

    @staticmethod
    def backward(ctx, gy):
        return gy / (1 + ctx.x * ctx.x)


class Sinh(Function):
    """y = sinh(x);  gx = gy * cosh(x)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.sinh(x)

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        return gy * xp.cosh(ctx.x)


class Cosh(Function):
    """y = cosh(x);  gx = gy * sinh(x)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.cosh(x)

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        return gy * xp.sinh(ctx.x)


class Atan2(Function):
    """y = atan2(a, b), the angle of the point (b, a);  ga = gy b / (a**2 + b**2),
    gb = -gy a / (a**2 + b**2) (each summed back to its input's shape)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = xp.arctan2(a, b)
        except ValueError:
            raise broadcast_error("atan2", a, b) from None
        ctx.save(a=a, b=b)
        return y

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        a, b = ctx.a, ctx.b
        scale = gy / (a * a + b * b)
        ga = unbroadcast(scale * b, xp.shape(a)) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-scale * a, xp.shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class NanToNum(Function):
    """y = x with NaN, +inf and -inf replaced by finite numbers;  gx = gy where x is finite, 0
    where it was replaced."""

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        ctx.save(finite=xp.isfinite(x))
        return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.finite, None, None, None


class Step(Function):
    """y = sign, floor, ceil, round (half to even) or trunc of x;  gx = 0: a step function's
    derivative, where it has one."""

    @staticmethod
    def forward(ctx, x, how):
        return getattr(xp, how)(x)

    @staticmethod
    def backward(ctx, gy):
        return xp.zeros_like(gy), None


class Tan(Function):
    """y = tan(x);  gx = gy * (1 + y**2)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = xp.tan(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * (1 + ctx.y * ctx.y)


class Asinh(Function):
    """y = asinh(x);  gx = gy / sqrt(x**2 + 1)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.arcsinh(x)

    @staticmethod
    def backward(ctx, gy):
        return gy / xp.sqrt(ctx.x * ctx.x + 1)


class Acosh(Function):
    """y = acosh(x) for x >= 1;  gx = gy / sqrt(x**2 - 1)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.arccosh(x)

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        return gy / xp.sqrt(ctx.x * ctx.x - 1)


class Atanh(Function):
    """y = atanh(x) for |x| < 1;  gx = gy / (1 - x**2)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.arctanh(x)

    @staticmethod
    @silent_float_errors
    def backward(ctx, gy):
        return gy / (1 - ctx.x * ctx.x)


class Exp2(Function):
    """y = 2**x;  gx = gy * y * log(2)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = xp.exp2(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.y * math.log(2)


def _float_op(name: str, function: type[Function], doc: str, *options: Any) -> Any:
    """The function ``name`` of a tensor: ``function`` applied to it as a float (integers
    become float32, as in PyTorch)."""
    def op(x: Tensor) -> Tensor:
        return function.apply(float_input(name, x), *options)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


log1p = _float_op("log1p", Log1p, "Elementwise log(1 + x), accurate for small x.")
expm1 = _float_op("expm1", Expm1, "Elementwise exp(x) - 1, accurate for small x.")
log2 = _float_op("log2", LogBase, "Elementwise base-2 logarithm.", 2)
log10 = _float_op("log10", LogBase, "Elementwise base-10 logarithm.", 10)
reciprocal = _float_op("reciprocal", Reciprocal, "Elementwise 1 / x.")
rsqrt = _float_op("rsqrt", Rsqrt, "Elementwise 1 / sqrt(x).")
asin = _float_op("asin", Asin, "Elementwise arcsine.")
acos = _float_op("acos", Acos, "Elementwise arccosine.")
atan = _float_op("atan", Atan, "Elementwise arctangent.")
sinh = _float_op("sinh", Sinh, "Elementwise hyperbolic sine.")
cosh = _float_op("cosh", Cosh, "Elementwise hyperbolic cosine.")
tan = _float_op("tan", Tan, "Elementwise tangent.")
asinh = _float_op("asinh", Asinh, "Elementwise inverse hyperbolic sine.")
acosh = _float_op("acosh", Acosh, "Elementwise inverse hyperbolic cosine (NaN below 1).")
atanh = _float_op("atanh", Atanh, "Elementwise inverse hyperbolic tangent (inf at +-1).")
exp2 = _float_op("exp2", Exp2, "Elementwise 2**x.")


def square(x: Tensor) -> Tensor:
    """Elementwise x**2 (integers stay integers)."""
    return Square.apply(check_tensor("square", x))


def atan2(input: Any, other: Any) -> Tensor:
    """Elementwise angle of the point (other, input) in (-pi, pi], broadcasting."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        check_tensor("atan2", input)
    a, b = binary_operands(input, other)
    return Atan2.apply(*(float_input("atan2", t) if isinstance(t, Tensor) else t
                         for t in (a, b)))


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """``x`` with NaN as ``nan``, +inf as ``posinf`` and -inf as ``neginf`` (by default the
    dtype's largest and smallest finite numbers)."""
    check_tensor("nan_to_num", x)
    if x.data.dtype.kind != "f":
        return x
    return NanToNum.apply(x, nan, posinf, neginf)


def _step(how: str) -> Any:
    def step(x: Tensor) -> Tensor:
        return Step.apply(check_tensor(how, x), how)

    step.__name__ = step.__qualname__ = how
    return step


sign = _step("sign")
sign.__doc__ = "Elementwise -1, 0 or 1 by the sign of x (gradient 0)."
floor = _step("floor")
floor.__doc__ = "Elementwise largest integer <= x, as x's dtype (gradient 0)."
ceil = _step("ceil")
ceil.__doc__ = "Elementwise smallest integer >= x, as x's dtype (gradient 0)."
round = _step("round")
round.__doc__ = "Elementwise nearest integer, halves to even as in PyTorch (gradient 0)."
trunc = _step("trunc")
trunc.__doc__ = "Elementwise integer part, towards 0 (gradient 0)."

METHODS = {"log1p": log1p, "expm1": expm1, "log2": log2, "log10": log10,
           "reciprocal": reciprocal, "rsqrt": rsqrt, "square": square, "asin": asin,
           "acos": acos, "atan": atan, "sinh": sinh, "cosh": cosh, "atan2": atan2, "sign": sign,
           "floor": floor, "ceil": ceil, "round": round, "trunc": trunc, "nan_to_num": nan_to_num,
           "tan": tan, "asinh": asinh, "acosh": acosh, "atanh": atanh, "exp2": exp2}
__all__ = list(METHODS)
