"""Schedules that repeat: ``CyclicLR`` (triangular cycles, stepped per batch, which also cycles
the momentum) and ``CosineAnnealingWarmRestarts`` (SGDR: cosine annealing restarted every
``T_i`` steps)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from deepgrad.optim.lr_scheduler._base import (
    LRScheduler,
    _check_optimizer,
    _check_positive_int,
    _momentum_uses_beta1,
    _per_group,
    _set_momentum,
)
from deepgrad.optim.optimizer import Optimizer

_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(LRScheduler):
    """The cyclical learning-rate policy (Smith): the lr goes from ``base_lr`` up to ``max_lr``
    over ``step_size_up`` steps and back down over ``step_size_down``, again and again; the
    momentum (SGD, RMSprop) or beta1 (Adam) cycles the other way, between ``max_momentum`` and
    ``base_momentum``. Step it after every batch.

    The amplitude ``max_lr - base_lr`` is scaled by ``mode``: ``"triangular"`` keeps it,
    ``"triangular2"`` halves it every cycle, ``"exp_range"`` multiplies it by
    ``gamma ** step``; or by ``scale_fn(cycle)`` (``scale_mode="cycle"``) or
    ``scale_fn(step)`` (``scale_mode="iterations"``) when ``scale_fn`` is given.

    Args:
        optimizer: the optimizer to schedule.
        base_lr: the lower lr of the cycle, or one per parameter group (it replaces the lrs).
        max_lr: the upper lr of the cycle, or one per parameter group.
        step_size_up: the number of steps from ``base_lr`` to ``max_lr``.
        step_size_down: the number of steps back down (``step_size_up`` if None; 0 gives a
            sawtooth).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``; ignored with scale_fn.
        gamma: the base of the ``"exp_range"`` scaling.
        scale_fn: a function of the cycle (from 1) or step giving the amplitude's scale in
            [0, 1]. It is not saved by ``state_dict``: rebuild the schedule with it before
            loading.
        scale_mode: what scale_fn is given: ``"cycle"`` or ``"iterations"``.
        cycle_momentum: cycle the momentum / beta1 too (needs an optimizer with either).
        base_momentum, max_momentum: the momentum's range (or one per group).
        last_epoch: the index of the last batch, as in :class:`LRScheduler`.
    """

    _not_state = ("optimizer", "_is_initial", "_scale_fn_custom")

    def __init__(self, optimizer: Optimizer, base_lr: float | Sequence[float],
                 max_lr: float | Sequence[float], step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        _check_positive_int(self, "step_size_up", step_size_up)
        if step_size_down is None:
            step_size_down = step_size_up
        elif isinstance(step_size_down, bool) or not isinstance(step_size_down, int) or \
                step_size_down < 0:
            raise ValueError(f"CyclicLR: step_size_down must be a non-negative integer; got "
                             f"{step_size_down!r}")
        if scale_fn is None and mode not in _MODES:
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or "
                             f"'exp_range' (or give scale_fn); got {mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"CyclicLR: scale_fn must be a function; got "
                            f"{type(scale_fn).__name__}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations'; got "
                             f"{scale_mode!r}")
        base_lrs = _per_group(self, "base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group(self, "max_lr", optimizer, max_lr)
        self.total_size = float(step_size_up) + float(step_size_down)
        self.step_ratio = float(step_size_up) / self.total_size
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        if scale_fn is None:
            scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.scale_mode = scale_mode
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_uses_beta1(self, optimizer)
            self.base_momentums = _per_group(self, "base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group(self, "max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for top, base, group in zip(self.max_momentums, self.base_momentums,
                                            optimizer.param_groups):
                    _set_momentum(group, self.use_beta1, top)
                    group["max_momentum"] = top
                    group["base_momentum"] = base
        super().__init__(optimizer, last_epoch)
        # Set after the first step, as PyTorch does: that step starts from the groups'
        # initial_lr, which differs from base_lr when another schedule set it first.
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or step) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        """The lrs of this step of the cycle; sets the momentum (or beta1) as a side effect."""
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * scale_factor * scale
               for base, top in zip(self.base_lrs, self.max_lrs, strict=True)]
        if self.cycle_momentum:
            for group, base, top in zip(self.optimizer.param_groups, self.base_momentums,
                                        self.max_momentums, strict=True):
                _set_momentum(group, self.use_beta1, top - (top - base) * scale_factor * scale)
        return lrs


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): anneal the lr from its initial value to ``eta_min`` along a
    half cosine over ``T_i`` steps, then restart from the initial value, with ``T_0`` steps
    in the first period and each period ``T_mult`` times longer than the one before.

    ``step(epoch)`` jumps to ``epoch``, which may be fractional (e.g. ``epoch + i / batches``
    to anneal within epochs), as in PyTorch.

    Args:
        optimizer: the optimizer to schedule.
        T_0: the number of steps until the first restart.
        T_mult: the factor by which each period grows after a restart.
        eta_min: the lowest lr.
        last_epoch: as in :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        _check_positive_int(self, "T_0", T_0)
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an integer >= 1; "
                             f"got {T_mult!r}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """``eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``."""
        cosine = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * cosine / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance by one step, or jump to ``epoch`` (a number >= 0, possibly fractional)."""
        self._count_step()
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0; got {epoch}")
        elif epoch < self.T_0:
            self.T_i = self.T_0
            self.T_cur = epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            restarts = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult ** restarts - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult ** restarts
        self.last_epoch = math.floor(epoch)
        self._set_lrs(self.get_lr())
