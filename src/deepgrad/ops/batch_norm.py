"""Batch normalization as a fused op (PyTorch's ``F.batch_norm``), re-exported by
:mod:`deepgrad.ops.norm` with the other normalizations.

Batch norm on large inputs (the benchmark: BatchNorm2d on (128, 32, 28, 28), 12.8 MB) is
memory-bound: its passes run on one thread per core, and its full-size arrays are reused from a
small pool instead of being freshly allocated (and page-faulted) every step. Group norm shares
the per-channel sums. With numba (the ``fast`` extra) batch norm runs as compiled loops instead
(two passes each way, where NumPy makes five; outputs in the input's memory layout); the NumPy
code is the reference the tests hold them to.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._kernels import compiled
from deepgrad.parallel import (
    PARALLEL_ELEMENTS,
    block,
    in_blocks,
    in_layout,
    memory_order,
    outer_axis,
)
from deepgrad.tensor import Tensor, check_tensor


def _channel_sum(a3: Any) -> Any:
    """Sum of (N, C, S) over N and S; per (n, c) row first, which keeps float32 accumulations
    short. (A BLAS matrix-vector product is faster alone, but its threads keep spinning
    afterwards and slow the threaded passes that follow.)"""
    return xp.einsum("ncs->nc", a3).sum(axis=0)


def _channel_dot(a3: Any, b3: Any) -> Any:
    """Sum of a3 * b3 over N and S without a full-size temporary; per (n, c) row first, which
    keeps float32 accumulations short."""
    return xp.einsum("ncs,ncs->nc", a3, b3).sum(axis=0)


def _in_blocks(work: Callable[[slice], Any], a3: Any) -> list:
    """``work(rows)`` for blocks of rows (samples) of ``a3``, in parallel when ``a3`` is large;
    the results in order."""
    return in_blocks(work, a3.shape[0], a3.size)


class _Buffers:
    """Large arrays kept for reuse once nothing else refers to them.

    A fresh array of tens of MB costs more in page faults (the kernel zeroing every page on
    first touch) than a pass of arithmetic over it: batch norm's forward and backward measured
    2-3x slower with fresh outputs than with reused ones. An array is free again when the only
    references left are this list's (outputs, saved values and gradients hold references while
    they live, views through their base).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.arrays: list = []
        self.lock = threading.Lock()

    def empty(self, shape: tuple, dtype: Any) -> Any:
        """An uninitialized array, reused when a free one of this shape and dtype is kept."""
        if math.prod(shape) < PARALLEL_ELEMENTS:
            return xp.empty(shape, dtype)
        with self.lock:
            for array in self.arrays:
                # References: the list, the loop variable, getrefcount's argument.
                if sys.getrefcount(array) == 3 and array.shape == shape and array.dtype == dtype:
                    return array
            array = xp.empty(shape, dtype)
            self.arrays.append(array)
            if len(self.arrays) > self.capacity:
                del self.arrays[0]  # forgotten, not freed: whoever uses it keeps it alive
            return array


_BUFFERS = _Buffers(capacity=8)


def _sum_blocks(partials: list) -> Any:
    """The sum of the per-block partial sums (a new array)."""
    total = partials[0].copy()
    for partial in partials[1:]:
        total += partial
    return total


class BatchNorm(Function):
    """y = x_hat * w + b, x_hat = (x - mean) * inv_std, per channel over (N, *spatial).

    Training uses the batch's statistics (gx = w * inv_std * (gy - mean(gy) - x_hat *
    mean(gy * x_hat))) and updates the running ones in place; evaluation uses the running ones,
    constants for backward (gx = gy * w * inv_std). gw = sum(gy * x_hat), gb = sum(gy).

    Saves the centered input xc = x - mean (x_hat = xc * inv_std) rather than x_hat: one pass
    less in forward, and the backward's sum(gy * xc) stays exact for inputs far from zero mean.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        kernels = compiled()
        ctx.save(kernels=kernels)
        if kernels is not None:
            return _compiled_forward(ctx, kernels, x, weight, bias, running_mean, running_var,
                                     training, momentum, eps)
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, math.prod(x.shape[2:]))
        count = n * x3.shape[2]
        needs = ctx.needs_input_grad
        keep_xc = needs[1] or (needs[0] and training)
        y = _BUFFERS.empty(x3.shape, x.dtype)
        if training:
            mean = _sum_blocks(_in_blocks(lambda rows: _channel_sum(x3[rows]), x3)) / count
            xc = _BUFFERS.empty(x3.shape, x.dtype)

            def center(rows: slice) -> Any:
                block = xp.subtract(x3[rows], mean[:, None], out=xc[rows])
                return _channel_dot(block, block)

            var = _sum_blocks(_in_blocks(center, x3)) / count
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += momentum * mean
                running_var *= 1.0 - momentum
                # The running variance is the unbiased one, as in PyTorch.
                running_var += (momentum * count / (count - 1)) * var
        else:
            mean, var = running_mean, running_var
            xc = xp.subtract(x3, mean[:, None]) if keep_xc else None
        inv_std = 1.0 / xp.sqrt(var + eps)
        scale = inv_std if weight is None else inv_std * weight
        if xc is not None:
            source, shift = xc, bias
        else:  # evaluation without a weight gradient: y = x * scale + (bias - mean * scale)
            source, shift = x3, -mean * scale if bias is None else bias - mean * scale
        scale3, shift3 = scale[:, None], None if shift is None else shift[:, None]

        def affine(rows: slice) -> None:
            block = xp.multiply(source[rows], scale3, out=y[rows])
            if shift3 is not None:
                block += shift3

        _in_blocks(affine, x3)
        ctx.save(xc=xc if keep_xc else None, inv_std=inv_std, scale=scale, training=training)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        if ctx.kernels is not None:
            return _compiled_backward(ctx, gy)
        needs = ctx.needs_input_grad
        xc, inv_std, scale = ctx.xc, ctx.inv_std, ctx.scale
        n, c = gy.shape[:2]
        gy3 = gy.reshape(n, c, math.prod(gy.shape[2:]))
        count = n * gy3.shape[2]
        train_gx = needs[0] and ctx.training
        sum_gy = dot = None
        if train_gx or needs[1]:
            sums = _in_blocks(lambda rows: (_channel_sum(gy3[rows]),
                                            _channel_dot(gy3[rows], xc[rows])), gy3)
            sum_gy, dot = (_sum_blocks(partials) for partials in zip(*sums))
        elif needs[2]:
            sum_gy = _sum_blocks(_in_blocks(lambda rows: _channel_sum(gy3[rows]), gy3))
        gx = None
        if needs[0]:
            gx = _BUFFERS.empty(gy3.shape, gy.dtype)
            scale3 = scale[:, None]
            if ctx.training:
                # gx = scale * (gy - (inv_std**2 * mean(gy * xc) * xc + mean(gy)))
                xc_coef = (inv_std * inv_std * (dot / count))[:, None]
                mean_gy = (sum_gy / count)[:, None]

                def grad_input(rows: slice) -> None:
                    block = xp.multiply(xc[rows], xc_coef, out=gx[rows])
                    block += mean_gy
                    xp.subtract(gy3[rows], block, out=block)
                    block *= scale3
            else:
                def grad_input(rows: slice) -> None:
                    xp.multiply(gy3[rows], scale3, out=gx[rows])

            _in_blocks(grad_input, gy3)
            gx = gx.reshape(gy.shape)
        return (gx, dot * inv_std if needs[1] else None, sum_gy if needs[2] else None,
                None, None, None, None, None)


def _per_channel(kernel: Callable, axis: int, arrays: tuple, params: tuple) -> Any:
    """``kernel(*arrays, *params, out)`` per block of ``arrays[0]`` (N, C, S) along ``axis``,
    with ``out`` a (C, 2) float64 array of per-channel sums; the sums of the whole batch."""
    def work(part: slice) -> Any:
        out = xp.empty((part.stop - part.start if axis else arrays[0].shape[1], 2), xp.float64)
        kernel(*_channel_runs([block(a, axis, part) for a in arrays], axis),
               *(p[part] if axis else p for p in params), out)
        return out

    parts = in_blocks(work, arrays[0].shape[axis], arrays[0].size)
    return xp.concatenate(parts) if axis else _sum_blocks(parts)


def _channel_map(kernel: Callable, axis: int, arrays: tuple, params: tuple, out: Any) -> None:
    """``kernel(*arrays, *params, out)`` per block of the (N, C, S) arrays along ``axis``."""
    def work(part: slice) -> None:
        *inputs, result = _channel_runs([block(a, axis, part) for a in (*arrays, out)], axis)
        kernel(*inputs, *(p[part] if axis else p for p in params), result)

    in_blocks(work, arrays[0].shape[axis], arrays[0].size)


def _channel_runs(arrays: list, axis: int) -> list:
    """(N, C, S) blocks of channel-major memory (``axis`` 1) as (1, C, N * S) views, when every
    one is contiguous that way: each channel one run, in an array numba knows is contiguous,
    whose loops it vectorizes (1.2-2x faster than over the strided (N, C, S) views)."""
    if axis:
        runs = [memory_order(a, axis) for a in arrays]
        if all(r.flags.c_contiguous for r in runs):
            return [r.reshape(1, r.shape[0], -1) for r in runs]
    return arrays


def _compiled_forward(ctx: Any, kernels: Any, x: Any, weight: Any, bias: Any, running_mean: Any,
                      running_var: Any, training: bool, momentum: float, eps: float) -> Any:
    """BatchNorm's forward in two compiled passes (the statistics, then the affine map) in
    place of five; the output in the input's memory layout."""
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, math.prod(x.shape[2:]))
    axis = outer_axis(x3)
    count = n * x3.shape[2]
    if training:
        center = x3[0, :, 0].copy()
        sums = _per_channel(kernels.channel_sums, axis, (x3, x3), (center, center))
        shifted_mean = sums[:, 0] / count
        mean = (center + shifted_mean).astype(x.dtype)
        var = xp.maximum(sums[:, 1] / count - shifted_mean * shifted_mean, 0.0).astype(x.dtype)
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean
            running_var *= 1.0 - momentum
            running_var += (momentum * count / (count - 1)) * var
    else:  # a copy: backward must not see later updates of the running statistics
        mean, var = running_mean.copy(), running_var
    inv_std = 1.0 / xp.sqrt(var + eps)
    scale = inv_std if weight is None else inv_std * weight
    shift = xp.zeros_like(scale) if bias is None else bias
    y = in_layout(x3.shape, x.dtype, axis, _BUFFERS.empty)
    _channel_map(kernels.channel_affine, axis, (x3,), (mean, scale, shift), y)
    needs = ctx.needs_input_grad
    if needs[0] or needs[1] or needs[2]:
        ctx.save(x=x, mean=mean, inv_std=inv_std, scale=scale, training=training, axis=axis)
    return y.reshape(x.shape)


def _compiled_backward(ctx: Any, gy: Any) -> tuple:
    needs = ctx.needs_input_grad
    x, mean, inv_std, scale, axis = ctx.x, ctx.mean, ctx.inv_std, ctx.scale, ctx.axis
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, math.prod(x.shape[2:]))
    gy3 = gy.reshape(x3.shape)
    count = n * x3.shape[2]
    sum_gy = dot = None
    if (needs[0] and ctx.training) or needs[1] or needs[2]:
        sums = _per_channel(ctx.kernels.channel_sums, axis, (gy3, x3),
                            (xp.zeros_like(mean), mean))
        sum_gy, dot = sums[:, 0].astype(x.dtype), sums[:, 1].astype(x.dtype)
    gx = None
    if needs[0]:
        if ctx.training:
            # gx = scale * (gy - (inv_std**2 * mean(gy * xc) * xc + mean(gy))), xc = x - mean
            x_coef, shift = -scale * inv_std * inv_std * (dot / count), -scale * (sum_gy / count)
        else:
            x_coef = shift = xp.zeros_like(scale)
        gx = in_layout(x3.shape, x.dtype, axis, _BUFFERS.empty)
        _channel_map(ctx.kernels.channel_grad_input, axis, (gy3, x3),
                     (mean, scale, x_coef, shift), gx)
        gx = gx.reshape(x.shape)
    return (gx, dot * inv_std if needs[1] else None, sum_gy if needs[2] else None,
            None, None, None, None, None)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over (N, *spatial) per channel (PyTorch's ``F.batch_norm``).

    Args:
        input: shape (N, C), (N, C, L), (N, C, H, W) or any (N, C, *).
        running_mean: shape (C,), or None; updated in place when training (not recorded).
        running_var: shape (C,), or None; updated in place with the unbiased batch variance.
        weight: the scale, shape (C,), or None.
        bias: the shift, shape (C,), or None.
        training: normalize with the batch's statistics (and update the running ones); else
            with the running statistics.
        momentum: running = (1 - momentum) * running + momentum * batch statistic.
        eps: added to the variance before the square root.
    """
    xa = check_tensor("batch_norm", input).data
    c = xa.shape[1] if xa.ndim >= 2 else -1
    stats = (running_mean, running_var, weight, bias)
    if (c < 0 or xa.dtype.kind != "f"
            or any(t is not None and (t.data.shape != (c,) or t.data.dtype != xa.dtype)
                   for t in stats)
            or (running_mean is None) != (running_var is None)
            or (running_mean is None and not training)
            or not isinstance(momentum, (int, float))
            or (training and xa.size <= c)):
        raise _batch_norm_error(xa, stats, training, momentum)
    if training and running_mean is not None:
        running_mean._prepare_inplace()
        running_var._prepare_inplace()
    return BatchNorm.apply(input, weight, bias,
                           None if running_mean is None else running_mean.data,
                           None if running_var is None else running_var.data,
                           bool(training), float(momentum), float(eps))


def _batch_norm_error(x: Any, stats: tuple, training: bool, momentum: Any) -> Exception:
    if x.ndim < 2:
        return ShapeError(f"batch_norm: expects input (N, C) or (N, C, *); got "
                          f"{shape_str(x.shape)}")
    if x.dtype.kind != "f":
        return TypeError(f"batch_norm: expects a floating point input; got {x.dtype}")
    c = x.shape[1]
    for name, t in zip(("running_mean", "running_var", "weight", "bias"), stats):
        if t is not None and t.data.shape != (c,):
            return ShapeError(f"batch_norm: {name} has shape {shape_str(t.data.shape)} but the "
                              f"input {shape_str(x.shape)} has {c} channels")
        if t is not None and t.data.dtype != x.dtype:
            return TypeError(f"batch_norm: {name} has dtype {t.data.dtype} but the input has "
                             f"{x.dtype}")
    if (stats[0] is None) != (stats[1] is None):
        return ValueError("batch_norm: give both running_mean and running_var, or neither")
    if stats[0] is None and not training:
        return ValueError("batch_norm: running_mean and running_var must be given in "
                          "evaluation mode (training=False)")
    if not isinstance(momentum, (int, float)):
        return ValueError(f"batch_norm: momentum must be a number; got {momentum!r} (a "
                          "cumulative average, momentum=None, is not supported)")
    return ValueError(f"batch_norm: expected more than 1 value per channel when training; got "
                      f"input {shape_str(x.shape)}")


__all__ = ["BatchNorm", "batch_norm"]
