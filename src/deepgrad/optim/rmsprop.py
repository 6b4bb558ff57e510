"""RMSprop: steps divided by a running root mean square of the gradient."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton): ``v = alpha*v + (1-alpha)*d**2``, ``p -= lr * d / (sqrt(v) + eps)``;
    ``centered`` subtracts the square of the gradient's running mean from v, ``momentum`` keeps
    a buffer ``b = momentum*b + d / (sqrt(v) + eps)`` and steps ``p -= lr * b``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        alpha: the decay rate of the running averages.
        eps: added to the denominator for stability.
        weight_decay: the L2 penalty coefficient, added to the gradient.
        momentum: the momentum factor (0 turns momentum off).
        centered: normalize by the estimated variance instead of the second moment.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, alpha, eps, weight_decay and momentum >= 0."""
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            self.check_number(group, index, key)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0 and zero averages (and buffer, with momentum)."""
        state = {"step": 0, "square_avg": xp.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(param)
        return state

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One RMSprop step of one parameter, in place."""
        state["step"] += 1
        alpha = group["alpha"]
        d = self.effective_grad(param, grad, group["weight_decay"], group["maximize"])
        scratch = self.scratch(param, 1)
        square_avg = state["square_avg"]
        square_avg *= alpha
        square = xp.multiply(d, d, out=scratch)
        square *= 1 - alpha
        square_avg += square
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += xp.multiply(d, 1 - alpha, out=scratch)
            variance = xp.multiply(grad_avg, grad_avg, out=scratch)
            denom = xp.sqrt(xp.subtract(square_avg, variance, out=scratch), out=scratch)
        else:
            denom = xp.sqrt(square_avg, out=scratch)
        denom += group["eps"]
        ratio = xp.divide(d, denom, out=scratch)
        if group["momentum"] > 0:
            buffer = state["momentum_buffer"]
            buffer *= group["momentum"]
            buffer += ratio
            ratio = xp.multiply(buffer, group["lr"], out=scratch)
        else:
            ratio *= group["lr"]
        param -= ratio


__all__ = ["RMSprop"]
