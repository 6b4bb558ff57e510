"""Adagrad and Adadelta: per-coordinate step sizes from accumulated squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.): ``s += d**2``, ``p -= clr * d / (sqrt(s) + eps)`` with
    ``clr = lr / (1 + (t-1) * lr_decay)`` at step t.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        lr_decay: how fast the learning rate decays with the step count.
        weight_decay: the L2 penalty coefficient, added to the gradient.
        initial_accumulator_value: the starting value of the sum of squares.
        eps: added to the denominator for stability.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("sum",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, lr_decay, weight_decay, initial_accumulator_value and eps >= 0."""
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self.check_number(group, index, key)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0 and the sum at ``initial_accumulator_value``."""
        return {"step": 0, "sum": xp.full_like(param, group["initial_accumulator_value"])}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adagrad step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        d = self.effective_grad(param, grad, group["weight_decay"], group["maximize"])
        scratch = self.scratch(param, 1)
        state["sum"] += xp.multiply(d, d, out=scratch)
        denom = xp.sqrt(state["sum"], out=scratch)
        denom += group["eps"]
        ratio = xp.divide(d, denom, out=scratch)
        ratio *= group["lr"] / (1 + (step - 1) * group["lr_decay"])
        param -= ratio


class Adadelta(Optimizer):
    """Adadelta (Zeiler): ``v = rho*v + (1-rho)*d**2``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * d``, ``u = rho*u + (1-rho)*delta**2``,
    ``p -= lr * delta``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: scales the step (1 in the paper).
        rho: the decay rate of the running averages, in [0, 1].
        eps: added inside the square roots for stability.
        weight_decay: the L2 penalty coefficient, added to the gradient.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("square_avg", "acc_delta")

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, eps, weight_decay >= 0 and rho in [0, 1]."""
        for key in ("lr", "eps", "weight_decay"):
            self.check_number(group, index, key)
        self.check_number(group, index, "rho", high=1.0)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0 and zero averages."""
        return {"step": 0, "square_avg": xp.zeros_like(param),
                "acc_delta": xp.zeros_like(param)}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adadelta step of one parameter, in place."""
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        d = self.effective_grad(param, grad, group["weight_decay"], group["maximize"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        scratch, delta = self.scratch(param, 1), self.scratch(param, 2)
        square_avg *= rho
        square = xp.multiply(d, d, out=scratch)
        square *= 1 - rho
        square_avg += square
        std = xp.sqrt(xp.add(square_avg, eps, out=scratch), out=scratch)
        xp.sqrt(xp.add(acc_delta, eps, out=delta), out=delta)
        delta /= std
        delta *= d
        acc_delta *= rho
        square = xp.multiply(delta, delta, out=scratch)
        square *= 1 - rho
        acc_delta += square
        delta *= group["lr"]
        param -= delta


__all__ = ["Adadelta", "Adagrad"]
