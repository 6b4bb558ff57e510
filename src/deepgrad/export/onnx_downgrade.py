"""Opset 18+ operators that ONNX's version converter cannot take down to opset 17.

The converter has no adapter from opset 18 to 17 for Pad (18 added an ``axes`` input, 19 the
``wrap`` mode) nor for Split (18 added ``num_outputs``), nor for several operators whose later
versions only admit more types (:data:`TYPES_ONLY`), nor for Gelu (new in opset 20, which
PyTorch's default exporter writes for ``nn.GELU``), and fails on the whole model when it meets
one. :func:`hold` writes each Gelu as the opset-17 operators of its formula, rewrites each of
the others in its opset-17 form (full-rank pads; split sizes as an input; the rest unchanged)
and moves it into a private domain, which the converter leaves alone; :func:`release` moves it
back after the conversion.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepgrad.export.onnx_import import _DOMAINS, _fresh, _where
from deepgrad.export.onnx_import import _constant as _constant_node

HELD = "deepgrad.held"
"""The private domain the rewritten nodes wait in while the converter runs."""

TYPES_ONLY = frozenset({"Constant", "ConstantOfShape", "Flatten", "Identity", "IsInf", "IsNaN",
                        "Reshape", "Shape", "Size", "Squeeze", "Transpose", "Unsqueeze"})
"""Operators whose versions 18-21 only admit more data types (and no new attributes): their
opset-17 form is the same node, but the converter lacks some of these adapters too
(ConstantOfShape from 20, for instance). deepgrad's own type check refuses the new types."""


def _constant(onnx: Any, graph: Any, name: str) -> np.ndarray | None:
    """The value of a constant input: an initializer's or a Constant node's (None otherwise)."""
    for tensor in graph.initializer:
        if tensor.name == name:
            return onnx.numpy_helper.to_array(tensor)
    for index, node in enumerate(graph.node):
        if node.op_type == "Constant" and node.output[0] == name:
            return _constant_node(onnx, node, _where(index, node))
    return None


def _inferred(onnx: Any, model: Any) -> tuple[dict[str, list], dict[str, int]]:
    """The statically known shapes of the graph's values (dims None where symbolic), and their
    data types (ONNX's numbers)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes, types = {}, {t.name: t.data_type for t in model.graph.initializer}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        tensor = value.type.tensor_type
        types[value.name] = tensor.elem_type
        if tensor.HasField("shape"):
            shapes[value.name] = [d.dim_value if d.HasField("dim_value") else None
                                  for d in tensor.shape.dim]
    return shapes, types


def _needs_inference(node: Any) -> bool:
    """Whether rewriting the node needs its input's shape or type: a Pad with axes (their
    rank), a Split into a number of outputs (the size split), a Gelu (its constants' type)."""
    if node.op_type == "Gelu":
        return True
    if node.op_type == "Pad":
        return len(node.input) > 3 and bool(node.input[3])
    return node.op_type == "Split" and any(a.name == "num_outputs" for a in node.attribute)


def _add_constant(onnx: Any, graph: Any, name: str, array: np.ndarray, taken: set) -> str:
    name = _fresh(name, taken)
    graph.initializer.append(onnx.numpy_helper.from_array(array, name))
    return name


def _pad(onnx: Any, graph: Any, index: int, node: Any, shapes: dict, taken: set) -> None:
    """Pad with full-rank pads and no ``axes`` input (its opset 13-17 form)."""
    mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
    if mode == "wrap":
        raise ValueError(f"{_where(index, node)}: mode 'wrap' (opset 19) is not supported "
                         f"(deepgrad imports Pad's constant, reflect and edge modes)")
    inputs = list(node.input)
    axes_name = inputs[3] if len(inputs) > 3 else ""
    if axes_name:
        rank = len(shapes.get(inputs[0], []))
        axes_value, given = _constant(onnx, graph, axes_name), _constant(onnx, graph, inputs[1])
        if axes_value is None or given is None or not rank:
            raise ValueError(f"{_where(index, node)}: Pad with axes is supported for constant "
                             f"pads and axes over an input of known rank")
        axes = [int(a) % rank for a in axes_value]
        given = given.astype(np.int64)
        pads = np.zeros(2 * rank, np.int64)
        for k, axis in enumerate(axes):
            pads[axis], pads[rank + axis] = given[k], given[len(axes) + k]
        inputs[1] = _add_constant(onnx, graph, f"{node.output[0]}_pads", pads, taken)
    inputs = inputs[:3]
    while inputs and not inputs[-1]:
        inputs.pop()
    del node.input[:]
    node.input.extend(inputs)


def _split(onnx: Any, graph: Any, node: Any, shapes: dict, taken: set) -> None:
    """Split with its sizes as an input instead of ``num_outputs`` (opset 18's chunks: equal
    sizes rounded up, the last one smaller)."""
    count = next((a.i for a in node.attribute if a.name == "num_outputs"), None)
    if count is None:
        return
    kept = [a for a in node.attribute if a.name != "num_outputs"]
    del node.attribute[:]
    node.attribute.extend(kept)
    axis = next((a.i for a in kept if a.name == "axis"), 0)
    shape = shapes.get(node.input[0])
    size = None if not shape else shape[axis % len(shape)]
    if size is None or size % count == 0:
        return  # equal parts: opset 13-17's Split without sizes
    chunk = math.ceil(size / count)
    sizes = np.array([chunk] * (count - 1) + [size - chunk * (count - 1)], np.int64)
    name = _add_constant(onnx, graph, f"{node.output[0]}_split", sizes, taken)
    del node.input[1:]
    node.input.append(name)


def _gelu(onnx: Any, graph: Any, node: Any, types: dict, taken: set) -> list:
    """Gelu's nodes in opset 17: 0.5 x (1 + erf(x / sqrt 2)), or with ``approximate="tanh"``
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), as PyTorch defines them."""
    (x,), (y,) = node.input, node.output
    dtype = onnx.helper.tensor_dtype_to_np_dtype(types.get(x) or onnx.TensorProto.FLOAT)
    name = node.name or y
    nodes = []

    def apply(op: str, inputs: list[str], output: str | None = None) -> str:
        output = output or _fresh(f"{y}_{op.lower()}", taken)
        nodes.append(onnx.helper.make_node(op, inputs, [output], name=f"{name}/{op}"))
        return output

    def const(value: float) -> str:
        return _add_constant(onnx, graph, f"{y}_c", np.array(value, dtype), taken)

    approximate = next((a.s.decode() for a in node.attribute if a.name == "approximate"), "none")
    if approximate == "tanh":
        cube = apply("Mul", [apply("Mul", [x, x]), x])
        inner = apply("Add", [x, apply("Mul", [cube, const(0.044715)])])
        squashed = apply("Tanh", [apply("Mul", [inner, const(math.sqrt(2 / math.pi))])])
    else:
        squashed = apply("Erf", [apply("Div", [x, const(math.sqrt(2))])])
    half_x = apply("Mul", [x, const(0.5)])
    apply("Mul", [half_x, apply("Add", [squashed, const(1.0)])], y)
    return nodes


def hold(onnx: Any, model: Any) -> bool:
    """Rewrite the model's Gelu nodes (of an opset 20+ model) as opset-17 operators, and its
    Pad, Split and :data:`TYPES_ONLY` nodes (of an opset 18+ model) in their opset-17 form in
    the private domain :data:`HELD`; True if any nodes were held."""
    graph = model.graph
    nodes = [(i, n) for i, n in enumerate(graph.node) if n.domain in _DOMAINS
             and (n.op_type in ("Pad", "Split", "Gelu") or n.op_type in TYPES_ONLY)]
    if not nodes:
        return False
    # Shape inference copies the model: only when a rewrite needs it.
    shapes, types = (_inferred(onnx, model) if any(_needs_inference(n) for _, n in nodes)
                     else ({}, {}))
    taken = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    held = False
    for index, node in nodes:
        if node.op_type == "Pad":
            _pad(onnx, graph, index, node, shapes, taken)
        elif node.op_type == "Split":
            _split(onnx, graph, node, shapes, taken)
        if node.op_type != "Gelu":
            node.domain, held = HELD, True
    if any(node.op_type == "Gelu" for _, node in nodes):
        written = []
        for node in graph.node:
            if node.op_type == "Gelu" and node.domain in _DOMAINS:
                written += _gelu(onnx, graph, node, types, taken)
            else:
                written.append(onnx.NodeProto())
                written[-1].CopyFrom(node)  # the list's own copy: it is cleared next
        del graph.node[:]
        graph.node.extend(written)
    if held:
        model.opset_import.append(onnx.helper.make_opsetid(HELD, 1))
    return held


def release(model: Any) -> None:
    """Move the held nodes back to the standard domain (after the conversion)."""
    for node in model.graph.node:
        if node.domain == HELD:
            node.domain = ""
    kept = [o for o in model.opset_import if o.domain != HELD]
    del model.opset_import[:]
    model.opset_import.extend(kept)
