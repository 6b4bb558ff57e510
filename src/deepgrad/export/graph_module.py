"""``GraphModule``: a deepgrad Module that runs a :class:`~deepgrad_runtime.graph.Graph` (such as
an imported ONNX model) with deepgrad's differentiable ops, so that it predicts and can be
fine-tuned like any other module.

The graph's float initializers that are a layer's weights (the weights and biases of Conv, Gemm,
MatMul, the recurrent ops, the scale and shift of the normalizations, an embedding table read by
Gather, a non-scalar operand of Add/Sub/Mul/Div, and what reaches one of these through Slice,
Concat, Reshape, ...) become Parameters; the running statistics of BatchNormalization become
buffers; everything else (shapes, axes, scalars) stays a constant.
Parameters and buffers are registered under their initializer's name made an identifier
(``fc1.weight`` -> ``fc1_weight``); :attr:`GraphModule.initializer_names` maps the one to the other.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from deepgrad.errors import ShapeError, shape_str
from deepgrad.export import graph_ops, graph_ops_shape, graph_ops_spatial, graph_ops_tensor
from deepgrad.export.graph_ops import Kernel
from deepgrad.grad_mode import no_grad
from deepgrad.nn.module import Module, Parameter
from deepgrad.tensor import Tensor
from deepgrad_runtime.graph import Graph, Node, Value

_TABLES = (graph_ops.KERNELS, graph_ops_spatial.KERNELS, graph_ops_shape.KERNELS,
           graph_ops_tensor.KERNELS)
KERNELS: dict[str, Kernel] = {op: fn for table in _TABLES for op, fn in table.kernels.items()}
ARRAY_KERNELS = frozenset(op for table in _TABLES for op in table.array_ops)

# Inputs (by position) that hold a layer's weights: float initializers read there are trained.
_WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1),
    "BatchNormalization": (1, 2), "LayerNormalization": (1, 2), "InstanceNormalization": (1, 2),
    "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3), "Gather": (0,), "PRelu": (1,),
}
# Operators any of whose float initializer inputs is a weight (Einsum "bi,oi->bo").
_WEIGHT_OPERANDS = frozenset({"Einsum"})
# A bias or scale written as an elementwise op: a non-scalar float operand is a weight (a scalar
# is a constant of the formula, such as the 0.5 of GELU).
_ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div"})
_STATE_INPUTS: dict[str, tuple[int, ...]] = {"BatchNormalization": (3, 4)}
# Operators that only rearrange their data input (all inputs for Concat): an initializer that
# reaches a weight input through them is a weight too (exporters without constant folding
# slice and concatenate the gates of recurrent weights this way).
_REARRANGING = frozenset({"Concat", "Expand", "Flatten", "Gather", "Identity", "Reshape",
                          "Slice", "Split", "Squeeze", "Transpose", "Unsqueeze"})
# Operators whose result depends on the module's mode: never computed ahead of a call.
_MODAL = frozenset({"BatchNormalization", "Dropout"})


def _where(index: int, node: Node) -> str:
    return f"node {index} ({node.op}{' in ' + repr(node.name) if node.name else ''})"


def _fold_identities(graph: Graph) -> Graph:
    """The graph with every Identity of an initializer replaced by a copy of it.

    Exporters share one initializer among equal tensors (a fresh BatchNorm's weight and running
    variance are both ones) through Identity nodes; as copies, each becomes a parameter or a
    buffer of its own.
    """
    initializers = dict(graph.initializers)
    nodes = []
    for node in graph.nodes:
        if (node.op == "Identity" and len(node.inputs) == 1 and node.inputs[0] in initializers
                and len(node.outputs) == 1 and node.outputs[0] not in initializers):
            initializers[node.outputs[0]] = initializers[node.inputs[0]].copy()
        else:
            nodes.append(node)
    return Graph(list(graph.inputs), list(graph.outputs), nodes, initializers,
                 dict(graph.metadata))


def _weights(graph: Graph) -> set[str]:
    """The values read as weights, directly or through rearranging operators."""
    arrays = graph.initializers
    weights = set()
    for node in reversed(graph.nodes):
        if node.op in _REARRANGING and weights.intersection(node.outputs):
            weights.update(node.inputs if node.op == "Concat" else node.inputs[:1])
        for k, name in enumerate(node.inputs):
            if k in _WEIGHT_INPUTS.get(node.op, ()) or node.op in _WEIGHT_OPERANDS or (
                    node.op in _ELEMENTWISE and name in arrays and arrays[name].size > 1):
                weights.add(name)
    return weights


def _roles(graph: Graph) -> dict[str, str]:
    """``"parameter"`` or ``"buffer"`` for each float initializer that is one."""
    arrays = graph.initializers
    roles = {name: "parameter" for name in _weights(graph)
             if name in arrays and arrays[name].dtype.kind == "f"}
    for i, node in enumerate(graph.nodes):
        for k in _STATE_INPUTS.get(node.op, ()):
            name = node.inputs[k] if k < len(node.inputs) else ""
            if name not in arrays or arrays[name].dtype.kind != "f":
                continue
            if roles.setdefault(name, "buffer") != "buffer":
                raise ValueError(f"{_where(i, node)}: initializer {name!r} is used both as "
                                 f"weights and as running statistics")
    return roles


def _attribute_name(name: str, taken: set[str]) -> str:
    attr = re.sub(r"\W", "_", name) or "_"
    while attr in taken:
        attr += "_"
    return attr


def _node_error(where: str, error: Exception) -> Exception:
    """The error again, of the same type where possible, its message prefixed with the node."""
    message = f"{where}: {error}"
    try:
        return type(error)(message)
    except TypeError:
        return ValueError(message)


def _run(training: bool, index: int, node: Node, xs: list) -> tuple:
    """The node's kernel on its input values; its results as a tuple, errors naming the node."""
    if node.op not in ARRAY_KERNELS:
        xs = [Tensor(x) if isinstance(x, np.ndarray) else x for x in xs]
    try:
        result = KERNELS[node.op](training, node, xs)
    except (ValueError, TypeError, IndexError) as error:
        raise _node_error(_where(index, node), error) from error
    results = result if isinstance(result, tuple) else (result,)
    if any(node.outputs[len(results):]):
        raise ValueError(f"{_where(index, node)}: output {len(results)} is not supported")
    return results


def _show(shape: tuple) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


class GraphModule(Module):
    """A Module that runs a graph of ONNX operators with deepgrad's ops.

    Args:
        graph: the graph (checked; every operator must be one that deepgrad runs).

    Call it with one Tensor or array per graph input (arrays are converted to the input's
    dtype, floating ones to the parameters' dtype); it returns a Tensor, or a tuple for
    several outputs. It starts in evaluation mode, as the graph computes inference; ``train()``
    makes batch normalization use batch statistics and dropout drop, for fine-tuning. Nodes that
    read only constants (the dequantization of int8 weights, shape arithmetic) are computed once,
    when the module is built.

    Attributes:
        graph: the graph it runs.
        initializer_names: initializer name -> the name of the parameter or buffer holding it.
    """

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        graph = _fold_identities(graph).check()  # every operator check() admits has a kernel
        roles = _roles(graph)
        self.graph = graph
        self.initializer_names: dict[str, str] = {}
        self._constants: dict[str, np.ndarray] = {}
        taken = set(dir(self))
        for name, array in graph.initializers.items():
            role = roles.get(name)
            if role is None:
                self._constants[name] = array
                continue
            attr = _attribute_name(name, taken)
            taken.add(attr)
            self.initializer_names[name] = attr
            if role == "parameter":
                self.register_parameter(attr, Parameter(np.array(array)))
            else:
                self.register_buffer(attr, Tensor(np.array(array)))
        self._steps = self._fold_constants()
        self._free_after = self._lifetimes()
        self.eval()

    def _fold_constants(self) -> list[tuple[int, Node]]:
        """Compute once the nodes that read only constants (such as the DequantizeLinear of a
        quantized model's int8 weights), keeping their outputs as constants; the (index, node)
        pairs left to run on every call."""
        steps = []
        with no_grad():
            for i, node in enumerate(self.graph.nodes):
                if node.op in _MODAL or not all(
                        name in self._constants for name in node.inputs if name):
                    steps.append((i, node))
                    continue
                xs = [self._constants[name] if name else None for name in node.inputs]
                for name, value in zip(node.outputs, _run(False, i, node, xs)):
                    if name:
                        self._constants[name] = value.data if isinstance(value, Tensor) \
                            else value
        return steps

    def _lifetimes(self) -> list[list[str]]:
        """For each step, the computed values that no later step or output reads."""
        last: dict[str, int] = {}
        for k, (_, node) in enumerate(self._steps):
            for name in node.inputs:
                last[name] = k
        keep = {v.name for v in self.graph.outputs} | set(self._constants)
        free: list[list[str]] = [[] for _ in self._steps]
        for name, i in last.items():
            if name and name not in keep:
                free[i].append(name)
        return free

    def _float_dtype(self, declared: np.dtype) -> np.dtype:
        return next((p.data.dtype for p in self.parameters() if p.data.dtype.kind == "f"),
                    declared)

    def _input(self, value: Value, given: Any) -> Tensor:
        if isinstance(given, Tensor):
            tensor = given
        else:
            dtype = np.dtype(value.dtype)
            if dtype.kind == "f":
                dtype = self._float_dtype(dtype)
            tensor = Tensor(np.asarray(given, dtype=dtype))
        shape = tensor.shape
        if len(shape) != len(value.shape) or any(
                e is not None and e != s for e, s in zip(value.shape, shape)):
            raise ShapeError(f"GraphModule input {value.name!r} expects shape "
                             f"{_show(value.shape)}; got {shape_str(shape)}")
        return tensor

    def forward(self, *inputs: Any) -> Any:
        """Run the graph on one Tensor or array per graph input; the output Tensor, or a tuple
        of them for several outputs."""
        graph = self.graph
        if len(inputs) != len(graph.inputs):
            names = ", ".join(v.name for v in graph.inputs)
            raise TypeError(f"GraphModule expects {len(graph.inputs)} input(s) ({names}); got "
                            f"{len(inputs)}")
        values: dict[str, Any] = dict(self._constants)
        for name, attr in self.initializer_names.items():
            values[name] = self._parameters[attr] if attr in self._parameters \
                else self._buffers[attr]
        for value, given in zip(graph.inputs, inputs):
            values[value.name] = self._input(value, given)
        for k, (i, node) in enumerate(self._steps):
            xs = [values[name] if name else None for name in node.inputs]
            for name, value in zip(node.outputs, _run(self.training, i, node, xs)):
                if name:
                    values[name] = value
            for name in self._free_after[k]:
                values.pop(name, None)
        outputs = tuple(Tensor(v) if isinstance(v, np.ndarray) else v
                        for v in (values[out.name] for out in graph.outputs))
        return outputs[0] if len(outputs) == 1 else outputs

    def to_graph(self) -> Graph:
        """The graph with the current weights and running statistics (after fine-tuning), for
        :func:`deepgrad_runtime.graph.save_artifact` or an exporter."""
        initializers = dict(self.graph.initializers)
        for name, attr in self.initializer_names.items():
            tensor = self._parameters[attr] if attr in self._parameters else self._buffers[attr]
            initializers[name] = tensor.data.copy()
        graph = self.graph
        return Graph(list(graph.inputs), list(graph.outputs), list(graph.nodes), initializers,
                     dict(graph.metadata))

    def extra_repr(self) -> str:
        """Node count, inputs and outputs."""
        graph = self.graph
        return (f"{len(graph.nodes)} nodes, inputs=[{', '.join(v.name for v in graph.inputs)}], "
                f"outputs=[{', '.join(v.name for v in graph.outputs)}]")


__all__ = ["KERNELS", "GraphModule"]
