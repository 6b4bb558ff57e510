"""``History``: what ``Trainer.fit`` returns, one value per epoch for the loss and every metric."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any


class History:
    """Per-epoch logs of a ``fit`` run, as in Keras.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one value per
            epoch (validation keys only when validation data was given; nan in the epochs that
            ``validation_freq`` skipped).
        epoch: the epoch numbers (0-based) the values belong to.
        times: seconds each epoch took (training and validation).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.times: list[float] = []

    def append(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        """Record the logs of one finished epoch."""
        done = len(self.epoch)
        self.epoch.append(epoch)
        self.times.append(seconds)
        for key, value in logs.items():
            self.history.setdefault(key, [math.nan] * done).append(float(value))
        for values in self.history.values():
            if len(values) == done:  # a key this epoch did not log
                values.append(math.nan)

    def state_dict(self) -> dict[str, Any]:
        """Plain values, for checkpoints."""
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch), "times": list(self.times)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]
        self.times = [float(t) for t in state["times"]]

    def plot(self, path: str | os.PathLike) -> Path:
        """Write the learning curves (loss and each metric, train vs validation) as a PNG.
        Needs matplotlib: ``pip install 'deepgrad[plot]'``."""
        from deepgrad.train.plots import plot_history

        return Path(plot_history(self.history, path))

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History(epochs={len(self.epoch)}{', ' + last if last else ''})"
