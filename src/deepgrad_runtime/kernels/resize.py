"""Resize (ONNX opset 13-17): modes 'nearest' and 'linear', separable along each resized axis.

Each output position along an axis maps back to a position of the input by the node's
``coordinate_transformation_mode``; 'nearest' copies the input there, rounded by its
``nearest_mode``, and 'linear' blends the two neighbours around it (the position clamped to the
input, so the edges repeat). Resizing axis after axis gives ONNX's N-linear interpolation. The
positions are computed in float32, as onnxruntime computes them, so that the same pixels are
picked. :func:`resize_plan` is shared with deepgrad's importer, which applies the same plan with
differentiable gathers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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

_COORDINATES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                "tf_half_pixel_for_nn")
_ROUNDING = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@dataclass(frozen=True)
class ResizeMode:
    """A Resize node's interpolation (``nearest`` or ``linear``), coordinate transformation
    and rounding of nearest positions."""

    mode: str
    coordinates: str
    rounding: str


def resize_mode(node: Node) -> ResizeMode:
    """The node's attributes, checked: what it asks beyond nearest and linear resizing of
    whole axes raises ValueError saying so."""
    attrs = Attributes(node)
    mode = attrs.string("mode", "nearest", ("nearest", "linear", "cubic"))
    if mode == "cubic":
        raise ValueError("mode 'cubic' is not supported (deepgrad resizes in modes 'nearest' "
                         "and 'linear')")
    coordinates = attrs.string("coordinate_transformation_mode", "half_pixel",
                               (*_COORDINATES, "tf_crop_and_resize"))
    if coordinates == "tf_crop_and_resize":
        raise ValueError("coordinate_transformation_mode 'tf_crop_and_resize' (a crop by the "
                         "roi input) is not supported")
    rounding = attrs.string("nearest_mode", "round_prefer_floor", _ROUNDING)
    attrs.float("cubic_coeff_a", -0.75)  # cubic mode's alone: checked, unused
    attrs.int("exclude_outside", 0, 0, 1)
    attrs.float("extrapolation_value", 0.0)
    return ResizeMode(mode, coordinates, rounding)


def _given(value: Any) -> bool:
    return value is not None and np.asarray(value).size > 0


def resize_plan(how: ResizeMode, shape: tuple[int, ...], scales: Any,
                sizes: Any) -> list[tuple[int, Any]]:
    """``(axis, sources)`` for each axis whose size changes: for 'nearest' the input position
    each output copies, for 'linear' ``(first, second, weight)``, the two neighbours each
    output blends and the weight of the second (float32). ``scales`` (floats) or ``sizes``
    (ints) gives one value per axis."""
    rank = len(shape)
    if _given(scales) == _given(sizes):
        raise ValueError("needs exactly one of the scales and sizes inputs")
    if _given(scales):
        factors = np.asarray(scales, np.float32).reshape(-1)
        if len(factors) != rank or not np.all(np.isfinite(factors) & (factors > 0)):
            raise ValueError(f"scales must be {rank} positive numbers for an input of shape "
                             f"{shape}; got {factors.tolist()}")
        outs = [int(np.float32(n) * f) for n, f in zip(shape, factors)]
    else:
        outs = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if np.asarray(sizes).dtype.kind not in "iu" or len(outs) != rank or min(outs) < 0:
            raise ValueError(f"sizes must be {rank} non-negative integers for an input of "
                             f"shape {shape}; got {np.asarray(sizes).tolist()}")
        factors = np.array([np.float32(o) / np.float32(n) if n else 1 for o, n in
                            zip(outs, shape)], np.float32)
    check_size("the output", math.prod(outs), math.prod(shape))
    plan = []
    for axis, (size, out, factor) in enumerate(zip(shape, outs, factors)):
        if out == size and factor == 1 and how.coordinates != "tf_half_pixel_for_nn":
            continue  # the identity (that mode moves every position by half a pixel)
        if size == 0 or out == 0:
            raise ValueError(f"cannot resize axis {axis} from {size} to {out} positions")
        sources = _sources(how, size, out, np.float32(factor))
        if how.mode == "linear":  # the weights shaped to broadcast along the axis
            first, second, weight = sources
            sources = first, second, weight.reshape((-1,) + (1,) * (rank - 1 - axis))
        plan.append((axis, sources))
    return plan


def _sources(how: ResizeMode, size: int, out: int, factor: np.float32) -> Any:
    f32 = np.float32
    positions = np.arange(out, dtype=f32)
    if how.coordinates == "half_pixel":
        source = (positions + f32(0.5)) / factor - f32(0.5)
    elif how.coordinates == "pytorch_half_pixel":
        source = (positions + f32(0.5)) / factor - f32(0.5) if out > 1 else positions * 0
    elif how.coordinates == "align_corners":
        source = positions * (f32(size - 1) / f32(out - 1)) if out > 1 else positions * 0
    elif how.coordinates == "asymmetric":
        source = positions / factor
    else:  # tf_half_pixel_for_nn
        source = (positions + f32(0.5)) / factor
    if how.mode == "nearest":
        rounded = {"round_prefer_floor": lambda s: np.ceil(s - f32(0.5)),
                   "round_prefer_ceil": lambda s: np.floor(s + f32(0.5)),
                   "floor": np.floor, "ceil": np.ceil}[how.rounding](source)
        return np.clip(rounded, 0, size - 1).astype(np.int64)
    source = np.clip(source, f32(0), f32(size - 1))
    first = np.floor(source).astype(np.int64)
    return first, np.minimum(first + 1, size - 1), source - first.astype(f32)


@register("Resize")
def _resize(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (1, 4))
    how = resize_mode(node)

    def resize(x: np.ndarray, roi: Any = None, scales: Any = None,
               sizes: Any = None) -> np.ndarray:
        for axis, sources in resize_plan(how, x.shape, scales, sizes):
            if how.mode == "nearest":
                x = np.take(x, sources, axis=axis)
            else:
                first, second, weight = sources
                weight = weight.astype(x.dtype)
                x = (np.take(x, first, axis=axis) * (1 - weight)
                     + np.take(x, second, axis=axis) * weight)
        return x

    return resize


__all__ = ["ResizeMode", "resize_mode", "resize_plan"]
