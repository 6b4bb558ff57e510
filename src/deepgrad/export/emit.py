"""The machinery that turns a traced op into graph nodes: the record of one op, the graph being
built, and the :class:`Emitter` through which a converter reads the op and writes its nodes.

Values are found by identity: a tensor the trace saw (the input, an op's output, a parameter or a
buffer, or its array) has a value name; any other tensor an op reads is a constant and becomes an
initializer. The model is traced twice, the second time with other input values (and, for a
dynamic batch, another batch size): an argument that differs between the two runs depends on the
input, which a constant must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgrad.tensor import Tensor
from deepgrad_runtime.graph import Node

INT64_MAX = 2**63 - 1


class ExportError(ValueError):
    """A model cannot be exported; the message names the op and the layer that called it."""


@dataclass
class TracedOp:
    """One op applied during the traced forward pass: the Function class, its arguments and
    options as given, its output tensors, the path of the innermost layer that called it, and
    whether it reads the model's input (directly or through earlier ops)."""

    cls: type
    args: tuple
    options: dict
    outputs: tuple
    layer: str
    dynamic: bool


def where(cls: type, layer: str) -> str:
    """``op Conv2d called in layer 'features.0'``: how errors name an op."""
    place = f"layer '{layer}'" if layer else "the model's own forward"
    return f"op {cls.__name__} called in {place}"


def data_of(value: Any) -> Any:
    """The array behind a Tensor, or the value itself."""
    return value.data if isinstance(value, Tensor) else value


def same(a: Any, b: Any) -> bool:
    """Whether two plain arguments of the two traces are equal (arrays by shape and values)."""
    a, b = data_of(a), data_of(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and bool(np.array_equal(a, b)))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, slice) and isinstance(b, slice):
        return same((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    return type(a) is type(b) and a == b


class GraphBuilder:
    """The nodes, initializers and value names of the graph being built."""

    def __init__(self, named: dict[int, tuple[str, Any]]) -> None:
        # id of a parameter or buffer (the Tensor and its array) -> (state_dict key, array)
        self.named = named
        self.nodes: list[Node] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.values: dict[int, str] = {}
        self.hints: dict[int, str] = {}
        self.keep: list[Any] = []  # everything whose id is a key above stays alive
        # state_dict keys are reserved, so that no other value takes a weight's name
        self.taken: set[str] = {name for name, _ in named.values()}
        self.cache: dict[tuple, str] = {}

    def unique(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``, ... if taken; reserved from now on."""
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def bind(self, obj: Any, name: str) -> None:
        """Name a tensor (and its array) or an array."""
        self.keep.append(obj)
        self.values[id(obj)] = name
        if isinstance(obj, Tensor):
            self.values.setdefault(id(obj.data), name)

    def traced(self, obj: Any) -> str | None:
        """The value name of a traced tensor or array (or a constant already made of it)."""
        name = self.values.get(id(obj))
        if name is None and isinstance(obj, Tensor):
            name = self.values.get(id(obj.data))
        return name

    def lookup(self, obj: Any) -> str | None:
        """The value name of a traced tensor or array, or of a parameter or buffer (whose
        initializer is added on first use); None for anything else."""
        name = self.traced(obj)
        if name is not None:
            return name
        for key in [id(obj)] + ([id(obj.data)] if isinstance(obj, Tensor) else []):
            if key in self.named:
                name, array = self.named[key]
                if name not in self.initializers:
                    self.initializers[name] = np.array(array, order="C", copy=True)
                return name
        return None

    def constant(self, array: Any, hint: str) -> str:
        """A new initializer holding ``array``, named after ``hint``."""
        name = self.unique(hint)
        self.initializers[name] = np.array(array, order="C", copy=True)
        return name

    def cached_constant(self, array: np.ndarray, hint: str) -> str:
        """An initializer for a small constant (axes, shapes, scalars), shared by equal ones."""
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.cache:
            self.cache[key] = self.constant(array, hint)
        return self.cache[key]


class Emitter:
    """What a converter sees of one traced op (and of the same op in the second trace, which
    ran on other values and, for a dynamic batch, another batch size), and how it adds nodes
    and constants to the graph."""

    def __init__(self, builder: GraphBuilder, op: TracedOp, op2: TracedOp) -> None:
        self.builder, self.op, self.op2 = builder, op, op2
        self.args, self.options, self.layer = op.args, op.options, op.layer

    def fail(self, reason: str) -> ExportError:
        """The error for an op this converter cannot export, naming the op and its layer."""
        return ExportError(f"cannot export {where(self.op.cls, self.layer)}: {reason}")

    # ----------------------------------------------------------------------------- reading
    def array(self, i: int) -> Any:
        """The array of positional argument ``i`` (None stays None)."""
        return data_of(self.args[i])

    def shape(self, i: int) -> tuple[int, ...]:
        """The shape of argument ``i`` in the (first) trace."""
        return tuple(self.array(i).shape)

    def dtype(self, *indices: int) -> np.dtype:
        """The dtype of the op's tensor arguments (those at ``indices``, or all of them), which
        its Python-number operands take; an error unless they all have the same one."""
        arrays = [data_of(self.args[i]) for i in (indices or range(len(self.args)))]
        dtypes = list(dict.fromkeys(a.dtype for a in arrays if isinstance(a, np.ndarray)))
        if not dtypes:
            raise self.fail("it has no tensor argument")
        if len(dtypes) > 1:
            raise self.fail(f"its operands have different dtypes ({dtypes[0]} and {dtypes[1]}); "
                            f"convert one with .to() first")
        return dtypes[0]

    def dynamic_axes(self, i: int) -> set[int]:
        """The axes of argument ``i`` whose size differs between the two traces (the batch)."""
        a, b = self.array(i).shape, data_of(self.op2.args[i]).shape
        return {k for k, (m, n) in enumerate(zip(a, b)) if m != n}

    def input(self, i: int, dtype: Any = None) -> str:
        """The value name of positional argument ``i``: a traced value, a parameter, or a new
        constant (a Python number becomes a 0-d constant of ``dtype``); "" for None."""
        value = self.args[i]
        if value is None:
            return ""
        if not isinstance(value, (Tensor, np.ndarray)):
            if dtype is None:
                raise self.fail(f"argument {i} is a plain {type(value).__name__}")
            return self.scalar(value, dtype)
        name = self.builder.lookup(value)
        if name is not None:
            return name
        self._check_constant(i)
        hint = self.builder.hints.get(id(value)) or f"{self.layer or 'model'}.constant"
        name = self.builder.constant(data_of(value), hint)
        self.builder.bind(value, name)
        return name

    def constant_array(self, i: int) -> np.ndarray:
        """The value of argument ``i``, which must not depend on the input (a weight)."""
        value = self.args[i]
        traced = self.builder.traced(value)
        if traced is not None and traced not in self.builder.initializers:
            raise self.fail(f"argument {i} is computed from the model's input, but the export "
                            f"needs it to be a constant weight")
        if not self.is_named(value):
            self._check_constant(i)
        return data_of(value)

    def is_named(self, value: Any) -> bool:
        """Whether ``value`` is one of the model's parameters or buffers (or its array)."""
        named = self.builder.named
        return id(value) in named or (isinstance(value, Tensor) and id(value.data) in named)

    def name_of(self, i: int) -> str:
        """The state_dict key of argument ``i`` if it is a parameter or buffer, else a name
        for what it is in this layer."""
        value = self.args[i]
        for key in [id(value)] + ([id(value.data)] if isinstance(value, Tensor) else []):
            if key in self.builder.named:
                return self.builder.named[key][0]
        return f"{self.layer or 'model'}.constant"

    def _check_constant(self, i: int) -> None:
        if not same(self.args[i], self.op2.args[i]):
            raise self.fail(
                f"argument {i} is a tensor that changes with the batch size or the input's "
                f"values but was not computed by deepgrad ops that the trace records (made "
                f"from x.shape, with NumPy, or by nonzero or unique?), so it cannot be a "
                f"constant")

    # ----------------------------------------------------------------------------- writing
    def scalar(self, value: Any, dtype: Any) -> str:
        """A 0-d constant."""
        return self.builder.cached_constant(np.array(value, dtype=dtype), "scalar")

    def ints(self, values: Any, hint: str = "ints") -> str:
        """A 1-D int64 constant (axes, shapes, sizes)."""
        return self.builder.cached_constant(np.array(list(values), dtype=np.int64), hint)

    def constant(self, array: Any, hint: str) -> str:
        """A new initializer derived from the weights (such as reordered gates)."""
        return self.builder.constant(array, hint)

    def node(self, op: str, inputs: list[str], outputs: int | list[bool] = 1,
             **attrs: Any) -> list[str]:
        """Add a node; returns its output names (``outputs`` is a count, or one flag per
        output saying whether it is used: unused optional outputs are left out as "")."""
        flags = [True] * outputs if isinstance(outputs, int) else outputs
        base = f"{self.layer}/{op}" if self.layer else op
        names = [self.builder.unique(base) if used else "" for used in flags]
        while inputs and inputs[-1] == "":
            inputs = inputs[:-1]
        self.builder.nodes.append(Node(op, list(inputs), names, attrs, self.layer))
        return names

    def one(self, op: str, inputs: list[str], **attrs: Any) -> str:
        """Add a node with one output; returns its name."""
        return self.node(op, inputs, 1, **attrs)[0]


__all__ = ["INT64_MAX", "Emitter", "ExportError", "GraphBuilder", "TracedOp", "data_of", "same",
           "where"]
