"""Training: the ``Trainer`` loop, its callbacks and ``History``, metrics computed batch by batch
over an epoch, and plots of a run."""

from deepgrad.train import callbacks, metrics, plots
from deepgrad.train.history import History
from deepgrad.train.trainer import Trainer

__all__ = ["History", "Trainer", "callbacks", "metrics", "plots"]
