"""Run an artifact: ``m = load(path)``; ``m.run(x)`` returns NumPy outputs.

Loading compiles the graph into a plan once:

* every node gets its kernel, which checks the attributes and packs constant weights;
* nodes whose inputs are all constants (such as the DequantizeLinear of int8 weights) run
  once, at load time, and their outputs become constants;
* Identity and inference-time Dropout nodes vanish: their readers read the input instead;
* an activation (Relu, LeakyRelu, Tanh, HardSigmoid, Clip) that alone reads a Conv, Gemm,
  MatMul, BatchNormalization or Add output runs in place on it, in the same step;
* values live in numbered slots, each freed after its last reader, and the kernels share one
  workspace for their scratch arrays (padded inputs, column matrices), kept between calls.

A model therefore runs one call at a time: use one per thread. :meth:`Model.predict_file`
predicts a ``.npy`` array of any size in chunks with bounded memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from deepgrad_runtime.graph import Graph, Node, Value, load_artifact
from deepgrad_runtime.kernels import IN_PLACE, KERNELS, Kernel, Workspace
from deepgrad_runtime.safetensors import FileFormatError

# What a malformed graph can make a kernel raise; every one becomes a ValueError naming the node.
_KERNEL_ERRORS = (ValueError, TypeError, IndexError, KeyError, ArithmeticError, MemoryError)
_PRODUCERS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Add"})
_NONE, _DISCARD = 0, 1  # slots: always None (omitted inputs); sink for omitted outputs
_MAP_BYTES = 8 << 20  # predict_file maps about this much input at a time


def load(path: str | os.PathLike) -> Model:
    """Load a runtime artifact (written by ``deepgrad.export.to_runtime`` or
    :func:`deepgrad_runtime.graph.save_artifact`) and compile it.

    Raises:
        FileFormatError: naming the file, for a truncated, corrupted or foreign file, or a graph
            that cannot run (an unknown operator, bad attributes, mismatched weights).
        FileNotFoundError: when the file does not exist.
    """
    return Model(load_artifact(path), source=path)


class _Step(NamedTuple):
    kernel: Kernel
    inputs: tuple[int, ...]
    output: int | tuple[int, ...]  # a slot, or one per output for several
    frees: tuple[int, ...]  # slots nothing reads after this step
    where: str  # the node, for errors


class _Input(NamedTuple):
    slot: int
    value: Value
    dtype: np.dtype
    fixed: tuple[tuple[int, int], ...]  # (axis, size) of every fixed dimension


def _where(index: int, node: Node) -> str:
    return f"node {index} ({node.op}{' ' + repr(node.name) if node.name else ''})"


def _dims(value: Value) -> list[str]:
    names = value.dim_names or (None,) * len(value.shape)
    return [str(s) if s is not None else names[k] or "?" for k, s in enumerate(value.shape)]


def _shape_text(value: Value) -> str:
    """``(batch, time, 3)``: the sizes, and a name or ? for each dimension of any size."""
    return "(" + ", ".join(_dims(value)) + ")"


def _any_size(value: Value) -> str:
    """`` (batch, time: any size)``, naming the dimensions of any size; empty if none."""
    free = [d for d, s in zip(_dims(value), value.shape) if s is None]
    return f" ({', '.join(dict.fromkeys(free))}: any size)" if free else ""


class Model:
    """A compiled graph, ready to run with NumPy alone.

    Args:
        graph: the graph to run (checked with :meth:`Graph.check`).
        source: the file it came from, named in errors.
    """

    def __init__(self, graph: Graph, source: str | os.PathLike | None = None) -> None:
        self.graph = graph
        self.source = None if source is None else Path(source)
        self._workspace = Workspace()
        try:
            graph.check()
        except ValueError as e:
            raise self._error(str(e)) from None
        self._compile()

    @property
    def inputs(self) -> list[Value]:
        """The graph's inputs: name, shape (None for any size) and dtype."""
        return self.graph.inputs

    @property
    def outputs(self) -> list[Value]:
        """The graph's outputs."""
        return self.graph.outputs

    def __repr__(self) -> str:
        where = f"{str(self.source)!r}, " if self.source else ""
        signature = ", ".join(f"{v.name}: {v.dtype}{_shape_text(v)}" for v in self.inputs)
        return (f"Model({where}inputs=[{signature}], {len(self.graph.nodes)} nodes in "
                f"{len(self._steps)} steps)")

    def _error(self, message: str) -> ValueError:
        return FileFormatError(f"{self.source}: {message}") if self.source else ValueError(message)

    # -------------------------------------------------------------------------- compiling
    def _compile(self) -> None:
        graph = self.graph
        input_names = {v.name for v in graph.inputs}
        # An initializer that is also a graph input is only a default: the input wins.
        consts = {k: v for k, v in graph.initializers.items() if k not in input_names}
        alias: dict[str, str] = {}
        pending: list[tuple[int, Node]] = []
        for index, original in enumerate(graph.nodes):
            node = Node(original.op, [alias.get(n, n) for n in original.inputs],
                        list(original.outputs), original.attrs, original.name)
            if node.op == "Identity" or (node.op == "Dropout" and not any(node.outputs[1:])
                                         and len(node.inputs) < 3):
                self._build(index, node, [None] * len(node.inputs))  # checks its attributes
                alias[node.outputs[0]] = node.inputs[0]
            elif any(node.inputs) and all(n == "" or n in consts for n in node.inputs):
                self._fold(index, node, consts)
            else:
                pending.append((index, node))
        output_names = [alias.get(v.name, v.name) for v in graph.outputs]
        fused = self._fusions(pending, output_names, consts)

        slots: dict[str, int] = {}
        template: list[Any] = [None, None]

        def slot(name: str) -> int:
            if name == "":
                return _NONE
            if name not in slots:
                slots[name] = len(template)
                template.append(consts.get(name))
            return slots[name]

        self._inputs = [_Input(slot(v.name), v, np.dtype(v.dtype),
                               tuple((i, s) for i, s in enumerate(v.shape) if s is not None))
                        for v in graph.inputs]
        steps = []
        absorbed = set(fused.values())
        for index, node in pending:
            if index in absorbed:
                continue
            known = [consts.get(n) if n else None for n in node.inputs]
            kernel = self._build(index, node, known)
            outputs = node.outputs
            if index in fused:  # the activation's output is the only one anything reads
                activation = next(n for i, n in pending if i == fused[index])
                kernel = self._fuse(kernel, index, activation, consts)
                outputs = activation.outputs
            out = slot(outputs[0]) if len(outputs) == 1 else tuple(
                slot(n) if n else _DISCARD for n in outputs)
            steps.append(_Step(kernel, tuple(slot(n) for n in node.inputs), out, (),
                               _where(index, node)))
        self._outputs = [slot(n) for n in output_names]
        fixed = {i.slot for i in self._inputs} | {slots[n] for n in consts if n in slots}
        self._copy_outputs = [s in fixed for s in self._outputs]
        self._template = template
        self._steps = self._with_frees(steps, consts, slots)

    def _build(self, index: int, node: Node, known: list[np.ndarray | None]) -> Kernel:
        try:
            return KERNELS[node.op](node, known, self._workspace)
        except _KERNEL_ERRORS as e:
            raise self._error(f"{_where(index, node)}: {e}") from None

    def _fold(self, index: int, node: Node, consts: dict[str, np.ndarray]) -> None:
        """Run a node whose inputs are all constants now; its outputs become constants."""
        known = [consts.get(n) if n else None for n in node.inputs]
        kernel = self._build(index, node, known)
        try:
            result = kernel(*known)
        except _KERNEL_ERRORS as e:
            raise self._error(f"{_where(index, node)}: {type(e).__name__}: {e}") from None
        results = (result,) if len(node.outputs) == 1 else result
        for name, value in zip(node.outputs, results):
            if name and value is not None:
                consts[name] = np.asarray(value)

    @staticmethod
    def _fusions(pending: list[tuple[int, Node]], outputs: list[str],
                 consts: dict[str, np.ndarray]) -> dict[int, int]:
        """producer index -> index of the activation that alone reads its output."""
        readers: dict[str, list[tuple[int, Node]]] = {}
        for index, node in pending:
            for name in node.inputs:
                readers.setdefault(name, []).append((index, node))
        fused = {}
        for index, node in pending:
            if node.op not in _PRODUCERS or len(node.outputs) != 1 or node.outputs[0] in outputs:
                continue
            users = readers.get(node.outputs[0], [])
            if len(users) != 1:
                continue
            user_index, user = users[0]
            if (user.op in IN_PLACE and user.inputs[0] == node.outputs[0]
                    and len(user.outputs) == 1
                    and all(n == "" or n in consts for n in user.inputs[1:])):
                fused[index] = user_index
        return fused

    def _fuse(self, kernel: Kernel, index: int, activation: Node,
              consts: dict[str, np.ndarray]) -> Kernel:
        try:
            in_place = IN_PLACE[activation.op](
                activation, [consts.get(n) if n else None for n in activation.inputs])
        except _KERNEL_ERRORS as e:
            raise self._error(f"{_where(index, activation)}: {e}") from None

        def fused(*args: Any) -> np.ndarray:
            y = kernel(*args)
            if type(y) is not np.ndarray:  # NumPy returns 0-d results as scalars
                y = np.array(y)
            in_place(y)
            return y

        return fused

    def _with_frees(self, steps: list[_Step], consts: dict[str, np.ndarray],
                    slots: dict[str, int]) -> list[_Step]:
        """The steps, each freeing the slots that nothing reads after it (so a large batch
        keeps only live values); inputs, constants and outputs are never freed."""
        keep = {_NONE, _DISCARD, *self._outputs, *(i.slot for i in self._inputs),
                *(slots[n] for n in consts if n in slots)}
        last: dict[int, int] = {}
        for k, step in enumerate(steps):
            for s in step.inputs:
                last[s] = k
        frees: dict[int, list[int]] = {}
        for s, k in last.items():
            if s not in keep:
                frees.setdefault(k, []).append(s)
        return [step._replace(frees=tuple(frees.get(k, ()))) for k, step in enumerate(steps)]

    # -------------------------------------------------------------------------- running
    def _checked(self, spec: _Input, x: Any) -> np.ndarray:
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        if x.dtype != spec.dtype:
            if not np.can_cast(x.dtype, spec.dtype, "same_kind"):
                raise ValueError(self._mismatch(spec, x))
            x = x.astype(spec.dtype)
        shape = x.shape
        if len(shape) != len(spec.value.shape) or any(shape[i] != s for i, s in spec.fixed):
            raise ValueError(self._mismatch(spec, x))
        return x

    @staticmethod
    def _mismatch(spec: _Input, x: np.ndarray) -> str:
        return (f"input {spec.value.name!r} expects {spec.dtype} of shape "
                f"{_shape_text(spec.value)}{_any_size(spec.value)}; got {x.dtype} of shape "
                f"{x.shape}")

    def run(self, *inputs: Any) -> Any:
        """Run the graph on its inputs (arrays, in the order of :attr:`inputs`).

        An input of another dtype of the same kind (float64 for float32) is converted; one
        of another kind or shape raises ValueError naming what was expected.

        Returns:
            The output array, or a tuple of them when the graph has several.
        """
        if len(inputs) != len(self._inputs):
            names = [spec.value.name for spec in self._inputs]
            raise ValueError(f"Model.run takes {len(names)} inputs {names}; got {len(inputs)}")
        env = self._template.copy()
        for spec, x in zip(self._inputs, inputs):
            env[spec.slot] = self._checked(spec, x)
        where = ""
        # IEEE results (inf, nan) come silently, as from onnxruntime: exported compositions
        # compute 0 / 0 or log(0) in branches that a Where then discards.
        try:
            with np.errstate(all="ignore"):
                for kernel, slots, out, frees, where in self._steps:  # noqa: B007 - see except
                    result = kernel(*[env[s] for s in slots])
                    if type(out) is int:
                        env[out] = result
                    else:
                        for s, value in zip(out, result):
                            env[s] = value
                    for s in frees:
                        env[s] = None
        except _KERNEL_ERRORS as e:
            raise ValueError(f"{where}: {type(e).__name__}: {e}") from e
        # A constant or an input passed straight through is copied: the caller owns results.
        outputs = tuple(np.array(env[s]) if copy or type(env[s]) is not np.ndarray else env[s]
                        for s, copy in zip(self._outputs, self._copy_outputs))
        return outputs[0] if len(outputs) == 1 else outputs

    __call__ = run

    def predict_file(self, input_npy: str | os.PathLike, output_npy: str | os.PathLike,
                     batch_size: int = 256) -> Path:
        """Predict every row of a ``.npy`` array into another ``.npy`` file, in chunks of
        ``batch_size`` rows, with memory bounded by the chunk, not the file.

        Both files are memory-mapped a window of a few MiB at a time, then unmapped, so the
        pages read and written leave the process as it goes. The output is written to a
        temporary file in the same directory and renamed when complete: a crash leaves no
        partial output. Only models of one input and one output. Returns the output path.
        """
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise ValueError(f"predict_file needs a model of one input and one output; this "
                             f"one has {len(self.inputs)} and {len(self.outputs)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        source, target = Path(input_npy), Path(output_npy)
        rows, row_bytes = _rows(source)
        per_map = batch_size * max(1, _MAP_BYTES // max(1, batch_size * row_bytes))
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            created = False
            for first in range(0, max(rows, 1), per_map):
                data = np.load(source, mmap_mode="r", allow_pickle=False)
                out = np.lib.format.open_memmap(temporary, mode="r+") if created else None
                for start in range(first, min(first + per_map, rows), batch_size) if rows else [0]:
                    stop = min(start + batch_size, rows)
                    y = self._predict_rows(data, source, start, stop)
                    if out is None:
                        out = np.lib.format.open_memmap(temporary, mode="w+", dtype=y.dtype,
                                                        shape=(rows, *y.shape[1:]))
                        created = True
                    elif y.shape[1:] != out.shape[1:] or y.dtype != out.dtype:
                        raise ValueError(f"rows {start}:{stop} gave outputs {y.dtype} "
                                         f"{y.shape}, unlike the first rows' {out.dtype} "
                                         f"(n, {out.shape[1:]})")
                    out[start:stop] = y
                # Unmapping returns the window's pages; the kernel writes the output's back in
                # its own time and the fsync below makes the file durable.
                del data, out, y
            _fsync(temporary)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target

    def _predict_rows(self, data: np.ndarray, source: Path, start: int, stop: int) -> np.ndarray:
        try:
            y = self.run(data[start:stop])
        except ValueError as e:
            raise ValueError(f"{source}: rows {start}:{stop}: {e}") from e
        if not isinstance(y, np.ndarray) or y.ndim < 1 or y.shape[0] != stop - start:
            raise ValueError(f"the model's output {getattr(y, 'shape', y)} does not have one "
                             f"row per input row ({stop - start})")
        return y


def _rows(source: Path) -> tuple[int, int]:
    """The number of rows of a .npy file and the bytes of one, checked to hold an array."""
    try:
        data = np.load(source, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise FileFormatError(f"{source}: not a readable .npy array ({e})") from None
    if not isinstance(data, np.ndarray) or data.ndim < 1:
        raise FileFormatError(f"{source}: expected a .npy array with one row per sample; got "
                              f"{type(data).__name__} {getattr(data, 'shape', '')}")
    return data.shape[0], data[:1].nbytes


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Model", "load"]
