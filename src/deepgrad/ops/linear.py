"""The fully connected layer as one fused op: y = x @ W.T + b.

Written from primitives this is three graph nodes (transpose, matmul, add) and a gradient for W
that comes out transposed; fused it is one node whose backward produces each gradient directly in
its parameter's layout, which the MLP benchmark measured as the difference between trailing and
leading PyTorch.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.errors import ShapeError, shape_str
from deepgrad.parallel import matmul
from deepgrad.tensor import Tensor, check_tensor


def _rows(a: Any) -> Any:
    """``a`` (..., features) as a matrix (rows, features)."""
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


class Linear(Function):
    """y = x @ W.T + b.   x: (..., in) -> y: (..., out);  W: (out, in);  b: (out,).

    gx = gy @ W;  gW = gy^T @ x (over all leading dims);  gb = gy summed over all leading dims.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        y = matmul(_rows(x), weight.T)
        if x.ndim != 2:
            y = y.reshape(*x.shape[:-1], y.shape[-1])
        if bias is not None:
            y += bias  # y is a fresh array: adding in place saves a temporary
        ctx.save(x=x if ctx.needs_input_grad[1] else None,
                 weight=weight if ctx.needs_input_grad[0] else None)
        return y

    @staticmethod
    def backward(ctx, gy):
        needs = ctx.needs_input_grad
        gy2 = _rows(gy)
        gx = None
        if needs[0]:
            gx = matmul(gy2, ctx.weight)
            if gy.ndim != 2:
                gx = gx.reshape(*gy.shape[:-1], gx.shape[-1])
        gw = gb = None
        if needs[1]:
            gw = matmul(gy2.T, _rows(ctx.x))
        if needs[2]:
            gb = gy2.sum(axis=0)
        return gx, gw, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one op.   x: (..., in_features) -> (..., out_features).

    Args:
        x: the input, with the features in its last dimension.
        weight: shape (out_features, in_features), as in PyTorch.
        bias: shape (out_features,), or None.
    """
    xa, wa = check_tensor("linear", x).data, check_tensor("linear", weight, "weight").data
    ba = None if bias is None else check_tensor("linear", bias, "bias").data
    # One cheap combined check on the hot path; the diagnosis only when it fails.
    if (wa.ndim != 2 or xa.ndim == 0 or xa.shape[-1] != wa.shape[1] or xa.dtype != wa.dtype
            or (ba is not None and (ba.shape != wa.shape[:1] or ba.dtype != wa.dtype))):
        raise _linear_error(xa, wa, ba)
    return Linear.apply(x, weight, bias)


def _linear_error(x: Any, weight: Any, bias: Any) -> Exception:
    if weight.ndim != 2:
        return ShapeError(f"linear: weight must be 2-D (out_features, in_features); got shape "
                          f"{shape_str(weight.shape)}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        return ShapeError(f"linear: expects input (..., {weight.shape[1]}) for a weight of shape "
                          f"{shape_str(weight.shape)}; got {shape_str(x.shape)}")
    if bias is not None and bias.shape != (weight.shape[0],):
        return ShapeError(f"linear: bias must have shape {shape_str(weight.shape[:1])} for a "
                          f"weight of shape {shape_str(weight.shape)}; got "
                          f"{shape_str(bias.shape)}")
    hint = ("; convert integer inputs to floats first (x.float(), or transforms.ToFloat() in "
            "the data pipeline)" if x.dtype.kind in "iub" else "")
    return TypeError(f"linear: input, weight and bias must have the same dtype; got {x.dtype}, "
                     f"{weight.dtype}" + ("" if bias is None else f", {bias.dtype}") + hint)
