"""Tracing: record the ops of a forward pass and turn them into a :class:`Graph`.

::

    graph = trace(model, np.zeros((1, 1, 28, 28), np.float32))   # dynamic batch by default

The model runs in eval mode without gradients while ``_Trace.observer`` sees every op; each op
is converted to ONNX-semantics nodes (:mod:`deepgrad.export.convert`). Parameters and buffers
become initializers named by their state_dict keys; ops that read only weights are computed once
and become constants.

The model runs twice: on the example, then on its elements shuffled (plus one more example with
``dynamic_batch``). Sizes that change between the two runs are the batch, so the graph works for
any batch size; a constant or a plain argument that changes depends on the input (made from
``x.shape`` or with NumPy) and is reported instead of being baked into the graph.
A value that the second input happens to leave unchanged cannot be caught this way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from deepgrad.anomaly import _Anomaly
from deepgrad.autograd import _Trace
from deepgrad.errors import ShapeError
from deepgrad.export.convert import CONVERTERS, SHAPE_OPTIONS, UNEXPORTABLE
from deepgrad.export.emit import Emitter, ExportError, GraphBuilder, TracedOp, same, where
from deepgrad.grad_mode import no_grad
from deepgrad.nn.module import Module
from deepgrad.ops import shape
from deepgrad.tensor import Tensor, to_array
from deepgrad_runtime.graph import Graph, Node, Value


class _Recorder:
    """The observer of one traced forward pass."""

    def __init__(self, paths: dict[int, str]) -> None:
        self.paths = paths
        self.ops: list[TracedOp] = []
        self.dynamic: set[int] = set()  # ids of the tensors and arrays computed from the input
        self.keep: list[Any] = []
        self.replaced: set[int] = set()  # ids of the tensors that in-place ops replaced

    def in_place(self, tensor: Tensor, compute: Callable[[Tensor], Tensor]) -> Tensor | None:
        """An in-place op (``x += y``, ``inplace=True``) on ``tensor``, run out of place when the
        tensor is computed from the input: the op's result, with which the model must go on
        (a later use of ``tensor`` is refused); None for another tensor (a buffer), which the op
        changes as usual."""
        if not self._is_dynamic(tensor):
            return None
        result = compute(tensor)
        self.keep.append(tensor)
        self.replaced.add(id(tensor))
        return result

    def mark(self, tensor: Tensor) -> None:
        self.keep.append(tensor)
        self.dynamic.update((id(tensor), id(tensor.data)))

    def _is_dynamic(self, value: Any) -> bool:
        if isinstance(value, Tensor):
            return id(value) in self.dynamic or id(value.data) in self.dynamic
        return isinstance(value, np.ndarray) and id(value) in self.dynamic

    def __call__(self, cls: type, args: tuple, options: dict, outputs: Any) -> None:
        outs = outputs if type(outputs) is tuple else (outputs,)
        layer = self._layer()
        if self.replaced and any(id(a) in self.replaced for a in args):
            raise ExportError(f"cannot export {where(cls, layer)}: it reads a tensor after an "
                              f"in-place op (x.add_(y), inplace=True) overwrote it, which the "
                              f"trace does not follow; go on with the op's result (x += y, "
                              f"x = F.relu(x, inplace=True)) or use the out-of-place form")
        dynamic = any(self._is_dynamic(a) for a in args)
        if dynamic and cls not in CONVERTERS:
            reason = UNEXPORTABLE.get(cls, f"deepgrad's exporter has no ONNX equivalent for "
                                           f"{cls.__name__}")
            raise ExportError(f"cannot export {where(cls, layer)}: {reason}; write the layer "
                              f"with exportable ops")
        self.ops.append(TracedOp(cls, args, options, outs, layer, dynamic))
        self.keep.extend(outs)
        if dynamic:
            for out in outs:
                self.mark(out)

    def _layer(self) -> str:
        if not _Anomaly.modules:
            return ""
        module = _Anomaly.modules[-1]
        return self.paths.get(id(module), f"<{type(module).__name__}>")


def _run(model: Module, arrays: list[np.ndarray], paths: dict[int, str]) -> tuple:
    """(recorder, input tensors, flat output tensors) of one traced forward pass."""
    recorder = _Recorder(paths)
    inputs = [Tensor(a) for a in arrays]
    for t in inputs:
        recorder.mark(t)
    previous = _Trace.observer
    _Trace.observer = recorder
    try:
        with no_grad():
            output = model(*inputs)
    finally:
        _Trace.observer = previous
    return recorder, inputs, _flatten(output)


def _flatten(output: Any) -> list[Tensor]:
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _flatten(item)]
    raise ExportError(f"the model's forward returned a {type(output).__name__}; an exported "
                      f"model returns Tensors, or tuples and lists of them")


def _as_arrays(example_input: Any) -> list[np.ndarray]:
    items = list(example_input) if isinstance(example_input, tuple) else [example_input]
    arrays = [to_array(item) for item in items]
    for k, a in enumerate(arrays):
        if a.dtype.kind not in "fiub" or a.ndim == 0:
            raise TypeError(f"trace: example input {k} must be an array with at least one "
                            f"dimension; got {a.dtype} of shape {a.shape}")
    return arrays


def _batch_axes(batch_axis: int | Sequence[int], arrays: list[np.ndarray]) -> list[int]:
    axes = [batch_axis] * len(arrays) if isinstance(batch_axis, int) else list(batch_axis)
    if len(axes) != len(arrays):
        raise ValueError(f"trace: batch_axis gives {len(axes)} axes for {len(arrays)} inputs")
    for k, (axis, a) in enumerate(zip(axes, arrays)):
        if not -a.ndim <= axis < a.ndim:
            raise ValueError(f"trace: batch_axis {axis} is out of range for example input {k} "
                             f"of shape {a.shape}")
    return [axis % a.ndim for axis, a in zip(axes, arrays)]


def _dynamic_axes(dynamic_axes: Any, arrays: list[np.ndarray], batch_axes: list[int],
                  dynamic_batch: bool) -> list[dict[int, str]]:
    """Per input, its axes of any size and their names: the batch axis ("batch") with
    ``dynamic_batch``, and those ``dynamic_axes`` names ({axis: name}, or one such dict per
    input)."""
    if dynamic_axes is None:
        given: list[Any] = [{}] * len(arrays)
    elif isinstance(dynamic_axes, dict):
        given = [dynamic_axes] * len(arrays)
    else:
        given = list(dynamic_axes)
    if len(given) != len(arrays) or not all(isinstance(d, dict) for d in given):
        raise ValueError(f"trace: dynamic_axes must be {{axis: name}}, or one such dict per "
                         f"input ({len(arrays)}); got {dynamic_axes!r}")
    named = []
    for k, (axes, a, batch) in enumerate(zip(given, arrays, batch_axes)):
        these = {batch: "batch"} if dynamic_batch else {}
        for axis, name in axes.items():
            if isinstance(axis, bool) or not isinstance(axis, int) or not -a.ndim <= axis < a.ndim:
                raise ValueError(f"trace: dynamic_axes names axis {axis!r}, out of range for "
                                 f"example input {k} of shape {a.shape}")
            if not isinstance(name, str) or not name or name == "batch":
                raise ValueError(f"trace: dynamic_axes needs a name for axis {axis} other than "
                                 f"'batch' (the batch axis is batch_axis); got {name!r}")
            if axis % a.ndim in these:
                raise ValueError(f"trace: axis {axis} of example input {k} is the batch axis; "
                                 f"dynamic_axes names the others")
            these[axis % a.ndim] = name
        named.append(these)
    return named


def _second_example(a: np.ndarray, growth: dict[int, int]) -> np.ndarray:
    """The input of the second trace: the example's elements shuffled (other values at every
    position, from the same set, so still valid indices for an Embedding) and each dynamic axis
    longer by its own amount (``growth``: axis -> extra length). Whatever differs between the
    two traces depends on those sizes or on the input's values."""
    out = np.random.default_rng(0).permutation(a.reshape(-1)).reshape(a.shape)
    for axis, extra in growth.items():
        out = np.concatenate([out, np.take(out, [0] * extra, axis)], axis=axis)
    return out


def _value(name: str, first: Tensor, second: Tensor, dim_names: dict[int, str]) -> Value:
    """A graph input or output: None in its shape where the two traces differ, and the names
    of those dimensions known by how much they grew (``dim_names``: growth -> name)."""
    pairs = list(zip(first.shape, second.shape))
    return Value(name, tuple(m if m == n else None for m, n in pairs), str(first.data.dtype),
                 tuple(None if m == n else dim_names.get(n - m) for m, n in pairs))


def trace(model: Module, example_input: Any, dynamic_batch: bool = True, *,
          batch_axis: int | Sequence[int] = 0,
          dynamic_axes: Mapping[int, str] | Sequence[Mapping[int, str]] | None = None) -> Graph:
    """The graph of ``model``'s forward pass on ``example_input``, as ONNX-semantics nodes.

    Args:
        model: a Module; it runs in eval mode without gradients (its modes are restored).
        example_input: an array, Tensor or nested list, or a tuple of them for a forward that
            takes several inputs (named ``input``, or ``input0``, ``input1``, ...).
        dynamic_batch: make the batch dimension of the inputs and outputs any size; False
            fixes every size to the example's. (The model is traced twice either way, the
            second time with other values, to find what depends on them.)
        batch_axis: which axis of the inputs is the batch (1 for a recurrent layer without
            ``batch_first``), one int for all inputs or one per input.
        dynamic_axes: other axes of any size, with their names: ``{1: "time"}`` for a batch of
            sequences (N, T, F), or one such dict per input (PyTorch's ``dynamic_axes``).

    Returns:
        A checked Graph: initializers named by state_dict keys, nodes named by the layer that
        ran them, outputs named ``output`` (or ``output0``, ``output1``, ... for a forward that
        returns a tuple, flattened in order).

    Raises:
        ExportError: an op without an ONNX conversion, naming it and its layer, or a model
            whose graph depends on the input in a way a graph cannot express.
    """
    if not isinstance(model, Module):
        raise TypeError(f"trace: expects a deepgrad Module; got {type(model).__name__}")
    arrays = _as_arrays(example_input)
    named = _dynamic_axes(dynamic_axes, arrays, _batch_axes(batch_axis, arrays), dynamic_batch)
    # Each name grows by its own amount in the second trace, which tells the names of the
    # outputs' dimensions apart: the batch by 1, the others by 2, 3, ...
    growth = {"batch": 1}
    for axes in named:
        for name in axes.values():
            growth.setdefault(name, len(growth) + 1)
    paths = {id(module): path for path, module in model.named_modules()}
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        first = _run(model, arrays, paths)
        seconds = [_second_example(a, {axis: growth[name] for axis, name in axes.items()})
                   for a, axes in zip(arrays, named)]
        try:
            second = _run(model, seconds, paths)
        except ShapeError as error:
            changed = ", ".join(sorted({f"{name} (axis {axis} of input {k})"
                                        for k, axes in enumerate(named)
                                        for axis, name in axes.items()}))
            raise ExportError(f"the model does not run when {changed} change size, which an "
                              f"export with those axes of any size needs (traced again on "
                              f"inputs of shapes {', '.join(str(a.shape) for a in seconds)}): "
                              f"{error}") from None
    finally:
        for module, mode in modes:
            object.__setattr__(module, "training", mode)
    return _build(model, first, second, {extra: name for name, extra in growth.items()},
                  dynamic_batch or any(named))


def _named(model: Module) -> dict[int, tuple[str, Any]]:
    named: dict[int, tuple[str, Any]] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        named.setdefault(id(tensor), (name, tensor.data))
        named.setdefault(id(tensor.data), (name, tensor.data))
    return named


def _kind(cls: type) -> type:
    """The op as the exported graph sees it: a reshape that had to copy (its input's memory
    layout, which can differ between batch sizes, allowed no view) is a reshape."""
    return shape.Reshape if issubclass(cls, shape.Reshape) else cls


def _build(model: Module, first: tuple, second: tuple, dim_names: dict[int, str],
           dynamic: bool) -> Graph:
    (recorder, inputs, outputs), (recorder2, inputs2, outputs2) = first, second
    advice = "; export with dynamic_batch=False (and no dynamic_axes)" if dynamic else ""
    if [_kind(op.cls) for op in recorder2.ops] != [_kind(op.cls) for op in recorder.ops]:
        raise ExportError(f"the model ran different ops for two example batches (control flow "
                          f"that depends on the batch size or the input's values){advice}")
    if len(outputs2) != len(outputs):
        raise ExportError(f"the model returned {len(outputs)} and {len(outputs2)} outputs for "
                          f"two example batches{advice}")
    builder = GraphBuilder(_named(model))
    graph_inputs = []
    for k, (t, t2) in enumerate(zip(inputs, inputs2)):
        if t._version:
            raise ExportError(f"the model changed its input {k} in place (+=, x[...] = ...), "
                              f"which the trace does not record; use out-of-place ops")
        name = builder.unique("input" if len(inputs) == 1 else f"input{k}")
        builder.bind(t, name)
        graph_inputs.append(_value(name, t, t2, dim_names))
    for op, op2 in zip(recorder.ops, recorder2.ops):
        if not op.dynamic:  # computed from weights only: a constant where it is read
            hint = f"{_source(builder, op)}.{op.cls.__name__.lower()}"
            for out in op.outputs:
                builder.hints[id(out)] = hint
                builder.keep.append(out)
            continue
        _check_same_arguments(op, op2, advice)
        if any(out._version for out in op.outputs):
            raise ExportError(f"cannot export {where(op.cls, op.layer)}: its output was then "
                              f"changed in place (+=, x[...] = ...), which the trace does not "
                              f"record; use out-of-place ops (y = y + b)")
        names = CONVERTERS[op.cls](Emitter(builder, op, op2))
        for out, name in zip(op.outputs, names):
            if name is not None:
                builder.bind(out, name)
    output_names = _outputs(builder, outputs, outputs2, advice)
    graph_outputs = [_value(name, t, t2, dim_names)
                     for name, t, t2 in zip(output_names, outputs, outputs2)]
    metadata = {"producer": "deepgrad", "model": type(model).__name__}
    return Graph(graph_inputs, graph_outputs, builder.nodes, builder.initializers,
                 metadata).check()


def _source(builder: GraphBuilder, op: TracedOp) -> str:
    """What a constant computed by ``op`` is named after: the parameter it reads (or the
    constant that an earlier such op made), else the layer."""
    for arg in op.args:
        key = id(arg)
        if key in builder.named:
            return builder.named[key][0]
        if key in builder.hints:
            return builder.hints[key]
    return op.layer or "model"


def _check_same_arguments(op: TracedOp, op2: TracedOp, advice: str) -> None:
    """Options and plain arguments must not change with the batch size or the input's values,
    except those that the op's converter writes for any batch size."""
    allowed = SHAPE_OPTIONS.get(op.cls, frozenset())
    changed = [key for key in op.options if key not in allowed
               and not same(op.options[key], op2.options[key])]
    changed += [f"argument {k}" for k, (a, b) in enumerate(zip(op.args, op2.args))
                if not isinstance(a, (Tensor, np.ndarray)) and not same(a, b)]
    if changed:
        verb = "changes" if len(changed) == 1 else "change"
        raise ExportError(f"cannot export {where(op.cls, op.layer)}: its {', '.join(changed)} "
                          f"{verb} with the batch size or the input's values (computed from "
                          f"x.shape or x.item()?){advice}")


def _outputs(builder: GraphBuilder, outputs: list[Tensor], outputs2: list[Tensor],
             advice: str) -> list[str]:
    """The names of the graph outputs, ``output`` or ``output<k>``: the value is renamed, or
    copied by an Identity where it is an input, a constant or an earlier output."""
    produced = {name for node in builder.nodes for name in node.outputs}
    names: list[str] = []
    renames: dict[str, str] = {}
    for k, (t, t2) in enumerate(zip(outputs, outputs2)):
        name = builder.lookup(t)
        if name is None:
            if not same(t.data, t2.data):
                raise ExportError(f"the model's output {k} was computed outside the traced ops "
                                  f"(with NumPy, or by nonzero or unique) from the input, so "
                                  f"it would be written as a constant{advice}")
            name = builder.constant(t.data, "output_constant")
            builder.bind(t, name)
        target = builder.unique("output" if len(outputs) == 1 else f"output{k}")
        if name in produced and name not in renames:
            renames[name] = target
        else:
            builder.nodes.append(Node("Identity", [renames.get(name, name)], [target]))
        names.append(target)
    for node in builder.nodes:
        node.inputs = [renames.get(n, n) for n in node.inputs]
        node.outputs = [renames.get(n, n) for n in node.outputs]
    return names


__all__ = ["ExportError", "trace"]
