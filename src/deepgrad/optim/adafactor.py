"""Adafactor: an Adam-like step without momentum whose second moment of a matrix is kept as
row and column statistics (memory ``rows + cols`` instead of ``rows * cols``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern), as PyTorch runs it. At step t, with ``g`` the gradient,
    ``w = t**beta2_decay``, ``rho = min(lr, 1/sqrt(t))`` and ``a = max(eps2, RMS(p)) * rho``:
    ``p *= 1 - lr * weight_decay``; then, for a parameter of 2 or more dimensions (factored
    over its last two), ``R = lerp(R, mean(g**2, cols), w)``, ``C = lerp(C, mean(g**2, rows),
    w)`` and ``V = R C / max(mean(R), eps1)``; for a vector, ``V = lerp(V, g**2, w)``;
    ``u = g / sqrt(max(V, eps1**2))`` and ``p -= a * u / max(1, RMS(u) / d)``.

    State: ``row_var`` (shape ``(..., rows, 1)``) and ``col_var`` (``(..., 1, cols)``) for a
    parameter of 2 or more dimensions, ``variance`` (its shape) for one of fewer.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate; the relative step size is ``min(lr, 1/sqrt(t))``.
        beta2_decay: the (<= 0) power of t that gives the weight of the new squared gradient.
        eps: (eps1, eps2): eps1 bounds the second moment from below (None: the machine epsilon
            of the parameter's dtype), eps2 the RMS of the parameter that scales the step.
        d: the clipping threshold (>= 1) of the RMS of the update.
        weight_decay: shrink the weights by ``lr * weight_decay`` at every step.
        foreach: accepted for PyTorch compatibility; deepgrad has one implementation.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("row_var", "col_var", "variance")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, weight_decay, eps2 and eps1 (unless None) >= 0, beta2_decay <= 0 and d >= 1."""
        for key in ("lr", "weight_decay"):
            self.check_number(group, index, key)
        self.check_number(group, index, "beta2_decay", None, 0.0)
        self.check_number(group, index, "d", 1.0)
        eps = group["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise TypeError(f"{type(self).__name__}: eps must be a pair (eps1 or None, eps2); "
                            f"got {eps!r}")
        if eps[0] is not None:
            self.check_number(group, index, "eps", value=eps[0], label="eps[0]")
        self.check_number(group, index, "eps", value=eps[1], label="eps[1]")

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0 and zero statistics: factored over the last two dimensions of a
        parameter with two or more, one per element otherwise."""
        if param.ndim < 2:
            return {"step": 0, "variance": xp.zeros_like(param)}
        rows, cols = param.shape[-2:]
        return {"step": 0, "row_var": xp.zeros((*param.shape[:-2], rows, 1), param.dtype),
                "col_var": xp.zeros((*param.shape[:-2], 1, cols), param.dtype)}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adafactor step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        lr = group["lr"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(xp.finfo(param.dtype).eps)
        weight = step ** group["beta2_decay"]  # 1 - beta2_t, the weight of the new statistics
        rho = min(lr, 1 / (step ** 0.5))
        # The RMS of the weights before their decay, as PyTorch takes it.
        alpha = max(eps2, float(xp.linalg.norm(param)) / math.sqrt(param.size)) * rho
        if group["weight_decay"]:
            param *= 1 - lr * group["weight_decay"]
        d = self.effective_grad(param, grad, 0.0, group["maximize"])
        squared = xp.multiply(d, d, out=self.scratch(param, 1))
        variance = self.scratch(param, 2)
        if param.ndim >= 2:
            row_var, col_var = state["row_var"], state["col_var"]
            # Row and column means of g**2 in scratch views shaped like the statistics (the
            # buffers hold the largest parameter), so that a step allocates nothing of their size.
            _lerp(row_var, xp.mean(squared, axis=-1, keepdims=True,
                                   out=self.scratch(row_var, 3)), weight)
            _lerp(col_var, xp.mean(squared, axis=-2, keepdims=True,
                                   out=self.scratch(col_var, 4)), weight)
            xp.multiply(row_var, col_var, out=variance)
            row_mean = xp.mean(row_var, axis=-2, keepdims=True)
            variance /= xp.maximum(row_mean, eps1, out=row_mean)
        else:
            _lerp(state["variance"], squared, weight)
            xp.copyto(variance, state["variance"])
        xp.maximum(variance, eps1 * eps1, out=variance)
        update = xp.sqrt(variance, out=variance)
        xp.divide(d, update, out=update)
        rms = float(xp.linalg.norm(update)) / (math.sqrt(update.size) * group["d"])
        update *= alpha / max(1.0, rms)
        param -= update


def _lerp(start: Any, end: Any, weight: float) -> None:
    """``start += weight * (end - start)`` in place (``end`` is overwritten)."""
    end -= start
    end *= weight
    start += end


__all__ = ["Adafactor"]
