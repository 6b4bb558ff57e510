"""Untrusted artifacts: a few thousand mutated files (bytes flipped, the safetensors header
and the graph JSON edited) must fail only with the runtime's own errors (FileFormatError, or
ValueError while running), never another exception, never a hang."""

from __future__ import annotations

import copy
import json
import signal
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="the fuzz test needs hypothesis (pip install hypothesis)")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepgrad_runtime import load
from deepgrad_runtime.graph import GRAPH_KEY, OPS, Graph, Node, Value, save_artifact

settings.register_profile(
    "runtime-fuzz", max_examples=800, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings.get_profile("runtime-fuzz")
SECONDS_PER_CASE = 5  # "never a hang": a case running longer fails the test

rng = np.random.default_rng(5)
X = rng.standard_normal((2, 2, 8, 8)).astype(np.float32)


def _f32(*shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.3).astype(np.float32)


def _artifact(directory) -> bytes:
    """A small valid artifact touching many kernels: convolution, normalization, pooling,
    quantization, shapes, a recurrent layer and a classifier."""
    inits = {"w": _f32(4, 2, 3, 3), "b": _f32(4), "scale": 1 + _f32(4), "shift": _f32(4),
             "mean": _f32(4), "var": np.ones(4, np.float32), "qs": np.float32(0.05),
             "qz": np.int8(0), "shape": np.array([0, 4, -1], np.int64),
             "squeeze_axes": np.array([0], np.int64), "lw": _f32(1, 12, 16), "lr": _f32(1, 12, 3),
             "lb": _f32(1, 24), "fc": _f32(3, 5), "fb": _f32(5)}
    nodes = [
        Node("Conv", ["x", "w", "b"], ["c"], {"pads": [1, 1, 1, 1], "strides": [1, 1]}, "conv"),
        Node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"],
             {"epsilon": 1e-5}, "bn"),
        Node("Relu", ["n"], ["r"], {}, "relu"),
        Node("MaxPool", ["r"], ["p"], {"kernel_shape": [2, 2], "strides": [2, 2]}, "pool"),
        Node("QuantizeLinear", ["p", "qs", "qz"], ["q"], {}, "quant"),
        Node("DequantizeLinear", ["q", "qs", "qz"], ["dq"], {}, "dequant"),
        Node("Reshape", ["dq", "shape"], ["seq"], {}, "reshape"),
        Node("Transpose", ["seq"], ["seq_t"], {"perm": [1, 0, 2]}, "transpose"),
        Node("LSTM", ["seq_t", "lw", "lr", "lb"], ["", "h"], {"hidden_size": 3}, "lstm"),
        Node("Squeeze", ["h", "squeeze_axes"], ["h2"], {}, "squeeze"),
        Node("Squeeze", ["h2"], ["h3"], {}, "squeeze_all"),
        Node("Gemm", ["h3", "fc", "fb"], ["logits"], {}, "fc"),
        Node("Softmax", ["logits"], ["probs"], {"axis": -1}, "softmax"),
    ]
    graph = Graph([Value("x", (None, 2, 8, 8))], [Value("probs", (None, 5))], nodes, inits)
    return save_artifact(graph, directory / "valid.safetensors").read_bytes()


def _split(raw: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _join(header: dict, data: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every location in a JSON document, as a path of keys and indices."""
    yield path
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        yield from _paths(item, (*path, key))


def _replace(document: Any, path: tuple, new: Any, delete: bool) -> Any:
    """The document with the value at ``path`` replaced or deleted (unchanged when an earlier
    mutation removed that location)."""
    if not path:
        return new
    try:
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if delete:
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    except (KeyError, IndexError, TypeError):
        pass
    return document


class Base(NamedTuple):
    """The valid artifact, taken apart once, and where to write each case."""

    raw: bytes
    header: dict
    body: bytes
    graph: dict
    header_locations: st.SearchStrategy
    graph_locations: st.SearchStrategy
    path: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[Base]:
    """Cases are written in memory (tmpfs) when the system has it: thousands of writes to a
    busy disk would dominate the test's time."""
    raw = _artifact(tmp_path_factory.mktemp("fuzz"))
    header, body = _split(raw)
    graph = json.loads(header["__metadata__"][GRAPH_KEY])
    without_graph = copy.deepcopy(header)
    del without_graph["__metadata__"][GRAPH_KEY]
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as d:
        yield Base(raw, header, body, graph,
                   st.sampled_from([p for p in _paths(without_graph) if p]),
                   st.sampled_from(list(_paths(graph))), Path(d) / "case.safetensors")


_numbers = st.one_of(st.integers(-3, 12), st.integers(-(2 ** 70), 2 ** 70),
                     st.floats(allow_nan=True, allow_infinity=True), st.booleans())
_strings = st.one_of(st.sampled_from(sorted(OPS)), st.sampled_from(
    ["float32", "int64", "bool", "int8", "F32", "I64", "U8", "BOOL", "F16", "x", "c", "",
     "NOTSET", "SAME_UPPER", "VALID", "forward", "bidirectional", "Relu", "probs"]),
                     st.text(max_size=5))
_json = st.recursive(st.one_of(st.none(), _numbers, _strings),
                     lambda inner: st.one_of(st.lists(inner, max_size=4),
                                             st.dictionaries(_strings, inner, max_size=3)),
                     max_leaves=4)


def _run(path, raw: bytes) -> None:
    """Load and run a (possibly broken) artifact: only the runtime's own errors may escape."""
    path.write_bytes(raw)

    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a mutated artifact ran for over {SECONDS_PER_CASE} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_CASE)
    try:
        with np.errstate(all="ignore"):
            load(path).run(X)
    except ValueError:  # FileFormatError is a ValueError
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_base_artifact_runs(base):
    base.path.write_bytes(base.raw)
    assert load(base.path).run(X).shape == (2, 5)


@FUZZ
@given(data=st.data())
def test_mutated_bytes(base, data):
    mutated = bytearray(base.raw)
    for _ in range(data.draw(st.integers(1, 8))):
        where = data.draw(st.integers(0, len(mutated) - 1))
        mutated[where] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(mutated))))
    _run(base.path, bytes(mutated if cut is None else mutated[:cut]))


@FUZZ
@given(data=st.data())
def test_mutated_safetensors_header(base, data):
    header = copy.deepcopy(base.header)
    graph_json = header["__metadata__"].pop(GRAPH_KEY)
    header = _replace(header, data.draw(base.header_locations), data.draw(_json),
                      delete=data.draw(st.booleans()))
    if isinstance(header, dict) and isinstance(header.get("__metadata__"), dict):
        header["__metadata__"][GRAPH_KEY] = graph_json
    _run(base.path, _join(header, base.body))


@FUZZ
@given(data=st.data())
def test_mutated_graph_json(base, data):
    graph = copy.deepcopy(base.graph)
    for _ in range(data.draw(st.integers(1, 3))):
        location = data.draw(base.graph_locations)
        graph = _replace(graph, location, data.draw(_json), bool(location) and data.draw(
            st.booleans()))
    header = copy.deepcopy(base.header)
    header["__metadata__"][GRAPH_KEY] = json.dumps(graph)
    _run(base.path, _join(header, base.body))
