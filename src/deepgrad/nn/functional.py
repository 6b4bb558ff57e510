"""The math of the layers and losses as functions (PyTorch's ``torch.nn.functional``)."""

from deepgrad.nn.losses import cross_entropy
from deepgrad.ops.linear import linear

__all__ = ["cross_entropy", "linear"]
