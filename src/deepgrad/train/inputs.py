"""What ``Trainer.fit`` accepts as data, made uniform: Datasets, DataLoaders, ``(x, y)`` pairs or
``(x, y, sample_weight)`` triples as DataLoaders, Keras' ``validation_split``, the
``validation_freq`` argument, and the targets as the metrics score them."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from deepgrad.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset
from deepgrad.tensor import Tensor


def hard_labels(targets: Any, outputs: Any) -> Any:
    """Class-probability targets (N, C) shaped as the outputs (MixUp, CutMix, label smoothing
    done in the data) as the class each one weighs most, for the metrics; others unchanged."""
    targets = np.asarray(targets)
    if (targets.ndim == 2 and targets.shape[1] > 1 and targets.dtype.kind == "f"
            and targets.shape == np.shape(outputs)):
        return targets.argmax(1)
    return targets


def check_validation_freq(freq: Any) -> int | frozenset[int]:
    """``fit``'s ``validation_freq``: an epoch interval, or the set of 1-based epochs."""
    def epoch_number(n: Any) -> bool:
        return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1

    if epoch_number(freq):
        return int(freq)
    if isinstance(freq, Collection) and not isinstance(freq, str) and all(
            epoch_number(n) for n in freq):
        return frozenset(int(n) for n in freq)
    raise ValueError(f"fit: validation_freq must be an integer >= 1 or a collection of epoch "
                     f"numbers (1-based); got {freq!r}")


def check_count(method: str, name: str, value: Any, least: int = 1,
                optional: bool = False) -> int | None:
    """A number of epochs, batches or examples given to ``method``: an integer >= ``least``
    (or None, meaning all of them, where ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        shown = (f"an array of shape {np.shape(value)}"
                 if isinstance(value, (np.ndarray, Tensor)) else repr(value))
        raise ValueError(f"{method}: {name} must be an integer >= {least}"
                         f"{' or None' if optional else ''}; got {shown}")
    return int(value)


# Keras takes the arrays as two arguments: fit(x, y, ...), evaluate(x, y).
_PAIR_HINT = ("inputs and targets go in as one argument, the pair (x, y): Keras' "
              "fit(x, y, epochs=5) is fit((x, y), epochs=5) here")


def keras_order_hint(method: Callable) -> Callable:
    """``method`` (a Trainer's ``fit`` or ``evaluate``), which raises the pair hint when called
    in Keras' order with its second parameter by name, ``fit(x, y, epochs=5)``: Python's own
    error there ("got multiple values for argument 'epochs'") would not say why."""
    second = list(inspect.signature(method).parameters)[2]  # after self and the data

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if (len(args) >= 2 and second in kwargs
                and all(isinstance(a, (np.ndarray, Tensor)) for a in args[:2])):
            raise TypeError(f"Trainer.{method.__name__}: got two arrays before {second}=; "
                            f"{_PAIR_HINT}")
        return method(self, *args, **kwargs)
    return call


def as_dataset(data: Any, what: str) -> Dataset:
    """``data`` (a Dataset, or an (x, y) pair or (x, y, sample_weight) triple of arrays) as a
    Dataset."""
    if isinstance(data, tuple) and len(data) in (2, 3):
        arrays = [np.asarray(a.numpy() if isinstance(a, Tensor) else a) for a in data]
        x, y = arrays[:2]
        if len(x) != len(y):
            raise ValueError(f"Trainer: {what} has {len(x)} inputs but {len(y)} targets")
        if len(arrays) == 3 and (arrays[2].ndim == 0 or len(arrays[2]) != len(x)):
            raise ValueError(f"Trainer: {what} has {len(x)} inputs but "
                             f"{arrays[2].size} sample weights; give one per example")
        data = TensorDataset(*arrays)
    if not isinstance(data, Dataset):
        hint = f"; {_PAIR_HINT}" if isinstance(data, (np.ndarray, Tensor)) else ""
        raise TypeError(f"Trainer: {what} must be a Dataset, a DataLoader or an (x, y) pair "
                        f"or (x, y, sample_weight) triple of arrays; got {type(data).__name__}"
                        f"{hint}")
    return data


def loader_for(data: Any, batch_size: int, shuffle: bool, seed: int | None,
               what: str, method: str) -> DataLoader:
    """``data`` as a DataLoader: a DataLoader as it is, anything else batched afresh (a stream,
    an ``IterableDataset``, in its own order, as Keras reads a generator). The data is checked
    before ``batch_size``: Keras' ``evaluate(x, y)`` puts the targets there."""
    dataset = data if isinstance(data, DataLoader) else as_dataset(data, what)
    batch_size = check_count(method, "batch_size", batch_size)
    if isinstance(dataset, DataLoader):
        return dataset
    return DataLoader(dataset, batch_size=batch_size,
                      shuffle=shuffle and not isinstance(dataset, IterableDataset), seed=seed)


def split_off(train: Any, fraction: float, validation_data: Any) -> tuple[Subset, Subset]:
    """The training data without and with its last ``fraction`` of examples (Keras'
    ``validation_split``: the last examples, taken before any shuffling)."""
    if not 0 < fraction < 1:
        raise ValueError(f"Trainer: validation_split must be between 0 and 1; got {fraction}")
    if validation_data is not None:
        raise ValueError("Trainer: give validation_data or validation_split, not both")
    if isinstance(train, DataLoader):
        raise TypeError("Trainer: validation_split needs the training data as a Dataset or "
                        "an (x, y) pair, not a DataLoader; pass validation_data instead")
    dataset = as_dataset(train, "train")
    total = len(dataset)
    split_at = math.ceil(total * (1 - fraction))
    if not 0 < split_at < total:
        raise ValueError(f"Trainer: validation_split={fraction} of {total} examples leaves "
                         f"{split_at} to train on and {total - split_at} to validate on; "
                         f"both need at least one")
    return Subset(dataset, range(split_at)), Subset(dataset, range(split_at, total))


__all__ = ["as_dataset", "check_count", "check_validation_freq", "hard_labels", "loader_for",
           "split_off"]
