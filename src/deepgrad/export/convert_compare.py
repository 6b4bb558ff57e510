"""Converters of the ops without gradient that compute masks and indices from the input:
comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual; ``!=`` as Not of Equal), logic
(And, Or, Xor, Not, also for ``& | ^ ~`` on bool tensors), isnan / isinf / isfinite (IsNaN,
IsInf), isclose, any / all / count_nonzero (ReduceSum of a cast) and argmax / argmin (ArgMax,
ArgMin).

The operands of a comparison are compared in the dtype NumPy compares them in: a Python number
takes the tensor's dtype (``x > 0`` on float32 compares float32), a float number meets an integer
tensor in float64, a bool tensor compares as uint8 (ONNX orders only numbers). The logical ops
read nonzero as True, as deepgrad does, by a Cast to bool. ONNX leaves ArgMax of NaN open:
the exported argmax and argmin pick the first NaN of a slice that has one, as NumPy does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deepgrad.export.convert_tensor import ONNX_CODES
from deepgrad.export.emit import Emitter, data_of
from deepgrad.ops import compare, reductions

_ORDER = {np.equal: "Equal", np.not_equal: "Equal", np.less: "Less", np.greater: "Greater",
          np.less_equal: "LessOrEqual", np.greater_equal: "GreaterOrEqual"}
_LOGIC = {np.logical_and: "And", np.logical_or: "Or", np.logical_xor: "Xor"}
_BITWISE = {np.bitwise_and: "And", np.bitwise_or: "Or", np.bitwise_xor: "Xor"}
_BOOL = np.dtype(np.bool_)
_INT64 = np.dtype(np.int64)


def _cast(e: Emitter, x: str, source: np.dtype, target: np.dtype) -> str:
    return x if source == target else e.one("Cast", [x], to=ONNX_CODES[target])


def _operand(e: Emitter, i: int, dtype: np.dtype) -> str:
    """Argument ``i`` in ``dtype``: a tensor cast to it, a Python number as a constant of it
    (rounded to a float dtype, as NumPy rounds it; an integer must fit)."""
    value = data_of(e.args[i])
    if isinstance(value, np.ndarray):
        return _cast(e, e.input(i), value.dtype, dtype)
    if dtype.kind in "iu" and not np.iinfo(dtype).min <= value <= np.iinfo(dtype).max:
        raise e.fail(f"the number {value!r} does not fit the tensor's dtype {dtype} (NumPy "
                     f"compares it exactly; the graph cannot): compare a wider tensor")
    return e.scalar(value, dtype)


def _common_dtype(e: Emitter) -> np.dtype:
    """The dtype NumPy compares the two operands in, where the graph can hold it."""
    dtype = np.result_type(*[data_of(a) for a in e.args[:2]])
    if dtype not in ONNX_CODES:
        raise e.fail(f"the graph has no {dtype} to compare in (it holds "
                     f"{', '.join(str(d) for d in ONNX_CODES)})")
    return dtype


def _as_bool(e: Emitter, i: int) -> str:
    """Argument ``i`` read as bool: nonzero is True."""
    value = data_of(e.args[i])
    if isinstance(value, np.ndarray):
        return _cast(e, e.input(i), value.dtype, _BOOL)
    return e.scalar(bool(value), _BOOL)


def _binary_logic(e: Emitter) -> list:
    ufunc = e.options["ufunc"]
    if ufunc in _ORDER:
        dtype = _common_dtype(e)
        if dtype == _BOOL and ufunc not in (np.equal, np.not_equal):
            dtype = np.dtype(np.uint8)  # ONNX's Less and Greater take numbers only
        y = e.one(_ORDER[ufunc], [_operand(e, 0, dtype), _operand(e, 1, dtype)])
        return [e.one("Not", [y]) if ufunc is np.not_equal else y]
    if ufunc in _LOGIC:
        return [e.one(_LOGIC[ufunc], [_as_bool(e, 0), _as_bool(e, 1)])]
    dtype = np.result_type(*[data_of(a) for a in e.args[:2]])
    if dtype != _BOOL:
        raise e.fail(f"a bitwise op on {dtype} values: only bool tensors export (And, Or, Xor), "
                     f"as ONNX has bitwise operators on integers only from opset 18")
    return [e.one(_BITWISE[ufunc], [_operand(e, 0, _BOOL), _operand(e, 1, _BOOL)])]


def _unary_logic(e: Emitter) -> list:
    ufunc, dtype, x = e.options["ufunc"], e.array(0).dtype, e.input(0)
    if ufunc is np.logical_not:
        return [e.one("Not", [_cast(e, x, dtype, _BOOL)])]
    if ufunc is np.invert:
        if dtype != _BOOL:
            raise e.fail(f"~ of {dtype} values: only bool tensors export (Not), as ONNX has "
                         f"BitwiseNot only from opset 18")
        return [e.one("Not", [x])]
    if dtype.kind != "f":  # an integer is never NaN nor infinite: x == x is all True
        everywhere = e.one("Equal", [x, x])
        return [everywhere if ufunc is np.isfinite else e.one("Not", [everywhere])]
    if ufunc is np.isnan:
        return [e.one("IsNaN", [x])]
    if ufunc is np.isinf:
        return [e.one("IsInf", [x])]
    return [e.one("Not", [e.one("Or", [e.one("IsNaN", [x]), e.one("IsInf", [x])])])]


def _isclose(e: Emitter) -> list:
    """NumPy's (|a - b| <= atol + rtol * |b|) & isfinite(b) | (a == b), or NaN on both sides
    with equal_nan; the bound of a number b is computed as NumPy does, in Python."""
    rtol, atol, equal_nan = e.options["rtol"], e.options["atol"], e.options["equal_nan"]
    arrays = [data_of(a) for a in e.args[:2]]
    if all(isinstance(a, np.ndarray) for a in arrays) and arrays[0].dtype != arrays[1].dtype:
        raise e.fail(f"its operands have different dtypes ({arrays[0].dtype} and "
                     f"{arrays[1].dtype}); convert one with .to() first")
    # NumPy makes a tensor b inexact (an integer one float64), and a follows b; a number takes
    # the tensor's dtype.
    inexact = np.result_type(arrays[1], 1.0) if isinstance(arrays[1], np.ndarray) else arrays[1]
    dtype = np.result_type(arrays[0], inexact)
    a, b = _operand(e, 0, dtype), _operand(e, 1, dtype)
    distance = e.one("Abs", [e.one("Sub", [a, b])])
    if isinstance(arrays[1], np.ndarray):
        bound = e.one("Add", [e.scalar(atol, dtype), e.one("Mul", [e.scalar(rtol, dtype),
                                                                   e.one("Abs", [b])])])
        finite = e.one("Not", [e.one("Or", [e.one("IsNaN", [b]), e.one("IsInf", [b])])])
        near = e.one("And", [e.one("LessOrEqual", [distance, bound]), finite])
    elif math.isfinite(arrays[1]):
        near = e.one("LessOrEqual", [distance, e.scalar(atol + rtol * abs(arrays[1]), dtype)])
    else:  # an infinite or NaN number is close only to itself
        near = None
    y = e.one("Equal", [a, b])
    if near is not None:
        y = e.one("Or", [near, y])
    if equal_nan:
        y = e.one("Or", [y, e.one("And", [e.one("IsNaN", [a]), e.one("IsNaN", [b])])])
    return [y]


def _nonzero_count(e: Emitter, nonzero: str, axes: tuple[int, ...] | None,
                   keepdim: bool) -> str:
    """How many elements of the bool value ``nonzero`` are True over ``axes`` (None: all), as
    int64."""
    ones = e.one("Cast", [nonzero], to=ONNX_CODES[_INT64])
    if axes == ():  # over no dimension: each element on its own
        return ones
    inputs = [ones] if axes is None else [ones, e.ints(axes, "axes")]
    return e.one("ReduceSum", inputs, keepdims=int(keepdim))


def _any_all(e: Emitter) -> list:
    """any: a count of the nonzero elements above 0; all: a count of the zeros equal to 0."""
    axes, keepdim, every = e.options["axes"], e.options["keepdim"], e.options["every"]
    nonzero = _cast(e, e.input(0), e.array(0).dtype, _BOOL)
    if axes == ():  # over no dimension: each element on its own
        return [nonzero if nonzero != e.input(0) else e.one("Identity", [nonzero])]
    if every:
        nonzero = e.one("Not", [nonzero])
    count = _nonzero_count(e, nonzero, axes, keepdim)
    return [e.one("Equal" if every else "Greater", [count, e.scalar(0, _INT64)])]


def _count_nonzero(e: Emitter) -> list:
    nonzero = _cast(e, e.input(0), e.array(0).dtype, _BOOL)
    return [_nonzero_count(e, nonzero, e.options["axes"], False)]


def _arg_extremum(e: Emitter) -> list:
    """ArgMax / ArgMin (the first of equal elements, as NumPy); into the flattened tensor for
    no axis. Where a float slice holds NaN, the first NaN's index, which NumPy picks."""
    axis, keepdim, largest = e.options["axis"], e.options["keepdim"], e.options["largest"]
    shape, dtype = e.shape(0), e.array(0).dtype
    if not shape:  # a 0-d tensor: its one element, at index 0
        return [e.builder.cached_constant(np.zeros((), np.int64), "index")]
    x = e.input(0)
    if axis is None:
        x = e.one("Reshape", [x, e.ints([-1], "shape")])
    if dtype == _BOOL:  # ONNX's ArgMax takes numbers only
        x = e.one("Cast", [x], to=ONNX_CODES[np.dtype(np.uint8)])
    along = 0 if axis is None else axis
    op = "ArgMax" if largest else "ArgMin"
    y = e.one(op, [x], axis=along, keepdims=1, select_last_index=0)
    if dtype.kind == "f":
        nan = e.one("IsNaN", [x])
        first_nan = e.one("ArgMax", [e.one("Cast", [nan], to=ONNX_CODES[np.dtype(np.uint8)])],
                          axis=along, keepdims=1, select_last_index=0)
        has_nan = e.one("GatherElements", [nan, first_nan], axis=along)
        y = e.one("Where", [has_nan, first_nan, y])
    if axis is None:
        return [e.one("Reshape", [y, e.ints([1] * len(shape) if keepdim else [], "shape")])]
    return [y if keepdim else e.one("Squeeze", [y, e.ints([axis], "axes")])]


COMPARE_CONVERTERS: dict[type, Callable[[Emitter], list]] = {
    compare.BinaryLogic: _binary_logic,
    compare.UnaryLogic: _unary_logic,
    compare.IsClose: _isclose,
    compare.AnyAll: _any_all,
    compare.CountNonzero: _count_nonzero,
    reductions.ArgExtremum: _arg_extremum,
}

__all__ = ["COMPARE_CONVERTERS"]
