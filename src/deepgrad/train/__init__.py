"""Training: the ``Trainer`` loop, its callbacks and ``History``, metrics computed batch by batch
over an epoch, plots of a run, and pictures of what a network learned (``visualize``)."""

from deepgrad.train import callbacks, metrics, plots, visualize
from deepgrad.train.history import History
from deepgrad.train.trainer import Trainer

__all__ = ["History", "Trainer", "callbacks", "metrics", "plots", "visualize"]
