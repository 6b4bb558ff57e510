"""The kernels of :class:`~deepgrad.export.graph_module.GraphModule`: ONNX operators (opset 17
semantics) computed with deepgrad's differentiable ops. This module holds the kernel tables and
their helpers, and the elementwise (with comparisons, logic and Where), linear algebra,
quantization, normalization, reduction and recurrent kernels; ``graph_ops_spatial`` has
convolution and pooling, ``graph_ops_shape`` the shape operators (with Pad, Trilu,
GatherElements and ScatterElements) and Cast, ``graph_ops_tensor`` CumSum, TopK, Einsum and
Tile.

A kernel gets the module's mode (``training``), the node and its input values, and returns its
output value, or a tuple with one value per output. A value is a Tensor, or a NumPy array for a
constant and for whatever is computed from constants and shapes alone: the ``Shape -> Gather ->
Unsqueeze -> Concat -> Reshape`` plumbing that exporters write for a dynamic batch stays in NumPy
(the kernels registered with ``arrays=True`` compute on arrays when every input is one), so it
never enters the autograd graph and follows the batch size of each call. Every other kernel sees
its array inputs as constant Tensors.

Quantized (QDQ) models: QuantizeLinear and DequantizeLinear compute as the runtime's kernels do
(opset 17: per-tensor or per-axis, round half to even, saturation). QuantizeLinear's integer
output carries no gradient; the DequantizeLinear of a constant integer weight runs on arrays, so
integer weights stay constants and fine-tuning trains the float parameters (float biases,
normalizations). Through a QuantizeLinear -> DequantizeLinear pair on activations the gradient
is the straight-through estimator of quantization-aware training (as deepgrad's own
``QuantizeOperands``): it passes unchanged where ``round(x / scale) + zero_point`` lies inside
the integer range and is 0 where it saturated. Scales and zero points get no gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

from deepgrad.autograd import Function
from deepgrad.grad_mode import is_grad_enabled
from deepgrad.nn import functional as F
from deepgrad.ops import (
    activations,
    arithmetic,
    compare,
    elementwise,
    indexing,
    join,
    rearrange,
    reductions,
    unary,
)
from deepgrad.ops.recurrent import recurrent
from deepgrad.tensor import Tensor
from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.linear import along_axis, dequantize_linear, quantization_levels

Kernel = Callable[[bool, Node, list], Any]


class KernelTable:
    """Kernels by operator, filled by the :meth:`register` decorator."""

    def __init__(self) -> None:
        self.kernels: dict[str, Kernel] = {}
        # Operators whose kernels take NumPy arrays as they are (and compute on arrays when
        # every input is one); the others see arrays as constant Tensors.
        self.array_ops: set[str] = set()

    def register(self, *ops: str, arrays: bool = False) -> Callable[[Kernel], Kernel]:
        """Decorator: the function is the kernel of these operators."""
        def register(fn: Kernel) -> Kernel:
            for op in ops:
                self.kernels[op] = fn
            if arrays:
                self.array_ops.update(ops)
            return fn
        return register


KERNELS = KernelTable()


def as_tensor(value: Any) -> Any:
    """An array as a constant Tensor (None and Tensors as they are)."""
    return Tensor(value) if isinstance(value, np.ndarray) else value


def as_array(value: Any) -> np.ndarray:
    """The array of a Tensor or array input."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def ints(value: Any, what: str) -> tuple[int, ...]:
    """A shape, axes or indices input as Python ints."""
    array = as_array(value)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(f"{what} must be a 1-D integer tensor; got {array.dtype} of shape "
                         f"{array.shape}")
    return tuple(int(v) for v in array.reshape(-1))


def scalar(value: Any, what: str) -> float:
    """A one-element input (a ratio, a bound) as a Python number."""
    array = as_array(value)
    if array.size != 1:
        raise ValueError(f"{what} must hold one number; got shape {array.shape}")
    return array.reshape(()).item()


def padded(xs: list, count: int) -> list:
    """The inputs padded with None for the optional ones left out."""
    return xs + [None] * (count - len(xs))


def axis_index(axis: int, ndim: int, what: str) -> int:
    """``axis`` (negative counts from the end) as an index into ``ndim`` dimensions."""
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{what} {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % max(ndim, 1)


def no_extra_outputs(node: Node, count: int, what: str) -> None:
    """Raise unless the node uses only its first ``count`` outputs (``what`` is the next)."""
    if any(node.outputs[count:]):
        raise ValueError(f"{node.op}: output {count} ({what}) is not supported")


# ------------------------------------------------------------------------------ elementwise
_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "Neg": arithmetic.neg, "Sqrt": elementwise.sqrt, "Exp": elementwise.exp,
    "Log": elementwise.log, "Abs": elementwise.abs, "Tanh": elementwise.tanh,
    "Relu": activations.relu, "Sigmoid": activations.sigmoid, "Softplus": activations.softplus,
    "Erf": elementwise.erf, "Sin": elementwise.sin, "Cos": elementwise.cos, "Asin": unary.asin,
    "Acos": unary.acos, "Atan": unary.atan, "Sinh": unary.sinh, "Cosh": unary.cosh,
    "Reciprocal": unary.reciprocal, "Floor": unary.floor, "Ceil": unary.ceil,
    "Round": unary.round, "Sign": unary.sign,
}


@KERNELS.register(*_UNARY)
def _unary(training: bool, node: Node, xs: list) -> Tensor:
    return _UNARY[node.op](xs[0])


_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
_BINARY = {"Add": arithmetic.add, "Sub": arithmetic.sub, "Mul": arithmetic.mul,
           "Div": arithmetic.div}


@KERNELS.register("Add", "Sub", "Mul", "Div", arrays=True)
def _arithmetic(training: bool, node: Node, xs: list) -> Any:
    a, b = xs
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if node.op == "Div" and a.dtype.kind in "iu":
            # ONNX divides integers truncating toward zero; NumPy's // floors.
            return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)
        return _NUMPY_BINARY[node.op](a, b).astype(np.result_type(a, b), copy=False)
    return _BINARY[node.op](as_tensor(a), as_tensor(b))


@KERNELS.register("Mod")
def _mod(training: bool, node: Node, xs: list) -> Tensor:
    # fmod=1: C's fmod (the sign of the dividend); fmod=0: Python's % (the sign of the divisor)
    return (arithmetic.fmod if node.attrs.get("fmod", 0) else arithmetic.remainder)(*xs)


_LOGIC: dict[str, Callable[..., np.ndarray]] = {
    "Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or,
    "Xor": np.logical_xor, "Not": np.logical_not, "IsNaN": np.isnan, "IsInf": np.isinf}
# The same as deepgrad ops, which an export's trace records (a bool Tensor made from a NumPy
# result would be a constant to it).
_LOGIC_OPS: dict[str, Callable[..., Tensor]] = {
    "Equal": compare.eq, "Less": compare.lt, "Greater": compare.gt, "LessOrEqual": compare.le,
    "GreaterOrEqual": compare.ge, "And": compare.logical_and, "Or": compare.logical_or,
    "Xor": compare.logical_xor, "Not": compare.logical_not, "IsNaN": compare.isnan,
    "IsInf": compare.isinf}


@KERNELS.register(*_LOGIC, arrays=True)
def _logic(training: bool, node: Node, xs: list) -> Any:
    """Comparisons, logic and the NaN and infinity tests: bool results, which have no gradient
    (arrays when every input is one, else Tensors of deepgrad's comparison ops)."""
    on_arrays = all(isinstance(x, np.ndarray) for x in xs)
    ops = _LOGIC if on_arrays else _LOGIC_OPS
    y = ops[node.op](*xs)
    if node.op == "IsInf":
        (x,) = xs
        both = np.logical_and if on_arrays else compare.logical_and
        greater, less = (np.greater, np.less) if on_arrays else (compare.gt, compare.lt)
        if not node.attrs.get("detect_negative", 1):
            y = both(y, greater(x, 0))
        if not node.attrs.get("detect_positive", 1):
            y = both(y, less(x, 0))
    return y


@KERNELS.register("Where", arrays=True)
def _where(training: bool, node: Node, xs: list) -> Any:
    condition, a, b = xs
    if all(isinstance(x, np.ndarray) for x in xs):
        return np.where(condition, a, b)
    return indexing.where(as_array(condition), as_tensor(a), as_tensor(b))


@KERNELS.register("Pow")
def _pow(training: bool, node: Node, xs: list) -> Tensor:
    return arithmetic.pow(xs[0], xs[1])


@KERNELS.register("Max", "Min")
def _extremum(training: bool, node: Node, xs: list) -> Tensor:
    return reduce(indexing.maximum if node.op == "Max" else indexing.minimum, xs)


@KERNELS.register("LeakyRelu")
def _leaky_relu(training: bool, node: Node, xs: list) -> Tensor:
    return F.leaky_relu(xs[0], node.attrs.get("alpha", 0.01))


@KERNELS.register("Elu")
def _elu(training: bool, node: Node, xs: list) -> Tensor:
    return F.elu(xs[0], node.attrs.get("alpha", 1.0))


@KERNELS.register("HardSigmoid")
def _hard_sigmoid(training: bool, node: Node, xs: list) -> Tensor:
    alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    return activations.clamp(xs[0] * alpha + beta, 0.0, 1.0)


@KERNELS.register("HardSwish")
def _hard_swish(training: bool, node: Node, xs: list) -> Tensor:
    return xs[0] * activations.clamp(xs[0] * (1 / 6) + 0.5, 0.0, 1.0)


@KERNELS.register("PRelu")
def _prelu(training: bool, node: Node, xs: list) -> Tensor:
    # x where x > 0 and slope * x elsewhere, exactly (the negations are exact), with a gradient
    # for the slope whatever its broadcast shape.
    x, slope = xs[0], as_tensor(xs[1])
    return F.relu(x) - F.relu(-x) * slope


@KERNELS.register("Clip")
def _clip(training: bool, node: Node, xs: list) -> Tensor:
    x, low, high = padded(xs, 3)
    return activations.clamp(x, None if low is None else scalar(low, "Clip min"),
                             None if high is None else scalar(high, "Clip max"))


@KERNELS.register("Softmax", "LogSoftmax")
def _softmax(training: bool, node: Node, xs: list) -> Tensor:
    fn = reductions.softmax if node.op == "Softmax" else reductions.log_softmax
    return fn(xs[0], node.attrs.get("axis", -1))


@KERNELS.register("Identity", arrays=True)
def _identity(training: bool, node: Node, xs: list) -> Any:
    return xs[0]


@KERNELS.register("Dropout")
def _dropout(training: bool, node: Node, xs: list) -> Tensor:
    no_extra_outputs(node, 1, "the mask")
    x, ratio, _ = padded(xs, 3)
    # The module's mode decides, as for dg.nn.Dropout: dropout is active while fine-tuning.
    if not training:
        return x
    return F.dropout(x, 0.5 if ratio is None else scalar(ratio, "Dropout ratio"), True)


# ------------------------------------------------------------------------------ linear algebra
@KERNELS.register("MatMul")
def _matmul(training: bool, node: Node, xs: list) -> Tensor:
    return arithmetic.matmul(xs[0], xs[1])


@KERNELS.register("Gemm")
def _gemm(training: bool, node: Node, xs: list) -> Tensor:
    a, b, c = padded(xs, 3)
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    trans_a, trans_b = node.attrs.get("transA", 0), node.attrs.get("transB", 0)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm: A and B must be 2-D; got shapes {a.shape} and {b.shape}")
    if (not trans_a and trans_b and alpha == 1.0 and beta == 1.0
            and (c is None or c.shape == (b.shape[0],))):
        return F.linear(a, b, c)  # the fused kernel of nn.Linear
    y = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c if beta == 1.0 else c * beta)
    return y


# ------------------------------------------------------------------------------ quantization
class _Quantized(Tensor):
    """QuantizeLinear's integer output (no gradient) with what a DequantizeLinear reading it
    needs for the straight-through gradient: the float input ``source``, where its levels were
    ``inside`` the integer range, and the ``scale`` shaped to broadcast against it."""

    __slots__ = ("inside", "scale", "source")


class _StraightThrough(Function):
    """y = DequantizeLinear(QuantizeLinear(x)), computed already;  gx = gy * gain, where gain is
    dequantization scale / quantization scale (1 for a QDQ pair) inside the range, else 0."""

    @staticmethod
    def forward(ctx, x, y, gain):
        ctx.save(gain=gain)
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.gain, None, None


def _quantization(node: Node, xs: list) -> tuple[Any, np.ndarray, np.ndarray | None, int]:
    """The input (as given), scale, zero point (None when omitted) and axis of a Q or DQ node."""
    x, scale, zero = padded(xs, 3)
    return x, as_array(scale), None if zero is None else as_array(zero), node.attrs.get("axis", 1)


@KERNELS.register("QuantizeLinear", arrays=True)
def _quantize_linear(training: bool, node: Node, xs: list) -> Any:
    x, scale, zero, axis = _quantization(node, xs)
    levels, dtype = quantization_levels(as_array(x), scale, zero, axis)
    info = np.iinfo(dtype)
    q = np.clip(levels, info.min, info.max).astype(dtype)
    if isinstance(x, np.ndarray):
        return q
    if not (x.requires_grad and is_grad_enabled()):
        return Tensor(q)
    out = _Quantized._make(q)
    out.source, out.inside = x, (levels >= info.min) & (levels <= info.max)
    out.scale = along_axis(scale, q.shape, axis, "the scale")
    return out


@KERNELS.register("DequantizeLinear", arrays=True)
def _dequantize_linear(training: bool, node: Node, xs: list) -> Any:
    q, scale, zero, axis = _quantization(node, xs)
    y = dequantize_linear(as_array(q), scale, zero, axis)
    if isinstance(q, np.ndarray):
        return y
    if not isinstance(q, _Quantized):
        return Tensor(y)
    gain = np.where(q.inside, along_axis(scale, q.shape, axis, "the scale") / q.scale, 0)
    return _StraightThrough.apply(q.source, y, gain.astype(q.source.dtype, copy=False))


# ------------------------------------------------------------------------------ normalization
@KERNELS.register("BatchNormalization")
def _batch_norm(training: bool, node: Node, xs: list) -> Tensor:
    no_extra_outputs(node, 1, "running statistics")
    x, scale, bias, mean, var = xs
    # ONNX's momentum weighs the running statistic, deepgrad's (PyTorch's) the batch's.
    momentum = 1.0 - node.attrs.get("momentum", 0.9)
    return F.batch_norm(x, mean, var, scale, bias, training=training, momentum=momentum,
                        eps=node.attrs.get("epsilon", 1e-5))


@KERNELS.register("LayerNormalization")
def _layer_norm(training: bool, node: Node, xs: list) -> Tensor:
    no_extra_outputs(node, 1, "mean and inverse standard deviation")
    x, scale, bias = padded(xs, 3)
    axis = axis_index(node.attrs.get("axis", -1), x.ndim, "LayerNormalization axis")
    return F.layer_norm(x, x.shape[axis:], scale, bias, node.attrs.get("epsilon", 1e-5))


@KERNELS.register("InstanceNormalization")
def _instance_norm(training: bool, node: Node, xs: list) -> Tensor:
    x, scale, bias = xs
    return F.group_norm(x, x.shape[1], scale, bias, node.attrs.get("epsilon", 1e-5))


_REDUCE = {"ReduceMean": reductions.mean, "ReduceSum": reductions.sum,
           "ReduceProd": rearrange.prod}


@KERNELS.register(*_REDUCE)
def _reduce(training: bool, node: Node, xs: list) -> Tensor:
    x, axes = padded(xs, 2)
    dims = () if axes is None else ints(axes, f"{node.op} axes")
    if not dims:
        if node.attrs.get("noop_with_empty_axes", 0):
            return x
        dims = tuple(range(x.ndim))
    keepdim = bool(node.attrs.get("keepdims", 1))
    y = _REDUCE[node.op](x, dims, keepdim=keepdim)
    # deepgrad sums and multiplies integers as int64; ONNX keeps the input's type.
    return y if y.dtype == x.dtype else elementwise.to(y, x.dtype)


# ------------------------------------------------------------------------------ recurrent
# Per operator: deepgrad's (PyTorch's) gate blocks as indices into ONNX's (LSTM: ONNX i, o, f, c
# -> PyTorch i, f, g, o; GRU: ONNX z, r, h -> PyTorch r, z, n).
_GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}
_DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}


def _recurrent_mode(node: Node) -> str:
    if node.op == "LSTM":
        if node.attrs.get("input_forget", 0):
            raise ValueError("LSTM: input_forget=1 (coupled input and forget gates) is not "
                             "supported")
        return "lstm"
    if node.op == "GRU":
        if node.attrs.get("linear_before_reset", 0) != 1:
            raise ValueError("GRU: only linear_before_reset=1 (PyTorch's GRU) is supported; "
                             "linear_before_reset=0 applies the reset gate before the "
                             "recurrent weights")
        return "gru"
    names = {a.lower() for a in node.attrs.get("activations", ["Tanh"])}
    if names not in ({"tanh"}, {"relu"}):
        raise ValueError(f"RNN: activations {node.attrs['activations']} are not supported "
                         f"(Tanh or Relu for every direction)")
    return "rnn_" + names.pop()


def _torch_gates(t: Tensor, order: tuple, hidden: int) -> Tensor:
    if order == tuple(range(len(order))):
        return t
    return join.cat([t[k * hidden:(k + 1) * hidden] for k in order], 0)


def _initial(state: Any) -> Any:
    """An initial state; None (deepgrad's zeros, skipping a product) for constant zeros."""
    if isinstance(state, np.ndarray) and not state.any():
        return None
    return as_tensor(state)


@KERNELS.register("LSTM", "GRU", "RNN")
def _recurrent(training: bool, node: Node, xs: list) -> tuple:
    x, w, r, b, lengths, h0, c0, peepholes = padded(xs, 8)
    mode = _recurrent_mode(node)
    if peepholes is not None:
        raise ValueError("LSTM: peephole weights (input P) are not supported")
    directions = _DIRECTIONS.get(node.attrs.get("direction", "forward"))
    if directions is None:
        raise ValueError(f"{node.op}: unknown direction {node.attrs['direction']!r}")
    order, hidden = _GATE_ORDER[node.op], r.shape[-1]
    if node.attrs.get("hidden_size", hidden) != hidden or w.shape[0] != len(directions):
        raise ValueError(f"{node.op}: hidden_size {node.attrs.get('hidden_size')} and "
                         f"{len(directions)} direction(s) do not fit weights W {w.shape} and "
                         f"R {r.shape}")
    h0, c0 = _initial(h0), _initial(c0)
    batch_first = bool(node.attrs.get("layout", 0))
    if batch_first:
        x = x.permute(1, 0, 2)
        h0, c0 = (None if s is None else s.permute(1, 0, 2) for s in (h0, c0))
    steps, batch = x.shape[:2]
    inverse = None
    if lengths is not None:
        lengths = as_array(lengths).astype(np.int64)
        if lengths.shape != (batch,):
            raise ValueError(f"{node.op}: sequence_lens must hold {batch} lengths; got shape "
                             f"{lengths.shape}")
        if (lengths == steps).all():
            lengths = None
    if lengths is not None:
        # deepgrad runs a batch sorted by decreasing length: sort it, and unsort the results
        order_rows = np.argsort(-lengths, kind="stable")
        inverse = np.argsort(order_rows)
        x, lengths = x[:, order_rows], lengths[order_rows]
        h0, c0 = (None if s is None else s[:, order_rows] for s in (h0, c0))
    outputs: list[list[Tensor]] = [[], [], []]
    for d, reverse in enumerate(directions):
        rows = len(order) * hidden
        b_ih = b_hh = None
        if b is not None:
            b_ih, b_hh = _torch_gates(b[d, :rows], order, hidden), \
                _torch_gates(b[d, rows:], order, hidden)
        results = recurrent(x, None if h0 is None else h0[d], None if c0 is None else c0[d],
                            _torch_gates(w[d], order, hidden), _torch_gates(r[d], order, hidden),
                            b_ih, b_hh, mode, lengths, reverse)
        for kept, result in zip(outputs, results):
            kept.append(result if inverse is None else
                        result[:, inverse] if result.ndim == 3 else result[inverse])
    y = join.stack(outputs[0], 1)  # (T, D, N, H)
    states = [join.stack(s, 0) for s in outputs[1:] if s]  # (D, N, H)
    if batch_first:
        y = y.permute(2, 0, 1, 3)
        states = [s.permute(1, 0, 2) for s in states]
    return (y, *states)


__all__ = ["KERNELS", "Kernel", "KernelTable", "as_array", "as_tensor", "axis_index",
           "ints", "no_extra_outputs", "padded", "scalar"]
