"""Schedules made of others: ``SequentialLR`` runs them one after another, ``ChainedScheduler``
steps them all together."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from deepgrad.optim.lr_scheduler._base import LRScheduler, _check_optimizer
from deepgrad.optim.lr_scheduler._plateau import ReduceLROnPlateau
from deepgrad.optim.optimizer import Optimizer


class _Composite(LRScheduler):
    """A schedule made of others (in ``_schedulers``), whose states its state dict holds."""

    _not_state = ("optimizer", "_is_initial", "_schedulers")
    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        """This schedule's state with each inner schedule's under ``_schedulers``."""
        state = super().state_dict()
        state["_schedulers"] = [inner.state_dict() for inner in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore this schedule and every inner one."""
        state = dict(state_dict)
        inner = state.pop("_schedulers", None)
        if not isinstance(inner, list) or len(inner) != len(self._schedulers):
            raise KeyError(f"{type(self).__name__}.load_state_dict: expected the states of "
                           f"{len(self._schedulers)} schedulers under '_schedulers'")
        super().load_state_dict(state)
        for scheduler, saved in zip(self._schedulers, inner):
            scheduler.load_state_dict(saved)


def _check_schedulers(composite: _Composite, schedulers: list[Any],
                      optimizer: Optimizer | None) -> Optimizer:
    """Check the inner schedules of ``composite``; return their optimizer (the first one's
    when ``optimizer`` is None)."""
    name = type(composite).__name__
    if not schedulers:
        raise ValueError(f"{name}: expects at least one scheduler")
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau) or not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{name}: schedulers[{i}] must be a schedule stepped without "
                            f"arguments; got {type(scheduler).__name__}")
    if optimizer is None:
        optimizer = schedulers[0].optimizer
    _check_optimizer(composite, optimizer)
    for i, scheduler in enumerate(schedulers):
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{name}: schedulers[{i}] ({type(scheduler).__name__}) belongs "
                             "to another optimizer")
    return optimizer


class SequentialLR(_Composite):
    """Run ``schedulers`` one after another, switching at the steps in ``milestones``; each
    starts from the initial lrs (e.g. ``LinearLR`` warm-up, then ``CosineAnnealingLR``)."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        schedulers = list(schedulers)
        _check_schedulers(self, schedulers, optimizer)
        for i, scheduler in enumerate(schedulers):
            if i > 0 and isinstance(scheduler, _Composite):
                # At its milestone a schedule restarts from step 0 by its closed form, which a
                # schedule made of others lacks (PyTorch fails there, mid-training).
                raise TypeError(f"SequentialLR: schedulers[{i}] is a "
                                f"{type(scheduler).__name__}, which can only come first (it "
                                "cannot restart at a milestone)")
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
            _undo_initial_step(scheduler)
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


class ChainedScheduler(_Composite):
    """Step every schedule of ``schedulers`` at each ``step()``, in order, so that their
    changes of the lr compose (e.g. ``ConstantLR`` warm-up with ``ExponentialLR`` decay).

    Args:
        schedulers: the schedules, all of the same optimizer (``ReduceLROnPlateau`` cannot be
            chained: it needs a metric).
        optimizer: their optimizer (by default the first schedule's).
    """

    def __init__(self, schedulers: Sequence[LRScheduler],
                 optimizer: Optimizer | None = None) -> None:
        schedulers = list(schedulers)
        self.optimizer = _check_schedulers(self, schedulers, optimizer)
        self._schedulers = schedulers
        self._last_lr = self._lrs()

    def step(self) -> None:
        """Step every schedule, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._lrs()


def _undo_initial_step(scheduler: LRScheduler) -> None:
    """Take back the step a schedule took when it was built (of each inner one, for a schedule
    made of others), as PyTorch's ``SequentialLR`` does."""
    if not isinstance(scheduler, _Composite):
        scheduler.last_epoch -= 1
        return
    for inner in scheduler._schedulers:
        _undo_initial_step(inner)

