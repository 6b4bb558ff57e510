"""Callbacks: code that ``Trainer.fit`` calls at the start and end of training, epochs and batches.

A callback overrides the hooks it needs. ``logs`` carry numbers: after a batch ``{"loss": ...}``
(that batch's loss), after an epoch the epoch's means of the loss and every metric, with
``val_``-prefixed entries for the validation data. ``self.trainer`` is the Trainer running it.
A callback with state that must survive a resume (a best value, a patience counter) returns it
from ``state_dict`` and takes it back in ``load_state_dict``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepgrad.serialization import atomic_write


class Callback:
    """Base class: every hook does nothing. A callback that writes checkpoints
    (``trainer.save_checkpoint``) sets ``writes_checkpoints = True``, as ModelCheckpoint does."""

    trainer: Any = None
    # Checkpoint writers run after the other callbacks at each hook, so that the state they save
    # holds every callback's update of that epoch (a logger's record, early stopping's count).
    writes_checkpoints = False

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        """Before the first epoch (also when resuming)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        """Before each epoch (0-based)."""

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        """After each training batch (0-based within the epoch); ``logs["loss"]`` is its loss."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """After each epoch and its validation; ``logs`` are the epoch's results."""

    def on_train_end(self, logs: dict[str, Any]) -> None:
        """After the last epoch, or when training stopped early."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (plain values)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
    if mode != "auto":
        return mode
    higher_better = ("acc", "precision", "recall", "f1", "r2")
    return "max" if any(word in monitor for word in higher_better) else "min"


class _Monitor(Callback):
    """Shared by callbacks that watch one logged value for improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        self.monitor = monitor
        self.mode = _mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best: float | None = None

    def _current(self, logs: dict[str, Any]) -> float | None:
        """The monitored value, or None in an epoch that ``validation_freq`` left without
        validation (the value is then not judged)."""
        if self.monitor not in logs:
            if self.monitor.startswith("val_") and getattr(self.trainer, "validation_skipped",
                                                           False):
                return None
            raise KeyError(f"{type(self).__name__}: monitor={self.monitor!r} is not among the "
                           f"logged values {sorted(logs)}; validation values need "
                           f"validation_data")
        return float(logs[self.monitor])

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; with ``restore_best``,
    put back the weights of the best epoch when stopping (or at the end of training)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = False) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best = restore_best
        self.wait = 0
        self.best_epoch: int | None = None
        self.best_weights: dict[str, Any] | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        value = self._current(logs)
        if value is None:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_weights = self.trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.stop_reason = (f"EarlyStopping: {self.monitor} did not improve for "
                                        f"{self.wait} epochs (best {self.best:.6g} at epoch "
                                        f"{self.best_epoch + 1})")

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.restore_best and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = state["best"], state["wait"]
        self.best_epoch, self.best_weights = state["best_epoch"], state["best_weights"]


class ModelCheckpoint(_Monitor):
    """Save a checkpoint after every epoch (or every ``every_n_batches`` batches), or only when
    ``monitor`` improved (``save_best_only``).

    A checkpoint holds everything needed to resume exactly (weights, optimizer, schedule, data
    order and random state): ``trainer.fit(..., resume_from=path)``. With ``weights_only`` it
    holds the weights alone (``dg.load_into(model, path)``). ``path`` may contain ``{epoch}``
    (1-based). Files are written atomically: a crash leaves the previous one intact. It runs
    after the other callbacks, so that their updates of the epoch are in the checkpoint.
    """

    writes_checkpoints = True

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto", weights_only: bool = False,
                 every_n_batches: int | None = None) -> None:
        super().__init__(monitor, mode)
        if every_n_batches is not None and (save_best_only or every_n_batches < 1):
            raise ValueError("ModelCheckpoint: every_n_batches must be >= 1 and cannot be "
                             "combined with save_best_only")
        self.path = str(path)
        self.save_best_only = save_best_only
        self.weights_only = weights_only
        self.every_n_batches = every_n_batches
        self.saved: list[str] = []

    def _save(self, epoch: int) -> None:
        path = self.path.format(epoch=epoch + 1)
        if self.weights_only:
            from deepgrad.serialization import save

            save(self.trainer.model, path)
        else:
            self.trainer.save_checkpoint(path)
        self.saved.append(path)

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        if self.every_n_batches and (batch + 1) % self.every_n_batches == 0:
            self._save(self.trainer.epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.save_best_only:
            value = self._current(logs)
            if value is None or not self._improved(value):
                return
            self.best = value
        self._save(epoch)


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then every logged value) to a CSV file."""

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
        self.append = append

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        if not self.append and self.trainer.epoch == 0 and self.path.exists():
            self.path.unlink()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        keys = sorted(logs)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", *keys])
            writer.writerow([epoch + 1, *(f"{logs[k]:.8g}" for k in keys)])


class JSONLogger(Callback):
    """Keep a JSON file with the list of every epoch's logs, rewritten atomically each epoch."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.records.append({"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}})
        text = json.dumps(self.records, indent=1).encode()
        atomic_write(self.path, lambda f: f.write(text))

    def state_dict(self) -> dict[str, Any]:
        return {"records": json.dumps(self.records)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = json.loads(state["records"])


class LearningRateScheduler(Callback):
    """Set every parameter group's learning rate to ``schedule(epoch, lr)`` before each epoch
    (Keras' callback; deepgrad's ``optim.lr_scheduler`` classes go to ``Trainer(scheduler=)``)."""

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = float(self.schedule(epoch, group["lr"]))


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite, saying where."""

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.trainer.stop_training = True
            self.trainer.stop_reason = (f"TerminateOnNaN: the loss was {loss} at epoch "
                                        f"{self.trainer.epoch + 1}, batch {batch + 1}")


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_train_begin: Callable | None = None,
                 on_epoch_begin: Callable | None = None, on_batch_end: Callable | None = None,
                 on_epoch_end: Callable | None = None, on_train_end: Callable | None = None
                 ) -> None:
        for name, fn in (("on_train_begin", on_train_begin), ("on_epoch_begin", on_epoch_begin),
                         ("on_batch_end", on_batch_end), ("on_epoch_end", on_epoch_end),
                         ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)


def _format_logs(logs: dict[str, Any]) -> str:
    return "  ".join(f"{k} {_number(v)}" for k, v in logs.items() if isinstance(v, (int, float)))


def _number(value: float) -> str:
    """Four decimals, or four significant digits below 0.001: a learning rate at the end of its
    schedule or a small regression loss would otherwise show as 0.0000."""
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3e}"


class WeightAveraging(Callback):
    """Average the model's weights while it trains, and put the average into the model when
    training ends (``optim.swa_utils``; Keras' ``use_ema``, Lightning's weight averaging).

    ``WeightAveraging(decay=0.999)`` keeps an exponential moving average, updated after every
    batch; ``WeightAveraging(start_epoch=10, every="epoch")`` is stochastic weight averaging: the
    plain mean of the weights at the end of each epoch from the 11th on. Batch norm's running
    statistics are averaged along with the weights, or with ``update_bn=True`` measured again
    for the averaged weights by one pass over the training data at the end (PyTorch's SWA
    recipe). Validation during training sees the trained weights; the average is in
    ``self.averaged`` (an ``AveragedModel``) and in checkpoints, so a resumed run averages on
    exactly.
    """

    def __init__(self, decay: float | None = None, start_epoch: int = 0, every: str = "batch",
                 update_bn: bool = False) -> None:
        from deepgrad.optim import swa_utils

        if every not in ("batch", "epoch"):
            raise ValueError(f"WeightAveraging: every must be 'batch' or 'epoch'; got {every!r}")
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
            raise ValueError(f"WeightAveraging: start_epoch must be an integer >= 0; got "
                             f"{start_epoch!r}")
        self._swa = swa_utils
        self._update = (swa_utils.get_swa_multi_avg_fn() if decay is None
                        else swa_utils.get_ema_multi_avg_fn(decay))
        self.start_epoch, self.every, self.update_bn = start_epoch, every, update_bn
        self.averaged: Any = None
        self._restored: dict[str, Any] | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.averaged = self._swa.AveragedModel(self.trainer.model, multi_avg_fn=self._update,
                                                use_buffers=True)
        if self._restored is not None:
            self.averaged.load_state_dict(self._restored)
            self._restored = None

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        # Inside a group of accumulated batches the weights have not moved: nothing to fold.
        if self.every == "batch" and self.trainer.optimizer_stepped and \
                self.trainer.epoch >= self.start_epoch:
            self.averaged.update_parameters(self.trainer.model)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.every == "epoch" and epoch >= self.start_epoch:
            self.averaged.update_parameters(self.trainer.model)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.averaged is None or not int(self.averaged.n_averaged.data):
            return  # stopped before start_epoch: the model keeps its weights
        if self.update_bn:
            self._swa.update_bn(self.trainer._loader, self.averaged)
        self.trainer.model.load_state_dict(self.averaged.module.state_dict())

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights and buffers, and how many updates they hold."""
        return {} if self.averaged is None else dict(self.averaged.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Keep the average of a checkpoint, to restore when training begins."""
        self._restored = dict(state) if state else None


class ProgressBar(Callback):
    """Progress of training: in a terminal, a bar per epoch (tqdm, when installed) with the loss,
    samples/s and ETA; otherwise (a log file, a pipe, a notebook's captured output) one line per
    epoch. ``Trainer(verbose=0)`` leaves it out."""

    def __init__(self, stream: Any = None, bar: bool | None = None) -> None:
        self.stream = stream
        self.bar = bar
        self._tqdm: Any = None
        self._start = 0.0
        self._samples = 0

    def _out(self) -> Any:
        return self.stream if self.stream is not None else sys.stderr

    def _use_bar(self) -> bool:
        if self.bar is not None:
            return self.bar
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return False
        return bool(getattr(self._out(), "isatty", lambda: False)())

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self._start, self._samples = time.perf_counter(), 0
        if self._use_bar():
            from tqdm import tqdm

            self._tqdm = tqdm(total=self.trainer.batches_per_epoch, file=self._out(),
                              desc=f"epoch {epoch + 1}/{self.trainer.epochs}", unit="batch",
                              leave=True, dynamic_ncols=True)

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        self._samples += logs.get("size", 0)
        if self._tqdm is not None:
            self._tqdm.set_postfix(loss=_number(logs['loss']), refresh=False)
            self._tqdm.update(1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        seconds = time.perf_counter() - self._start
        rate = self._samples / seconds if seconds > 0 else 0.0
        line = (f"epoch {epoch + 1}/{self.trainer.epochs}  {_format_logs(logs)}  "
                f"{seconds:.1f}s  {rate:,.0f} samples/s")
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(_format_logs(logs))
            self._tqdm.close()
            self._tqdm = None
        else:
            print(line, file=self._out(), flush=True)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        reason = getattr(self.trainer, "stop_reason", None)
        if reason:
            print(reason, file=self._out(), flush=True)
