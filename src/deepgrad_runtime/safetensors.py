"""Files in the safetensors format, read and written with NumPy alone, and atomic writes.

The layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
``n``, ``n`` bytes of JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets"}`` (and
an optional ``"__metadata__"`` of string to string), then the raw little-endian bytes of every
tensor, back to back. Nothing in the file is executed: reading it is parsing JSON and slicing
bytes, so a file from anywhere is safe to open. Every structural problem is an error that names
the file and what is wrong, never an array of garbage.

This module imports only NumPy and the standard library: deepgrad's weights files, training
checkpoints and deployment artifacts all go through it, and so does the runtime on a device that
has nothing but NumPy.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


class FileFormatError(ValueError):
    """A file is truncated, corrupted or not of the expected format (the message names it)."""


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
    # Not mkstemp: its files are owner-only, whereas the result should get the permissions of
    # any new file (0o666 less the umask), as the file it replaces did.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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


def as_numpy(name: str, value: Any) -> np.ndarray:
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
        arrays[name] = as_numpy(name, value)
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


def bad_file(path: Path | str, problem: str) -> FileFormatError:
    return FileFormatError(f"{path}: {problem}")


def _read_header(path: Path, raw: bytes | bytearray) -> tuple[dict, int]:
    if len(raw) < 8:
        raise bad_file(path, f"not a safetensors file: {len(raw)} bytes, shorter than the 8-byte "
                             f"header length")
    (length,) = struct.unpack("<Q", raw[:8])
    if length > _MAX_HEADER or 8 + length > len(raw):
        hint = ""
        if raw[:1] == b"\x08" or path.suffix.lower() == ".onnx":
            # An ONNX model is a protobuf whose first field, ir_version, starts with byte 0x08.
            hint = ("; it looks like an ONNX model: deepgrad.export.from_onnx reads those (or "
                    "onnxruntime runs them), and deepgrad.export.to_runtime writes a model as a "
                    "deepgrad_runtime artifact")
        elif raw[:4] == b"PK\x03\x04" or raw[:1] == b"\x80":
            # torch.save writes a zip archive of pickles (a bare pickle before PyTorch 1.6).
            hint = ("; it looks like a torch.save file (pickles, which deepgrad never loads: "
                    "they can run code): save the state dict with safetensors.torch.save_file "
                    "in PyTorch, then dg.load or dg.load_into reads it")
        raise bad_file(path, f"not a safetensors file or truncated: the header claims {length} "
                             f"bytes but the file has {len(raw)} bytes in all{hint}")
    try:
        header = json.loads(bytes(raw[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise bad_file(path, f"not a safetensors file: its header is not valid JSON "
                             f"({e})") from None
    if not isinstance(header, dict):
        raise bad_file(path, "not a safetensors file: its header is not a JSON object")
    return header, 8 + length


def _entry(path: Path, name: str, info: Any) -> tuple[np.dtype, tuple[int, ...], int, int]:
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        raise bad_file(path, f"tensor {name!r}: header entry needs dtype, shape and data_offsets; "
                             f"got {info!r}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise bad_file(path, f"tensor {name!r}: dtype {code!r} is not supported "
                             f"(supported: {', '.join(_DTYPES)})")
    if not (isinstance(shape, list)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise bad_file(path, f"tensor {name!r}: shape must be a list of non-negative integers; "
                             f"got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise bad_file(path, f"tensor {name!r}: data_offsets must be [begin, end]; got {offsets!r}")
    dtype = np.dtype(_DTYPES[code]).newbyteorder("<")
    begin, end = offsets
    expected = math.prod(shape) * dtype.itemsize  # exact: no int64 overflow
    if end - begin != expected:
        raise bad_file(path, f"tensor {name!r}: shape {shape} of {code} needs {expected} bytes but "
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
        raise bad_file(path, "__metadata__ must map strings to strings")
    entries = {name: _entry(path, name, info) for name, info in header.items()}
    # The tensors' bytes must tile the data section exactly: no gap, no overlap, nothing after.
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if begin != position:
            raise bad_file(path, f"tensor {name!r}: data starts at byte {begin} of the data "
                                 f"section, expected {position} (a gap or overlap: the file is "
                                 f"corrupted)")
        position = end
    if start + position != len(raw):
        raise bad_file(path, f"truncated or has trailing bytes: the header describes {position} "
                             f"bytes of data but the file holds {len(raw) - start}")
    buffer = memoryview(raw)[start:]
    arrays = {}
    for name, (dtype, shape, begin, end) in entries.items():
        array = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape)
        arrays[name] = array if dtype.isnative else array.astype(dtype.newbyteorder("="))
    return arrays, dict(metadata)
