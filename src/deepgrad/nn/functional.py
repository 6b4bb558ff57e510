"""The math of the layers as functions (PyTorch's ``torch.nn.functional``)."""

from deepgrad.ops.linear import linear

__all__ = ["linear"]
