"""What every kernel family shares: the registry, attributes read with ONNX's defaults and type
checks, input and output counts, a scratch workspace, and the size guard for hostile files.

A kernel *factory* is called once per node when a model is loaded, as ``factory(node, consts,
workspace)``: ``consts[i]`` is the value of input ``i`` when it is known at load time (an
initializer or a folded constant), else None. It checks the attributes, precomputes what it can
(packed weights, parsed shapes) and returns the *kernel*: a function of the node's inputs (None
for an omitted optional input) that returns its output, or a tuple for several outputs.

Kernels raise ValueError with a message that says what is wrong; the model adds which node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from deepgrad_runtime.graph import Node

Kernel = Callable[..., Any]
Consts = Sequence["np.ndarray | None"]
Factory = Callable[[Node, Consts, "Workspace"], Kernel]
# An in-place activation, applied to its producer's fresh output: fn(y) changes y.
InPlace = Callable[[np.ndarray], None]
InPlaceFactory = Callable[[Node, Consts], InPlace]

KERNELS: dict[str, Factory] = {}
IN_PLACE: dict[str, InPlaceFactory] = {}

# A node may make at most this many times more elements than its input (or _FLOOR elements):
# a hostile file could otherwise ask for terabytes with a large pad or kernel attribute.
_GROWTH = 4096
_FLOOR = 1 << 26


def register(*ops: str) -> Callable[[Factory], Factory]:
    """Decorator: the factory of these operators' kernels."""
    def add(factory: Factory) -> Factory:
        for op in ops:
            KERNELS[op] = factory
        return factory
    return add


def register_in_place(*ops: str) -> Callable[[InPlaceFactory], InPlaceFactory]:
    """Decorator: the factory of these activations' in-place forms (for fusing them into the
    node that produces their input)."""
    def add(factory: InPlaceFactory) -> InPlaceFactory:
        for op in ops:
            IN_PLACE[op] = factory
        return factory
    return add


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Attributes:
    """A node's attributes, each read with its ONNX default and checked for type and range."""

    def __init__(self, node: Node) -> None:
        self._values = node.attrs

    def int(self, name: str, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int:
        """An integer attribute, within [minimum, maximum] when given."""
        value = self._values.get(name, default)
        if not _is_int(value):
            raise ValueError(f"attribute {name!r} must be an integer; got {value!r}")
        _check_range(name, value, minimum, maximum)
        return value

    def float(self, name: str, default: float) -> float:
        """A floating-point attribute (an integer is accepted), which must be finite."""
        value = self._values.get(name, default)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value)):
            raise ValueError(f"attribute {name!r} must be a finite number; got {value!r}")
        return float(value)

    def ints(self, name: str, default: Sequence[int] | None, length: int | None = None,
             minimum: int | None = None) -> list[int] | None:
        """A list of integers (``length`` of them when given), each at least ``minimum``;
        ``default`` when absent."""
        if name not in self._values:
            return None if default is None else list(default)
        value = self._values[name]
        if not (isinstance(value, list) and all(_is_int(v) for v in value)):
            raise ValueError(f"attribute {name!r} must be a list of integers; got {value!r}")
        if length is not None and len(value) != length:
            raise ValueError(f"attribute {name!r} needs {length} values; got {value!r}")
        for v in value:
            _check_range(name, v, minimum, None)
        return list(value)

    def string(self, name: str, default: str, choices: Sequence[str]) -> str:
        """A string attribute, one of ``choices``."""
        value = self._values.get(name, default)
        if value not in choices:
            raise ValueError(f"attribute {name!r} must be one of {list(choices)}; got {value!r}")
        return value

    def strings(self, name: str) -> list[str] | None:
        """A list of strings, or None when absent."""
        if name not in self._values:
            return None
        value = self._values[name]
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"attribute {name!r} must be a list of strings; got {value!r}")
        return list(value)

    def has(self, name: str) -> bool:
        """Whether the attribute is given."""
        return name in self._values


def _check_range(name: str, value: int, minimum: int | None, maximum: int | None) -> None:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = (f">= {minimum}" if maximum is None else
                  f"<= {maximum}" if minimum is None else f"in [{minimum}, {maximum}]")
        raise ValueError(f"attribute {name!r} must be {bounds}; got {value}")


def arity(node: Node, inputs: tuple[int, int], outputs: tuple[int, int] = (1, 1),
          required: int | None = None, first_output: bool = True) -> None:
    """Check the numbers of inputs and outputs against [min, max] ranges; the first
    ``required`` inputs (default: the minimum) may not be omitted, nor the first output
    unless ``first_output`` is False."""
    for kind, names, (low, high) in (("inputs", node.inputs, inputs),
                                     ("outputs", node.outputs, outputs)):
        if not low <= len(names) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise ValueError(f"takes {expected} {kind}; got {len(names)}")
    needed = inputs[0] if required is None else required
    omitted = [i for i in range(needed) if node.inputs[i] == ""]
    if omitted:
        raise ValueError(f"input {omitted[0]} is required but omitted")
    if first_output and node.outputs[0] == "":
        raise ValueError("its first output may not be omitted")


def given(node: Node, index: int) -> bool:
    """Whether optional input ``index`` is present."""
    return index < len(node.inputs) and node.inputs[index] != ""


def const_ints(consts: Consts, index: int, what: str) -> list[int] | None:
    """Input ``index`` as a list of ints when known at load time, else None."""
    if index >= len(consts) or consts[index] is None:
        return None
    return ints_of(consts[index], what)


def ints_of(value: np.ndarray, what: str) -> list[int]:
    """A 0-d or 1-d integer tensor (such as Reshape's shape) as a list of ints."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(f"{what} must be a 1-d integer tensor; got {array.dtype} of shape "
                         f"{array.shape}")
    return [int(v) for v in array.reshape(-1)]


def check_size(what: str, elements: int, reference: int) -> None:
    """Refuse to make ``elements`` values when that is implausibly many for an input of
    ``reference`` values (the node's attributes ask for it, not the data)."""
    if elements > max(_FLOOR, _GROWTH * reference):
        raise ValueError(f"{what} would hold {elements} values for an input of {reference}: "
                         f"refused as implausible (over {_GROWTH} times the input)")


class Workspace:
    """Scratch arrays that a model's kernels share, grown on demand and kept between calls.

    A kernel uses a slot only while it runs, so nodes take turns; one model therefore runs one
    call at a time (use one model per thread).
    """

    def __init__(self) -> None:
        self._slots: dict[int, np.ndarray] = {}

    def array(self, slot: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialized array of this shape and dtype in scratch slot ``slot``."""
        dtype = np.dtype(dtype)
        size = math.prod(shape) * dtype.itemsize
        memory = self._slots.get(slot)
        if memory is None or memory.nbytes < size:
            memory = np.empty(max(size, 64), np.uint8)
            self._slots[slot] = memory
        return memory[:size].view(dtype).reshape(shape)


__all__ = ["IN_PLACE", "KERNELS", "Attributes", "Consts", "Factory", "InPlace", "Kernel",
           "Workspace", "arity", "check_size", "const_ints", "given", "ints_of", "register",
           "register_in_place"]
