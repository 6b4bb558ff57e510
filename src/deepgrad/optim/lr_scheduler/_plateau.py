"""``ReduceLROnPlateau``: lower the lr when a metric stops improving."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from deepgrad.optim.lr_scheduler._base import LRScheduler, _check_optimizer, _per_group
from deepgrad.optim.optimizer import Optimizer


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has stopped improving for more than
    ``patience`` steps; ``step(metric)`` takes the metric (e.g. the validation loss).

    Args:
        optimizer: the optimizer to schedule.
        mode: ``"min"`` (lower is better) or ``"max"``.
        factor: the lr multiplier, below 1.
        patience: the number of steps without improvement tolerated before a reduction.
        threshold: the smallest change that counts as an improvement.
        threshold_mode: ``"rel"`` (relative to the best value) or ``"abs"``.
        cooldown: steps to wait after a reduction before counting bad steps again.
        min_lr: the lowest lr, or one per parameter group.
        eps: reductions smaller than this are skipped.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0,
                 eps: float = 1e-8) -> None:
        _check_optimizer(self, optimizer)
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1); got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max'; got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs'; got "
                             f"{threshold_mode!r}")
        self.optimizer = optimizer
        self.min_lr_per_group = isinstance(min_lr, (list, tuple))
        self.min_lrs = _per_group(self, "min_lr", optimizer, min_lr)
        self.factor = factor
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else \
                self.best - self.threshold
            return value < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else \
            self.best + self.threshold
        return value > bar

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record this step's metric (a number or one-element tensor); reduce the lrs when
        it has not improved for more than ``patience`` steps."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.min_lr_per_group:
                raise ValueError(f"ReduceLROnPlateau: min_lr has {len(self.min_lrs)} values, "
                                 f"but the optimizer now has {len(groups)} parameter groups; "
                                 "set min_lrs to one value per group")
            self.min_lrs = self.min_lrs[:1] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
