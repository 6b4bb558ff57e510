"""Lengths, similarities and distances of vectors: ``normalize``, ``cosine_similarity`` and
``pairwise_distance``, as PyTorch's functions of those names compute them.

Each is a few differentiable ops around :func:`deepgrad.norm` (whose gradient is 0 at a zero
vector, as PyTorch's), so backward needs no code of its own here.
"""

from __future__ import annotations

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import normalize_dim
from deepgrad.ops.activations import clamp
from deepgrad.ops.reductions import _check_float
from deepgrad.ops.shape import broadcast_to
from deepgrad.ops.vector_norm import norm
from deepgrad.tensor import Tensor


def _common_shape(op: str, x1: Tensor, x2: Tensor) -> tuple[int, ...]:
    """The shape ``x1`` and ``x2`` broadcast to, or a ShapeError naming ``op``."""
    try:
        return tuple(xp.broadcast_shapes(x1.shape, x2.shape))
    except ValueError:
        raise ShapeError(f"{op}: x1 of shape {shape_str(x1.shape)} and x2 of shape "
                         f"{shape_str(x2.shape)} do not broadcast together (each dimension, "
                         "counted from the last, must be equal or 1)") from None


class AtLeast(Function):
    """y = max(x, low);  gx = gy everywhere. PyTorch clamps the norms of cosine_similarity in
    place without recording it, so their gradient is the norm's even where the clamp acts; as a
    Function (``high`` is always None) the clamp is traced and exports as ONNX's Clip."""

    @staticmethod
    def forward(ctx, x, low, high):
        return xp.maximum(x, xp.asarray(low, dtype=x.dtype))

    @staticmethod
    def backward(ctx, gy):
        return gy, None, None


def _at_least(length: Tensor, eps: float) -> Tensor:
    return AtLeast.apply(length, eps, None)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input`` divided by its p-norm along ``dim`` (at least ``eps``), as PyTorch's
    ``F.normalize``: vectors of length 1 along ``dim``.

    Args:
        input: a floating point tensor.
        p: the order of the norm (see :func:`deepgrad.norm`).
        dim: the dimension holding the vectors.
        eps: the smallest divisor, so that a zero vector stays zero (its gradient is 1 / eps).
    """
    _check_float(input, "normalize")
    d = normalize_dim(dim, input.ndim, "normalize")
    return input / clamp(norm(input, p, d, keepdim=True), min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between the vectors of ``x1`` and ``x2`` along ``dim`` (PyTorch's
    ``F.cosine_similarity``): ``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))`` over ``dim``.

    Args:
        x1: a floating point tensor.
        x2: a floating point tensor that broadcasts with ``x1``; both are broadcast before their
            norms are taken, as in PyTorch.
        dim: the dimension holding the vectors (of the broadcast shape); it is reduced away.
        eps: the smallest norm a vector is divided by.
    """
    _check_float(x1, "cosine_similarity")
    _check_float(x2, "cosine_similarity")
    shape = _common_shape("cosine_similarity", x1, x2)
    d = normalize_dim(dim, len(shape), "cosine_similarity")
    if x1.shape != shape:
        x1 = broadcast_to(x1, shape)
    if x2.shape != shape:
        x2 = broadcast_to(x2, shape)
    n1 = _at_least(norm(x1, 2, d, keepdim=True), eps)
    n2 = _at_least(norm(x2, 2, d, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim=d)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm distance between the vectors (the last dimension) of ``x1`` and ``x2``, as
    PyTorch's ``F.pairwise_distance``: ``norm(x1 - x2 + eps, p)`` over the last dimension.

    Args:
        x1: a floating point tensor of vectors, (N, D) or (D,).
        x2: a floating point tensor that broadcasts with ``x1``.
        p: the order of the norm (see :func:`deepgrad.norm`).
        eps: added to the differences, so that the gradient at equal vectors is defined.
        keepdim: keep the last dimension, with size 1.
    """
    _check_float(x1, "pairwise_distance")
    _check_float(x2, "pairwise_distance")
    shape = _common_shape("pairwise_distance", x1, x2)
    if not shape:
        raise ShapeError("pairwise_distance: expects vectors along the last dimension; got two "
                         "0-d tensors")
    return norm(x1 - x2 + eps, p, len(shape) - 1, keepdim=keepdim)


__all__ = ["cosine_similarity", "normalize", "pairwise_distance"]
