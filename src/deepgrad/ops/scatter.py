"""Scattering: ``scatter`` and ``scatter_add``, the adjoints of ``gather`` (PyTorch's, out of
place): every position p of ``index`` sends ``src[p]`` to ``input``'s position p with its ``dim``
coordinate replaced by ``index[p]``. And their whole-slice cousins ``index_add``, ``index_copy``
and ``index_fill``: the i-th slice of ``source`` along ``dim`` (or one value) goes to the slice
``index[i]`` of ``input``."""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._util import normalize_dim
from deepgrad.ops.shape import reshape
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


class IndexAdd(Function):
    """y = x with alpha * src's i-th slice along ``dim`` added to slice index[i] (a slice named
    twice gets both);  gx = gy, gsrc = alpha * gy's slices at index."""

    @staticmethod
    def forward(ctx, x, src, dim, index, alpha):
        where = (slice(None),) * dim + (index,)
        y = x.copy()
        xp.add.at(y, where, src if alpha == 1 else src * alpha)
        ctx.save(where=where, alpha=alpha)
        return y

    @staticmethod
    def backward(ctx, gy):
        gsrc = None
        if ctx.needs_input_grad[1]:
            gsrc = gy[ctx.where]
            if ctx.alpha != 1:
                gsrc *= ctx.alpha
        return gy, gsrc, None, None, None


class IndexCopy(Function):
    """y = x with slice index[i] along ``dim`` replaced by src's i-th slice;  gx = gy with
    those slices 0, gsrc = gy's slices at index (every copy of a repeated one, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, src, dim, index):
        where = (slice(None),) * dim + (index,)
        y = x.copy()
        y[where] = src
        ctx.save(where=where)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = None
        if ctx.needs_input_grad[0]:
            gx = gy.copy()
            gx[ctx.where] = 0
        gsrc = gy[ctx.where] if ctx.needs_input_grad[1] else None
        return gx, gsrc, None, None


class IndexFill(Function):
    """y = x with the slices at ``index`` along ``dim`` set to ``value``;  gx = gy with those
    slices 0, gvalue = the sum of gy over them (each slice once)."""

    @staticmethod
    def forward(ctx, x, value, dim, index):
        where = (slice(None),) * dim + (index,)
        y = x.copy()
        y[where] = value
        ctx.save(where=where, dim=dim, index=index)
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = None
        if ctx.needs_input_grad[0]:
            gx = gy.copy()
            gx[ctx.where] = 0
        gvalue = None
        if ctx.needs_input_grad[1]:
            unique = (slice(None),) * ctx.dim + (xp.unique(ctx.index),)
            gvalue = xp.asarray(gy[unique].sum())
        return gx, gvalue, None, None


def _slice_positions(op: str, x: Tensor, dim: int, index: Any,
                     negative: bool) -> tuple[int, Any]:
    """``dim`` normalized and ``index`` as 1-D positions into it, checked (``negative``: from
    the end allowed, as PyTorch's index_fill does)."""
    d = normalize_dim(dim, x.ndim, op)
    positions = to_array(index)
    if positions.dtype.kind not in "iu" or positions.ndim > 1:
        raise TypeError(f"{op}: index must be a 0-D or 1-D integer tensor; got "
                        f"{positions.dtype} of shape {shape_str(positions.shape)}")
    positions = positions.reshape(-1)
    size = x.shape[d] if x.ndim else 1
    low = -size if negative else 0
    bad = xp.flatnonzero((positions < low) | (positions >= size))
    if bad.size:
        raise IndexError(f"{op}: index {positions[bad[0]]} is out of range for dimension {d} "
                         f"of size {size} (expected {low} to {size - 1})")
    if negative and positions.size:
        positions = positions % size
    return d, positions


def _index_source(op: str, input: Tensor, dim: int, index: Any, source: Any,
                  fn: type[Function], *options: Any) -> Tensor:
    """Checks the arguments of index_add and index_copy, then applies ``fn``."""
    x = check_tensor(op, input)
    d, positions = _slice_positions(op, x, dim, index, negative=False)
    src = check_tensor(op, source, "source")
    if src.data.dtype != x.data.dtype:
        raise TypeError(f"{op}: source must have the input's dtype {x.data.dtype}; got "
                        f"{src.data.dtype}")
    if x.ndim == 0:  # a 0-d input is one slice along its dimension 0
        if src.ndim > 1 or src.numel() != positions.size:
            raise ShapeError(f"{op}: source must have {positions.size} element(s), one per "
                             f"index, for a 0-d input; got shape {shape_str(src.shape)}")
        y = fn.apply(reshape(x, 1), reshape(src, positions.size), 0, positions, *options)
        return reshape(y, ())
    expected = (*x.shape[:d], positions.size, *x.shape[d + 1:])
    if src.shape != expected:
        raise ShapeError(f"{op}: source must have shape {shape_str(expected)} (the input's "
                         f"{shape_str(x.shape)} with dimension {d} the index's length "
                         f"{positions.size}); got {shape_str(src.shape)}")
    return fn.apply(x, src, d, positions, *options)


def index_add(input: Tensor, dim: int, index: Any, source: Tensor, *,
              alpha: float = 1) -> Tensor:
    """``input`` with ``alpha * source`` added slice by slice: source's i-th slice along
    ``dim`` goes to slice ``index[i]`` (a slice named twice gets both).

    Args:
        input: the tensor added to (not changed: the result is a new tensor).
        dim: the dimension along which to index.
        index: 0-D or 1-D integer positions in ``[0, input.shape[dim])``.
        source: ``input``'s dtype and shape, but ``len(index)`` along ``dim``.
        alpha: the factor of ``source`` (an int for integer inputs).
    """
    if (isinstance(input, Tensor) and input.data.dtype.kind in "biu"
            and not isinstance(alpha, (int, xp.integer))):
        raise TypeError(f"index_add: for an integer input alpha must be an int; got {alpha!r}")
    return _index_source("index_add", input, dim, index, source, IndexAdd, alpha)


def index_copy(input: Tensor, dim: int, index: Any, source: Tensor) -> Tensor:
    """``input`` with the slice ``index[i]`` along ``dim`` replaced by ``source``'s i-th slice;
    where ``index`` repeats a position, one of its slices wins.

    Args:
        input: the tensor copied into (not changed: the result is a new tensor).
        dim: the dimension along which to index.
        index: 0-D or 1-D integer positions in ``[0, input.shape[dim])``.
        source: ``input``'s dtype and shape, but ``len(index)`` along ``dim``.
    """
    return _index_source("index_copy", input, dim, index, source, IndexCopy)


def index_fill(input: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """``input`` with the slices at ``index`` along ``dim`` set to ``value``.

    Args:
        input: the tensor filled (not changed: the result is a new tensor).
        dim: the dimension along which to index.
        index: 0-D or 1-D integer positions, negative ones counted from the end.
        value: a number or a 0-D tensor (which gets the gradient of the filled slices).
    """
    x = check_tensor("index_fill", input)
    d, positions = _slice_positions("index_fill", x, dim, index, negative=True)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"index_fill: value must be a number or a 0-D tensor; got a tensor "
                             f"of shape {shape_str(value.shape)}")
        if value.data.dtype != x.data.dtype:
            value = value.to(x.data.dtype)
    elif isinstance(value, xp.generic):
        value = value.item()
    elif not isinstance(value, (bool, int, float)):
        raise TypeError(f"index_fill: value must be a number or a 0-D tensor; got "
                        f"{type(value).__name__}")
    if x.ndim == 0:
        return reshape(IndexFill.apply(reshape(x, 1), value, 0, positions), ())
    return IndexFill.apply(x, value, d, positions)


METHODS = {"scatter": scatter, "scatter_add": scatter_add, "index_add": index_add,
           "index_copy": index_copy, "index_fill": index_fill}
__all__ = list(METHODS)
