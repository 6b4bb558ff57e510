"""The DataLoader: a dataset in batches of tensors, shuffled reproducibly, resumable mid-epoch.

Randomness: a loader owns one integer ``seed``. The order of epoch ``e`` comes from a generator
seeded with ``(seed, e)``, and the random transforms of batch ``b`` of epoch ``e`` from one seeded
with ``(seed, e, b)``. Every batch is thus a pure function of ``(seed, epoch, batch index)``:
resuming needs only those three numbers, and background threads can build batches ahead in any
order and still give exactly the batches of a single-threaded run.

Samplers (``sampler=``, ``batch_sampler=``) replace the loader's own order. deepgrad's random
samplers without a ``generator`` draw from the epoch's generator too, so the property above
holds for them; a sampler with its own state is saved by :meth:`DataLoader.state_dict` as it
was when the epoch began, and restored on resume to draw the same epoch again.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import rng_from
from deepgrad.data.dataset import Dataset, IterableDataset
from deepgrad.data.samplers import (
    BatchSampler,
    RandomSampler,
    SeededSampler,
    SequentialSampler,
)
from deepgrad.errors import ShapeError, StateDictError, shape_str
from deepgrad.tensor import Tensor

_ORDER_STREAM, _BATCH_STREAM = 0, 1
_STATE_KEYS = ("epoch", "position", "seed", "num_examples", "batch_size", "shuffle", "drop_last")


def _restorable(source: Any) -> bool:
    """Whether the order ``source`` gives can be given again after a restart: it saves its state,
    or it is a fixed sequence."""
    return (hasattr(source, "state_dict") and hasattr(source, "load_state_dict")) or \
        isinstance(source, (range, list, tuple, xp.ndarray))


def default_collate(examples: list) -> Any:
    """Stack a list of examples into batch arrays (PyTorch's ``default_collate``, in NumPy).

    Arrays (and Tensors) are stacked along a new first axis; Python ints become an int64 array,
    Python floats float32 (deepgrad's default float, as in ``dg.tensor``), bools a bool array,
    NumPy scalars keep their dtype; tuples, lists and dicts are collated field by field; strings
    are returned as a list.
    """
    first = examples[0]
    if isinstance(first, Tensor):
        return default_collate([e.numpy() for e in examples])
    if isinstance(first, xp.ndarray):
        shapes = {e.shape for e in examples}
        if len(shapes) > 1:
            other = next(i for i, e in enumerate(examples) if e.shape != first.shape)
            raise ShapeError("default_collate: the examples of a batch need the same shape; "
                             f"example 0 has {shape_str(first.shape)}, example {other} has "
                             f"{shape_str(examples[other].shape)}")
        return xp.stack(examples)
    if isinstance(first, xp.generic):
        return xp.array(examples)
    if isinstance(first, (bool, int, float)):
        batch = xp.array(examples)
        if batch.dtype.kind == "f":
            return batch.astype(xp.float32)
        return batch.astype(xp.int64) if batch.dtype.kind in "iu" else batch
    if isinstance(first, (str, bytes)):
        return list(examples)
    if isinstance(first, Mapping):
        return {key: default_collate([e[key] for e in examples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(e) != len(first) for e in examples):
            raise ValueError("default_collate: every example needs the same number of fields; "
                             f"got lengths {sorted({len(e) for e in examples})}")
        fields = [default_collate(list(column)) for column in zip(*examples)]
        if isinstance(first, list):
            return fields
        return type(first)(*fields) if hasattr(first, "_fields") else tuple(fields)
    raise TypeError(f"default_collate: cannot batch examples of type {type(first).__name__}; "
                    "pass collate_fn= to the DataLoader")


def _as_tensors(batch: Any) -> Any:
    """The arrays of a collated batch as Tensors sharing their memory (PyTorch's loader gives
    tensors), through tuples, lists and dicts."""
    if isinstance(batch, xp.ndarray):
        return Tensor._make(batch)
    if isinstance(batch, Mapping):
        return {key: _as_tensors(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        fields = [_as_tensors(field) for field in batch]
        if hasattr(batch, "_fields"):
            return type(batch)(*fields)
        return type(batch)(fields)
    return batch


class DataLoader:
    """Iterate over a dataset in batches of Tensors (PyTorch's ``DataLoader``).

    ``for x, y in DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True): ...``

    Batches are built as NumPy arrays (:func:`default_collate`, then ``transform`` and
    ``batch_transform`` on whole batches) and handed over as Tensors sharing those arrays,
    through tuples, lists and dicts; a ``collate_fn``'s batches come as it returns them.

    Each ``for`` loop over the loader is one epoch. An array-backed dataset (``TensorDataset``,
    its ``Subset`` s, ``FashionMNIST``, ...) gives each batch with one fancy index per array;
    any other dataset is read example by example and collated by ``collate_fn``. An
    :class:`IterableDataset` is read as a stream, ``batch_size`` examples per batch, in the
    calling thread (``num_workers`` then has no effect).

    Args:
        dataset: a :class:`Dataset` (anything with ``__getitem__`` and ``__len__``) or an
            :class:`IterableDataset`.
        batch_size: examples per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: a new random order every epoch (else the dataset's order): a
            :class:`RandomSampler` drawing from the loader's seed.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: the seed of every shuffle and random transform (see the module docstring); None
            draws one from deepgrad's generator, so ``dg.manual_seed`` makes runs reproducible.
        collate_fn: ``collate_fn(list_of_examples) -> batch``; default :func:`default_collate`.
            Giving one disables the array-backed fast path.
        num_workers: background threads that build the next batches while the current one is
            used (NumPy releases the GIL while it copies); 0 builds each batch on demand. The
            batches are exactly those of ``num_workers=0``.
        transform: ``transform(x, rng) -> x`` applied to each batch's first array (``x`` of
            ``(x, y)``, or the batch itself when it is one array), with the batch's generator:
            e.g. ``dg.data.transforms.Compose([...])``. It runs after the dataset's own
            transform, if the dataset has one.
        batch_transform: ``batch_transform(batch, rng) -> batch`` applied to the whole batch
            (e.g. ``(x, y)``) after ``transform``, with the same generator: for transforms
            that change the labels too, e.g. ``dg.data.transforms.MixUp`` or ``CutMix``.
        sampler: the indices of an epoch, in order (a :class:`Sampler` or any iterable of
            ints with a length), batched by ``batch_size``; excludes ``shuffle``.
        batch_sampler: the index lists of an epoch's batches (e.g. a :class:`BatchSampler`);
            excludes ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
        generator: a :class:`dg.Generator` (or NumPy ``Generator``) that draws ``seed`` when
            it is not given, PyTorch's way of seeding a loader.
        prefetch_factor: batches built ahead per worker (default 2; needs ``num_workers``).
        persistent_workers: keep the worker threads from one epoch to the next (needs
            ``num_workers``); else each epoch starts its own.
        worker_init_fn: called in each worker thread as it starts, with its id (0, 1, ...).
        pin_memory: accepted for PyTorch's code; without a GPU there is no memory to pin, so
            it changes nothing (as in PyTorch on a machine without one).

    ``len(loader)`` is PyTorch's: the number of batches of the (batch) sampler, or of
    ``len(dataset)`` examples for an IterableDataset (a TypeError if it has no ``__len__``).

    Resuming: :meth:`state_dict` inside the loop records the epoch, the batches already
    given and the seed; after :meth:`load_state_dict` (on this or a new loader over the same
    dataset), the next loop gives the rest of that epoch, and the loops after it the same
    epochs as the uninterrupted run. A loop left early (``break``) is otherwise abandoned: the
    next loop starts the next epoch, as in PyTorch. A sampler is restored from its state at the
    start of the epoch: deepgrad's samplers and fixed sequences of indices resume exactly; a
    sampler of another kind needs ``state_dict()`` and ``load_state_dict()`` (see
    :class:`Sampler`), else loading refuses.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 collate_fn: Callable[[list], Any] | None = None, num_workers: int = 0,
                 transform: Callable[[Any, Any], Any] | None = None,
                 batch_transform: Callable[[Any, Any], Any] | None = None,
                 sampler: Iterable[int] | None = None,
                 batch_sampler: Iterable[list[int]] | None = None, *, generator: Any = None,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 worker_init_fn: Callable[[int], Any] | None = None,
                 pin_memory: bool = False) -> None:
        self._streamed_dataset = isinstance(dataset, IterableDataset)
        if self._streamed_dataset:
            # PyTorch's messages: a stream has its own order.
            for name, value in (("shuffle", shuffle or None), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value is not None:
                    raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value!r}")
        elif not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError("DataLoader: dataset must have __getitem__ and __len__ (a "
                            f"dg.data.Dataset) or be a dg.data.IterableDataset; got "
                            f"{type(dataset).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            conflicts = [text for text, given in (
                (f"batch_size={batch_size!r}", batch_size != 1), ("shuffle=True", shuffle),
                (f"sampler={sampler!r}", sampler is not None), ("drop_last=True", drop_last))
                if given]
            if conflicts:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 f"batch_size, shuffle, sampler, and drop_last; got "
                                 f"{', '.join(conflicts)}")
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value is not None and not hasattr(value, "__iter__"):
                raise TypeError(f"DataLoader: {name} must be iterable (a dg.data.Sampler); got "
                                f"{type(value).__name__}")
        for name, value, least in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < least:
                raise ValueError(f"DataLoader: {name} must be an integer >= {least}; got "
                                 f"{value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, xp.integer))
                                 or seed < 0):
            raise ValueError(f"DataLoader: seed must be an integer >= 0 or None; got {seed!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both (the generator only "
                             "draws the seed)")
        # PyTorch's rules for its worker options, whose workers are processes (threads here).
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers need "
                             "num_workers > 0")
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or not isinstance(
                prefetch_factor, (int, xp.integer)) or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor must be an integer >= 1; got "
                             f"{prefetch_factor!r}")
        for name, fn in (("collate_fn", collate_fn), ("transform", transform),
                         ("batch_transform", batch_transform), ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable; got {type(fn).__name__}")
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        # As in PyTorch: a given batch_sampler leaves batch_size None and drop_last False.
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler: Iterable[int] | None = None
        self.batch_sampler: Iterable[list[int]] | None = batch_sampler
        if not self._streamed_dataset:
            self.sampler = sampler if sampler is not None else (
                RandomSampler(dataset) if shuffle else SequentialSampler(dataset))
            if batch_sampler is None:
                self.batch_sampler = BatchSampler(self.sampler, int(batch_size), bool(drop_last))
        if seed is None:
            seed = rng_from(generator).integers(2**63 - 1)
        self.seed = int(seed)
        self.collate_fn = collate_fn
        self.num_workers = int(num_workers)
        self.prefetch_factor = None if num_workers == 0 else int(prefetch_factor or 2)
        self.persistent_workers = bool(persistent_workers)
        self.worker_init_fn = worker_init_fn
        self.pin_memory = bool(pin_memory)
        self._pool: ThreadPoolExecutor | None = None  # kept across epochs if persistent_workers
        self.transform = transform
        self.batch_transform = batch_transform
        self._epoch = 0          # the next batch to give is batch _position of epoch _epoch
        self._position = 0
        self._ready = True       # whether the next loop starts there (else at the next epoch)
        self._epoch_state: dict | None = None   # the order source's state when the epoch began

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self) -> int:
        """The epoch of the loader's position (as in :meth:`state_dict`), counted from 0."""
        return self._epoch

    # ------------------------------------------------------------------ batches
    def _generator(self, *key: int) -> Any:
        return xp.random.default_rng(xp.random.SeedSequence(self.seed, spawn_key=key))

    def _order_source(self) -> Any:
        """What decides an epoch's order: the sampler (inside a BatchSampler) or the batch
        sampler, None for a stream."""
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler.sampler
        return self.batch_sampler

    def _order(self, sampler: Any, epoch: int) -> Any:
        if isinstance(sampler, SeededSampler) and sampler.generator is None:
            return sampler.sample(self._generator(epoch, _ORDER_STREAM, 0))
        if isinstance(sampler, SequentialSampler):
            return xp.arange(len(sampler))
        return xp.asarray([int(i) for i in sampler], dtype=xp.intp)

    def _epoch_batches(self, epoch: int) -> list:
        """The index arrays of the batches of epoch ``epoch`` (drawing its order)."""
        batcher = self.batch_sampler
        if isinstance(batcher, BatchSampler):
            order, size = self._order(batcher.sampler, epoch), batcher.batch_size
            count = len(order) // size if batcher.drop_last else -(-len(order) // size)
            return [order[i * size:(i + 1) * size] for i in range(count)]
        return [xp.asarray([int(i) for i in batch], dtype=xp.intp) for batch in batcher]

    def _batch(self, indices: Any, epoch: int, index: int) -> Any:
        rng = self._generator(epoch, _BATCH_STREAM, index)
        if getattr(self.dataset, "array_backed", False) and self.collate_fn is None:
            return self._finish(self.dataset.get_batch(indices, rng), rng)
        return self._finish(self._collate([self.dataset[int(i)] for i in indices]), rng)

    def _collate(self, examples: list) -> Any:
        return (default_collate if self.collate_fn is None else self.collate_fn)(examples)

    def _finish(self, batch: Any, rng: Any) -> Any:
        if self.transform is not None:
            batch = self._transformed(batch, rng)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch, rng)
        return batch if self.collate_fn is not None else _as_tensors(batch)

    def _transformed(self, batch: Any, rng: Any) -> Any:
        if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], xp.ndarray):
            fields = [self.transform(batch[0], rng), *batch[1:]]
            return type(batch)(*fields) if hasattr(batch, "_fields") else type(batch)(fields)
        if isinstance(batch, xp.ndarray):
            return self.transform(batch, rng)
        raise TypeError("DataLoader: transform applies to the first array of each batch, but "
                        f"this batch is a {type(batch).__name__} without a leading array")

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[Any]:
        if not self._ready:
            self._epoch, self._position = self._epoch + 1, 0
        self._ready = False
        epoch, start = self._epoch, self._position
        if self._streamed_dataset:
            return self._streamed(epoch, start)
        self._epoch_state = self._source_state()
        batches = self._epoch_batches(epoch)
        if self.num_workers == 0:
            return self._serial(batches, epoch, start)
        return self._prefetched(batches, epoch, start)

    def _given(self, epoch: int, index: int, last: bool) -> None:
        # Called just before batch `index` is handed over: after the last batch the loader
        # already points at the next epoch, so a state saved then resumes there.
        if last:
            self._epoch, self._position, self._ready = epoch + 1, 0, True
        else:
            self._position = index + 1

    def _serial(self, batches: list, epoch: int, start: int) -> Iterator[Any]:
        for index in range(start, len(batches)):
            batch = self._batch(batches[index], epoch, index)
            self._given(epoch, index, index + 1 == len(batches))
            yield batch

    def _streamed(self, epoch: int, start: int) -> Iterator[Any]:
        examples = iter(self.dataset)
        chunks = iter(lambda: list(itertools.islice(examples, self.batch_size)), [])
        if self.drop_last:
            chunks = itertools.takewhile(lambda chunk: len(chunk) == self.batch_size, chunks)
        for _ in itertools.islice(chunks, start):   # the batches given before a resume
            pass
        index, current = start, next(chunks, None)
        while current is not None:
            # Read one batch ahead to know whether this one is the epoch's last.
            following = next(chunks, None)
            batch = self._finish(self._collate(current),
                                 self._generator(epoch, _BATCH_STREAM, index))
            self._given(epoch, index, following is None)
            yield batch
            index, current = index + 1, following

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is not None:
            return self._pool
        initializer = None
        if self.worker_init_fn is not None:
            ids, init = itertools.count(), self.worker_init_fn
            initializer = lambda: init(next(ids))  # noqa: E731 (each thread gets its id)
        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="deepgrad-loader",
                                  initializer=initializer)
        if self.persistent_workers:
            self._pool = pool
        return pool

    def _prefetched(self, batches: list, epoch: int, start: int) -> Iterator[Any]:
        total = len(batches)
        depth = self.prefetch_factor * self.num_workers
        pool = self._workers()
        pending: collections.deque = collections.deque()
        submitted = start
        try:
            for index in range(start, total):
                while submitted < total and len(pending) < depth:
                    pending.append(pool.submit(self._batch, batches[submitted], epoch,
                                               submitted))
                    submitted += 1
                batch = pending.popleft().result()
                self._given(epoch, index, index + 1 == total)
                yield batch
        finally:
            # Reached on exhaustion, on an error, and on break (the generator is closed).
            for future in pending:
                future.cancel()
            if pool is not self._pool:
                pool.shutdown(wait=True)
            else:
                for future in pending:
                    if not future.cancelled():
                        future.exception()  # let running batches end before the next epoch

    # ------------------------------------------------------------------ resuming
    def _source_state(self) -> dict | None:
        source = self._order_source()
        return source.state_dict() if hasattr(source, "state_dict") else None

    def _num_examples(self) -> int | None:
        try:
            return len(self.dataset)
        except TypeError:  # a stream without __len__
            return None

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: epoch, batches already given in it, seed, the sampler's state
        when the epoch began (plain values: numbers, strings, dicts, None), and the dataset
        size, batching and kind of sampler it was saved with (checked on load)."""
        source = self._order_source()
        # Between epochs the next loop draws from the sampler as it is now; inside one, it must
        # draw that epoch again, from the state the epoch began with.
        sampler_state = self._source_state() if self._ready else self._epoch_state
        return {"epoch": self._epoch, "position": self._position, "seed": self.seed,
                "num_examples": self._num_examples(), "batch_size": self.batch_size,
                "shuffle": self.shuffle, "drop_last": self.drop_last,
                "sampler": type(source).__name__ if source is not None else None,
                "sampler_state": sampler_state}

    def mismatches(self, state: Mapping[str, Any]) -> list[str]:
        """What a saved :meth:`state_dict` had that this loader has otherwise, of what resuming
        needs unchanged (dataset size, batching, kind of sampler): ``"batch_size=5, but this
        loader has batch_size=4"`` for each; also a sampler whose order cannot be restored."""
        mine = self.state_dict()
        differ = [f"{key}={state[key]!r}, but this loader has {key}={mine[key]!r}"
                  for key in ("num_examples", "batch_size", "shuffle", "drop_last", "sampler")
                  if key in state and state[key] != mine[key]]
        source = self._order_source()
        if source is not None and not _restorable(source):
            differ.append(f"a sampler {mine['sampler']} without state_dict() and "
                          "load_state_dict() to restore its order from (add both; state_dict "
                          "may return {} for an order that never changes)")
        return differ

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next loop gives the rest of its epoch."""
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise StateDictError(f"DataLoader.load_state_dict: the state lacks {missing}; "
                                 f"expected the keys {list(_STATE_KEYS)}")
        differ = self.mismatches(state)
        if differ:
            raise ValueError(f"DataLoader.load_state_dict: the state was saved with "
                             f"{', '.join(differ)}; resuming needs the same dataset size, "
                             "batching and sampler")
        epoch, position = int(state["epoch"]), int(state["position"])
        length = len(self) if self._num_examples() is not None else None
        if epoch < 0 or position < 0 or (length is not None and position > length):
            raise ValueError(f"DataLoader.load_state_dict: epoch {epoch}, position {position} "
                             f"is not a place in an epoch of {length} batches")
        if position == length:
            epoch, position = epoch + 1, 0
        # States from before samplers have no "sampler_state": their samplers had none.
        if state.get("sampler_state") is not None:
            self._order_source().load_state_dict(state["sampler_state"])
        self.seed = int(state["seed"])
        self._epoch, self._position, self._ready = epoch, position, True
