"""Elementwise math: exp, log, sqrt, abs, sin, cos, tanh, erf, and dtype casts."""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import parse_to, silent_float_errors, xp
from deepgrad.ops._erf import erf as _erf
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, check_tensor


def float_input(op: str, x: Tensor) -> Tensor:
    """``x``, or for an integer tensor ``x`` as float32: math on integers gives float32, as in
    PyTorch (NumPy would give float64). A TypeError naming ``op`` if ``x`` is no Tensor."""
    if check_tensor(op, x).data.dtype.kind in "iub":
        return Tensor._make(x.data.astype(DEFAULT_FLOAT))
    return x


class Exp(Function):
    """y = exp(x);  gx = gy * y."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = xp.exp(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.y


class Log(Function):
    """y = log(x);  gx = gy / x."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.log(x)

    @staticmethod
    def backward(ctx, gy):
        return gy / ctx.x


class Sqrt(Function):
    """y = sqrt(x);  gx = gy / (2 y)."""

    @staticmethod
    @silent_float_errors
    def forward(ctx, x):
        y = xp.sqrt(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy / (2 * ctx.y)


class Abs(Function):
    """y = |x|;  gx = gy * sign(x) (0 at x = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.abs(x)

    @staticmethod
    def backward(ctx, gy):
        return gy * xp.sign(ctx.x)


class Sin(Function):
    """y = sin(x);  gx = gy * cos(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.sin(x)

    @staticmethod
    def backward(ctx, gy):
        return gy * xp.cos(ctx.x)


class Cos(Function):
    """y = cos(x);  gx = -gy * sin(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return xp.cos(x)

    @staticmethod
    def backward(ctx, gy):
        return -gy * xp.sin(ctx.x)


class Tanh(Function):
    """y = tanh(x);  gx = gy * (1 - y**2) (reuses the output, saves no input)."""

    @staticmethod
    def forward(ctx, x):
        y = xp.tanh(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y = ctx.y
        return gy * (1 - y * y)


class Erf(Function):
    """y = erf(x);  gx = gy * 2 / sqrt(pi) * exp(-x**2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return _erf(x)

    @staticmethod
    def backward(ctx, gy):
        x = ctx.x
        return gy * (_TWO_OVER_SQRT_PI * xp.exp(-x * x)).astype(gy.dtype, copy=False)


_TWO_OVER_SQRT_PI = 1.1283791670955126


class Cast(Function):
    """y = x as another dtype;  gx = gy cast back to x's dtype (floating dtypes only)."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.save(dtype=x.dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        return gy.astype(ctx.dtype), None


def exp(x: Tensor) -> Tensor:
    """Elementwise e**x."""
    return Exp.apply(float_input("exp", x))


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return Log.apply(float_input("log", x))


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root."""
    return Sqrt.apply(float_input("sqrt", x))


def abs(x: Tensor) -> Tensor:
    """Elementwise absolute value."""
    return Abs.apply(x)


def sin(x: Tensor) -> Tensor:
    """Elementwise sine."""
    return Sin.apply(float_input("sin", x))


def cos(x: Tensor) -> Tensor:
    """Elementwise cosine."""
    return Cos.apply(float_input("cos", x))


def tanh(x: Tensor) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return Tanh.apply(float_input("tanh", x))


def erf(x: Tensor) -> Tensor:
    """Elementwise error function, 2/sqrt(pi) * integral of exp(-t**2) from 0 to x."""
    return Erf.apply(float_input("erf", x))


def to(x: Tensor, *args: Any, dtype: Any = None, device: Any = None,
       non_blocking: bool = False, copy: bool = False) -> Tensor:
    """``x`` as ``dtype`` (``x`` itself when it has it already, unless ``copy``);
    differentiable between floats. As in PyTorch, a device may be given too (``x.to("cpu")``,
    ``x.to("cpu", dg.float64)``), or a tensor whose dtype to take; only the CPU is available,
    and ``non_blocking`` changes nothing there."""
    if args and isinstance(args[0], Tensor):
        args = (args[0].dtype, *args[1:])
    dtype = parse_to("Tensor.to", args, dtype, device)
    if dtype is None or x.data.dtype == xp.dtype(dtype):
        return x.clone() if copy else x
    dtype = xp.dtype(dtype)
    if x.requires_grad and dtype.kind != "f":
        return Tensor._make(x.data.astype(dtype))
    return Cast.apply(x, dtype)


def float(x: Tensor) -> Tensor:
    """``x`` as float32."""
    return to(x, xp.float32)


def double(x: Tensor) -> Tensor:
    """``x`` as float64."""
    return to(x, xp.float64)


def long(x: Tensor) -> Tensor:
    """``x`` as int64 (no gradient)."""
    return to(x, xp.int64)


def int(x: Tensor) -> Tensor:
    """``x`` as int32 (no gradient)."""
    return to(x, xp.int32)


def bool(x: Tensor) -> Tensor:
    """``x`` as bool: True where nonzero (no gradient)."""
    return to(x, xp.bool_)


# PyTorch's type names, for x.type(): "torch.FloatTensor" there, "deepgrad.FloatTensor" here.
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
               "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
               "uint8": "ByteTensor", "bool": "BoolTensor"}


def type_(x: Tensor, dtype: Any = None) -> Any:
    """PyTorch's ``x.type()``: the type's name (``"deepgrad.FloatTensor"``); ``x.type(dtype)``
    casts as ``x.to(dtype)``, the dtype given as such or by such a name (also ``"torch.*"``)."""
    if dtype is None:
        return "deepgrad." + _TYPE_NAMES.get(x.dtype.name, f"{x.dtype.name}Tensor")
    if isinstance(dtype, str) and dtype.partition(".")[0] in ("deepgrad", "torch"):
        by_name = {name: dtype_name for dtype_name, name in _TYPE_NAMES.items()}
        name = dtype.partition(".")[2]
        if name not in by_name:
            raise TypeError(f"Tensor.type: unknown type {dtype!r}; expected one of "
                            f"{sorted(by_name)} after 'deepgrad.' or 'torch.', or a dtype")
        dtype = by_name[name]
    return to(x, dtype=dtype)


_CASTS = ("to", "float", "double", "long", "int", "bool", "type")
METHODS = {"exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "sin": sin, "cos": cos,
           "tanh": tanh, "erf": erf, "to": to, "float": float, "double": double, "long": long,
           "int": int, "bool": bool, "type": type_}
__all__ = [name for name in METHODS if name not in _CASTS]
