"""Helpers of the runtime tests: one-node graphs, onnxruntime as the oracle, comparisons.

Imported as ``runtime.oracle`` (``tests`` is on the path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deepgrad_runtime import Model
from deepgrad_runtime.graph import Graph, Node, Value


def one_node(op: str, inputs: Sequence[np.ndarray | None], attrs: dict | None = None,
             outputs: int | Sequence[str] = 1, constant: Sequence[int] = ()) -> tuple[Graph, list]:
    """A graph of one node: ``inputs`` in the node's order (None: omitted); those at the
    ``constant`` indices are initializers, the others graph inputs. Returns (graph, the
    arrays to run it with)."""
    names, graph_inputs, feeds, initializers = [], [], [], {}
    for i, array in enumerate(inputs):
        if array is None:
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if i in constant:
            initializers[name] = array
        else:
            graph_inputs.append(Value(name, array.shape, str(array.dtype)))
            feeds.append(array)
    outs = [f"out{i}" for i in range(outputs)] if isinstance(outputs, int) else list(outputs)
    graph = Graph(graph_inputs, [Value(o, (), "float32") for o in outs if o],
                  [Node(op, names, outs, dict(attrs or {}), "the_node")], initializers)
    return graph, feeds


def _onnx_model(graph: Graph) -> Any:
    from onnx import helper, numpy_helper

    def info(v: Value) -> Any:
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype))
        return helper.make_tensor_value_info(
            v.name, elem, [f"d{i}" if s is None else s for i, s in enumerate(v.shape)])

    nodes = []
    for i, n in enumerate(graph.nodes):
        attrs = dict(n.attrs)
        if n.op == "ConstantOfShape" and "value" in attrs:
            (fill,) = attrs["value"]
            dtype = (np.bool_ if isinstance(fill, bool) else np.int64 if isinstance(fill, int)
                     else np.float32)
            attrs["value"] = numpy_helper.from_array(np.array([fill], dtype))
        nodes.append(helper.make_node(n.op, n.inputs, n.outputs, name=n.name or f"n{i}",
                                      **attrs))
    onnx_graph = helper.make_graph(
        nodes, "oracle", [info(v) for v in graph.inputs],
        [helper.make_empty_tensor_value_info(v.name) for v in graph.outputs],
        [numpy_helper.from_array(a, name) for name, a in graph.initializers.items()])
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def run_onnxruntime(graph: Graph, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The graph's outputs as computed by onnxruntime (one thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(_onnx_model(graph).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run([v.name for v in graph.outputs],
                       {v.name: a for v, a in zip(graph.inputs, feeds)})


def outputs_of(graph: Graph, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The runtime's outputs, always as a list."""
    result = Model(graph).run(*feeds)
    return list(result) if isinstance(result, tuple) else [result]


def assert_matches(actual: Sequence[np.ndarray], expected: Sequence[np.ndarray],
                   tolerance: float = 1e-5, what: str = "") -> None:
    """Same count, shapes and dtypes; values within ``tolerance`` relative to the largest."""
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected)):
        e = np.asarray(e)
        assert a.shape == e.shape, f"{what} output {i}: shape {a.shape} != {e.shape}"
        assert a.dtype == e.dtype, f"{what} output {i}: dtype {a.dtype} != {e.dtype}"
        if e.dtype.kind in "fc":
            finite = np.abs(e[np.isfinite(e)])
            scale = max(1.0, float(finite.max())) if finite.size else 1.0
            np.testing.assert_allclose(a, e, rtol=tolerance, atol=tolerance * scale,
                                       err_msg=f"{what} output {i}")
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"{what} output {i}")
