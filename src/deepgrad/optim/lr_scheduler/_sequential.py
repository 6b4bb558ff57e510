"""``SequentialLR``: schedules run one after another."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from deepgrad.optim.lr_scheduler._base import LRScheduler, _check_optimizer
from deepgrad.optim.lr_scheduler._plateau import ReduceLROnPlateau
from deepgrad.optim.optimizer import Optimizer


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the steps in ``milestones``; each
    starts from the initial lrs (e.g. ``LinearLR`` warm-up, then ``CosineAnnealingLR``)."""

    _not_state = ("optimizer", "_is_initial", "_schedulers")

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("SequentialLR: expects at least one scheduler")
        for i, scheduler in enumerate(schedulers):
            if isinstance(scheduler, ReduceLROnPlateau) or not isinstance(scheduler,
                                                                           LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] must be a schedule stepped "
                                f"without arguments; got {type(scheduler).__name__}")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(scheduler).__name__}) "
                                 "belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones; got {len(milestones)}")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        self._is_initial = False
        # Undo the first step each schedule took when it was built, then start the first one.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in schedulers:
            scheduler.last_epoch -= 1
        first = schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        """Step the schedule of the current phase (restarted at its milestone)."""
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """This schedule's state with each inner schedule's under ``_schedulers``."""
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore this schedule and every inner one."""
        state = dict(state_dict)
        inner = state.pop("_schedulers", None)
        if not isinstance(inner, list) or len(inner) != len(self._schedulers):
            raise KeyError(f"SequentialLR.load_state_dict: expected the states of "
                           f"{len(self._schedulers)} schedulers under '_schedulers'")
        super().load_state_dict(state)
        for scheduler, saved in zip(self._schedulers, inner):
            scheduler.load_state_dict(saved)
