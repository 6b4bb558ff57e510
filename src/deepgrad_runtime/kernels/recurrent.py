"""Recurrent layers as ONNX defines them: RNN, GRU (gates z, r, h) and LSTM (gates i, o, f, c,
optional peepholes i, o, f), forward, reverse or bidirectional, layout 0 (sequence first) or 1
(batch first), with optional biases, initial states and sequence lengths.

The input's contribution to every gate at every step is one GEMM over the whole sequence (with
the input and recurrent biases that add outside any reset folded in); each step then costs one
small GEMM with the recurrent weights and the gates' elementwise math. With sequence lengths,
a sequence's state stops changing after its last step and its outputs there are zero; the
reverse direction of a shorter sequence starts at its own last step; an empty sequence's last
state is zero (as in onnxruntime).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.base import (
    Attributes,
    Consts,
    Kernel,
    Workspace,
    arity,
    given,
    register,
)

Activation = Callable[[np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)


_ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)), "softplus": lambda x: np.logaddexp(x, 0),
}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"],
                        "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


class _Direction(NamedTuple):
    """One direction's weights, packed for the loop."""

    w: np.ndarray  # (I, G*H): the input's contribution to all gates
    r: np.ndarray  # (H, G*H), or for GRU (H, 2H) for z and r only
    r_h: np.ndarray | None  # GRU: (H, H) for the candidate h
    bias: np.ndarray  # (G*H,): the biases that add outside the reset
    r_bias_h: np.ndarray | None  # GRU with linear_before_reset: Rbh, applied inside the reset
    peephole: np.ndarray | None  # LSTM: (3, H) for i, o, f


def _pack(op: str, w: np.ndarray, r: np.ndarray, b: np.ndarray | None, p: np.ndarray | None,
          directions: int, hidden: int | None, linear_before_reset: bool) -> list[_Direction]:
    gates = _GATES[op]
    if r.ndim != 3 or r.shape[0] != directions or r.shape[1] != gates * r.shape[2]:
        raise ValueError(f"R must be ({directions}, {gates}*hidden_size, hidden_size); got "
                         f"{r.shape}")
    h = r.shape[2]
    if hidden is not None and hidden != h:
        raise ValueError(f"hidden_size={hidden} but R has hidden size {h}")
    if w.ndim != 3 or w.shape[:2] != (directions, gates * h):
        raise ValueError(f"W must be ({directions}, {gates * h}, input_size); got {w.shape}")
    if b is not None and b.shape != (directions, 2 * gates * h):
        raise ValueError(f"B must be ({directions}, {2 * gates * h}); got {b.shape}")
    if p is not None and p.shape != (directions, 3 * h):
        raise ValueError(f"P must be ({directions}, {3 * h}); got {p.shape}")
    packed = []
    for d in range(directions):
        wb = np.zeros(gates * h, w.dtype) if b is None else b[d, :gates * h]
        rb = np.zeros(gates * h, w.dtype) if b is None else b[d, gates * h:]
        bias, r_bias_h = wb + rb, None
        if op == "GRU" and linear_before_reset:
            bias[2 * h:] = wb[2 * h:]
            r_bias_h = rb[2 * h:]
        rt = np.ascontiguousarray(r[d].T)
        packed.append(_Direction(
            np.ascontiguousarray(w[d].T),
            np.ascontiguousarray(rt[:, :2 * h]) if op == "GRU" else rt,
            np.ascontiguousarray(rt[:, 2 * h:]) if op == "GRU" else None,
            bias, r_bias_h, None if p is None else p[d].reshape(3, h)))
    return packed


def _activations(op: str, names: list[str] | None, directions: int) -> list[list[Activation]]:
    per = len(_DEFAULT_ACTIVATIONS[op])
    names = names if names is not None else _DEFAULT_ACTIVATIONS[op] * directions
    if len(names) != per * directions:
        raise ValueError(f"attribute 'activations' needs {per * directions} names; got {names}")
    unknown = [n for n in names if n.lower() not in _ACTIVATIONS]
    if unknown:
        raise ValueError(f"activation {unknown[0]!r} is not supported (supported: Sigmoid, "
                         f"Tanh, Relu, Softsign, Softplus)")
    fns = [_ACTIVATIONS[n.lower()] for n in names]
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


class _Cell(NamedTuple):
    """What every step of one direction needs besides the state."""

    op: str
    weights: _Direction
    acts: list[Activation]
    clip: float | None
    input_forget: bool


def _clipped(v: np.ndarray, clip: float | None) -> np.ndarray:
    return v if clip is None else np.clip(v, -clip, clip, out=v)


def _step(cell: _Cell, xw: np.ndarray, h: np.ndarray, c: np.ndarray | None) -> tuple:
    """One time step: the new (h, c) from the input's gate contributions ``xw`` (N, G*H)."""
    wt, f, clip = cell.weights, cell.acts[0], cell.clip
    size = h.shape[1]
    if cell.op == "RNN":
        return f(_clipped(xw + h @ wt.r, clip)), None
    if cell.op == "GRU":
        zr = f(_clipped(xw[:, :2 * size] + h @ wt.r, clip))
        z, r = zr[:, :size], zr[:, size:]
        if wt.r_bias_h is not None:  # linear_before_reset: r scales the recurrent product
            candidate = xw[:, 2 * size:] + r * (h @ wt.r_h + wt.r_bias_h)
        else:
            candidate = xw[:, 2 * size:] + (r * h) @ wt.r_h
        n = cell.acts[1](_clipped(candidate, clip))
        return n + z * (h - n), None
    g = xw + h @ wt.r  # i, o, f, c
    if wt.peephole is not None:
        g[:, :size] += wt.peephole[0] * c
        g[:, 2 * size:3 * size] += wt.peephole[2] * c
    i = f(_clipped(g[:, :size], clip))
    forget = 1 - i if cell.input_forget else f(_clipped(g[:, 2 * size:3 * size], clip))
    c = forget * c + i * cell.acts[1](_clipped(g[:, 3 * size:], clip))
    o_pre = g[:, size:2 * size]
    if wt.peephole is not None:
        o_pre += wt.peephole[1] * c
    return f(_clipped(o_pre, clip)) * cell.acts[2](c), c


def _run_direction(cell: _Cell, x: np.ndarray, h: np.ndarray, c: np.ndarray | None,
                   lengths: np.ndarray | None, reverse: bool) -> tuple:
    """Y (T, N, H), last h, last c of one direction."""
    steps = x.shape[0]
    xw = x @ cell.weights.w
    xw += cell.weights.bias
    y = np.zeros((steps, *h.shape), h.dtype)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        h_new, c_new = _step(cell, xw[t], h, c)
        if lengths is None:
            h, c, y[t] = h_new, c_new, h_new
        else:
            active = (t < lengths)[:, None]
            h = np.where(active, h_new, h)
            c = None if c is None else np.where(active, c_new, c)
            y[t] = np.where(active, h_new, 0)
    if lengths is not None:  # as onnxruntime: an empty sequence's last state is zero
        empty = (lengths == 0)[:, None]
        h = np.where(empty, 0, h)
        c = None if c is None else np.where(empty, 0, c)
    return y, h, c


@register("RNN", "GRU", "LSTM")
def _recurrent(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    op = node.op
    lstm = op == "LSTM"
    arity(node, (3, 8 if lstm else 6), (1, 3 if lstm else 2), first_output=False)
    attrs = Attributes(node)
    direction = attrs.string("direction", "forward", ("forward", "reverse", "bidirectional"))
    directions = 2 if direction == "bidirectional" else 1
    hidden = attrs.int("hidden_size", 1, minimum=1) if attrs.has("hidden_size") else None
    batch_first = bool(attrs.int("layout", 0, 0, 1))
    clip = attrs.float("clip", 0.0) if attrs.has("clip") else None
    if clip is not None and clip <= 0:
        raise ValueError(f"attribute 'clip' must be positive; got {clip}")
    input_forget = lstm and bool(attrs.int("input_forget", 0, 0, 1))
    linear_before_reset = op == "GRU" and bool(attrs.int("linear_before_reset", 0, 0, 1))
    acts = _activations(op, attrs.strings("activations"), directions)
    peephole_at = 7 if lstm else None

    def pack(w: np.ndarray, r: np.ndarray, b: Any, p: Any) -> list[_Direction]:
        return _pack(op, w, r, b, p, directions, hidden, linear_before_reset)

    fixed = None
    optional = [i for i in (3, peephole_at) if i is not None and given(node, i)]
    if all(consts[i] is not None for i in (1, 2, *optional)):
        fixed = pack(consts[1], consts[2], consts[3] if given(node, 3) else None,
                     consts[7] if lstm and given(node, 7) else None)
    wanted = [name != "" for name in node.outputs]

    def recurrent(x: np.ndarray, w: np.ndarray, r: np.ndarray, b: Any = None,
                  lengths: Any = None, h0: Any = None, c0: Any = None, p: Any = None) -> Any:
        packed = fixed or pack(w, r, b, p)
        if x.ndim != 3 or x.shape[2] != packed[0].w.shape[0]:
            raise ValueError(f"X must be ({'batch, seq' if batch_first else 'seq, batch'}, "
                             f"{packed[0].w.shape[0]}); got {x.shape}")
        if batch_first:
            x = x.transpose(1, 0, 2)
        steps, batch, size = x.shape[0], x.shape[1], packed[0].r.shape[0]
        states = [_initial(s, directions, batch, size, batch_first, x.dtype, name)
                  for s, name in ((h0, "initial_h"), (c0 if lstm else None, "initial_c"))]
        if lengths is not None:
            lengths = _lengths(lengths, batch, steps)
        ys, hs, cs = [], [], []
        for d in range(directions):
            cell = _Cell(op, packed[d], acts[d], clip, input_forget)
            y, h, c = _run_direction(cell, x, states[0][d], states[1][d] if lstm else None,
                                     lengths, reverse=d == 1 or direction == "reverse")
            ys.append(y)
            hs.append(h)
            cs.append(c)
        y_all, h_all = np.stack(ys, 1), np.stack(hs)  # (T, D, N, H), (D, N, H)
        results = [y_all.transpose(2, 0, 1, 3) if batch_first else y_all,
                   h_all.transpose(1, 0, 2) if batch_first else h_all]
        if lstm:
            c_all = np.stack(cs)
            results.append(c_all.transpose(1, 0, 2) if batch_first else c_all)
        results = [v if keep else None for v, keep in zip(results, wanted)]
        return tuple(results) if len(results) > 1 else results[0]

    return recurrent


def _initial(state: Any, directions: int, batch: int, size: int, batch_first: bool,
             dtype: np.dtype, name: str) -> np.ndarray:
    if state is None:
        return np.zeros((directions, batch, size), dtype)
    expected = (batch, directions, size) if batch_first else (directions, batch, size)
    if state.shape != expected:
        raise ValueError(f"{name} must have shape {expected}; got {state.shape}")
    return state.transpose(1, 0, 2) if batch_first else state


def _lengths(lengths: np.ndarray, batch: int, steps: int) -> np.ndarray | None:
    """The sequence lengths, or None when every sequence is full."""
    if lengths.dtype.kind not in "iu" or lengths.shape != (batch,):
        raise ValueError(f"sequence_lens must be {batch} integers; got {lengths.dtype} of "
                         f"shape {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > steps):
        raise ValueError(f"sequence_lens must lie in [0, {steps}]; got {lengths.tolist()}")
    return None if bool(np.all(lengths == steps)) else lengths
