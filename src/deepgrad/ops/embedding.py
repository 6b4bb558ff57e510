"""Embedding: look up rows of a weight table by integer index."""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor


class Embedding(Function):
    """y[..., :] = weight[index[...], :].   index: (*) -> y: (*, dim);  weight: (num, dim).

    gw[i] = sum of gy over the positions whose index is i (0 for ``padding_idx``); the indices
    get no gradient.
    """

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        if ctx.needs_input_grad[0]:
            ctx.save(indices=indices, num_embeddings=weight.shape[0], padding_idx=padding_idx)
        return xp.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, gy):
        num, dim = ctx.num_embeddings, gy.shape[-1]
        # One unbuffered add over flat element positions handles repeated indices; measured on
        # 4096 indices into (10000, 64) it is 5x faster than add.at on rows and faster than
        # bincount or sort + reduceat.
        positions = (ctx.indices.reshape(-1, 1) * dim + xp.arange(dim)).reshape(-1)
        gw = xp.zeros(num * dim, dtype=gy.dtype)
        xp.add.at(gw, positions, gy.reshape(-1))
        gw = gw.reshape(num, dim)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None, None


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by the integer indices ``input`` (PyTorch's ``F.embedding``).

    Args:
        input: integer indices of any shape, in [0, num_embeddings).
        weight: the table, shape (num_embeddings, embedding_dim).
        padding_idx: a row that receives no gradient (negative counts from the end), or None.

    Returns:
        A tensor of shape ``input.shape + (embedding_dim,)``.
    """
    indices = input.data if isinstance(input, Tensor) else xp.asarray(input)
    table = weight.data
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers; got dtype {indices.dtype}")
    if table.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim); got "
                         f"{shape_str(table.shape)}")
    num = table.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= num):
        bad = indices.reshape(-1)[xp.flatnonzero((indices < 0) | (indices >= num))[0]]
        raise IndexError(f"embedding: index {int(bad)} is out of range for a table of "
                         f"{num} embeddings (expected 0 to {num - 1})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for a "
                             f"table of {num} embeddings")
        padding_idx %= num
    return Embedding.apply(weight, indices, padding_idx)
