"""Import ONNX models: :func:`from_onnx` returns a deepgrad module that runs and can be
fine-tuned; :func:`read_onnx` returns the model as deepgrad's :class:`Graph`.

The file is parsed with ``onnx.load`` and validated by ``onnx.checker`` (full check); nothing in
it is executed. A model of another opset version is first converted to opset 17 with ONNX's
version converter (Pad and Split of opsets 18+, which it cannot convert, by
:mod:`~deepgrad.export.onnx_downgrade`). Constant nodes become initializers, attributes become
plain JSON values and symbolic dimensions (the batch) become None. Needs the ``onnx`` package
(``pip install 'deepgrad[onnx]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.export.graph_module import KERNELS, GraphModule
from deepgrad_runtime.graph import ONNX_DTYPES, Graph, Node, Value
from deepgrad_runtime.safetensors import FileFormatError, bad_file

OPSET = 17
# The data types deepgrad reads (ONNX_DTYPES, by TensorProto number; onnx is imported lazily)
# cover opset 17's quantization: int8 and uint8 data and zero points, int32 biases.
_SUPPORTED = ", ".join(ONNX_DTYPES.values())
_DOMAINS = ("", "ai.onnx")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("importing ONNX models needs the onnx package; install it with "
                          "pip install 'deepgrad[onnx]'") from None
    return onnx


def _reason(error: Exception) -> str:
    """An exception as one short line (the checker's messages run over many lines)."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(error).__name__}: {text[:300]}"


def _type_name(onnx: Any, code: Any) -> str:
    """ONNX's name of a data type number (FLOAT16, ...), or the number when it names none."""
    known = isinstance(code, int) and code in onnx.TensorProto.DataType.values()
    return onnx.TensorProto.DataType.Name(code) if known else repr(code)


def _array(onnx: Any, tensor: Any, what: str) -> np.ndarray:
    if tensor.data_type not in ONNX_DTYPES:
        raise ValueError(f"{what}: data type {_type_name(onnx, tensor.data_type)} is not "
                         f"supported (supported: {_SUPPORTED})")
    try:
        array = onnx.numpy_helper.to_array(tensor)
    except Exception as error:  # onnx raises many types for corrupted data
        raise FileFormatError(f"{what}: unreadable tensor data ({_reason(error)})") from None
    return np.array(array, dtype=array.dtype.newbyteorder("="))


def _value(onnx: Any, value: Any) -> Value:
    """A graph input or output as a Value: symbolic or unknown dimensions become None."""
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        raise ValueError(f"graph value {value.name!r} is a {kind or 'value of no type'}; only "
                         f"tensors are supported")
    tensor_type = value.type.tensor_type
    dtype = ONNX_DTYPES.get(tensor_type.elem_type)
    if dtype is None:
        raise ValueError(f"graph value {value.name!r} has data type {tensor_type.elem_type}, "
                         f"which is not supported (supported: {_SUPPORTED})")
    if not tensor_type.HasField("shape"):
        raise ValueError(f"graph value {value.name!r} has no shape (its rank is unknown)")
    shape = tuple(d.dim_value if d.HasField("dim_value") else None
                  for d in tensor_type.shape.dim)
    return Value(value.name, shape, dtype)


def _tensor_attribute(onnx: Any, tensor: Any, where: str) -> list:
    """A one-element tensor attribute (ConstantOfShape's value) as ``[number]``, whose Python
    type gives the dtype."""
    array = _array(onnx, tensor, f"{where}: attribute tensor")
    if array.size != 1 or array.dtype not in (np.float32, np.int64, np.bool_):
        raise ValueError(f"{where}: a tensor attribute must hold one float32, int64 or bool "
                         f"value; got {array.dtype} of shape {array.shape}")
    return [array.reshape(()).item()]


def _attribute(onnx: Any, attribute: Any, where: str) -> Any:
    """An attribute's value as plain JSON: an int, float, string or a list of them."""
    kind = onnx.AttributeProto
    if attribute.type == kind.INT:
        return int(attribute.i)
    if attribute.type == kind.FLOAT:
        return float(attribute.f)
    if attribute.type == kind.STRING:
        return attribute.s.decode("utf-8")
    if attribute.type == kind.INTS:
        return [int(v) for v in attribute.ints]
    if attribute.type == kind.FLOATS:
        return [float(v) for v in attribute.floats]
    if attribute.type == kind.STRINGS:
        return [v.decode("utf-8") for v in attribute.strings]
    if attribute.type == kind.TENSOR:
        return _tensor_attribute(onnx, attribute.t, where)
    type_name = kind.AttributeType.Name(attribute.type) \
        if attribute.type in kind.AttributeType.values() else attribute.type
    raise ValueError(f"{where}: attribute {attribute.name!r} of type {type_name} is not "
                     f"supported (subgraphs, sparse tensors and types are not)")


def _constant(onnx: Any, node: Any, where: str) -> np.ndarray:
    """The tensor a Constant node defines."""
    (attribute,) = node.attribute
    name = attribute.name
    if name == "value":
        return _array(onnx, attribute.t, f"{where}: value")
    if name in ("value_float", "value_floats"):
        return np.array(_attribute(onnx, attribute, where), dtype=np.float32)
    if name in ("value_int", "value_ints"):
        return np.array(_attribute(onnx, attribute, where), dtype=np.int64)
    raise ValueError(f"{where}: a Constant given as {name!r} is not supported")


def _where(index: int, node: Any) -> str:
    """How errors name a node of the file: ``node 3 (Pad in 'pad1')``."""
    return f"node {index} ({node.op_type}{' in ' + repr(node.name) if node.name else ''})"


def _fresh(name: str, taken: set) -> str:
    """``name``, with underscores appended until no value of the graph has it; then taken."""
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _node(onnx: Any, index: int, node: Any, initializers: dict, taken: set) -> Node | None:
    """The node as deepgrad's Node (None for a Constant, which becomes an initializer)."""
    op = node.op_type
    where = _where(index, node)
    if node.domain not in _DOMAINS:
        raise ValueError(f"{where}: operator {node.domain}.{op} of a custom domain is not "
                         f"supported")
    if op == "Constant":
        initializers[node.output[0]] = _constant(onnx, node, where)
        return None
    if op not in KERNELS:
        raise ValueError(f"{where}: operator {op!r} is not supported by deepgrad (it imports "
                         f"{', '.join(sorted(KERNELS))})")
    attrs = {a.name: _attribute(onnx, a, where) for a in node.attribute}
    inputs = list(node.input)
    if op == "Cast" and attrs.get("to") not in ONNX_DTYPES:
        raise ValueError(f"{where}: Cast to {_type_name(onnx, attrs.get('to'))} is not "
                         f"supported (supported: {_SUPPORTED})")
    if op == "BatchNormalization" and attrs.pop("training_mode", 0):
        raise ValueError(f"{where}: training_mode=1 (a model exported in training mode) is not "
                         f"supported; export it in evaluation mode (the imported module's "
                         f"train() makes batch norm use batch statistics)")
    if op == "MaxPool":
        attrs.pop("storage_order", None)  # the layout of the indices, an output not supported
    if op == "LayerNormalization" and attrs.pop("stash_type", 1) != 1:
        raise ValueError(f"{where}: a stash_type other than 1 (the statistics in float32) is "
                         f"not supported: deepgrad computes them in the input's type")
    if op in ("ReduceMean", "ReduceProd") and "axes" in attrs:
        # Opset 17 gives these reductions' axes as an attribute, deepgrad's graph (like opset
        # 18) as an input.
        name = _fresh(f"{node.output[0]}_axes", taken)
        initializers[name] = np.array(attrs.pop("axes"), dtype=np.int64)
        inputs = [inputs[0], name]
    return Node(op, inputs, list(node.output), attrs, node.name)


def _to_graph(onnx: Any, model: Any) -> Graph:
    graph = model.graph
    if len(graph.sparse_initializer):
        raise ValueError("sparse initializers are not supported")
    initializers = {t.name: _array(onnx, t, f"initializer {t.name!r}")
                    for t in graph.initializer}
    taken = set(initializers) | {v.name for v in graph.input} | {
        name for node in graph.node for name in node.output}
    nodes = []
    for index, proto in enumerate(graph.node):
        node = _node(onnx, index, proto, initializers, taken)
        if node is not None:
            nodes.append(node)
    metadata = {"source": "onnx", "onnx.producer": f"{model.producer_name} "
                                                   f"{model.producer_version}".strip()}
    metadata.update({f"onnx.{p.key}": p.value for p in model.metadata_props})
    # Older models also list their initializers among the inputs.
    return Graph(inputs=[_value(onnx, v) for v in graph.input if v.name not in initializers],
                 outputs=[_value(onnx, v) for v in graph.output], nodes=nodes,
                 initializers=initializers, metadata=metadata)


def _opset(onnx: Any, model: Any, path: Path | str) -> Any:
    """The model in opset 17, converted if it was written for another version."""
    versions = {o.domain: o.version for o in model.opset_import}
    version = next((versions[d] for d in _DOMAINS if d in versions), None)
    if version is None:
        raise bad_file(path, "an ONNX model that imports no version of the standard operators")
    if version == OPSET:
        return model
    from deepgrad.export import onnx_downgrade  # here: it imports this module's helpers

    held = False
    if version > OPSET:
        try:
            held = onnx_downgrade.hold(onnx, model)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    try:
        model = onnx.version_converter.convert_version(model, OPSET)
    except Exception as error:  # the converter raises many types
        raise ValueError(f"{path}: cannot convert the model from opset {version} to {OPSET} "
                         f"({_reason(error)})") from None
    if held:
        onnx_downgrade.release(model)
    return model


def _load(onnx: Any, source: Any, caller: str) -> tuple[Any, str]:
    """The ModelProto that ``source`` (a path, the bytes of a file, or a ModelProto, which is
    copied, as converting it may change it) holds, and how messages name it."""
    if isinstance(source, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(source)
        return model, "the ONNX model (a ModelProto)"
    if isinstance(source, (bytes, bytearray, memoryview)):
        where = f"the ONNX model ({len(source)} bytes)"
        try:
            return onnx.load_from_string(bytes(source)), where
        except Exception as error:  # protobuf and onnx raise many types
            raise bad_file(where, f"not a readable ONNX model ({_reason(error)})") from None
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{caller}: expected the path of an ONNX file, its bytes or an "
                        f"onnx.ModelProto; got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path)), str(path)
    except Exception as error:  # protobuf and onnx raise many types
        raise bad_file(path, f"not a readable ONNX model ({_reason(error)})") from None


def read_onnx(source: str | os.PathLike | bytes | Any, *, caller: str = "read_onnx") -> Graph:
    """Read an ONNX model (a file's path, its bytes, or an ``onnx.ModelProto``) as deepgrad's
    :class:`Graph` (checked), without running anything.

    Raises:
        FileNotFoundError: no such file.
        TypeError: ``source`` is none of those.
        FileFormatError: not a valid ONNX model (truncated, corrupted, foreign, or rejected by
            ``onnx.checker``); the message names the file.
        ValueError: a valid model that uses what deepgrad does not support; the message names
            the file, the node and its operator.
    """
    onnx = _onnx()
    model, where = _load(onnx, source, caller)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # the checker raises many types
        raise bad_file(where, f"not a valid ONNX model: onnx.checker rejects it "
                              f"({_reason(error)})") from None
    model = _opset(onnx, model, where)
    try:
        return _to_graph(onnx, model).check()
    except ValueError as error:
        raise type(error)(f"{where}: {error}") from None


def from_onnx(source: str | os.PathLike | bytes | Any) -> GraphModule:
    """Import an ONNX model (a file's path, its bytes, or an ``onnx.ModelProto``) as a deepgrad
    module that runs it and can be fine-tuned.

    The module (a :class:`GraphModule`, in evaluation mode) computes with deepgrad's ops: its
    weights are Parameters (see :class:`GraphModule`), so ``train()``, an optimizer and
    ``backward`` fine-tune it like any model. Errors are those of :func:`read_onnx`.
    """
    graph = read_onnx(source, caller="from_onnx")
    try:
        return GraphModule(graph)
    except ValueError as error:
        where = str(source) if isinstance(source, (str, os.PathLike)) else "the ONNX model"
        raise ValueError(f"{where}: {error}") from None


__all__ = ["OPSET", "from_onnx", "read_onnx"]
