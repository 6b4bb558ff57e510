"""Averaged weights: stochastic weight averaging (SWA) and exponential moving averages (EMA) of
a model's parameters, PyTorch's ``torch.optim.swa_utils``.

    averaged = swa_utils.AveragedModel(model)              # SWA: the mean of every update
    ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.999))
    ...
    optimizer.step()
    averaged.update_parameters(model)                      # after the steps to average
    ...
    swa_utils.update_bn(train_loader, averaged)            # batch norm statistics for its weights
    averaged(x)                                            # predicts with the averaged weights

An average of weights is not the weights' model: batch norm's running statistics belong to the
weights they were measured with, so after SWA ``update_bn`` measures them again with one pass
over the training data (or ``use_buffers=True`` averages them along with the weights).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import zeros
from deepgrad.grad_mode import no_grad
from deepgrad.nn.module import Module
from deepgrad.nn.norm import _BatchNorm
from deepgrad.optim.lr_scheduler._base import LRScheduler, _per_group
from deepgrad.optim.optimizer import Optimizer
from deepgrad.tensor import Tensor, int64

AvgFn = Callable[[Tensor, Tensor, int], Tensor]
MultiAvgFn = Callable[[list, list, int], None]


def _lerp_(averaged: Any, current: Any, weight: float) -> None:
    """``averaged += weight * (current - averaged)`` in place, as ``torch.lerp_`` computes it
    (from the nearer end, so a weight of 1 gives ``current`` exactly)."""
    if weight < 0.5:
        averaged += weight * (current - averaged)
    else:
        averaged[...] = current - (current - averaged) * (1.0 - weight)


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """The update of an exponential moving average, for ``AveragedModel(multi_avg_fn=)``:
    ``averaged = decay * averaged + (1 - decay) * current`` for each pair of arrays."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_multi_avg_fn: decay must be in [0, 1]; got {decay}")

    def ema_update(averaged: list, current: list, num_averaged: int) -> None:
        for a, c in zip(averaged, current, strict=True):
            _lerp_(a, c, 1.0 - decay)

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The update of the plain mean of every model seen, for ``AveragedModel(multi_avg_fn=)``
    (the default): ``averaged += (current - averaged) / (num_averaged + 1)``."""
    def swa_update(averaged: list, current: list, num_averaged: int) -> None:
        for a, c in zip(averaged, current, strict=True):
            _lerp_(a, c, 1.0 / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """An exponential moving average one tensor at a time, for ``AveragedModel(avg_fn=)``."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_avg_fn: decay must be in [0, 1]; got {decay}")
    return lambda averaged, current, num_averaged: decay * averaged + (1 - decay) * current


def get_swa_avg_fn() -> AvgFn:
    """The plain mean one tensor at a time, for ``AveragedModel(avg_fn=)``."""
    return lambda averaged, current, num_averaged: (
        averaged + (current - averaged) / (num_averaged + 1))


class AveragedModel(Module):
    """A copy of ``model`` whose weights are an average of ``model``'s at the times
    :meth:`update_parameters` is called: their plain mean by default (SWA), or what ``avg_fn``
    (one tensor at a time) or ``multi_avg_fn`` (all arrays at once, in place) computes, e.g.
    :func:`get_ema_multi_avg_fn`. Calling it runs the copy.

    Args:
        model: the model to average; it is deep-copied, and left alone.
        avg_fn: ``avg_fn(averaged, current, num_averaged) -> Tensor``.
        multi_avg_fn: ``multi_avg_fn(averaged_arrays, current_arrays, num_averaged)``,
            updating the first list's arrays in place.
        use_buffers: average the buffers (batch norm's running statistics) too, instead of
            copying the model's; integer buffers (batch counts) are copied either way.
    """

    def __init__(self, model: Module, avg_fn: AvgFn | None = None,
                 multi_avg_fn: MultiAvgFn | None = None, use_buffers: bool = False) -> None:
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a dg.nn.Module; got "
                            f"{type(model).__name__}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: pass avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        self.register_buffer("n_averaged", zeros((), dtype=int64))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _pairs(self, model: Module, buffers: bool) -> list[tuple[Tensor, Tensor]]:
        """(averaged, model's) tensors in order: the parameters, or the buffers."""
        def tensors(m: Module) -> list:
            found = m.named_buffers() if buffers else m.named_parameters()
            return [(name, t) for name, t in found if t is not None]

        mine, theirs = tensors(self.module), tensors(model)
        if [n for n, _ in mine] != [n for n, _ in theirs] or any(
                a.shape != b.shape for (_, a), (_, b) in zip(mine, theirs)):
            what = "buffers" if buffers else "parameters"
            raise ValueError(f"AveragedModel.update_parameters: the model's {what} do not match "
                             f"the averaged copy's (names and shapes); pass the model it was "
                             f"made from")
        return [(a, b) for (_, a), (_, b) in zip(mine, theirs)]

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        pairs, copied = self._pairs(model, buffers=False), []
        for a, b in self._pairs(model, buffers=True):
            (pairs if self.use_buffers and a.data.dtype.kind == "f" else copied).append((a, b))
        n = int(self.n_averaged.data)
        with no_grad():
            if n == 0:
                copied += pairs
            elif self.avg_fn is not None:
                for a, b in pairs:
                    result = self.avg_fn(a.detach(), b.detach(), n)
                    a.data[...] = result.data if isinstance(result, Tensor) else result
            else:
                update = self.multi_avg_fn or get_swa_multi_avg_fn()
                update([a.data for a, _ in pairs], [b.data for _, b in pairs], n)
            for a, b in copied:
                xp.copyto(a.data, b.data, casting="unsafe")
        self.n_averaged.data[...] = n + 1


def _batch_norms(model: Module) -> list[_BatchNorm]:
    """The batch norm layers whose running statistics training would change (frozen ones run
    in inference mode and keep theirs)."""
    return [m for m in model.modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats and not m.frozen]


def update_bn(loader: Iterable, model: Module) -> None:
    """Measure the running statistics of ``model``'s batch norm layers again, as the plain
    average over one pass of ``loader`` (batches of inputs, or ``(inputs, targets, ...)``
    tuples whose first item is the input), in train mode without gradients. Frozen layers keep
    theirs. The model's mode and the layers' momenta are restored."""
    layers = _batch_norms(model)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    was_training = model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    try:
        model.train()
        with no_grad():
            for batch in loader:
                model(batch[0] if isinstance(batch, (list, tuple)) else batch)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.train(was_training)


def _cos_anneal(t: float) -> float:
    return (1 - math.cos(math.pi * t)) / 2


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` steps, then hold it
    (PyTorch's ``SWALR``: the constant or cyclic lr SWA averages under).

    Args:
        optimizer: the optimizer whose lrs it sets.
        swa_lr: the lr to reach, one for all groups or one per group.
        anneal_epochs: the steps the annealing takes (0: at once).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        last_epoch: -1 to start.
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float],
                 anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        for lr, group in zip(_per_group(self, "swa_lr", optimizer, swa_lr),
                             optimizer.param_groups, strict=True):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be 'cos' or 'linear'; got "
                             f"{anneal_strategy!r}")
        if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, int) \
                or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an integer >= 0; got "
                             f"{anneal_epochs!r}")
        self.anneal_strategy, self.anneal_epochs = anneal_strategy, anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _alpha(self, t: float) -> float:
        return _cos_anneal(t) if self.anneal_strategy == "cos" else t

    def get_lr(self) -> list[float]:
        """The next lrs: the current ones (taken back to where the annealing started) moved
        the annealing's fraction of the way to swa_lr."""
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        before = self._alpha(max(0.0, min(1.0, (step - 1) / span)))
        alpha = self._alpha(max(0.0, min(1.0, step / span)))
        lrs = []
        for group in self.optimizer.param_groups:
            start = (group["swa_lr"] if before == 1 else
                     (group["lr"] - before * group["swa_lr"]) / (1 - before))
            lrs.append(group["swa_lr"] * alpha + start * (1 - alpha))
        return lrs


__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]
