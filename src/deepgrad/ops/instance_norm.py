"""Instance normalization (PyTorch's ``F.instance_norm``): each channel of each sample
normalized over its own spatial positions.

That is group normalization with one channel per group, so the fused ``group_norm`` computes it
(and exports it). Normalizing by running statistics instead is batch normalization in evaluation
mode: the same statistics for every sample.
"""

from __future__ import annotations

import math

from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops.norm import _parameter_error, batch_norm, group_norm
from deepgrad.tensor import Tensor, check_tensor


def _update_running_stats(x: Tensor, running_mean: Tensor, running_var: Tensor,
                          momentum: float) -> None:
    """PyTorch's update: each running statistic moves towards the mean over the samples of the
    instances' means (variances, unbiased)."""
    n, c = x.shape[:2]
    x3 = x.data.reshape(n, c, -1)
    for running, statistic in ((running_mean, x3.mean(axis=2)),
                               (running_var, x3.var(axis=2, ddof=1))):
        running._prepare_inplace()
        running.data *= 1.0 - momentum
        running.data += momentum * statistic.mean(axis=0)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalization (PyTorch's ``F.instance_norm``).

    Args:
        input: (N, C, *spatial) with at least one spatial dimension, floating point.
        running_mean: shape (C,), or None; updated in place when ``use_input_stats``.
        running_var: shape (C,), or None; updated in place with the unbiased variances.
        weight: the per-channel scale, shape (C,), or None.
        bias: the per-channel shift, shape (C,), or None.
        use_input_stats: normalize each instance by its own statistics (and update the running
            ones); else by the running statistics, which must then be given.
        momentum: running = (1 - momentum) * running + momentum * the batch's mean statistic.
        eps: added to the variance before the square root.
    """
    op = "instance_norm"
    x = check_tensor(op, input).data
    if x.ndim < 3 or x.shape[1] == 0:
        raise ShapeError(f"{op}: expects input (N, C, *spatial) with C > 0 and at least one "
                         f"spatial dimension; got {shape_str(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating point input; got {x.dtype}")
    stats = (("running_mean", running_mean), ("running_var", running_var),
             ("weight", weight), ("bias", bias))
    c = x.shape[1]
    if any(t is not None and (t.data.shape != (c,) or t.data.dtype != x.dtype)
           for _, t in stats):
        raise _parameter_error(op, x, (c,), stats)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f"{op}: momentum must be a number; got {momentum!r}")
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(f"{op}: running_mean and running_var must be given when "
                             "use_input_stats=False")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if math.prod(x.shape[2:]) <= 1:
        raise ShapeError(f"{op}: expects more than 1 spatial element per channel when using the "
                         f"input's statistics; got input {shape_str(x.shape)}")
    if running_mean is not None and running_var is not None and x.shape[0]:
        _update_running_stats(input, running_mean, running_var, float(momentum))
    return group_norm(input, c, weight, bias, eps)


__all__ = ["instance_norm"]
