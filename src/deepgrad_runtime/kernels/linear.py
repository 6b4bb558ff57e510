"""Matrix products and linear quantization: Gemm, MatMul, Einsum, QuantizeLinear,
DequantizeLinear.

Gemm folds alpha into a constant B and beta into a constant C once, at load time. Quantization
follows ONNX (opset 13): per-tensor (a scalar scale) or per-axis (a 1-d scale along ``axis``),
round half to even, saturate to the zero point's integer type (uint8 when it is omitted).
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np

from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.base import (
    Attributes,
    Consts,
    Kernel,
    Workspace,
    arity,
    check_size,
    given,
    register,
)


def _matrix(b: np.ndarray, what: str) -> np.ndarray:
    if b.ndim != 2:
        raise ValueError(f"{what} must be a matrix; got shape {b.shape}")
    return b


@register("Gemm")
def _gemm(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """Y = alpha * A' @ B' + beta * C, with A' = A.T if transA, B' = B.T if transB."""
    arity(node, (2, 3))
    attrs = Attributes(node)
    alpha, beta = attrs.float("alpha", 1.0), attrs.float("beta", 1.0)
    trans_a = bool(attrs.int("transA", 0, 0, 1))
    trans_b = bool(attrs.int("transB", 0, 0, 1))
    weight = consts[1]
    if weight is not None:
        weight = _matrix(weight, "B").T if trans_b else _matrix(weight, "B")
        if alpha != 1.0:
            weight = (weight * alpha).astype(weight.dtype, copy=False)
    has_bias = given(node, 2) and beta != 0.0
    bias = consts[2] if has_bias else None
    if bias is not None:
        bias = (bias * beta).astype(bias.dtype, copy=False) if beta != 1.0 else bias

    def gemm(a: np.ndarray, b: np.ndarray, c: Any = None) -> np.ndarray:
        if a.ndim != 2:
            raise ValueError(f"A must be a matrix; got shape {a.shape}")
        if weight is None:
            b = _matrix(b, "B").T if trans_b else _matrix(b, "B")
            y = np.matmul(a.T if trans_a else a, b)
            if alpha != 1.0:
                y *= alpha
        else:
            y = np.matmul(a.T if trans_a else a, weight)
        if bias is not None:
            y += bias
        elif has_bias:
            y += c * beta if beta != 1.0 else c
        return y

    return gemm


@register("MatMul")
def _matmul(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (2, 2))
    return np.matmul


_SUBSCRIPTS = frozenset(string.ascii_letters)


def _einsum_terms(equation: str, operands: int) -> tuple[list[str], str | None]:
    """The subscripts of each operand and of the output (None when implicit), spaces removed;
    ValueError for a malformed equation."""
    compact = equation.replace(" ", "")
    lhs, arrow, rhs = compact.partition("->")
    terms = lhs.split(",")
    for term in [*terms, rhs]:
        rest = term.replace("...", "", 1)
        if not set(rest) <= _SUBSCRIPTS:
            raise ValueError(f"equation {equation!r}: subscripts {term!r} may hold only letters "
                             f"and one '...'")
    if len(terms) != operands:
        raise ValueError(f"equation {equation!r} has {len(terms)} operand terms, but the node "
                         f"has {operands} inputs")
    return terms, rhs if arrow else None


def _einsum_size(terms: list[str], output: str | None, shapes: list[tuple[int, ...]]) -> int:
    """At most how many elements the output has (the size guard)."""
    sizes: dict[str, int] = {}
    batch: tuple[int, ...] = ()
    for term, shape in zip(terms, shapes):
        named = term.replace("...", "")
        extra = len(shape) - len(named)
        if extra < 0 or (extra and "..." not in term):
            raise ValueError(f"subscripts {term!r} do not fit an input of shape {shape}")
        at = term.find("...")
        if at >= 0:
            batch = np.broadcast_shapes(batch, shape[at:at + extra])
            shape = shape[:at] + shape[at + extra:]
        for letter, size in zip(named, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    if output is None:
        letters = "".join(terms)
        output = "..." + "".join(c for c in sizes if letters.count(c) == 1)
    count = math.prod(sizes.get(c, 1) for c in output.replace("...", ""))
    return count * math.prod(batch) if "..." in output else count


@register("Einsum")
def _einsum(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """The sum of products in Einstein notation (NumPy's einsum has ONNX's semantics)."""
    arity(node, (1, 2 ** 31))
    equation = node.attrs.get("equation")
    if not isinstance(equation, str):
        raise ValueError(f"attribute 'equation' (a string) is required; got {equation!r}")
    terms, output = _einsum_terms(equation, len(node.inputs))
    compact = equation.replace(" ", "")

    def einsum(*xs: np.ndarray) -> np.ndarray:
        if len({x.dtype for x in xs}) > 1:
            raise ValueError(f"the inputs must have one type; got {[str(x.dtype) for x in xs]}")
        check_size("the output", _einsum_size(terms, output, [x.shape for x in xs]),
                   sum(x.size for x in xs))
        y = np.einsum(compact, *xs, optimize=len(xs) > 1)
        # One operand and nothing summed: NumPy returns a view, which must not be shared.
        return y.copy() if any(np.may_share_memory(y, x) for x in xs) else y

    return einsum


def along_axis(value: np.ndarray, shape: tuple[int, ...], axis: int, what: str) -> np.ndarray:
    """A scale or zero point shaped to broadcast against an input of ``shape``: a scalar (or one
    value) as is, a 1-d tensor along ``axis`` when it has one value per index there."""
    if value.ndim == 0 or value.size == 1:
        return value.reshape(())
    if value.ndim != 1:
        raise ValueError(f"{what} must be a scalar or 1-d; got shape {value.shape}")
    rank = len(shape)
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise ValueError(f"axis {axis} is out of range for an input of shape {shape}, and "
                         f"{what} has {value.size} values (one per index along the axis)")
    if value.size != shape[a]:
        raise ValueError(f"{what} has {value.size} values, but axis {axis} of the input of "
                         f"shape {shape} has {shape[a]} (a per-axis scale holds one value per "
                         f"index along the axis)")
    broadcast = [1] * rank
    broadcast[a] = value.size
    return value.reshape(broadcast)


_INTEGER_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def quantization_levels(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None = None,
                        axis: int = 1) -> tuple[np.ndarray, np.dtype]:
    """``round(x / scale) + zero_point`` (half to even) as floats, before saturation, and the
    integer type that QuantizeLinear saturates them to (the zero point's; uint8 without one).

    Raises:
        ValueError: a zero point that is not int8 or uint8, a scale that is not floating point,
            or a scale or zero point whose shape does not fit ``axis``.
    """
    dtype = np.dtype(np.uint8) if zero is None else zero.dtype
    if dtype not in _INTEGER_TYPES:
        raise ValueError(f"the zero point must be int8 or uint8; got {dtype}")
    if scale.dtype.kind != "f":
        raise ValueError(f"the scale must be floating point; got {scale.dtype}")
    # Division, not multiplication by 1/scale, gives ONNX's levels at the rounding boundaries.
    y = np.rint(x / along_axis(scale, x.shape, axis, "the scale"))
    if zero is not None:
        y += along_axis(zero, x.shape, axis, "the zero point")
    return y, dtype


def quantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None = None,
                    axis: int = 1) -> np.ndarray:
    """ONNX's QuantizeLinear: ``saturate(round(x / scale) + zero_point)``; errors as
    :func:`quantization_levels`."""
    y, dtype = quantization_levels(x, scale, zero, axis)
    info = np.iinfo(dtype)
    return np.clip(y, info.min, info.max, out=y).astype(dtype)


def dequantize_linear(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None = None,
                      axis: int = 1) -> np.ndarray:
    """ONNX's DequantizeLinear: ``(x - zero_point) * scale``, in the scale's floating-point type.

    Raises:
        ValueError: an input that is not integer, a scale that is not floating point, a zero
            point of another type than the input, or a scale or zero point whose shape does not
            fit ``axis``.
    """
    if x.dtype.kind not in "iu":
        raise ValueError(f"the input must be integers; got {x.dtype}")
    if scale.dtype.kind != "f":
        raise ValueError(f"the scale must be floating point; got {scale.dtype}")
    if zero is not None and zero.dtype != x.dtype:
        raise ValueError(f"the zero point's type {zero.dtype} differs from the input's "
                         f"{x.dtype}")
    scale = along_axis(scale, x.shape, axis, "the scale")
    shifted = x.astype(np.int32)
    if zero is not None:
        shifted -= along_axis(zero, x.shape, axis, "the zero point").astype(np.int32)
    y = shifted.astype(scale.dtype)
    y *= scale
    return y


@register("QuantizeLinear")
def _quantize(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """y = saturate(round(x / scale) + zero_point)."""
    arity(node, (2, 3))
    axis = Attributes(node).int("axis", 1)
    return lambda x, scale, zero=None: quantize_linear(x, scale, zero, axis)


@register("DequantizeLinear")
def _dequantize(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """y = (x - zero_point) * scale, in the scale's floating-point type."""
    arity(node, (2, 3))
    axis = Attributes(node).int("axis", 1)
    return lambda x, scale, zero=None: dequantize_linear(x, scale, zero, axis)


__all__ = ["along_axis", "dequantize_linear", "quantization_levels", "quantize_linear"]
