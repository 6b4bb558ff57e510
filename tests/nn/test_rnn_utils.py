"""nn.utils.rnn: pad_sequence and packed sequences through RNN/LSTM/GRU, against torch's functions
(outputs, lengths, gradients), and their errors."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn.utils import rnn

LENGTHS = [2, 5, 3]


def _sequences(lengths=LENGTHS, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, features)) for n in lengths]


@pytest.mark.parametrize("options", [
    {}, {"batch_first": True}, {"padding_value": -2.0}, {"padding_side": "left"},
    {"batch_first": True, "padding_side": "left", "padding_value": 1.5},
])
def test_pad_sequence_matches_torch(torch, options):
    arrays = _sequences()
    ours = [dg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    d, t = rnn.pad_sequence(ours, **options), torch.nn.utils.rnn.pad_sequence(theirs, **options)
    assert_close(d, t, np.float64, "padded")
    g = np.random.default_rng(1).standard_normal(d.shape)
    (d * dg.tensor(g)).sum().backward()
    (t * torch.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, b.grad, np.float64, f"gradient of sequence {i}")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_batches_through_recurrent_layers_match_torch(torch, kind, batch_first):
    torch_layer = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True,
                                          batch_first=batch_first).double()
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True,
                              batch_first=batch_first).double()
    layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    arrays = _sequences()
    ours = [dg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    padded = rnn.pad_sequence(ours, batch_first=batch_first)
    packed = rnn.pack_padded_sequence(padded, LENGTHS, batch_first=batch_first,
                                      enforce_sorted=False)
    out, state = layer(packed)
    d, d_lengths = rnn.pad_packed_sequence(out, batch_first=batch_first, padding_value=-1.0,
                                           total_length=6)
    t_packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.nn.utils.rnn.pad_sequence(theirs, batch_first=batch_first), torch.tensor(LENGTHS),
        batch_first=batch_first, enforce_sorted=False)
    t_out, t_state = torch_layer(t_packed)
    t, t_lengths = torch.nn.utils.rnn.pad_packed_sequence(
        t_out, batch_first=batch_first, padding_value=-1.0, total_length=6)
    assert d_lengths.numpy().tolist() == t_lengths.tolist() == LENGTHS
    assert_close(d, t, np.float64, "output")
    h, th = (state[0], t_state[0]) if kind == "LSTM" else (state, t_state)
    assert_close(h, th, np.float64, "h_n")
    g = np.random.default_rng(2).standard_normal(d.shape)
    ((d * dg.tensor(g)).sum() + h.sum()).backward()
    ((t * torch.tensor(g)).sum() + th.sum()).backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, b.grad, np.float64, f"gradient of sequence {i}")
    for name, p in torch_layer.named_parameters():
        assert_close(getattr(layer, name).grad, p.grad, np.float64, f"gradient of {name}")


def test_pack_sequence_and_the_default_padding():
    gru = nn.GRU(3, 2).double()
    arrays = _sequences([4, 4, 1])
    packed = rnn.pack_sequence([dg.tensor(a) for a in arrays])
    assert packed.lengths.tolist() == [4, 4, 1] and packed.padded.shape == (4, 3, 3)
    out, _ = gru(packed)
    padded, lengths = rnn.pad_packed_sequence(out)
    same, _ = gru(packed.padded, lengths=lengths)
    np.testing.assert_array_equal(padded.numpy(), same.numpy())
    assert not padded.numpy()[1:, 2].any()  # past the third sequence's one step: zeros


def test_errors_say_what_is_wrong():
    a, b = dg.ones(3, 2), dg.ones(2, 2)
    with pytest.raises(ValueError, match="decreasing order"):
        rnn.pack_sequence([b, a])
    with pytest.raises(ValueError, match="out of range"):
        rnn.pack_padded_sequence(rnn.pad_sequence([a, b]), [4, 2])
    with pytest.raises(dg.ShapeError, match="same trailing shape"):
        rnn.pad_sequence([a, dg.ones(2, 3)])
    with pytest.raises(TypeError, match="must be a Tensor"):
        rnn.pad_sequence([a, np.ones((2, 2))])
    packed = rnn.pack_sequence([a, b])
    with pytest.raises(ValueError, match="total_length=2"):
        rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(TypeError, match="PackedSequence"):
        rnn.pad_packed_sequence(a)
    with pytest.raises(ValueError, match="carries its lengths"):
        nn.RNN(2, 2)(packed, lengths=[3, 2])
    with pytest.raises(ValueError, match="padding_side"):
        rnn.pad_sequence([a], padding_side="both")
