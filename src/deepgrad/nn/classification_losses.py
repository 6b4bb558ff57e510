"""Classification losses (PyTorch's ``torch.nn.functional`` ones): binary cross-entropy on
probabilities or logits, cross-entropy and negative log-likelihood over classes. Importable from
:mod:`deepgrad.nn.losses` with the other losses.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn._loss_args import (
    _check_input,
    _check_range,
    _constant,
    _float_target,
    _position,
    check_number,
    check_reduction,
)
from deepgrad.ops.losses import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    CrossEntropy,
    NLLLoss,
    SoftCrossEntropy,
    _Targets,
)
from deepgrad.tensor import Tensor


def _class_index_target(op: str, x_shape: tuple, t: Any, probabilities: bool) -> bool:
    """Check a target of a classification loss; True when it holds class probabilities."""
    index_shape = x_shape[:1] + x_shape[2:] if len(x_shape) > 1 else ()
    if probabilities and t.shape == x_shape:
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: a target with the input's shape {shape_str(x_shape)} holds "
                            f"class probabilities, which must be floating point; got {t.dtype}")
        return True
    if t.shape != index_shape:
        alternative = f" (class indices) or {shape_str(x_shape)} (class probabilities)" \
            if probabilities else ""
        raise ShapeError(f"{op}: target must have shape {shape_str(index_shape)}{alternative} "
                         f"for input of shape {shape_str(x_shape)}; got {shape_str(t.shape)}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target of shape {shape_str(t.shape)} must hold integer class "
                        f"indices; got dtype {t.dtype}"
                        + (f" (class probabilities need the input's shape {shape_str(x_shape)})"
                           if probabilities else ""))
    return False


def _class_targets(op: str, x: Any, t: Any, weight: Any, ignore_index: int) -> _Targets:
    """Validate class indices (N, ...) for input (N, C, ...) against C, cheaply: one min and one
    max, and a full scan only when some index is ignored or out of range."""
    classes = x.shape[1]
    ignored = None
    if t.size:
        if t.min() < 0 or t.max() >= classes:
            bad = (t < 0) | (t >= classes)
            bad &= t != ignore_index
            if bad.any():
                flat = int(xp.flatnonzero(bad)[0])
                raise ValueError(
                    f"{op}: target has class index {int(t.flat[flat])} at position "
                    f"{_position(flat, t.shape)}, but input has {classes} classes (shape "
                    f"{shape_str(x.shape)}); expected 0 to {classes - 1} or ignore_index="
                    f"{ignore_index}")
            ignored = t == ignore_index
        elif 0 <= ignore_index < classes:
            ignored = t == ignore_index
            if not ignored.any():
                ignored = None
    if ignored is None and weight is None:
        return _Targets(t, None, None, t.size)
    valid = None
    if ignored is not None:
        valid = (~ignored).astype(x.dtype)
        t = xp.where(ignored, 0, t)
    weight_at = valid if weight is None else weight[t] if valid is None else weight[t] * valid
    return _Targets(t, weight_at, valid, weight_at.sum())


# ----------------------------------------------------------------------------- binary
def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities and targets in [0, 1] (PyTorch's
    ``F.binary_cross_entropy``); each log is clamped to >= -100, as in PyTorch.

    Args:
        input: probabilities in [0, 1] (for logits use the stable
            :func:`binary_cross_entropy_with_logits`).
        target: values in [0, 1] of the input's shape.
        weight: optional rescaling weights that broadcast to the input's shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "binary_cross_entropy"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    _check_range(op, "input", x, 0, 1, " (apply sigmoid first, or use "
                 "binary_cross_entropy_with_logits on the logits)")
    _check_range(op, "target", t.data, 0, 1)
    w = _constant(op, "weight", weight, xp.result_type(x, t.data), broadcasts_to=x.shape)
    return BinaryCrossEntropy.apply(input, t, weight=w, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid and binary cross-entropy as one stable op (PyTorch's
    ``F.binary_cross_entropy_with_logits``): finite for any logits.

    Args:
        input: logits.
        target: values in [0, 1] (not checked, as in PyTorch) of the input's shape.
        weight: optional rescaling weights that broadcast to the input's shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
        pos_weight: optional weight of the positive term, broadcasting to the input's shape
            (usually one per class, along the last dim).
    """
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    dtype = xp.result_type(x, t.data)
    w = _constant(op, "weight", weight, dtype, broadcasts_to=x.shape)
    p = _constant(op, "pos_weight", pos_weight, dtype, broadcasts_to=x.shape)
    return BinaryCrossEntropyWithLogits.apply(input, t, weight=w, pos_weight=p,
                                              reduction=reduction)


# ----------------------------------------------------------------------------- classification
def _batched(input: Tensor, target: Any) -> tuple[Tensor, Any]:
    """One example (C,) as a batch of one, (1, C), with its target (a Tensor or an array)."""
    return input.reshape(1, -1), target.reshape((1, *target.shape))


def _class_inputs(op: str, input: Tensor, target: Any, reduction: str) -> tuple[Any, Any]:
    """The checked input array (N, C, ...) or (C,) and the target array of a classification
    loss (cross_entropy, nll_loss)."""
    check_reduction(op, reduction)
    x = _check_input(op, input)
    if x.ndim == 0:
        raise ShapeError(f"{op}: expects input (N, C), (N, C, d1, ...) or (C,); got ()")
    return x, target.data if isinstance(target, Tensor) else xp.asarray(target)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities (PyTorch's
    ``F.cross_entropy``), as one fused op that is stable for any logits.

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,) for one example.
        target: class indices (N,), (N, d1, ...) or (), integer; or class probabilities of the
            input's shape, floating point (they may require grad).
        weight: optional weight per class, shape (C,) (not differentiated).
        ignore_index: a class index whose targets add nothing to the loss nor to the mean's
            divisor (class-index targets only).
        reduction: ``'mean'`` (default: divides by the summed weights of the targets not
            ignored; by N * d1 * ... for probabilities), ``'sum'`` or ``'none'``.
        label_smoothing: in [0, 1]: the target is mixed with the uniform distribution, with
            PyTorch's formula (class weights included).
    """
    op = "cross_entropy"
    x, t = _class_inputs(op, input, target, reduction)
    probabilities = _class_index_target(op, x.shape, t, probabilities=True)
    if label_smoothing:
        label_smoothing = check_number(op, "label_smoothing", label_smoothing, 0.0, 1.0)
    if x.ndim == 1:
        one = target if isinstance(target, Tensor) else t
        loss = cross_entropy(*_batched(input, one), weight, ignore_index=ignore_index,
                             reduction=reduction, label_smoothing=label_smoothing)
        return loss.reshape(()) if reduction == "none" else loss
    w = _constant(op, "weight", weight, x.dtype, shape=x.shape[1:2])
    if probabilities:
        if ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index={ignore_index} is not supported with class "
                             "probability targets (the target has the input's shape)")
        tt = target if isinstance(target, Tensor) else Tensor._make(t)
        return SoftCrossEntropy.apply(input, tt, weight=w, reduction=reduction,
                                      smoothing=label_smoothing)
    return CrossEntropy.apply(input, targets=_class_targets(op, x, t, w, ignore_index), weight=w,
                              reduction=reduction, smoothing=label_smoothing)


def nll_loss(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities (PyTorch's
    ``F.nll_loss``): ``-weight[t] * input[n, t]``.

    Args:
        input: log-probabilities (N, C), (N, C, d1, ...) or (C,) for one example.
        target: class indices (N,), (N, d1, ...) or (), integer.
        weight: optional weight per class, shape (C,) (not differentiated).
        ignore_index: a class index whose targets add nothing to the loss nor to the mean's
            divisor.
        reduction: ``'mean'`` (default: divides by the summed weights of the targets not
            ignored), ``'sum'`` or ``'none'``.
    """
    op = "nll_loss"
    x, t = _class_inputs(op, input, target, reduction)
    _class_index_target(op, x.shape, t, probabilities=False)
    if x.ndim == 1:
        loss = nll_loss(*_batched(input, t), weight, ignore_index=ignore_index,
                        reduction=reduction)
        return loss.reshape(()) if reduction == "none" else loss
    w = _constant(op, "weight", weight, x.dtype, shape=x.shape[1:2])
    return NLLLoss.apply(input, targets=_class_targets(op, x, t, w, ignore_index),
                         reduction=reduction)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
]
