"""Samplers: the order in which a DataLoader visits a dataset (PyTorch's ``torch.utils.data``).

A sampler is an iterable of example indices with a length; a batch sampler is one of lists of
indices. ``DataLoader(dataset, sampler=...)`` or ``DataLoader(dataset, batch_sampler=...)``
use them in place of the loader's own sequential or shuffled order.

Randomness: a random sampler given ``generator=`` (a NumPy ``Generator``) draws from it, as in
PyTorch. Without one it draws, when iterated on its own, a fresh seed from deepgrad's generator
(``dg.manual_seed`` makes it reproducible); inside a DataLoader the loader passes it the
generator of the epoch, seeded with ``(loader.seed, epoch)``, so its orders are reproducible and
resumable like those of ``shuffle=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator as global_generator
from deepgrad.errors import shape_str


def _check_positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer value, but got "
                         f"{name}={value!r}")
    return int(value)


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} should be a boolean value, but got {name}={value!r}")
    return value


class Sampler:
    """Base class of samplers: ``__iter__`` yields example indices, ``__len__`` counts them.

    Subclasses implement both. A sampler with random state that should resume exactly from a
    Trainer checkpoint also implements ``state_dict() -> dict`` and ``load_state_dict(state)``
    (the DataLoader saves the state it had when the epoch began); ``state_dict`` returning
    ``{}`` declares an order that never changes.
    """

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``, every pass."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def state_dict(self) -> dict:
        """Nothing: the order never changes."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


class SeededSampler(Sampler):
    """A sampler whose pass is a function of a NumPy generator (:meth:`sample`); the base of
    deepgrad's random samplers, which a DataLoader seeds when they have no ``generator``."""

    generator: Any = None

    def sample(self, rng: Any) -> Any:
        """The indices of one pass (a 1-D int array), drawn from ``rng``."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample")

    def __iter__(self) -> Iterator[int]:
        # PyTorch's rule: without a generator, each pass seeds a new one from the global one.
        rng = self.generator
        if rng is None:
            rng = xp.random.default_rng(int(global_generator().integers(2**63 - 1)))
        return iter(self.sample(rng).tolist())

    def state_dict(self) -> dict:
        """The state of ``generator`` (empty without one: a loader then seeds each pass)."""
        return {} if self.generator is None else {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``generator`` to a :meth:`state_dict`'s state."""
        if self.generator is not None and "generator" in state:
            self.generator.bit_generator.state = state["generator"]


def _check_generator(owner: str, generator: Any) -> Any:
    if generator is not None and not isinstance(generator, xp.random.Generator):
        raise TypeError(f"{owner}: generator must be a NumPy Generator "
                        f"(np.random.default_rng(seed)) or None; got {type(generator).__name__}")
    return generator


class RandomSampler(SeededSampler):
    """A random order of ``data_source``'s indices (PyTorch's ``RandomSampler``).

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices independently (repeats allowed); else a
            permutation (several back to back, the last cut short, when ``num_samples`` exceeds
            the dataset).
        num_samples: indices per pass; default ``len(data_source)``.
        generator: a NumPy ``Generator`` to draw from (see the module docstring for None).
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        self.data_source = data_source
        self.replacement = _check_bool("RandomSampler", "replacement", replacement)
        self._num_samples = None if num_samples is None else _check_positive_int(
            "RandomSampler", "num_samples", num_samples)
        self.generator = _check_generator("RandomSampler", generator)

    @property
    def num_samples(self) -> int:
        """Indices per pass (the dataset's current length unless given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def sample(self, rng: Any) -> Any:
        """``num_samples`` indices drawn from ``rng``."""
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return rng.integers(n, size=count)
        if count == n:
            return rng.permutation(n)
        whole, rest = divmod(count, n)
        return xp.concatenate([rng.permutation(n) for _ in range(whole)]
                              + [rng.permutation(n)[:rest]]).astype(xp.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(SeededSampler):
    """The given ``indices`` in a random order each pass (PyTorch's ``SubsetRandomSampler``)."""

    def __init__(self, indices: Iterable[int], generator: Any = None) -> None:
        self.indices = xp.asarray(list(indices), dtype=xp.int64)
        self.generator = _check_generator("SubsetRandomSampler", generator)

    def sample(self, rng: Any) -> Any:
        """A permutation of ``indices`` drawn from ``rng``."""
        return self.indices[rng.permutation(len(self.indices))]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(SeededSampler):
    """``num_samples`` indices in ``[0, len(weights))``, index ``i`` drawn with probability
    ``weights[i] / sum(weights)`` (PyTorch's ``WeightedRandomSampler``), e.g. to oversample
    rare classes: ``weights = 1 / class_counts[labels]``.

    Args:
        weights: one non-negative weight per example (they need not sum to 1); an example of
            weight 0 is never drawn.
        num_samples: indices per pass.
        replacement: draw with replacement (default); without, each index at most once, so
            ``num_samples`` may not exceed the number of non-zero weights.
        generator: a NumPy ``Generator`` to draw from (see the module docstring for None).
    """

    def __init__(self, weights: Any, num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        owner = "WeightedRandomSampler"
        self.num_samples = _check_positive_int(owner, "num_samples", num_samples)
        self.replacement = _check_bool(owner, "replacement", replacement)
        weights = xp.asarray(weights, dtype=xp.float64)
        if weights.ndim != 1:
            raise ValueError(f"{owner}: weights should be a 1d sequence but given weights have "
                             f"shape {shape_str(weights.shape)}")
        if not xp.all(xp.isfinite(weights)) or xp.any(weights < 0) or not xp.any(weights > 0):
            raise ValueError(f"{owner}: weights must be finite and non-negative, with at least "
                             "one above 0")
        nonzero = int(xp.count_nonzero(weights))
        if not replacement and self.num_samples > nonzero:
            raise ValueError(f"{owner}: cannot draw num_samples={self.num_samples} without "
                             f"replacement from {nonzero} non-zero weights")
        self.weights = weights
        self.generator = _check_generator(owner, generator)

    def sample(self, rng: Any) -> Any:
        """``num_samples`` indices drawn from ``rng`` in proportion to ``weights``."""
        p = self.weights / self.weights.sum()
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size`` (PyTorch's
    ``BatchSampler``); the last list is shorter unless ``drop_last`` drops it.

    ``list(BatchSampler(SequentialSampler(range(10)), 3, drop_last=False))`` is
    ``[[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]``.
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.batch_size = _check_positive_int("BatchSampler", "batch_size", batch_size)
        self.drop_last = _check_bool("BatchSampler", "drop_last", drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SeededSampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]
