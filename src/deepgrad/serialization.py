"""Weight files in the safetensors format, read and written with NumPy alone, and atomic writes.

The layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
``n``, ``n`` bytes of JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets"}`` (and
an optional ``"__metadata__"`` of string to string), then the raw little-endian bytes of every
tensor, back to back. Nothing in the file is executed: reading it is parsing JSON and slicing
bytes, so a file from anywhere is safe to open. Every structural problem is an error that names
the file and what is wrong, never an array of garbage.

``dg.save(model, path)`` and ``dg.load_into(model, path)`` move a model's weights through such a
file; the training checkpoints and the deployment runtime use the same reader and writer.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from deepgrad.errors import FileFormatError, StateDictError

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
_CODES = {np.dtype(t): code for code, t in _DTYPES.items()}
# The reference implementation refuses headers above 100 MB; so do we, before reading them.
_MAX_HEADER = 100_000_000


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Write a file so that a crash leaves either the old file or the complete new one.

    ``write(f)`` fills a temporary file in the same directory, which is flushed, fsynced and then
    renamed over ``path`` (a rename within one file system is atomic).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def _as_numpy(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.dtype.newbyteorder("=") not in _CODES:
        raise TypeError(f"save_file: tensor {name!r} has dtype {array.dtype}, which safetensors "
                        f"cannot store; supported: {', '.join(sorted(str(d) for d in _CODES))}")
    # astype, not ascontiguousarray, which would turn a 0-d array into a 1-d one.
    return array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)


def save_file(tensors: Mapping[str, Any], path: str | os.PathLike,
              metadata: Mapping[str, str] | None = None) -> Path:
    """Write named arrays (NumPy arrays or Tensors) to a safetensors file, atomically.

    Args:
        tensors: name to array; every dtype safetensors knows except the 16-bit floats' bf16.
        path: the file to write (its directory is created if needed).
        metadata: optional string-to-string pairs stored in the header's ``__metadata__``.

    Returns:
        The path written.
    """
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"save_file: tensor names must be strings other than "
                             f"'__metadata__'; got {name!r}")
        arrays[name] = _as_numpy(name, value)
    header: dict[str, Any] = {}
    if metadata:
        bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise TypeError(f"save_file: metadata maps strings to strings; {bad[0]!r} does not")
        header["__metadata__"] = dict(metadata)
    # Larger alignments first, as the reference writer does, so every tensor starts aligned.
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    offset = 0
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _CODES[a.dtype.newbyteorder("=")], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # pad so that the data starts 8-byte aligned

    def write(f: BinaryIO) -> None:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name in order:
            if arrays[name].nbytes:
                f.write(memoryview(arrays[name].reshape(-1)).cast("B"))

    return atomic_write(path, write)


def _bad(path: Path, problem: str) -> FileFormatError:
    return FileFormatError(f"{path}: {problem}")


def _read_header(path: Path, raw: bytes | bytearray) -> tuple[dict, int]:
    if len(raw) < 8:
        raise _bad(path, f"not a safetensors file: {len(raw)} bytes, shorter than the 8-byte "
                         f"header length")
    (length,) = struct.unpack("<Q", raw[:8])
    if length > _MAX_HEADER or 8 + length > len(raw):
        raise _bad(path, f"not a safetensors file or truncated: the header claims {length} bytes "
                         f"but the file has {len(raw)} bytes in all")
    try:
        header = json.loads(bytes(raw[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"not a safetensors file: its header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _bad(path, "not a safetensors file: its header is not a JSON object")
    return header, 8 + length


def _entry(path: Path, name: str, info: Any) -> tuple[np.dtype, tuple[int, ...], int, int]:
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        raise _bad(path, f"tensor {name!r}: header entry needs dtype, shape and data_offsets; "
                         f"got {info!r}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if code not in _DTYPES:
        raise _bad(path, f"tensor {name!r}: dtype {code!r} is not supported "
                         f"(supported: {', '.join(_DTYPES)})")
    if not (isinstance(shape, list)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise _bad(path, f"tensor {name!r}: shape must be a list of non-negative integers; "
                         f"got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise _bad(path, f"tensor {name!r}: data_offsets must be [begin, end]; got {offsets!r}")
    dtype = np.dtype(_DTYPES[code]).newbyteorder("<")
    begin, end = offsets
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if end - begin != expected:
        raise _bad(path, f"tensor {name!r}: shape {shape} of {code} needs {expected} bytes but "
                         f"data_offsets {offsets} span {end - begin}")
    return dtype, tuple(shape), begin, end


def load_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(name -> NumPy array, metadata)``.

    The arrays are writable, native-endian and share one buffer holding the file's bytes (one read,
    no copy per tensor). Raises :class:`FileFormatError` naming the file for a truncated,
    corrupted or foreign file, and FileNotFoundError for a missing one.
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    header, start = _read_header(path, raw)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _bad(path, "__metadata__ must map strings to strings")
    entries = {name: _entry(path, name, info) for name, info in header.items()}
    # The tensors' bytes must tile the data section exactly: no gap, no overlap, nothing after.
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if begin != position:
            raise _bad(path, f"tensor {name!r}: data starts at byte {begin} of the data section, "
                             f"expected {position} (a gap or overlap: the file is corrupted)")
        position = end
    if start + position != len(raw):
        raise _bad(path, f"truncated or has trailing bytes: the header describes {position} "
                         f"bytes of data but the file holds {len(raw) - start}")
    buffer = memoryview(raw)[start:]
    arrays = {}
    for name, (dtype, shape, begin, end) in entries.items():
        array = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape)
        arrays[name] = array if dtype.isnative else array.astype(dtype.newbyteorder("="))
    return arrays, dict(metadata)


def save(model: Any, path: str | os.PathLike) -> Path:
    """Save a model's weights (its ``state_dict``: parameters and persistent buffers), or a
    dict of arrays, to a safetensors file, atomically. Returns the path written."""
    state = model.state_dict() if hasattr(model, "state_dict") else model
    return save_file(state, path, metadata={"format": "deepgrad"})


def load_into(model: Any, path: str | os.PathLike, strict: bool = True) -> Any:
    """Load weights saved by :func:`save` (or any safetensors file with the model's keys, such
    as a torch ``state_dict`` saved by the ``safetensors`` package) into ``model``.

    Returns what ``model.load_state_dict`` returns: with ``strict=True``, any missing,
    unexpected or wrongly shaped key raises one error listing them all.
    """
    arrays, _ = load_file(path)
    try:
        return model.load_state_dict(arrays, strict=strict)
    except StateDictError as e:
        raise StateDictError(f"{path}: {e}") from None


# A checkpoint is a tree: dicts, lists, numbers, strings, None and arrays (a model's state_dict,
# an optimizer's, a loader's position and RNG state, the epoch). The arrays go into the file as
# tensors; the rest of the tree goes into the metadata as JSON, each array replaced by a reference
# to its tensor. JSON keeps Python's big integers (NumPy's bit generator states) exactly.
_TREE_KEY = "deepgrad.tree"
_REF = "__tensor__"


def _split_tree(tree: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, np.ndarray) or hasattr(tree, "numpy"):
        name, n = prefix, 1
        while name in arrays:  # keys holding dots can spell the same path twice
            name, n = f"{prefix}#{n}", n + 1
        arrays[name] = _as_numpy(prefix, tree)
        return {_REF: name}
    if isinstance(tree, Mapping):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in tree):
            raise TypeError(f"save_tree: keys at {prefix or 'the top'} must be str or int")
        # JSON keys are strings: integer keys (an optimizer's parameter indices) are tagged.
        return {"__dict__": [[k, _split_tree(v, f"{prefix}.{k}" if prefix else str(k), arrays)]
                             for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        items = [_split_tree(v, f"{prefix}.{i}" if prefix else str(i), arrays)
                 for i, v in enumerate(tree)]
        return {"__tuple__": items} if isinstance(tree, tuple) else items
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"save_tree: cannot store {type(tree).__name__} at {prefix or 'the top'}; "
                    f"a checkpoint holds only arrays, numbers, strings, None, lists and dicts")


def _join_tree(node: Any, arrays: dict[str, np.ndarray], path: Path) -> Any:
    if isinstance(node, list):
        return [_join_tree(v, arrays, path) for v in node]
    if isinstance(node, dict):
        if _REF in node:
            if node[_REF] not in arrays:
                raise _bad(path, f"the checkpoint refers to a tensor {node[_REF]!r} that the "
                                 f"file does not hold")
            return arrays[node[_REF]]
        if "__tuple__" in node:
            return tuple(_join_tree(v, arrays, path) for v in node["__tuple__"])
        if "__dict__" in node:
            return {k: _join_tree(v, arrays, path) for k, v in node["__dict__"]}
        raise _bad(path, f"unexpected entry in the checkpoint's structure: {sorted(node)}")
    return node


def save_tree(tree: Any, path: str | os.PathLike) -> Path:
    """Write a nested structure of dicts, lists, tuples, numbers, strings, None and arrays to
    one safetensors file, atomically (the arrays as tensors, the rest as JSON metadata)."""
    arrays: dict[str, np.ndarray] = {}
    structure = _split_tree(tree, "", arrays)
    return save_file(arrays, path, metadata={_TREE_KEY: json.dumps(structure)})


def load_tree(path: str | os.PathLike) -> Any:
    """Read a structure written by :func:`save_tree`."""
    path = Path(path)
    arrays, metadata = load_file(path)
    if _TREE_KEY not in metadata:
        raise _bad(path, "a safetensors file, but not a deepgrad checkpoint (no "
                         f"{_TREE_KEY!r} in its metadata): load plain weights with dg.load_into")
    try:
        structure = json.loads(metadata[_TREE_KEY])
    except json.JSONDecodeError as e:
        raise _bad(path, f"the checkpoint's structure is not valid JSON ({e})") from None
    return _join_tree(structure, arrays, path)
