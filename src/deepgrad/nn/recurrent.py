"""Recurrent layers: ``RNN``, ``LSTM`` and ``GRU`` over whole sequences, and ``RNNCell``,
``LSTMCell`` and ``GRUCell`` for hand-written loops.

PyTorch's arguments, gate equations, parameter names and shapes (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse``) and initialization, so that a
torch state dict loads directly. Each layer and direction runs as one fused op
(:mod:`deepgrad.ops.recurrent`); variable-length batches take a ``lengths`` argument, or
PyTorch's packed sequences (:mod:`deepgrad.nn.utils.rnn`).
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import empty
from deepgrad.errors import shape_str
from deepgrad.nn import init
from deepgrad.nn.module import LayerShapeError, Module, Parameter, layer_error
from deepgrad.nn.utils.rnn import PackedSequence
from deepgrad.ops.dropout import dropout
from deepgrad.ops.join import cat, stack
from deepgrad.ops.recurrent import GATES, Recurrent, RecurrentCell, check_lengths
from deepgrad.tensor import Tensor


def _check_size(layer: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < minimum:
        raise ValueError(f"{layer}: {name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_dtype(module: Module, what: str, t: Tensor, weight: Tensor) -> None:
    if t.dtype != weight.dtype:
        raise TypeError(f"{type(module).__name__}: {what} has dtype {t.dtype} but the layer's "
                        f"weights are {weight.dtype}; convert one of them (.float() or "
                        ".double() on the layer, .to() on the tensor)")


class _RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU: parameters, checks, layers and directions."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = _check_size(name, "input_size", input_size)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.num_layers = _check_size(name, "num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a probability between 0 and 1; got "
                             f"{dropout!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        directions = 2 if bidirectional else 1
        rows = GATES[mode] * hidden_size
        # Parameter names of each (layer, direction), in PyTorch's order.
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            features = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                names = [f"{kind}_l{layer}{suffix}" for kind in
                         ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[:4 if bias else 2]]
                shapes = [(rows, features), (rows, hidden_size), (rows,), (rows,)]
                for param_name, shape in zip(names, shapes):
                    setattr(self, param_name, Parameter(empty(*shape)))
                self._weight_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound)

    def _layer_weights(self, index: int) -> list[Tensor | None]:
        weights = [getattr(self, name) for name in self._weight_names[index]]
        return weights if self.bias else [*weights, None, None]

    def forward(self, input: Tensor, hx: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        """Run the layers over ``input``.

        Args:
            input: (T, N, input_size), (N, T, input_size) with ``batch_first``, or one unbatched
                sequence (T, input_size); or a ``PackedSequence`` (``nn.utils.rnn``), which
                gives the output as one too.
            hx: the initial state (num_layers * num_directions, N, hidden_size) (without N for
                an unbatched input), or None for zeros; an LSTM takes a tuple (h0, c0).
            lengths: None, or the length of each sequence of the batch (N ints in [1, T]):
                outputs past a sequence's end are zero and the final state is the one at its
                last step (its first, for the reverse direction).

        Returns:
            (output, h_n), or (output, (h_n, c_n)) for an LSTM; output is (T, N, D *
            hidden_size) ((N, T, ...) with ``batch_first``), D = 2 when bidirectional.
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{type(self).__name__}: a PackedSequence carries its lengths; "
                                 "pass lengths= only with a padded tensor")
            padded = input.padded.transpose(0, 1) if self.batch_first else input.padded
            output, state = self.forward(padded, hx, lengths=input.lengths)
            output = output.transpose(0, 1) if self.batch_first else output
            return PackedSequence(output, input.lengths), state
        x, h0, c0, batched = self._check_input(input, hx)
        steps, batch = x.shape[:2]
        order = None
        if lengths is not None:
            lengths, order = self._check_lengths(lengths, batched, steps, batch)
            if order is not None:
                x = x[:, order]
                h0 = None if h0 is None else h0[:, order]
                c0 = None if c0 is None else c0[:, order]
        directions = 2 if self.bidirectional else 1
        finals_h: list[Tensor] = []
        finals_c: list[Tensor] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                result = Recurrent.apply(
                    x, None if h0 is None else h0[k], None if c0 is None else c0[k],
                    *self._layer_weights(k), mode=self.mode, lengths=lengths,
                    reverse=direction == 1)
                outputs.append(result[0])
                finals_h.append(result[1])
                if self.mode == "lstm":
                    finals_c.append(result[2])
            x = outputs[0] if directions == 1 else cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = dropout(x, self.dropout)
        h_n = stack(finals_h)
        c_n = stack(finals_c) if finals_c else None
        if order is not None:
            restore = xp.argsort(order)
            x, h_n = x[:, restore], h_n[:, restore]
            c_n = None if c_n is None else c_n[:, restore]
        if not batched:
            x, h_n = x[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, ((h_n, c_n) if self.mode == "lstm" else h_n)

    def _check_input(self, input: Tensor, hx: Any) -> tuple:
        """(x as (T, N, F), h0, c0 as (L * D, N, H) or None, whether the input was batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expects a Tensor input; got {type(input).__name__}")
        features = self.input_size
        if input.ndim not in (2, 3) or input.shape[-1] != features:
            layout = "(N, T, {0}) or (T, {0}) (batch_first=True)" if self.batch_first else \
                "(T, N, {0}) or (T, {0})"
            hint = (f"input_size={features}, but the input has {input.shape[-1]} features"
                    if input.ndim in (2, 3) else "")
            raise layer_error(self, layout.format(features), input.shape, hint)
        weight = getattr(self, self._weight_names[0][0])
        _check_dtype(self, "the input", input, weight)
        batched = input.ndim == 3
        if not batched:
            x = input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        states = (None, None)
        if hx is not None:
            if self.mode == "lstm":
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{name}: hx must be a tuple (h0, c0); got "
                                    f"{type(hx).__name__}")
                states = tuple(hx)
            else:
                states = (hx, None)
        layers = self.num_layers * (2 if self.bidirectional else 1)
        expected = (layers, x.shape[1], self.hidden_size) if batched else \
            (layers, self.hidden_size)
        checked = []
        for what, state in zip(("h0", "c0"), states):
            if state is None:
                checked.append(None)
                continue
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: {what} must be a Tensor; got {type(state).__name__}")
            if state.shape != expected:
                raise LayerShapeError(
                    self, f"{name} expects {what} of shape {shape_str(expected)} (num_layers * "
                    f"num_directions, {'N, ' if batched else ''}hidden_size) for an input of "
                    f"shape {shape_str(input.shape)}; got {shape_str(state.shape)}")
            _check_dtype(self, what, state, weight)
            checked.append(state if batched else state.unsqueeze(1))
        return x, checked[0], checked[1], batched

    def _check_lengths(self, lengths: Any, batched: bool, steps: int, batch: int) -> tuple:
        """(sorted lengths or None when every sequence is full, the sorting order or None)."""
        name = type(self).__name__
        if not batched:
            raise ValueError(f"{name}: lengths applies to a batch of sequences; this input is "
                             "one unbatched sequence")
        array = check_lengths(name, lengths, steps, batch)
        if xp.all(array == steps):
            return None, None
        if xp.all(array[1:] <= array[:-1]):
            return array, None
        order = xp.argsort(-array, kind="stable")
        return array[order], order

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.mode == "rnn_relu":
            text += ", nonlinearity='relu'"
        for option, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                                ("bidirectional", False)):
            if getattr(self, option) != default:
                text += f", {option}={getattr(self, option)}"
        return text


class RNN(_RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    Args as PyTorch's: input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0 (between layers, in training mode), bidirectional=False.
    ``forward(input, hx=None, lengths=None)`` returns (output, h_n).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's gates (i, f, g, o):  c_t = f * c_{t-1} + i * g,
    h_t = o * tanh(c_t).

    Args as PyTorch's: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0 (between layers, in training mode), bidirectional=False.
    ``forward(input, hx=None, lengths=None)`` with hx = (h0, c0) returns (output, (h_n, c_n)).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)


class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's gates (r, z, n):  n = tanh(W_in x + b_in + r * (W_hn h +
    b_hn)),  h_t = (1 - z) * n + z * h_{t-1}.

    Args as PyTorch's: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0 (between layers, in training mode), bidirectional=False.
    ``forward(input, hx=None, lengths=None)`` returns (output, h_n).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)


class _CellBase(Module):
    """The shared machinery of the cells: parameters weight_ih, weight_hh, bias_ih, bias_hh."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool) -> None:
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = _check_size(name, "input_size", input_size)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        rows = GATES[mode] * hidden_size
        self.weight_ih = Parameter(empty(rows, input_size))
        self.weight_hh = Parameter(empty(rows, hidden_size))
        self.bias_ih = Parameter(empty(rows)) if bias else None
        self.bias_hh = Parameter(empty(rows)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound)

    def _step(self, input: Tensor, states: tuple) -> Any:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expects a Tensor input; got {type(input).__name__}")
        features = self.input_size
        if input.ndim not in (1, 2) or input.shape[-1] != features:
            raise layer_error(self, f"(N, {features}) or ({features},)", input.shape)
        _check_dtype(self, "the input", input, self.weight_ih)
        expected = (*input.shape[:-1], self.hidden_size)
        for what, state in zip(("hx", "cx"), states):
            if state is None:
                continue
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: {what} must be a Tensor; got {type(state).__name__}")
            if state.shape != expected:
                raise LayerShapeError(self, f"{name} expects {what} of shape "
                                      f"{shape_str(expected)} for an input of shape "
                                      f"{shape_str(input.shape)}; got {shape_str(state.shape)}")
            _check_dtype(self, what, state, self.weight_ih)
        return RecurrentCell.apply(input, *states, self.weight_ih, self.weight_hh, self.bias_ih,
                                   self.bias_hh, mode=self.mode)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text + (", nonlinearity='relu'" if self.mode == "rnn_relu" else "")


class RNNCell(_CellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu.
    ``forward(input, hx=None)``: input (N, input_size) or (input_size,), hx like h' or None."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu'; got "
                             f"{nonlinearity!r}")
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, (hx, None))


class LSTMCell(_CellBase):
    """One LSTM step, PyTorch's gates (i, f, g, o). ``forward(input, hx=None)`` with hx = (h, c)
    (each (N, hidden_size) or (hidden_size,)) or None for zeros returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__("lstm", input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c); got {type(hx).__name__}")
        return self._step(input, (None, None) if hx is None else tuple(hx))


class GRUCell(_CellBase):
    """One GRU step, PyTorch's gates (r, z, n). ``forward(input, hx=None)``: input
    (N, input_size) or (input_size,), hx like h' or None for zeros; returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__("gru", input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, (hx, None))


__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]
