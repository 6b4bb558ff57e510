"""Loss functions (PyTorch's ``torch.nn.functional`` losses): how wrong an output is, as a number.

Each loss is one fused graph node, except the cosine embedding loss (written from Tensor ops):
cross-entropy (log-softmax, pick, reduce) and binary cross-entropy with logits are stable for
any logits, and the regression losses share one node, so that an RL step's ``mse_loss`` on 128
values costs one op instead of three.

Shapes are stricter than PyTorch's: where torch broadcasts an input and a target of different
shapes with a warning (``(N, 1)`` against ``(N,)`` gives an ``(N, N)`` loss, a classic silent
bug), these losses raise a ShapeError.
"""

from __future__ import annotations

import warnings
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import _State
from deepgrad.ops.activations import clamp
from deepgrad.ops.indexing import where
from deepgrad.ops.losses import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    CrossEntropy,
    KLDiv,
    NLLLoss,
    Pointwise,
    SoftCrossEntropy,
    _Targets,
)
from deepgrad.tensor import Tensor, to_array

_REDUCTIONS = ("mean", "sum", "none")
_COSINE_EPS = 1e-12  # PyTorch's epsilon under the squared norms of cosine_embedding_loss


def check_reduction(op: str, reduction: Any, allowed: tuple = _REDUCTIONS) -> None:
    """Raise unless ``reduction`` is one of ``allowed``."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}; got "
                         f"{reduction!r}")


def _check_input(op: str, input: Any, name: str = "input") -> Any:
    """The array of a floating point Tensor argument, or a TypeError."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor; got {type(input).__name__}")
    if input.data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point; got {input.data.dtype}")
    return input.data


def _float_target(op: str, input: Tensor, target: Any) -> Tensor:
    """The target as a Tensor (keeping its graph) with the input's shape and a float dtype."""
    t = target if isinstance(target, Tensor) else Tensor._make(to_array(target))
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating point like the input; got "
                        f"{t.data.dtype} (convert it with .float())")
    if t.shape != input.shape:
        try:
            hint = (f"; broadcasting them would give shape "
                    f"{shape_str(xp.broadcast_shapes(input.shape, t.shape))}, rarely what is meant")
        except ValueError:
            hint = ""
        raise ShapeError(f"{op}: target shape {shape_str(t.shape)} differs from input shape "
                         f"{shape_str(input.shape)}; losses here do not broadcast them{hint}")
    return t


def _constant(op: str, name: str, value: Any, dtype: Any, shape: tuple | None = None,
              broadcasts_to: tuple | None = None) -> Any:
    """A weight argument as an array of ``dtype``: it gets no gradient (raises if it needs one),
    and has ``shape`` or broadcasts to ``broadcasts_to``."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value.requires_grad and _State.enabled:
            raise ValueError(f"{op}: {name} requires grad, but the loss is not differentiable "
                             f"with respect to {name} (as in PyTorch); pass {name}.detach()")
        value = value.data
    try:
        a = to_array(value)
    except TypeError:
        a = None
    if a is None or a.dtype.kind not in "fiu":
        raise TypeError(f"{op}: {name} must be a Tensor or an array of numbers; got "
                        f"{type(value).__name__}" + ("" if a is None else f" of dtype {a.dtype}"))
    if shape is not None and a.shape != shape:
        raise ShapeError(f"{op}: {name} must have shape {shape_str(shape)}; got "
                         f"{shape_str(a.shape)}")
    if broadcasts_to is not None:
        try:
            fits = xp.broadcast_shapes(a.shape, broadcasts_to) == broadcasts_to
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{op}: {name} of shape {shape_str(a.shape)} does not broadcast to "
                             f"the input's shape {shape_str(broadcasts_to)}")
    return a.astype(dtype, copy=False)


def _position(flat: int, shape: tuple) -> str:
    if len(shape) <= 1:
        return str(flat)
    return str(tuple(int(i) for i in xp.unravel_index(flat, shape)))


def _check_range(op: str, name: str, a: Any, low: float, high: float, hint: str = "") -> None:
    """Raise naming the first element of ``a`` outside [low, high] (one min and max pass)."""
    if a.size and (a.min() < low or a.max() > high):
        flat = int(xp.flatnonzero((a < low) | (a > high))[0])
        raise ValueError(f"{op}: {name} must be in [{low:g}, {high:g}]; got "
                         f"{a.flat[flat].item()!r} at position {_position(flat, a.shape)}{hint}")


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


def check_number(op: str, name: str, value: Any, low: float, high: float = float("inf"),
                 low_open: bool = False) -> float:
    """``value`` as a float, or an error unless it is a number in [low, high] (> low if
    ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)):
        raise TypeError(f"{op}: {name} must be a number; got {type(value).__name__}")
    value = float(value)
    if not (low < value if low_open else low <= value) or value > high:
        bounds = f"> {low:g}" if low_open else \
            f">= {low:g}" if high == float("inf") else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{op}: {name} must be {bounds}; got {value:g}")
    return value


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
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]
