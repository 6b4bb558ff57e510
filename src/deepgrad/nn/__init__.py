"""Neural network building blocks. ``dg.nn.functional`` holds the layers' math as functions."""

from deepgrad.nn import functional

__all__ = ["functional"]
