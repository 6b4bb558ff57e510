"""Pools composed of the others: adaptive 1-D pooling (the 2-D ops over a height of 1) and
power-average pooling, lp_pool1d and lp_pool2d ((sum of x**p over a window)**(1/p), PyTorch's
formula over an average pool, so its gradient is that of pow, avg_pool and sign)."""

from __future__ import annotations

import math
from typing import Any

from deepgrad.ops import pool
from deepgrad.ops._pool_args import _check_input, _ints
from deepgrad.ops.activations import relu
from deepgrad.ops.adaptive_pool import adaptive_max_pool2d
from deepgrad.tensor import Tensor, check_tensor


def _one_size(op: str, output_size: Any) -> Any:
    """A 1-D output size as the (1, L_out) of the 2-D op; None keeps the input length."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = output_size[0]
    return (1, output_size if output_size is None else _ints(op, "output_size", output_size,
                                                               1)[0])


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of (N, C, L) or (C, L) to length ``output_size`` (PyTorch's
    ``F.adaptive_avg_pool1d``): output i averages inputs floor(i * L / out) to
    ceil((i + 1) * L / out) - 1."""
    op = "adaptive_avg_pool1d"
    _check_input(op, check_tensor(op, input), 1)
    return pool.adaptive_avg_pool2d(input.unsqueeze(-2), _one_size(op, output_size)).squeeze(-2)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, L) or (C, L) to length ``output_size`` (PyTorch's
    ``F.adaptive_max_pool1d``); ``return_indices`` also returns each max's position along L."""
    op = "adaptive_max_pool1d"
    _check_input(op, check_tensor(op, input), 1)
    out = adaptive_max_pool2d(input.unsqueeze(-2), _one_size(op, output_size), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def _lp_pool(op: str, input: Tensor, norm_type: float, kernel: tuple[int, ...], stride: Any,
             ceil_mode: bool) -> Tensor:
    spatial = len(kernel)
    _check_input(op, check_tensor(op, input), spatial)
    max_pool, avg_pool = ((pool.max_pool1d, pool.avg_pool1d) if spatial == 1
                          else (pool.max_pool2d, pool.avg_pool2d))
    size = kernel[0] if spatial == 1 else kernel
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or norm_type == 0:
        raise ValueError(f"{op}: norm_type must be a nonzero number; got {norm_type!r}")
    if norm_type == math.inf:
        return max_pool(input.abs(), size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-input.abs(), size, stride, 0, 1, ceil_mode)
    out = avg_pool(input.pow(norm_type), size, stride, 0, ceil_mode)
    # PyTorch's sign * relu(abs) keeps its gradient (1 off zero) and its NaN for negative sums.
    return (out.sign() * relu(out.abs()) * math.prod(kernel)).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling (PyTorch's ``F.lp_pool1d``): (sum of x**p over each window)**(1/p),
    p = ``norm_type`` (inf: the max of |x|).   (N, C, L) -> (N, C, L_out).

    The sum is the window's average times its size, as in PyTorch, so a ``ceil_mode`` window
    that overhangs the input is scaled up as if it were full.
    """
    kernel = _ints("lp_pool1d", "kernel_size", kernel_size, 1)
    return _lp_pool("lp_pool1d", input, norm_type, kernel, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling (PyTorch's ``F.lp_pool2d``) over (N, C, H, W) or (C, H, W); see
    :func:`lp_pool1d`."""
    kernel = _ints("lp_pool2d", "kernel_size", kernel_size, 2)
    return _lp_pool("lp_pool2d", input, norm_type, kernel, stride, ceil_mode)


__all__ = ["adaptive_avg_pool1d", "adaptive_max_pool1d", "lp_pool1d", "lp_pool2d"]
