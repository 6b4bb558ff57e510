"""ONNX export: a traced :class:`Graph` written as an ONNX model (needs ``deepgrad[onnx]``).

::

    dg.export.to_onnx(model, np.zeros((1, 1, 28, 28), np.float32), "runs/cnn/model.onnx")

The graph's nodes already have ONNX's operators and attributes (opset 17 semantics), so the
conversion is one ONNX node per graph node; attribute values get the types that the operator's
schema declares (an ``alpha`` of 1 is written as the float 1.0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.export.trace import trace
from deepgrad.nn.module import Module
from deepgrad_runtime.graph import Graph
from deepgrad_runtime.safetensors import atomic_write

MIN_OPSET = 17  # LayerNormalization, and the opset whose semantics the graph's nodes follow
# Reductions whose axes deepgrad's graph holds as an input, as opset 18 does; opset 17 takes
# them as an attribute.
_AXES_ATTRIBUTE_BEFORE_18 = frozenset({"ReduceMean", "ReduceProd"})


def require_onnx() -> Any:
    """The ``onnx`` package, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'deepgrad[onnx]'"
                          ) from None
    return onnx


def _attribute(onnx: Any, schema: Any, name: str, value: Any, where: str) -> Any:
    if name not in schema.attributes:
        raise ValueError(f"{where}: ONNX's {schema.name} has no attribute {name!r}")
    kind = schema.attributes[name].type
    types = onnx.defs.OpSchema.AttrType
    plain = {types.FLOAT: float, types.INT: int, types.STRING: str}
    lists = {types.FLOATS: float, types.INTS: int, types.STRINGS: str}
    if kind in plain:
        value = plain[kind](value)
    elif kind in lists:
        value = [lists[kind](v) for v in value]
    else:
        raise ValueError(f"{where}: attribute {name!r} of {schema.name} is of a type the graph "
                         f"cannot hold")
    return onnx.helper.make_attribute(name, value, attr_type=int(kind))


def graph_to_onnx(graph: Graph, opset: int = 17) -> Any:
    """The ONNX ``ModelProto`` of a graph (dimensions of any size named by the graph's values,
    ``batch`` where they name none; left unnamed where the trace could not tell them). Below
    opset 18, the axes that the graph gives ReduceMean and ReduceProd as an input (a constant)
    become their attribute.

    Raises:
        ValueError: an opset below 17 or beyond what the installed onnx knows, or a node whose
            operator or attribute the opset lacks, or computed axes that opset 17 needs as an
            attribute (naming the node).
    """
    onnx = require_onnx()
    helper = onnx.helper
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= latest:
        raise ValueError(f"graph_to_onnx: opset must be an int from {MIN_OPSET} to {latest} "
                         f"(the installed onnx's newest); got {opset!r}")
    graph.check()
    nodes, moved = [], set()
    for i, node in enumerate(graph.nodes):
        label = f"{node.name}/{node.op}_{i}" if node.name else f"{node.op}_{i}"
        where = f"node {i} ({node.op}{' in ' + repr(node.name) if node.name else ''})"
        try:
            schema = onnx.defs.get_schema(node.op, opset)
        except onnx.defs.SchemaError:
            raise ValueError(f"{where}: opset {opset} has no operator {node.op}") from None
        inputs, attrs = node.inputs, node.attrs
        if opset < 18 and node.op in _AXES_ATTRIBUTE_BEFORE_18 and len(inputs) > 1 and inputs[1]:
            axes = graph.initializers.get(inputs[1])
            if axes is None:
                raise ValueError(f"{where}: opset {opset} takes {node.op}'s axes as an "
                                 f"attribute, but the graph computes them; write opset 18 or "
                                 f"newer")
            moved.add(inputs[1])
            inputs, attrs = inputs[:1], {**attrs, "axes": np.asarray(axes).reshape(-1).tolist()}
        proto = helper.make_node(node.op, inputs, node.outputs, name=label)
        proto.attribute.extend(_attribute(onnx, schema, key, value, where)
                               for key, value in sorted(attrs.items()))
        nodes.append(proto)
    # An initializer that only held such axes is left out.
    read = {name for proto in nodes for name in proto.input} | {v.name for v in graph.outputs}
    initializers = [onnx.numpy_helper.from_array(np.asarray(array, order="C"), name)
                    for name, array in graph.initializers.items()
                    if name in read or name not in moved]

    def value_info(value: Any) -> Any:
        dtype = helper.np_dtype_to_tensor_dtype(np.dtype(value.dtype))
        names = value.dim_names or ("batch",) * len(value.shape)
        dims = [names[k] if d is None else int(d) for k, d in enumerate(value.shape)]
        return helper.make_tensor_value_info(value.name, dtype, dims)

    onnx_graph = helper.make_graph(nodes, graph.metadata.get("model", "deepgrad"),
                                   [value_info(v) for v in graph.inputs],
                                   [value_info(v) for v in graph.outputs], initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opsets, producer_name="deepgrad")
    # The oldest IR version that holds this opset, so that older runtimes load the file.
    model.ir_version = helper.find_min_ir_version_for(opsets)
    helper.set_model_props(model, dict(graph.metadata))
    return model


def to_onnx(model: Module, example_input: Any, path: str | os.PathLike, opset: int = 17,
            dynamic_batch: bool = True, *, batch_axis: int | Sequence[int] = 0,
            dynamic_axes: Mapping[int, str] | Sequence[Mapping[int, str]] | None = None,
            metadata: dict[str, str] | None = None) -> Path:
    """Trace ``model`` on ``example_input`` and write it as an ONNX file, atomically.

    Args:
        model: a deepgrad Module (traced in eval mode; its modes are restored).
        example_input: an array or Tensor (a tuple of them for several inputs) of the shape
            and dtype the model takes; only the batch size (and ``dynamic_axes``) may change
            later.
        path: the ``.onnx`` file to write.
        opset: the ONNX opset to declare (17 or newer).
        dynamic_batch: the batch dimension of inputs and outputs is named ``batch`` and may be
            any size; False fixes it to the example's.
        batch_axis: the batch axis of the inputs (see :func:`deepgrad.export.trace`).
        dynamic_axes: other axes of any size and their names, ``{1: "time"}`` for sequences
            (N, T, F), or one such dict per input.
        metadata: strings stored in the model's metadata_props (e.g. class names).

    Returns:
        The path written.

    Raises:
        ExportError: an op that cannot be exported, naming it and its layer.
        ImportError: onnx is not installed.
    """
    onnx = require_onnx()
    graph = trace(model, example_input, dynamic_batch, batch_axis=batch_axis,
                  dynamic_axes=dynamic_axes)
    graph.metadata.update(metadata or {})
    proto = graph_to_onnx(graph, opset)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    return atomic_write(path, lambda f: f.write(data))


__all__ = ["MIN_OPSET", "graph_to_onnx", "require_onnx", "to_onnx"]
