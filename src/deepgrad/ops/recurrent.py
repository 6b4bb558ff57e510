"""Recurrent networks as fused ops: one layer and direction of an RNN, LSTM or GRU over a whole
sequence is one graph node, and so is one step of a cell.

The math is PyTorch's: gates stacked in the rows of the weights, LSTM (i, f, g, o), GRU (r, z,
n) with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). How the fused forward and backward run is
told in :mod:`deepgrad.ops._sequence`, the engine both ops share.
"""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops._sequence import GATES, _Sequence
from deepgrad.tensor import Tensor


class Recurrent(Function):
    """One layer and direction over a whole sequence.   x: (T, N, F) -> y: (T, N, H),
    h_n: (N, H) [, c_n: (N, H) for the LSTM]. Inputs: x, h0, c0, W_ih, W_hh, b_ih, b_hh (h0,
    c0 and the biases may be None); options: mode, lengths (sorted, decreasing), reverse."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, lengths, reverse):
        seq = _Sequence(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, ctx.recording)
        y = seq.output()
        if ctx.recording:
            ctx.save(seq=seq, x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, y=y)
        if mode == "lstm":
            return y, seq.final(seq.hs), seq.final(seq.cs)
        return y, seq.final(seq.hs)

    @staticmethod
    def backward(ctx, gy, gh, gc=None):
        return ctx.seq.backward(gy, gh, gc, ctx.w_ih, ctx.w_hh, ctx.needs_input_grad)


class RecurrentCell(Function):
    """One step of a cell.   x: (N, F) or (F,), h: (N, H) or (H,) [, c like h] -> h' [, c']."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh, mode):
        hidden = w_hh.shape[1]
        state_shape = (*x.shape[:-1], hidden)
        batch = x.shape[0] if x.ndim == 2 else 1
        seq = _Sequence(mode, x.reshape(1, batch, x.shape[-1]),
                        None if h is None else h.reshape(batch, hidden),
                        None if c is None else c.reshape(batch, hidden),
                        w_ih, w_hh, b_ih, b_hh, None, False, ctx.recording)
        h_new = seq.hs[1].reshape(state_shape)
        if ctx.recording:
            ctx.save(seq=seq, x=x, h=h, c=c, w_ih=w_ih, w_hh=w_hh, h_new=h_new)
        if mode == "lstm":
            return h_new, seq.cs[1].reshape(state_shape)
        return h_new

    @staticmethod
    def backward(ctx, gh, gc=None):
        grads = list(ctx.seq.backward(None, gh, gc, ctx.w_ih, ctx.w_hh, ctx.needs_input_grad))
        for index, like in ((0, ctx.x), (1, ctx.h), (2, ctx.c)):
            if grads[index] is not None:
                grads[index] = grads[index].reshape(like.shape)
        return tuple(grads)


def _data(t: Tensor | None) -> Any:
    return None if t is None else t.data


def _check(op: str, mode: str, x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, b_ih: Any,
           b_hh: Any, cell: bool) -> None:
    """Shapes and dtypes of a recurrent op's arrays, or an error saying which one is wrong."""
    if mode not in GATES:
        raise ValueError(f"{op}: mode must be one of {', '.join(GATES)}; got {mode!r}")
    if w_hh.ndim != 2 or w_hh.shape[0] != GATES[mode] * w_hh.shape[1]:
        raise ShapeError(f"{op}: weight_hh must be ({GATES[mode]} * hidden_size, hidden_size); "
                         f"got {shape_str(w_hh.shape)}")
    rows, hidden = w_hh.shape
    if w_ih.ndim != 2 or w_ih.shape[0] != rows:
        raise ShapeError(f"{op}: weight_ih must be ({rows}, input_size) for a weight_hh of shape "
                         f"{shape_str(w_hh.shape)}; got {shape_str(w_ih.shape)}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{op}: give both biases or neither")
    for name, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (rows,):
            raise ShapeError(f"{op}: {name} must be {shape_str((rows,))}; got "
                             f"{shape_str(b.shape)}")
    features = w_ih.shape[1]
    dims = (1, 2) if cell else (3,)
    if x.ndim not in dims or x.shape[-1] != features:
        expected = f"(N, {features}) or ({features},)" if cell else f"(T, N, {features})"
        raise ShapeError(f"{op}: expects input {expected}; got {shape_str(x.shape)}")
    state = (*x.shape[:-1], hidden) if cell else (x.shape[1], hidden)
    for name, s in (("hx", h), ("cx", c)):
        if s is not None and s.shape != state:
            raise ShapeError(f"{op}: {name} must be {shape_str(state)} for an input of shape "
                             f"{shape_str(x.shape)}; got {shape_str(s.shape)}")
    arrays = [a for a in (x, h, c, w_ih, w_hh, b_ih, b_hh) if a is not None]
    if x.dtype.kind != "f" or any(a.dtype != x.dtype for a in arrays):
        raise TypeError(f"{op}: input, states and weights must have one floating dtype; got "
                        + ", ".join(str(a.dtype) for a in arrays))


def check_lengths(op: str, lengths: Any, steps: int, batch: int) -> Any:
    """``lengths`` (array, list or Tensor) as an int64 array, checked: one integer per sequence
    of the batch, each in [1, steps]."""
    array = xp.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if array.dtype.kind not in "iu" or array.shape != (batch,):
        raise ValueError(f"{op}: lengths must be {batch} integers, one per sequence of the "
                         f"batch; got {array.dtype} of shape {shape_str(array.shape)}")
    bad = xp.flatnonzero((array < 1) | (array > steps))
    if bad.size:
        raise ValueError(f"{op}: lengths[{bad[0]}] = {array[bad[0]]} is out of range for "
                         f"sequences of {steps} steps (expected 1 to {steps})")
    return array.astype(xp.int64, copy=False)


def _lengths_array(op: str, lengths: Any, steps: int, batch: int) -> Any:
    """``lengths`` checked as by :func:`check_lengths`, and sorted in decreasing order."""
    array = check_lengths(op, lengths, steps, batch)
    if xp.any(array[1:] > array[:-1]):
        raise ValueError(f"{op}: lengths must be sorted in decreasing order (the batch sorted "
                         "by length); the modules sort it for you")
    return array


def recurrent(x: Tensor, h0: Tensor | None, c0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None, b_hh: Tensor | None, mode: str, lengths: Any = None,
              reverse: bool = False) -> tuple[Tensor, ...]:
    """One layer and direction of an RNN, LSTM or GRU over a sequence, as one graph node.

    Args:
        x: the inputs, (T, N, F).
        h0: the initial hidden state (N, H), or None for zeros.
        c0: the initial cell state (N, H) of an LSTM, or None for zeros (None for the others).
        w_ih: (G * H, F) and w_hh: (G * H, H), the gates stacked as in PyTorch (G = 1, 4, 3).
        b_ih, b_hh: (G * H,), or both None.
        mode: "rnn_tanh", "rnn_relu", "lstm" or "gru".
        lengths: None (every sequence has T steps) or N ints in [1, T] sorted in decreasing
            order: outputs past a sequence's end are zero and its final state is the one at its
            last step.
        reverse: run from the end of each sequence to its start.

    Returns:
        (y, h_n), or (y, h_n, c_n) for the LSTM: y (T, N, H), the states (N, H).
    """
    xa = x.data
    if c0 is not None and mode in GATES and mode != "lstm":
        raise ValueError(f"recurrent: c0 is the cell state of an LSTM; mode {mode!r} has none")
    _check("recurrent", mode, xa, _data(h0), _data(c0), w_ih.data, w_hh.data, _data(b_ih),
           _data(b_hh), cell=False)
    if lengths is not None:
        lengths = _lengths_array("recurrent", lengths, xa.shape[0], xa.shape[1])
    return Recurrent.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode=mode, lengths=lengths,
                           reverse=reverse)


def _cell(op: str, mode: str, x: Tensor, h: Tensor | None, c: Tensor | None, w_ih: Tensor,
          w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Any:
    _check(op, mode, x.data, _data(h), _data(c), w_ih.data, w_hh.data, _data(b_ih),
           _data(b_hh), cell=True)
    return RecurrentCell.apply(x, h, c, w_ih, w_hh, b_ih, b_hh, mode=mode)


def rnn_cell(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None,
             nonlinearity: str = "tanh") -> Tensor:
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu, as one op.
    input: (N, F) or (F,); hx: (N, H) or (H,), None for zeros; returns h' like hx."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: nonlinearity must be 'tanh' or 'relu'; got "
                         f"{nonlinearity!r}")
    return _cell("rnn_cell", "rnn_" + nonlinearity, input, hx, None, w_ih, w_hh, b_ih, b_hh)


def lstm_cell(input: Tensor, hx: tuple[Tensor, Tensor] | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step, PyTorch's gates (i, f, g, o), as one op.
    input: (N, F) or (F,); hx: (h, c), each (N, H) or (H,), None for zeros; returns (h', c')."""
    h, c = (None, None) if hx is None else hx
    return _cell("lstm_cell", "lstm", input, h, c, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One GRU step, PyTorch's gates (r, z, n), as one op.
    input: (N, F) or (F,); hx: (N, H) or (H,), None for zeros; returns h' like hx."""
    return _cell("gru_cell", "gru", input, hx, None, w_ih, w_hh, b_ih, b_hh)


__all__ = ["gru_cell", "lstm_cell", "recurrent", "rnn_cell"]
