"""Schedules given by the user's functions of the step: ``LambdaLR`` and ``MultiplicativeLR``.

Their state dicts leave the functions out (PyTorch saves none that are plain functions or
lambdas, and deepgrad's checkpoints hold no code): build the schedule again with the same
functions, then load its state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from deepgrad.optim.lr_scheduler._base import LRScheduler, _check_optimizer
from deepgrad.optim.optimizer import Optimizer

_LrLambda = Callable[[int], float]


def _lr_lambdas(scheduler: object, optimizer: Optimizer,
                lr_lambda: _LrLambda | Sequence[_LrLambda]) -> list[_LrLambda]:
    """One function per parameter group: a list as given (of the right length), or a repeated
    one."""
    name = type(scheduler).__name__
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != len(optimizer.param_groups):
            raise ValueError(f"{name}: lr_lambda has {len(lr_lambda)} functions, but the "
                             f"optimizer has {len(optimizer.param_groups)} parameter groups")
        functions = list(lr_lambda)
    else:
        functions = [lr_lambda] * len(optimizer.param_groups)
    for i, function in enumerate(functions):
        if not callable(function):
            raise TypeError(f"{name}: lr_lambda must be a function of the step (or one per "
                            f"parameter group); got {type(function).__name__} for group {i}")
    return functions


class LambdaLR(LRScheduler):
    """Set the lr to the initial lr times ``lr_lambda(step)``.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the step index giving the factor, or one per parameter group.
            It is not saved by ``state_dict``: rebuild the schedule with it before loading.
        last_epoch: as in :class:`LRScheduler`.
    """

    _not_state = ("optimizer", "_is_initial", "lr_lambdas")

    def __init__(self, optimizer: Optimizer, lr_lambda: _LrLambda | Sequence[_LrLambda],
                 last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        self.lr_lambdas = _lr_lambdas(self, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """``base_lr * lr_lambda(last_epoch)`` for every group."""
        return [base * function(self.last_epoch)
                for function, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]


class MultiplicativeLR(LRScheduler):
    """Multiply the lr by ``lr_lambda(step)`` at every step.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the step index giving the multiplier, or one per parameter
            group. It is not saved by ``state_dict``: rebuild the schedule with it before
            loading.
        last_epoch: as in :class:`LRScheduler`.
    """

    _not_state = ("optimizer", "_is_initial", "lr_lambdas")

    def __init__(self, optimizer: Optimizer, lr_lambda: _LrLambda | Sequence[_LrLambda],
                 last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        self.lr_lambdas = _lr_lambdas(self, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times ``lr_lambda(last_epoch)`` (unchanged at construction)."""
        if self._is_initial:
            return self._lrs()
        return [lr * function(self.last_epoch)
                for function, lr in zip(self.lr_lambdas, self._lrs(), strict=True)]
