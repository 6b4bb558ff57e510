"""Similarity and distance layers: ``CosineSimilarity`` and ``PairwiseDistance``, the modules of
:func:`deepgrad.nn.functional.cosine_similarity` and ``pairwise_distance``."""

from __future__ import annotations

from deepgrad.nn.module import Module
from deepgrad.ops.distance import cosine_similarity, pairwise_distance
from deepgrad.tensor import Tensor


class CosineSimilarity(Module):
    """The cosine of the angle between the vectors of two inputs along ``dim``, which is
    reduced away: (N, D) and (N, D) -> (N,) with the default ``dim=1``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm of ``x1 - x2 + eps`` over the last dimension: (N, D) and (N, D) -> (N,), or
    (N, 1) with ``keepdim``. The order is kept as ``norm``, PyTorch's attribute name."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


__all__ = ["CosineSimilarity", "PairwiseDistance"]
