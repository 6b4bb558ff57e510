"""RNN, GRU and LSTM kernels against PyTorch (its gates reordered to ONNX's: LSTM i,f,g,o ->
i,o,f,c; GRU r,z,n -> z,r,h) and against onnxruntime (peepholes, clip, input_forget,
activations, sequence lengths, linear_before_reset=0, omitted outputs)."""

from __future__ import annotations

import numpy as np
import pytest
from runtime.oracle import assert_matches, one_node, outputs_of

rng = np.random.default_rng(2)

# PyTorch's gate blocks in ONNX's order.
_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def f32(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _onnx_weights(layer, op: str, directions: int) -> tuple[np.ndarray, ...]:
    """W, R, B of a one-layer torch recurrent module, in ONNX's layout and gate order."""
    def reorder(t):
        blocks = np.split(t.detach().numpy(), len(_ORDER[op]))
        return np.concatenate([blocks[i] for i in _ORDER[op]])

    suffixes = ["", "_reverse"][:directions]
    w = np.stack([reorder(getattr(layer, f"weight_ih_l0{s}")) for s in suffixes])
    r = np.stack([reorder(getattr(layer, f"weight_hh_l0{s}")) for s in suffixes])
    b = np.stack([np.concatenate([reorder(getattr(layer, f"bias_ih_l0{s}")),
                                  reorder(getattr(layer, f"bias_hh_l0{s}"))]) for s in suffixes])
    return w, r, b


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_recurrent_matches_torch(torch, op, bidirectional, batch_first):
    torch.manual_seed(0)
    steps, batch, inputs, hidden = 5, 3, 4, 6
    directions = 2 if bidirectional else 1
    layer = getattr(torch.nn, op)(inputs, hidden, batch_first=batch_first,
                                  bidirectional=bidirectional)
    w, r, b = _onnx_weights(layer, op, directions)
    x = f32(batch, steps, inputs) if batch_first else f32(steps, batch, inputs)
    state_shape = (batch, directions, hidden) if batch_first else (directions, batch, hidden)
    h0 = f32(*state_shape)
    c0 = f32(*state_shape) if op == "LSTM" else None
    attrs = {"hidden_size": hidden, "layout": int(batch_first),
             "direction": "bidirectional" if bidirectional else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    node_inputs = [x, w, r, b, None, h0] + ([c0] if op == "LSTM" else [])
    graph, feeds = one_node(op, node_inputs, attrs, 3 if op == "LSTM" else 2, constant=(1, 2, 3))
    outputs = outputs_of(graph, feeds)

    torch_h0 = torch.tensor(h0.transpose(1, 0, 2) if batch_first else h0)
    with torch.no_grad():
        if op == "LSTM":
            torch_c0 = torch.tensor(c0.transpose(1, 0, 2) if batch_first else c0)
            y, (h, c) = layer(torch.tensor(x), (torch_h0, torch_c0))
        else:
            y, h = layer(torch.tensor(x), torch_h0)
    # torch: Y (T, N, D*H) -> ONNX (T, D, N, H); layout 1: (N, T, D*H) -> (N, T, D, H)
    y = y.numpy()
    if batch_first:
        y = y.reshape(batch, steps, directions, hidden)
    else:
        y = y.reshape(steps, batch, directions, hidden).transpose(0, 2, 1, 3)
    states = [h.numpy()] + ([c.numpy()] if op == "LSTM" else [])
    if batch_first:
        states = [s.transpose(1, 0, 2) for s in states]
    assert_matches(outputs, [y, *states], what=op)


def _random_weights(op: str, directions: int, inputs: int, hidden: int) -> list[np.ndarray]:
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    return [f32(directions, gates * hidden, inputs), f32(directions, gates * hidden, hidden),
            f32(directions, 2 * gates * hidden)]


LENGTHS = np.array([5, 2, 0, 4], np.int32)

# (op, attrs, has sequence lengths, peepholes, outputs, constant weights)
ORT_CASES = [
    ("LSTM", {"direction": "forward"}, True, True, 3, True),
    ("LSTM", {"direction": "reverse", "clip": 0.4}, True, False, 3, True),
    ("LSTM", {"direction": "bidirectional", "input_forget": 1}, False, True, 3, False),
    ("LSTM", {"direction": "bidirectional"}, True, False, ["", "y_h", "y_c"], True),
    ("LSTM", {"activations": ["Tanh", "Relu", "Sigmoid"]}, False, False, 3, True),
    ("GRU", {"direction": "bidirectional"}, True, None, 2, True),
    ("GRU", {"linear_before_reset": 1, "direction": "reverse"}, True, None, 2, True),
    ("GRU", {"activations": ["Softsign", "Softplus"], "clip": 1.5}, False, None, 2, False),
    ("RNN", {"direction": "bidirectional", "activations": ["Relu", "Tanh"]}, True, None, 2,
     True),
    ("RNN", {"direction": "reverse"}, False, None, ["", "y_h"], True),
]


@pytest.mark.parametrize(("op", "attrs", "lengths", "peepholes", "outputs", "constant"),
                         ORT_CASES)
def test_recurrent_matches_onnxruntime(oracle, op, attrs, lengths, peepholes, outputs,
                                       constant):
    steps, batch, inputs, hidden = 5, 4, 3, 4
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    node_inputs = [f32(steps, batch, inputs, scale=1.0),
                   *_random_weights(op, directions, inputs, hidden),
                   LENGTHS if lengths else None, f32(directions, batch, hidden)]
    if op == "LSTM":
        node_inputs += [f32(directions, batch, hidden), f32(directions, 3 * hidden)
                        if peepholes else None]
    graph, feeds = one_node(op, node_inputs, {"hidden_size": hidden, **attrs}, outputs,
                            constant=(1, 2, 3, 7) if constant else ())
    assert_matches(outputs_of(graph, feeds), oracle(graph, feeds), what=op)


def test_recurrent_errors():
    x, (w, r, b) = f32(5, 2, 3), _random_weights("LSTM", 1, 3, 4)
    with pytest.raises(ValueError, match=r"W must be \(1, 16, input_size\); got \(1, 12, 3\)"):
        outputs_of(*one_node("LSTM", [x, w[:, :12], r, b], {}, 1, constant=(1, 2, 3)))
    with pytest.raises(ValueError, match="hidden_size=5 but R has hidden size 4"):
        outputs_of(*one_node("LSTM", [x, w, r, b], {"hidden_size": 5}, 1, constant=(1, 2, 3)))
    with pytest.raises(ValueError, match="activation 'Affine' is not supported"):
        outputs_of(*one_node("LSTM", [x, w, r, b], {"activations": ["Affine", "Tanh", "Tanh"]},
                             1, constant=(1, 2, 3)))
    with pytest.raises(ValueError, match=r"sequence_lens must lie in \[0, 5\]"):
        outputs_of(*one_node("LSTM", [x, w, r, b, np.array([6, 1], np.int32)], {}, 1,
                             constant=(1, 2, 3)))
    with pytest.raises(ValueError, match=r"X must be \(seq, batch, 3\); got \(5, 2, 4\)"):
        outputs_of(*one_node("LSTM", [f32(5, 2, 4), w, r, b], {}, 1, constant=(1, 2, 3)))
