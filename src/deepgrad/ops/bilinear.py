"""The bilinear form of two inputs (PyTorch's ``F.bilinear``): y_k = x1 @ W_k @ x2 + b_k.

Composed of a matmul, a broadcast multiply and a sum, so the gradients are theirs: x1 against
all the weight matrices at once, (B, in1) @ (in1, out * in2), then a dot with x2 per output.
"""

from __future__ import annotations

from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor, check_tensor


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y[..., k] = sum_ij input1[..., i] * weight[k, i, j] * input2[..., j] + bias[k].

    Args:
        input1: (*, in1_features).
        input2: (*, in2_features), the same leading dims as ``input1``.
        weight: (out_features, in1_features, in2_features).
        bias: (out_features,), or None.

    Returns:
        (*, out_features).
    """
    op = "bilinear"
    x1, x2 = check_tensor(op, input1, "input1"), check_tensor(op, input2, "input2")
    w = check_tensor(op, weight, "weight")
    if w.ndim != 3:
        raise ShapeError(f"{op}: weight must be 3-D (out_features, in1_features, in2_features); "
                         f"got {shape_str(w.shape)}")
    out, in1, in2 = w.shape
    if (x1.ndim == 0 or x2.ndim == 0 or x1.shape[-1] != in1 or x2.shape[-1] != in2
            or x1.shape[:-1] != x2.shape[:-1]):
        raise ShapeError(f"{op}: expects input1 (*, {in1}) and input2 (*, {in2}) with the same "
                         f"leading dims for a weight of shape {shape_str(w.shape)}; got "
                         f"{shape_str(x1.shape)} and {shape_str(x2.shape)}")
    if bias is not None and bias.shape != (out,):
        raise ShapeError(f"{op}: bias must have shape ({out},); got {shape_str(bias.shape)}")
    lead = x1.shape[:-1]
    left = x1.reshape(-1, in1) @ w.permute(1, 0, 2).reshape(in1, out * in2)  # (B, out * in2)
    y = (left.reshape(-1, out, in2) * x2.reshape(-1, 1, in2)).sum(-1)
    y = y.reshape(*lead, out)
    return y if bias is None else y + bias


__all__ = ["bilinear"]
