"""Adam's variants: NAdam (Nesterov momentum), RAdam (rectified variance) and Adamax (infinity
norm), each with PyTorch's arguments, state and numbers."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.adam import adam_gradient, adam_moments, check_adam_group
from deepgrad.optim.optimizer import Optimizer


class NAdam(Optimizer):
    """NAdam (Dozat): Adam with Nesterov momentum. The momentum coefficient warms up as
    ``mu_t = b1 * (1 - 0.5 * 0.96**(t * momentum_decay))``, and the step mixes the gradient and
    the average looked ahead:
    ``p -= lr * ((1-mu_t) / (1-P_t) * d + mu_{t+1} / (1-P_{t+1}) * m) / (sqrt(v_hat) + eps)``
    with ``P_t = mu_1 * ... * mu_t`` and ``v_hat = v / (1-b2**t)``.

    ``P_t`` is kept in float64 (``mu_product`` in the state). PyTorch keeps it in its default
    dtype: float32, unless ``torch.set_default_dtype(torch.float64)``. With float64 parameters,
    the steps then differ from PyTorch's by about 1e-7 relative (by rounding only when its
    default dtype is float64).

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        betas: the decay rates (b1, b2) of the two averages, each in [0, 1).
        eps: added to the denominator for stability.
        weight_decay: the L2 penalty coefficient.
        momentum_decay: how fast the momentum coefficient warms up to b1.
        decoupled_weight_decay: shrink the weights by ``lr * weight_decay`` directly instead of
            adding the penalty to the gradient (NAdamW).
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, eps, weight_decay, momentum_decay >= 0 and both betas in [0, 1)."""
        check_adam_group(self, group, index, "momentum_decay")

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0, the product of momentum coefficients at 1, and zero averages."""
        return {"step": 0, "mu_product": 1.0, "exp_avg": xp.zeros_like(param),
                "exp_avg_sq": xp.zeros_like(param)}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One NAdam step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        beta1, beta2 = group["betas"]
        d = adam_gradient(self, param, grad, group)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * group["momentum_decay"])))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * group["momentum_decay"])))
        mu_product = state["mu_product"] = state["mu_product"] * mu
        adam_moments(self, param, d, state, group["betas"])
        # The two terms share their denominator, so they are summed first: m scaled relative to
        # d (whose weight is > 0, as mu < 1), then one division and one scaling. sqrt(1-b2**t)
        # moves from under v to the numerator, as in Adam.
        grad_weight = (1.0 - mu) / (1.0 - mu_product)
        avg_weight = mu_next / (1.0 - mu_product * mu_next)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        denom = xp.sqrt(state["exp_avg_sq"], out=self.scratch(param, 1))
        denom += group["eps"] * bias_correction2_sqrt
        numer = xp.multiply(state["exp_avg"], avg_weight / grad_weight,
                            out=self.scratch(param, 2))
        numer += d
        numer /= denom
        numer *= group["lr"] * grad_weight * bias_correction2_sqrt
        param -= numer


class RAdam(Optimizer):
    """RAdam (Liu et al.): Adam whose adaptive step is switched on only once the variance of
    ``v`` can be estimated, and then rectified. With ``rho_inf = 2/(1-b2) - 1`` and
    ``rho_t = rho_inf - 2t * b2**t / (1-b2**t)``: while ``rho_t <= 5``, ``p -= lr * m_hat``
    (momentum SGD); after, ``p -= lr * r_t * m_hat * sqrt(1-b2**t) / (sqrt(v) + eps)``, where
    ``r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))`` and
    ``m_hat = m / (1-b1**t)``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        betas: the decay rates (b1, b2) of the two averages, each in [0, 1).
        eps: added to the denominator for stability.
        weight_decay: the L2 penalty coefficient.
        decoupled_weight_decay: shrink the weights by ``lr * weight_decay`` directly instead of
            adding the penalty to the gradient (RAdamW).
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, eps, weight_decay >= 0 and both betas in [0, 1)."""
        check_adam_group(self, group, index)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0 and zero averages."""
        return {"step": 0, "exp_avg": xp.zeros_like(param), "exp_avg_sq": xp.zeros_like(param)}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One RAdam step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        lr, (beta1, beta2) = group["lr"], group["betas"]
        d = adam_gradient(self, param, grad, group)
        adam_moments(self, param, d, state, group["betas"])
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        # Written as PyTorch writes it, so that both switch at the same step.
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        scratch = self.scratch(param, 1)
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            denom = xp.sqrt(state["exp_avg_sq"], out=scratch)
            denom += group["eps"]
            ratio = xp.divide(state["exp_avg"], denom, out=scratch)
            ratio *= lr * rect * math.sqrt(bias_correction2) / bias_correction1
        else:
            ratio = xp.multiply(state["exp_avg"], lr / bias_correction1, out=scratch)
        param -= ratio


class Adamax(Optimizer):
    """Adamax (Kingma & Ba): Adam with the infinity norm in place of the second moment,
    ``m = b1*m + (1-b1)*d``, ``u = max(b2*u, |d| + eps)``, ``p -= lr / (1-b1**t) * m / u``; d
    is the gradient plus ``weight_decay * p``.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the learning rate.
        betas: the decay rates (b1, b2) of the average and of the norm, each in [0, 1).
        eps: added to ``|d|`` for stability.
        weight_decay: the L2 penalty coefficient.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("exp_avg", "exp_inf")

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr, eps, weight_decay >= 0 and both betas in [0, 1)."""
        check_adam_group(self, group, index)

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0, zero average and zero norm."""
        return {"step": 0, "exp_avg": xp.zeros_like(param), "exp_inf": xp.zeros_like(param)}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Adamax step of one parameter, in place."""
        step = state["step"] = state["step"] + 1
        beta1, beta2 = group["betas"]
        d = self.effective_grad(param, grad, group["weight_decay"], group["maximize"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        scratch = self.scratch(param, 1)
        exp_avg *= beta1
        exp_avg += xp.multiply(d, 1 - beta1, out=scratch)
        exp_inf *= beta2
        bound = xp.abs(d, out=scratch)
        bound += group["eps"]
        xp.maximum(exp_inf, bound, out=exp_inf)
        ratio = xp.divide(exp_avg, exp_inf, out=scratch)
        ratio *= group["lr"] / (1 - beta1 ** step)
        param -= ratio


__all__ = ["Adamax", "NAdam", "RAdam"]
