"""Convolution and pooling kernels of :class:`~deepgrad.export.graph_module.GraphModule` (see
:mod:`deepgrad.export.graph_ops`): ONNX's pads, including asymmetric ones and ``auto_pad``, on
deepgrad's 1-D and 2-D ops, which pad both sides alike (an asymmetric pad is applied explicitly).
"""

from __future__ import annotations

import math

from deepgrad.backend import xp
from deepgrad.export.graph_ops import KernelTable, as_array, no_extra_outputs, padded
from deepgrad.nn import functional as F
from deepgrad.ops import join, rearrange, reductions
from deepgrad.tensor import Tensor
from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.resize import resize_mode, resize_plan

KERNELS = KernelTable()


def _pads(node: Node, sizes: tuple, kernel: tuple, strides: tuple,
          dilations: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The padding before and after each spatial dimension, from ``pads`` or ``auto_pad``."""
    n = len(sizes)
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        pads = tuple(node.attrs.get("pads", [0] * 2 * n))
        if len(pads) != 2 * n or any(p < 0 for p in pads):
            raise ValueError(f"{node.op}: pads must be {2 * n} non-negative ints; got {pads}")
        return pads[:n], pads[n:]
    if auto_pad == "VALID":
        return (0,) * n, (0,) * n
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ValueError(f"{node.op}: unknown auto_pad {auto_pad!r}")
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else total - small)
        ends.append(total - begins[-1])
    return tuple(begins), tuple(ends)


def _torch_pad(begins: tuple, ends: tuple) -> list[int]:
    """ONNX's (begins, ends) as dg.pad's widths: the last dimension first."""
    return [w for b, e in zip(reversed(begins), reversed(ends)) for w in (b, e)]


def _spatial(node: Node, x: Tensor, supported: tuple[int, ...]) -> int:
    spatial = x.ndim - 2
    if spatial not in supported:
        raise ValueError(f"{node.op}: expects an input (N, C, *spatial) with "
                         f"{' or '.join(map(str, supported))} spatial dimensions; got shape "
                         f"{x.shape}")
    return spatial


def _geometry(node: Node, spatial: int, kernel: tuple) -> tuple[tuple, tuple]:
    strides = tuple(node.attrs.get("strides", [1] * spatial))
    dilations = tuple(node.attrs.get("dilations", [1] * spatial))
    given = node.attrs.get("kernel_shape")
    if given is not None and tuple(given) != kernel:
        raise ValueError(f"{node.op}: kernel_shape {tuple(given)} does not match the weight's "
                         f"{kernel}")
    if len(strides) != spatial or len(dilations) != spatial:
        raise ValueError(f"{node.op}: strides and dilations need {spatial} values; got "
                         f"{strides} and {dilations}")
    return strides, dilations


@KERNELS.register("Conv")
def _conv(training: bool, node: Node, xs: list) -> Tensor:
    x, w, b = padded(xs, 3)
    spatial = _spatial(node, x, (1, 2))
    kernel = tuple(w.shape[2:])
    strides, dilations = _geometry(node, spatial, kernel)
    begins, ends = _pads(node, x.shape[2:], kernel, strides, dilations)
    if begins != ends:  # deepgrad pads both sides alike: pad explicitly
        x, begins = join.pad(x, _torch_pad(begins, ends)), (0,) * spatial
    conv = F.conv1d if spatial == 1 else F.conv2d
    return conv(x, w, b, stride=strides, padding=begins, dilation=dilations,
                groups=node.attrs.get("group", 1))


@KERNELS.register("ConvTranspose")
def _conv_transpose(training: bool, node: Node, xs: list) -> Tensor:
    x, w, b = padded(xs, 3)
    _spatial(node, x, (2,))
    kernel = tuple(w.shape[2:])
    strides, dilations = _geometry(node, 2, kernel)
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ValueError(f"ConvTranspose: auto_pad {node.attrs['auto_pad']!r} is not supported")
    begins, ends = _pads(node, x.shape[2:], kernel, strides, dilations)
    output_padding = tuple(node.attrs.get("output_padding", [0, 0]))
    symmetric = begins == ends
    y = F.conv_transpose2d(x, w, b, stride=strides, padding=begins if symmetric else 0,
                           output_padding=output_padding, groups=node.attrs.get("group", 1),
                           dilation=dilations)
    if symmetric:
        return y
    height, width = y.shape[2:]
    return y[:, :, begins[0]:height - ends[0], begins[1]:width - ends[1]]


@KERNELS.register("MaxPool", "AveragePool")
def _pool(training: bool, node: Node, xs: list) -> Tensor:
    no_extra_outputs(node, 1, "the indices")
    x = xs[0]
    spatial = _spatial(node, x, (1, 2))
    kernel = tuple(node.attrs.get("kernel_shape", ()))
    if len(kernel) != spatial:
        raise ValueError(f"{node.op}: kernel_shape must have {spatial} values; got {kernel}")
    strides, dilations = _geometry(node, spatial, kernel)
    begins, ends = _pads(node, x.shape[2:], kernel, strides, dilations)
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    is_max = node.op == "MaxPool"
    count_pad = bool(node.attrs.get("count_include_pad", 0))
    if begins != ends or any(p > k // 2 for p, k in zip(begins, kernel)):
        # Beyond what deepgrad's (PyTorch's) pooling pads: pad explicitly with the value that
        # leaves the result alone.
        if not (is_max or count_pad):
            return _average_of_real_values(x, kernel, strides, begins, ends, ceil_mode)
        x = join.pad(x, _torch_pad(begins, ends), value=-math.inf if is_max else 0.0)
        begins = (0,) * spatial
    if is_max:
        pool = F.max_pool1d if spatial == 1 else F.max_pool2d
        return pool(x, kernel, strides, begins, dilations, ceil_mode)
    if any(d != 1 for d in dilations):
        raise ValueError(f"AveragePool: dilations {dilations} are not supported")
    pool = F.avg_pool1d if spatial == 1 else F.avg_pool2d
    return pool(x, kernel, strides, begins, ceil_mode, count_pad)


def _average_of_real_values(x: Tensor, kernel: tuple, strides: tuple, begins: tuple,
                            ends: tuple, ceil_mode: bool) -> Tensor:
    """AveragePool over explicit (asymmetric) pads that divides by the number of real values in
    each window (count_include_pad=0): the zero-padded window sums over the windows' counts of
    real positions, both pooled from the same padding."""
    spatial = len(kernel)
    pool = F.avg_pool1d if spatial == 1 else F.avg_pool2d
    pads = _torch_pad(begins, ends)
    zeros = (0,) * spatial
    sums = pool(join.pad(x, pads, value=0.0), kernel, strides, zeros, ceil_mode, True)
    ones = Tensor(xp.ones((1, 1, *x.shape[2:]), dtype=x.dtype))
    counts = pool(join.pad(ones, pads, value=0.0), kernel, strides, zeros, ceil_mode, True)
    return sums / counts


@KERNELS.register("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(training: bool, node: Node, xs: list) -> Tensor:
    x = xs[0]
    dims = tuple(range(2, x.ndim))
    pool = reductions.mean if node.op == "GlobalAveragePool" else reductions.amax
    return pool(x, dims, keepdim=True)


__all__ = ["KERNELS"]


@KERNELS.register("Resize")
def _resize(training: bool, node: Node, xs: list) -> Tensor:
    # The runtime's plan (the same positions and weights), applied with differentiable
    # gathers: backward adds each output's gradient onto the inputs it was taken from.
    x, _, scales, sizes = padded(xs, 4)
    how = resize_mode(node)
    plan = resize_plan(how, x.shape, None if scales is None else as_array(scales),
                       None if sizes is None else as_array(sizes))
    for axis, sources in plan:
        if how.mode == "nearest":
            x = rearrange.index_select(x, axis, sources)
        else:
            first, second, weight = sources
            weight = Tensor(weight.astype(x.dtype))
            x = (rearrange.index_select(x, axis, first) * (1 - weight)
                 + rearrange.index_select(x, axis, second) * weight)
    return x
