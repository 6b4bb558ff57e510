"""Layers of the classic papers, built from the primitives (so every gradient is theirs):
local response normalization (AlexNet), max unpooling (SegNet's decoder), alpha dropout
(self-normalizing networks, with SELU) and the Gumbel-softmax (a differentiable sample of a
category), as PyTorch computes them."""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops import arithmetic, join, reductions, scatter, shape
from deepgrad.ops._pool_args import _check_input, _ints
from deepgrad.ops.rearrange import unfold
from deepgrad.tensor import Tensor, check_tensor

# SELU's scale * alpha: where alpha dropout sends the dropped activations (their saturation).
_SELU_SATURATION = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Each element divided by ``(k + alpha * mean of the squares of its `size` neighbouring
    channels) ** beta`` (zeros beyond the first and last channel count in the mean), over
    dimension 1 of an input of 3 or more dimensions."""
    x = check_tensor("local_response_norm", input)
    if x.ndim < 3:
        raise ShapeError(f"local_response_norm: expects (N, C, ...) with at least 3 dimensions; "
                         f"got {shape_str(x.shape)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"local_response_norm: size must be an int >= 1; got {size!r}")
    squares = arithmetic.mul(x, x)
    widths = [0, 0] * (x.ndim - 2) + [size // 2, (size - 1) // 2]  # pad's last-dim-first order
    windows = unfold(join.pad(squares, tuple(widths)), 1, size, 1)
    scale = reductions.mean(windows, -1)
    return arithmetic.div(x, arithmetic.pow(arithmetic.add(arithmetic.mul(scale, alpha), k),
                                            beta))


def max_unpool2d(input: Tensor, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """The inverse of ``max_pool2d(..., return_indices=True)``: each value put back at its
    index in its plane, zeros elsewhere. The output is (H - 1) * stride - 2 * padding +
    kernel_size high (likewise wide), or ``output_size``."""
    x = check_tensor("max_unpool2d", input)
    _check_input("max_unpool2d", x, 2)
    kernel = _ints("max_unpool2d", "kernel_size", kernel_size, 2)
    strides = kernel if stride is None else _ints("max_unpool2d", "stride", stride, 2)
    pads = _ints("max_unpool2d", "padding", padding, 2)
    index = indices.data if isinstance(indices, Tensor) else xp.asarray(indices)
    if index.shape != x.shape or index.dtype.kind not in "iu":
        raise ShapeError(f"max_unpool2d: indices must be integers of the input's shape "
                         f"{shape_str(x.shape)}; got {index.dtype} {shape_str(index.shape)}")
    if output_size is None:
        size = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[-2:], strides, pads,
                                                                  kernel))
    else:
        size = tuple(int(n) for n in tuple(output_size)[-2:])
    plane = size[0] * size[1]
    if index.size and (index.min() < 0 or index.max() >= plane):
        raise ValueError(f"max_unpool2d: indices must be in [0, {plane}) for an output of "
                         f"{size[0]}x{size[1]}; got values in [{index.min()}, {index.max()}]")
    lead = x.shape[:-2]
    flat = shape.reshape(x, *lead, -1)
    zeros = Tensor._make(xp.zeros((*lead, plane), x.dtype))
    out = scatter.scatter(zeros, -1, index.reshape(*lead, -1), flat)
    return shape.reshape(out, *lead, *size)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False) -> Tensor:
    """Dropout for SELU networks: while training, each element is replaced with probability
    ``p`` by SELU's saturation value, and an affine map keeps the mean and variance of
    standardized activations; the identity otherwise."""
    x = check_tensor("alpha_dropout", input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"alpha_dropout: p must be between 0 and 1; got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return arithmetic.mul(x, 0.0)
    keep = (generator().random(x.shape) >= p).astype(x.dtype)
    a = 1.0 / math.sqrt((_SELU_SATURATION ** 2 * p + 1) * (1 - p))
    shift = (keep - 1) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * p
    return arithmetic.add(arithmetic.mul(x, Tensor._make(keep * a)), Tensor._make(shift))


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, dim: int = -1
                   ) -> Tensor:
    """A differentiable sample of a category: ``softmax((logits + g) / tau)`` with Gumbel noise
    ``g``; with ``hard`` the one-hot of its argmax, whose gradient is the soft sample's (the
    straight-through estimator)."""
    x = check_tensor("gumbel_softmax", logits)
    if not tau > 0:
        raise ValueError(f"gumbel_softmax: tau must be > 0; got {tau}")
    gumbels = -xp.log(generator().exponential(size=x.shape)).astype(x.dtype)
    soft = reductions.softmax(arithmetic.div(arithmetic.add(x, Tensor._make(gumbels)), tau), dim)
    if not hard:
        return soft
    axis = dim % x.ndim
    one_hot = xp.zeros(x.shape, x.dtype)
    xp.put_along_axis(one_hot, xp.argmax(soft.data, axis=axis, keepdims=True), 1.0, axis=axis)
    return arithmetic.add(arithmetic.sub(Tensor._make(one_hot), soft.detach()), soft)


__all__ = ["alpha_dropout", "gumbel_softmax", "local_response_norm", "max_unpool2d"]
