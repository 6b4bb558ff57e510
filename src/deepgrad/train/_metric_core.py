"""What the functional and the streaming metrics share: reading and checking outputs and
targets (read as :mod:`deepgrad.train.metrics` describes), and the counts each metric is
computed from."""

from __future__ import annotations

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
