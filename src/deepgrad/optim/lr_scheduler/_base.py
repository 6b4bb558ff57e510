"""The base class of the schedules, and the schedules that follow a fixed rule from step to
step: ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LinearLR``, ``ConstantLR``,
``PolynomialLR`` and ``CosineAnnealingLR``."""

from __future__ import annotations

import copy
import math
import warnings
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from deepgrad.optim.optimizer import Optimizer


def _check_optimizer(scheduler: object, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(scheduler).__name__}: expects a deepgrad Optimizer; got "
                        f"{type(optimizer).__name__}")


def _per_group(scheduler: object, name: str, optimizer: Optimizer, value: Any) -> list:
    """One value per parameter group: a list as given (of the right length), or a repeated one."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{type(scheduler).__name__}: {name} has {len(value)} values, but "
                             f"the optimizer has {len(optimizer.param_groups)} parameter groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def _check_positive_int(scheduler: object, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{type(scheduler).__name__}: {name} must be a positive integer; got "
                         f"{value!r}")


def _momentum_uses_beta1(scheduler: object, optimizer: Optimizer) -> bool:
    """Whether cycling the momentum means cycling beta1 (Adam) rather than ``momentum``."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(f"{type(scheduler).__name__}: cycle_momentum=True needs an optimizer "
                         f"with momentum or betas; {type(optimizer).__name__} has neither "
                         "(pass cycle_momentum=False)")
    return "betas" in optimizer.defaults


def _set_momentum(group: dict[str, Any], use_beta1: bool, momentum: float) -> None:
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


class LRScheduler:
    """Base class of the schedules: subclasses define ``get_lr`` (the next lrs, usually from
    the current ones) and, where PyTorch has one, ``closed_form_lr`` (the lrs at
    ``last_epoch`` from the initial ones).

    Args:
        optimizer: the optimizer whose ``param_groups`` lrs this schedule sets.
        last_epoch: the index of the last step taken; -1 starts the schedule. Resuming with
            ``last_epoch >= 0`` needs ``initial_lr`` in every group (from a loaded optimizer).
    """

    # Attributes that are not state: the optimizer, and a flag set only during construction.
    _not_state = ("optimizer", "_is_initial")

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: resuming with last_epoch={last_epoch} "
                               f"needs 'initial_lr' in parameter group {i}; load the "
                               "optimizer's state dict first, or start with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._is_initial = False
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr of every group for the step ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def closed_form_lr(self) -> list[float]:
        """The lr of every group at ``last_epoch`` computed from the initial lrs."""
        return self.get_lr()

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance the schedule by one step (call it after ``optimizer.step()``)."""
        self._count_step()
        self._update_lr()

    def _count_step(self) -> None:
        """Count a call of ``step``, warning when the optimizer has not stepped yet."""
        if self._step_count == 1 and self.optimizer._step_count == 0:
            # stacklevel 3: the user's call of step(), which called this.
            warnings.warn(f"{type(self).__name__}.step() was called before optimizer.step(): "
                          "call optimizer.step() first, else the first lr of the schedule is "
                          "skipped", UserWarning, stacklevel=3)
        self._step_count += 1

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self.closed_form_lr()
        self._set_lrs(values)

    def _set_lrs(self, values: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = self._lrs()

    def get_last_lr(self) -> list[float]:
        """The lrs the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's state (numbers, strings, bools and lists), without the optimizer."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                if key not in self._not_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict`` of the same kind of schedule."""
        expected = {key for key in self.__dict__ if key not in self._not_state}
        got = set(state_dict) if isinstance(state_dict, dict) else set()
        if got != expected:
            problems = [f"{label} {sorted(keys)}" for label, keys in
                        (("missing", expected - got), ("unexpected", got - expected)) if keys]
            raise KeyError(f"{type(self).__name__}.load_state_dict: the state dict does not "
                           f"fit this schedule ({', '.join(problems)})")
        self.__dict__.update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_positive_int(self, "step_size", step_size)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs, times gamma at multiples of step_size."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``base_lr * gamma ** (last_epoch // step_size)``."""
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each step listed in ``milestones`` (a step listed twice
    multiplies by gamma twice)."""

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs, times gamma (per listing) at a milestone."""
        count = self.milestones.count(self.last_epoch)
        if not count:
            return self._lrs()
        return [lr * self.gamma ** count for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``base_lr * gamma ** (milestones passed)``."""
        passed = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times gamma (unchanged at construction)."""
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``base_lr * gamma ** last_epoch``."""
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps, then keep it."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1]; got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1]; got {end_factor}")
        _check_positive_int(self, "total_iters", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times the ratio of this step's factor to the previous one's."""
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``base_lr`` times the interpolated factor."""
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * fraction
        return [base * factor for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Scale the lr by ``factor`` for the first ``total_iters`` steps, then restore it (a
    constant warm-up)."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        # factor 0 is refused (PyTorch takes it) because restoring the lr divides by it.
        if not 0 < factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in (0, 1]; got {factor}")
        _check_positive_int(self, "total_iters", total_iters)
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs, times factor at step 0 and divided by it at ``total_iters``."""
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._lrs()]
        if self.last_epoch != self.total_iters:
            return self._lrs()
        return [lr * (1.0 / self.factor) for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``base_lr * factor`` before ``total_iters``, ``base_lr`` from then on."""
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the lr to 0 over ``total_iters`` steps as ``(1 - step / total_iters) ** power``,
    then keep it there."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        _check_positive_int(self, "total_iters", total_iters)
        if not power >= 0:
            raise ValueError(f"PolynomialLR: power must be >= 0; got {power}")
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times the ratio of this step's decay to the previous one's."""
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        ratio = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [lr * ratio for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``base_lr * (1 - min(last_epoch, total_iters) / total_iters) ** power``."""
        decay = (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        return [base * decay for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from its initial value to ``eta_min`` along a half cosine over ``T_max``
    steps (and back up over the next ``T_max``, as PyTorch's recursive form does)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        _check_positive_int(self, "T_max", T_max)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """PyTorch's recursive cosine step from the current lrs."""
        epoch, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and epoch > 0:
            return self.closed_form_lr()
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for lr, base in zip(self._lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1)
                                                                       / t_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self._lrs()]

    def closed_form_lr(self) -> list[float]:
        """``eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2``."""
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]
