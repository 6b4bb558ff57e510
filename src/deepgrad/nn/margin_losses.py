"""Margin and ranking losses (PyTorch's ``F.margin_ranking_loss``, ``F.hinge_embedding_loss``,
``F.soft_margin_loss``, ``F.multilabel_soft_margin_loss``, ``F.multi_margin_loss``,
``F.triplet_margin_loss`` and ``F.triplet_margin_with_distance_loss``).

Each is PyTorch's formula written with differentiable ops (clamp, where, softplus, gather,
pairwise_distance), so its gradients are theirs; none is a hot path that would pay for a fused
node. As in :mod:`deepgrad.nn.losses`, inputs and targets must have the same shapes (no silent
broadcasting).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn._loss_args import (
    _check_input,
    _constant,
    _position,
    check_number,
    check_reduction,
)
from deepgrad.ops.activations import clamp, softplus
from deepgrad.ops.distance import pairwise_distance
from deepgrad.ops.indexing import gather, minimum, where
from deepgrad.ops.smooth import logsigmoid
from deepgrad.tensor import Tensor, to_array


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _target(op: str, target: Any, like: Tensor, name: str = "target") -> Tensor:
    """The target as a Tensor of the input's shape: a float Tensor keeps its graph, anything
    else (labels such as 1 and -1, arrays) becomes a constant of the input's dtype."""
    if isinstance(target, Tensor) and target.data.dtype.kind == "f":
        t = target
    else:
        a = target.data if isinstance(target, Tensor) else to_array(target)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{op}: {name} must hold numbers; got dtype {a.dtype}")
        t = Tensor._make(a.astype(like.data.dtype))
    if t.shape != like.shape:
        raise ShapeError(f"{op}: {name} shape {shape_str(t.shape)} differs from input shape "
                         f"{shape_str(like.shape)}; losses here do not broadcast them")
    return t


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``: target 1 says input1 should rank
    higher, -1 that input2 should.

    Args:
        input1: scores, any shape, floating point.
        input2: scores of the same shape.
        target: 1 or -1 per pair, the same shape.
        margin: how far apart the scores must be to cost nothing.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "margin_ranking_loss"
    check_reduction(op, reduction)
    a, b = _check_input(op, input1, "input1"), _check_input(op, input2, "input2")
    if a.shape != b.shape:
        raise ShapeError(f"{op}: input1 and input2 must have the same shape; got "
                         f"{shape_str(a.shape)} and {shape_str(b.shape)}")
    t = _target(op, target, input1)
    margin = check_number(op, "margin", margin, -math.inf)
    return _reduce(clamp(-t * (input1 - input2) + margin, min=0), reduction)


def hinge_embedding_loss(input: Tensor, target: Any, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    """``input`` where the target is 1, ``max(0, margin - input)`` where it is -1 (the input is
    usually a distance between a pair); PyTorch's sum of both terms for other target values.

    Args:
        input: floating point, any shape.
        target: 1 or -1, the input's shape.
        margin: the distance beyond which dissimilar pairs cost nothing.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "hinge_embedding_loss"
    check_reduction(op, reduction)
    _check_input(op, input)
    t = _target(op, target, input).data
    margin = check_number(op, "margin", margin, -math.inf)
    loss = where(t != 1, clamp(margin - input, min=0), 0.0) + where(t != -1, input, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))``, target 1 or -1.

    Args:
        input: floating point, any shape.
        target: 1 or -1, the input's shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "soft_margin_loss"
    check_reduction(op, reduction)
    _check_input(op, input)
    t = _target(op, target, input)
    # An infinite threshold keeps the stable log(1 + exp(z)) everywhere, as PyTorch's log1p(exp).
    return _reduce(softplus(-t * input, 1.0, math.inf), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Any, weight: Any = None,
                                reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of logits per class, averaged over the C classes of each example:
    ``-mean_c(target * logsigmoid(input) + (1 - target) * logsigmoid(-input)) * weight``.

    Args:
        input: logits (N, C) or (C,).
        target: 0 or 1 per class, the input's shape.
        weight: optional per-class weights that broadcast to the input's shape, e.g. (C,).
        reduction: ``'mean'`` (default, over the examples), ``'sum'`` or ``'none'`` ((N,)).
    """
    op = "multilabel_soft_margin_loss"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    if x.ndim not in (1, 2):
        raise ShapeError(f"{op}: expects input (N, C) or (C,); got {shape_str(x.shape)}")
    t = _target(op, target, input)
    loss = -(t * logsigmoid(input) + (1 - t) * logsigmoid(-input))
    if weight is not None:
        if not isinstance(weight, Tensor):
            weight = Tensor._make(to_array(weight).astype(x.dtype))
        if xp.broadcast_shapes(weight.shape, x.shape) != x.shape:
            raise ShapeError(f"{op}: weight of shape {shape_str(weight.shape)} does not "
                             f"broadcast to the input's shape {shape_str(x.shape)}")
        loss = loss * weight
    return _reduce(loss.mean(dim=-1), reduction)


def _class_indices(op: str, target: Any, x: Any) -> Any:
    """Integer class indices (N,) for an (N, C) input, () for (C,), each in [0, C)."""
    t = target.data if isinstance(target, Tensor) else to_array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices; got dtype {t.dtype}")
    if t.shape != x.shape[:-1]:
        raise ShapeError(f"{op}: target must have shape {shape_str(x.shape[:-1])} for input "
                         f"{shape_str(x.shape)}; got {shape_str(t.shape)}")
    classes = x.shape[-1]
    wrong = (t < 0) | (t >= classes)
    if wrong.any():
        flat = int(xp.flatnonzero(wrong)[0]) if t.ndim else 0
        raise ValueError(f"{op}: target must be class indices in [0, {classes - 1}]; got "
                         f"{t.reshape(-1)[flat].item()} at position {_position(flat, t.shape)}")
    return t.astype(xp.int64)


def multi_margin_loss(input: Tensor, target: Any, p: int = 1, margin: float = 1.0,
                      weight: Any = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: for each example of class y,
    ``sum_{i != y} weight[y] * max(0, margin - input[y] + input[i])**p / C``.

    Args:
        input: scores (N, C) or (C,).
        target: class indices (N,) or ().
        p: 1 or 2.
        margin: the score gap that costs nothing.
        weight: optional per-class weights (C,), not differentiated.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "multi_margin_loss"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ShapeError(f"{op}: expects input (N, C) or (C,) with C > 0; got "
                         f"{shape_str(x.shape)}")
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"{op}: p must be 1 or 2; got {p!r}")
    margin = check_number(op, "margin", margin, -math.inf)
    t = _class_indices(op, target, x)
    w = _constant(op, "weight", weight, x.dtype, shape=x.shape[-1:])
    classes = x.shape[-1]
    picked = gather(input, -1, Tensor._make(t[..., None]))  # the target's score, (N, 1)
    hinge = clamp(margin - picked + input, min=0)
    if p == 2:
        hinge = hinge * hinge
    others = xp.arange(classes) != t[..., None]
    hinge = where(others, hinge, 0.0)
    if w is not None:
        hinge = hinge * w[t][..., None]
    return _reduce(hinge.sum(dim=-1) / classes, reduction)


def _triplet_loss(op: str, anchor: Tensor, positive: Tensor, negative: Tensor,
                  distance: Callable[[Tensor, Tensor], Tensor], margin: float, swap: bool,
                  reduction: str) -> Tensor:
    check_reduction(op, reduction)
    margin = check_number(op, "margin", margin, 0.0, low_open=True)
    shapes = [_check_input(op, value, name).shape for value, name in
              ((anchor, "anchor"), (positive, "positive"), (negative, "negative"))]
    if len({len(shape) for shape in shapes}) != 1:
        raise ShapeError(f"{op}: anchor, positive and negative must have the same number of "
                         f"dims; got {', '.join(map(shape_str, shapes))}")
    to_positive, to_negative = distance(anchor, positive), distance(anchor, negative)
    if swap:
        to_negative = minimum(to_negative, distance(positive, negative))
    return _reduce(clamp(margin + to_positive - to_negative, min=0), reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                        reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))``, d the p-norm
    :func:`~deepgrad.ops.distance.pairwise_distance` with ``eps``.

    Args:
        anchor: embeddings (N, D) or (D,).
        positive: embeddings of the anchor's class, the same shape.
        negative: embeddings of another class, the same shape.
        margin: > 0.
        p: the order of the norm.
        eps: added to the differences (so that equal vectors have a gradient).
        swap: use min(d(anchor, negative), d(positive, negative)) (Balntas et al., 2016).
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "triplet_margin_loss"
    p = check_number(op, "p", p, 0.0, low_open=True)

    def distance(x1: Tensor, x2: Tensor) -> Tensor:
        return pairwise_distance(x1, x2, p, eps)

    return _triplet_loss(op, anchor, positive, negative, distance, margin, swap, reduction)


def triplet_margin_with_distance_loss(
        anchor: Tensor, positive: Tensor, negative: Tensor, *,
        distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
        margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` for any distance ``d``.

    Args:
        anchor: embeddings (N, D) or (D,).
        positive: embeddings of the anchor's class, the same number of dims.
        negative: embeddings of another class, the same number of dims.
        distance_function: (x1, x2) -> non-negative distances; None for the Euclidean
            :func:`~deepgrad.ops.distance.pairwise_distance`.
        margin: > 0.
        swap: use min(d(anchor, negative), d(positive, negative)).
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    return _triplet_loss("triplet_margin_with_distance_loss", anchor, positive, negative,
                         distance_function or pairwise_distance, margin, swap, reduction)


__all__ = [
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
