"""Training: metrics computed batch by batch over an epoch, and plots of a run."""

from deepgrad.train import metrics, plots

__all__ = ["metrics", "plots"]
