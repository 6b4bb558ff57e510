"""The fused recurrent ops: gradcheck of a whole layer-direction and of each cell, every mode and
option; parity of the cells with torch's; no-grad forward; saved-tensor checks; errors."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops.recurrent import GATES, gru_cell, lstm_cell, recurrent, rnn_cell

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
STEPS, BATCH, FEATURES, HIDDEN = 4, 3, 3, 2


def _arrays(mode, seed=0, batch=BATCH, bias=True):
    """x, h0, c0, w_ih, w_hh, b_ih, b_hh as float64 arrays (c0 only for the LSTM)."""
    rng = np.random.default_rng(seed)
    rows = GATES[mode] * HIDDEN
    return [rng.standard_normal((STEPS, batch, FEATURES)),
            rng.standard_normal((batch, HIDDEN)),
            rng.standard_normal((batch, HIDDEN)) if mode == "lstm" else None,
            rng.standard_normal((rows, FEATURES)) * 0.7,
            rng.standard_normal((rows, HIDDEN)) * 0.7,
            rng.standard_normal(rows) if bias else None,
            rng.standard_normal(rows) if bias else None]


def _tensors(arrays, initial=True):
    return [None if a is None or (not initial and i in (1, 2)) else
            dg.tensor(a, requires_grad=True) for i, a in enumerate(arrays)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("reverse", "lengths", "initial", "bias"), [
    (False, None, True, True), (True, None, True, True), (False, None, False, False),
    (False, [4, 3, 1], True, True), (True, [4, 2, 2], True, True),
    (True, [3, 3, 1], False, True)])
def test_gradcheck_sequence(mode, reverse, lengths, initial, bias):
    inputs = _tensors(_arrays(mode, bias=bias), initial)

    def fn(*args):
        return recurrent(*args, mode, lengths=lengths, reverse=reverse)

    assert dg.gradcheck(fn, inputs)


@pytest.mark.parametrize(("mode", "used"), [(m, u) for m in MODES for u in ["output", "h_n"]]
                         + [("lstm", "c_n")])
def test_gradcheck_with_only_one_output_used(mode, used):
    index = ["output", "h_n", "c_n"].index(used)
    inputs = _tensors(_arrays(mode))
    assert dg.gradcheck(lambda *a: recurrent(*a, mode, lengths=[4, 2, 1])[index], inputs)


def _cell_fn(mode):
    if mode == "lstm":
        return lambda x, h, c, *w: lstm_cell(x, (h, c), *w)
    if mode == "gru":
        return lambda x, h, c, *w: gru_cell(x, h, *w)
    return lambda x, h, c, *w: rnn_cell(x, h, *w, nonlinearity=mode[4:])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("unbatched", [False, True])
def test_gradcheck_cell(mode, unbatched):
    x, h, c, *weights = _arrays(mode)
    if unbatched:
        x, h, c = x[0, 0], h[0], None if c is None else c[0]
    else:
        x = x[0]
    inputs = _tensors([x, h, c, *weights])
    assert dg.gradcheck(_cell_fn(mode), inputs)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_cell_without_state_or_bias(mode):
    x, _, _, w_ih, w_hh, _, _ = _arrays(mode)
    inputs = _tensors([x[0], None, None, w_ih, w_hh, None, None])
    assert dg.gradcheck(_cell_fn(mode), inputs)


TORCH_CELLS = {"rnn_tanh": "rnn_tanh_cell", "rnn_relu": "rnn_relu_cell", "lstm": "lstm_cell",
               "gru": "gru_cell"}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
def test_cell_parity_with_torch(torch, mode, dtype):
    x, h, c, *weights = _arrays(mode, seed=3)
    arrays = [a.astype(dtype) for a in [x[0], h] + ([c] if mode == "lstm" else []) + weights]
    torch_cell = getattr(torch, TORCH_CELLS[mode])
    if mode == "lstm":
        check_parity(torch, lambda x, h, c, *w: lstm_cell(x, (h, c), *w),
                     lambda x, h, c, *w: torch_cell(x, (h, c), *w), arrays)
    else:
        check_parity(torch, lambda x, h, *w: _cell_fn(mode)(x, h, None, *w), torch_cell, arrays)


@pytest.mark.parametrize("mode", MODES)
def test_no_grad_forward_matches_the_recorded_one(mode):
    inputs = _tensors(_arrays(mode))
    recorded = recurrent(*inputs, mode, lengths=[4, 3, 1], reverse=True)
    with dg.no_grad():
        plain = recurrent(*inputs, mode, lengths=[4, 3, 1], reverse=True)
    for a, b in zip(recorded, plain):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert not b.requires_grad


@pytest.mark.parametrize("mode", MODES)
def test_outputs_past_each_end_are_zero_and_padding_is_ignored(mode):
    arrays = _arrays(mode)
    lengths = [4, 2, 1]
    for reverse in (False, True):
        y, h_n = recurrent(*_tensors(arrays), mode, lengths=lengths, reverse=reverse)[:2]
        changed = [a.copy() if a is not None else None for a in arrays]
        changed[0][2:, 1] = 100.0  # padding of sequence 1
        changed[0][1:, 2] = -7.0
        y2, h_n2 = recurrent(*_tensors(changed), mode, lengths=lengths, reverse=reverse)[:2]
        assert_close(y2, y.numpy())
        assert_close(h_n2, h_n.numpy())
        for b, length in enumerate(lengths):
            assert not np.any(y.numpy()[length:, b])
        # the final state: the last step's output going forward, the first going backward
        last = [0 if reverse else length - 1 for length in lengths]
        assert_close(h_n, y.numpy()[last, np.arange(BATCH)])


def test_retain_graph_backward_twice_doubles_the_gradients():
    inputs = _tensors(_arrays("lstm"))
    y, _, c_n = recurrent(*inputs, "lstm")
    loss = (y * y).sum() + c_n.sum()
    loss.backward(retain_graph=True)
    first = [t.grad.numpy().copy() for t in inputs if t is not None]
    loss.backward()
    for g, t in zip(first, [t for t in inputs if t is not None]):
        assert_close(t.grad, 2 * g)


def test_modifying_a_saved_input_in_place_is_caught():
    inputs = _tensors(_arrays("rnn_tanh"))
    inputs[0] = inputs[0].detach()
    y, _ = recurrent(*inputs, "rnn_tanh")
    loss = y.sum()
    inputs[0] += 1
    with pytest.raises(dg.BackwardError, match="modified in place"):
        loss.backward()


def test_float32_stays_float32():
    arrays = [None if a is None else a.astype(np.float32) for a in _arrays("gru")]
    inputs = _tensors(arrays)
    y, h_n = recurrent(*inputs, "gru")
    (y.sum() + h_n.sum()).backward()
    assert y.dtype == dg.float32 and h_n.dtype == dg.float32
    assert all(t.grad.dtype == dg.float32 for t in inputs if t is not None)


def test_errors():
    x, h, c, w_ih, w_hh, b_ih, b_hh = _tensors(_arrays("lstm"))
    with pytest.raises(ValueError, match="recurrent: mode must be one of rnn_tanh, rnn_relu, "
                                         "lstm, gru; got 'elman'"):
        recurrent(x, h, c, w_ih, w_hh, b_ih, b_hh, "elman")
    with pytest.raises(dg.ShapeError, match=r"recurrent: weight_hh must be \(3 \* hidden_size, "
                                            r"hidden_size\); got \(8, 2\)"):
        recurrent(x, h, None, w_ih, w_hh, b_ih, b_hh, "gru")
    with pytest.raises(dg.ShapeError, match=r"recurrent: expects input \(T, N, 3\); got "
                                            r"\(4, 3, 2\)"):
        recurrent(x[..., :2], h, c, w_ih, w_hh, b_ih, b_hh, "lstm")
    with pytest.raises(dg.ShapeError, match=r"recurrent: hx must be \(3, 2\) for an input of "
                                            r"shape \(4, 3, 3\); got \(2, 2\)"):
        recurrent(x, h[:2], c, w_ih, w_hh, b_ih, b_hh, "lstm")
    with pytest.raises(dg.ShapeError, match=r"bias_hh must be \(8\); got \(7\)"):
        recurrent(x, h, c, w_ih, w_hh, b_ih, b_hh[:7], "lstm")
    with pytest.raises(ValueError, match="recurrent: c0 is the cell state of an LSTM; mode 'gru' "
                                         "has none"):
        recurrent(x, h, c, w_ih[:6], w_hh[:6], b_ih[:6], b_hh[:6], "gru")
    with pytest.raises(ValueError, match="give both biases or neither"):
        recurrent(x, h, c, w_ih, w_hh, b_ih, None, "lstm")
    with pytest.raises(TypeError, match="one floating dtype; got float64, float64, float64, "
                                        "float32"):
        recurrent(x, h, c, w_ih.float(), w_hh, None, None, "lstm")
    with pytest.raises(ValueError, match=r"recurrent: lengths\[1\] = 5 is out of range for "
                                         r"sequences of 4 steps \(expected 1 to 4\)"):
        recurrent(x, h, c, w_ih, w_hh, b_ih, b_hh, "lstm", lengths=[4, 5, 1])
    with pytest.raises(ValueError, match="lengths must be 3 integers, one per sequence of the "
                                         r"batch; got int64 of shape \(2\)"):
        recurrent(x, h, c, w_ih, w_hh, b_ih, b_hh, "lstm", lengths=[4, 4])
    with pytest.raises(ValueError, match="lengths must be sorted in decreasing order"):
        recurrent(x, h, c, w_ih, w_hh, b_ih, b_hh, "lstm", lengths=[1, 4, 2])
    with pytest.raises(dg.ShapeError, match=r"lstm_cell: expects input \(N, 3\) or \(3,\); got "
                                            r"\(4, 3, 3\)"):
        lstm_cell(x, None, w_ih, w_hh)
    with pytest.raises(dg.ShapeError, match=r"lstm_cell: cx must be \(3, 2\)"):
        lstm_cell(x[0], (h, c[:, :1]), w_ih, w_hh)
    with pytest.raises(ValueError, match="rnn_cell: nonlinearity must be 'tanh' or 'relu'; got "
                                         "'sigmoid'"):
        rnn_cell(x[0], h, w_ih[:2], w_hh[:2], nonlinearity="sigmoid")
