"""Resizing images: ``interpolate`` (PyTorch's ``F.interpolate``) of (N, C, H, W) inputs in
modes 'nearest' and 'bilinear'.

Both modes are separable. In 'nearest' mode each output column copies one input column and each
output row one row; in 'bilinear' mode each output column is a weighted pair of neighbouring
input columns (columns first, then rows, the order of PyTorch's kernel). So a resize is a gather
of columns and one of rows (each of a pair, weighted and added, in 'bilinear'), written with the
differentiable indexing and arithmetic ops: backward adds each output's share back onto its
sources, and export sees Gather, Mul and Add. The source positions and weights are computed as
PyTorch computes them, in the same precision (float32 for 'nearest', the input's dtype for
'bilinear'), so the same pixels are picked and weighed, also for non-integer scale factors.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import Tensor, check_tensor

_MODES = ("nearest", "bilinear")
_SPATIAL = 2


def _nearest_sources(size: int, out: int, scale: float | None) -> Any:
    """The input position each of ``out`` outputs copies, or None when it is the identity.

    PyTorch's legacy 'nearest': ``floor(i * s)`` in float32 with ``s = 1 / scale_factor`` (or
    ``size / out`` when the size was given), exact for the same or twice the size."""
    if out == size:
        return None
    if out == 2 * size:
        return xp.arange(out) // 2
    step = xp.float32(1.0 / scale) if scale else xp.float32(size) / xp.float32(out)
    positions = xp.floor(xp.arange(out, dtype=xp.float32) * step).astype(xp.int64)
    return xp.minimum(positions, size - 1)


def _linear_sources(size: int, out: int, align_corners: bool, scale: float | None,
                    dtype: Any) -> tuple | None:
    """(first, second, first_weight, second_weight): the two neighbouring input positions each
    output blends and their weights, in ``dtype`` as PyTorch computes them; None for the
    identity."""
    if out == size:
        return None
    real = dtype.type
    outputs = xp.arange(out, dtype=dtype)
    if align_corners:
        step = real(size - 1) / real(out - 1) if out > 1 else real(0)
        source = step * outputs
    else:
        step = real(1.0 / scale) if scale else real(size) / real(out)
        source = xp.maximum(step * (outputs + real(0.5)) - real(0.5), real(0))
    first = xp.minimum(xp.floor(source).astype(xp.int64), size - 1)
    second_weight = xp.clip(source - first.astype(dtype), real(0), real(1))
    second = first + (first < size - 1)
    return first, second, real(1) - second_weight, second_weight


def _gather(x: Tensor, axis: int, positions: Any) -> Tensor:
    """``x`` at ``positions`` along ``axis`` (-1 or -2): one integer array among full slices,
    which exports as a Gather."""
    return x[:, :, :, positions] if axis == -1 else x[:, :, positions, :]


def _blend(x: Tensor, axis: int, sources: tuple) -> Tensor:
    first, second, first_weight, second_weight = sources
    if axis == -2:
        first_weight, second_weight = first_weight[:, None], second_weight[:, None]
    return _gather(x, axis, first) * first_weight + _gather(x, axis, second) * second_weight


def _pair(op: str, name: str, value: Any, kind: type) -> tuple:
    """``value`` as two numbers of ``kind`` (from one number or a sequence of two)."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * _SPATIAL
    if len(values) != _SPATIAL or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in values):
        what = ("an int", "ints") if kind is numbers.Integral else ("a number", "numbers")
        raise TypeError(f"{op}: {name} must be {what[0]} or a pair of {what[1]} (height, width) "
                        f"for a 4-D input; got {value!r}")
    return values


def _output_size(op: str, x: Tensor, size: Any, scale_factor: Any,
                 recompute_scale_factor: bool | None) -> tuple[tuple, tuple]:
    """(output (height, width), the scale factors the kernels use, None when the size rules)."""
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor; got "
                         f"{'both' if size is not None else 'neither'}")
    height, width = x.shape[-2:]
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is only meaningful with "
                             "scale_factor, not with an explicit size")
        sizes = tuple(int(s) for s in _pair(op, "size", size, numbers.Integral))
        scales: tuple = (None, None)
    else:
        factors = tuple(float(f) for f in _pair(op, "scale_factor", scale_factor, numbers.Real))
        sizes = (math.floor(height * factors[0]), math.floor(width * factors[1]))
        scales = (None, None) if recompute_scale_factor else factors
    if min(height, width, *sizes) <= 0:
        raise ShapeError(f"{op}: input and output sizes must be positive; got input (H, W) = "
                         f"{shape_str((height, width))} and output (H, W) = {shape_str(sizes)}")
    return sizes, scales


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None) -> Tensor:
    """(N, C, H, W) images resized to ``size`` or by ``scale_factor`` (PyTorch's
    ``F.interpolate`` for 4-D inputs).

    Args:
        input: (N, C, H, W); floating point (integers too in 'nearest' mode).
        size: the output (height, width), or an int for both.
        scale_factor: the output size over the input size, a number or (height, width); the
            output size is rounded down. Give exactly one of ``size`` and ``scale_factor``.
        mode: 'nearest' (copy the pixel at ``floor(i / scale_factor)``, PyTorch's legacy
            nearest) or 'bilinear' (blend the four nearest pixels).
        align_corners: 'bilinear' only (None means False): True maps the corner pixels of the
            input and output onto each other; False maps their outer edges, pixels being areas.
        recompute_scale_factor: compute the positions from the rounded output size instead of
            ``scale_factor`` (which then only sets the size).
    """
    op = "interpolate"
    check_tensor(op, input)
    if input.ndim != 4:
        raise ShapeError(f"{op}: expects a 4-D input (N, C, H, W); got {shape_str(input.shape)}")
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear'; got {mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners applies only to mode 'bilinear'; got "
                         f"align_corners={align_corners!r} with mode 'nearest'")
    if input.dtype.kind != "f" and not (mode == "nearest" and input.dtype.kind in "iu"):
        raise TypeError(f"{op}: mode {mode!r} expects a floating point input; got "
                        f"{input.dtype}")
    sizes, scales = _output_size(op, input, size, scale_factor, recompute_scale_factor)
    height, width = input.shape[2:]
    y = input
    # Columns first, then rows: PyTorch's bilinear kernel blends in that order.
    for axis, in_size, out_size, scale in ((-1, width, sizes[1], scales[1]),
                                           (-2, height, sizes[0], scales[0])):
        if mode == "nearest":
            positions = _nearest_sources(in_size, out_size, scale)
            if positions is not None:
                y = _gather(y, axis, positions)
        else:
            sources = _linear_sources(in_size, out_size, bool(align_corners), scale, y.dtype)
            if sources is not None:
                y = _blend(y, axis, sources)
    return y if y is not input else input.clone()


__all__ = ["interpolate"]
