"""Converters from deepgrad's ops to graph nodes with ONNX semantics, one per Function class.

A converter gets an :class:`~deepgrad.export.emit.Emitter` for one traced op and returns the
value name of each of the op's outputs (None for an output nothing may read). This module holds
the elementwise, shape, reduction and indexing ops; :mod:`deepgrad.export.convert_layers` the
layers' fused ops (convolution, pooling, normalization, recurrent);
:mod:`deepgrad.export.convert_tensor` norms, scans, sorting, einsum and repetition;
:mod:`deepgrad.export.convert_math` the elementwise math composed of several operators;
:mod:`deepgrad.export.convert_rearrange` flip, roll, triangles, gather, scatter and padding;
:mod:`deepgrad.export.convert_compare` comparisons, logic and argmax. ``CONVERTERS`` maps every
exportable Function class to its converter, ``UNEXPORTABLE`` says why some have none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from deepgrad.export.convert_compare import COMPARE_CONVERTERS
from deepgrad.export.convert_layers import LAYER_CONVERTERS
from deepgrad.export.convert_math import MATH_CONVERTERS
from deepgrad.export.convert_rearrange import REARRANGE_CONVERTERS
from deepgrad.export.convert_tensor import TENSOR_CONVERTERS, as_int64, element_count
from deepgrad.export.emit import INT64_MAX, Emitter, data_of
from deepgrad.ops import (
    activations,
    arithmetic,
    distance,
    dropout,
    elementwise,
    embedding,
    indexing,
    join,
    linear,
    piecewise,
    reductions,
    scan,
    shape,
    smooth,
    sorting,
    unary,
)

Converter = Callable[[Emitter], list]

_BINARY = {arithmetic.Add: "Add", arithmetic.Sub: "Sub", arithmetic.Mul: "Mul",
           arithmetic.Div: "Div", arithmetic.Pow: "Pow", arithmetic.MatMul: "MatMul",
           indexing.Maximum: "Max", indexing.Minimum: "Min"}
_UNARY = {arithmetic.Neg: "Neg", elementwise.Exp: "Exp", elementwise.Log: "Log",
          elementwise.Sqrt: "Sqrt", elementwise.Abs: "Abs", elementwise.Tanh: "Tanh",
          elementwise.Sin: "Sin", elementwise.Cos: "Cos", elementwise.Erf: "Erf",
          unary.Asin: "Asin", unary.Acos: "Acos", unary.Atan: "Atan", unary.Sinh: "Sinh",
          unary.Cosh: "Cosh", unary.Reciprocal: "Reciprocal",
          activations.Sigmoid: "Sigmoid", activations.ReLU: "Relu"}


def _dtype_of(e: Emitter) -> Any:
    """The dtype of the op's first array argument (for its Python-number operands)."""
    for value in e.args:
        array = data_of(value)
        if isinstance(array, np.ndarray):
            return array.dtype
    raise e.fail("it has no tensor argument")


def _binary(e: Emitter) -> list:
    arrays = [data_of(a) for a in e.args[:2]]
    if all(isinstance(a, np.ndarray) for a in arrays) and arrays[0].dtype != arrays[1].dtype \
            and e.op.cls is not arithmetic.Pow:
        raise e.fail(f"its operands have different dtypes ({arrays[0].dtype} and "
                     f"{arrays[1].dtype}); convert one with .to() first")
    dtype = _dtype_of(e)
    return [e.one(_BINARY[e.op.cls], [e.input(0, dtype), e.input(1, dtype)])]


def _unary(e: Emitter) -> list:
    return [e.one(_UNARY[e.op.cls], [e.input(0)])]


def _identity(e: Emitter) -> list:
    # Dropout (traced only when called with training=True) and clone compute nothing at
    # inference: the output is the input's value.
    return [e.input(0)]


def _linear(e: Emitter) -> list:
    x, weight, bias = e.input(0), e.input(1), e.input(2)
    if len(e.shape(0)) == 2:
        return [e.one("Gemm", [x, weight, bias], transB=1)]
    y = e.one("MatMul", [x, e.one("Transpose", [weight], perm=[1, 0])])
    return [e.one("Add", [y, bias]) if bias else y]


# ------------------------------------------------------------------------------ activations
def _leaky_relu(e: Emitter) -> list:
    return [e.one("LeakyRelu", [e.input(0)], alpha=float(e.args[1]))]


def _elu(e: Emitter) -> list:
    return [e.one("Elu", [e.input(0)], alpha=float(e.args[1]))]


def _gelu(e: Emitter) -> list:
    # x * (1 + erf(x / sqrt 2)) / 2
    x, dtype = e.input(0), _dtype_of(e)
    cdf = e.one("Erf", [e.one("Div", [x, e.scalar(math.sqrt(2), dtype)])])
    cdf = e.one("Add", [cdf, e.scalar(1, dtype)])
    return [e.one("Mul", [e.one("Mul", [x, cdf]), e.scalar(0.5, dtype)])]


def _gelu_tanh(e: Emitter) -> list:
    # x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2
    x, dtype = e.input(0), _dtype_of(e)
    cube = e.one("Mul", [e.one("Mul", [x, x]), x])
    inner = e.one("Add", [x, e.one("Mul", [cube, e.scalar(0.044715, dtype)])])
    t = e.one("Tanh", [e.one("Mul", [inner, e.scalar(math.sqrt(2 / math.pi), dtype)])])
    half = e.one("Mul", [e.one("Add", [t, e.scalar(1, dtype)]), e.scalar(0.5, dtype)])
    return [e.one("Mul", [x, half])]


def _silu(e: Emitter) -> list:
    x = e.input(0)
    return [e.one("Mul", [x, e.one("Sigmoid", [x])])]


def _softplus(e: Emitter) -> list:
    _, beta, threshold = e.args
    dtype = _dtype_of(e)
    # Above the threshold deepgrad returns x itself; ONNX's Softplus keeps log(1 + exp(z)),
    # which differs from z by log1p(exp(-z)): below float precision once z >= 15 (float32).
    limit = 15 if dtype == np.float32 else 37
    if threshold < limit:
        raise e.fail(f"threshold={threshold} switches to the identity where ONNX's Softplus "
                     f"does not (thresholds >= {limit} export exactly)")
    x = e.input(0)
    if beta == 1:
        return [e.one("Softplus", [x])]
    scaled = e.one("Softplus", [e.one("Mul", [x, e.scalar(beta, dtype)])])
    return [e.one("Div", [scaled, e.scalar(beta, dtype)])]


def _clamp(e: Emitter) -> list:
    dtype = _dtype_of(e)
    return [e.one("Clip", [e.input(0), e.input(1, dtype), e.input(2, dtype)])]


def _relu6_of_shifted(e: Emitter, x: str) -> str:
    # Clip(x + 3, 0, 6) rather than ONNX's HardSigmoid, whose x / 6 + 1/2 rounds differently
    # and which onnxruntime has only for float32.
    dtype = _dtype_of(e)
    shifted = e.one("Add", [x, e.scalar(3, dtype)])
    return e.one("Clip", [shifted, e.scalar(0, dtype), e.scalar(6, dtype)])


def _hardsigmoid(e: Emitter) -> list:
    return [e.one("Div", [_relu6_of_shifted(e, e.input(0)), e.scalar(6, _dtype_of(e))])]


def _hardswish(e: Emitter) -> list:
    x = e.input(0)
    product = e.one("Mul", [x, _relu6_of_shifted(e, x)])
    return [e.one("Div", [product, e.scalar(6, _dtype_of(e))])]


def _prelu(e: Emitter) -> list:
    # Relu(x) + w * Min(x, 0) is x where x > 0 and w * x elsewhere, exactly; deepgrad_runtime
    # has no PRelu.
    x, dtype = e.input(0), _dtype_of(e)
    weight = e.one("Reshape", [e.input(1), e.ints(e.options["shape"], "shape")])
    negative = e.one("Mul", [e.one("Min", [x, e.scalar(0, dtype)]), weight])
    return [e.one("Add", [e.one("Relu", [x]), negative])]


def _scaled_elu(e: Emitter) -> list:
    # scale * (x if x > 0 else alpha * expm1(input_scale * x)), from operators deepgrad_runtime
    # has (ONNX's Selu and Celu are each one case of it).
    _, alpha, scale, input_scale = e.args
    x, dtype = e.input(0), _dtype_of(e)
    if input_scale == 1:
        y = e.one("Elu", [x], alpha=float(alpha))
    else:
        z = e.one("Mul", [e.one("Min", [x, e.scalar(0, dtype)]), e.scalar(input_scale, dtype)])
        if input_scale > 0:  # z <= 0, where Elu is alpha * expm1(z)
            negative = e.one("Elu", [z], alpha=float(alpha))
        else:
            expm1 = e.one("Sub", [e.one("Exp", [z]), e.scalar(1, dtype)])
            negative = e.one("Mul", [expm1, e.scalar(alpha, dtype)])
        y = e.one("Add", [e.one("Relu", [x]), negative])
    return [y if scale == 1 else e.one("Mul", [y, e.scalar(scale, dtype)])]


def _mish(e: Emitter) -> list:
    x = e.input(0)
    return [e.one("Mul", [x, e.one("Tanh", [e.one("Softplus", [x])])])]


# ------------------------------------------------------------------------------ reductions
def _reduce_sum(e: Emitter, x: str, axes: tuple | None, keepdim: bool) -> str:
    inputs = [x] if axes is None else [x, e.ints(axes, "axes")]
    return e.one("ReduceSum", inputs, keepdims=int(keepdim))


def _sum(e: Emitter) -> list:
    return [_reduce_sum(e, as_int64(e), e.options["axes"], e.options["keepdim"])]


def _mean(e: Emitter) -> list:
    axes = e.options["axes"]
    reduced = tuple(range(len(e.shape(0)))) if axes is None else tuple(axes)
    x, dtype = e.input(0), _dtype_of(e)
    total = _reduce_sum(e, x, axes, e.options["keepdim"])
    return [e.one("Div", [total, element_count(e, x, reduced, dtype)])]


def _softmax(e: Emitter) -> list:
    op = "Softmax" if e.op.cls is reductions.Softmax else "LogSoftmax"
    return [e.one(op, [e.input(0)], axis=int(e.options["axis"]))]


# ------------------------------------------------------------------------------ shapes
def _reshape(e: Emitter) -> list:
    target = _dynamic_shape(e, list(e.options["shape"]), list(e.op2.options["shape"]))
    return [e.one("Reshape", [e.input(0), e.ints(target, "shape")])]


def _dynamic_shape(e: Emitter, first: list[int], second: list[int]) -> list[int]:
    """The Reshape target for any batch size: a size that differs between the two traces is
    0 (copy the input's size) where it is the input's own size at the same position, else -1
    (inferred), which only one size may be."""
    in1, in2 = e.shape(0), data_of(e.op2.args[0]).shape
    target = list(first)
    for k, (a, b) in enumerate(zip(first, second)):
        if a != b:
            target[k] = 0 if k < len(in1) and in1[k] == a and in2[k] == b else -1
    if target.count(-1) > 1:
        raise e.fail(f"the target shape {tuple(first)} has more than one size that changes "
                     f"with the batch size; export with dynamic_batch=False")
    if 0 in [a for a, b in zip(first, second) if a == b]:
        raise e.fail(f"the target shape {tuple(first)} has a size 0, which ONNX's Reshape "
                     f"reads as 'copy the input's size'")
    return target


def _permute(e: Emitter) -> list:
    return [e.one("Transpose", [e.input(0)], perm=list(e.options["dims"]))]


def _cat(e: Emitter) -> list:
    return [e.one("Concat", [e.input(i) for i in range(len(e.args))],
                  axis=int(e.options["dim"]))]


def _stack(e: Emitter) -> list:
    dim = int(e.options["dim"])
    parts = [e.one("Unsqueeze", [e.input(i), e.ints([dim], "axes")])
             for i in range(len(e.args))]
    return [e.one("Concat", parts, axis=dim)]


def _split(e: Emitter) -> list:
    sizes = e.options["sizes"]
    return e.node("Split", [e.input(0), e.ints(sizes, "split")], len(sizes),
                  axis=int(e.options["dim"]))


# ------------------------------------------------------------------------------ indexing
def _basic_index(e: Emitter) -> list:
    """x[index] for ints, slices, None and Ellipsis: one Slice for the slices, a Gather per
    int (which drops its dimension), one Unsqueeze for the Nones."""
    index = list(e.options["index"])
    ndim = len(e.shape(0))
    if Ellipsis in index:
        at = index.index(Ellipsis)
        fill = ndim - sum(item is not None for item in index if item is not Ellipsis)
        index[at:at + 1] = [slice(None)] * fill
    index += [slice(None)] * (ndim - sum(item is not None for item in index))
    starts, ends, axes, steps, gathers, new_axes = [], [], [], [], [], []
    axis = out_axis = 0
    for item in index:
        if item is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        if isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                starts.append(0 if item.start is None else int(item.start))
                ends.append(INT64_MAX if item.stop is None else int(item.stop))
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        else:
            gathers.append((axis, int(item)))
        axis += 1
    y = e.input(0)
    if axes:
        y = e.one("Slice", [y, e.ints(starts, "starts"), e.ints(ends, "ends"),
                            e.ints(axes, "axes"), e.ints(steps, "steps")])
    for axis, position in reversed(gathers):  # from the last, so earlier axes keep their place
        y = e.one("Gather", [y, e.scalar(position, np.int64)], axis=axis)
    if new_axes:
        y = e.one("Unsqueeze", [y, e.ints(new_axes, "axes")])
    if y == e.input(0):
        y = e.one("Identity", [y])
    return [y]


def _advanced_index(e: Emitter) -> list:
    """x[..., indices, ...] with one constant integer array among full slices: a Gather."""
    index = e.options["index"]
    arrays = [k for k, item in enumerate(index) if isinstance(item, np.ndarray)]
    plain = all(isinstance(item, slice) and item == slice(None)
                for k, item in enumerate(index) if k not in arrays)
    if len(arrays) != 1 or not plain or index[arrays[0]].dtype.kind not in "iu":
        raise e.fail("only indexing with one integer array (among full slices) exports")
    indices = index[arrays[0]].astype(np.int64)
    constant = e.builder.cached_constant(indices, f"{e.layer or 'model'}.indices")
    return [e.one("Gather", [e.input(0), constant], axis=arrays[0])]


def _embedding(e: Emitter) -> list:
    return [e.one("Gather", [e.input(0), e.input(1)], axis=0)]


CONVERTERS: dict[type, Converter] = {
    **dict.fromkeys(_BINARY, _binary),
    **dict.fromkeys(_UNARY, _unary),
    dropout.Dropout: _identity,
    shape.Clone: _identity,
    linear.Linear: _linear,
    activations.LeakyReLU: _leaky_relu,
    activations.ELU: _elu,
    activations.GELU: _gelu,
    activations.GELUTanh: _gelu_tanh,
    activations.SiLU: _silu,
    activations.Softplus: _softplus,
    activations.Clamp: _clamp,
    distance.AtLeast: _clamp,
    piecewise.Hardtanh: _clamp,
    piecewise.Hardsigmoid: _hardsigmoid,
    piecewise.Hardswish: _hardswish,
    piecewise.PReLU: _prelu,
    smooth.ScaledELU: _scaled_elu,
    smooth.Mish: _mish,
    reductions.Sum: _sum,
    reductions.Mean: _mean,
    reductions.Softmax: _softmax,
    reductions.LogSoftmax: _softmax,
    shape.Reshape: _reshape,
    shape.ReshapeCopy: _reshape,
    shape.Permute: _permute,
    join.Cat: _cat,
    join.Stack: _stack,
    join.Split: _split,
    indexing.BasicIndex: _basic_index,
    indexing.AdvancedIndex: _advanced_index,
    embedding.Embedding: _embedding,
    **LAYER_CONVERTERS,
    **TENSOR_CONVERTERS,
    **MATH_CONVERTERS,
    **REARRANGE_CONVERTERS,
    **COMPARE_CONVERTERS,
}
# Ops that ONNX has no natural form for, and what the trace's error says instead of naming only
# the class.
UNEXPORTABLE: dict[type, str] = {
    scan.CumExtreme: "cummax and cummin have no ONNX equivalent (ONNX has a running sum only)",
    sorting.ModeIndex: "mode has no ONNX equivalent (it counts runs of equal sorted values)",
    sorting.Histc: "histc has no ONNX equivalent (a histogram's counts by value)",
}
# Ops whose options may differ between the two traces of a dynamic batch: their converters
# write those options in a form that holds for any batch size.
SHAPE_OPTIONS: dict[type, frozenset[str]] = {
    shape.Reshape: frozenset({"shape"}),
    shape.ReshapeCopy: frozenset({"shape"}),
    shape.Expand: frozenset({"shape"}),
    reductions.Var: frozenset({"dof"}),
    reductions.Std: frozenset({"dof"}),
}

__all__ = ["CONVERTERS", "SHAPE_OPTIONS", "UNEXPORTABLE", "Converter"]
