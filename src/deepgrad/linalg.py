"""PyTorch's ``torch.linalg`` names for the norms deepgrad computes: ``vector_norm``, and
``norm`` for vectors and the Frobenius norm (``dg.linalg.norm(x, dim=1)``). Matrix norms built on
singular values or row and column sums (``ord='nuc'``, 2, 1, inf of a matrix) are refused by
name rather than computed as something else."""

from __future__ import annotations

from typing import Any

from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops.vector_norm import norm as _norm
from deepgrad.tensor import Tensor, check_tensor


def vector_norm(x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """The vector ``ord``-norm of ``x`` over ``dim`` (None: every element), as
    ``torch.linalg.vector_norm``: any real order, ``inf``, ``-inf``, 0."""
    check_tensor("linalg.vector_norm", x)
    if isinstance(ord, str):
        raise TypeError(f"linalg.vector_norm: ord must be a number; got {ord!r}")
    return _norm(x, ord, dim, keepdim, dtype)


def norm(x: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """``torch.linalg.norm`` where it is a vector norm: ``ord=None`` is the 2-norm of every
    element (or over ``dim``); a number with an int ``dim`` or a 1-D input is that vector norm;
    ``'fro'`` (over two dims or a 2-D input) the Frobenius norm."""
    check_tensor("linalg.norm", x)
    matrix = (isinstance(dim, (tuple, list)) and len(dim) == 2) or (dim is None and x.ndim == 2)
    if ord is None or ord == "fro":
        if ord == "fro" and not matrix:
            raise ValueError("linalg.norm: ord='fro' is a matrix norm: give two dims or a 2-D "
                             "input")
        return _norm(x, 2, dim, keepdim, dtype)
    if dim is None and x.ndim > 2:
        raise ValueError(f"linalg.norm: with ord={ord!r} give dim for an input of "
                         f"{x.ndim} dimensions (ord=None flattens it)")
    if matrix:
        raise NotImplementedError(f"linalg.norm: the matrix norm ord={ord!r} (singular values, "
                                  f"or row or column sums) is not available; ord=None and "
                                  f"'fro' are, and vector norms over one dim")
    return vector_norm(x, ord, dim, keepdim, dtype=dtype)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """The ``p``-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2``
    (..., R, M): (..., P, R), as ``torch.cdist`` (gradient 0 where a distance is 0)."""
    for name, t in (("x1", x1), ("x2", x2)):
        if check_tensor("cdist", t, name).ndim < 2:
            raise ShapeError(f"cdist: {name} must have at least 2 dimensions (rows, features); "
                             f"got shape {shape_str(t.shape)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(f"cdist: the rows need the same number of features; got x1 "
                         f"{shape_str(x1.shape)} and x2 {shape_str(x2.shape)}")
    if not p >= 0:
        raise ValueError(f"cdist: p must be >= 0; got {p}")
    return _norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1, False)


__all__ = ["cdist", "norm", "vector_norm"]
