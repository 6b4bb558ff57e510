"""Rprop: each weight's own step size, grown while its gradient keeps its sign and shrunk when
the sign flips; only the sign of the gradient is used."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.optim.optimizer import Optimizer


class Rprop(Optimizer):
    """Rprop (Riedmiller & Braun), as PyTorch runs it. Per weight, with ``s = sign(g * prev)``:
    the step size becomes ``clip(step_size * (eta_plus if s > 0 else eta_minus if s < 0 else
    1), step_min, step_max)``; where the sign flipped (``s < 0``) the gradient is taken as 0
    (no move this step, and no flip seen next step); ``p -= sign(g) * step_size``; ``prev = g``.
    Step sizes start at ``lr``; later changes of ``lr`` (schedules) do not affect them.

    Args:
        params: Parameters or parameter groups (see :class:`Optimizer`).
        lr: the initial step size of every weight.
        etas: (eta_minus, eta_plus), the factors that shrink and grow a step size, with
            ``0 < eta_minus < 1 < eta_plus``.
        step_sizes: (step_min, step_max), the bounds of the step sizes, ``0 <= step_min <=
            step_max``.
        foreach: accepted for PyTorch compatibility; deepgrad has one implementation.
        maximize: ascend the objective instead of descending it.
    """

    state_arrays = ("prev", "step_size")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "etas": etas, "step_sizes": step_sizes,
                                  "maximize": maximize})

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr >= 0, 0 < eta_minus < 1 < eta_plus and 0 <= step_min <= step_max."""
        self.check_number(group, index, "lr")
        for key in ("etas", "step_sizes"):
            value = group[key]
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise TypeError(f"{type(self).__name__}: {key} must be a pair; got {value!r}")
        for i, eta in enumerate(group["etas"]):
            self.check_number(group, index, "etas", None, value=eta, label=f"etas[{i}]")
        eta_minus, eta_plus = group["etas"]
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            where = f" of parameter group {index}" if index else ""
            raise ValueError(f"{type(self).__name__}: etas{where} must satisfy 0 < etas[0] < 1 < "
                             f"etas[1]; got {tuple(group['etas'])}")
        step_min, step_max = group["step_sizes"]
        self.check_number(group, index, "step_sizes", value=step_min, label="step_sizes[0]")
        self.check_number(group, index, "step_sizes", step_min, None, value=step_max,
                          label="step_sizes[1]")

    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Step count 0, no previous gradient, and every step size at ``lr``."""
        return {"step": 0, "prev": xp.zeros_like(param),
                "step_size": xp.full_like(param, group["lr"])}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One Rprop step of one parameter, in place."""
        state["step"] += 1
        eta_minus, eta_plus = group["etas"]
        prev, step_size = state["prev"], state["step_size"]
        d = self.effective_grad(param, grad, 0.0, group["maximize"])
        factor = xp.sign(xp.multiply(d, prev, out=self.scratch(param, 1)),
                         out=self.scratch(param, 1))
        flipped = factor < 0
        # Assigned, not computed (e.g. 1 + s * (eta_plus - 1)), to give torch's exact factors.
        factor[factor > 0] = eta_plus
        factor[flipped] = eta_minus
        factor[factor == 0] = 1.0
        step_size *= factor
        xp.clip(step_size, *group["step_sizes"], out=step_size)
        # prev becomes the gradient with the flipped weights zeroed: the step below moves them
        # by 0, and the next step sees no flip for them, so their step size is kept once.
        xp.copyto(prev, d)
        prev[flipped] = 0.0
        move = xp.sign(prev, out=self.scratch(param, 1))
        move *= step_size
        param -= move


__all__ = ["Rprop"]
