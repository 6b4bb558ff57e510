"""scaled_dot_product_attention and MultiheadAttention: parity with torch (outputs and every
gradient, weights loaded from torch's state dict) over masks and options, gradcheck, dropout,
initialization and error messages."""

import math

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn import functional as F

RNG = np.random.default_rng(0)
N, H, L, S, E = 2, 3, 4, 5, 6


def _qkv(length=L, source=S, features=E, value_features=E, batch=(N, H)):
    rng = np.random.default_rng(1)
    return [rng.standard_normal((*batch, n, f))
            for n, f in ((length, features), (source, features), (source, value_features))]


# ------------------------------------------------------------------------------ SDPA
SDPA_MASKS = {
    "none": None,
    "bool_2d": RNG.random((L, S)) > 0.3,
    "bool_4d": RNG.random((N, H, L, S)) > 0.3,
    "bool_row_masked": np.array([[True] * S, [False] * S, [True, False] * 2 + [True],
                                 [False] * (S - 1) + [True]]),
    "float_broadcast": RNG.standard_normal((N, 1, L, S)),
    "float_inf": np.where(RNG.random((L, S)) > 0.3, 0.0, -np.inf),
}


@pytest.mark.parametrize("mask", list(SDPA_MASKS), ids=list(SDPA_MASKS))
def test_sdpa_parity_with_masks(torch, mask):
    attn_mask = SDPA_MASKS[mask]
    check_parity(torch,
                 lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask),
                 lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
                     q, k, v, attn_mask=None if attn_mask is None else torch.tensor(attn_mask)),
                 _qkv(value_features=7))


@pytest.mark.parametrize("length, source", [(L, L), (L, S), (S, L)])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_parity_causal_and_scale(torch, length, source, scale):
    check_parity(torch,
                 lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                scale=scale),
                 lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
                     q, k, v, is_causal=True, scale=scale),
                 _qkv(length, source, batch=(N,)))


def test_sdpa_fully_masked_rows_are_zero_as_torch(torch):
    """A query allowed no key gets a zero output and zero gradients (PyTorch's SDPA), not NaN;
    the float mask's own gradient matches too."""
    mask = np.zeros((L, S))
    mask[1] = -np.inf
    mask[2, :3] = -np.inf
    check_parity(torch, F.scaled_dot_product_attention,
                 torch.nn.functional.scaled_dot_product_attention, [*_qkv(), mask])
    out = F.scaled_dot_product_attention(*(dg.tensor(a) for a in _qkv()), attn_mask=mask)
    assert not np.any(out.numpy()[:, :, 1])


def test_sdpa_float32(torch):
    q, k, v = (a.astype(np.float32) for a in _qkv())
    mask = SDPA_MASKS["bool_2d"]
    out = F.scaled_dot_product_attention(dg.tensor(q), dg.tensor(k), dg.tensor(v), mask)
    expected = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), torch.tensor(mask))
    assert out.dtype == np.float32
    assert_close(out, expected, np.float32)


def test_sdpa_gradcheck():
    q, k, v = (dg.tensor(a[:1, :2], requires_grad=True) for a in _qkv(3, 4, 3, 2))
    mask = dg.tensor(np.random.default_rng(2).standard_normal((3, 4)), requires_grad=True)
    assert dg.gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, m),
                        (q, k, v, mask))
    assert dg.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(
        a, b, c, attn_mask=np.array([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]], bool)),
        (q, k, v))
    assert dg.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True,
                                                                       scale=0.7), (q, k, v))


def test_sdpa_dropout_is_seeded_and_scales_kept_weights():
    """With value = identity the output is the attention weights: each dropped (0) or kept and
    scaled by 1 / (1 - p); the same seed gives the same mask, and p applies without a training
    flag, as in PyTorch."""
    q, k, _ = (dg.tensor(a) for a in _qkv())
    eye = dg.tensor(np.broadcast_to(np.eye(S), (N, H, S, S)).copy())
    weights = F.scaled_dot_product_attention(q, k, eye).numpy()
    dg.manual_seed(3)
    dropped = F.scaled_dot_product_attention(q, k, eye, dropout_p=0.5).numpy()
    dg.manual_seed(3)
    again = F.scaled_dot_product_attention(q, k, eye, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(dropped, again)
    kept = dropped != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(dropped[kept], 2 * weights[kept])


def test_sdpa_errors():
    q, k, v = (dg.tensor(a) for a in _qkv())
    with pytest.raises(dg.ShapeError, match=r"attn_mask must broadcast to the scores' shape "
                                            r"\(\.\.\., L, S\) = \(2, 3, 4, 5\); got \(5, 4\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((S, L), bool))
    with pytest.raises(ValueError, match="either attn_mask or is_causal=True, not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((L, S), bool), is_causal=True)
    with pytest.raises(dg.ShapeError, match=r"expects query \(\.\.\., L, E\), key \(\.\.\., S, "
                                            r"E\) and value \(\.\.\., S, Ev\); got query "
                                            r"\(2, 3, 4, 6\), key \(2, 3, 5, 4\)"):
        F.scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(TypeError, match="bool or floating point mask; got dtype int64"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((L, S), np.int64))
    with pytest.raises(ValueError, match="dropout_p must be a probability"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)


# ------------------------------------------------------------------------------ MHA
def _mha_pair(torch, dtype=np.float64, **options):
    """A torch MultiheadAttention and ours with its weights (biases made non-zero first)."""
    theirs = torch.nn.MultiheadAttention(**options)
    theirs = theirs.double() if dtype == np.float64 else theirs.float()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "bias" in name:
                p.normal_()
    ours = nn.MultiheadAttention(**options).to(dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _run_mha(torch, ours, theirs, arrays, same=False, **kwargs):
    """Outputs (and weights) of both, then the gradients of the inputs and every parameter
    after backward from random output gradients (and the squared weights)."""
    d_in = [dg.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    if same:  # self-attention: one tensor as query, key and value
        d_in, t_in = d_in * 3, t_in * 3
    t_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                for k, v in kwargs.items()}
    d_out, d_w = ours(*d_in, **kwargs)
    t_out, t_w = theirs(*t_in, **t_kwargs)
    dtype = arrays[0].dtype
    assert_close(d_out, t_out, dtype, "output")
    assert (d_w is None) == (t_w is None)
    g = np.random.default_rng(5).standard_normal(d_out.shape).astype(dtype)
    d_loss, t_loss = (d_out * dg.tensor(g)).sum(), (t_out * torch.tensor(g)).sum()
    if d_w is not None:
        assert_close(d_w, t_w, dtype, "attention weights")
        d_loss, t_loss = d_loss + (d_w * d_w).sum(), t_loss + (t_w * t_w).sum()
    d_loss.backward()
    t_loss.backward()
    for i, (d, t) in enumerate(zip(d_in[:len(arrays)], t_in[:len(arrays)])):
        assert_close(d.grad, t.grad, dtype, f"gradient of input {i}")
    params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert_close(params[name].grad, p.grad, dtype, f"gradient of {name}")


def _inputs(batch_first, length=L, source=S, kdim=E, vdim=E, batch=N, unbatched=False):
    rng = np.random.default_rng(2)

    def shape(n, f):
        if unbatched:
            return (n, f)
        return (batch, n, f) if batch_first else (n, batch, f)

    return [rng.standard_normal(shape(length, E)), rng.standard_normal(shape(source, kdim)),
            rng.standard_normal(shape(source, vdim))]


PADDING = np.array([[False, False, True, True, True], [False] * S])
CASES = {
    "plain": ({}, {}),
    "key_padding_mask": ({}, {"key_padding_mask": PADDING}),
    "float_key_padding_mask": ({}, {"key_padding_mask": RNG.standard_normal((N, S))}),
    "attn_mask_bool_2d": ({}, {"attn_mask": np.triu(np.ones((L, S), bool), 2)}),
    "attn_mask_float_3d": ({}, {"attn_mask": RNG.standard_normal((N * 2, L, S))}),
    "both_masks_per_head_weights": ({}, {"key_padding_mask": PADDING,
                                         "attn_mask": np.triu(np.ones((L, S), bool), 2),
                                         "average_attn_weights": False}),
    "no_weights": ({}, {"need_weights": False, "key_padding_mask": PADDING}),
    "kdim_vdim": ({"kdim": 3, "vdim": 5}, {"key_padding_mask": PADDING}),
    "no_bias": ({"bias": False}, {"attn_mask": np.triu(np.ones((L, S), bool), 2)}),
    "bias_kv_zero_attn": ({"add_bias_kv": True, "add_zero_attn": True},
                          {"key_padding_mask": PADDING,
                           "attn_mask": np.triu(np.ones((L, S), bool), 2)}),
}


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_mha_parity_with_torch(torch, case, batch_first):
    options, kwargs = CASES[case]
    ours, theirs = _mha_pair(torch, embed_dim=E, num_heads=2, batch_first=batch_first,
                             **options)
    _run_mha(torch, ours, theirs, _inputs(batch_first, kdim=options.get("kdim", E),
                                          vdim=options.get("vdim", E)), **kwargs)


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_self_attention_parity(torch, batch_first, need_weights):
    """One tensor as query, key and value (one packed projection) with a causal mask."""
    ours, theirs = _mha_pair(torch, embed_dim=E, num_heads=3, batch_first=batch_first)
    mask = np.triu(np.full((L, L), -np.inf), 1)
    _run_mha(torch, ours, theirs, _inputs(batch_first)[:1], same=True, attn_mask=mask,
             is_causal=True, need_weights=need_weights)


def test_mha_unbatched_parity(torch):
    ours, theirs = _mha_pair(torch, embed_dim=E, num_heads=2, kdim=4, batch_first=True)
    _run_mha(torch, ours, theirs, _inputs(False, kdim=4, unbatched=True),
             key_padding_mask=PADDING[0], attn_mask=np.triu(np.ones((2, L, S), bool), 2),
             average_attn_weights=False)


def test_mha_float32_parity(torch):
    ours, theirs = _mha_pair(torch, np.float32, embed_dim=E, num_heads=2)
    _run_mha(torch, ours, theirs, [a.astype(np.float32) for a in _inputs(False)],
             key_padding_mask=PADDING)


def test_mha_fully_padded_sequence_is_zero_attention_as_torch_sdpa(torch):
    """A sequence whose every key is padding: zero attention (so the output is out_proj's bias)
    and finite gradients, as torch's need_weights=False path; its need_weights=True path gives
    NaN, ours the same zeros."""
    ours, theirs = _mha_pair(torch, embed_dim=E, num_heads=2)
    padding = np.array([[False] * S, [True] * S])
    _run_mha(torch, ours, theirs, _inputs(False), key_padding_mask=padding, need_weights=False)
    out, weights = ours(*(dg.tensor(a) for a in _inputs(False)), key_padding_mask=padding)
    np.testing.assert_allclose(out.numpy()[:, 1], np.broadcast_to(ours.out_proj.bias.numpy(),
                                                                  (L, E)))
    assert not np.any(weights.numpy()[1])


@pytest.mark.parametrize("options", [{}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}])
def test_mha_state_dict_keys_match_torch(torch, options):
    ours = nn.MultiheadAttention(E, 2, **options)
    theirs = torch.nn.MultiheadAttention(E, 2, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [v.shape for v in ours.state_dict().values()] == \
        [tuple(v.shape) for v in theirs.state_dict().values()]


def test_mha_initialization_is_pytorchs():
    dg.manual_seed(0)
    layer = nn.MultiheadAttention(64, 4)
    w = layer.in_proj_weight.numpy()
    assert np.abs(w).max() <= math.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ of (3E, E)
    assert not np.any(layer.in_proj_bias.numpy()) and not np.any(layer.out_proj.bias.numpy())


def test_mha_dropout_in_training_only_and_seeded():
    dg.manual_seed(0)
    layer = nn.MultiheadAttention(E, 2, dropout=0.5).double()
    x = [dg.tensor(a) for a in _inputs(False)]
    dg.manual_seed(1)
    first = layer(*x)[1].numpy()
    dg.manual_seed(1)
    np.testing.assert_array_equal(layer(*x)[1].numpy(), first)
    layer.eval()
    evaluated = layer(*x)[1].numpy()
    np.testing.assert_allclose(evaluated.sum(-1), 1.0)  # plain softmax rows in eval mode
    assert not np.allclose(first, evaluated)


def test_mha_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads "
                                         r"\(3\)"):
        nn.MultiheadAttention(10, 3)
    x = dg.randn(L, N, E)
    with pytest.raises(dg.ShapeError, match=r"^MultiheadAttention 'attn' expects key \(S, N, 6\);"
                                            r" got \(5, 2, 4\)$"):
        _Parent()(x, dg.randn(S, N, 4), dg.randn(S, N, E))
    layer = nn.MultiheadAttention(E, 2)
    with pytest.raises(dg.ShapeError, match=r"expects attn_mask \(L, S\) = \(4, 5\) or "
                                            r"\(N \* num_heads, L, S\) = \(4, 4, 5\); got "
                                            r"\(5, 4\)"):
        layer(x, dg.randn(S, N, E), dg.randn(S, N, E), attn_mask=np.zeros((S, L)))
    with pytest.raises(dg.ShapeError, match=r"expects key_padding_mask \(N, S\) = \(2, 5\); got "
                                            r"\(2, 4\)$"):
        layer(x, dg.randn(S, N, E), dg.randn(S, N, E), key_padding_mask=np.zeros((N, L), bool))
    with pytest.raises(ValueError, match="is_causal=True is a hint that attn_mask is causal and "
                                         "needs attn_mask"):
        layer(x, x, x, is_causal=True)
    with pytest.raises(TypeError, match="key_padding_mask must be a bool or floating point mask"):
        layer(x, x, x, key_padding_mask=np.zeros((N, L), np.int32))


class _Parent(nn.Module):
    """A model holding the attention layer as ``attn``: errors name the layer by that path."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, 2)

    def forward(self, *args):
        return self.attn(*args)


def test_mha_batch_first_confusion_has_a_hint():
    """Batch-first data in a sequence-first layer: where the shapes show it, the error says so."""
    layer = nn.MultiheadAttention(E, 2)
    batch_major = dg.randn(N, L, E)
    with pytest.raises(dg.ShapeError, match=r"key_padding_mask \(N, S\) = \(4, 2\); got \(2, 4\)"
                                            r"\. The sizes are swapped: the mask is transposed, "
                                            r"or the input is \(N, L, E\) and this layer has "
                                            r"batch_first=False$"):
        layer(batch_major, batch_major, batch_major, key_padding_mask=np.zeros((N, L), bool))
    with pytest.raises(dg.ShapeError, match=r"attn_mask .* got \(4, 4\)\. Is the input "
                                            r"\(N, L, E\)\? This layer has batch_first=False"):
        layer(batch_major, batch_major, batch_major, attn_mask=np.zeros((L, L), bool))
    with pytest.raises(dg.ShapeError, match=r"query and key of the same batch size \(dim 1 with "
                                            r"batch_first=False\); got \(2, 4, 6\) and "
                                            r"\(2, 5, 6\)\. The sizes match along dim 0 instead"):
        layer(batch_major, dg.randn(N, S, E), dg.randn(N, S, E))
