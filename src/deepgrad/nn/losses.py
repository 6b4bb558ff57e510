"""Loss functions: how wrong the output is, as one number to minimize.

Cross-entropy is one fused op (log-softmax, pick, reduce): stable for any logits, and a single
graph node whose backward is ``softmax - one_hot``.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """loss_i = logsumexp(x_i) - x_i[t_i], reduced by mean, sum or none.  x: (N, C), t: (N,).

    gx_i = (softmax(x_i) - one_hot(t_i)) * gy_i  (gy_i = gy / N for the mean).
    """

    @staticmethod
    def forward(ctx, x, target, reduction):
        rows = xp.arange(x.shape[0])
        shifted = x - xp.maximum.reduce(x, axis=1, keepdims=True)
        exp = xp.exp(shifted)
        sums = exp.sum(axis=1)
        losses = xp.log(sums)
        losses -= shifted[rows, target]
        if ctx.needs_input_grad[0]:
            exp /= sums[:, None]
            ctx.save(softmax=exp, target=target, reduction=reduction)
        if reduction == "mean":
            return xp.asarray(losses.mean(dtype=x.dtype))
        if reduction == "sum":
            return xp.asarray(losses.sum(dtype=x.dtype))
        return losses

    @staticmethod
    def backward(ctx, gy):
        gx = ctx.softmax
        n = gx.shape[0]
        gx[xp.arange(n), ctx.target] -= 1  # the saved softmax is this node's own: reuse it
        if ctx.reduction == "none":
            gx *= gy[:, None]
        else:
            gx *= gy / n if ctx.reduction == "mean" else gy
        return gx, None, None


def cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Cross-entropy between logits and class indices (PyTorch's ``F.cross_entropy``).

    Args:
        input: logits of shape (N, C), or (C,) for one example.
        target: class indices in ``[0, C)``, int64, of shape (N,) (or () for one example).
        reduction: ``'mean'`` (default), ``'sum'``, or ``'none'`` for one loss per example.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}; got "
                         f"{reduction!r}")
    t = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class indices; got dtype "
                        f"{t.dtype} (for class probabilities use a soft-target loss)")
    if input.ndim == 1:
        loss = cross_entropy(input.reshape(1, -1), t.reshape(1), reduction)
        return loss.reshape(()) if reduction == "none" else loss
    if input.ndim != 2:
        raise ShapeError(f"cross_entropy: expects logits (N, C) or (C,); got "
                         f"{shape_str(input.shape)}")
    if input.data.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point; got {input.data.dtype}")
    n, classes = input.shape
    if t.shape != (n,):
        raise ShapeError(f"cross_entropy: target must have shape {shape_str((n,))} for logits "
                         f"of shape {shape_str(input.shape)}; got {shape_str(t.shape)}")
    if n and (t.min() < 0 or t.max() >= classes):
        bad = int(xp.flatnonzero((t < 0) | (t >= classes))[0])
        raise ValueError(f"cross_entropy: target value {int(t[bad])} at index {bad} is out of "
                         f"range for {classes} classes (expected 0 to {classes - 1})")
    return CrossEntropy.apply(input, t, reduction)
