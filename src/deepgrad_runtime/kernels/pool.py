"""Pooling over any number of spatial axes: MaxPool, AveragePool (with ceil_mode and
count_include_pad), GlobalAveragePool and GlobalMaxPool. Inputs are (N, C, D1, ..., Dk).

A window of K taps is K strided views of the (padded) input, one per kernel offset, combined
with K-1 elementwise maxima or sums: no column matrix, and each pass runs over contiguous rows.
An average divides by the number of values each window covers: the real ones, or with
count_include_pad also the explicit pads (never what ceil_mode's last windows reach beyond).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.base import (
    Attributes,
    Consts,
    Kernel,
    Workspace,
    arity,
    check_size,
    register,
)
from deepgrad_runtime.kernels.conv import Window, pad_into

_MAX_PLANS = 8


class _Plan(NamedTuple):
    begins: list[int]
    ends: list[int]
    taps: list[tuple[slice, ...]]  # per kernel offset, the view of the padded input it reads
    divisor: np.ndarray | float  # for averages: the count of values in each window


def _taps(window: Window, outs: list[int]) -> list[tuple[slice, ...]]:
    every = (slice(None), slice(None))
    return [(*every, *(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in
                       zip(tap, window.dilations, window.strides, outs)))
            for tap in itertools.product(*(range(k) for k in window.kernel))]


def _divisor(sizes: tuple[int, ...], window: Window, begins: list[int], ends: list[int],
             taps: list[tuple[slice, ...]], include_pad: bool) -> np.ndarray | float:
    """How many values each window averages, as an array over the output positions."""
    counted = np.zeros(tuple(s + b + e for s, b, e in zip(sizes, begins, ends)))
    if include_pad:  # the explicit pads count, ceil_mode's overhang does not
        counted[tuple(slice(0, s + b + e) for s, b, e in
                      zip(sizes, window.begin, window.end))] = 1
    else:
        counted[tuple(slice(b, b + s) for s, b in zip(sizes, begins))] = 1
    total = sum(counted[tap[2:]] for tap in taps)
    return float(total.flat[0]) if np.all(total == total.flat[0]) else total


@register("MaxPool", "AveragePool")
def _pool(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    is_max = node.op == "MaxPool"
    arity(node, (1, 1), (1, 2))
    if len(node.outputs) == 2 and node.outputs[1]:
        raise ValueError("MaxPool's Indices output is not supported")
    attrs = Attributes(node)
    ceil_mode = bool(attrs.int("ceil_mode", 0, 0, 1))
    include_pad = not is_max and bool(attrs.int("count_include_pad", 0, 0, 1))
    window = Window(node, None, ceil_mode)
    extra = (None,) * (len(node.outputs) - 1)
    plans: dict[tuple[int, ...], _Plan] = {}

    def plan_for(shape: tuple[int, ...]) -> _Plan:
        if len(shape) != 2 + len(window.kernel):
            raise ValueError(f"expects input (N, C, {len(window.kernel)} spatial axes); got "
                             f"{shape}")
        outs, begins, ends = window.geometry(shape[2:])
        taps = _taps(window, outs)
        check_size("the pooling passes", len(taps) * math.prod((*shape[:2], *outs)),
                   math.prod(shape))
        divisor = 1.0 if is_max else _divisor(shape[2:], window, begins, ends, taps,
                                              include_pad)
        return _Plan(begins, ends, taps, divisor)

    def pool(x: np.ndarray) -> np.ndarray:
        plan = plans.get(x.shape)
        if plan is None:
            plan = plan_for(x.shape)
            if len(plans) < _MAX_PLANS:
                plans[x.shape] = plan
        if any(plan.begins) or any(plan.ends):
            fill = _lowest(x.dtype) if is_max else 0
            x = pad_into(workspace, x, plan.begins, plan.ends, fill)
        combine = np.maximum if is_max else np.add
        y = x[plan.taps[0]].copy(order="K")  # keeps a channels-last input's order
        for tap in plan.taps[1:]:
            combine(y, x[tap], out=y)
        if not is_max:
            y /= plan.divisor
        return (y, *extra) if extra else y

    return pool


def _lowest(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else int(np.iinfo(dtype).min)


@register("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 1))
    reduce = np.mean if node.op == "GlobalAveragePool" else np.max

    def global_pool(x: np.ndarray) -> np.ndarray:
        if x.ndim < 3:
            raise ValueError(f"expects input (N, C, D1, ...); got shape {x.shape}")
        return reduce(x, axis=tuple(range(2, x.ndim)), keepdims=True)

    return global_pool
