"""Dropout: zero random elements (or whole channels) while training, scaling the rest.

Inverted dropout: kept values are scaled by 1 / (1 - p) during training, so that evaluation is
the identity. The mask comes from deepgrad's generator, so ``dg.manual_seed`` makes it
reproducible.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor, check_tensor, float32, float64


class Dropout(Function):
    """y = x * mask, mask = keep / (1 - p) (broadcast over x for channel dropout);
    gx = gy * mask (the scaled mask is saved, so backward is one multiplication)."""

    @staticmethod
    def forward(ctx, x, mask):
        if ctx.needs_input_grad[0]:
            ctx.save(mask=mask)
        return x * mask

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.mask, None


def _scaled_mask(shape: tuple, p: float, dtype: Any) -> Any:
    """1 / (1 - p) where an element is kept (probability 1 - p), 0 where it is dropped."""
    draw_dtype = dtype if dtype in (float32, float64) else float32
    mask = generator().random(shape, dtype=draw_dtype)
    # Compared and scaled in the random draw's own memory: no second full-size array.
    xp.greater_equal(mask, p, out=mask, casting="unsafe")
    if p < 1:  # with p == 1 no draw in [0, 1) is kept, and 1 / (1 - p) would make 0 * inf
        mask *= 1.0 / (1.0 - p)
    return mask if mask.dtype == dtype else mask.astype(dtype)


def _check(op: str, input: Tensor, p: Any) -> None:
    if not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{op}: p is the probability of dropping an element and must be "
                         f"between 0 and 1; got {p!r}")
    if check_tensor(op, input).data.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating point input; got {input.data.dtype}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) when
    training; the identity otherwise (PyTorch's ``F.dropout``).

    Args:
        input: a floating point tensor of any shape.
        p: the probability of dropping an element, in [0, 1].
        training: apply dropout; when False the input is returned unchanged.
    """
    _check("dropout", input, p)
    if not training or p == 0:
        return input
    return Dropout.apply(input, _scaled_mask(input.data.shape, float(p), input.data.dtype))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels with probability ``p`` and scale the rest by 1 / (1 - p) when
    training; the identity otherwise (PyTorch's ``F.dropout2d``).

    A 3-D input is one sample (C, H, W), as PyTorch documents (its implementation still treats
    it as (N, C, L), pytorch/pytorch#77081).

    Args:
        input: shape (N, C, H, W) or (C, H, W).
        p: the probability of dropping a channel, in [0, 1].
        training: apply dropout; when False the input is returned unchanged.
    """
    _check("dropout2d", input, p)
    shape = input.data.shape
    if len(shape) not in (3, 4):
        raise ShapeError(f"dropout2d: expects input (N, C, H, W) or (C, H, W); got "
                         f"{shape_str(shape)}")
    if not training or p == 0:
        return input
    mask_shape = (*shape[:-2], 1, 1)
    return Dropout.apply(input, _scaled_mask(mask_shape, float(p), input.data.dtype))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of sequences with probability ``p`` and scale the rest by
    1 / (1 - p) when training; the identity otherwise (PyTorch's ``F.dropout1d``).

    Args:
        input: shape (N, C, L) or (C, L).
        p: the probability of dropping a channel, in [0, 1].
        training: apply dropout; when False the input is returned unchanged.
    """
    _check("dropout1d", input, p)
    shape = input.data.shape
    if len(shape) not in (2, 3):
        raise ShapeError(f"dropout1d: expects input (N, C, L) or (C, L); got {shape_str(shape)}")
    if not training or p == 0:
        return input
    return Dropout.apply(input, _scaled_mask((*shape[:-1], 1), float(p), input.data.dtype))
