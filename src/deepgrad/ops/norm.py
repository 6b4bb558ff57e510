"""Normalization layers' math as fused ops: batch_norm, layer_norm, group_norm.

Each is one graph node with a hand-written backward. Written from primitives, a normalization is
a dozen nodes, each keeping a full-size temporary alive for backward; fused, it keeps the
normalized input ``x_hat`` and one scale per row or channel.

The backward of ``x_hat = (x - mean) * inv_std`` over a group of M values, with ``g`` the
gradient reaching ``x_hat``:  gx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)).

Batch norm, tuned for memory-bound inputs, is in :mod:`deepgrad.ops.batch_norm` and re-exported
here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._kernels import compiled
from deepgrad.ops.batch_norm import BatchNorm, _channel_dot, _channel_sum, batch_norm
from deepgrad.parallel import in_blocks
from deepgrad.tensor import Tensor, check_tensor


def _normalize_rows(x2: Any, eps: float) -> tuple[Any, Any]:
    """x_hat and inv_std (rows, 1) of each row of a 2-D array (a fresh x_hat, x2 untouched)."""
    x_hat = x2 - x2.mean(axis=1, keepdims=True)
    var = xp.einsum("ij,ij->i", x_hat, x_hat)[:, None]
    var /= x2.shape[1]
    var += eps
    inv_std = 1.0 / xp.sqrt(var)
    x_hat *= inv_std
    return x_hat, inv_std


def _normalize_rows_backward(g: Any, x_hat: Any, inv_std: Any) -> Any:
    """gx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), row by row, in one new array."""
    gx = x_hat * (xp.einsum("ij,ij->i", g, x_hat)[:, None] / x_hat.shape[1])
    gx += g.mean(axis=1, keepdims=True)
    xp.subtract(g, gx, out=gx)
    gx *= inv_std
    return gx


def _affine(x_hat: Any, weight: Any, bias: Any, in_place: bool) -> Any:
    """x_hat * weight + bias (either may be None), in x_hat's memory when backward won't read
    it."""
    if weight is None and bias is None:
        return x_hat if in_place else x_hat.copy()
    if weight is not None:
        y = xp.multiply(x_hat, weight, out=x_hat if in_place else None)
        if bias is not None:
            y += bias
        return y
    return xp.add(x_hat, bias, out=x_hat if in_place else None)


# ------------------------------------------------------------------------------ layer norm
def _compiled_forward(kernels: Any, x2: Any, weight: Any, bias: Any, eps: float,
                      keep_x_hat: bool) -> tuple[Any, Any, Any]:
    """y, x_hat (or an empty array when backward won't need it) and inv_std (rows, 1) of
    LayerNorm's rows x2 in one compiled pass, which normalizes each row while it is in cache
    (NumPy makes seven passes); the row sums in float64."""
    rows, size = x2.shape
    y = xp.empty(x2.shape, x2.dtype)
    x_hat = xp.empty(x2.shape if keep_x_hat else (0, size), x2.dtype)
    inv_std = xp.empty((rows, 1), x2.dtype)
    none = xp.empty(0, x2.dtype)
    weight, bias = none if weight is None else weight, none if bias is None else bias
    # A slice of an empty x_hat is empty too, and the loop then skips writing it.
    in_blocks(lambda part: kernels.layer_norm(x2[part], weight, bias, eps, x_hat[part],
                                              inv_std[part], y[part]), rows, x2.size)
    return y, x_hat, inv_std


def _compiled_backward(kernels: Any, gy2: Any, x_hat: Any, inv_std: Any, weight: Any,
                       needs: tuple) -> tuple[Any, Any, Any]:
    """LayerNorm's input, weight and bias gradients (each None unless needed) in one compiled
    pass over the rows; the weight's and bias's sums in float64, per thread, then added."""
    rows, size = gy2.shape
    gx = xp.empty(gy2.shape if needs[0] else (0, size), gy2.dtype)
    weight = xp.empty(0, gy2.dtype) if weight is None else weight

    def work(part: slice) -> Any:
        sums = xp.zeros((2, size))
        kernels.layer_norm_backward(gy2[part], x_hat[part], inv_std[part], weight, gx[part],
                                    sums)
        return sums

    sums = sum(in_blocks(work, rows, gy2.size))
    return (gx if needs[0] else None, sums[0].astype(gy2.dtype) if needs[1] else None,
            sums[1].astype(gy2.dtype) if needs[2] else None)


class LayerNorm(Function):
    """y = x_hat * w + b, x_hat normalized over the trailing ``normalized_shape`` dims.

    gx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) with g = gy * w;
    gw = sum over the leading dims of gy * x_hat;  gb = sum over the leading dims of gy.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        size = math.prod(normalized_shape)
        x2 = x.reshape(-1, size)
        needs = ctx.needs_input_grad
        keep_x_hat = needs[0] or needs[1]
        flat_weight = None if weight is None else weight.reshape(size)
        flat_bias = None if bias is None else bias.reshape(size)
        kernels = compiled() if x.dtype in (xp.float32, xp.float64) else None
        if kernels is not None:
            y, x_hat, inv_std = _compiled_forward(kernels, x2, flat_weight, flat_bias, eps,
                                                  keep_x_hat)
        else:
            x_hat, inv_std = _normalize_rows(x2, eps)
            y = _affine(x_hat, flat_weight, flat_bias, in_place=not keep_x_hat)
        ctx.save(x_hat=x_hat if keep_x_hat else None, inv_std=inv_std,
                 weight=flat_weight if needs[0] else None, normalized_shape=normalized_shape,
                 kernels=kernels)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        needs = ctx.needs_input_grad
        x_hat, weight = ctx.x_hat, ctx.weight
        normalized_shape = ctx.normalized_shape
        gy2 = gy.reshape(-1, math.prod(normalized_shape))
        if ctx.kernels is not None and x_hat is not None:
            gx, gw, gb = _compiled_backward(ctx.kernels, gy2, x_hat, ctx.inv_std, weight,
                                            needs)
            return (None if gx is None else gx.reshape(gy.shape),
                    None if gw is None else gw.reshape(normalized_shape),
                    None if gb is None else gb.reshape(normalized_shape), None, None)
        gx = gw = gb = None
        if needs[0]:
            g = gy2 if weight is None else gy2 * weight
            gx = _normalize_rows_backward(g, x_hat, ctx.inv_std).reshape(gy.shape)
        if needs[1]:
            gw = xp.einsum("ij,ij->j", gy2, x_hat).reshape(normalized_shape)
        if needs[2]:
            gb = gy2.sum(axis=0).reshape(normalized_shape)
        return gx, gw, gb, None, None


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing dims (PyTorch's ``F.layer_norm``).

    Args:
        input: shape (*, *normalized_shape).
        normalized_shape: the trailing dims to normalize over (an int for the last one).
        weight: the scale, shape ``normalized_shape``, or None.
        bias: the shift, shape ``normalized_shape``, or None.
        eps: added to the variance before the square root.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    xa = check_tensor("layer_norm", input).data
    k = len(shape)
    if (k == 0 or xa.ndim < k or xa.shape[xa.ndim - k:] != shape or xa.dtype.kind != "f"
            or any(t is not None and (t.data.shape != shape or t.data.dtype != xa.dtype)
                   for t in (weight, bias))):
        raise _layer_norm_error(xa, shape, weight, bias)
    return LayerNorm.apply(input, weight, bias, shape, float(eps))


def _layer_norm_error(x: Any, shape: tuple, weight: Any, bias: Any) -> Exception:
    if not shape:
        return ValueError("layer_norm: normalized_shape must name at least one dimension; got ()")
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        return ShapeError(f"layer_norm: normalized_shape {shape_str(shape)} does not match the "
                          f"last dimensions of the input {shape_str(x.shape)}")
    if x.dtype.kind != "f":
        return TypeError(f"layer_norm: expects a floating point input; got {x.dtype}")
    return _parameter_error("layer_norm", x, shape, (("weight", weight), ("bias", bias)))


def _parameter_error(op: str, x: Any, shape: tuple, parameters: tuple) -> Exception:
    for name, t in parameters:
        if t is not None and t.data.shape != shape:
            return ShapeError(f"{op}: {name} must have shape {shape_str(shape)} for an input of "
                              f"shape {shape_str(x.shape)}; got {shape_str(t.data.shape)}")
    for name, t in parameters:
        if t is not None and t.data.dtype != x.dtype:
            return TypeError(f"{op}: {name} has dtype {t.data.dtype} but the input has "
                             f"{x.dtype}")
    return ValueError(f"{op}: invalid arguments")


# ------------------------------------------------------------------------------ group norm
class GroupNorm(Function):
    """y = x_hat * w + b per channel, x_hat normalized over each group of C/G channels (and all
    spatial positions) of each sample.

    gx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) per group, with g = gy * w;
    gw = sum over (N, *spatial) of gy * x_hat;  gb = sum over (N, *spatial) of gy.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups, eps):
        n, c = x.shape[:2]
        spatial = math.prod(x.shape[2:])
        x_hat, inv_std = _normalize_rows(
            x.reshape(n * num_groups, c // num_groups * spatial), eps)
        x_hat = x_hat.reshape(n, c, spatial)
        needs = ctx.needs_input_grad
        keep_x_hat = needs[0] or needs[1]
        ctx.save(x_hat=x_hat if keep_x_hat else None, inv_std=inv_std,
                 weight=weight if needs[0] else None)
        y = _affine(x_hat, None if weight is None else weight[:, None],
                    None if bias is None else bias[:, None], in_place=not keep_x_hat)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        needs = ctx.needs_input_grad
        x_hat, weight, inv_std = ctx.x_hat, ctx.weight, ctx.inv_std
        n, c = gy.shape[:2]
        gy3 = gy.reshape(n, c, math.prod(gy.shape[2:]))
        gx = None
        if needs[0]:
            g = gy3 if weight is None else gy3 * weight[:, None]
            rows = (inv_std.shape[0], x_hat.size // inv_std.shape[0])
            gx = _normalize_rows_backward(g.reshape(rows), x_hat.reshape(rows), inv_std)
            gx = gx.reshape(gy.shape)
        return (gx, _channel_dot(gy3, x_hat) if needs[1] else None,
                _channel_sum(gy3) if needs[2] else None, None, None)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalization (PyTorch's ``F.group_norm``): the C channels of each sample are split
    into ``num_groups`` groups, each normalized over its channels and spatial positions.

    Args:
        input: shape (N, C, *).
        num_groups: the number of groups; must divide C.
        weight: the per-channel scale, shape (C,), or None.
        bias: the per-channel shift, shape (C,), or None.
        eps: added to the variance before the square root.
    """
    xa = check_tensor("group_norm", input).data
    c = xa.shape[1] if xa.ndim >= 2 else 0
    if (c == 0 or not isinstance(num_groups, int) or num_groups <= 0 or c % num_groups
            or xa.dtype.kind != "f"
            or any(t is not None and (t.data.shape != (c,) or t.data.dtype != xa.dtype)
                   for t in (weight, bias))):
        raise _group_norm_error(xa, num_groups, weight, bias)
    return GroupNorm.apply(input, weight, bias, num_groups, float(eps))


def _group_norm_error(x: Any, num_groups: Any, weight: Any, bias: Any) -> Exception:
    if x.ndim < 2 or x.shape[1] == 0:
        return ShapeError(f"group_norm: expects input (N, C, *) with C > 0; got "
                          f"{shape_str(x.shape)}")
    c = x.shape[1]
    if not isinstance(num_groups, int) or num_groups <= 0 or c % num_groups:
        return ValueError(f"group_norm: num_groups={num_groups!r} must be a positive integer "
                          f"dividing the {c} channels of the input {shape_str(x.shape)}")
    if x.dtype.kind != "f":
        return TypeError(f"group_norm: expects a floating point input; got {x.dtype}")
    return _parameter_error("group_norm", x, (c,), (("weight", weight), ("bias", bias)))


__all__ = ["BatchNorm", "GroupNorm", "LayerNorm", "batch_norm", "group_norm", "layer_norm"]
