"""Datasets: indexable collections of examples, and the array-backed ones a loader batches at once.

A :class:`Dataset` answers ``dataset[i]`` (one example) and ``len(dataset)``. A dataset whose
examples are rows of arrays also sets ``array_backed = True`` and implements
``get_batch(indices, rng)``, which gathers a whole batch with one fancy index per array: the
:class:`~deepgrad.data.DataLoader` then never loops over examples in Python.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import rng_from
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor


def check_index(owner: str, index: Any, length: int) -> int:
    """``index`` as a non-negative int below ``length`` (negative counts from the end), or a
    clear IndexError naming ``owner``."""
    if isinstance(index, bool) or not isinstance(index, (int, xp.integer)):
        raise TypeError(f"{owner}: an example index must be an integer; got "
                        f"{type(index).__name__}")
    i = int(index)
    if not -length <= i < length:
        raise IndexError(f"{owner}: index {i} is out of range for {length} examples")
    return i + length if i < 0 else i


class Dataset:
    """An indexable collection of examples (PyTorch's ``torch.utils.data.Dataset``).

    Subclasses implement ``__getitem__`` (one example, any structure: an array, a tuple
    ``(x, y)``, a dict, ...) and ``__len__``. An array-backed subclass also sets
    ``array_backed = True`` and implements :meth:`get_batch`.
    """

    array_backed: bool = False

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def get_batch(self, indices: Any, rng: Any) -> Any:
        """The examples at ``indices`` (an int array of valid positions) stacked into arrays,
        gathered in one step; random transforms draw from ``rng`` (a NumPy Generator)."""
        raise NotImplementedError(f"{type(self).__name__} is not array-backed: it has no "
                                  "get_batch (the loader collates its examples one by one)")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of examples (PyTorch's ``torch.utils.data.IterableDataset``).

    Subclasses implement ``__iter__``, yielding one example at a time; ``__len__`` (the number
    of examples) is optional, and gives the loader a length. A :class:`DataLoader` batches the
    stream in its order: no shuffle or sampler. It reads the stream in the calling thread, even
    with ``num_workers``, so no example is read twice and no sharding by
    :func:`get_worker_info` is needed. Resuming mid-epoch reads the stream again from its start
    and skips the batches already given: exact when every pass yields the same examples.
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it, it "
                        "has no dataset[i]")

    def __len__(self) -> int:
        # TypeError, as len() of an object without __len__, so that a loader over a stream
        # of unknown length has no len() either (PyTorch's behaviour).
        raise TypeError(f"{type(self).__name__} is an IterableDataset without __len__: its "
                        "length is unknown")

    def __add__(self, other: Dataset) -> ConcatDataset:
        raise TypeError("IterableDataset: chaining streams with + is not supported")


def get_worker_info() -> None:
    """PyTorch's ``get_worker_info``, for datasets written against it: always None, since
    deepgrad reads an :class:`IterableDataset` in the main thread (there is nothing to shard)."""
    return None


class TensorDataset(Dataset):
    """Examples are the rows of arrays: ``dataset[i] == (arrays[0][i], arrays[1][i], ...)``.

    Args:
        *arrays: NumPy arrays or Tensors (their arrays are shared, not copied), all with the
            same first dimension, the number of examples.
    """

    array_backed = True

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(a.numpy() if isinstance(a, Tensor) else xp.asarray(a)
                            for a in arrays)
        for position, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ShapeError(f"TensorDataset: array {position} is a scalar; every array "
                                 "needs a first dimension (the number of examples)")
        lengths = {a.shape[0] for a in self.arrays}
        if len(lengths) > 1:
            shapes = ", ".join(shape_str(a.shape) for a in self.arrays)
            raise ShapeError("TensorDataset: every array needs the same first dimension (the "
                             f"number of examples); got shapes {shapes}")

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int) -> tuple:
        i = check_index("TensorDataset", index, len(self))
        return tuple(a[i] for a in self.arrays)

    def get_batch(self, indices: Any, rng: Any) -> tuple:
        """The rows at ``indices`` of every array (one ``take`` per array)."""
        return tuple(xp.take(a, indices, axis=0) for a in self.arrays)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order (array-backed if it is)."""

    def __init__(self, dataset: Dataset, indices: Any) -> None:
        self.dataset = dataset
        indices = xp.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError("Subset: indices must be a 1-D sequence of integers; got "
                            f"{indices.dtype} of shape {shape_str(indices.shape)}")
        indices = indices.astype(xp.intp)
        length = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= length):
            bad = indices[(indices < 0) | (indices >= length)][0]
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of {length} "
                             "examples")
        self.indices = indices

    @property
    def array_backed(self) -> bool:  # type: ignore[override]
        """Whether the underlying dataset is array-backed."""
        return self.dataset.array_backed

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[check_index("Subset", index, len(self))])]

    def get_batch(self, indices: Any, rng: Any) -> Any:
        """The underlying dataset's batch at the mapped indices."""
        return self.dataset.get_batch(self.indices[indices], rng)


class ConcatDataset(Dataset):
    """Several datasets one after the other (array-backed if all of them are)."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = [0]
        for d in self.datasets:
            self.cumulative_sizes.append(self.cumulative_sizes[-1] + len(d))

    @property
    def array_backed(self) -> bool:  # type: ignore[override]
        """Whether every part is array-backed."""
        return all(d.array_backed for d in self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        i = check_index("ConcatDataset", index, len(self))
        part = bisect.bisect_right(self.cumulative_sizes, i) - 1
        return self.datasets[part][i - self.cumulative_sizes[part]]

    def get_batch(self, indices: Any, rng: Any) -> Any:
        """Each part's batch for its share of ``indices``, put back in the order asked for."""
        starts = xp.asarray(self.cumulative_sizes)
        part_of = xp.searchsorted(starts, indices, side="right") - 1
        order = xp.argsort(part_of, kind="stable")
        parts = [self.datasets[p].get_batch(indices[part_of == p] - starts[p], rng)
                 for p in xp.unique(part_of)]
        inverse = xp.empty_like(order)
        inverse[order] = xp.arange(order.size)
        if isinstance(parts[0], tuple):
            return tuple(xp.concatenate(fields)[inverse] for fields in zip(*parts))
        return xp.concatenate(parts)[inverse]


def random_split(dataset: Dataset, lengths: Sequence[float], seed: int | None = None, *,
                 generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    Args:
        dataset: the dataset to split.
        lengths: the sizes of the parts, as ints summing to ``len(dataset)``, or as fractions
            summing to 1 (PyTorch's rule: each part gets ``floor(fraction * n)`` examples, and
            the remainder is dealt one by one to the parts from the first on).
        seed: seeds the permutation; None draws from ``generator``.
        generator: a :class:`dg.Generator` (PyTorch's ``generator=``) to draw the permutation
            from; None: deepgrad's generator (``dg.manual_seed`` makes it reproducible).
    """
    if seed is not None and generator is not None:
        raise ValueError("random_split: give seed or generator, not both")
    n = len(dataset)
    sizes = _split_sizes(lengths, n)
    rng = rng_from(generator) if seed is None else xp.random.default_rng(seed)
    permutation = rng.permutation(n)
    bounds = [0, *itertools.accumulate(sizes)]
    return [Subset(dataset, permutation[a:b]) for a, b in itertools.pairwise(bounds)]


def _split_sizes(lengths: Sequence[float], n: int) -> list[int]:
    lengths = list(lengths)
    if not lengths or any(isinstance(v, bool) or not isinstance(v, (int, float, xp.number))
                          or v < 0 for v in lengths):
        raise ValueError(f"random_split: lengths must be non-negative numbers; got {lengths}")
    if all(isinstance(v, (int, xp.integer)) for v in lengths):
        if sum(lengths) != n:
            raise ValueError(f"random_split: lengths sum to {sum(lengths)}, but the dataset has "
                             f"{n} examples")
        return [int(v) for v in lengths]
    if not math.isclose(sum(lengths), 1.0, abs_tol=1e-9) or any(v > 1 for v in lengths):
        raise ValueError("random_split: fractions must be in [0, 1] and sum to 1; got "
                         f"{lengths} (sum {sum(lengths):g}); give either all ints or all "
                         "fractions")
    sizes = [math.floor(n * v) for v in lengths]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes
