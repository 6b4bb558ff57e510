"""The IDX file format of MNIST and Fashion-MNIST, plain or gzip-compressed, read with checks.

An IDX file is a 4-byte magic number ``0x00 0x00 <type code> <number of dimensions>``, then each
dimension as a big-endian uint32, then the values in C order, big-endian. A file that breaks any
of this (foreign magic, unknown type, sizes that disagree with the byte count, a truncated or
corrupted gzip stream) raises :class:`~deepgrad.errors.FileFormatError` naming the file and the
problem, never a garbage array.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import FileFormatError, shape_str

GZIP_MAGIC = b"\x1f\x8b"

# Type code -> big-endian dtype, as listed in LeCun's description of the format.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> Any:
    """The array stored in an IDX file, ``.gz``-compressed or not (told by its content).

    Returns a new, writable NumPy array in native byte order with the file's shape and dtype
    (uint8 for images and labels).

    Raises:
        FileFormatError: the file is not a valid IDX file; the message names it and the problem.
        OSError: the file cannot be opened (e.g. FileNotFoundError).
    """
    with open(path, "rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
        f.seek(0)
        if not compressed:
            return parse_idx(f.read(), os.fspath(path))
        try:
            with gzip.GzipFile(fileobj=f) as stream:
                data = stream.read()
        except EOFError:
            raise FileFormatError(f"{os.fspath(path)}: truncated gzip stream (the file ends "
                                  "before the end of the compressed data)") from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise FileFormatError(f"{os.fspath(path)}: corrupted gzip data ({error})") from None
    return parse_idx(data, os.fspath(path))


def parse_idx(data: bytes, name: str = "<bytes>") -> Any:
    """The array encoded by the bytes of an (uncompressed) IDX file; ``name`` is used in errors.

    Raises:
        FileFormatError: the bytes are not a valid IDX file.
    """
    if len(data) < 4:
        raise FileFormatError(f"{name}: too short for an IDX file ({len(data)} bytes; the "
                              "magic number alone has 4)")
    if data[0] != 0 or data[1] != 0:
        raise FileFormatError(f"{name}: not an IDX file (its magic number starts with "
                              f"0x{data[0]:02x} 0x{data[1]:02x}; IDX files start with 0x00 0x00)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x} ({xp.dtype(d).name})" for c, d in IDX_DTYPES.items())
        raise FileFormatError(f"{name}: unknown IDX data type code 0x{code:02x} in the magic "
                              f"number; known codes: {known}")
    if ndim == 0:
        raise FileFormatError(f"{name}: the IDX magic number declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FileFormatError(f"{name}: truncated header: {ndim} dimensions need {header} "
                              f"bytes, the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = xp.dtype(IDX_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        problem = (f"truncated: {actual} bytes of data" if actual < expected else
                   f"{actual - expected} bytes after the end of the data")
        raise FileFormatError(f"{name}: {problem}; its header declares {dtype.name} values of "
                              f"shape {shape_str(shape)}, which is {expected} bytes")
    array = xp.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header)
    # astype copies: a writable array in native byte order, independent of `data`.
    return array.astype(dtype.newbyteorder("=")).reshape(shape)
