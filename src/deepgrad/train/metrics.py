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

from typing import Any

from deepgrad.backend import xp
from deepgrad.train._metric_core import (
    _check_average,
    _check_k,
    _check_num_classes,
    _classify,
    _confusion,
    _nonempty,
    _prf_from_matrix,
    _r2_from_sums,
    _regression,
    _top_k_hits,
)
from deepgrad.train._streaming_metrics import (
    F1,
    Accuracy,
    ConfusionMatrix,
    Mean,
    MeanAbsoluteError,
    Metric,
    Precision,
    R2Score,
    Recall,
    TopKAccuracy,
    get_metric,
)


# ------------------------------------------------------------------ functional metrics
def accuracy(outputs: Any, targets: Any) -> float:
    """Fraction of samples whose predicted class equals the target (see the module docstring
    for how outputs are read)."""
    predictions, t, _, _ = _classify(outputs, targets, "accuracy")
    _nonempty(t.shape[0], "accuracy")
    return int(xp.count_nonzero(predictions == t)) / t.shape[0]


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


_PLOTS = ("plot_confusion_matrix", "plot_misclassified")


def __getattr__(name: str) -> Any:
    # dg.metrics.plot_confusion_matrix(...) as the docs show it; the plotting module imports
    # this one, so it is looked up on first use rather than imported here.
    if name in _PLOTS:
        from deepgrad.train import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["F1", "Accuracy", "ConfusionMatrix", "Mean", "MeanAbsoluteError", "Metric", "Precision",
           "R2Score", "Recall", "TopKAccuracy", "accuracy", "confusion_matrix", "get_metric",
           "mean_absolute_error", "precision_recall_f1", "r2_score", "top_k_accuracy"]
