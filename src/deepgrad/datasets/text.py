"""Text corpora and their batching for language models trained with truncated backpropagation
through time.

::

    text = python_stdlib_text(max_bytes=2_000_000)      # the same text on every run
    ids = vocab.encode(text)
    for x, y in CharSequences(ids, batch_size=32, seq_len=64):   # (32, <=64) int64 each
        logits, state = model(x, state)                 # row i continues where it stopped
        ...
        state = tuple(s.detach() for s in state)
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor

# Directories of the standard library that hold its own test suites, fixtures and test data.
_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
_SKIPPED_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})


def _stdlib_files(root: Path) -> list[Path]:
    files = []
    for directory, subdirectories, names in os.walk(root):
        # Pruned in place, so that os.walk never descends into them.
        subdirectories[:] = [d for d in subdirectories
                             if d not in _TEST_DIRS and d not in _SKIPPED_DIRS]
        files += [Path(directory, name) for name in names if name.endswith(".py")]
    return sorted(files, key=lambda p: p.relative_to(root).parts)


def python_stdlib_text(max_bytes: int | None = None, root: str | Path | None = None) -> str:
    """The source of the Python standard library's ``.py`` files, concatenated: a corpus of
    code that every machine with Python has.

    Files come in sorted path order (a directory's files together); directories named
    ``test``, ``tests`` or ``idle_test`` and site-packages are skipped; every file ends with a
    newline. The result is the first ``max_bytes`` bytes of that stream decoded as UTF-8,
    invalid bytes skipped, so for one Python installation it is the same text on every call.

    Args:
        max_bytes: read only this many bytes (None for everything: about 12 MB for Python 3.11).
        root: the library directory; by default the running interpreter's
            (``sysconfig.get_paths()["stdlib"]``).
    """
    if max_bytes is not None and (isinstance(max_bytes, bool)
                                  or not isinstance(max_bytes, (int, np.integer))
                                  or max_bytes < 1):
        raise ValueError(f"python_stdlib_text: max_bytes must be a positive integer or None; "
                         f"got {max_bytes!r}")
    root = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    if not root.is_dir():
        raise FileNotFoundError(f"python_stdlib_text: {root} is not a directory")
    chunks: list[bytes] = []
    total = 0
    for path in _stdlib_files(root):
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            data += b"\n"
        chunks.append(data)
        total += len(data)
        if max_bytes is not None and total >= max_bytes:
            break
    if not chunks:
        raise FileNotFoundError(f"python_stdlib_text: no .py files under {root}")
    raw = b"".join(chunks)
    return (raw if max_bytes is None else raw[:max_bytes]).decode("utf-8", errors="ignore")


class CharSequences:
    """A token stream cut for truncated backpropagation through time: ``(input, target)``
    chunks of ``batch_size`` rows, each row a contiguous stretch of the stream that the next
    chunk continues, so a model can carry its state from one chunk into the next.

    The stream (length L) is split into ``batch_size`` rows of R = (L - 1) // batch_size
    tokens; row i holds tokens ``[i R, (i + 1) R)`` and its targets are the same positions
    shifted by one. Chunk j is columns ``[j seq_len, (j + 1) seq_len)`` of the rows (the last
    chunk may be shorter); the few tokens past ``batch_size * R + 1`` are not used.

    Args:
        tokens: the encoded stream, 1-D integers (a NumPy array, a Tensor or a list).
        batch_size: rows N of every chunk.
        seq_len: steps T of every chunk but possibly the last.

    ``len()`` is the number of chunks; indexing and iteration give ``(x, y)``, both int64
    arrays of shape (N, T), in stream order.
    """

    def __init__(self, tokens: Any, batch_size: int, seq_len: int) -> None:
        array = np.asarray(tokens.numpy() if isinstance(tokens, Tensor) else tokens)
        if array.ndim != 1:
            raise ShapeError(f"CharSequences: tokens must be 1-D; got {shape_str(array.shape)}")
        if array.size and array.dtype.kind not in "iu":
            raise TypeError(f"CharSequences: tokens must be integers; got dtype {array.dtype}")
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CharSequences: {name} must be a positive integer; got "
                                 f"{value!r}")
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        row_length = (array.size - 1) // self.batch_size
        if row_length < 1:
            raise ValueError(f"CharSequences: {array.size} tokens are too few for "
                             f"{self.batch_size} rows (need at least {self.batch_size + 1})")
        used = self.batch_size * row_length
        self.inputs = array[:used].astype(np.int64).reshape(self.batch_size, row_length)
        self.targets = array[1:used + 1].astype(np.int64).reshape(self.batch_size, row_length)

    @property
    def row_length(self) -> int:
        """Tokens per row: the steps of one pass over the stream."""
        return self.inputs.shape[1]

    @property
    def num_tokens(self) -> int:
        """Input tokens in all the chunks (``batch_size * row_length``)."""
        return self.inputs.size

    def __len__(self) -> int:
        return -(-self.row_length // self.seq_len)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"CharSequences: a chunk index must be an integer; got "
                            f"{type(index).__name__}")
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"CharSequences: chunk {index} is out of range for {count} chunks")
        start = (int(index) % count) * self.seq_len
        columns = slice(start, start + self.seq_len)
        return self.inputs[:, columns], self.targets[:, columns]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index in range(len(self)):
            yield self[index]

    def __repr__(self) -> str:
        return (f"CharSequences({len(self)} chunks of ({self.batch_size}, {self.seq_len}), "
                f"{self.num_tokens} tokens)")


__all__ = ["CharSequences", "python_stdlib_text"]
