"""Adam and AdamW: steps scaled by running averages of the gradient and of its square."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


def check_adam_group(optimizer: Optimizer, group: dict[str, Any], index: int,
                     *nonnegative: str) -> None:
    """lr, eps, weight_decay and the ``nonnegative`` keys >= 0, both betas in [0, 1) (a list
    becomes a tuple, as a loaded state dict holds one)."""
    for key in ("lr", "eps", "weight_decay", *nonnegative):
        optimizer.check_number(group, index, key)
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{type(optimizer).__name__}: betas must be a pair (beta1, beta2); got "
                        f"{betas!r}")
    group["betas"] = betas = tuple(betas)
    for i, beta in enumerate(betas):
        optimizer.check_number(group, index, "betas", high=1.0, high_open=True, value=beta,
                               label=f"betas[{i}]")


def adam_moments(optimizer: Optimizer, param: Any, d: Any, state: dict[str, Any],
                 betas: tuple[float, float]) -> None:
    """Adam's running averages of ``d`` and ``d**2``, updated in place."""
    beta1, beta2 = betas
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    scratch = optimizer.scratch(param, 1)
    exp_avg *= beta1
    exp_avg += xp.multiply(d, 1 - beta1, out=scratch)
    exp_avg_sq *= beta2
    square = xp.multiply(d, d, out=scratch)
    square *= 1 - beta2
    exp_avg_sq += square


def adam_gradient(optimizer: Optimizer, param: Any, grad: Any, group: dict[str, Any]) -> Any:
    """The gradient the averages follow, after the decoupled weight decay (which shrinks
    ``param`` in place) or with the L2 penalty added."""
    weight_decay = group["weight_decay"]
    if weight_decay and group["decoupled_weight_decay"]:
        param *= 1 - group["lr"] * weight_decay
        weight_decay = 0.0
    return optimizer.effective_grad(param, grad, weight_decay, group["maximize"])


class Adam(Optimizer):
    """Adam (Kingma & Ba): ``m = b1*m + (1-b1)*d``, ``v = b2*v + (1-b2)*d**2``,
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected ``m_hat = m / (1-b1**t)``
    and ``v_hat = v / (1-b2**t)``; d is the gradient plus ``weight_decay * p``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        betas: the decay rates (b1, b2) of the two averages, each in [0, 1).
        eps: added to the denominator for stability.
        weight_decay: the L2 penalty coefficient.
        amsgrad: divide by the largest ``v`` seen so far (AMSGrad).
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: shrink the weights by ``lr * weight_decay`` directly instead of
            adding the penalty to the gradient (AdamW).
    """

    state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, eps, weight_decay >= 0 and both betas in [0, 1) (a list becomes a tuple)."""
        check_adam_group(self, group, index)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0 and zero averages (and the running maximum with amsgrad)."""
        state = {"step": 0, "exp_avg": xp.zeros_like(param), "exp_avg_sq": xp.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(param)
        return state

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adam step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        lr, (beta1, beta2) = group["lr"], group["betas"]
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        arrays = (param, grad, state["exp_avg"], state["exp_avg_sq"],
                  state.get("max_exp_avg_sq", state["exp_avg_sq"]))
        kernels = self.fused(*arrays)
        if kernels is not None:
            t = param.dtype.type
            decoupled = group["decoupled_weight_decay"]
            weight_decay = group["weight_decay"]
            # p * 1 is p exactly: the loop always multiplies by the decoupled decay's factor.
            self.run_fused(kernels.adam, arrays, (
                t(1 - lr * weight_decay if decoupled else 1), t(0 if decoupled else weight_decay),
                group["maximize"], t(beta1), t(1 - beta1), t(beta2), t(1 - beta2),
                t(group["eps"] * bias_correction2_sqrt),
                t(lr * bias_correction2_sqrt / bias_correction1), group["amsgrad"]))
            return
        adam_moments(self, param, adam_gradient(self, param, grad, group), state, group["betas"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        scratch = self.scratch(param, 1)
        if group["amsgrad"]:
            exp_avg_sq = xp.maximum(state["max_exp_avg_sq"], exp_avg_sq,
                                    out=state["max_exp_avg_sq"])
        # lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), with sqrt(bc2) moved to the numerator: the
        # same value in one pass less.
        denom = xp.sqrt(exp_avg_sq, out=scratch)
        denom += group["eps"] * bias_correction2_sqrt
        ratio = xp.divide(exp_avg, denom, out=scratch)
        ratio *= lr * bias_correction2_sqrt / bias_correction1
        param -= ratio


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): the weights shrink by
    ``lr * weight_decay`` each step, outside the averages. Arguments as :class:`Adam`, with
    ``weight_decay`` 0.01 by default."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


__all__ = ["Adam", "AdamW"]
