"""Converters of the layers' fused ops: convolution, pooling, normalization and recurrent.

PyTorch's recurrent weights stack the gates as (i, f, g, o) for the LSTM and (r, z, n) for the
GRU; ONNX's as (i, o, f, c) and (z, r, h), so the exported weights are reordered copies, with the
two biases concatenated (``B = [Wb, Rb]``) and the GRU run with ``linear_before_reset=1``, which
is PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deepgrad.export.emit import Emitter
from deepgrad.ops import _pool_args, adaptive_pool, conv, norm, pool, recurrent

# ONNX's gate blocks, as indices of PyTorch's blocks
_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn_tanh": [0], "rnn_relu": [0]}
_GATE_NAMES = {"lstm": "iofc", "gru": "zrh", "rnn_tanh": "", "rnn_relu": ""}
_RECURRENT_OPS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}


# ------------------------------------------------------------------------------ convolution
def _onnx_pads(pairs: Any) -> list[int]:
    """ONNX's pads (every dim's start, then every dim's end) from (before, after) pairs."""
    pairs = [tuple(p) for p in pairs]
    return [p[0] for p in pairs] + [p[1] for p in pairs]


def _conv(e: Emitter) -> list:
    if e.op.cls is conv.DepthwiseConv2d:
        _, weight, _, stride, pads, dilation = e.args
        groups = weight.shape[0]
    else:
        _, weight, _, stride, pads, dilation, groups = e.args
    return [e.one("Conv", [e.input(0), e.input(1), e.input(2)],
                  kernel_shape=list(weight.shape[2:]), strides=list(stride),
                  pads=_onnx_pads([pads[0:2], pads[2:4]]), dilations=list(dilation),
                  group=int(groups))]


def _conv_transpose(e: Emitter) -> list:
    _, weight, _, stride, padding, output_padding, dilation, groups = e.args
    return [e.one("ConvTranspose", [e.input(0), e.input(1), e.input(2)],
                  kernel_shape=list(weight.shape[2:]), strides=list(stride),
                  pads=[*padding, *padding], output_padding=list(output_padding),
                  dilations=list(dilation), group=int(groups))]


# ------------------------------------------------------------------------------ pooling
def _windows(e: Emitter) -> list:
    """The pooling's windows along each spatial dim (one for 1-D pooling), for an input
    (N, C, *spatial): its batched form is all that ONNX's pooling operators take."""
    rows, cols = e.options["rows"], e.options["cols"]
    # A 1-D pooling runs as a 2-D one whose rows are this shared placeholder.
    windows = [cols] if rows is _pool_args._NO_WINDOW else [rows, cols]
    if len(e.shape(0)) != len(windows) + 2:
        raise e.fail(f"ONNX pools a batch (N, C, {'L' if len(windows) == 1 else 'H, W'}); "
                     f"this input {e.shape(0)} is one unbatched example")
    return windows


def _pool_attrs(e: Emitter, windows: list) -> dict[str, Any]:
    # ceil_mode's last window becomes explicit padding at the end, so that the output size is
    # deepgrad's (PyTorch's) whatever rule a runtime uses for ceil_mode.
    ends = [w.padded - w.size - w.padding for w in windows]
    if any(end >= w.kernel for w, end in zip(windows, ends)):
        raise e.fail("ceil_mode with a last window that starts more than a kernel beyond the "
                     "input")
    return {"kernel_shape": [w.kernel for w in windows],
            "strides": [w.stride for w in windows],
            "pads": _onnx_pads([(w.padding, end) for w, end in zip(windows, ends)])}


def _max_pool(e: Emitter) -> list:
    if e.options["return_indices"]:
        raise e.fail("return_indices=True (ONNX's indices count differently)")
    windows = _windows(e)
    return [e.one("MaxPool", [e.input(0)], **_pool_attrs(e, windows),
                  dilations=[w.dilation for w in windows]), None]


def _counts(windows: list, include_pad: int) -> np.ndarray:
    """How many elements each window of ONNX's AveragePool (explicit pads, no ceil_mode)
    divides by, laid out like deepgrad's divisor: (H_out, W_out), or (1, L_out) in 1-D."""
    counts = np.ones((1, 1))
    for w in windows:
        start = np.arange(w.out) * w.stride - w.padding
        end = start + w.kernel
        if not include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, w.size)
        counts = (counts.reshape(-1, 1) * (end - start)).reshape(-1, w.out)
    return counts


def _avg_pool(e: Emitter) -> list:
    windows = _windows(e)
    divisor = np.asarray(e.options["divisor"], dtype=np.float64)
    candidates = {flag: _counts(windows, flag) for flag in (0, 1)}
    matching = [flag for flag, counts in candidates.items()
                if np.array_equal(np.broadcast_to(divisor, counts.shape), counts)]
    include_pad = matching[0] if matching else 1
    y = e.one("AveragePool", [e.input(0)], **_pool_attrs(e, windows),
              count_include_pad=include_pad)
    if matching:
        return [y]
    # divisor_override, or PyTorch's divisor for windows reaching into the ceil_mode overhang
    factor = (candidates[1] / divisor).astype(e.array(0).dtype)
    return [e.one("Mul", [y, e.constant(factor, f"{e.layer or 'pool'}.divisor")])]


def _global_avg_pool(e: Emitter) -> list:
    if len(e.shape(0)) != 4:
        raise e.fail(f"ONNX pools a batch (N, C, H, W); this input {e.shape(0)} is one "
                     f"unbatched example")
    return [e.one("GlobalAveragePool", [e.input(0)])]


def _adaptive_avg_pool(e: Emitter) -> list:
    # deepgrad's own formula: (R @ x @ C^T) / counts, R and C the 0/1 window memberships
    dtype = e.array(0).dtype
    rows = e.options["row_members"].astype(dtype)
    cols = e.options["col_members"].astype(dtype)
    hint = e.layer or "pool"
    y = e.one("MatMul", [e.constant(rows, f"{hint}.rows"), e.input(0)])
    y = e.one("MatMul", [y, e.constant(cols.T, f"{hint}.cols")])
    counts = rows.sum(axis=1)[:, None] * cols.sum(axis=1)
    return [e.one("Div", [y, e.constant(counts, f"{hint}.counts")])]


def _adaptive_max_pool(e: Emitter) -> list:
    """Windows of unequal sizes (an output size that does not divide the input's; otherwise
    the op is a MaxPool): deepgrad's own two stages, columns then rows, each the Max of one
    Gather per window offset (a window shorter than the offset repeats its last element)."""
    if e.options["return_indices"]:
        raise e.fail("return_indices=True (the indices are not exported)")
    ndim = len(e.shape(0))
    y = e.input(0)
    for axis, (starts, ends) in ((ndim - 1, e.options["cols"]), (ndim - 2, e.options["rows"])):
        longest = int((ends - starts).max()) if starts.size else 1
        taps = [e.one("Gather", [y, e.builder.cached_constant(
            np.minimum(starts + offset, ends - 1).astype(np.int64), "positions")], axis=axis)
            for offset in range(longest)]
        y = taps[0] if len(taps) == 1 else e.one("Max", taps)
    return [y]


# ------------------------------------------------------------------------------ normalization
def _scale(e: Emitter, shape: tuple[int, ...]) -> str:
    """The scale (argument 1), or a constant of ones where it is None."""
    if e.args[1] is not None:
        return e.input(1)
    return e.constant(np.ones(shape, e.array(0).dtype), f"{e.layer or 'norm'}.scale")


def _shift(e: Emitter, shape: tuple[int, ...]) -> str:
    """The bias (argument 2), or a constant of zeros where it is None."""
    if e.args[2] is not None:
        return e.input(2)
    return e.constant(np.zeros(shape, e.array(0).dtype), f"{e.layer or 'norm'}.shift")


def _batch_norm(e: Emitter) -> list:
    _, _, _, _, _, training, _, eps = e.args
    if training:
        raise e.fail("it normalizes by the batch's statistics in eval mode "
                     "(track_running_stats=False); only running statistics export")
    channels = e.shape(0)[1]
    return [e.one("BatchNormalization",
                  [e.input(0), _scale(e, (channels,)), _shift(e, (channels,)), e.input(3),
                   e.input(4)],
                  epsilon=float(eps))]


def _layer_norm(e: Emitter) -> list:
    shape, eps = e.args[3], e.args[4]
    return [e.one("LayerNormalization", [e.input(0), _scale(e, tuple(shape)), e.input(2)],
                  axis=-len(shape), epsilon=float(eps))]


def _group_norm(e: Emitter) -> list:
    """InstanceNormalization of x as (N, groups, C/groups * spatial), then the per-channel
    affine (ONNX's GroupNormalization needs opset 18 and changed meaning in opset 21)."""
    _, weight, bias, groups, eps = e.args
    shape = e.shape(0)
    dtype, hint = e.array(0).dtype, e.layer or "norm"
    grouped = e.one("Reshape", [e.input(0), e.ints([0, groups, -1], "shape")])
    normed = e.one("InstanceNormalization",
                   [grouped, e.constant(np.ones(groups, dtype), f"{hint}.group_scale"),
                    e.constant(np.zeros(groups, dtype), f"{hint}.group_bias")],
                   epsilon=float(eps))
    y = e.one("Reshape", [normed, e.ints([0, *shape[1:]], "shape")])
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    for index, op, value in ((1, "Mul", weight), (2, "Add", bias)):
        if value is not None:
            array = e.constant_array(index).reshape(per_channel)
            y = e.one(op, [y, e.constant(array, f"{e.name_of(index)}.per_channel")])
    return [y]


# ------------------------------------------------------------------------------ recurrent
def _recurrent_weights(e: Emitter, mode: str, first: int) -> list[str]:
    """W, R and B (or "") of ONNX's RNN/LSTM/GRU from arguments first..first+3 (w_ih, w_hh,
    b_ih, b_hh), each with a leading num_directions = 1 axis and the gates reordered."""
    w_ih, w_hh = e.constant_array(first), e.constant_array(first + 1)
    hidden = w_hh.shape[1]
    order = _GATE_ORDER[mode]

    def reorder(array: np.ndarray) -> np.ndarray:
        return array.reshape(len(order), hidden, *array.shape[1:])[order].reshape(
            1, *array.shape)

    suffix = f".{_GATE_NAMES[mode]}" if _GATE_NAMES[mode] else ".onnx"
    names = [e.constant(reorder(w_ih), e.name_of(first) + suffix),
             e.constant(reorder(w_hh), e.name_of(first + 1) + suffix)]
    if e.args[first + 2] is None:
        return [*names, ""]
    biases = [reorder(e.constant_array(first + k)) for k in (2, 3)]
    bias_name = e.name_of(first + 2).replace("bias_ih", "bias")
    return [*names, e.constant(np.concatenate(biases, axis=1), bias_name + suffix)]


def _recurrent_attrs(mode: str, hidden: int, reverse: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"hidden_size": hidden,
                             "direction": "reverse" if reverse else "forward"}
    if mode == "gru":
        attrs["linear_before_reset"] = 1
    elif mode != "lstm":
        attrs["activations"] = ["Relu" if mode == "rnn_relu" else "Tanh"]
    return attrs


def _recurrent(e: Emitter) -> list:
    """One layer and direction over (T, N, F): ONNX's output Y is (T, 1, N, H), its states
    (1, N, H); the extra num_directions axis is squeezed away."""
    mode = e.options["mode"]
    if e.options["lengths"] is not None:
        raise e.fail("variable sequence lengths (lengths=...) do not export; pad the batch "
                     "and call it without lengths")
    weights = _recurrent_weights(e, mode, 3)
    states = [e.one("Unsqueeze", [e.input(k), e.ints([0], "axes")])
              if e.args[k] is not None else "" for k in (1, 2)]
    lstm = mode == "lstm"
    inputs = [e.input(0), *weights, "", states[0]] + ([states[1]] if lstm else [])
    hidden = e.array(4).shape[1]
    outputs = e.node(_RECURRENT_OPS[mode], inputs, 3 if lstm else 2,
                     **_recurrent_attrs(mode, hidden, e.options["reverse"]))
    y = e.one("Squeeze", [outputs[0], e.ints([1], "axes")])
    return [y] + [e.one("Squeeze", [state, e.ints([0], "axes")]) for state in outputs[1:]]


def _recurrent_cell(e: Emitter) -> list:
    """One step: ONNX's RNN/LSTM/GRU over a sequence of length 1, reading its final states."""
    mode = e.options["mode"]
    weights = _recurrent_weights(e, mode, 3)
    features, hidden = e.array(3).shape[1], e.array(4).shape[1]
    batched = len(e.shape(0)) == 2

    def as_sequence(k: int, size: int) -> str:
        if e.args[k] is None:
            return ""
        if batched:
            return e.one("Unsqueeze", [e.input(k), e.ints([0], "axes")])
        return e.one("Reshape", [e.input(k), e.ints([1, 1, size], "shape")])

    lstm = mode == "lstm"
    inputs = [as_sequence(0, features), *weights, "", as_sequence(1, hidden)]
    if lstm:
        inputs.append(as_sequence(2, hidden))
    outputs = e.node(_RECURRENT_OPS[mode], inputs, [False, True] + ([True] if lstm else []),
                     **_recurrent_attrs(mode, hidden, False))
    if batched:
        return [e.one("Squeeze", [state, e.ints([0], "axes")]) for state in outputs[1:]]
    return [e.one("Reshape", [state, e.ints([hidden], "shape")]) for state in outputs[1:]]


LAYER_CONVERTERS: dict[type, Callable[[Emitter], list]] = {
    conv.Conv2d: _conv,
    conv.DepthwiseConv2d: _conv,
    conv.ConvTranspose2d: _conv_transpose,
    pool.MaxPool: _max_pool,
    pool.AvgPool: _avg_pool,
    pool.GlobalAvgPool: _global_avg_pool,
    pool.AdaptiveAvgPool: _adaptive_avg_pool,
    adaptive_pool.AdaptiveMaxPool: _adaptive_max_pool,
    norm.BatchNorm: _batch_norm,
    norm.LayerNorm: _layer_norm,
    norm.GroupNorm: _group_norm,
    recurrent.Recurrent: _recurrent,
    recurrent.RecurrentCell: _recurrent_cell,
}

__all__ = ["LAYER_CONVERTERS"]
