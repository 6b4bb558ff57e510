"""ASGD: SGD with a decaying step and a running average of the iterates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky), as PyTorch runs it. With ``d`` the gradient plus
    ``weight_decay * p``: ``p *= 1 - lambd * eta``, ``p -= eta * d``; the average ``ax`` is
    ``p`` while ``mu == 1``, then ``ax += mu * (p - ax)``; after the step,
    ``eta = lr / (1 + lambd * lr * t)**alpha`` and ``mu = 1 / max(1, t - t0)``.

    The average ``ax`` (in the state) is what the method returns as its estimate; the
    parameters keep the plain SGD iterates. ``eta`` starts at the group's ``lr``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        lambd: the decay term of the step size and of the weights.
        alpha: the power of the step size's decay.
        t0: the step from which the average starts.
        weight_decay: the L2 penalty coefficient, added to the gradient.
        foreach: accepted for PyTorch compatibility; deepgrad has one implementation.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("ax",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr and weight_decay >= 0; lambd, alpha and t0 numbers."""
        for key in ("lr", "weight_decay"):
            self.check_number(group, index, key)
        for key in ("lambd", "alpha", "t0"):
            self.check_number(group, index, key, None)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0, step size ``lr``, ``mu`` 1 (no averaging yet) and a zero average."""
        return {"step": 0, "eta": float(group["lr"]), "mu": 1.0, "ax": xp.zeros_like(param)}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One ASGD step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        lr, lambd, eta = group["lr"], group["lambd"], state["eta"]
        d = self.effective_grad(param, grad, group["weight_decay"], group["maximize"])
        param *= 1 - lambd * eta
        param -= xp.multiply(d, eta, out=self.scratch(param, 1))
        ax = state["ax"]
        if state["mu"] != 1:
            diff = xp.subtract(param, ax, out=self.scratch(param, 1))
            diff *= state["mu"]
            ax += diff
        else:
            xp.copyto(ax, param)
        state["eta"] = lr / ((1 + lambd * lr * step) ** group["alpha"])
        state["mu"] = 1 / max(1, step - group["t0"])


__all__ = ["ASGD"]
