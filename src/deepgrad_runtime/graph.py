"""The graph that deepgrad's exporters, its ONNX importer and this runtime share.

A :class:`Graph` is ONNX's model of computation as plain Python data: named values flow between
nodes; each :class:`Node` applies one ONNX operator (opset 17 semantics and attribute names) to
its input values and defines its output values; constant tensors (weights) are
``initializers``. Because the operators are ONNX's, a graph converts to and from an ONNX file
node for node, and the runtime's kernels follow the ONNX specification.

An artifact file is a safetensors file: the initializers as tensors, the rest of the graph as
JSON in the metadata under ``"deepgrad.graph"``. Reading one parses JSON and slices bytes;
nothing in it is executed. Every structural problem is a :class:`FileFormatError` naming the file
and what is wrong.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad_runtime.safetensors import FileFormatError, bad_file, load_file, save_file

GRAPH_KEY = "deepgrad.graph"
FORMAT_VERSION = 1

# Operator -> the attributes it may carry. Inputs and outputs follow the ONNX operator of the
# same name (optional inputs that are left out are given as "").
OPS: dict[str, frozenset[str]] = {name: frozenset(attrs) for name, attrs in {
    "Add": (), "Sub": (), "Mul": (), "Div": (), "MatMul": (), "Neg": (), "Sqrt": (),
    "Exp": (), "Log": (), "Abs": (), "Pow": (), "Erf": (), "Max": (), "Min": (),
    "Gemm": ("alpha", "beta", "transA", "transB"),
    "Conv": ("dilations", "group", "kernel_shape", "pads", "strides", "auto_pad"),
    "ConvTranspose": ("dilations", "group", "kernel_shape", "pads", "strides",
                      "output_padding", "auto_pad"),
    "BatchNormalization": ("epsilon", "momentum"),
    "LayerNormalization": ("axis", "epsilon"),
    "InstanceNormalization": ("epsilon",),
    "Relu": (), "Sigmoid": (), "Tanh": (), "Softplus": (),
    "LeakyRelu": ("alpha",), "Elu": ("alpha",), "HardSigmoid": ("alpha", "beta"),
    "HardSwish": (), "PRelu": (),
    "Clip": (), "Softmax": ("axis",), "LogSoftmax": ("axis",),
    "MaxPool": ("ceil_mode", "dilations", "kernel_shape", "pads", "strides", "auto_pad"),
    "AveragePool": ("ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides",
                    "auto_pad"),
    "GlobalAveragePool": (), "GlobalMaxPool": (),
    "Resize": ("coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
               "extrapolation_value", "mode", "nearest_mode"),
    "Flatten": ("axis",), "Reshape": ("allowzero",), "Transpose": ("perm",),
    "Squeeze": (), "Unsqueeze": (), "Concat": ("axis",), "Split": ("axis",),
    "Slice": (), "Gather": ("axis",), "Identity": (), "Dropout": ("seed",),
    # ReduceMean's axes: an attribute in opset 17, an input from opset 18 (both are read).
    "ReduceMean": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceSum": ("keepdims", "noop_with_empty_axes"),
    "RNN": ("activations", "clip", "direction", "hidden_size", "layout"),
    "LSTM": ("activations", "clip", "direction", "hidden_size", "layout", "input_forget"),
    "GRU": ("activations", "clip", "direction", "hidden_size", "layout",
            "linear_before_reset"),
    "QuantizeLinear": ("axis",), "DequantizeLinear": ("axis",),
    # Cast's "to" is ONNX's number of the data type (see ONNX_DTYPES).
    "Cast": ("to",),
    # The shape computations of exported models. ConstantOfShape's value is a one-element list
    # whose Python type gives the dtype: float -> float32, int -> int64, bool -> bool.
    "Shape": ("start", "end"), "Size": (), "ConstantOfShape": ("value",), "Expand": (),
    # Running sums, sorting, contraction and repetition; Einsum's equation is a string.
    "CumSum": ("exclusive", "reverse"), "TopK": ("axis", "largest", "sorted"),
    "ArgMax": ("axis", "keepdims", "select_last_index"),
    "ArgMin": ("axis", "keepdims", "select_last_index"),
    "Einsum": ("equation",), "Tile": (),
    # More elementwise math; comparisons and logic give bool tensors; Mod's fmod=1 is C's fmod
    # (required for floats), fmod=0 Python's % of integers.
    "Sin": (), "Cos": (), "Asin": (), "Acos": (), "Atan": (), "Sinh": (), "Cosh": (),
    "Reciprocal": (), "Floor": (), "Ceil": (), "Round": (), "Sign": (), "Mod": ("fmod",),
    "IsNaN": (), "IsInf": ("detect_negative", "detect_positive"),
    "Equal": (), "Less": (), "Greater": (), "LessOrEqual": (), "GreaterOrEqual": (),
    "And": (), "Or": (), "Xor": (), "Not": (), "Where": (),
    # Selecting and placing values; ReduceProd takes its axes as ReduceMean does.
    "Pad": ("mode",), "Trilu": ("upper",), "GatherElements": ("axis",),
    "ScatterElements": ("axis", "reduction"),
    "ReduceProd": ("axes", "keepdims", "noop_with_empty_axes"),
}.items()}

# The dtypes a graph holds, by their number in ONNX's TensorProto (Cast's "to", ONNX files).
ONNX_DTYPES: dict[int, str] = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64",
                               9: "bool", 11: "float64"}
_DTYPES = frozenset(ONNX_DTYPES.values())


def onnx_dtype(code: Any) -> np.dtype:
    """The dtype of ONNX's data type number ``code`` (Cast's ``to``); ValueError for another."""
    name = ONNX_DTYPES.get(code) if type(code) is int else None
    if name is None:
        raise ValueError(f"ONNX data type {code!r} is not supported (supported: "
                         f"{', '.join(f'{k} ({v})' for k, v in ONNX_DTYPES.items())})")
    return np.dtype(name)


@dataclass
class Value:
    """A graph input or output: its name, shape (None for a dimension of any size, such as the
    batch), dtype name (``"float32"``, ``"int64"``, ...), and the names of the dimensions of any
    size where known (``"batch"``, ``"time"``: ONNX's dim_params; None or empty where not)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    dim_names: tuple[str | None, ...] = ()


@dataclass
class Node:
    """One operator application: ``outputs = op(inputs)`` with ONNX's attributes; ``name`` is
    where it came from (a layer's path, such as ``features.0``), for error messages."""

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass
class Graph:
    """Inputs, outputs, nodes in execution order, and the constant tensors they read."""

    inputs: list[Value]
    outputs: list[Value]
    nodes: list[Node]
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def check(self) -> Graph:
        """Raise ValueError naming the node at fault unless every operator is known, carries
        only its own attributes, and reads only values defined before it. Returns self."""
        defined = {v.name for v in self.inputs} | set(self.initializers) | {""}
        for v in self.inputs + self.outputs:
            if v.dtype not in _DTYPES:
                raise ValueError(f"graph value {v.name!r}: unsupported dtype {v.dtype!r}")
        for i, node in enumerate(self.nodes):
            where = f"node {i} ({node.op}{' in ' + repr(node.name) if node.name else ''})"
            if node.op not in OPS:
                raise ValueError(f"{where}: unsupported operator {node.op!r}")
            unknown = set(node.attrs) - OPS[node.op]
            if unknown:
                raise ValueError(f"{where}: unexpected attributes {sorted(unknown)}")
            missing = [name for name in node.inputs if name not in defined]
            if missing:
                raise ValueError(f"{where}: reads {missing}, which no earlier node, input or "
                                 f"initializer defines")
            for name in node.outputs:
                if name in defined and name:
                    raise ValueError(f"{where}: defines {name!r} a second time")
                defined.add(name)
        missing = [v.name for v in self.outputs if v.name not in defined]
        if missing:
            raise ValueError(f"graph outputs {missing} are never defined")
        return self

    def to_json(self) -> str:
        """Everything but the initializers' values, as JSON (their names come with the nodes)."""
        return json.dumps({
            "version": FORMAT_VERSION,
            "inputs": [_value_json(v) for v in self.inputs],
            "outputs": [_value_json(v) for v in self.outputs],
            "nodes": [{"op": n.op, "inputs": n.inputs, "outputs": n.outputs,
                       "attrs": n.attrs, "name": n.name} for n in self.nodes],
            "metadata": self.metadata,
        }, separators=(",", ":"), default=_json_default)

    @classmethod
    def from_json(cls, text: str, initializers: dict[str, np.ndarray]) -> Graph:
        """The graph that :meth:`to_json` wrote, with these initializers; ValueError on
        anything malformed (checked with :meth:`check`)."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError(f"expected a graph of format version {FORMAT_VERSION}")
            graph = cls(inputs=[_value(v) for v in data["inputs"]],
                        outputs=[_value(v) for v in data["outputs"]],
                        nodes=[_node(n) for n in data["nodes"]],
                        initializers=dict(initializers),
                        metadata=_strings(data.get("metadata", {})))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise ValueError(f"malformed graph description ({type(e).__name__}: {e})") from None
        return graph.check()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value of type {type(value).__name__} is not JSON")


def _value_json(v: Value) -> dict[str, Any]:
    return {"name": v.name, "shape": list(v.shape), "dtype": v.dtype,
            "dim_names": list(v.dim_names)}


def _value(data: Any) -> Value:
    shape = data["shape"]
    names = data.get("dim_names", [])  # absent in artifacts written before it existed
    if not isinstance(data["name"], str) or not isinstance(shape, list) or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0)
            for s in shape) or not isinstance(names, list) or not all(
            n is None or isinstance(n, str) for n in names):
        raise TypeError(f"bad value description {data!r}")
    return Value(data["name"], tuple(shape), str(data["dtype"]), tuple(names))


def _node(data: Any) -> Node:
    names = data["inputs"], data["outputs"]
    if not isinstance(data["op"], str) or not all(
            isinstance(part, list) and all(isinstance(n, str) for n in part) for part in names):
        raise TypeError(f"bad node description {data!r}")
    attrs = data.get("attrs", {})
    if not isinstance(attrs, dict):
        raise TypeError(f"node {data['op']}: attrs must be an object")
    return Node(data["op"], list(data["inputs"]), list(data["outputs"]), attrs,
                str(data.get("name", "")))


def _strings(data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise TypeError("metadata must map strings to strings")
    return dict(data)


def save_artifact(graph: Graph, path: str | os.PathLike) -> Path:
    """Write a graph as one artifact file (safetensors: initializers as tensors, the graph as
    JSON metadata), atomically. Returns the path written."""
    graph.check()
    return save_file(graph.initializers, path, metadata={GRAPH_KEY: graph.to_json()})


def load_artifact(path: str | os.PathLike) -> Graph:
    """Read an artifact written by :func:`save_artifact`; :class:`FileFormatError` naming the
    file for anything truncated, corrupted, foreign or inconsistent."""
    path = Path(path)
    arrays, metadata = load_file(path)
    if GRAPH_KEY not in metadata:
        raise bad_file(path, f"a safetensors file, but not a deepgrad artifact (no {GRAPH_KEY!r} "
                             f"in its metadata)")
    try:
        return Graph.from_json(metadata[GRAPH_KEY], arrays)
    except ValueError as e:
        raise bad_file(path, str(e)) from None


__all__ = ["FORMAT_VERSION", "GRAPH_KEY", "ONNX_DTYPES", "OPS", "FileFormatError", "Graph",
           "Node", "Value", "load_artifact", "onnx_dtype", "save_artifact"]
