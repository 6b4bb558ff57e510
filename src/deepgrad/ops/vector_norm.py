"""Vector norms: ``norm``, as ``torch.norm`` and ``torch.linalg.vector_norm`` compute it.

The p-norm over ``dim`` is (sum |x|**p)**(1/p); p=inf is max |x|, p=-inf min |x|, and p=0 counts
the nonzero elements. Gradients follow PyTorch where the norm is not differentiable: 0 at x = 0
for p=2 (and wherever the norm is 0 for p > 1), sign(x) (0 at 0) for p=1, shared evenly among
ties for p=±inf, 0 for p=0.

The separate batch, layer and group normalization layers live in ``norm.py``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops.elementwise import to
from deepgrad.ops.reductions import _axes, _check_float, _out_shape
from deepgrad.tensor import Tensor


class Norm(Function):
    """y = (sum over axes of |x|**p)**(1/p) (max, min, count for p = inf, -inf, 0);
    gx = gy * sign(x) |x|**(p-1) / y**(p-1), with PyTorch's values where that is undefined."""

    @staticmethod
    def forward(ctx, x, *, axes, keepdim, p):
        a = xp.abs(x)
        if p == 2:
            y = xp.sqrt((x * x).sum(axis=axes, keepdims=True))
        elif p == 1:
            y = a.sum(axis=axes, keepdims=True)
        elif p == math.inf:
            y = a.max(axis=axes, keepdims=True)
        elif p == -math.inf:
            y = a.min(axis=axes, keepdims=True)
        elif p == 0:
            y = (x != 0).sum(axis=axes, keepdims=True, dtype=x.dtype)
        else:
            # For p < 0 a zero element gives |0|**p = inf and so a norm of 0, as in PyTorch.
            with xp.errstate(divide="ignore"):
                y = (a ** p).sum(axis=axes, keepdims=True) ** (1 / p)
        ctx.save(x=x, y=y, axes=axes, p=p)
        return y.reshape(_out_shape(x.shape, axes, keepdim))

    @staticmethod
    def backward(ctx, gy):
        x, y, p = ctx.x, ctx.y, ctx.p
        g = gy.reshape(y.shape)
        if p == 2:
            # Dividing by inf where y = 0 gives PyTorch's zero gradient without a 0/0 warning.
            return x * (g / xp.where(y == 0, math.inf, y))
        if p == 1:
            return xp.sign(x) * g
        if p == 0:
            return xp.zeros_like(x)
        a = xp.abs(x)
        if math.isinf(p):
            # The elements at the max (min) |x| share its gradient, as do NaNs, as in PyTorch.
            mask = (a == y) | xp.isnan(a)
            ties = mask.sum(axis=ctx.axes, keepdims=True, dtype=g.dtype)
            return xp.sign(x) * mask * (g / ties)
        if p < 1:
            with xp.errstate(divide="ignore", invalid="ignore"):
                scaled = xp.where(x == 0, 0, xp.sign(x) * a ** (p - 1))
            return scaled * g * y ** (1 - p)
        scale = g / xp.where(y == 0, math.inf, y ** (p - 1))
        return xp.sign(x) * a ** (p - 1) * scale


def _order(p: Any) -> float:
    if p == "fro":  # the Frobenius norm: the 2-norm of the elements
        return 2.0
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"norm: p must be a number (such as 2, 1, inf, -inf or 0) or 'fro'; "
                        f"got {p!r} (matrix norms such as 'nuc' are not supported)")
    return float(p)


def norm(x: Tensor, p: float | str = 2, dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """The vector p-norm of ``x`` over ``dim``.

    Args:
        x: a floating tensor.
        p: the order: any real number, ``inf`` (max |x|), ``-inf`` (min |x|), 0 (the number of
            nonzero elements) or ``'fro'`` (the same as 2).
        dim: an int, a tuple of ints, or None for every element.
        keepdim: keep the reduced dimensions as size 1.
        dtype: a floating dtype at least as wide as x's, to convert ``x`` to before computing.
    """
    _check_float(x, "norm")
    order = _order(p)
    if dtype is not None:
        dtype = xp.dtype(dtype)
        if dtype.kind != "f" or not xp.can_cast(x.data.dtype, dtype):
            raise TypeError(f"norm: dtype must be a floating type at least as wide as the "
                            f"input's {x.data.dtype}; got {dtype}")
        x = to(x, dtype)
    axes = _axes(x, dim, "norm")
    if order < 0 or math.isinf(order):
        for a in range(x.ndim) if axes is None else axes:
            if x.shape[a] == 0:
                raise ShapeError(f"norm: cannot compute the {p} norm over dimension {a} of size 0 "
                                 f"(input shape {shape_str(x.shape)}): it is undefined for zero "
                                 "elements; expected a nonempty dimension")
    return Norm.apply(x, axes=axes, keepdim=keepdim, p=order)


METHODS = {"norm": norm}
__all__ = list(METHODS)
