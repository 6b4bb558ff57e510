"""Metrics: how good the predictions are, as functions on arrays and as streaming classes.

Functional metrics (``accuracy``, ``confusion_matrix``, ...) score a whole set of predictions at
once. Streaming metrics (``Accuracy``, ``F1``, ...) take one batch at a time in ``update`` and
give in ``result`` exactly the functional value on all batches concatenated: they keep counts
and sums, never per-batch averages, so uneven batches weigh what they should. Both accept NumPy
arrays, array-likes and deepgrad Tensors (read as arrays: no graph is built).

How the classification metrics read ``outputs``:

- scores of shape (N, C), C >= 2 (logits or probabilities): the prediction is the argmax; the
  lowest class index wins a tie, as in ``numpy.argmax``.
- floats of shape (N,) or (N, 1): logits of a binary classifier (what ``BCEWithLogitsLoss``
  trains); the prediction is class 1 where the logit is > 0. Pass probabilities as
  ``probs - 0.5`` or as predicted labels.
- integers or booleans of shape (N,) or (N, 1): predicted class labels.

``targets`` are class indices of shape (N,) or (N, 1): integers, booleans, or floats holding
whole numbers (the 0.0 / 1.0 targets of a binary cross-entropy).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor

_AVERAGES = ("macro", "micro", "weighted", "binary", None)


# ------------------------------------------------------------------ input checks
def _array(x: Any, where: str, what: str) -> Any:
    a = x.numpy() if isinstance(x, Tensor) else xp.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {what} must be numeric; got dtype {a.dtype}")
    return a


def _predictions(outputs: Any, where: str) -> tuple[Any, int | None, str]:
    """Predicted labels (N,) int64, the class count the outputs imply (None for labels), and a
    phrase saying where that count comes from (for error messages)."""
    o = _array(outputs, where, "outputs")
    if o.ndim == 2 and o.shape[1] >= 2:
        classes = o.shape[1]
        return (o.argmax(axis=1), classes,
                f"outputs of shape {shape_str(o.shape)} have {classes} classes")
    if o.ndim == 1 or (o.ndim == 2 and o.shape[1] == 1):
        labels = o.reshape(-1)
        if labels.dtype.kind == "f":
            return ((labels > 0).astype(xp.int64), 2,
                    f"float outputs of shape {shape_str(o.shape)} are binary logits (2 classes)")
        return labels.astype(xp.int64, copy=False), None, ""
    raise ShapeError(f"{where}: outputs must be scores (N, C), binary logits (N,) or (N, 1), or "
                     f"predicted labels (N,); got {shape_str(o.shape)}")


def _targets(targets: Any, rows: int, where: str) -> Any:
    t = _array(targets, where, "targets")
    if t.ndim == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    if t.ndim != 1:
        hint = " (for one-hot targets pass targets.argmax(1))" if t.ndim == 2 else ""
        raise ShapeError(f"{where}: targets must be class indices of shape (N,); got "
                         f"{shape_str(t.shape)}{hint}")
    if t.shape[0] != rows:
        raise ShapeError(f"{where}: outputs have {rows} rows but targets have {t.shape[0]}")
    if t.dtype.kind == "f":
        bad = xp.flatnonzero(~xp.isfinite(t) | (t != xp.floor(t)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{where}: targets must be integer class indices; got {t[i]} at "
                             f"position {i} (dtype {t.dtype})")
    return t.astype(xp.int64, copy=False)


def _check_range(labels: Any, classes: int | None, where: str, what: str, source: str) -> None:
    """Labels must lie in [0, classes), or only be >= 0 when ``classes`` is None."""
    if not labels.size:
        return
    if labels.min() >= 0 and (classes is None or labels.max() < classes):
        return
    out = labels < 0 if classes is None else (labels < 0) | (labels >= classes)
    i = int(xp.flatnonzero(out)[0])
    raise ValueError(f"{where}: {what} has class index {labels[i]} at position {i}, but {source}")


def _classify(outputs: Any, targets: Any, where: str) -> tuple[Any, Any, int | None, str]:
    """Checked (predictions, targets, implied class count, its source) for a classifier."""
    predictions, classes, source = _predictions(outputs, where)
    t = _targets(targets, predictions.shape[0], where)
    if classes is not None:
        _check_range(t, classes, where, "targets", source)
    return predictions, t, classes, source


def _copy(value: Any) -> Any:
    return xp.array(value) if isinstance(value, xp.ndarray) else value


def _nonempty(count: int, where: str) -> None:
    if count == 0:
        raise ValueError(f"{where}: got no samples (outputs and targets are empty)")


def _confusion(predictions: Any, targets: Any, num_classes: int | None, implied: int | None,
               source: str, where: str) -> Any:
    """The (C, C) int64 count matrix, rows = true class, columns = predicted class."""
    if num_classes is None:
        num_classes = implied
    elif implied is not None and implied != num_classes:
        raise ValueError(f"{where}: num_classes is {num_classes}, but {source}")
    if num_classes is None:  # labels only: the largest label seen sets the size
        negative = "class indices must be >= 0"
        _check_range(predictions, None, where, "outputs", negative)
        _check_range(targets, None, where, "targets", negative)
        num_classes = int(max(predictions.max(initial=-1), targets.max(initial=-1))) + 1
    else:
        _check_range(predictions, num_classes, where, "outputs", f"num_classes is {num_classes}")
        _check_range(targets, num_classes, where, "targets", f"num_classes is {num_classes}")
    flat = targets * num_classes
    flat += predictions
    return xp.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes,
                                                                          num_classes)


def _check_num_classes(num_classes: int | None, where: str) -> None:
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"{where}: num_classes must be a positive int or None; got "
                         f"{num_classes!r}")


def _check_average(average: str | None, where: str) -> None:
    if average not in _AVERAGES:
        raise ValueError(f"{where}: average must be one of {_AVERAGES}; got {average!r}")


def _divide(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = xp.zeros(xp.shape(numerator), dtype=xp.float64)
    xp.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _prf_from_matrix(matrix: Any, average: str | None, where: str) -> tuple[Any, Any, Any]:
    tp = xp.diagonal(matrix).astype(xp.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    if average == "micro":  # one label per sample: every metric is the accuracy
        value = float(_divide(tp.sum(), support.sum()))
        return value, value, value
    precision = _divide(tp, predicted)
    recall = _divide(tp, support)
    f1 = _divide(2 * tp, predicted + support)  # = 2PR / (P + R), and 0 where that is 0 / 0
    if average is None:
        return precision, recall, f1
    if average == "binary":
        if matrix.shape[0] > 2:
            raise ValueError(f"{where}: average='binary' needs 2 classes; got {matrix.shape[0]} "
                             "(use 'macro', 'micro', 'weighted' or None)")
        pick = (lambda v: float(v[1])) if matrix.shape[0] == 2 else (lambda v: 0.0)
        return pick(precision), pick(recall), pick(f1)
    if average == "weighted":
        weights = support / support.sum()
    else:  # macro, over the classes present in targets or predictions, as scikit-learn does
        present = (predicted + support) > 0
        weights = present / present.sum()
    return float(precision @ weights), float(recall @ weights), float(f1 @ weights)


def _regression(outputs: Any, targets: Any, where: str) -> tuple[Any, Any]:
    """Outputs and targets as matching (N, D) arrays; (N,) counts as (N, 1)."""
    o, t = _array(outputs, where, "outputs"), _array(targets, where, "targets")
    for what, a in (("outputs", o), ("targets", t)):
        if a.ndim not in (1, 2):
            raise ShapeError(f"{where}: {what} must have shape (N,) or (N, D); got "
                             f"{shape_str(a.shape)}")
    if o.shape[0] != t.shape[0]:
        raise ShapeError(f"{where}: outputs have {o.shape[0]} rows but targets have "
                         f"{t.shape[0]}")
    o2, t2 = (a if a.ndim == 2 else a[:, None] for a in (o, t))
    if o2.shape != t2.shape:
        raise ShapeError(f"{where}: outputs have shape {shape_str(o.shape)} but targets have "
                         f"shape {shape_str(t.shape)}")
    return o2, t2


def _r2_from_sums(residual: Any, total: Any, count: int) -> float:
    """Mean over outputs of 1 - SS_res / SS_tot; a constant target scores 1 if predicted
    exactly, else 0; nan below 2 samples (all as scikit-learn)."""
    if count < 2:
        return float("nan")
    perfect = xp.where(residual == 0, 1.0, 0.0)
    scores = xp.where(total > 0, 1 - _divide(residual, total), perfect)
    return float(scores.mean())


# ------------------------------------------------------------------ functional metrics
def accuracy(outputs: Any, targets: Any) -> float:
    """Fraction of samples whose predicted class equals the target (see the module docstring
    for how outputs are read)."""
    predictions, t, _, _ = _classify(outputs, targets, "accuracy")
    _nonempty(t.shape[0], "accuracy")
    return int(xp.count_nonzero(predictions == t)) / t.shape[0]


def _top_k_hits(outputs: Any, targets: Any, k: int, where: str) -> Any:
    o = _array(outputs, where, "outputs")
    if o.ndim != 2 or o.shape[1] < 2:
        raise ShapeError(f"{where}: outputs must be scores of shape (N, C) with C >= 2; got "
                         f"{shape_str(o.shape)}")
    rows, classes = o.shape
    if k > classes:
        raise ValueError(f"{where}: k={k} is larger than the number of classes: outputs of "
                         f"shape {shape_str(o.shape)} have {classes}")
    t = _targets(targets, rows, where)
    _check_range(t, classes, where, "targets",
                 f"outputs of shape {shape_str(o.shape)} have {classes} classes")
    target_scores = o[xp.arange(rows), t][:, None]
    # The target's rank in a stable descending sort: ties go to the lower index, as argmax does.
    rank = xp.count_nonzero(o > target_scores, axis=1)
    rank += xp.count_nonzero((o == target_scores) & (xp.arange(classes) < t[:, None]), axis=1)
    return rank < k


def _check_k(k: int, where: str) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{where}: k must be a positive int; got {k!r}")


def top_k_accuracy(outputs: Any, targets: Any, k: int = 5) -> float:
    """Fraction of samples whose target is among the ``k`` highest of the (N, C) scores."""
    _check_k(k, "top_k_accuracy")
    hits = _top_k_hits(outputs, targets, k, "top_k_accuracy")
    _nonempty(hits.shape[0], "top_k_accuracy")
    return int(xp.count_nonzero(hits)) / hits.shape[0]


def confusion_matrix(outputs: Any, targets: Any, num_classes: int | None = None) -> Any:
    """Counts of (true, predicted) pairs: ``cm[i, j]`` = samples of class i predicted as j.

    Args:
        outputs: scores (N, C), binary logits (N,) or predicted labels (N,).
        targets: class indices (N,).
        num_classes: size of the matrix; by default C of the scores, 2 for binary logits, or
            the largest label + 1.
    """
    _check_num_classes(num_classes, "confusion_matrix")
    predictions, t, implied, source = _classify(outputs, targets, "confusion_matrix")
    return _confusion(predictions, t, num_classes, implied, source, "confusion_matrix")


def precision_recall_f1(outputs: Any, targets: Any, num_classes: int | None = None,
                        average: str | None = "macro") -> tuple[Any, Any, Any]:
    """Precision, recall and F1 score, with 0 wherever a ratio would be 0 / 0.

    Args:
        outputs, targets, num_classes: as for :func:`confusion_matrix`.
        average: ``'macro'`` (unweighted mean over the classes present in targets or
            predictions, as scikit-learn), ``'weighted'`` (by class support), ``'micro'``
            (global counts: all three equal the accuracy), ``'binary'`` (class 1 of two), or
            None for three arrays with one value per class.
    """
    _check_average(average, "precision_recall_f1")
    matrix = confusion_matrix(outputs, targets, num_classes)
    _nonempty(int(matrix.sum()), "precision_recall_f1")
    return _prf_from_matrix(matrix, average, "precision_recall_f1")


def mean_absolute_error(outputs: Any, targets: Any) -> float:
    """Mean of |outputs - targets| over all elements; (N,) and (N, 1) are interchangeable."""
    o, t = _regression(outputs, targets, "mean_absolute_error")
    _nonempty(t.size, "mean_absolute_error")
    return float(xp.abs(o - t).sum(dtype=xp.float64) / t.size)


def r2_score(outputs: Any, targets: Any) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot, averaged over output columns."""
    o, t = _regression(outputs, targets, "r2_score")
    _nonempty(t.size, "r2_score")
    t64 = t.astype(xp.float64)
    residual = ((t64 - o) ** 2).sum(axis=0)
    total = ((t64 - t64.mean(axis=0)) ** 2).sum(axis=0)
    return _r2_from_sums(residual, total, t.shape[0])


# ------------------------------------------------------------------ streaming metrics
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


_PLOTS = ("plot_confusion_matrix", "plot_misclassified")


def __getattr__(name: str) -> Any:
    # dg.metrics.plot_confusion_matrix(...) as the docs show it; the plotting module imports
    # this one, so it is looked up on first use rather than imported here.
    if name in _PLOTS:
        from deepgrad.train import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
