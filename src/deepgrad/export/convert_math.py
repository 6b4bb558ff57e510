"""Converters of the elementwise math that ONNX writes with a few operators: the steps (sign,
floor, ceil, round, trunc), log1p, expm1, log2 / log10, rsqrt, square, atan2, nan_to_num,
remainder / fmod, where and masked_fill.

ONNX has no log1p, expm1, trunc or atan2, so each is composed, keeping NumPy's accuracy: log1p
and expm1 near 0 correct the rounding of 1 + x and exp(x) - 1 (the classic corrections of
Goldberg and Kahan) rather than lose the digits of x; trunc is the ceiling of the negatives and
the floor of the rest; atan2 reflects atan(|a| / |b|) into the quadrant that the signs of a and b
(-0 included) name. ONNX's Mod with fmod=0 is Python's % of integers only: a float remainder is
C's fmod (fmod=1) moved by the divisor where the signs of the two differ, as NumPy computes it.
Where a composition would divide 0 by 0, a Where picks the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deepgrad.export.convert_tensor import ONNX_CODES
from deepgrad.export.emit import Emitter
from deepgrad.ops import arithmetic, indexing, unary

# Below this |x|, log1p and expm1 take the corrected form; above it 1 + x and exp(x) - 1 lose
# no digits that matter.
_SMALL = 0.5
_STEPS = {"sign": "Sign", "floor": "Floor", "ceil": "Ceil", "round": "Round"}


def _step(e: Emitter) -> list:
    how, x = e.args[1], e.input(0)
    if how != "sign" and e.array(0).dtype.kind != "f":  # an integer is its own floor, ...
        return [e.one("Identity", [x])]
    if how == "trunc":
        negative = e.one("Less", [x, e.scalar(0, e.dtype(0))])
        return [e.one("Where", [negative, e.one("Ceil", [x]), e.one("Floor", [x])])]
    return [e.one(_STEPS[how], [x])]


def _small(e: Emitter, x: str) -> str:
    return e.one("Less", [e.one("Abs", [x]), e.scalar(_SMALL, e.dtype(0))])


def _log1p(e: Emitter) -> list:
    """log(u) * x / (u - 1) with u = 1 + x: the rounding of u cancels out; where u rounds to 1,
    log1p(x) is x to working precision."""
    x, dtype = e.input(0), e.dtype(0)
    u = e.one("Add", [x, e.scalar(1, dtype)])
    log_u = e.one("Log", [u])
    d = e.one("Sub", [u, e.scalar(1, dtype)])
    corrected = e.one("Div", [e.one("Mul", [log_u, x]), d])
    exact = e.one("Equal", [d, e.scalar(0, dtype)])
    near_zero = e.one("Where", [exact, x, corrected])
    return [e.one("Where", [_small(e, x), near_zero, log_u])]


def _expm1(e: Emitter) -> list:
    """(u - 1) * x / log(u) with u = exp(x): the rounding of u cancels out; where u rounds to 1,
    expm1(x) is x to working precision."""
    x, dtype = e.input(0), e.dtype(0)
    u = e.one("Exp", [x])
    u_minus_1 = e.one("Sub", [u, e.scalar(1, dtype)])
    corrected = e.one("Div", [e.one("Mul", [u_minus_1, x]), e.one("Log", [u])])
    exact = e.one("Equal", [u, e.scalar(1, dtype)])
    near_zero = e.one("Where", [exact, x, corrected])
    return [e.one("Where", [_small(e, x), near_zero, u_minus_1])]


def _log_base(e: Emitter) -> list:
    base = e.args[1]
    return [e.one("Div", [e.one("Log", [e.input(0)]), e.scalar(math.log(base), e.dtype(0))])]


def _rsqrt(e: Emitter) -> list:
    return [e.one("Reciprocal", [e.one("Sqrt", [e.input(0)])])]


def _square(e: Emitter) -> list:
    x = e.input(0)
    return [e.one("Mul", [x, x])]


def _sign_bit(e: Emitter, x: str, dtype: np.dtype) -> str:
    """Where x is negative, -0 included (whose reciprocal is -inf)."""
    zero = e.scalar(0, dtype)
    return e.one("Or", [e.one("Less", [x, zero]),
                        e.one("Less", [e.one("Reciprocal", [x]), zero])])


def _atan2(e: Emitter) -> list:
    """The angle of (b, a): atan(|a| / |b|) in [0, pi/2] (the ratio 0 for 0 / 0, 1 for
    inf / inf, as NumPy's angles), pi minus it where b is negative, negated where a is."""
    dtype = e.dtype(0, 1)
    a, b = e.input(0, dtype), e.input(1, dtype)
    zero = e.scalar(0, dtype)
    abs_a, abs_b = e.one("Abs", [a]), e.one("Abs", [b])
    ratio = e.one("Div", [abs_a, abs_b])
    both_zero = e.one("Equal", [e.one("Add", [abs_a, abs_b]), zero])
    ratio = e.one("Where", [both_zero, zero, ratio])
    both_infinite = e.one("And", [e.one("IsInf", [a]), e.one("IsInf", [b])])
    ratio = e.one("Where", [both_infinite, e.scalar(1, dtype), ratio])
    angle = e.one("Atan", [ratio])
    reflected = e.one("Sub", [e.scalar(math.pi, dtype), angle])
    angle = e.one("Where", [_sign_bit(e, b, dtype), reflected, angle])
    return [e.one("Where", [_sign_bit(e, a, dtype), e.one("Neg", [angle]), angle])]


def _nan_to_num(e: Emitter) -> list:
    _, nan, posinf, neginf = e.args
    dtype = e.dtype(0)
    info = np.finfo(dtype)
    x = e.input(0)
    y = e.one("Where", [e.one("IsNaN", [x]), e.scalar(nan, dtype), x])
    large = info.max if posinf is None else posinf
    y = e.one("Where", [e.one("IsInf", [x], detect_negative=0), e.scalar(large, dtype), y])
    small = info.min if neginf is None else neginf
    return [e.one("Where", [e.one("IsInf", [x], detect_positive=0), e.scalar(small, dtype), y])]


def _remainder(e: Emitter) -> list:
    floored = e.args[2]
    dtype = e.dtype(0, 1)
    if dtype.kind not in "iuf":
        raise e.fail(f"ONNX's Mod takes numbers, not {dtype}")
    a, b = e.input(0, dtype), e.input(1, dtype)
    if dtype.kind != "f":
        return [e.one("Mod", [a, b], fmod=int(not floored))]
    r = e.one("Mod", [a, b], fmod=1)
    if not floored:
        return [r]
    zero = e.scalar(0, dtype)
    signs_differ = e.one("Xor", [e.one("Less", [r, zero]), e.one("Less", [b, zero])])
    moved = e.one("And", [e.one("Not", [e.one("Equal", [r, zero])]), signs_differ])
    return [e.one("Where", [moved, e.one("Add", [r, b]), r])]


def _where(e: Emitter) -> list:
    dtype = e.dtype(1, 2)
    return [e.one("Where", [e.input(0), e.input(1, dtype), e.input(2, dtype)])]


def _masked_fill(e: Emitter) -> list:
    dtype = e.dtype(0)
    if e.builder.lookup(e.args[2]) is None:  # a number: a constant of x's dtype
        value = e.scalar(e.constant_array(2), dtype)
    else:  # a 0-d tensor the model computes or holds
        value = e.input(2)
        if e.array(2).dtype != dtype:
            value = e.one("Cast", [value], to=ONNX_CODES[dtype])
    return [e.one("Where", [e.input(1), value, e.input(0)])]


MATH_CONVERTERS: dict[type, Callable[[Emitter], list]] = {
    unary.Step: _step,
    unary.Log1p: _log1p,
    unary.Expm1: _expm1,
    unary.LogBase: _log_base,
    unary.Rsqrt: _rsqrt,
    unary.Square: _square,
    unary.Atan2: _atan2,
    unary.NanToNum: _nan_to_num,
    arithmetic.Remainder: _remainder,
    indexing.Where: _where,
    indexing.MaskedFill: _masked_fill,
}

__all__ = ["MATH_CONVERTERS"]
