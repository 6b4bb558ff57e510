"""Negative log-likelihood losses of distributions (PyTorch's ``F.poisson_nll_loss`` and
``F.gaussian_nll_loss``), written with differentiable ops so that the gradients of the input,
the target and the variance are theirs."""

from __future__ import annotations

import math
from typing import Any

from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn._loss_args import _check_input, _float_target, check_number, check_reduction
from deepgrad.nn.margin_losses import _reduce
from deepgrad.ops.indexing import where
from deepgrad.tensor import Tensor, to_array


def poisson_nll_loss(input: Tensor, target: Any, log_input: bool = True, full: bool = False,
                     eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of counts ``target`` under a Poisson distribution of rate
    ``exp(input)`` (``log_input``) or ``input``, without the constant log(target!) unless
    ``full``.

    Args:
        input: the log-rate (``log_input``) or the rate, floating point.
        target: counts of the input's shape, floating point.
        log_input: the loss is ``exp(input) - target * input``; else
            ``input - target * log(input + eps)``.
        full: add Stirling's approximation of log(target!),
            ``target * log(target) - target + 0.5 * log(2 pi target)``, where target > 1.
        eps: keeps the log finite at a zero rate (``log_input=False``).
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "poisson_nll_loss"
    check_reduction(op, reduction)
    _check_input(op, input)
    t = _float_target(op, input, target)
    eps = check_number(op, "eps", eps, 0.0)
    loss = input.exp() - t * input if log_input else input - t * (input + eps).log()
    if full:
        # log of 1 where the term is dropped, so that no log(0) reaches the gradient.
        above = t.data > 1
        safe = where(above, t, 1.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + where(above, stirling, 0.0)
    return _reduce(loss, reduction)


def _variance(op: str, var: Any, input: Tensor) -> Tensor:
    """``var`` as a Tensor that broadcasts to the input: PyTorch's shapes (the input's, the
    input's without its last dim, or the input's with one dim of size 1) or a number."""
    shape = input.shape
    if not isinstance(var, Tensor):
        a = to_array(var)
        if a.ndim:
            raise TypeError(f"{op}: var must be a Tensor or a number; got an array of shape "
                            f"{shape_str(a.shape)}")
        var = Tensor._make(a.astype(input.data.dtype))
        if float(var.data) < 0:
            raise ValueError(f"{op}: var must be >= 0; got {float(var.data)}")
        return var
    if (var.data < 0).any():
        raise ValueError(f"{op}: var has negative entries")
    if var.shape == shape or var.ndim == 0:
        return var
    if var.shape == shape[:-1]:  # one variance per example, the same for its features
        return var.unsqueeze(-1)
    if var.ndim == len(shape) and sum(v != s for v, s in zip(var.shape, shape)) == 1 and all(
            v in (s, 1) for v, s in zip(var.shape, shape)):
        return var
    raise ShapeError(f"{op}: var of shape {shape_str(var.shape)} does not fit the input's shape "
                     f"{shape_str(shape)}: give the input's shape, the input's without its last "
                     "dim, or the input's with one dim of size 1")


def gaussian_nll_loss(input: Tensor, target: Any, var: Any, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under Gaussians of mean ``input`` and variance
    ``var``: ``0.5 * (log(var) + (input - target)**2 / var)`` (+ 0.5 log(2 pi) if ``full``).

    Args:
        input: the predicted means, floating point.
        target: samples of the input's shape.
        var: the predicted variances: the input's shape (heteroscedastic), the input's without
            its last dim or with one dim of size 1 (shared along it), or a number.
        full: add the constant 0.5 * log(2 pi).
        eps: variances below it are raised to it in the value, while the gradient still
            reaches ``var`` unchanged, as in PyTorch (its clamp runs under no_grad).
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "gaussian_nll_loss"
    check_reduction(op, reduction)
    _check_input(op, input)
    t = _float_target(op, input, target)
    eps = check_number(op, "eps", eps, 0.0)
    v = _variance(op, var, input)
    v = v + (v.detach().clamp(min=eps) - v.detach())
    loss = 0.5 * (v.log() + (input - t).square() / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


__all__ = ["gaussian_nll_loss", "poisson_nll_loss"]
