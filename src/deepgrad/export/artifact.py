"""The runtime artifact: a traced graph, simplified for inference, in one safetensors file.

::

    dg.export.to_runtime(model, "runs/cnn/model.runtime.safetensors")
    m = deepgrad_runtime.load(path); m.run(x)              # NumPy only, on the device

Before saving, :func:`simplify` removes what inference does not need: Identity nodes and
every BatchNormalization that directly follows a Conv or a Gemm whose output nothing else reads,
folded into that layer's weights and bias (new initializers ``<name>.folded``):
``W' = W * s``, ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)`` per output
channel. (The trace itself leaves dropout out: in eval mode it is the identity.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.errors import ShapeError
from deepgrad.export.trace import trace
from deepgrad.nn.module import Module
from deepgrad_runtime.graph import Graph, Node, save_artifact


def _consumers(graph: Graph) -> dict[str, list[Node]]:
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node)
    return readers


def _drop_identities(graph: Graph) -> None:
    """Let every reader of an Identity (or of an inference Dropout's output) read its input
    instead; one that defines a graph output stays."""
    outputs = {v.name for v in graph.outputs}
    alias: dict[str, str] = {}
    kept = []
    for node in graph.nodes:  # in execution order, so aliases of aliases resolve as they come
        node.inputs = [alias.get(n, n) for n in node.inputs]
        passes_through = node.op == "Identity" or (node.op == "Dropout"
                                                   and not any(node.outputs[1:]))
        if passes_through and node.outputs[0] not in outputs:
            alias[node.outputs[0]] = node.inputs[0]
        else:
            kept.append(node)
    graph.nodes = kept


def _fold_batch_norms(graph: Graph) -> None:
    """Fold each foldable BatchNormalization into the Conv or Gemm before it."""
    readers = _consumers(graph)
    producers = {name: node for node in graph.nodes for name in node.outputs}
    outputs = {v.name for v in graph.outputs}
    inits = graph.initializers
    folded: set[int] = set()
    for bn in graph.nodes:
        if bn.op != "BatchNormalization" or len(bn.outputs) != 1:
            continue
        layer = producers.get(bn.inputs[0])
        params = bn.inputs[1:5]
        if (layer is None or layer.op not in ("Conv", "Gemm") or len(readers[bn.inputs[0]]) != 1
                or bn.inputs[0] in outputs or not all(p in inits for p in params)
                or not all(p in inits for p in layer.inputs[1:] if p)):
            continue
        weight = inits[layer.inputs[1]]
        if layer.op == "Gemm" and not (layer.attrs.get("transB") == 1
                                       and not layer.attrs.get("transA")
                                       and layer.attrs.get("alpha", 1.0) == 1.0
                                       and layer.attrs.get("beta", 1.0) == 1.0):
            continue
        gamma, beta, mean, var = (inits[p].astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        bias_name = layer.inputs[2] if len(layer.inputs) > 2 else ""
        bias = inits[bias_name].astype(np.float64) if bias_name else np.zeros_like(mean)
        shape = (-1,) + (1,) * (weight.ndim - 1)  # the output channel is axis 0 of both
        new_weight = (weight * scale.reshape(shape)).astype(weight.dtype)
        new_bias = ((bias - mean) * scale + beta).astype(weight.dtype)
        layer.inputs = [layer.inputs[0], _folded(graph, layer.inputs[1], new_weight),
                        _folded(graph, bias_name or params[1], new_bias)]
        layer.outputs = list(bn.outputs)
        folded.add(id(bn))
    graph.nodes = [node for node in graph.nodes if id(node) not in folded]


def _folded(graph: Graph, name: str, array: np.ndarray) -> str:
    """A new initializer ``<name>.folded`` holding ``array`` (the original may have other
    readers; :func:`_prune` drops it if not)."""
    new = f"{name}.folded"
    while new in graph.initializers:
        new += "_"
    graph.initializers[new] = array
    return new


def _prune(graph: Graph) -> None:
    used = {name for node in graph.nodes for name in node.inputs}
    graph.initializers = {k: v for k, v in graph.initializers.items() if k in used}


def simplify(graph: Graph) -> Graph:
    """Remove Identity nodes and fold BatchNormalization into the Conv or Gemm before it (see
    the module docstring), in place; drops initializers nothing reads. Returns the graph."""
    _drop_identities(graph)
    _fold_batch_norms(graph)
    _prune(graph)
    return graph.check()


def _default_input(model: Module) -> Any:
    """A batch of one random example for a model whose first weighted layer tells the input's
    shape: a Linear (N, in_features), a Conv2d (N, C, 28, 28) as for Fashion-MNIST, a Conv1d
    (N, C, 28), an Embedding (N, 8) of indices, a batch-first RNN, GRU or LSTM (N, 8,
    input_size); for an imported ONNX model, the shapes and types of its inputs (a batch of
    one, 8 along other dimensions of any size; zeros for integer inputs, which may be
    indices). Random, not zeros, so that the trace can tell what depends on the values."""
    from deepgrad import nn
    from deepgrad.export.graph_module import GraphModule
    from deepgrad.export.quantized_layers import QuantizedConv1d, QuantizedConv2d, QuantizedLinear

    rng = np.random.default_rng(0)
    if isinstance(model, GraphModule):
        examples = []
        for value in model.graph.inputs:
            shape = tuple((1 if axis == 0 else 8) if size is None else size
                          for axis, size in enumerate(value.shape))
            dtype = np.dtype(value.dtype)
            examples.append(rng.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                            else np.zeros(shape, dtype))
        return examples[0] if len(examples) == 1 else tuple(examples)
    for module in model.modules():
        shape = None
        if isinstance(module, (nn.Linear, QuantizedLinear)):
            shape = (1, module.in_features)
        elif isinstance(module, (nn.Conv2d, QuantizedConv2d)):
            shape = (1, module.in_channels, 28, 28)
        elif isinstance(module, (nn.Conv1d, QuantizedConv1d)):
            shape = (1, module.in_channels, 28)
        elif isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)) and module.batch_first:
            shape = (1, 8, module.input_size)
        elif isinstance(module, nn.Embedding):
            return rng.integers(0, module.num_embeddings, (1, 8))
        if shape is not None:
            return rng.standard_normal(shape).astype(np.float32)
        if next(module.parameters(recurse=False), None) is not None:
            break  # the first weighted layer is of another kind
    raise ValueError(f"to_runtime: cannot tell the input shape of a {type(model).__name__} "
                     f"from its first layer; pass example_input")


def to_runtime(model: Module, path: str | os.PathLike, example_input: Any = None, *,
               batch_axis: int | Sequence[int] = 0,
               dynamic_axes: Mapping[int, str] | Sequence[Mapping[int, str]] | None = None,
               metadata: dict[str, str] | None = None) -> Path:
    """Trace ``model``, simplify the graph for inference and write it as a runtime artifact
    (safetensors: the weights as tensors, the graph as JSON metadata), atomically.

    Args:
        model: a deepgrad Module.
        path: the file to write.
        example_input: an example batch (any batch size: the artifact takes any); None guesses
            one from the first weighted layer (28x28 images for a Conv2d first).
        batch_axis: the batch axis of the inputs (see :func:`deepgrad.export.trace`).
        dynamic_axes: other axes of any size, ``{1: "time"}`` for sequences (N, T, F), or one
            such dict per input.
        metadata: strings stored with the graph (e.g. class names, input normalization).

    Returns:
        The path written.
    """
    example = _default_input(model) if example_input is None else example_input
    try:
        graph = trace(model, example, batch_axis=batch_axis, dynamic_axes=dynamic_axes)
    except ShapeError as error:
        if example_input is None:
            raise ValueError(f"to_runtime: tracing with a guessed input of shape "
                             f"{example.shape} failed ({error}); pass example_input") from None
        raise
    graph.metadata.update(metadata or {})
    return save_artifact(simplify(graph), path)


__all__ = ["simplify", "to_runtime"]
