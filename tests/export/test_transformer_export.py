"""Transformer layers export: an encoder stack (post- and pre-norm, relu and gelu, RMSNorm or
LayerNorm at the end, a causal mask) and MultiheadAttention with a key padding mask given as a
model input match deepgrad in onnxruntime (and, for one-input models, in deepgrad_runtime and
from_onnx) at other batch sizes."""

import numpy as np
import pytest
from export_harness import check_export, session

import deepgrad as dg
from deepgrad import nn
from deepgrad.export import to_onnx

D_MODEL, STEPS = 16, 7


class Encoder(nn.Module):
    """Two encoder layers over (N, STEPS, D_MODEL), a final norm, optionally causal."""

    def __init__(self, norm_first, activation, final_norm, causal):
        super().__init__()
        layer = nn.TransformerEncoderLayer(D_MODEL, 4, 32, activation=activation,
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, 2, final_norm)
        self.causal = causal

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(STEPS, x.dtype) if self.causal \
            else None
        return self.encoder(x, mask=mask)


@pytest.mark.parametrize("norm_first, activation, final_norm, causal", [
    (False, "relu", nn.LayerNorm, False),
    (True, "gelu", nn.RMSNorm, True),
])
def test_encoder_stack_exports(tmp_path, norm_first, activation, final_norm, causal):
    check_export(tmp_path, lambda: Encoder(norm_first, activation, final_norm(D_MODEL), causal),
                 (STEPS, D_MODEL), lambda batch, shape, rng: rng.standard_normal((batch, *shape)))


class Padded(nn.Module):
    """Self-attention over (N, STEPS, D_MODEL) with the padding mask (N, STEPS) an input."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(D_MODEL, 4, batch_first=True)

    def forward(self, x, padding):
        return self.attn(x, x, x, key_padding_mask=padding)[0]


def test_key_padding_mask_as_an_input_exports(tmp_path):
    """The mask is traced, so other masks (a fully padded sequence too: zero attention) give
    deepgrad's outputs."""
    dg.manual_seed(0)
    model = Padded().eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, STEPS, D_MODEL)).astype(np.float32)
    padding = np.zeros((2, STEPS), bool)
    padding[1, 4:] = True
    path = to_onnx(model, (x, padding), tmp_path / "padded.onnx")
    names = [i.name for i in session(path).get_inputs()]
    x5 = rng.standard_normal((5, STEPS, D_MODEL)).astype(np.float32)
    padding5 = rng.random((5, STEPS)) < 0.4
    padding5[2] = True
    (got,) = session(path).run(None, dict(zip(names, (x5, padding5))))
    with dg.no_grad():
        expected = model(x5, padding5).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
