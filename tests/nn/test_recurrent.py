"""RNN, LSTM, GRU and their cells: gradcheck of whole layers, parity with torch (weights loaded
from torch's state dict; outputs, final states and every gradient) over the options, variable
lengths against torch's packed sequences, dropout, initialization, errors, and a tiny character
language model that learns."""

import math

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn import functional as F

STEPS, BATCH, FEATURES, HIDDEN = 5, 4, 3, 4
KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
KIND_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
CONFIGS = [
    ({}, False, False),
    ({"num_layers": 2, "dropout": 0.0}, False, True),
    ({"bidirectional": True}, False, False),
    ({"batch_first": True}, True, True),
    ({"num_layers": 2, "bidirectional": True, "batch_first": True}, True, True),
    ({"num_layers": 2, "bidirectional": True}, True, False),
    ({"bias": False, "bidirectional": True}, True, True),
]
CONFIG_IDS = ["plain", "2-layers", "bidirectional", "batch_first+lengths+hx",
              "2-layers-bidirectional+lengths+hx", "2-layers-bidirectional+lengths", "no-bias"]
LENGTHS = [3, 5, 1, 4]


def _layers(torch, kind, options, dtype=np.float64, features=FEATURES):
    """A torch layer and a deepgrad layer with the torch one's weights (its state dict)."""
    torch_layer = getattr(torch.nn, kind)(features, HIDDEN, **options)
    torch_layer = torch_layer.double() if dtype == np.float64 else torch_layer.float()
    layer = getattr(nn, kind)(features, HIDDEN, **options).to(dtype)
    layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    return layer, torch_layer


def _run_both(torch, layer, torch_layer, x, hx=None, lengths=None, seed=1):
    """Outputs of both layers (output and final states, flattened) and the gradients of x, of
    the initial states and of every parameter after backward from random output gradients."""
    batch_first = layer.batch_first
    dtype = x.dtype
    dx, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    d_states = t_states = []
    if hx is not None:
        d_states = [dg.tensor(h, requires_grad=True) for h in hx]
        t_states = [torch.tensor(h, requires_grad=True) for h in hx]
    lstm = layer.mode == "lstm"

    def states(ts):
        if not ts:
            return None
        return tuple(ts) if lstm else ts[0]

    d_out, d_final = layer(dx, states(d_states), lengths=lengths)
    t_in = tx
    if lengths is not None:
        t_in = torch.nn.utils.rnn.pack_padded_sequence(
            tx, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    t_out, t_final = torch_layer(t_in, states(t_states))
    if lengths is not None:
        t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            t_out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    d_outs = [d_out, *(d_final if lstm else [d_final])]
    t_outs = [t_out, *(t_final if lstm else [t_final])]
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(o.shape).astype(dtype) for o in d_outs]
    sum((o * dg.tensor(g)).sum() for o, g in zip(d_outs, grads)).backward()
    sum((o * torch.tensor(g)).sum() for o, g in zip(t_outs, grads)).backward()
    d_grads = [dx.grad, *(s.grad for s in d_states)]
    t_grads = [tx.grad, *(s.grad for s in t_states)]
    for name, p in torch_layer.named_parameters():
        d_grads.append(getattr(layer, name).grad)
        t_grads.append(p.grad)
    return d_outs, t_outs, d_grads, t_grads


def _compare(torch, layer, torch_layer, x, hx=None, lengths=None, dtype=np.float64):
    d_outs, t_outs, d_grads, t_grads = _run_both(torch, layer, torch_layer, x, hx, lengths)
    for i, (d, t) in enumerate(zip(d_outs, t_outs)):
        assert_close(d, t, dtype, f"output {i}")
    params = [name for name, _ in torch_layer.named_parameters()]
    names = ["x", "h0", "c0"][:len(d_grads) - len(params)] + params
    for name, d, t in zip(names, d_grads, t_grads):
        assert_close(d, t, dtype, f"gradient of {name}")


def _inputs(layer, batched=True, seed=0, dtype=np.float64, with_hx=True):
    rng = np.random.default_rng(seed)
    shape = (BATCH, STEPS) if layer.batch_first else (STEPS, BATCH)
    x = rng.standard_normal((*shape, layer.input_size) if batched else
                            (STEPS, layer.input_size)).astype(dtype)
    if not with_hx:
        return x, None
    layers = layer.num_layers * (2 if layer.bidirectional else 1)
    state = (layers, BATCH, HIDDEN) if batched else (layers, HIDDEN)
    hx = [rng.standard_normal(state).astype(dtype) for _ in range(2 if layer.mode == "lstm"
                                                                  else 1)]
    return x, hx


@pytest.mark.parametrize(("options", "use_lengths", "use_hx"), CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_parity_with_torch_float64(torch, kind, extra, options, use_lengths, use_hx):
    layer, torch_layer = _layers(torch, kind, {**extra, **options})
    x, hx = _inputs(layer, with_hx=use_hx)
    _compare(torch, layer, torch_layer, x, hx, LENGTHS if use_lengths else None)


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_parity_with_torch_float32(torch, kind, extra):
    options = {**extra, "num_layers": 2, "bidirectional": True}
    layer, torch_layer = _layers(torch, kind, options, np.float32)
    x, hx = _inputs(layer, dtype=np.float32)
    _compare(torch, layer, torch_layer, x, hx, LENGTHS, np.float32)


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_parity_unbatched(torch, kind, extra):
    layer, torch_layer = _layers(torch, kind, {**extra, "num_layers": 2, "bidirectional": True})
    x, hx = _inputs(layer, batched=False)
    _compare(torch, layer, torch_layer, x, hx)
    layer.zero_grad()
    torch_layer.zero_grad()
    _compare(torch, layer, torch_layer, x)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_between_layers(torch, kind):
    # p = 1 drops everything between the layers, deterministically on both sides
    layer, torch_layer = _layers(torch, kind, {"num_layers": 2, "dropout": 1.0})
    x, hx = _inputs(layer)
    _compare(torch, layer, torch_layer, x, hx)
    # in eval mode dropout is off
    layer, torch_layer = _layers(torch, kind, {"num_layers": 2, "dropout": 0.5})
    layer.eval()
    torch_layer.eval()
    _compare(torch, layer, torch_layer, x, hx)
    # in train mode it changes the output, reproducibly under a seed, and not the last layer's
    layer.train()
    dx = dg.tensor(x)
    reference = layer(dx)[0].numpy()
    dg.manual_seed(3)
    first = layer(dx)[0].numpy()
    dg.manual_seed(3)
    np.testing.assert_array_equal(layer(dx)[0].numpy(), first)
    assert not np.allclose(first, reference)
    one_layer = getattr(nn, kind)(FEATURES, HIDDEN, dropout=0.5).double()
    np.testing.assert_array_equal(one_layer(dx)[0].numpy(), one_layer(dx)[0].numpy())


def _gradcheck_layer(layer, x, hx=None, lengths=None, seed=None):
    """gradcheck of a layer with respect to its input, initial states and every parameter."""
    names = [name for name, _ in layer.named_parameters()]
    params = [p for _, p in layer.named_parameters()]
    states = [dg.tensor(h, requires_grad=True) for h in hx] if hx is not None else []

    def fn(x, *rest):
        for name, p in zip(names, rest):
            layer._parameters[name] = p  # the gradcheck's own leaves, in place of the weights
        given = rest[len(names):]
        if seed is not None:
            dg.manual_seed(seed)
        hx = (tuple(given) if layer.mode == "lstm" else given[0]) if given else None
        output, final = layer(x, hx, lengths=lengths)
        return (output, *final) if isinstance(final, tuple) else (output, final)

    assert dg.gradcheck(fn, [dg.tensor(x, requires_grad=True), *params, *states])


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(("options", "use_lengths", "use_hx"), [
    ({}, False, False),
    ({"num_layers": 2, "bidirectional": True, "batch_first": True}, True, True),
], ids=["plain", "2-layers-bidirectional+batch_first+lengths+hx"])
def test_gradcheck_layer(kind, extra, options, use_lengths, use_hx):
    layer = getattr(nn, kind)(2, 2, **extra, **options).double()
    rng = np.random.default_rng(0)
    shape = (3, 4, 2) if layer.batch_first else (4, 3, 2)
    x = rng.standard_normal(shape)
    hx = None
    if use_hx:
        layers = layer.num_layers * (2 if layer.bidirectional else 1)
        hx = [rng.standard_normal((layers, 3, 2)) for _ in range(2 if kind == "LSTM" else 1)]
    _gradcheck_layer(layer, x, hx, [4, 1, 3] if use_lengths else None)


def test_gradcheck_through_dropout_between_layers():
    layer = nn.GRU(2, 2, num_layers=2, dropout=0.4).double()
    _gradcheck_layer(layer, np.random.default_rng(0).standard_normal((3, 2, 2)), seed=5)


def test_lengths_full_or_as_a_tensor_give_the_same_results():
    layer = nn.LSTM(FEATURES, HIDDEN, bidirectional=True).double()
    x, _ = _inputs(layer, with_hx=False)
    dx = dg.tensor(x)
    plain = layer(dx)
    full = layer(dx, lengths=np.full(BATCH, STEPS))
    assert_close(full[0], plain[0].numpy())
    assert_close(full[1][0], plain[1][0].numpy())
    as_list = layer(dx, lengths=LENGTHS)
    as_tensor = layer(dx, lengths=dg.tensor(LENGTHS))
    assert_close(as_tensor[0], as_list[0].numpy())
    assert not np.any(as_list[0].numpy()[3:, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_parity_with_torch(torch, kind, dtype):
    torch_cell = getattr(torch.nn, kind)(FEATURES, HIDDEN)
    torch_cell = torch_cell.double() if dtype == np.float64 else torch_cell
    cell = getattr(nn, kind)(FEATURES, HIDDEN).to(dtype)
    cell.load_state_dict({k: v.detach().numpy() for k, v in torch_cell.state_dict().items()})
    rng = np.random.default_rng(4)
    lstm = kind == "LSTMCell"
    for batch in ((BATCH,), ()):
        for with_state in (True, False):
            x = rng.standard_normal((*batch, FEATURES)).astype(dtype)
            states = [rng.standard_normal((*batch, HIDDEN)).astype(dtype)
                      for _ in range(2 if lstm else 1)] if with_state else []
            d_in = [dg.tensor(a, requires_grad=True) for a in [x, *states]]
            t_in = [torch.tensor(a, requires_grad=True) for a in [x, *states]]

            def call(module, inputs):
                hx = None if len(inputs) == 1 else tuple(inputs[1:]) if lstm else inputs[1]
                out = module(inputs[0], hx)
                return list(out) if lstm else [out]

            d_out, t_out = call(cell, d_in), call(torch_cell, t_in)
            grads = [rng.standard_normal(o.shape).astype(dtype) for o in d_out]
            sum((o * dg.tensor(g)).sum() for o, g in zip(d_out, grads)).backward()
            sum((o * torch.tensor(g)).sum() for o, g in zip(t_out, grads)).backward()
            for d, t in zip(d_out, t_out):
                assert_close(d, t, dtype, "output")
            for d, t in zip(d_in, t_in):
                assert_close(d.grad, t.grad, dtype, "input gradient")
            for name, p in torch_cell.named_parameters():
                assert_close(getattr(cell, name).grad, p.grad, dtype, name)
            cell.zero_grad()
            torch_cell.zero_grad()


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_gradcheck_cell_module(kind):
    cell = getattr(nn, kind)(3, 2).double()
    names = [name for name, _ in cell.named_parameters()]
    rng = np.random.default_rng(0)
    lstm = kind == "LSTMCell"

    def fn(x, h, c, *params):
        for name, p in zip(names, params):
            cell._parameters[name] = p
        return cell(x, (h, c) if lstm else h)

    inputs = [dg.tensor(rng.standard_normal(shape), requires_grad=True)
              for shape in ((2, 3), (2, 2), (2, 2))]
    assert dg.gradcheck(fn, [*inputs, *cell.parameters()])


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_names_shapes_and_initialization_match_torch(torch, kind, extra):
    options = {**extra, "num_layers": 2, "bidirectional": True}
    torch_layer = getattr(torch.nn, kind)(7, 64, **options)
    layer = getattr(nn, kind)(7, 64, **options)
    assert [(n, tuple(p.shape)) for n, p in layer.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in torch_layer.named_parameters()]
    assert list(layer.state_dict()) == list(torch_layer.state_dict())
    bound = 1 / math.sqrt(64)
    values = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
    assert values.dtype == np.float32
    assert np.all(np.abs(values) <= bound)
    assert abs(values.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert len(list(nn.LSTM(7, 64, bias=False).parameters())) == 2


def test_repr():
    assert repr(nn.LSTM(10, 20)) == "LSTM(10, 20)"
    assert repr(nn.RNN(10, 20, 2, nonlinearity="relu", batch_first=True, dropout=0.5,
                       bidirectional=True)) == \
        "RNN(10, 20, num_layers=2, nonlinearity='relu', batch_first=True, dropout=0.5, " \
        "bidirectional=True)"
    assert repr(nn.GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.GRU(32, 20)

    def forward(self, x):
        return self.encoder(x)[1]


def test_errors():
    lstm = nn.LSTM(32, 20, num_layers=2)
    x = dg.randn(5, 4, 32)
    with pytest.raises(dg.ShapeError, match=r"^LSTM expects input \(T, N, 32\) or \(T, 32\); got "
                                            r"\(5, 4, 16\)\. input_size=32, but the input has 16 "
                                            r"features$"):
        lstm(dg.randn(5, 4, 16))
    with pytest.raises(dg.ShapeError, match=r"GRU expects input \(N, T, 32\) or \(T, 32\) "
                                            r"\(batch_first=True\); got \(2, 5, 4, 32\)"):
        nn.GRU(32, 20, batch_first=True)(dg.randn(2, 5, 4, 32))
    with pytest.raises(dg.ShapeError, match=r"GRU 'encoder' expects input \(T, N, 32\)"):
        _Encoder()(dg.randn(5, 4, 8))
    with pytest.raises(dg.ShapeError, match=r"LSTM expects h0 of shape \(2, 4, 20\) "
                                            r"\(num_layers \* num_directions, N, hidden_size\) "
                                            r"for an input of shape \(5, 4, 32\); got "
                                            r"\(1, 4, 20\)"):
        lstm(x, (dg.zeros(1, 4, 20), dg.zeros(2, 4, 20)))
    with pytest.raises(dg.ShapeError, match=r"LSTM expects c0 of shape \(2, 20\) "
                                            r"\(num_layers \* num_directions, hidden_size\) for "
                                            r"an input of shape \(5, 32\); got \(2, 4, 20\)"):
        lstm(x[:, 0], (dg.zeros(2, 20), dg.zeros(2, 4, 20)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h0, c0\); got Tensor"):
        lstm(x, dg.zeros(2, 4, 20))
    with pytest.raises(ValueError, match=r"LSTM: lengths\[2\] = 9 is out of range for sequences "
                                         r"of 5 steps \(expected 1 to 5\)"):
        lstm(x, lengths=[5, 3, 9, 1])
    with pytest.raises(ValueError, match=r"LSTM: lengths\[1\] = 0 is out of range"):
        lstm(x, lengths=[5, 0, 2, 1])
    with pytest.raises(ValueError, match=r"LSTM: lengths must be 4 integers, one per sequence of "
                                         r"the batch; got int64 of shape \(3\)"):
        lstm(x, lengths=[5, 3, 2])
    with pytest.raises(ValueError, match=r"lengths must be 4 integers.*got float64"):
        lstm(x, lengths=[5.0, 3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="LSTM: lengths applies to a batch of sequences; this "
                                         "input is one unbatched sequence"):
        lstm(x[:, 0], lengths=[5])
    with pytest.raises(TypeError, match=r"LSTM: the input has dtype float64 but the layer's "
                                        r"weights are float32; convert one of them"):
        lstm(x.double())
    with pytest.raises(TypeError, match="GRU: h0 has dtype float64 but the layer's weights are "
                                        "float32"):
        nn.GRU(32, 20)(x, dg.zeros(1, 4, 20, dtype=dg.float64))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'; got "
                                         "'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"GRU: dropout must be a probability between 0 and 1; "
                                         r"got 1\.5"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match=r"LSTM: hidden_size must be an integer >= 1; got 0"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match=r"RNN: num_layers must be an integer >= 1; got 1\.5"):
        nn.RNN(3, 4, num_layers=1.5)


def test_cell_errors():
    cell = nn.LSTMCell(10, 20)
    with pytest.raises(dg.ShapeError, match=r"LSTMCell expects input \(N, 10\) or \(10,\); got "
                                            r"\(3, 5\)"):
        cell(dg.randn(3, 5))
    with pytest.raises(dg.ShapeError, match=r"GRUCell expects hx of shape \(3, 20\) for an input "
                                            r"of shape \(3, 10\); got \(3, 21\)"):
        nn.GRUCell(10, 20)(dg.randn(3, 10), dg.randn(3, 21))
    with pytest.raises(dg.ShapeError, match=r"LSTMCell expects cx of shape \(20\)"):
        cell(dg.randn(10), (dg.randn(20), dg.randn(3, 20)))
    with pytest.raises(TypeError, match=r"LSTMCell: hx must be a tuple \(h, c\); got Tensor"):
        cell(dg.randn(3, 10), dg.randn(3, 20))
    with pytest.raises(TypeError, match="RNNCell: the input has dtype float64"):
        nn.RNNCell(10, 20)(dg.randn(3, 10, dtype=dg.float64))
    with pytest.raises(ValueError, match="RNNCell: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNNCell(10, 20, nonlinearity="gelu")


def test_tiny_char_lm_learns_a_repeated_pattern():
    text = "the cat sat on the mat. " * 40
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text])
    dg.manual_seed(0)
    embedding = nn.Embedding(len(vocab), 8)
    lstm = nn.LSTM(8, 48, batch_first=True)
    head = nn.Linear(48, len(vocab))
    params = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = dg.optim.Adam(params, lr=0.02)
    rng = np.random.default_rng(0)
    steps, batch = 24, 16
    for _ in range(150):
        starts = rng.integers(0, len(ids) - steps - 1, batch)
        window = ids[starts[:, None] + np.arange(steps + 1)]
        output, _ = lstm(embedding(dg.tensor(window[:, :-1])))
        logits = head(output).reshape(batch * steps, len(vocab))
        loss = F.cross_entropy(logits, dg.tensor(window[:, 1:].reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # the first characters of a window are ambiguous; after a few the pattern is determined
    assert loss.item() < 0.25
