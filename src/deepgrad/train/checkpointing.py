"""The Trainer's checkpoints: everything that decides the rest of a run (weights, optimizer and
schedule state, the data order, the random state, the position within the epoch, the gradient
of a group of accumulated batches, the callbacks' state) in one safetensors file, so that
``fit(..., resume_from=path)`` continues a killed run to the same weights, bit for bit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.creation import get_rng_state, set_rng_state
from deepgrad.errors import CheckpointError
from deepgrad.serialization import load_tree, save_tree
from deepgrad.tensor import Tensor
from deepgrad.train.callbacks import Callback

_CHECKPOINT_FORMAT = "deepgrad.trainer.checkpoint/1"


def _epoch_length(steps_per_epoch: int | None) -> str:
    return ("one pass over the data" if steps_per_epoch is None
            else f"{steps_per_epoch} batches")


class Checkpointing:
    """The checkpoint methods of :class:`~deepgrad.train.trainer.Trainer` (which holds the
    attributes they read: model, optimizer, scheduler, loader, position, metrics, callbacks)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything that decides the rest of the run, as arrays and plain values."""
        return {
            "format": _CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "loader": None if self._loader is None else self._loader.state_dict(),
            "rng": get_rng_state(),
            "epoch": self.epoch,
            "batch": self.batch,
            "epoch_seconds": getattr(self, "_epoch_seconds", 0.0) if self.batch else 0.0,
            "train_loss": self._train_loss.state_dict(),
            "train_metrics": [m.state_dict() for m in self._train_metrics],
            "history": self.history.state_dict(),
            "callbacks": [c.state_dict() for c in self.callbacks],
            "callback_types": [type(c).__name__ for c in self.callbacks],
            "accumulate_grad_batches": self.accumulate_grad_batches,
            "steps_per_epoch": self.steps_per_epoch,
            # Inside a group of accumulated batches, the gradient added up so far.
            "grads": [None if p.grad is None else p.grad.data
                      for p in self.model.parameters()]
            if self.batch % self.accumulate_grad_batches else [],
        }

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write :meth:`state_dict` to one safetensors file, atomically."""
        return save_tree(self.state_dict(), path)

    def _mismatches(self, state: dict[str, Any]) -> list[str]:
        """What the run of a checkpoint had otherwise than this Trainer, of what an exact resume
        needs unchanged: a schedule and its length, the data and batching, the metrics."""
        saved = state["scheduler"]
        if (self.scheduler is None) != (saved is None):
            return [f"it was written {'with' if saved is not None else 'without'} a scheduler, "
                    f"and this Trainer has {'one' if self.scheduler is not None else 'none'}"]
        differ = []
        # A schedule laid out over a number of steps (OneCycleLR) restores that number from
        # the checkpoint: resumed with more epochs, it would run out before the end.
        steps = getattr(self.scheduler, "total_steps", None)
        if isinstance(saved, dict) and steps is not None and saved.get("total_steps") != steps:
            differ.append(f"its schedule spans {saved.get('total_steps')} steps, this "
                          f"Trainer's {steps} (were the epochs or the batches changed?)")
        if self._loader is not None and state["loader"] is not None:
            differ += [f"its data loader had {text}"
                       for text in self._loader.mismatches(state["loader"])]
        saved_k = int(state.get("accumulate_grad_batches", 1))
        if saved_k != self.accumulate_grad_batches:
            differ.append(f"it accumulated gradients over {saved_k} batches, this Trainer over "
                          f"{self.accumulate_grad_batches}")
        saved_steps = state.get("steps_per_epoch")
        if saved_steps != self.steps_per_epoch:
            differ.append(f"epochs of {_epoch_length(saved_steps)}, this Trainer's "
                          f"{_epoch_length(self.steps_per_epoch)} (steps_per_epoch)")
        if len(state["train_metrics"]) != len(self._train_metrics):
            differ.append(f"it has {len(state['train_metrics'])} metrics, this Trainer "
                          f"{len(self._train_metrics)}")
        return differ

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` into this trainer (its model,
        optimizer, schedule, data loader, random state, epoch and callbacks)."""
        state = load_tree(path)
        if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not a Trainer checkpoint (a weights file loads with "
                                  f"dg.load_into(model, path))")
        differ = self._mismatches(state)
        if differ:
            raise CheckpointError(f"{path}: the run that wrote the checkpoint does not fit this "
                                  f"one: {'; '.join(differ)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self._loader is not None and state["loader"] is not None:
            self._loader.load_state_dict(state["loader"])
        set_rng_state(state["rng"])
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        for param, grad in zip(self.model.parameters(), state.get("grads", [])):
            param.grad = None if grad is None else Tensor._make(np.array(grad))
        self._resumed_seconds = float(state["epoch_seconds"])
        self._train_loss.load_state_dict(state["train_loss"])
        for metric, metric_state in zip(self._train_metrics, state["train_metrics"]):
            metric.load_state_dict(metric_state)
        self.history.load_state_dict(state["history"])
        self._restore_callbacks(path, state)

    def _restore_callbacks(self, path: str | os.PathLike, state: dict[str, Any]) -> None:
        """Give each callback the saved state of the callback of its class at the same place
        among those of that class: a ProgressBar added or left out (``verbose``) or a callback
        appended changes nothing for the others. Those without a saved state start afresh."""
        saved, kinds = state["callbacks"], state.get("callback_types")
        if kinds is None:  # written before the classes were kept: by position, if it can be
            kinds = ([type(c).__name__ for c in self.callbacks]
                     if len(saved) == len(self.callbacks)
                     else [f"callback {i + 1} of {len(saved)}" for i in range(len(saved))])
        queues: dict[str, list[dict[str, Any]]] = {}
        for kind, callback_state in zip(kinds, saved):
            queues.setdefault(kind, []).append(callback_state)
        afresh = []
        for callback in self.callbacks:
            queue = queues.get(type(callback).__name__)
            if queue:
                callback.load_state_dict(queue.pop(0))
            elif type(callback).state_dict is not Callback.state_dict:
                afresh.append(type(callback).__name__)
        unused = [kind for kind, queue in queues.items() for s in queue if s]
        if afresh or unused:
            said = ([f"no saved state for {', '.join(afresh)}: starting afresh"] if afresh else [])
            said += ([f"the saved state of {', '.join(unused)} matches none of this Trainer's "
                      f"callbacks: left unused"] if unused else [])
            print(f"Trainer: {path}: {'; '.join(said)}", file=sys.stderr)
