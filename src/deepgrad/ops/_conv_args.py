"""Argument checking and geometry shared by :mod:`deepgrad.ops.conv` and
:mod:`deepgrad.ops.depthwise`: ints or tuples as tuples, padding modes, output sizes and the
slices of the padded input each kernel offset reads."""

from __future__ import annotations

from typing import Any

from deepgrad.errors import ShapeError, shape_str
from deepgrad.tensor import check_tensor


def _taps(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
          out_hw: tuple[int, int]) -> list[tuple[int, int, slice, slice]]:
    """(i, j, rows, cols) of each kernel offset: the slices of the padded input it reads."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    return [(i, j, slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


def _out_size(padded_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int]) -> tuple[int, int]:
    """Output height and width of a convolution over a padded input."""
    return tuple((p - d * (k - 1) - 1) // s + 1  # type: ignore[return-value]
                 for p, k, s, d in zip(padded_hw, kernel, stride, dilation))


def _tuple(value: Any, size: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``size`` ints as a tuple, each at least ``minimum``."""
    if type(value) is int:
        result = (value,) * size
    elif (isinstance(value, (tuple, list)) and len(value) == size
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        result = tuple(value)
    else:
        what = "an int" if size == 1 else f"an int or a tuple of {size} ints"
        raise TypeError(f"{op}: {name} must be {what}; got {value!r}")
    if min(result) < minimum:
        raise ValueError(f"{op}: {name} must be {'positive' if minimum else 'non-negative'}; "
                         f"got {value!r}")
    return result


def _layout(spatial: int) -> str:
    """The names of the spatial dims, for messages."""
    return "L" if spatial == 1 else "H, W"


def _unpadded(gpad: Any, x_shape: tuple, pads: tuple[int, int, int, int]) -> Any:
    """The input gradient (N, C, H, W) inside the gradient of the channel-major padded input
    (C, N, Hp, Wp): a view."""
    _, _, h, w = x_shape
    top, _, left, _ = pads
    return gpad[:, :, top:top + h, left:left + w].transpose(1, 0, 2, 3)


def _arrays(op: str, input: Any, weight: Any, bias: Any) -> tuple:
    """The arrays of a convolution's Tensor arguments (bias None or an array)."""
    return (check_tensor(op, input).data, check_tensor(op, weight, "weight").data,
            None if bias is None else check_tensor(op, bias, "bias").data)


def _check(op: str, x: Any, weight: Any, bias: Any, groups: int, spatial: int,
           transposed: bool) -> None:
    """Ranks, channels, groups and dtypes of a convolution's arrays, or a clear error."""
    rank = spatial + 2
    if type(groups) is not int or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int; got {groups!r}")
    w_layout = ("in_channels, out_channels/groups" if transposed else
                "out_channels, in_channels/groups")
    kernel = "kL" if spatial == 1 else "kH, kW"
    if weight.ndim != rank:
        raise ShapeError(f"{op}: weight must be {rank}-D ({w_layout}, {kernel}); got shape "
                         f"{shape_str(weight.shape)}")
    divided = weight.shape[0]
    if divided % groups:
        which = "in_channels" if transposed else "out_channels"
        raise ValueError(f"{op}: groups={groups} must divide {which}, but the weight of shape "
                         f"{shape_str(weight.shape)} has {divided}")
    c_in = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.ndim not in (rank, rank - 1) or x.shape[-spatial - 1] != c_in:
        with_groups = f" and groups={groups}" if groups > 1 else ""
        expected = f"(N, {c_in}, {_layout(spatial)})"
        if x.ndim == rank - 1:
            expected += f" or ({c_in}, {_layout(spatial)})"
        raise ShapeError(f"{op}: expects input {expected} for a weight of shape "
                         f"{shape_str(weight.shape)}{with_groups}; got {shape_str(x.shape)}")
    c_out = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and bias.shape != (c_out,):
        raise ShapeError(f"{op}: bias must have shape {shape_str((c_out,))} for a weight of "
                         f"shape {shape_str(weight.shape)}; got {shape_str(bias.shape)}")
    dtypes = [x.dtype, weight.dtype] + ([] if bias is None else [bias.dtype])
    if len(set(dtypes)) != 1 or x.dtype.kind != "f":
        hint = ("; convert integer images to floats first (x.float() / 255, or "
                "transforms.ToFloat() in the data pipeline)" if x.dtype.kind in "iub" else "")
        raise TypeError(f"{op}: input, weight and bias must have the same floating dtype; got "
                        + ", ".join(str(d) for d in dtypes) + hint)


def _padding(op: str, padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...]) -> tuple[int, ...]:
    """(before, after) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * len(kernel))
        if padding != "same":
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple of ints; "
                             f"got {padding!r}")
        if max(stride) != 1:
            raise ValueError(f"{op}: padding='same' needs stride 1 (as in PyTorch); got stride "
                             f"{shape_str(stride)}")
        pads: list[int] = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]  # the odd one goes after, as in PyTorch
        return tuple(pads)
    each = _tuple(padding, len(kernel), "padding", op, 0)
    return tuple(p for p in each for _ in range(2))


def _geometry(op: str, x: Any, weight: Any, stride: Any, padding: Any, dilation: Any,
              spatial: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Stride, padding (before, after per dim) and dilation, checked against the input size."""
    stride = _tuple(stride, spatial, "stride", op, 1)
    dilation = _tuple(dilation, spatial, "dilation", op, 1)
    kernel = weight.shape[2:]
    pads = _padding(op, padding, kernel, stride, dilation)
    padded = tuple(size + pads[2 * i] + pads[2 * i + 1] for i, size in enumerate(x.shape[2:]))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(s > p for s, p in zip(spans, padded)):
        raise ShapeError(f"{op}: the kernel {shape_str(kernel)} with dilation "
                         f"{shape_str(dilation)} spans {shape_str(spans)}, larger than the "
                         f"padded input {shape_str(padded)} (input {shape_str(x.shape)})")
    return stride, pads, dilation
