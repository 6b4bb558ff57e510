"""Scattering: ``scatter`` and ``scatter_add``, the adjoints of ``gather`` (PyTorch's, out of
place): every position p of ``index`` sends ``src[p]`` to ``input``'s position p with its ``dim``
coordinate replaced by ``index[p]``."""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import normalize_dim
from deepgrad.tensor import Tensor, check_tensor, to_array


def _targets(index: Any, dim: int) -> tuple:
    """The coordinates in ``input`` that each position of ``index`` writes to."""
    coords = list(xp.indices(index.shape, sparse=True))
    coords[dim] = index
    return tuple(coords)


class Scatter(Function):
    """y = x with y[targets] = src (``add``: y[targets] += src, repeated targets summed);
    gx = gy (without add, 0 at the overwritten targets), gsrc = gy[targets]."""

    @staticmethod
    def forward(ctx, x, src, dim, index, add):
        targets = _targets(index, dim)
        block = tuple(slice(0, n) for n in index.shape)  # src may be larger than index
        part = src[block]
        y = x.copy()
        if add:
            xp.add.at(y, targets, part)
        else:
            y[targets] = part
        ctx.save(targets=targets, add=add, src_shape=src.shape, block=block)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = None
        if ctx.needs_input_grad[0]:
            gx = gy if ctx.add else gy.copy()
            if not ctx.add:
                gx[ctx.targets] = 0
        gsrc = None
        if ctx.needs_input_grad[1]:
            gsrc = xp.zeros(ctx.src_shape, gy.dtype)
            gsrc[ctx.block] = gy[ctx.targets]
        return gx, gsrc, None, None, None


def _scatter(op: str, input: Tensor, dim: int, index: Any, src: Any, add: bool) -> Tensor:
    x = check_tensor(op, input)
    d = normalize_dim(dim, x.ndim, op)
    positions = to_array(index)
    if positions.dtype.kind not in "iu" or positions.ndim != x.ndim:
        raise TypeError(f"{op}: index must be an integer tensor with the input's {x.ndim} "
                        f"dimensions; got {positions.dtype} of shape {shape_str(positions.shape)}")
    if not isinstance(src, Tensor):  # a number: every position gets it
        src = Tensor._make(xp.full(positions.shape, src, x.data.dtype))
    if src.ndim != x.ndim or any(
            n > s or (k != d and n > m)
            for k, (n, s, m) in enumerate(zip(positions.shape, src.shape, x.shape))):
        raise ShapeError(f"{op}: index {shape_str(positions.shape)} must be no larger than src "
                         f"{shape_str(src.shape)} in every dimension, and than the input "
                         f"{shape_str(x.shape)} in every dimension but {d}")
    bad = xp.flatnonzero((positions < 0) | (positions >= x.shape[d]))
    if bad.size:
        raise IndexError(f"{op}: index {positions.reshape(-1)[bad[0]]} is out of range for "
                         f"dimension {d} of size {x.shape[d]}")
    if src.data.dtype != x.data.dtype:
        src = src.to(x.data.dtype)
    return Scatter.apply(x, src, d, positions, add)


def scatter(input: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    """``input`` with ``src`` (a tensor, or one number) written at the positions ``index``
    names along ``dim``; where two positions name the same target, one of them wins."""
    return _scatter("scatter", input, dim, index, src, add=False)


def scatter_add(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """``input`` with ``src`` added at the positions ``index`` names along ``dim`` (targets
    named twice get both)."""
    return _scatter("scatter_add", input, dim, index, src, add=True)


METHODS = {"scatter": scatter, "scatter_add": scatter_add}
__all__ = list(METHODS)
