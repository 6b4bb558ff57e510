"""Export of the thresholding, pixel, pooling, upsampling, norm, Bilinear and Transformer
decoder layers: each in a tiny model (a Linear over the last dimension first, for a
weight to import) matches deepgrad in onnxruntime, deepgrad_runtime and from_onnx at batch
sizes 1 and 5, and passes onnx.checker's full check; AdaptiveMaxPool1d's indices do not export,
refused with an ExportError naming the op."""

import numpy as np
import pytest
from export_harness import Net, check_export, special, spread, ties

from deepgrad import nn
from deepgrad.export import ExportError, to_onnx

D_MODEL, STEPS = 8, 5


class Pair(nn.Module):
    """A two-input layer on the input and its tanh (two different operands)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x, x.tanh())


class Decoder(nn.Module):
    """A decoder stack over (N, STEPS, D_MODEL), causal, attending to the input's first
    steps as memory (a different length from the target's)."""

    def __init__(self, norm_first):
        super().__init__()
        layer = nn.TransformerDecoderLayer(D_MODEL, 2, 16, batch_first=True,
                                           norm_first=norm_first)
        self.decoder = nn.TransformerDecoder(layer, 2, nn.LayerNorm(D_MODEL))

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(STEPS, x.dtype)
        return self.decoder(x, x[:, :3], tgt_mask=mask)


class Seq2Seq(nn.Module):
    """nn.Transformer with the input as source and its last steps as target."""

    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(D_MODEL, 2, 1, 1, 16, batch_first=True)

    def forward(self, x):
        return self.transformer(x, x[:, 2:])


# (id, the model, the input's shape without the batch)
CASES = [
    ("Softshrink", lambda: Net(nn.Softshrink(0.7)), (3, 6)),
    ("Hardshrink", lambda: Net(nn.Hardshrink(0.7)), (3, 6)),
    ("Threshold", lambda: Net(nn.Threshold(0.3, -2.0)), (3, 6)),
    ("Tanhshrink", lambda: Net(nn.Tanhshrink()), (3, 6)),
    ("RReLU", lambda: Net(nn.RReLU(0.1, 0.3)), (3, 6)),
    ("Softmax2d", lambda: Net(nn.Softmax2d()), (3, 4, 6)),
    ("PixelShuffle", lambda: Net(nn.PixelShuffle(2)), (8, 3, 6)),
    ("PixelUnshuffle", lambda: Net(nn.PixelUnshuffle(2)), (2, 4, 6)),
    ("ChannelShuffle", lambda: Net(nn.ChannelShuffle(3)), (6, 2, 6)),
    ("Unfold", lambda: Net(nn.Unfold((2, 3), dilation=1, padding=1, stride=2)), (2, 5, 6)),
    ("Fold", lambda: Net(nn.Fold((4, 5), (2, 2)), features=12), (8, 12)),
    ("LPPool1d", lambda: Net(nn.LPPool1d(2, 3, 2)), (3, 6)),
    ("LPPool2d", lambda: Net(nn.LPPool2d(3, (2, 2))), (2, 4, 6)),
    ("UpsamplingNearest2d", lambda: Net(nn.UpsamplingNearest2d(scale_factor=2)), (2, 3, 6)),
    ("UpsamplingBilinear2d", lambda: Net(nn.UpsamplingBilinear2d(size=(5, 9))), (2, 3, 6)),
    ("AdaptiveAvgPool1d", lambda: Net(nn.AdaptiveAvgPool1d(4)), (3, 6)),
    ("AdaptiveMaxPool1d", lambda: Net(nn.AdaptiveMaxPool1d(4)), (3, 6)),
    ("ConvTranspose1d", lambda: Net(nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1)), (3, 6)),
    ("InstanceNorm1d", lambda: Net(nn.InstanceNorm1d(3, affine=True)), (3, 6)),
    ("Bilinear", lambda: Pair(nn.Bilinear(6, 6, 4)), (3, 6)),
    ("RMSNorm", lambda: Net(nn.RMSNorm(6)), (3, 6)),
    ("TransformerDecoder", lambda: Decoder(False), (STEPS, D_MODEL)),
    ("TransformerDecoder-norm_first", lambda: Decoder(True), (STEPS, D_MODEL)),
    ("Transformer", Seq2Seq, (STEPS, D_MODEL)),
    # variants: other options of the same layers
    ("Unfold-dilated", lambda: Net(nn.Unfold(2, dilation=2)), (2, 5, 6)),
    ("Fold-strided", lambda: Net(nn.Fold(5, 3, padding=1, stride=2), features=9), (18, 9)),
    ("LPPool1d-ceil", lambda: Net(nn.LPPool1d(1, 4, 3, ceil_mode=True)), (3, 6)),
    ("ConvTranspose1d-groups", lambda: Net(nn.ConvTranspose1d(
        4, 6, 2, stride=3, output_padding=1, groups=2, dilation=2, bias=False)), (4, 6)),
    ("InstanceNorm1d-running", lambda: Net(nn.InstanceNorm1d(3, track_running_stats=True)),
     (3, 6)),
    ("Bilinear-nobias", lambda: Pair(nn.Bilinear(6, 6, 2, bias=False)), (3, 6)),
    ("RMSNorm-2d", lambda: Net(nn.RMSNorm((3, 6), eps=1e-3)), (3, 6)),
]


@pytest.mark.parametrize("make_model, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_exports(tmp_path, make_model, shape):
    check_export(tmp_path, make_model, shape, spread)


@pytest.mark.parametrize("make_input", [special, ties])
@pytest.mark.parametrize("layer", [nn.Softshrink(1.0), nn.Hardshrink(1.0), nn.Threshold(1.0, 9.0),
                                   nn.Tanhshrink(), nn.RReLU(), nn.AdaptiveMaxPool1d(4)],
                         ids=lambda layer: type(layer).__name__)
def test_edge_values_export(tmp_path, layer, make_input):
    """On the input itself: NaN, infinities, signed zeros and values equal to the threshold
    (integers, lambd 1) take deepgrad's branch in every runtime."""
    check_export(tmp_path, lambda: Net(layer, linear=False), (3, 6), make_input)


@pytest.mark.parametrize("size, op, reason", [
    # 6 -> 4: unequal windows, deepgrad's own Gather-and-Max stages; 6 -> 3: a MaxPool
    (4, "AdaptiveMaxPool", r"return_indices=True \(the indices are not exported\)"),
    (3, "MaxPool", r"return_indices=True \(ONNX's indices count differently\)"),
])
def test_adaptive_max_pool_indices_refused(tmp_path, size, op, reason):
    """The indices output is refused, naming the op, the layer and why."""
    model = Net(nn.AdaptiveMaxPool1d(size, return_indices=True)).eval()
    x = np.zeros((2, 3, 6), np.float32)
    with pytest.raises(ExportError, match=f"cannot export op {op} called in layer 'fn': {reason}"):
        to_onnx(model, x, tmp_path / "model.onnx")
