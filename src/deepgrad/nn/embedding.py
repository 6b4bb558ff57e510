"""Embedding: a lookup table of learned vectors, one per index."""

from __future__ import annotations

from typing import Any

from deepgrad.creation import empty
from deepgrad.grad_mode import no_grad
from deepgrad.nn import init
from deepgrad.nn.module import Module, Parameter
from deepgrad.ops import embedding as ops_embedding
from deepgrad.tensor import Tensor


class Embedding(Module):
    """indices (...) -> vectors (..., embedding_dim); initialized from N(0, 1) like PyTorch, the
    ``padding_idx`` row (if any) zero and never updated."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None) -> None:
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(empty(num_embeddings, embedding_dim))
        init.normal_(self.weight)
        if padding_idx is not None:
            with no_grad():
                self.weight[padding_idx] = 0.0

    def forward(self, indices: Any) -> Tensor:
        return ops_embedding.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else text + f", padding_idx={self.padding_idx}"


__all__ = ["Embedding"]
