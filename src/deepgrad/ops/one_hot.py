"""One-hot encoding of class indices (PyTorch's ``F.one_hot``): an integer result, no gradient."""

from __future__ import annotations

import operator

from deepgrad.backend import xp
from deepgrad.errors import shape_str
from deepgrad.tensor import Tensor, int64


def _position(flat: int, shape: tuple) -> str:
    """The index of element ``flat`` of an array of ``shape``, written as a tuple."""
    return shape_str(xp.unravel_index(flat, shape)) if shape else "()"


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """The one-hot encoding of class indices: ``y[..., k] = 1`` where ``tensor[...] == k``,
    0 elsewhere.

    Args:
        tensor: class indices, an integer tensor of any shape, each in ``[0, num_classes)``.
        num_classes: the size of the new last dimension; -1 (the default) takes the largest
            index + 1.

    Returns:
        An int64 tensor of shape ``(*tensor.shape, num_classes)`` that needs no gradient.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: expects a Tensor of class indices; got "
                        f"{type(tensor).__name__}")
    indices = tensor.data
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects an integer tensor of class indices; got "
                        f"{indices.dtype} (convert it with .long())")
    if isinstance(num_classes, bool):
        raise TypeError("one_hot: num_classes must be an int; got a bool")
    num_classes = operator.index(num_classes)
    if num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 (inferred) or non-negative; got "
                         f"{num_classes}")
    if indices.size:
        lowest = int(indices.argmin())
        if indices.flat[lowest] < 0:
            raise ValueError(f"one_hot: class indices must be non-negative; got "
                             f"{indices.flat[lowest]} at {_position(lowest, indices.shape)}")
    if num_classes == -1:
        if not indices.size:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; give "
                             "num_classes")
        num_classes = int(indices.max()) + 1
    elif indices.size:
        highest = int(indices.argmax())
        if indices.flat[highest] >= num_classes:
            raise ValueError(f"one_hot: class index {indices.flat[highest]} at "
                             f"{_position(highest, indices.shape)} is out of range for "
                             f"num_classes={num_classes} (expected 0 to {num_classes - 1})")
    encoded = indices[..., None] == xp.arange(num_classes)
    return Tensor._make(encoded.astype(int64))


__all__ = ["one_hot"]
