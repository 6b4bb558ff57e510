"""Plots of a training run: learning curves, a confusion matrix, misclassified images.

matplotlib (the ``[plot]`` extra) is imported only inside these functions. They draw on a
``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot, so the user's global
backend and open figures are left alone. Each writes one PNG atomically (a temporary file in the
same directory, flushed, fsynced, then renamed over the target) and returns its path.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor
from deepgrad.train._metric_core import _check_range, _classify

_COLUMNS = 3  # learning-curve panels per row
_MAX_ANNOTATED_CLASSES = 30  # above this, cell counts would be unreadable


def _figure(where: str, **kwargs: Any) -> Any:
    """A new Figure attached to an Agg canvas, or an ImportError saying how to get matplotlib."""
    try:
        # The package first: with ``sys.modules['matplotlib'] = None`` a cached submodule
        # would still import.
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"{where} needs matplotlib; install with pip install "
                          "'deepgrad[plot]'") from err
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def _png_path(path: str | os.PathLike, where: str) -> Path:
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ValueError(f"{where}: writes PNG files; the path must end in .png, got "
                         f"{str(target)!r}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{where}: directory {str(target.parent)!r} does not exist "
                                f"(for {str(target)!r})")
    return target


def _save(figure: Any, target: Path) -> Path:
    """Write the figure as PNG to a temporary file beside ``target``, then rename it over."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format="png")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
    return target


def _as_array(x: Any) -> Any:
    return x.numpy() if isinstance(x, Tensor) else xp.asarray(x)


def _series(history: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Each history entry as a float array: (epochs,) or (epochs, K) for per-class values."""
    if not isinstance(history, Mapping) or not history:
        raise ValueError("plot_history: history must be a non-empty dict of metric name -> "
                         f"list of per-epoch values; got {history!r}")
    series = {}
    for key, values in history.items():
        try:
            array = xp.asarray([xp.nan if v is None else _as_array(v) for v in values],
                               dtype=xp.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"plot_history: history[{key!r}] must be a list of numbers (or of "
                             f"equal-length arrays); got {values!r}") from err
        if array.ndim not in (1, 2):
            raise ValueError(f"plot_history: history[{key!r}] must hold one number (or one "
                             f"vector) per epoch; got values of shape "
                             f"{shape_str(array.shape[1:])}")
        series[key] = array
    return series


def plot_history(history: Mapping[str, Sequence[Any]], path: str | os.PathLike) -> Path:
    """Learning curves, one panel per metric: training (``'loss'``) against validation
    (``'val_loss'``, Keras style) over epochs 1, 2, ...; a metric with one value per class
    draws one line per class.

    Args:
        history: metric name -> list of per-epoch values (None or nan leaves a gap).
        path: the ``.png`` file to write.

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    series = _series(history)
    target = _png_path(path, "plot_history")
    metrics = list(dict.fromkeys(k.removeprefix("val_") for k in series))
    columns = min(len(metrics), _COLUMNS)
    rows = math.ceil(len(metrics) / columns)
    figure = _figure("plot_history", figsize=(4.5 * columns, 3.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    from matplotlib.ticker import MaxNLocator

    for ax, metric in zip(axes, metrics):
        for key, label, style in ((metric, "train", "-"), ("val_" + metric, "validation", "--")):
            if key not in series:
                continue
            values = series[key]
            epochs = xp.arange(1, values.shape[0] + 1)
            if values.ndim == 1:
                known = xp.isfinite(values)  # connect the epochs that have a value
                ax.plot(epochs[known], values[known], style, marker=".", label=label)
            else:
                for column in range(values.shape[1]):
                    ax.plot(epochs, values[:, column], style, color=f"C{column % 10}",
                            label=f"{label} [{column}]")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    return _save(figure, target)


def _labels(labels: Sequence[Any] | None, count: int, where: str, needed: str) -> list[str]:
    if labels is None:
        return [str(i) for i in range(count)]
    names = [str(label) for label in labels]
    if len(names) < count or (needed == "exactly" and len(names) != count):
        raise ValueError(f"{where}: got {len(names)} labels, but {needed} {count} are needed")
    return names


def plot_confusion_matrix(cm: Any, labels: Sequence[Any] | None, path: str | os.PathLike,
                          normalize: bool = False) -> Path:
    """A confusion matrix as a heat map, rows = true class, columns = predicted, with the count
    (or the row fraction when ``normalize``) written in each cell up to 30 classes.

    Args:
        cm: (C, C) counts, e.g. from :func:`deepgrad.train.metrics.confusion_matrix`.
        labels: C class names, or None for 0 .. C-1.
        path: the ``.png`` file to write.
        normalize: divide each row by its total (the recall of each class on the diagonal).

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    matrix = _as_array(cm)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ShapeError(f"plot_confusion_matrix: cm must be a square (C, C) matrix; got "
                         f"{shape_str(matrix.shape)}")
    if matrix.dtype.kind not in "biuf" or (matrix.size and matrix.min() < 0):
        raise ValueError("plot_confusion_matrix: cm must hold non-negative counts")
    classes = matrix.shape[0]
    names = _labels(labels, classes, "plot_confusion_matrix", "exactly")
    target = _png_path(path, "plot_confusion_matrix")
    values = matrix.astype(xp.float64)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        xp.divide(values, totals, out=values, where=totals != 0)
    side = min(max(4.0, 0.45 * classes + 2.5), 20.0)
    figure = _figure("plot_confusion_matrix", figsize=(side + 1.0, side), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0, interpolation="nearest")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = xp.arange(classes)
    ax.set_xticks(ticks, names, rotation=45 if classes > 4 else 0, ha="right" if classes > 4
                  else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (rows normalized)" if normalize else ""))
    if classes <= _MAX_ANNOTATED_CLASSES:
        dark = values > 0.5 * (values.max() or 1.0)
        size = "medium" if classes <= 10 else "small" if classes <= 20 else "x-small"
        for i in range(classes):
            for j in range(classes):
                text = f"{values[i, j]:.2f}" if normalize else f"{int(matrix[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=size,
                        color="white" if dark[i, j] else "black")
    return _save(figure, target)


def _images(images: Any) -> Any:
    """(N, H, W) grayscale or (N, C, H, W) with C = 1 or 3, as (N, H, W) or (N, H, W, 3)."""
    array = _as_array(images)
    if array.ndim == 4 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim == 4 and array.shape[1] == 3:
        return array.transpose(0, 2, 3, 1)
    if array.ndim == 3:
        return array
    raise ShapeError(f"plot_misclassified: images must have shape (N, H, W) or (N, C, H, W) "
                     f"with C = 1 or 3; got {shape_str(array.shape)}")


def _displayable(image: Any) -> Any:
    """RGB as imshow wants it: floats in [0, 1] (normalized data is rescaled) or uint8."""
    if image.ndim == 2 or image.dtype == xp.uint8:
        return image
    image = image.astype(xp.float64)
    low, high = image.min(), image.max()
    if low >= 0 and high <= 1:
        return image
    return (image - low) / (high - low) if high > low else xp.zeros_like(image)


def plot_misclassified(images: Any, predictions: Any, targets: Any,
                       labels: Sequence[Any] | None, path: str | os.PathLike,
                       max_images: int = 25) -> Path:
    """A grid of the first ``max_images`` misclassified images titled "predicted / true".

    Args:
        images: (N, H, W) grayscale or (N, C, H, W) with C = 1 or 3.
        predictions: predicted labels (N,) or scores (N, C) (argmax taken).
        targets: true class indices (N,).
        labels: class names indexed by class, or None for the indices.
        path: the ``.png`` file to write.
        max_images: at most this many images are drawn.

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    if not isinstance(max_images, int) or max_images < 1:
        raise ValueError(f"plot_misclassified: max_images must be a positive int; got "
                         f"{max_images!r}")
    pictures = _images(images)
    predicted, true, _, _ = _classify(predictions, targets, "plot_misclassified")
    if pictures.shape[0] != true.shape[0]:
        raise ShapeError(f"plot_misclassified: images have {pictures.shape[0]} rows but "
                         f"targets have {true.shape[0]}")
    for what, classes in (("predictions", predicted), ("targets", true)):
        _check_range(classes, None, "plot_misclassified", what, "class indices must be >= 0")
    highest = int(max(predicted.max(initial=0), true.max(initial=0)))
    names = _labels(labels, highest + 1, "plot_misclassified", "at least")
    target = _png_path(path, "plot_misclassified")
    wrong = xp.flatnonzero(predicted != true)[:max_images]
    columns = max(1, math.ceil(math.sqrt(wrong.size)))
    rows = max(1, math.ceil(wrong.size / columns))
    size = (1.9 * columns, 2.1 * rows + 0.4) if wrong.size else (5.0, 2.0)
    figure = _figure("plot_misclassified", figsize=size, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, index in zip(axes, wrong):
        image = _displayable(pictures[index])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_title(f"{names[predicted[index]]} / {names[true[index]]}", fontsize="small",
                     color="tab:red")
    for ax in axes:
        ax.set_axis_off()
    if wrong.size:
        figure.suptitle(f"misclassified: predicted / true ({wrong.size} shown of "
                        f"{int(xp.count_nonzero(predicted != true))})")
    else:
        axes[0].text(0.5, 0.5, f"no misclassified images among {true.shape[0]}",
                     ha="center", va="center", transform=axes[0].transAxes)
    return _save(figure, target)
