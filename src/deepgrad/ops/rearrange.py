"""Rearranging and small linear algebra, PyTorch's names: flip roll tril triu index_select prod
(primitives), and narrow unbind movedim t expand_as view_as reshape_as type_as repeat_interleave
diag outer dot mm bmm mv masked_select diff rot90 (compositions of other ops, differentiable
through them).
"""

from __future__ import annotations

import operator
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops import arithmetic, indexing, reductions, shape
from deepgrad.ops._util import normalize_dim, normalize_dims
from deepgrad.tensor import Tensor, check_tensor, to_array


class Flip(Function):
    """y = x reversed along ``dims``;  gx = gy reversed along them."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.save(dims=dims)
        return xp.flip(x, dims)

    @staticmethod
    def backward(ctx, gy):
        return xp.flip(gy, ctx.dims), None


class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``dims`` (the flattened x when None);
    gx = gy shifted back."""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.save(shifts=shifts, dims=dims, shape=x.shape)
        return xp.roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, gy):
        back = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return xp.roll(gy, back, ctx.dims).reshape(ctx.shape), None, None


class Triangle(Function):
    """y = x with the entries above (``lower``) or below diagonal ``k`` of its last two
    dimensions set to 0;  gx = gy with the same entries set to 0."""

    @staticmethod
    def forward(ctx, x, k, lower):
        ctx.save(k=k, lower=lower)
        return xp.tril(x, k) if lower else xp.triu(x, k)

    @staticmethod
    def backward(ctx, gy):
        return (xp.tril(gy, ctx.k) if ctx.lower else xp.triu(gy, ctx.k)), None, None


class IndexSelect(Function):
    """y = x's slices at ``index`` along ``dim``;  gx = gy's slices added back at their
    positions (a position picked twice gets both)."""

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save(dim=dim, index=index, shape=x.shape, dtype=x.dtype)
        return xp.take(x, index, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        gx = xp.zeros(ctx.shape, ctx.dtype)
        moved = xp.moveaxis(gx, ctx.dim, 0)
        xp.add.at(moved, ctx.index, xp.moveaxis(gy, ctx.dim, 0))
        return gx, None, None


class Prod(Function):
    """y = the product of x over ``axes`` (all when None);  gx = gy times the product of the
    other factors of each entry's slice: exclusive products from both ends, so that a zero
    factor gives the exact gradient (not y / x)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.save(x=x, axes=axes, keepdim=keepdim)
        return xp.prod(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        x, axes = ctx.x, ctx.axes
        axes = tuple(range(x.ndim)) if axes is None else axes
        if not ctx.keepdim:
            gy = xp.expand_dims(gy, axes)
        # The reduced axes as one trailing axis: others[i] = prod(x[:i]) * prod(x[i+1:]).
        moved = xp.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
        flat = moved.reshape(*moved.shape[:x.ndim - len(axes)], -1)
        before = xp.cumprod(xp.concatenate([xp.ones_like(flat[..., :1]), flat[..., :-1]], -1),
                            axis=-1)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate(
            [flat[..., 1:], xp.ones_like(flat[..., :1])], -1), -1), axis=-1), -1)
        others = (before * after).reshape(moved.shape)
        others = xp.moveaxis(others, tuple(range(x.ndim - len(axes), x.ndim)), axes)
        return gy * others, None, None


class Diag(Function):
    """y = the square matrix with x on its diagonal ``k``, zeros elsewhere;  gx = gy's
    diagonal k."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.save(k=k)
        return xp.diag(x, k)

    @staticmethod
    def backward(ctx, gy):
        return xp.diagonal(gy, ctx.k).copy(), None


class UnfoldWindows(Function):
    """y = the windows of ``size`` elements every ``step`` along ``axis``, as a new last
    dimension;  gx = each window's gradient added back where the window was."""

    @staticmethod
    def forward(ctx, x, axis, size, step):
        windows = xp.lib.stride_tricks.sliding_window_view(x, size, axis=axis)
        picked = (slice(None),) * axis + (slice(None, None, step),)
        y = windows[picked].copy()
        ctx.save(shape=x.shape, axis=axis, size=size, step=step, count=y.shape[axis])
        return y

    @staticmethod
    def backward(ctx, gy):
        gx = xp.zeros(ctx.shape, gy.dtype)
        before = (slice(None),) * ctx.axis
        last = ctx.step * (ctx.count - 1) + 1
        for k in range(ctx.size):
            gx[(*before, slice(k, k + last, ctx.step))] += gy[..., k]
        return gx, None, None, None


def flip(input: Tensor, dims: Any) -> Tensor:
    """``input`` reversed along each of ``dims`` (an int or a sequence)."""
    x = check_tensor("flip", input)
    return Flip.apply(x, normalize_dims(dims, x.ndim, "flip") or ())


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """``input`` shifted cyclically: by ``shifts`` along ``dims`` (ints or matching sequences),
    or over its flattened elements when ``dims`` is None (the shape kept)."""
    x = check_tensor("roll", input)
    if dims is None:
        if not isinstance(shifts, int):
            raise ValueError(f"roll: without dims, shifts must be one int; got {shifts!r}")
        return Roll.apply(x, shifts, None)
    shifts_t = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims_t = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts_t) != len(dims_t):
        raise ValueError(f"roll: shifts and dims must have the same length; got {shifts!r} and "
                         f"{dims!r}")
    return Roll.apply(x, shifts_t, tuple(normalize_dim(d, x.ndim, "roll") for d in dims_t))


def _triangle(op: str, input: Tensor, diagonal: int, lower: bool) -> Tensor:
    x = check_tensor(op, input)
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs a matrix (or a stack of them); got shape "
                         f"{shape_str(x.shape)}")
    return Triangle.apply(x, int(diagonal), lower)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions: entries above diagonal ``diagonal`` set
    to 0 (0 the main diagonal, > 0 above it, < 0 below)."""
    return _triangle("tril", input, diagonal, True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dimensions: entries below diagonal ``diagonal`` set
    to 0."""
    return _triangle("triu", input, diagonal, False)


def index_select(input: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of ``input`` at the positions ``index`` (1-D integers) along ``dim``."""
    x = check_tensor("index_select", input)
    d = normalize_dim(dim, x.ndim, "index_select")
    positions = to_array(index)
    if positions.ndim != 1 or positions.dtype.kind not in "iu":
        raise TypeError(f"index_select: index must be a 1-D integer tensor; got {positions.dtype} "
                        f"of shape {shape_str(positions.shape)}")
    bad = xp.flatnonzero((positions < -x.shape[d]) | (positions >= x.shape[d]))
    if bad.size:
        raise IndexError(f"index_select: index {positions[bad[0]]} is out of range for "
                         f"dimension {d} of size {x.shape[d]}")
    return IndexSelect.apply(x, d, positions % x.shape[d])


def prod(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The product over ``dim`` (an int, a tuple, or all when None)."""
    x = check_tensor("prod", input)
    return Prod.apply(x, normalize_dims(dim, x.ndim, "prod"), keepdim)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The slice ``start : start + length`` of ``input`` along ``dim`` (a view, as in
    PyTorch)."""
    x = check_tensor("narrow", input)
    d = normalize_dim(dim, x.ndim, "narrow")
    size = x.shape[d]
    begin = start + size if start < 0 else start
    if not 0 <= begin <= size or length < 0 or begin + length > size:
        raise IndexError(f"narrow: start {start} and length {length} do not fit dimension {d} "
                         f"of size {size}")
    return indexing.getitem(x, (slice(None),) * d + (slice(begin, begin + length),))


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``input`` along ``dim``, that dimension removed, as a tuple."""
    x = check_tensor("unbind", input)
    d = normalize_dim(dim, x.ndim, "unbind")
    return tuple(indexing.getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    """``input`` with dimensions ``source`` moved to positions ``destination`` (ints or
    matching sequences), the others in their order."""
    x = check_tensor("movedim", input)

    def in_order(value: Any) -> tuple[int, ...]:
        dims = tuple(normalize_dim(int(d), x.ndim, "movedim")
                     for d in ((value,) if isinstance(value, int) else value))
        if len(set(dims)) != len(dims):
            raise ValueError(f"movedim: {value!r} names a dimension twice")
        return dims

    src, dst = in_order(source), in_order(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source and destination must name as many dimensions; got "
                         f"{source!r} and {destination!r}")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return shape.permute(x, *order)


def t(input: Tensor) -> Tensor:
    """The transpose of a matrix (a 0-D or 1-D tensor itself), as PyTorch's ``t``."""
    x = check_tensor("t", input)
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor of at most 2 dimensions; got shape "
                         f"{shape_str(x.shape)} (use transpose or mT)")
    return shape.transpose(x, 0, 1) if x.ndim == 2 else x


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """``input`` broadcast to ``other``'s shape."""
    return shape.expand(check_tensor("expand_as", input), *other.shape)


def view_as(input: Tensor, other: Tensor) -> Tensor:
    """``input`` viewed with ``other``'s shape."""
    return shape.view(check_tensor("view_as", input), *other.shape)


def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    """``input`` reshaped to ``other``'s shape."""
    return shape.reshape(check_tensor("reshape_as", input), *other.shape)


def type_as(input: Tensor, other: Tensor) -> Tensor:
    """``input`` in ``other``'s dtype."""
    return check_tensor("type_as", input).to(other.dtype)


def repeat_interleave(input: Tensor, repeats: int, dim: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times in a row along ``dim`` (of the flattened input
    when None): [a, b] -> [a, a, b, b]."""
    x = check_tensor("repeat_interleave", input)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise ValueError(f"repeat_interleave: repeats must be an int >= 0 (per-element counts "
                         f"are not supported); got {repeats!r}")
    if dim is None:
        x, d = shape.reshape(x, -1), 0
    else:
        d = normalize_dim(dim, x.ndim, "repeat_interleave")
    # A new axis after d, broadcast to the count, folded into d: [a, b] -> [[a, a], [b, b]].
    wide = shape.unsqueeze(x, d + 1)
    sizes = list(wide.shape)
    sizes[d + 1] = repeats
    out = list(x.shape)
    out[d] *= repeats
    return shape.reshape(shape.expand(wide, *sizes), *out)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as the diagonal ``diagonal`` of a square matrix, zeros elsewhere; a
    matrix's diagonal ``diagonal`` as a 1-D tensor."""
    x = check_tensor("diag", input)
    if x.ndim == 1:
        return Diag.apply(x, int(diagonal))
    if x.ndim != 2:
        raise ShapeError(f"diag: expects a 1-D or 2-D tensor; got shape {shape_str(x.shape)}")
    return _last_two_diagonal(x, diagonal)


def _last_two_diagonal(x: Tensor, offset: int) -> Tensor:
    """The diagonal ``offset`` of the matrices in ``x``'s last two dimensions, as its last."""
    rows, cols = x.shape[-2:]
    start_r, start_c = max(-offset, 0), max(offset, 0)
    count = max(0, min(rows - start_r, cols - start_c))
    return indexing.getitem(x, (Ellipsis, xp.arange(count) + start_r,
                                xp.arange(count) + start_c))


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal ``offset`` of the matrices spanned by ``dim1`` and ``dim2`` (above the main
    one for offset > 0), as a new last dimension; the other dimensions stay in order."""
    x = check_tensor("diagonal", input)
    d1, d2 = normalize_dim(dim1, x.ndim, "diagonal"), normalize_dim(dim2, x.ndim, "diagonal")
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ; both are {d1}")
    return _last_two_diagonal(movedim(x, (d1, d2), (-2, -1)), offset)


def trace(input: Tensor) -> Tensor:
    """The sum of a matrix's main diagonal."""
    x = check_tensor("trace", input)
    if x.ndim != 2:
        raise ShapeError(f"trace: expects a matrix; got shape {shape_str(x.shape)}")
    return reductions.sum(diagonal(x))


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """PyTorch's ``Tensor.unfold``: the windows of ``size`` elements every ``step`` along
    ``dimension``, which becomes the number of windows, with the window as a new last dimension
    (a copy here, a view in PyTorch)."""
    x = check_tensor("unfold", input)
    axis = normalize_dim(dimension, max(x.ndim, 1), "unfold")
    for name, value, least in (("size", size, 0), ("step", step, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"unfold: {name} must be an int >= {least}; got {value!r}")
    length = x.shape[axis] if x.ndim else 1
    if size > length:
        raise ShapeError(f"unfold: size {size} is larger than dimension {axis} "
                         f"({length}) of the input of shape {shape_str(x.shape)}")
    if x.ndim == 0:
        return shape.reshape(x, 1)
    return UnfoldWindows.apply(x, axis, size, step)


def diff(input: Tensor, n: int = 1, dim: int = -1) -> Tensor:
    """The ``n``-th forward difference along ``dim``: out[i] = x[i + 1] - x[i], n times."""
    x = check_tensor("diff", input)
    d = normalize_dim(dim, x.ndim, "diff")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"diff: n must be an int >= 0; got {n!r}")
    before = (slice(None),) * d
    for _ in range(n):
        x = arithmetic.sub(indexing.getitem(x, (*before, slice(1, None))),
                           indexing.getitem(x, (*before, slice(None, -1))))
    return x


def rot90(input: Tensor, k: int = 1, dims: Any = (0, 1)) -> Tensor:
    """``input`` rotated by ``k`` quarter turns in the plane of ``dims`` (two dimensions), from
    the first toward the second: k=1 turns [[1, 2], [3, 4]] into [[2, 4], [1, 3]]."""
    x = check_tensor("rot90", input)
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(f"rot90: dims must be a pair of ints; got {dims!r}") from None
    if len(dims) != 2:
        raise ValueError(f"rot90: dims must name 2 dimensions; got {len(dims)}: {dims!r}")
    if x.ndim < 2:
        raise ShapeError(f"rot90: expects a tensor of at least 2 dimensions; got shape "
                         f"{shape_str(x.shape)}")
    d0, d1 = (normalize_dim(int(d), x.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: dims must name two different dimensions; got {dims!r}")
    try:
        k = operator.index(k) % 4
    except TypeError:
        raise TypeError(f"rot90: k must be an int; got {k!r}") from None
    # PyTorch's composition: flip one dimension (both for a half turn), then swap the two.
    if k == 1:
        return shape.transpose(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return shape.transpose(flip(x, d0), d0, d1)
    return shape.clone(x)


def _vectors(op: str, *tensors: Tensor, ndim: int) -> None:
    for t_ in tensors:
        if check_tensor(op, t_).ndim != ndim:
            kind = {1: "1-D vectors", 2: "matrices", 3: "3-D batches of matrices"}[ndim]
            raise ShapeError(f"{op}: expects {kind}; got shapes "
                             + ", ".join(shape_str(x.shape) for x in tensors))


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors: out[i, j] = input[i] * vec2[j]."""
    _vectors("outer", input, vec2, ndim=1)
    return arithmetic.mul(shape.unsqueeze(input, 1), shape.unsqueeze(vec2, 0))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product of two vectors of the same length."""
    _vectors("dot", input, other, ndim=1)
    return arithmetic.matmul(input, other)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of two matrices (no broadcasting)."""
    _vectors("mm", input, mat2, ndim=2)
    return arithmetic.matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """The products of two batches of matrices, (B, n, m) @ (B, m, p) (no broadcasting)."""
    _vectors("bmm", input, mat2, ndim=3)
    if input.shape[0] != mat2.shape[0]:
        raise ShapeError(f"bmm: the batches differ in size: {shape_str(input.shape)} and "
                         f"{shape_str(mat2.shape)}")
    return arithmetic.matmul(input, mat2)


def _scaled_sum(op: str, input: Any, product: Tensor, beta: float, alpha: float) -> Tensor:
    # PyTorch's rule: with beta == 0 the input is ignored, NaN and inf in it included.
    scaled = product if alpha == 1 else arithmetic.mul(product, alpha)
    if beta == 0:
        return scaled
    try:
        xp.broadcast_shapes(xp.shape(getattr(input, "data", input)), product.shape)
    except ValueError:
        raise ShapeError(f"{op}: input of shape {shape_str(xp.shape(input))} does not broadcast "
                         f"to the product's {shape_str(product.shape)}") from None
    return arithmetic.add(input if beta == 1 else arithmetic.mul(input, beta), scaled)


def addmm(input: Any, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
          ) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` for matrices (``input`` broadcast)."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def baddbmm(input: Any, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1
            ) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)`` (``input`` broadcast)."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors: output ``i`` repeats ``tensors[i]`` along every other
    dimension (expanded views; gradients flow back). ``indexing="xy"`` swaps the first two
    dimensions, NumPy's and PyTorch's convention for image coordinates."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy'; got {indexing!r}")
    if not tensors:
        raise ValueError("meshgrid: expects at least one tensor")
    for i, t_ in enumerate(tensors):
        if check_tensor("meshgrid", t_).ndim > 1:
            raise ShapeError(f"meshgrid: expects 0-D or 1-D tensors; tensor {i} has shape "
                             f"{shape_str(t_.shape)}")
    vectors = [shape.reshape(t_, -1) for t_ in tensors]
    if indexing == "xy" and len(vectors) > 1:
        vectors[0], vectors[1] = vectors[1], vectors[0]
    sizes = tuple(v.shape[0] for v in vectors)
    grids = []
    for i, v in enumerate(vectors):
        view = [1] * len(sizes)
        view[i] = sizes[i]
        grids.append(shape.expand(shape.reshape(v, *view), *sizes))
    if indexing == "xy" and len(grids) > 1:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """The product of a matrix and a vector."""
    _vectors("mv", input, ndim=2)
    _vectors("mv", vec, ndim=1)
    return arithmetic.matmul(input, vec)


def masked_select(input: Tensor, mask: Any) -> Tensor:
    """The elements of ``input`` where the bool ``mask`` (broadcast to its shape) is True, as a
    1-D tensor in memory order."""
    x = check_tensor("masked_select", input)
    m = to_array(mask)
    if m.dtype.kind != "b":
        raise TypeError(f"masked_select: the mask must be a bool tensor; got dtype {m.dtype}")
    try:
        shape_ = xp.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ShapeError(f"masked_select: the mask's shape {shape_str(m.shape)} does not "
                         f"broadcast with the input's {shape_str(x.shape)}") from None
    return indexing.getitem(shape.expand(x, *shape_), xp.broadcast_to(m, shape_))


METHODS = {"flip": flip, "roll": roll, "tril": tril, "triu": triu, "index_select": index_select,
           "prod": prod, "narrow": narrow, "unbind": unbind, "movedim": movedim, "t": t,
           "expand_as": expand_as, "view_as": view_as, "reshape_as": reshape_as,
           "type_as": type_as, "repeat_interleave": repeat_interleave, "diag": diag,
           "outer": outer, "dot": dot, "mm": mm, "bmm": bmm, "mv": mv,
           "masked_select": masked_select, "diff": diff, "rot90": rot90, "addmm": addmm,
           "baddbmm": baddbmm, "diagonal": diagonal, "trace": trace, "unfold": unfold}
# The Tensor-only methods of PyTorch stay methods.
__all__ = [*(n for n in METHODS if n not in ("expand_as", "view_as", "reshape_as", "type_as",
                                              "unfold")), "meshgrid"]
