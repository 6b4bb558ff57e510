"""Streaming metrics: ``update`` once per batch, ``result`` at the end of the epoch; each gives
exactly its functional counterpart in :mod:`deepgrad.train.metrics` on all batches at once."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.train._metric_core import (
    _array,
    _check_average,
    _check_k,
    _check_num_classes,
    _classify,
    _confusion,
    _prf_from_matrix,
    _r2_from_sums,
    _regression,
    _top_k_hits,
)


def _copy(value: Any) -> Any:
    return xp.array(value) if isinstance(value, xp.ndarray) else value


class Metric(abc.ABC):
    """A metric accumulated batch by batch: ``update`` per batch, ``result`` at the end of the
    epoch, ``reset`` before the next. ``name`` is its key in logs and history."""

    name = "metric"
    _state: tuple[str, ...] = ()  # the attributes that hold what was accumulated

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.reset()

    @abc.abstractmethod
    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch of model outputs and targets."""

    @abc.abstractmethod
    def result(self) -> Any:
        """The metric over every sample since the last ``reset``."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every sample seen so far."""

    def state_dict(self) -> dict[str, Any]:
        """What was accumulated (counts, sums; arrays copied), e.g. for a mid-epoch checkpoint."""
        return {key: _copy(getattr(self, key)) for key in self._state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if set(state) != set(self._state):
            raise ValueError(f"{self.name}: state_dict has keys {sorted(state)}; a "
                             f"{type(self).__name__} expects {sorted(self._state)}")
        for key in self._state:
            setattr(self, key, _copy(state[key]))

    def _require_samples(self, count: int) -> None:
        if count == 0:
            raise ValueError(f"{self.name}: no samples yet; call update() with a batch before "
                             "result()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """Streaming :func:`accuracy`."""

    name = "accuracy"
    _state = ("correct", "total")

    def reset(self) -> None:
        """Forget every sample seen so far."""
        self.correct, self.total = 0, 0

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch: scores (N, C), binary logits (N,) or labels (N,), and targets (N,)."""
        predictions, t, _, _ = _classify(outputs, targets, self.name)
        self.correct += int(xp.count_nonzero(predictions == t))
        self.total += t.shape[0]

    def result(self) -> float:
        """Fraction correct over the epoch."""
        self._require_samples(self.total)
        return self.correct / self.total


class TopKAccuracy(Accuracy):
    """Streaming :func:`top_k_accuracy`; named ``top{k}_accuracy``."""

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        _check_k(k, "TopKAccuracy")
        self.k = k
        super().__init__(name if name is not None else f"top{k}_accuracy")

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch of scores (N, C) and targets (N,)."""
        hits = _top_k_hits(outputs, targets, self.k, self.name)
        self.correct += int(xp.count_nonzero(hits))
        self.total += hits.shape[0]


class ConfusionMatrix(Metric):
    """Streaming :func:`confusion_matrix`. ``num_classes`` defaults to C of the first scores
    seen (2 for binary logits); with labels only, the matrix grows to the largest label."""

    name = "confusion_matrix"
    _state = ("num_classes", "matrix")

    def __init__(self, num_classes: int | None = None, name: str | None = None) -> None:
        _check_num_classes(num_classes, "ConfusionMatrix")
        self._given_classes = num_classes
        super().__init__(name)

    def reset(self) -> None:
        """Forget every sample seen so far (and an inferred ``num_classes``)."""
        self.num_classes = self._given_classes
        self.matrix = xp.zeros((self.num_classes or 0,) * 2, dtype=xp.int64)

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch: scores (N, C), binary logits (N,) or labels (N,), and targets (N,)."""
        predictions, t, implied, source = _classify(outputs, targets, self.name)
        if self._given_classes is None and implied is not None:
            if self.num_classes is None:
                self.num_classes = implied
            elif implied != self.num_classes:
                raise ShapeError(f"{self.name}: earlier batches had {self.num_classes} classes, "
                                 f"but {source}")
        counts = _confusion(predictions, t, self.num_classes, implied, source, self.name)
        if counts.shape[0] > self.matrix.shape[0]:
            counts[: self.matrix.shape[0], : self.matrix.shape[0]] += self.matrix
            self.matrix = counts
        else:
            self.matrix[: counts.shape[0], : counts.shape[0]] += counts

    def result(self) -> Any:
        """The (C, C) int64 counts, rows = true class, columns = predicted (a copy)."""
        self._require_samples(int(self.matrix.sum()))
        return self.matrix.copy()


class _FromConfusion(Metric):
    """Precision, recall or F1 read off a streaming confusion matrix."""

    _index = 0

    def __init__(self, average: str | None = "macro", num_classes: int | None = None,
                 name: str | None = None) -> None:
        _check_average(average, type(self).__name__)
        self.average = average
        self.confusion = ConfusionMatrix(num_classes, name if name is not None else self.name)
        super().__init__(name)

    def reset(self) -> None:
        """Forget every sample seen so far."""
        self.confusion.reset()

    def state_dict(self) -> dict[str, Any]:
        """The state of the underlying confusion matrix."""
        return self.confusion.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.confusion.load_state_dict(state)

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch: scores (N, C), binary logits (N,) or labels (N,), and targets (N,)."""
        self.confusion.update(outputs, targets)

    def result(self) -> Any:
        """A float, or one value per class (an array) when ``average`` is None."""
        return _prf_from_matrix(self.confusion.result(), self.average, self.name)[self._index]


class Precision(_FromConfusion):
    """Streaming precision tp / (tp + fp); ``average`` as in :func:`precision_recall_f1`."""

    name = "precision"
    _index = 0


class Recall(_FromConfusion):
    """Streaming recall tp / (tp + fn); ``average`` as in :func:`precision_recall_f1`."""

    name = "recall"
    _index = 1


class F1(_FromConfusion):
    """Streaming F1 = 2 tp / (2 tp + fp + fn); ``average`` as in :func:`precision_recall_f1`."""

    name = "f1"
    _index = 2


class MeanAbsoluteError(Metric):
    """Streaming :func:`mean_absolute_error`."""

    name = "mae"
    _state = ("abs_error", "count")

    def reset(self) -> None:
        """Forget every sample seen so far."""
        self.abs_error, self.count = 0.0, 0

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch of predictions and targets, (N,) or (N, D)."""
        o, t = _regression(outputs, targets, self.name)
        self.abs_error += float(xp.abs(o - t).sum(dtype=xp.float64))
        self.count += t.size

    def result(self) -> float:
        """Mean absolute error over the epoch."""
        self._require_samples(self.count)
        return self.abs_error / self.count


class R2Score(Metric):
    """Streaming :func:`r2_score`. Keeps per column the count, mean and sum of squared
    deviations of the targets, merged batch by batch (Chan et al.): exact and stable, unlike
    sum(y**2) - sum(y)**2 / n."""

    name = "r2"
    _state = ("count", "mean", "squares", "residual")

    def reset(self) -> None:
        """Forget every sample seen so far."""
        self.count = 0
        self.mean = self.squares = self.residual = None

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch of predictions and targets, (N,) or (N, D)."""
        o, t = _regression(outputs, targets, self.name)
        rows = t.shape[0]
        if rows == 0:
            return
        if self.mean is not None and self.mean.shape[0] != t.shape[1]:
            raise ShapeError(f"{self.name}: earlier batches had {self.mean.shape[0]} output "
                             f"columns, this one has {t.shape[1]}")
        t64 = t.astype(xp.float64)
        mean = t64.mean(axis=0)
        squares = ((t64 - mean) ** 2).sum(axis=0)
        residual = ((t64 - o) ** 2).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self.squares, self.residual = rows, mean, squares, residual
            return
        total = self.count + rows
        delta = mean - self.mean
        self.squares += squares + delta**2 * (self.count * rows / total)
        self.mean += delta * (rows / total)
        self.residual += residual
        self.count = total

    def result(self) -> float:
        """R² over the epoch (nan below 2 samples)."""
        self._require_samples(self.count)
        return _r2_from_sums(self.residual, self.squares, self.count)


class Mean(Metric):
    """Weighted running mean of a scalar, e.g. the loss with ``weight`` = batch size."""

    name = "mean"
    _state = ("total", "weight")

    def reset(self) -> None:
        """Forget every value seen so far."""
        self.total, self.weight = 0.0, 0.0

    def update(self, value: Any, weight: float = 1.0) -> None:
        """Add ``value`` (a number, 0-d array or one-element Tensor) with ``weight`` >= 0."""
        v = _array(value, self.name, "value")
        if v.size != 1:
            raise ShapeError(f"{self.name}: value must be a single number; got shape "
                             f"{shape_str(v.shape)}")
        if not weight >= 0:
            raise ValueError(f"{self.name}: weight must be >= 0; got {weight!r}")
        self.total += float(v.reshape(())) * weight
        self.weight += weight

    def result(self) -> float:
        """Weighted mean of the values since the last ``reset``."""
        self._require_samples(int(self.weight > 0))
        return self.total / self.weight


# ------------------------------------------------------------------ names
_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy, "top_k_accuracy": TopKAccuracy,
    "precision": Precision, "recall": Recall, "f1": F1, "confusion_matrix": ConfusionMatrix,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "r2": R2Score, "r2_score": R2Score,
}
_TOP_K = re.compile(r"top(\d+)_accuracy")


def get_metric(metric: str | Metric | type[Metric]) -> Metric:
    """A fresh metric for a name (``'accuracy'``/``'acc'``, ``'top5_accuracy'`` or any
    ``'top{k}_accuracy'``, ``'top_k_accuracy'`` (k=5), ``'precision'``, ``'recall'``, ``'f1'``
    (macro), ``'confusion_matrix'``, ``'mae'``, ``'r2'``), an instance of a Metric class, or
    the given Metric itself."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        return metric()
    if not isinstance(metric, str):
        raise TypeError(f"get_metric: expects a metric name or a Metric; got "
                        f"{type(metric).__name__}")
    key = metric.strip().lower()
    top_k = _TOP_K.fullmatch(key)
    if top_k:
        return TopKAccuracy(int(top_k[1]))
    if key in _BY_NAME:
        return _BY_NAME[key]()
    valid = ", ".join(sorted(_BY_NAME))
    raise ValueError(f"get_metric: unknown metric {metric!r}; valid names: {valid}, and "
                     "top{k}_accuracy for any k (e.g. top5_accuracy)")
