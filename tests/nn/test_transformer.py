"""Transformer layers: parity with torch (weights from torch's state dict; outputs and the
gradients of inputs and every parameter) over norm_first, activations, layouts and masks;
stacks as deep copies; dropout in train mode; errors; a tiny classifier that learns."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad import nn, optim

D_MODEL, NHEAD, FF = 8, 2, 12
S, T, N = 5, 4, 3
RNG = np.random.default_rng(0)
PADDING = np.array([[False] * S, [False, False, False, True, True], [False, True, True, True,
                                                                         True]])
CAUSAL = np.triu(np.full((S, S), -np.inf), 1)   # float: -inf blocks
CAUSAL_BOOL = np.triu(np.ones((S, S), bool), 1)  # bool: True blocks


def _load(torch, theirs, ours):
    """Both in float64 and eval mode, ours with torch's weights (biases and norms randomized,
    so that a swapped or ignored one shows)."""
    theirs = theirs.double().eval()
    with torch.no_grad():
        for p in theirs.parameters():
            if p.ndim == 1:
                p.normal_()
    ours = ours.double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def _compare(torch, theirs, ours, arrays, **kwargs):
    """Outputs, input gradients and parameter gradients agree to 1e-10 (float64)."""
    d_in = [dg.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                for k, v in kwargs.items()}
    d_out, t_out = ours(*d_in, **kwargs), theirs(*t_in, **t_kwargs)
    assert_close(d_out, t_out, np.float64, "output")
    g = np.random.default_rng(1).standard_normal(d_out.shape)
    (d_out * dg.tensor(g)).sum().backward()
    (t_out * torch.tensor(g)).sum().backward()
    for i, (d, t) in enumerate(zip(d_in, t_in)):
        assert_close(d.grad, t.grad, np.float64, f"gradient of input {i}")
    params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert_close(params[name].grad, p.grad, np.float64, f"gradient of {name}")


def _sequence(length, batch_first, batch=N):
    shape = (batch, length, D_MODEL) if batch_first else (length, batch, D_MODEL)
    return RNG.standard_normal(shape)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
def test_encoder_layer_parity(torch, norm_first, activation, batch_first):
    options = dict(dim_feedforward=FF, activation=activation, norm_first=norm_first,
                   batch_first=batch_first)
    theirs, ours = _load(torch, torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, **options),
                         nn.TransformerEncoderLayer(D_MODEL, NHEAD, **options))
    _compare(torch, theirs, ours, [_sequence(S, batch_first)],
             src_key_padding_mask=PADDING, src_mask=CAUSAL_BOOL, is_causal=True)


def test_encoder_layer_parity_callable_activation_no_bias_unbatched(torch):
    theirs, ours = _load(
        torch, torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, activation=torch.tanh,
                                                bias=False, layer_norm_eps=1e-3),
        nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, activation=dg.tanh, bias=False,
                                   layer_norm_eps=1e-3))
    _compare(torch, theirs, ours, [RNG.standard_normal((S, D_MODEL))],
             src_mask=CAUSAL_BOOL)


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
def test_encoder_stack_with_final_norm_parity(torch, batch_first):
    options = dict(dim_feedforward=FF, batch_first=batch_first)
    theirs, ours = _load(
        torch, torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
            D_MODEL, NHEAD, **options), 2, torch.nn.LayerNorm(D_MODEL), enable_nested_tensor=False),
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D_MODEL, NHEAD, **options), 2,
                              nn.LayerNorm(D_MODEL)))
    _compare(torch, theirs, ours, [_sequence(S, batch_first)], src_key_padding_mask=PADDING)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
def test_decoder_layer_parity(torch, norm_first, batch_first):
    options = dict(dim_feedforward=FF, activation="gelu", norm_first=norm_first,
                   batch_first=batch_first)
    theirs, ours = _load(torch, torch.nn.TransformerDecoderLayer(D_MODEL, NHEAD, **options),
                         nn.TransformerDecoderLayer(D_MODEL, NHEAD, **options))
    _compare(torch, theirs, ours, [_sequence(T, batch_first), _sequence(S, batch_first)],
             tgt_mask=CAUSAL_BOOL[:T, :T], tgt_is_causal=True, tgt_key_padding_mask=PADDING[:, :T],
             memory_key_padding_mask=np.where(PADDING, -np.inf, 0.0),
             memory_mask=RNG.standard_normal((T, S)))


def test_decoder_stack_parity(torch):
    theirs, ours = _load(
        torch, torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(
            D_MODEL, NHEAD, FF), 2, torch.nn.LayerNorm(D_MODEL)),
        nn.TransformerDecoder(nn.TransformerDecoderLayer(D_MODEL, NHEAD, FF), 2,
                              nn.LayerNorm(D_MODEL)))
    _compare(torch, theirs, ours, [_sequence(T, False), _sequence(S, False)],
             tgt_mask=CAUSAL[:T, :T], memory_key_padding_mask=PADDING)


def test_transformer_parity(torch):
    options = dict(d_model=D_MODEL, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=1,
                   dim_feedforward=FF, batch_first=True)
    theirs, ours = _load(torch, torch.nn.Transformer(**options), nn.Transformer(**options))
    _compare(torch, theirs, ours, [_sequence(S, True), _sequence(T, True)],
             tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, np.float64).numpy(),
             src_key_padding_mask=PADDING, memory_key_padding_mask=PADDING)


def test_generate_square_subsequent_mask_is_torchs(torch):
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask.numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())


def test_stack_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF)
    stack = nn.TransformerEncoder(layer, 3)
    weights = [block.linear1.weight for block in stack.layers]
    assert len({id(w) for w in weights}) == 3 and all(w is not layer.linear1.weight
                                                      for w in weights)
    for w in weights:
        np.testing.assert_array_equal(w.numpy(), layer.linear1.weight.numpy())
    assert len(list(stack.parameters())) == 3 * len(list(layer.parameters()))


def test_transformer_initialization_is_xavier_for_matrices():
    dg.manual_seed(0)
    model = nn.Transformer(16, 2, 1, 1, 32)
    weight = model.encoder.layers[0].linear1.weight.numpy()  # (32, 16)
    assert np.abs(weight).max() <= np.sqrt(6 / (16 + 32))
    assert not np.any(model.encoder.layers[0].self_attn.in_proj_bias.numpy())


def test_dropout_in_train_mode_is_seeded_and_off_in_eval():
    dg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.3).double()
    x = dg.tensor(_sequence(S, False))
    outputs = []
    for seed in (1, 1, 2):
        dg.manual_seed(seed)
        outputs.append(layer(x).numpy())
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])
    layer.eval()
    evaluated = layer(x).numpy()
    np.testing.assert_array_equal(layer(x).numpy(), evaluated)
    assert not np.allclose(outputs[0], evaluated)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: d_model \(10\) must be "
                                         r"divisible by nhead \(4\)"):
        nn.TransformerEncoderLayer(10, 4)
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a callable; got "
                                         "'tanh'"):
        nn.TransformerDecoderLayer(D_MODEL, NHEAD, activation="tanh")
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF,
                                                               batch_first=True), 2)
    with pytest.raises(dg.ShapeError, match=r"^TransformerEncoderLayer 'layers\.0' expects input "
                                            r"\(N, S, 8\) \(batch_first=True\) or unbatched "
                                            r"\(S, 8\); got \(3, 5, 6\)$"):
        encoder(dg.randn(N, S, 6))
    with pytest.raises(dg.ShapeError, match=r"^MultiheadAttention 'layers\.0\.self_attn' expects "
                                            r"key_padding_mask \(N, S\) = \(3, 5\); got \(5, 3\)"):
        encoder(dg.randn(N, S, D_MODEL), src_key_padding_mask=PADDING.T)
    model = nn.Transformer(D_MODEL, NHEAD, 1, 1, FF)
    with pytest.raises(dg.ShapeError, match=r"Transformer expects src and tgt of the same batch "
                                            r"size \(dim 1 with batch_first=False\); got "
                                            r"\(5, 3, 8\) and \(4, 2, 8\)"):
        model(dg.randn(S, N, D_MODEL), dg.randn(T, 2, D_MODEL))


class _Classifier(nn.Module):
    """Token embedding, one encoder layer, the mean over positions, two class scores."""

    def __init__(self, vocabulary):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, 16)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 1)
        self.head = nn.Linear(16, 2)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def _contains_token(count, seed, length=8, vocabulary=10):
    """Sequences of tokens 2..9; label 1 for the half into which a token 1 was written."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocabulary, (count, length))
    y = rng.integers(0, 2, count)
    positions = rng.integers(0, length, count)
    x[y == 1, positions[y == 1]] = 1
    return x, y


def test_encoder_classifier_learns_whether_a_token_appears():
    dg.manual_seed(0)
    model = _Classifier(10)
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3),
                         verbose=0)
    trainer.fit(_contains_token(512, 0), epochs=5, batch_size=32, seed=0)
    assert trainer.evaluate(_contains_token(256, 1))["accuracy"] > 0.95


def test_torchs_fast_path_switches_are_accepted_and_change_nothing():
    dg.manual_seed(0)
    layer = dg.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    plain = dg.nn.TransformerEncoder(layer, 2)
    switched = dg.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False, mask_check=False)
    switched.load_state_dict(plain.state_dict())
    x = dg.randn(3, 5, 8)
    np.testing.assert_array_equal(switched(x).numpy(), plain(x).numpy())
