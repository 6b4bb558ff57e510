"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Gradient descent: ``p -= lr * d``, where d is the gradient (plus ``weight_decay * p``),
    or with ``momentum`` the buffer ``b = momentum * b + (1 - dampening) * d`` (``b = d`` on the
    first step, as in PyTorch), or with ``nesterov`` ``d + momentum * b``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        momentum: the momentum factor (0 turns momentum off).
        dampening: how much of the gradient the momentum buffer leaves out.
        weight_decay: the L2 penalty coefficient, added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, momentum, weight_decay >= 0; Nesterov only with momentum and no dampening."""
        for key in ("lr", "momentum", "weight_decay"):
            self.check_number(group, index, key)
        self.check_number(group, index, "dampening", low=None)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0; got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One SGD step of one parameter, in place."""
        momentum = group["momentum"]
        buffer = state.get("momentum_buffer")
        # The compiled pass once the buffer exists (its first step copies the gradient).
        kernels = self.fused(param, grad, buffer) if momentum and buffer is not None else None
        if kernels is not None:
            t = param.dtype.type
            self.run_fused(kernels.sgd_momentum, (param, grad, buffer), (
                t(group["lr"]), t(momentum), t(1 - group["dampening"]),
                t(group["weight_decay"]), group["nesterov"], group["maximize"]))
            return
        d = self.effective_grad(param, grad, group["weight_decay"], group["maximize"])
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = d.copy()
            else:
                buffer *= momentum
                if group["dampening"]:
                    buffer += xp.multiply(d, 1 - group["dampening"], out=self.scratch(param, 1))
                else:
                    buffer += d
            if group["nesterov"]:
                ahead = xp.multiply(buffer, momentum, out=self.scratch(param, 1))
                ahead += d
                d = ahead
            else:
                d = buffer
        param -= xp.multiply(d, group["lr"], out=self.scratch(param, 1))


__all__ = ["SGD"]
