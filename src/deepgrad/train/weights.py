"""Keras' ``class_weight`` and sample weights for ``Trainer.fit``: each example's loss times its
weight, then reduced as Keras 3's default ``"sum_over_batch_size"``::

    loss = sum_i(w_i * l_i) / N        w_i = sample_weight_i * class_weight[class of example i]

N counts the batch's examples, not their weights: an example of weight 0 adds nothing to the sum
but still counts. (PyTorch's ``CrossEntropyLoss(weight=...)`` divides by the summed weights of
the targets instead: for that normalization pass such a loss without ``class_weight``.) Targets
equal to the loss's ``ignore_index`` have a loss of 0 and are not counted in N, as in PyTorch's
mean and Keras' ``ignore_class``; a batch whose targets are all ignored has a loss of 0. A loss
with several elements per example (an (N, D) regression, an (N, H, W) segmentation) weighs each
element by its example's weight, and N counts the elements: each example's loss is the mean of
its elements', as in Keras. So with every weight 1 the loss is the unweighted one (but for the
summed weights of ``CrossEntropyLoss(weight=...)``). A loss module with ``reduction='sum'`` gives
``sum_i(w_i * l_i)``, one with ``'batchmean'`` (``KLDivLoss``) divides by the examples.

The per-example losses come from the loss with ``reduction='none'``: a copy of a loss module (the
user's keeps its settings) or a loss function called with that argument. A loss without a
``reduction`` cannot be weighed, and says so.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np

from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn import functional as F
from deepgrad.nn.loss_modules import BCELoss, BCEWithLogitsLoss
from deepgrad.nn.module import Module
from deepgrad.tensor import Tensor, to_array

_BINARY_FUNCTIONS = (F.binary_cross_entropy, F.binary_cross_entropy_with_logits)


def check_class_weight(class_weight: Any) -> dict[int, float] | None:
    """``fit``'s ``class_weight`` checked: a dict from class indices (integers >= 0) to finite
    weights >= 0, or None (also for an empty dict: no class is reweighed)."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"Trainer: class_weight must be a dict {{class index: weight}}; got "
                        f"{type(class_weight).__name__}")
    checked = {}
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, Integral) or key < 0:
            raise ValueError(f"Trainer: class_weight's keys must be class indices (integers "
                             f">= 0); got {key!r}")
        if isinstance(weight, bool) or not isinstance(weight, Real) or \
                not math.isfinite(weight) or weight < 0:
            raise ValueError(f"Trainer: class_weight[{key}] must be a finite number >= 0; got "
                             f"{weight!r}")
        checked[int(key)] = float(weight)
    return checked or None


def _setting(loss_fn: Callable, name: str) -> Any:
    """A setting of a loss module (its attribute) or function (its argument's default); None
    when it has no such setting."""
    if isinstance(loss_fn, Module):
        return getattr(loss_fn, name, None)
    try:
        parameter = inspect.signature(loss_fn).parameters.get(name)
    except (TypeError, ValueError):  # a callable without a signature (a builtin)
        return None
    return None if parameter is None else parameter.default


def check_weighable(loss_fn: Callable) -> None:
    """Raise unless the per-example losses of ``loss_fn`` can be had (it has a ``reduction``)."""
    if _setting(loss_fn, "reduction") is None:
        name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        raise ValueError(f"Trainer: class_weight and sample weights need a loss with a "
                         f"`reduction` argument, which gives each example's loss to weigh: a "
                         f"dg.nn loss module (nn.CrossEntropyLoss(), nn.MSELoss(), ...) or a "
                         f"loss name ('cross_entropy', 'mse', ...); got the loss {name}")


def _per_example(loss_fn: Callable, outputs: Tensor, targets: Tensor) -> Tensor:
    if isinstance(loss_fn, Module):
        # A shallow copy shares the buffers (class weights); the user's module keeps its reduction.
        unreduced = copy.copy(loss_fn)
        unreduced.reduction = "none"
        return unreduced(outputs, targets)
    return loss_fn(outputs, targets, reduction="none")


def _sample_weights(sample_weight: Any, size: int) -> np.ndarray:
    """A batch's sample weights, checked: one finite number >= 0 per example."""
    w = to_array(sample_weight)
    if w.shape not in ((size,), (size, 1)):
        raise ShapeError(f"Trainer: sample weights must be one number per example: shape "
                         f"({size},) for a batch of {size}; got {shape_str(w.shape)}")
    if w.dtype.kind not in "fiu":
        raise TypeError(f"Trainer: sample weights must be numbers; got dtype {w.dtype}")
    w = w.reshape(size)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise ValueError(f"Trainer: sample weights must be finite numbers >= 0; got {w[at]} "
                         f"for example {at} of a batch")
    return w


def _class_weights(loss_fn: Callable, class_weight: dict[int, float], outputs: Any,
                   targets: Any) -> np.ndarray:
    """The class weight of each element of the per-example losses (shaped as they are): the
    class is the target index, the argmax of class probabilities, or a binary target's value."""
    if isinstance(loss_fn, (BCELoss, BCEWithLogitsLoss)) or \
            any(loss_fn is f for f in _BINARY_FUNCTIONS):
        classes, count, what = np.rint(targets), 2, "a binary cross-entropy has classes 0, 1"
    elif outputs.ndim >= 2 and (targets.dtype.kind in "iu" or (
            targets.shape == outputs.shape and outputs.shape[1] > 1)):
        classes = targets if targets.dtype.kind in "iu" else targets.argmax(1)
        count = outputs.shape[1]
        what = f"the model's outputs {shape_str(outputs.shape)} have classes 0 to {count - 1}"
    else:
        raise ValueError(f"Trainer: class_weight needs class targets (class indices, class "
                         f"probabilities shaped as the outputs, or the 0/1 targets of a binary "
                         f"cross-entropy); got {targets.dtype} targets of shape "
                         f"{shape_str(targets.shape)} for outputs {shape_str(outputs.shape)}")
    largest = max(class_weight)
    if largest >= count:
        raise ValueError(f"Trainer: class_weight has class {largest}, but {what}")
    table = np.ones(count)
    table[list(class_weight)] = list(class_weight.values())
    # An ignored target (whatever its index) has a loss of 0, which any weight leaves 0.
    return table[np.clip(classes, 0, count - 1).astype(np.intp)]


def _divisor(reduction: Any, losses: Tensor, targets: Any, ignore_index: Any) -> int:
    """What the weighted sum is divided by, so that weights of 1 give the loss's own reduction."""
    if reduction == "sum":
        return 1
    if reduction == "batchmean":
        return losses.shape[0]
    if reduction != "mean":
        raise ValueError(f"Trainer: class_weight and sample weights need the loss's reduction "
                         f"to be 'mean', 'sum' or 'batchmean'; got {reduction!r}")
    count = losses.data.size
    if isinstance(ignore_index, Integral) and targets.dtype.kind in "iu":
        count -= int(np.count_nonzero(targets == ignore_index))
    return max(count, 1)  # all ignored: every loss is 0, and so is their mean (Keras)


def weighted_loss(loss_fn: Callable, outputs: Tensor, targets: Tensor, sample_weight: Any,
                  class_weight: dict[int, float] | None) -> Tensor:
    """The batch loss ``sum_i(w_i * l_i) / N`` (see the module's docstring), ``w_i`` the product
    of the sample weights and the class weights given (at least one)."""
    check_weighable(loss_fn)
    losses = _per_example(loss_fn, outputs, targets)
    weights = None if class_weight is None else \
        _class_weights(loss_fn, class_weight, outputs.data, targets.data)
    if sample_weight is not None:
        w = _sample_weights(sample_weight, losses.shape[0])
        w = w.reshape(w.shape + (1,) * (losses.ndim - 1))  # each element takes its example's
        weights = w if weights is None else weights * w
    total = (losses * weights.astype(losses.data.dtype, copy=False)).sum()
    return total / _divisor(_setting(loss_fn, "reduction"), losses, targets.data,
                            _setting(loss_fn, "ignore_index"))


__all__ = ["check_class_weight", "check_weighable", "weighted_loss"]
