"""What a network learned, as pictures: its first layer's filters as an image grid, and its
penultimate features projected to 2-D by PCA, one color per class.

    plot_filters(model, "filters.png")                   # the first Conv2d's kernels
    features = embeddings(model, x_test)                 # model.embed in eval mode, no grad
    plot_embedding(features, y_test, "embedding.png", class_names=FashionMNIST.classes)

matplotlib (the ``[plot]`` extra) is imported only inside the plotting functions, which draw
without pyplot and write each PNG atomically, as :mod:`deepgrad.train.plots` does. The PCA is
NumPy's SVD.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.nn.conv import Conv2d
from deepgrad.nn.module import Module
from deepgrad.tensor import Tensor
from deepgrad.train.plots import _as_array, _figure, _png_path, _save


def _first_conv_weight(model: Module) -> Any:
    for _, module in model.named_modules():
        if isinstance(module, Conv2d):
            return module.weight.data
    raise ValueError(f"plot_filters: {type(model).__name__} has no Conv2d layer")


def _mosaic(weight: Any, columns: int) -> Any:
    """(O, C, kH, kW) filters as one (rows * (kH + 1) - 1, columns * (kW + 1) - 1[, 3]) image,
    each filter min-max scaled to [0, 1] on its own, NaN in the one-pixel gaps."""
    count, channels, height, width = weight.shape
    low = weight.min(axis=(1, 2, 3), keepdims=True)
    span = weight.max(axis=(1, 2, 3), keepdims=True) - low
    # A constant filter has no pattern to show: mid-gray rather than a division by zero.
    scaled = xp.where(span > 0, (weight - low) / xp.where(span > 0, span, 1.0), 0.5)
    rows = math.ceil(count / columns)
    image = xp.full((channels, rows * (height + 1) - 1, columns * (width + 1) - 1), xp.nan)
    for index in range(count):
        top, left = (index // columns) * (height + 1), (index % columns) * (width + 1)
        image[:, top:top + height, left:left + width] = scaled[index]
    return image[0] if channels == 1 else image.transpose(1, 2, 0)


def plot_filters(model_or_weight: Module | Any, path: str | os.PathLike,
                 title: str | None = None) -> Path:
    """The kernels of a model's first ``Conv2d`` (or of a weight array) as a grid of small
    images, each scaled to its own range: light = large weights.

    Args:
        model_or_weight: a Module (its first Conv2d in ``named_modules`` order is drawn), or
            a weight (O, C, kH, kW) with C = 1 (grayscale) or 3 (RGB).
        path: the ``.png`` file to write.
        title: the figure's title; default names the layer's shape.

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    if isinstance(model_or_weight, Module):
        weight = _first_conv_weight(model_or_weight)
    else:
        weight = _as_array(model_or_weight)
    weight = xp.asarray(weight, dtype=xp.float64)
    if weight.ndim != 4 or weight.shape[1] not in (1, 3) or weight.shape[0] == 0:
        raise ShapeError(f"plot_filters: expects convolution weights (O, C, kH, kW) with O >= 1 "
                         f"and C = 1 (grayscale) or 3 (RGB); got {shape_str(weight.shape)}")
    target = _png_path(path, "plot_filters")
    count = weight.shape[0]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    image = _mosaic(weight, columns)
    side = 0.55 * max(columns, rows) + 1.0
    figure = _figure("plot_filters", figsize=(max(3.0, side), max(3.0, side + 0.3)),
                     layout="constrained")
    ax = figure.subplots()
    if image.ndim == 2:
        from matplotlib import colormaps

        colormap = colormaps["gray"].with_extremes(bad="white")
        ax.imshow(xp.ma.masked_invalid(image), cmap=colormap, vmin=0, vmax=1,
                  interpolation="nearest")
    else:
        ax.imshow(xp.nan_to_num(image, nan=1.0), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"first-layer filters {shape_str(weight.shape)}", fontsize="medium")
    return _save(figure, target)


def pca(features: Any, n_components: int = 2) -> tuple[Any, Any]:
    """Principal component analysis by SVD of the centered features.

    Args:
        features: (N, D) array or Tensor (more dimensions are flattened to D).
        n_components: how many components to keep, at most min(N, D).

    Returns:
        ``(projected, explained)``: the coordinates (N, n_components) along the principal
        axes, each axis's sign chosen so that its largest loading is positive (the same data
        gives the same picture), and the fraction of the variance each axis explains.
    """
    array = _as_array(features)
    if array.ndim < 2 or array.shape[0] < 2:
        raise ShapeError(f"pca: features must be (N, D) with N >= 2 examples; got "
                         f"{shape_str(array.shape)}")
    array = array.reshape(array.shape[0], -1).astype(xp.float64)
    limit = min(array.shape)
    if isinstance(n_components, bool) or not isinstance(n_components, int) or \
            not 1 <= n_components <= limit:
        raise ValueError(f"pca: n_components must be an integer in [1, {limit}] for features "
                         f"of shape {shape_str(array.shape)}; got {n_components!r}")
    centered = array - array.mean(axis=0)
    _, singular, axes = xp.linalg.svd(centered, full_matrices=False)
    axes = axes[:n_components]
    largest = xp.abs(axes).argmax(axis=1)
    axes = axes * xp.sign(axes[xp.arange(n_components), largest])[:, None]
    variance = singular ** 2
    total = variance.sum()
    explained = variance[:n_components] / total if total > 0 else xp.zeros(n_components)
    return centered @ axes.T, explained


def plot_embedding(features: Any, labels: Any, path: str | os.PathLike,
                   class_names: Sequence[Any] | None = None, title: str | None = None) -> Path:
    """Features projected on their first two principal components, one color per class: the
    classes a network separates form separate clouds.

    Args:
        features: (N, D) features (e.g. from :func:`embeddings`).
        labels: (N,) class indices >= 0.
        path: the ``.png`` file to write.
        class_names: names indexed by class (legend), or None for the indices.
        title: the figure's title.

    Returns:
        The path written, as a ``pathlib.Path``.
    """
    points, explained = pca(features, 2)
    classes = _as_array(labels)
    if classes.ndim != 1 or classes.shape[0] != points.shape[0]:
        raise ShapeError(f"plot_embedding: labels must be (N,) = ({points.shape[0]},) like the "
                         f"features' first dimension; got {shape_str(classes.shape)}")
    if classes.dtype.kind not in "iu" or classes.min() < 0:
        raise ValueError("plot_embedding: labels must be class indices (integers >= 0)")
    present = [int(c) for c in xp.unique(classes)]
    if class_names is not None and len(class_names) <= present[-1]:
        raise ValueError(f"plot_embedding: got {len(class_names)} class names, but the labels "
                         f"go up to {present[-1]}")
    target = _png_path(path, "plot_embedding")
    figure = _figure("plot_embedding", figsize=(6.5, 5.0), layout="constrained")
    ax = figure.subplots()
    for number, label in enumerate(present):
        chosen = classes == label
        name = str(class_names[label]) if class_names is not None else str(label)
        ax.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, linewidths=0,
                   color=f"C{number % 10}", label=name)
    ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f}% of the variance)")
    ax.set_title(title or f"features of {points.shape[0]} examples (PCA)", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", markerscale=2.5, loc="best")
    return _save(figure, target)


def embeddings(model: Module, x: Any, batch_size: int = 256) -> Any:
    """A model's penultimate features (``model.embed``, or its output when it has no ``embed``,
    as for a :class:`~deepgrad.nn.utils.transfer.FeatureExtractor`) for inputs ``x`` (N, ...),
    computed in eval mode without grad, in batches. The model's mode is restored after.

    Returns:
        A NumPy array (N, ...) of the features.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"embeddings: batch_size must be a positive integer; got {batch_size!r}")
    inputs = _as_array(x)
    embed = getattr(model, "embed", model)
    dtype = next((p.data.dtype for p in model.parameters()), inputs.dtype)
    if inputs.dtype.kind == "f":
        inputs = inputs.astype(dtype, copy=False)
    # Each module's own flag is restored: a user may keep some layers in eval mode on purpose.
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with no_grad():
            parts = [embed(Tensor(inputs[start:start + batch_size])).numpy()
                     for start in range(0, inputs.shape[0], batch_size)]
    finally:
        for module, training in modes:
            module.training = training
    if not parts:
        raise ShapeError("embeddings: x holds no examples")
    return xp.concatenate(parts)


__all__ = ["embeddings", "pca", "plot_embedding", "plot_filters"]
