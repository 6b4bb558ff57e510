"""Converters of the tensor ops built from reductions, scans, sorting, contraction and repetition:
``norm``, ``prod``, ``amax`` / ``amin``, ``max`` / ``min`` along a dim, ``var`` / ``std``,
``logsumexp``, ``cumsum``, ``cumprod``, ``sort`` / ``topk``, ``einsum``, ``tile`` / ``repeat``
and ``expand`` / ``broadcast_to``.

Every op is written with operators whose inputs and attributes are the same in opsets 17 and
18 (ReduceMax and ReduceMin moved their axes from an attribute to an input in 18, so maxima and
minima are taken with TopK instead; ReduceProd moved them too, and is written with its axes as an
input, as deepgrad's graph holds those of ReduceMean, which the ONNX writer turns into the
attribute of opset 17). ``var`` and ``std`` subtract the mean (ReduceSum over the count) as
deepgrad does, and ``logsumexp`` shifts by the maximum, 0 where that is infinite, as deepgrad
does. ONNX has no running product: ``cumprod`` is a
log-depth scan of Slice, Mul and Concat: the same products associated differently (floats may
differ in the last bits), exact for zeros, negatives and integers, where Exp(CumSum(Log(x))) is
not; its step count fixes the length of the scanned dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deepgrad.export.emit import Emitter, data_of
from deepgrad.ops import (
    einsum,
    elementwise,
    rearrange,
    reductions,
    scan,
    shape,
    sorting,
    vector_norm,
)
from deepgrad_runtime.graph import ONNX_DTYPES

# ONNX's number of each dtype (Cast's "to")
ONNX_CODES = {np.dtype(name): code for code, name in ONNX_DTYPES.items()}
"""ONNX's TensorProto code of each NumPy dtype (Cast's ``to``)."""


def as_int64(e: Emitter) -> str:
    """Argument 0, cast to int64 when it holds integers or booleans (deepgrad's sums and scans
    accumulate them as int64, as PyTorch's do)."""
    dtype = e.array(0).dtype
    if dtype.kind in "biu" and dtype != np.int64:
        return e.one("Cast", [e.input(0)], to=ONNX_CODES[np.dtype(np.int64)])
    return e.input(0)


# ------------------------------------------------------------------------------ norms
def _extremum(e: Emitter, x: str, axes: tuple[int, ...], largest: bool) -> str:
    """The max (or min) of ``x`` over ``axes``, kept as size-1 dimensions: a TopK with k=1
    per axis."""
    k = e.ints([1], "k")
    for axis in axes:
        x = e.node("TopK", [x, k], 2, axis=axis, largest=int(largest))[0]
    return x


def _norm(e: Emitter) -> list:
    axes, keepdim, p = e.options["axes"], e.options["keepdim"], e.options["p"]
    dtype = e.array(0).dtype
    ndim = len(e.shape(0))
    axes = tuple(range(ndim)) if axes is None else tuple(axes)
    reduce_axes = [e.ints(axes, "axes")] if axes else []
    x = e.input(0)
    if math.isinf(p):
        if not axes:  # a 0-d tensor: the max of one |x|
            return [e.one("Abs", [x])]
        y = _extremum(e, e.one("Abs", [x]), axes, p > 0)
        return [y if keepdim else e.one("Squeeze", [y, e.ints(axes, "axes")])]
    if p == 2:
        terms = e.one("Mul", [x, x])
    elif p == 1:
        terms = e.one("Abs", [x])
    elif p == 0:  # counts the nonzero elements: x != 0 as 0 or 1
        if dtype not in ONNX_CODES:
            raise e.fail(f"the graph has no {dtype} type to count nonzero elements in")
        nonzero = e.one("Cast", [x], to=ONNX_CODES[np.dtype(np.bool_)])
        terms = e.one("Cast", [nonzero], to=ONNX_CODES[dtype])
    else:
        terms = e.one("Pow", [e.one("Abs", [x]), e.scalar(p, dtype)])
    total = e.one("ReduceSum", [terms, *reduce_axes], keepdims=int(keepdim))
    if p == 2:
        return [e.one("Sqrt", [total])]
    if p in (0, 1):
        return [total]
    return [e.one("Pow", [total, e.scalar(1 / p, dtype)])]


# ------------------------------------------------------------------------------ reductions
def element_count(e: Emitter, x: str, axes: tuple[int, ...], dtype: np.dtype) -> str:
    """How many elements of argument 0 (``x``) a reduction over ``axes`` takes into each result,
    as a 0-d value of ``dtype``: a constant, times each size that changes with the batch (read
    from ``x``)."""
    shape = e.shape(0)
    dynamic = sorted(set(axes) & e.dynamic_axes(0))
    count = e.scalar(math.prod(shape[a] for a in axes if a not in dynamic), dtype)
    for axis in dynamic:
        size = e.one("Shape", [x], start=axis, end=axis + 1)
        size = e.one("Reshape", [size, e.ints([], "scalar_shape")])
        count = e.one("Mul", [count, e.one("Cast", [size], to=ONNX_CODES[np.dtype(dtype)])])
    return count


def _all_axes(e: Emitter, axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(range(len(e.shape(0)))) if axes is None else tuple(axes)


def _prod(e: Emitter) -> list:
    _, axes, keepdim = e.args
    x = as_int64(e)
    if axes == ():  # a product of each element alone
        return [x] if x != e.input(0) else [e.one("Identity", [x])]
    inputs = [x] if axes is None else [x, e.ints(axes, "axes")]
    return [e.one("ReduceProd", inputs, keepdims=int(keepdim))]


def _amax(e: Emitter) -> list:
    axes, keepdim = _all_axes(e, e.options["axes"]), e.options["keepdim"]
    x = e.input(0)
    if not axes:  # a 0-d tensor: its own maximum
        return [e.one("Identity", [x])]
    y = _extremum(e, x, axes, e.options["largest"])
    return [y if keepdim else e.one("Squeeze", [y, e.ints(axes, "axes")])]


def _max_dim(e: Emitter) -> list:
    """max / min along a dim with the index of the first: TopK with k=1, which puts the lower
    index of equal elements first, in both directions."""
    axis, keepdim = e.options["axis"], e.options["keepdim"]
    x = e.input(0)
    if not e.shape(0):  # a 0-d tensor: itself, at index 0
        return [e.one("Identity", [x]), e.builder.cached_constant(np.zeros((), np.int64),
                                                                  "index")]
    values, indices = e.node("TopK", [x, e.ints([1], "k")], 2, axis=axis,
                             largest=int(e.options["largest"]))
    if keepdim:
        return [values, indices]
    return [e.one("Squeeze", [v, e.ints([axis], "axes")]) for v in (values, indices)]


def _degrees_of_freedom(e: Emitter, count: str, axes: tuple[int, ...], dtype: np.dtype) -> str:
    """max(N - correction, 0): a constant, or computed from the count where N changes with the
    batch (the correction found from a trace that left degrees of freedom)."""
    dof = e.options["dof"]
    if not set(axes) & e.dynamic_axes(0):
        return e.scalar(dof, dtype)
    traces = [(math.prod(e.shape(0)[a] for a in axes), dof),
              (math.prod(data_of(e.op2.args[0]).shape[a] for a in axes), e.op2.options["dof"])]
    corrections = {n - d for n, d in traces if d > 0}
    if len(corrections) != 1:
        raise e.fail("the correction leaves no degrees of freedom at the example's batch size; "
                     "export with a larger example batch")
    free = e.one("Sub", [count, e.scalar(corrections.pop(), dtype)])
    return e.one("Max", [free, e.scalar(0, dtype)])


def _variance(e: Emitter) -> list:
    """var and std: sum((x - mean)**2) / (N - correction), the mean a ReduceSum over N."""
    axes, keepdim = _all_axes(e, e.options["axes"]), e.options["keepdim"]
    x, dtype = e.input(0), e.dtype(0)
    reduce_axes = [e.ints(axes, "axes")] if axes else []
    count = element_count(e, x, axes, dtype)
    mean = e.one("Div", [e.one("ReduceSum", [x, *reduce_axes], keepdims=1), count])
    d = e.one("Sub", [x, mean])
    total = e.one("ReduceSum", [e.one("Mul", [d, d]), *reduce_axes], keepdims=int(keepdim))
    y = e.one("Div", [total, _degrees_of_freedom(e, count, axes, dtype)])
    return [e.one("Sqrt", [y]) if e.op.cls is reductions.Std else y]


def _logsumexp(e: Emitter) -> list:
    """m + log(sum(exp(x - m))) with m the maximum (TopK), 0 where it is infinite."""
    axes, keepdim = _all_axes(e, e.options["axes"]), e.options["keepdim"]
    x, dtype = e.input(0), e.dtype(0)
    if not axes:  # a 0-d tensor: log(exp(x)) is x
        return [e.one("Identity", [x])]
    m = _extremum(e, x, axes, True)
    zero = e.scalar(0, dtype)
    m = e.one("Where", [e.one("IsInf", [m]), zero, m])
    total = e.one("ReduceSum", [e.one("Exp", [e.one("Sub", [x, m])]), e.ints(axes, "axes")],
                  keepdims=1)
    y = e.one("Add", [e.one("Log", [total]), m])
    return [y if keepdim else e.one("Squeeze", [y, e.ints(axes, "axes")])]


# ------------------------------------------------------------------------------ scans
def _cumsum(e: Emitter) -> list:
    x, axis = as_int64(e), e.options["axis"]
    if axis is None:  # a 0-d tensor: its own running sum
        return [x]
    return [e.one("CumSum", [x, e.scalar(axis, np.int64)])]


def _cumprod(e: Emitter) -> list:
    """y_j = x_0 * ... * x_j by doubling steps: after the step of width w, y_j holds the
    product of the (up to) 2w elements ending at j, y_j * y_(j-w) for j >= w."""
    x, axis = as_int64(e), e.options["axis"]
    if axis is None:
        return [x]
    if axis in e.dynamic_axes(0):
        raise e.fail("ONNX has no running product, and the exported one takes a fixed number "
                     "of steps for a fixed length: it cannot run along the batch dimension "
                     "(export with dynamic_batch=False)")
    length = e.shape(0)[axis]
    width = 1
    while width < length:
        head, tail = _slice(e, x, axis, 0, width), _slice(e, x, axis, width, length)
        earlier = _slice(e, x, axis, 0, length - width)
        x = e.one("Concat", [head, e.one("Mul", [tail, earlier])], axis=axis)
        width *= 2
    return [x]


def _slice(e: Emitter, x: str, axis: int, start: int, end: int) -> str:
    return e.one("Slice", [x, e.ints([start], "starts"), e.ints([end], "ends"),
                           e.ints([axis], "axes")])


# ------------------------------------------------------------------------------ sorting
def _sort(e: Emitter) -> list:
    """sort and topk: ONNX's TopK keeps equal elements in input order, as deepgrad does; a
    sort takes k = the dimension's size (read from the input when it is the batch)."""
    axis, descending, k = e.options["axis"], e.options["descending"], e.options["k"]
    x = e.input(0)
    if axis is None:  # a 0-d tensor: itself, at index 0
        return [x, e.builder.cached_constant(np.zeros((), np.int64), "index")]
    if k is None and axis in e.dynamic_axes(0):
        count = e.one("Shape", [x], start=axis, end=axis + 1)
    else:
        count = e.ints([e.shape(0)[axis] if k is None else k], "k")
    values, indices = e.node("TopK", [x, count], 2, axis=axis, largest=int(descending))
    return [values, indices]


# ------------------------------------------------------------------------------ einsum
def _einsum(e: Emitter) -> list:
    # deepgrad's parse made the equation explicit: '...' became letters, the output is given.
    equation = ",".join(e.options["inputs"]) + "->" + e.options["output"]
    return [e.one("Einsum", [e.input(i) for i in range(len(e.args))], equation=equation)]


# ------------------------------------------------------------------------------ repetition
def _tile(e: Emitter) -> list:
    reps = tuple(e.options["reps"])
    x, ndim = e.input(0), len(e.shape(0))
    if not reps:  # a 0-d tensor tiled by nothing: a copy of itself
        return [x]
    if len(reps) > ndim:  # ONNX's Tile takes one repeat per dimension: add the leading ones
        x = e.one("Unsqueeze", [x, e.ints(range(len(reps) - ndim), "axes")])
    return [e.one("Tile", [x, e.ints(reps, "repeats")])]


def _expand(e: Emitter) -> list:
    """ONNX's Expand broadcasts both ways, so a target size that changes with the batch is
    written as 1 where the input has that size itself; a size-1 input dimension broadcast to
    the batch size has no size the graph could write."""
    target, second = list(e.options["shape"]), list(e.op2.options["shape"])
    in1, in2 = e.shape(0), data_of(e.op2.args[0]).shape
    offset = len(target) - len(in1)
    for k, (a, b) in enumerate(zip(target, second)):
        if a == b:
            continue
        j = k - offset
        if j < 0 or in1[j] != a or in2[j] != b:
            raise e.fail(f"it broadcasts a dimension of size {in1[j] if j >= 0 else 1} to the "
                         f"batch size, which the graph cannot read from this input (export "
                         f"with dynamic_batch=False)")
        target[k] = 1
    return [e.one("Expand", [e.input(0), e.ints(target, "shape")])]


def _cast(e: Emitter) -> list:
    dtype = np.dtype(e.args[1])
    if dtype not in ONNX_CODES:
        raise e.fail(f"the graph format has no {dtype} (it holds "
                     f"{', '.join(ONNX_DTYPES.values())})")
    return [e.one("Cast", [e.input(0)], to=ONNX_CODES[dtype])]


TENSOR_CONVERTERS: dict[type, Callable[[Emitter], list]] = {
    elementwise.Cast: _cast,
    vector_norm.Norm: _norm,
    rearrange.Prod: _prod,
    reductions.Amax: _amax,
    reductions.MaxDim: _max_dim,
    reductions.Var: _variance,
    reductions.Std: _variance,
    reductions.LogSumExp: _logsumexp,
    scan.Cumsum: _cumsum,
    scan.Cumprod: _cumprod,
    sorting.Sort: _sort,
    einsum.Einsum: _einsum,
    shape.Tile: _tile,
    shape.Expand: _expand,
}

__all__ = ["ONNX_CODES", "TENSOR_CONVERTERS", "element_count"]
