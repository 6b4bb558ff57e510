"""Elementwise kernels: arithmetic with NumPy broadcasting (ONNX's multidirectional broadcasting
is the same rule), unary math, comparisons and logic (bool results), Where, activations (with
in-place forms for fusion), softmax, the pass-through Identity and inference-time Dropout, and
Cast."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepgrad_runtime.graph import Node, onnx_dtype
from deepgrad_runtime.kernels.base import (
    Attributes,
    Consts,
    InPlace,
    Kernel,
    Workspace,
    arity,
    given,
    register,
    register_in_place,
)

_UFUNCS = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Neg": np.negative,
           "Sqrt": np.sqrt, "Exp": np.exp, "Log": np.log, "Abs": np.abs, "Tanh": np.tanh,
           "Sin": np.sin, "Cos": np.cos, "Asin": np.arcsin, "Acos": np.arccos,
           "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh, "Reciprocal": np.reciprocal,
           # NumPy rounds halves to even, as ONNX's Round does.
           "Floor": np.floor, "Ceil": np.ceil, "Round": np.round, "Sign": np.sign,
           "IsNaN": np.isnan, "Equal": np.equal, "Less": np.less, "Greater": np.greater,
           "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal}
_LOGIC = {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor,
          "Not": np.logical_not}


@register("Add", "Sub", "Mul", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
def _binary(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))
    return _UFUNCS[node.op]


@register("Neg", "Sqrt", "Exp", "Log", "Abs", "Tanh", "Sin", "Cos", "Asin", "Acos", "Atan",
          "Sinh", "Cosh", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "IsNaN")
def _unary(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    return _UFUNCS[node.op]


def _bools(*xs: np.ndarray) -> None:
    for x in xs:
        if x.dtype != np.bool_:
            raise ValueError(f"expects bool tensors; got {x.dtype}")


@register("And", "Or", "Xor", "Not")
def _logic(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1) if node.op == "Not" else (2, 2))
    ufunc = _LOGIC[node.op]

    def logic(*xs: np.ndarray) -> np.ndarray:
        _bools(*xs)
        return ufunc(*xs)

    return logic


@register("IsInf")
def _is_inf(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    attrs = Attributes(node)
    negative = bool(attrs.int("detect_negative", 1, 0, 1))
    positive = bool(attrs.int("detect_positive", 1, 0, 1))

    def is_inf(x: np.ndarray) -> np.ndarray:
        found = np.isinf(x)
        if not negative:
            found &= x > 0
        if not positive:
            found &= x < 0
        return found

    return is_inf


@register("Where")
def _where(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (3, 3))

    def where(condition: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _bools(condition)
        if a.dtype != b.dtype:
            raise ValueError(f"X and Y must have one dtype; got {a.dtype} and {b.dtype}")
        return np.where(condition, a, b)

    return where


@register("Mod")
def _mod(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """fmod=1: C's fmod, the sign of the dividend; fmod=0 (integers only): Python's %, the sign
    of the divisor. An integer divided by 0 leaves 0."""
    arity(node, (2, 2))
    c_style = bool(Attributes(node).int("fmod", 0, 0, 1))

    def mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not c_style and (a.dtype.kind == "f" or b.dtype.kind == "f"):
            raise ValueError("fmod=0 takes integers; floating-point inputs need fmod=1")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.fmod(a, b) if c_style else np.mod(a, b)

    return mod


@register("Div")
def _div(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))

    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype.kind not in "iu":
            return np.divide(a, b)
        # ONNX's integer division truncates toward zero (as C does); NumPy's floors.
        q = np.floor_divide(a, b)
        return q + ((q < 0) & (q * b != a))

    return div


@register("Pow")
def _pow(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))

    def power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = np.power(a, b)
        return y if y.dtype == a.dtype else y.astype(a.dtype)  # ONNX: the base's type

    return power


@register("Max", "Min")
def _variadic(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 2 ** 31))
    ufunc = np.maximum if node.op == "Max" else np.minimum

    def reduce(*xs: np.ndarray) -> np.ndarray:
        y = xs[0]
        for x in xs[1:]:
            y = ufunc(y, x)
        return y

    return reduce


# ------------------------------------------------------------------------------ erf
# W. J. Cody's rational approximations (netlib SPECFUN CALERF): erf for |x| <= 0.46875, erfc
# for 0.46875 < |x| <= 4 and beyond; accurate to float64 rounding.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRT_PI_INV = 5.6418958354775628695e-1


def _rational(z: np.ndarray, num: tuple[float, ...], den: tuple[float, ...]) -> np.ndarray:
    """CALERF's nested evaluation: num[-1] leads, den's leading coefficient is 1."""
    n, d = num[-1] * z, z
    for a, b in zip(num[:len(den) - 1], den[:-1]):
        n, d = (n + a) * z, (d + b) * z
    return (n + num[len(den) - 1]) / (d + den[-1])


def erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise, computed in float64 and returned in x's dtype."""
    v = np.asarray(x, np.float64)
    y = np.abs(v)
    out = np.full(v.shape, np.nan)
    with np.errstate(over="ignore", under="ignore"):
        small = y <= 0.46875
        out[small] = v[small] * _rational(v[small] ** 2, _ERF_A, _ERF_B)
        mid = (y > 0.46875) & (y <= 4.0)
        ym = y[mid]
        out[mid] = 1.0 - np.exp(-ym * ym) * _rational(ym, _ERF_C, _ERF_D)
        far = y > 4.0
        yf = y[far]
        z = 1.0 / (yf * yf)
        out[far] = 1.0 - np.exp(-yf * yf) * (_SQRT_PI_INV - z * _rational(z, _ERF_P, _ERF_Q)) / yf
    big = ~small
    out[big] = np.copysign(out[big], v[big])
    return out.astype(x.dtype, copy=False)


@register("Erf")
def _erf(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    return erf


# ------------------------------------------------------------------------------ activations
def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of -|x| never overflows; sigmoid(x) = e/(1+e) for negative x keeps tiny values exact.
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)


@register("Relu", "Sigmoid", "Softplus")
def _activation(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    if node.op == "Relu":
        return lambda x: np.maximum(x, 0)
    if node.op == "Sigmoid":
        return _sigmoid
    return lambda x: np.logaddexp(x, 0)


@register_in_place("Relu")
def _relu_in_place(node: Node, consts: Consts) -> InPlace:
    return lambda y: np.maximum(y, 0, out=y)


@register_in_place("Tanh")
def _tanh_in_place(node: Node, consts: Consts) -> InPlace:
    return lambda y: np.tanh(y, out=y)


@register("LeakyRelu")
def _leaky_relu(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    alpha = Attributes(node).float("alpha", 0.01)
    return lambda x: np.where(x >= 0, x, x * alpha)


@register_in_place("LeakyRelu")
def _leaky_relu_in_place(node: Node, consts: Consts) -> InPlace:
    alpha = Attributes(node).float("alpha", 0.01)
    return lambda y: np.multiply(y, alpha, out=y, where=y < 0)


@register("Elu")
def _elu(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    alpha = Attributes(node).float("alpha", 1.0)
    return lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@register("HardSigmoid")
def _hard_sigmoid(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    attrs = Attributes(node)
    alpha, beta = attrs.float("alpha", 0.2), attrs.float("beta", 0.5)
    return lambda x: np.clip(x * alpha + beta, 0, 1)


@register_in_place("HardSigmoid")
def _hard_sigmoid_in_place(node: Node, consts: Consts) -> InPlace:
    attrs = Attributes(node)
    alpha, beta = attrs.float("alpha", 0.2), attrs.float("beta", 0.5)

    def hard_sigmoid(y: np.ndarray) -> None:
        y *= alpha
        y += beta
        np.clip(y, 0, 1, out=y)

    return hard_sigmoid


@register("HardSwish")
def _hard_swish(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    return lambda x: x * np.clip(x * (1 / 6) + 0.5, 0, 1)


@register("PRelu")
def _prelu(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))
    return lambda x, slope: np.where(x < 0, x * slope, x)


def _bound(value: Any, what: str) -> Any:
    """Clip's min or max as a Python scalar: NumPy treats a scalar as weakly typed, so a float32
    input stays float32 whatever the bound's dtype."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(f"Clip's {what} must be a scalar; got shape {array.shape}")
    return array.reshape(()).item()


@register("Clip")
def _clip(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 3))
    if all(not given(node, i) or consts[i] is not None for i in (1, 2)):
        low = _bound(consts[1] if given(node, 1) else None, "min")
        high = _bound(consts[2] if given(node, 2) else None, "max")
        if low is None and high is None:
            return lambda x, *bounds: x.copy()
        return lambda x, *bounds: np.clip(x, low, high)

    def clip(x: np.ndarray, low: Any = None, high: Any = None) -> np.ndarray:
        low, high = _bound(low, "min"), _bound(high, "max")
        return x.copy() if low is None and high is None else np.clip(x, low, high)

    return clip


@register_in_place("Clip")
def _clip_in_place(node: Node, consts: Consts) -> InPlace:
    if any(given(node, i) and consts[i] is None for i in (1, 2)):
        raise ValueError("Clip is fused only with bounds known at load time")
    low = _bound(consts[1] if given(node, 1) else None, "min")
    high = _bound(consts[2] if given(node, 2) else None, "max")
    if low is None and high is None:
        return lambda y: None
    return lambda y: np.clip(y, low, high, out=y)


@register("Softmax", "LogSoftmax")
def _softmax(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    axis = Attributes(node).int("axis", -1)
    log = node.op == "LogSoftmax"

    def softmax(x: np.ndarray) -> np.ndarray:
        shifted = x - x.max(axis=axis, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=axis, keepdims=True)
        if log:
            shifted -= np.log(total)
            return shifted
        e /= total
        return e

    return softmax


# ------------------------------------------------------------------------------ pass-through
@register("Identity")
def _identity(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    return lambda x: x


@register("Dropout")
def _dropout(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """Inference: the output is the input and the mask all true; training mode is refused."""
    arity(node, (1, 3), (1, 2))
    Attributes(node).int("seed", 0)
    if given(node, 2) and consts[2] is not None and bool(np.any(consts[2])):
        raise ValueError("training_mode is true, but this runtime only runs inference")
    outputs = len(node.outputs)
    mask = outputs == 2 and node.outputs[1] != ""

    def dropout(x: np.ndarray, ratio: Any = None, training: Any = None) -> Any:
        if training is not None and bool(np.any(training)):
            raise ValueError("training_mode is true, but this runtime only runs inference")
        if outputs == 1:
            return x
        return x, np.ones(x.shape, np.bool_) if mask else None

    return dropout


@register("Cast")
def _cast(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """NumPy's conversion is ONNX's for these types: floats to integers truncate toward zero,
    anything to bool is ``x != 0``."""
    arity(node, (1, 1))
    if not Attributes(node).has("to"):
        raise ValueError("attribute 'to' (the data type) is required")
    dtype = onnx_dtype(node.attrs["to"])
    return lambda x: x.astype(dtype, copy=False)


__all__ = ["erf"]
