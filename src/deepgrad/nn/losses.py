"""Loss functions (PyTorch's ``torch.nn.functional`` losses): how wrong an output is, as a number.

Each loss is one fused graph node, except the cosine embedding loss (written from Tensor ops):
cross-entropy (log-softmax, pick, reduce) and binary cross-entropy with logits are stable for
any logits, and the regression losses share one node, so that an RL step's ``mse_loss`` on 128
values costs one op instead of three.

Shapes are stricter than PyTorch's: where torch broadcasts an input and a target of different
shapes with a warning (``(N, 1)`` against ``(N,)`` gives an ``(N, N)`` loss, a classic silent
bug), these losses raise a ShapeError.

The classification losses are in :mod:`deepgrad.nn.classification_losses`, the margin and
ranking losses in :mod:`deepgrad.nn.margin_losses`, the Poisson and Gaussian likelihoods in
:mod:`deepgrad.nn.likelihood_losses` and the argument checks in :mod:`deepgrad.nn._loss_args`;
every loss is importable from here.
"""

from __future__ import annotations

import warnings
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn._loss_args import (
    _check_input,
    _constant,
    _float_target,
    _position,
    check_number,
    check_reduction,
)
from deepgrad.nn.classification_losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    nll_loss,
)
from deepgrad.nn.likelihood_losses import gaussian_nll_loss, poisson_nll_loss
from deepgrad.nn.margin_losses import (
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from deepgrad.ops.activations import clamp
from deepgrad.ops.indexing import where
from deepgrad.ops.losses import KLDiv, Pointwise
from deepgrad.tensor import Tensor, to_array

_COSINE_EPS = 1e-12  # PyTorch's epsilon under the squared norms of cosine_embedding_loss


# ----------------------------------------------------------------------------- regression
def _pointwise(op: str, kind: str, input: Tensor, target: Any, reduction: str, param: float,
               weight: Any) -> Tensor:
    check_reduction(op, reduction)
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    w = _constant(op, "weight", weight, xp.result_type(x, t.data), shape=x.shape)
    return Pointwise.apply(input, t, weight=w, kind=kind, param=param, reduction=reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error ``(input - target)**2``, reduced (PyTorch's ``F.mse_loss``).

    Input and target must have the same shape: unlike PyTorch (which broadcasts with a warning,
    so that (N, 1) against (N,) silently gives an (N, N) loss), a mismatch raises a ShapeError.

    Args:
        input: the predictions, floating point.
        target: the values to match, floating point, of the same shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'`` (the elementwise losses).
        weight: optional per-element weights of the input's shape (not differentiated); the mean
            then divides by ``weight.sum()``, as in PyTorch.
    """
    return _pointwise("mse_loss", "mse", input, target, reduction, 0.0, weight)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean absolute error ``|input - target|`` (PyTorch's ``F.l1_loss``); see :func:`mse_loss`
    for the arguments and the strict shapes."""
    return _pointwise("l1_loss", "l1", input, target, reduction, 0.0, weight)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0,
               weight: Any = None) -> Tensor:
    """Huber loss (PyTorch's ``F.huber_loss``): ``d**2 / 2`` where ``|d| < delta``, else
    ``delta * (|d| - delta / 2)``, with ``d = input - target`` and ``delta > 0``; see
    :func:`mse_loss` for the other arguments and the strict shapes (but with ``weight`` the mean
    divides by the number of elements, as PyTorch's does for this loss)."""
    delta = check_number("huber_loss", "delta", delta, 0.0, low_open=True)
    return _pointwise("huber_loss", "huber", input, target, reduction, delta, weight)


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Smooth L1 loss (PyTorch's ``F.smooth_l1_loss``): ``d**2 / (2 * beta)`` where
    ``|d| < beta``, else ``|d| - beta / 2``; ``beta = 0`` is the L1 loss. Input and target must
    have the same shape (see :func:`mse_loss`)."""
    beta = check_number("smooth_l1_loss", "beta", beta, 0.0)
    return _pointwise("smooth_l1_loss", "smooth_l1" if beta else "l1", input, target, reduction,
                      beta, None)


# ----------------------------------------------------------------------------- distributions
def kl_div(input: Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from the distribution with log-probabilities
    ``input`` (PyTorch's ``F.kl_div``): ``target * (log(target) - input)`` elementwise.

    Args:
        input: log-probabilities.
        target: probabilities (log-probabilities with ``log_target``) of the input's shape.
        reduction: ``'mean'`` (default, over all elements: warns, as PyTorch), ``'batchmean'``
            (the sum divided by the batch size: the KL divergence per example), ``'sum'`` or
            ``'none'``.
        log_target: whether ``target`` holds log-probabilities.
    """
    op = "kl_div"
    check_reduction(op, reduction, ("mean", "batchmean", "sum", "none"))
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides by the number of elements, not by the "
                      "batch size; reduction='batchmean' gives the KL divergence per example",
                      UserWarning, stacklevel=2)
    count = x.size if reduction == "mean" else x.shape[0] if x.ndim else 1
    return KLDiv.apply(input, t, log_target=bool(log_target), count=count,
                       reduction="mean" if reduction == "batchmean" else reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """Cosine embedding loss (PyTorch's ``F.cosine_embedding_loss``): ``1 - cos(x1, x2)`` where
    the target is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1.

    Args:
        input1: (N, D) or (D,), floating point.
        input2: the same shape as ``input1``.
        target: 1 or -1 for each pair: shape (N,) (or () for one pair); other values raise
            (PyTorch would silently count them as 0).
        margin: a number; PyTorch suggests 0 to 0.5.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "cosine_embedding_loss"
    check_reduction(op, reduction)
    a = _check_input(op, input1, "input1")
    b = _check_input(op, input2, "input2")
    if a.ndim not in (1, 2) or a.shape != b.shape:
        raise ShapeError(f"{op}: expects input1 and input2 of the same shape (N, D) or (D,); got "
                         f"{shape_str(a.shape)} and {shape_str(b.shape)}")
    t = to_array(target)
    if t.shape != a.shape[:-1]:
        raise ShapeError(f"{op}: target must have shape {shape_str(a.shape[:-1])} for inputs of "
                         f"shape {shape_str(a.shape)}; got {shape_str(t.shape)}")
    positive = t == 1
    wrong = ~(positive | (t == -1))
    if wrong.any():
        flat = int(xp.flatnonzero(wrong)[0])
        raise ValueError(f"{op}: target must hold 1 (similar) or -1 (dissimilar); got "
                         f"{t.flat[flat].item()!r} at position {_position(flat, t.shape)}")
    margin = check_number(op, "margin", margin, -float("inf"))
    dot = (input1 * input2).sum(dim=-1)
    norms = ((input1 * input1).sum(dim=-1) + _COSINE_EPS) * \
        ((input2 * input2).sum(dim=-1) + _COSINE_EPS)
    cos = dot / norms.sqrt()
    losses = where(positive, 1 - cos, clamp(cos - margin, min=0))
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
