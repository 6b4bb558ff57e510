"""``Trainer``: the training loop done well, as Keras' ``model.fit`` does it, for deepgrad models.

    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()),
                         metrics=("accuracy",))  # the default for a classification loss
    history = trainer.fit((x_train, y_train), epochs=10, batch_size=128,
                          validation_data=(x_test, y_test))
    trainer.evaluate((x_test, y_test))        # {"loss": ..., "accuracy": ...}
    trainer.predict(x_test)                   # NumPy array of outputs

The loop is a thin composition of :meth:`Trainer.train_step` and :meth:`Trainer.eval_step`, which
a subclass may override. Everything that decides the numbers of a run (weights, optimizer and
schedule state, the data order, the random state, the position within the epoch) goes into
:meth:`Trainer.save_checkpoint` (:mod:`deepgrad.train.checkpointing`), so
``fit(..., resume_from=path)`` continues a killed run to the same weights, bit for bit, as a run
that was never interrupted.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from deepgrad.creation import generator
from deepgrad.data import DataLoader, Dataset
from deepgrad.grad_mode import no_grad
from deepgrad.nn import functional as F
from deepgrad.nn.loss_modules import BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
from deepgrad.nn.module import Module
from deepgrad.nn.utils import clip_grad_norm_
from deepgrad.optim.lr_scheduler import CyclicLR, OneCycleLR, ReduceLROnPlateau
from deepgrad.tensor import Tensor
from deepgrad.train import metrics as metrics_module
from deepgrad.train.callbacks import Callback, ProgressBar
from deepgrad.train.checkpointing import Checkpointing
from deepgrad.train.history import History
from deepgrad.train.inputs import (
    check_count,
    check_validation_freq,
    hard_labels,
    keras_order_hint,
    loader_for,
    split_off,
)
from deepgrad.train.weights import check_class_weight, check_weighable, weighted_loss

_LOSSES = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss, "l1": F.l1_loss,
           "huber": F.huber_loss, "bce_with_logits": F.binary_cross_entropy_with_logits,
           "nll": F.nll_loss}


_CLASSIFICATION_LOSSES = ("cross_entropy", "nll", "bce_with_logits")


def _default_metrics(loss: Callable | str) -> tuple[str, ...]:
    """Accuracy for the losses of classifiers whose outputs it reads (class scores, binary
    logits); none otherwise: accuracy is meaningless for a regression, and wrong for BCELoss's
    probabilities (it reads one-column outputs as logits)."""
    classifier = (loss in _CLASSIFICATION_LOSSES if isinstance(loss, str) else
                  isinstance(loss, (CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss))
                  or any(loss is _LOSSES[name] for name in _CLASSIFICATION_LOSSES))
    return ("accuracy",) if classifier else ()


def _loss_fn(loss: Callable | str) -> Callable:
    if isinstance(loss, str):
        if loss not in _LOSSES:
            raise ValueError(f"Trainer: unknown loss {loss!r}; use a loss module or function, "
                             f"or one of {sorted(_LOSSES)}")
        return _LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"Trainer: loss must be callable (e.g. nn.CrossEntropyLoss()); got "
                        f"{type(loss).__name__}")
    return loss


_END = object()  # an iterator's end, for next()


def _close(batches: Iterator[Any]) -> None:
    """End a loader's pass that was cut short: its worker threads stop with it."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _sample_weight(batch: Sequence[Any]) -> Any:
    """The sample weights of an ``(x, y, sample_weight)`` batch; None for ``(x, y)``."""
    return batch[2] if len(batch) > 2 else None


class Trainer(Checkpointing):
    """Trains, evaluates and runs a model.

    Args:
        model: the ``nn.Module`` to train.
        loss: a loss module or function ``loss(outputs, targets)``, or a name
            (``"cross_entropy"``, ``"mse"``, ``"l1"``, ``"huber"``, ``"bce_with_logits"``,
            ``"nll"``).
        optimizer: a ``dg.optim`` optimizer over the model's parameters.
        metrics: names or metric objects (``"accuracy"``, ``"top5_accuracy"``, ``"f1"``, ...),
            computed over each epoch, on the training batches and on validation data. By
            default accuracy for a classification loss (cross-entropy, NLL, binary
            cross-entropy on logits), none for any other (a regression's, a custom one's).
        callbacks: ``Callback`` instances; a progress bar is added unless ``verbose=0``.
        scheduler: a ``dg.optim.lr_scheduler`` schedule, stepped after every epoch (after every
            batch for ``OneCycleLR``, ``CyclicLR`` or with ``scheduler_interval="batch"``);
            ``ReduceLROnPlateau`` gets ``val_loss`` (or ``loss`` without validation data).
        grad_clip: clip the gradients' global L2 norm to this before every step.
        verbose: 0 for silence, 1 for the progress bar.
        accumulate_grad_batches: step the optimizer once every this many batches, on the mean
            of their gradients (a batch that many times larger, in the memory of one); the
            epoch's last group may be shorter. A per-batch schedule steps with the optimizer.
    """

    def __init__(self, model: Module, loss: Callable | str, optimizer: Any,
                 metrics: Sequence[Any] | None = None, callbacks: Iterable[Callback] = (),
                 scheduler: Any = None, grad_clip: float | None = None, verbose: int = 1,
                 scheduler_interval: str | None = None,
                 accumulate_grad_batches: int = 1) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a dg.nn.Module; got {type(model).__name__}")
        self.model = model
        self.loss_fn = _loss_fn(loss)
        self.optimizer = optimizer
        self.metric_specs = list(_default_metrics(loss) if metrics is None else metrics)
        self._metrics()  # an unknown metric name fails here, not at the first fit
        self.callbacks = list(callbacks)
        if verbose and not any(isinstance(c, ProgressBar) for c in self.callbacks):
            self.callbacks.append(ProgressBar())
        self.scheduler = scheduler
        if scheduler_interval is None:
            scheduler_interval = "batch" if isinstance(scheduler, (OneCycleLR, CyclicLR)) \
                else "epoch"
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'batch'; got "
                             f"{scheduler_interval!r}")
        self.scheduler_interval = scheduler_interval
        self.grad_clip = grad_clip
        k = accumulate_grad_batches
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"Trainer: accumulate_grad_batches must be an integer >= 1; got "
                             f"{accumulate_grad_batches!r}")
        if accumulate_grad_batches > 1 and getattr(optimizer, "needs_closure", False):
            raise ValueError(f"Trainer: {type(optimizer).__name__} evaluates the loss several "
                             f"times per step, on one batch: it cannot accumulate gradients "
                             f"over batches (accumulate_grad_batches=1)")
        self.accumulate_grad_batches = accumulate_grad_batches
        self.history = History()
        self.epoch = 0
        self.epochs = 0
        self.batch = 0
        self.batches_per_epoch: int | None = 0  # None: a stream of unknown length
        self.steps_per_epoch: int | None = None  # fit's: None for one pass over the data
        # With steps_per_epoch, the pass over the data that continues across epochs.
        self._pass: Iterator[Any] | None = None
        self.stop_training = False
        self.stop_reason: str | None = None
        # Whether the last batch ended with an optimizer step (not inside a group of
        # accumulated batches): what per-step callbacks such as weight averages follow.
        self.optimizer_stepped = False
        self._loader: DataLoader | None = None
        self._train_metrics: list = []
        self._class_weight: dict[int, float] | None = None  # fit's, for its training batches

    # ----------------------------------------------------------------- steps
    def _param_dtype(self) -> Any:
        for p in self.model.parameters():
            return p.data.dtype
        return None

    def to_input(self, x: Any) -> Tensor:
        """A batch of inputs as a Tensor; floating arrays take the model's parameter dtype."""
        if isinstance(x, Tensor):
            return x
        x = np.asarray(x)
        dtype = self._param_dtype()
        if x.dtype.kind == "f" and dtype is not None and x.dtype != dtype:
            x = x.astype(dtype)
        return Tensor(x)

    def to_target(self, y: Any, outputs: Tensor) -> Tensor:
        """A batch of targets as a Tensor; floating targets take the outputs' dtype."""
        if isinstance(y, Tensor):
            return y
        y = np.asarray(y)
        if y.dtype.kind == "f" and y.dtype != outputs.data.dtype:
            y = y.astype(outputs.data.dtype)
        return Tensor(y)

    def _group(self) -> tuple[int, int]:
        """Where the current batch is in its group of ``accumulate_grad_batches``: its position
        and the group's length (shorter at the end of the epoch)."""
        k = self.accumulate_grad_batches
        position = self.batch % k
        if self.batches_per_epoch is None:  # a stream of unknown length: fit refuses k > 1
            return position, k
        return position, min(k, self.batches_per_epoch - (self.batch - position))

    def _loss(self, outputs: Tensor, y: Any, sample_weight: Any = None,
              class_weight: dict[int, float] | None = None) -> Tensor:
        """The batch's loss; weighted (see ``fit``) only when weights are given."""
        targets = self.to_target(y, outputs)
        if sample_weight is None and class_weight is None:
            return self.loss_fn(outputs, targets)
        return weighted_loss(self.loss_fn, outputs, targets, sample_weight, class_weight)

    def train_step(self, batch: Sequence[Any]) -> dict[str, Any]:
        """One optimization step on ``batch = (x, y)`` or ``(x, y, sample_weight)`` (and fit's
        ``class_weight``): forward, loss, backward, clip, step (with
        ``accumulate_grad_batches``, the gradient is added up and the step taken on a group's
        last batch). Returns ``{"loss": float, "outputs": array, "targets": array}``."""
        x, y, sample_weight = batch[0], batch[1], _sample_weight(batch)
        if self.accumulate_grad_batches > 1:
            return self._accumulation_step(x, y, sample_weight)
        first: list = []  # the first evaluation's outputs and loss: the step's, for the logs

        def closure() -> Tensor:
            outputs = self.model(self.to_input(x))
            loss = self._loss(outputs, y, sample_weight, self._class_weight)
            self.optimizer.zero_grad()
            loss.backward()
            if self.grad_clip is not None:
                clip_grad_norm_(self.model.parameters(), self.grad_clip)
            if not first:
                first.extend((outputs, loss))
            return loss

        if getattr(self.optimizer, "needs_closure", False):  # LBFGS evaluates several times
            self.optimizer.step(closure)
        else:
            closure()
            self.optimizer.step()
        outputs, loss = first
        return {"loss": float(loss.item()), "outputs": outputs.data, "targets": np.asarray(y)}

    def _accumulation_step(self, x: Any, y: Any, sample_weight: Any) -> dict[str, Any]:
        if self._loader is None:
            raise RuntimeError("Trainer.train_step: with accumulate_grad_batches > 1 it runs "
                               "inside fit, which knows where each group of batches ends")
        position, length = self._group()
        if position == 0:
            self.optimizer.zero_grad()
        outputs = self.model(self.to_input(x))
        loss = self._loss(outputs, y, sample_weight, self._class_weight)
        (loss / length).backward()  # the group's step follows the mean of its gradients
        if position == length - 1:
            if self.grad_clip is not None:
                clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
        return {"loss": float(loss.item()), "outputs": outputs.data, "targets": np.asarray(y)}

    def eval_step(self, batch: Sequence[Any]) -> dict[str, Any]:
        """The loss and outputs on ``batch = (x, y)`` or ``(x, y, sample_weight)`` (the loss
        then weighted) without gradients (in eval mode)."""
        x, y = batch[0], batch[1]
        with no_grad():
            outputs = self.model(self.to_input(x))
            loss = self._loss(outputs, y, _sample_weight(batch))
        return {"loss": float(loss.item()), "outputs": outputs.data, "targets": np.asarray(y)}

    def _metrics(self) -> list:
        return [metrics_module.get_metric(spec) for spec in self.metric_specs]

    # ----------------------------------------------------------------- fit
    def _call(self, hook: str, *args: Any) -> None:
        for callback in self._in_order:
            getattr(callback, hook)(*args)

    @keras_order_hint
    def fit(self, train: Any, epochs: int, batch_size: int = 32, validation_data: Any = None,
            shuffle: bool = True, resume_from: str | os.PathLike | None = None,
            seed: int | None = None, validation_freq: int | Collection[int] = 1,
            validation_split: float | None = None,
            class_weight: Mapping[int, float] | None = None,
            steps_per_epoch: int | None = None,
            validation_steps: int | None = None) -> History:
        """Train for ``epochs`` epochs (in total, counting those of a resumed run).

        Args:
            train: a Dataset or a DataLoader of ``(x, y)`` or ``(x, y, sample_weight)``
                batches, or an ``(x, y)`` pair or ``(x, y, sample_weight)`` triple of arrays.
                An ``IterableDataset`` stream is read in its order, an epoch being one pass
                over it (its length may be unknown).
            epochs: the epoch to stop after.
            batch_size: examples per step (ignored when ``train`` is a DataLoader).
            validation_data: evaluated after every epoch, logged with a ``val_`` prefix; as
                ``train``, its sample weights weigh ``val_loss``.
            shuffle: reshuffle the training data every epoch.
            resume_from: a checkpoint written by ``ModelCheckpoint`` or ``save_checkpoint``:
                continue that run where it stopped, with identical results.
            seed: the data order's seed; by default drawn from ``dg.manual_seed``'s generator.
            validation_freq: evaluate ``validation_data`` every this many epochs, or after the
                epochs (1-based) in this collection, as Keras' ``validation_freq``; callbacks
                that monitor a ``val_`` value skip the epochs without one.
            validation_split: validate on this fraction of ``train`` instead (a Dataset or an
                ``(x, y)`` pair), its last examples, which are then not trained on (as Keras).
            class_weight: ``{class index: weight}``, as Keras': each training example's loss
                times the weight of its class (1 for a class not in the dict), which is the
                target's class index, the argmax of class probabilities, or the 0/1 target of
                a binary cross-entropy. Not applied to validation data.
            steps_per_epoch: end each epoch after this many batches, as Keras': the pass over
                the data goes on where the last epoch left it, and a new pass (reshuffled)
                starts when one ends. Needed for an endless stream; by default an epoch is one
                pass over ``train``.
            validation_steps: validate on the first this many batches of ``validation_data``
                (by default all of it; needed for an endless stream).

        Weights (sample and class weights, multiplied) follow Keras 3's default reduction
        "sum_over_batch_size": the batch loss is ``sum_i(w_i * l_i) / N``, N the batch's
        examples, not the sum of their weights (PyTorch's ``CrossEntropyLoss(weight=...)``
        divides by the targets' summed weights: use it without ``class_weight`` for that).
        Targets equal to ``ignore_index`` are not counted in N, as in PyTorch's mean. The
        per-example losses need a loss with a ``reduction`` (a loss module or name); the
        metrics are not weighted. Details in :mod:`deepgrad.train.weights`.
        """
        self._validation_freq = check_validation_freq(validation_freq)
        self.steps_per_epoch = check_count("fit", "steps_per_epoch", steps_per_epoch, optional=True)
        self._validation_steps = check_count("fit", "validation_steps", validation_steps,
                                             optional=True)
        self._class_weight = check_class_weight(class_weight)
        if self._class_weight is not None or any(
                isinstance(data, tuple) and len(data) == 3 for data in (train, validation_data)):
            check_weighable(self.loss_fn)  # before any callback starts
        if validation_split is not None:
            train, validation_data = split_off(train, validation_split, validation_data)
        if seed is None:
            seed = int(generator().integers(2**63))
        self._loader = loader = loader_for(train, batch_size, shuffle, seed, "train", "fit")
        epochs = check_count("fit", "epochs", epochs, least=0)
        val_loader = (None if validation_data is None else
                      loader_for(validation_data, max(batch_size, 256), False, 0,
                                 "validation_data", "fit"))
        self.epochs = epochs
        try:
            self.batches_per_epoch = self.steps_per_epoch or len(loader)
        except TypeError:  # a stream without __len__: an epoch is one pass over it
            self.batches_per_epoch = None
            if self.accumulate_grad_batches > 1:
                raise ValueError("Trainer: accumulate_grad_batches needs to know where the "
                                 "epoch ends (its last group may be shorter), and this stream "
                                 "has no len(); give its IterableDataset a __len__ or fit a "
                                 "steps_per_epoch") from None
        self.stop_training, self.stop_reason = False, None
        self._train_metrics = self._metrics()
        self._train_loss = metrics_module.Mean("loss")
        self.epoch, self.batch = 0, 0
        self.history = History()  # each fit reports its own epochs, as in Keras
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        for callback in self.callbacks:
            callback.trainer = self
        self._in_order = sorted(self.callbacks, key=lambda c: c.writes_checkpoints)
        self._call("on_train_begin", {})
        self._pass = None
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(loader, val_loader)
        finally:
            if self._pass is not None:
                _close(self._pass)
                self._pass = None
            self.model.eval()
        self._call("on_train_end", dict(self._last_logs) if hasattr(self, "_last_logs") else {})
        return self.history

    def _run_epoch(self, loader: DataLoader, val_loader: DataLoader | None) -> None:
        epoch = self.epoch
        started = time.perf_counter() - getattr(self, "_resumed_seconds", 0.0)
        self._resumed_seconds = 0.0
        if self.batch == 0:
            self._call("on_epoch_begin", epoch, {})
            for metric in self._train_metrics:
                metric.reset()
            self._train_loss.reset()
        self.model.train()
        # The log's "lr" is the rate the epoch trained with (its last batch's), as in Keras: read
        # before the scheduler steps.
        lr = float(self.optimizer.param_groups[0]["lr"])
        for batch in self._epoch_batches(loader):
            lr = float(self.optimizer.param_groups[0]["lr"])
            result = self.train_step(batch)
            size = len(result["targets"])
            self._train_loss.update(result["loss"], size)
            targets = hard_labels(result["targets"], result["outputs"])
            for metric in self._train_metrics:
                metric.update(result["outputs"], targets)
            position, length = self._group()
            self.optimizer_stepped = position == length - 1
            if self.scheduler is not None and self.scheduler_interval == "batch" and \
                    self.optimizer_stepped:
                self.scheduler.step()
            self._epoch_seconds = time.perf_counter() - started
            batch_index = self.batch
            self.batch += 1
            self._call("on_batch_end", batch_index, {"loss": result["loss"], "size": size})
            if self.stop_training:
                return
        logs = {"loss": self._train_loss.result()}
        for metric in self._train_metrics:
            logs[metric.name] = metric.result()
        freq = self._validation_freq
        validate = val_loader is not None and (
            (epoch + 1) % freq == 0 if isinstance(freq, int) else epoch + 1 in freq)
        self.validation_skipped = val_loader is not None and not validate
        if validate:
            logs.update({f"val_{k}": v for k, v in
                         self._evaluate(val_loader, self._validation_steps).items()})
        logs["lr"] = lr
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                self.scheduler.step()
        self.history.append(epoch, logs, time.perf_counter() - started)
        self._last_logs = logs
        # The epoch is complete before its callbacks run: a checkpoint written by one of them
        # resumes at the start of the next epoch.
        self.epoch, self.batch = epoch + 1, 0
        self._call("on_epoch_end", epoch, logs)

    def _epoch_batches(self, loader: DataLoader) -> Iterator[Any]:
        """The batches of the current epoch (from its ``self.batch``-th on, after a resume):
        one pass over ``loader``, or ``steps_per_epoch`` batches of passes that continue across
        epochs."""
        if self.steps_per_epoch is None:
            yield from loader
            return
        for _ in range(self.batch, self.steps_per_epoch):
            batch = _END if self._pass is None else next(self._pass, _END)
            if batch is _END:  # the pass has ended (or not begun): the loader's next one
                self._pass = iter(loader)
                batch = next(self._pass, _END)
                if batch is _END:
                    raise ValueError("Trainer: the training data gave no batch; "
                                     "steps_per_epoch needs at least one per pass")
            yield batch

    # ----------------------------------------------------------------- evaluate / predict
    def _evaluate(self, loader: DataLoader, steps: int | None = None) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        loss, metrics = metrics_module.Mean("loss"), self._metrics()
        batches = iter(loader)
        try:
            for batch in itertools.islice(batches, steps):
                result = self.eval_step(batch)
                loss.update(result["loss"], len(result["targets"]))
                targets = hard_labels(result["targets"], result["outputs"])
                for metric in metrics:
                    metric.update(result["outputs"], targets)
        finally:
            _close(batches)
            self.model.train(was_training)
        logs = {"loss": loss.result()}
        logs.update({m.name: m.result() for m in metrics})
        return logs

    @keras_order_hint
    def evaluate(self, data: Any, batch_size: int = 256,
                 steps: int | None = None) -> dict[str, float]:
        """The mean loss and every metric over ``data`` (a Dataset, a DataLoader, ``(x, y)``, or
        ``(x, y, sample_weight)`` for a weighted loss, as in ``fit``), or over its first
        ``steps`` batches, in eval mode, without gradients."""
        steps = check_count("evaluate", "steps", steps, optional=True)
        return self._evaluate(loader_for(data, batch_size, False, 0, "evaluate data",
                                         "evaluate"), steps)

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for ``x`` (an array, a Dataset or a DataLoader whose batches
        start with the inputs), in eval mode, as one NumPy array."""
        batch_size = check_count("predict", "batch_size", batch_size)
        if isinstance(x, (DataLoader, Dataset)):
            loader = x if isinstance(x, DataLoader) else DataLoader(x, batch_size=batch_size)
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in loader)
        else:
            array = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
            batches = (array[i:i + batch_size] for i in range(0, len(array), batch_size))
        was_training = self.model.training
        self.model.eval()
        outputs = []
        try:
            with no_grad():
                for batch in batches:
                    outputs.append(self.model(self.to_input(batch)).numpy())
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("Trainer.predict: no inputs")
        return np.concatenate(outputs)
