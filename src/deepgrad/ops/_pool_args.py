"""Argument checking and geometry shared by :mod:`deepgrad.ops.pool` and
:mod:`deepgrad.ops.adaptive_pool`: the window of each spatial dimension, validated inputs and
window parameters, PyTorch's output sizes and the average pooling divisors."""

from __future__ import annotations

from typing import Any, NamedTuple

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str


class _Window(NamedTuple):
    """One spatial dimension of a pooling: input length, window parameters, output length and
    the length of the padded input that every window fits in (ceil_mode windows may overhang)."""

    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    out: int
    padded: int

    @property
    def disjoint(self) -> bool:
        """No input position belongs to two windows."""
        return self.stride >= (self.kernel - 1) * self.dilation + 1

    @property
    def tiles(self) -> bool:
        """Every position of the padded input belongs to exactly one window."""
        return (self.disjoint and self.stride == self.kernel
                and self.padded == self.out * self.kernel)


_NO_WINDOW = _Window(1, 1, 1, 0, 1, 1, 1)  # the height of a 1-D pooling

_LAYOUTS = {1: "(N, C, L) or (C, L) with C, L > 0", 2: "(N, C, H, W) or (C, H, W) with C, H, W > 0"}


def _check_input(op: str, x: Any, spatial_dims: int, integers: bool = False) -> None:
    shape = x.shape
    if x.ndim not in (spatial_dims + 1, spatial_dims + 2) or not all(shape[-spatial_dims - 1:]):
        raise ShapeError(f"{op}: expects input {_LAYOUTS[spatial_dims]}; got {shape_str(shape)}")
    if x.dtype.kind != "f" and not (integers and x.dtype.kind in "iu"):
        raise TypeError(f"{op}: expects a floating-point input; got {x.dtype}")


def _ints(op: str, name: str, value: Any, n: int) -> tuple[int, ...]:
    """``value`` as ``n`` ints, from an int or a sequence of ``n`` ints."""
    if isinstance(value, (int, xp.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if (isinstance(value, (tuple, list)) and len(value) == n
            and all(isinstance(v, (int, xp.integer)) and not isinstance(v, bool) for v in value)):
        return tuple(int(v) for v in value)
    raise TypeError(f"{op}: {name} must be an int or a tuple of {n} int{'s' if n > 1 else ''}; "
                    f"got {value!r}")


def _show(values: tuple) -> str:
    return str(values[0]) if len(values) == 1 else shape_str(values)


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
              ceil_mode: bool) -> int:
    """PyTorch's pooling output length (in ceil mode, the last window must start inside the
    input or its left padding)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _windows(op: str, x: Any, spatial_dims: int, kernel_size: Any, stride: Any, padding: Any,
             dilation: Any, ceil_mode: bool) -> tuple[_Window, _Window]:
    """The validated (rows, cols) windows of a pooling of ``x``; rows is ``_NO_WINDOW`` in 1-D."""
    n = spatial_dims
    kernel = _ints(op, "kernel_size", kernel_size, n)
    strides = kernel if stride is None else _ints(op, "stride", stride, n)
    pads = _ints(op, "padding", padding, n)
    dilations = _ints(op, "dilation", dilation, n)
    if min(kernel) < 1 or min(strides) < 1 or min(dilations) < 1:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive; got "
                         f"kernel_size={_show(kernel)}, stride={_show(strides)}, "
                         f"dilation={_show(dilations)}")
    if min(pads) < 0 or any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size "
                         f"(kernel_size // 2); got padding={_show(pads)} for "
                         f"kernel_size={_show(kernel)}")
    sizes = x.shape[-n:]
    outs = tuple(_out_size(*dims, ceil_mode) for dims in zip(sizes, kernel, strides, pads,
                                                                dilations))
    if min(outs) < 1:
        spans = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
        padded = tuple(s + 2 * p for s, p in zip(sizes, pads))
        raise ShapeError(f"{op}: the pooling window {_show(spans)} (kernel_size={_show(kernel)}, "
                         f"dilation={_show(dilations)}) is larger than the padded input "
                         f"{_show(padded)} (input {shape_str(x.shape)}, padding={_show(pads)})")
    windows = tuple(
        _Window(size, k, s, p, d, out, max(size + 2 * p, (out - 1) * s + (k - 1) * d + 1))
        for size, k, s, p, d, out in zip(sizes, kernel, strides, pads, dilations, outs))
    return (_NO_WINDOW, windows[0]) if n == 1 else windows  # type: ignore[return-value]


def _divisor(rows: _Window, cols: _Window, count_include_pad: bool) -> Any:
    """Each window's element count (PyTorch's rule: with count_include_pad the padding counts,
    the part of a ceil_mode window beyond it does not); a float when all are equal."""
    counts = []
    for w in (rows, cols):
        start = xp.arange(w.out) * w.stride - w.padding
        end = xp.minimum(start + w.kernel, w.size + w.padding)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, w.size)
        counts.append(end - start)
    divisor = counts[0][:, None] * counts[1]
    first = int(divisor[0, 0])
    return float(first) if (divisor == first).all() else divisor


def _adaptive_size(op: str, output_size: Any, height: int, width: int) -> tuple[int, int]:
    """(out_h, out_w) from an int, a pair, or None for an input size."""
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    valid = len(sizes) == 2 and all(
        s is None or (isinstance(s, (int, xp.integer)) and not isinstance(s, bool) and s >= 0)
        for s in sizes)
    if not valid:
        raise ValueError(f"{op}: output_size must be an int or a pair of non-negative ints (or "
                         f"None to keep an input size); got {output_size!r}")
    return (height if sizes[0] is None else int(sizes[0]),
            width if sizes[1] is None else int(sizes[1]))
