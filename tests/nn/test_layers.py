"""Layer modules against their torch twins: same weights (through load_state_dict), same outputs
and gradients of the input and every parameter; PyTorch's default initialization; errors."""

import math

import numpy as np
import pytest
from helpers import assert_close, check_module_parity, check_parity

import deepgrad as dg
from deepgrad import nn

# (deepgrad module factory, torch module factory, input shape)
LAYERS = [
    (lambda: nn.Conv2d(3, 4, 3), lambda t: t.nn.Conv2d(3, 4, 3), (2, 3, 7, 6)),
    (lambda: nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2),
     lambda t: t.nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2),
     (2, 4, 7, 8)),
    (lambda: nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False),
     lambda t: t.nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False), (1, 4, 5, 5)),
    (lambda: nn.Conv1d(3, 5, 3, padding=1), lambda t: t.nn.Conv1d(3, 5, 3, padding=1),
     (2, 3, 9)),
    (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
     lambda t: t.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
     (2, 4, 4, 5)),
    (lambda: nn.MaxPool2d(2), lambda t: t.nn.MaxPool2d(2), (2, 3, 6, 6)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1), lambda t: t.nn.MaxPool2d(3, 2, 1),
     (2, 3, 7, 7)),
    (lambda: nn.AvgPool2d(2), lambda t: t.nn.AvgPool2d(2), (2, 3, 6, 6)),
    (lambda: nn.AdaptiveAvgPool2d(1), lambda t: t.nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda t: t.nn.AdaptiveAvgPool2d((2, 3)),
     (2, 3, 5, 7)),
    (lambda: nn.MaxPool1d(2), lambda t: t.nn.MaxPool1d(2), (2, 3, 8)),
    (lambda: nn.AvgPool1d(3, stride=2), lambda t: t.nn.AvgPool1d(3, stride=2), (2, 3, 9)),
    (lambda: nn.BatchNorm2d(3), lambda t: t.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm1d(3), lambda t: t.nn.BatchNorm1d(3), (6, 3)),
    (lambda: nn.BatchNorm1d(3, affine=False), lambda t: t.nn.BatchNorm1d(3, affine=False),
     (6, 3, 4)),
    (lambda: nn.LayerNorm(6), lambda t: t.nn.LayerNorm(6), (2, 4, 6)),
    (lambda: nn.LayerNorm((4, 6)), lambda t: t.nn.LayerNorm((4, 6)), (2, 4, 6)),
    (lambda: nn.GroupNorm(2, 4), lambda t: t.nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    (lambda: nn.AdaptiveMaxPool2d((3, 2)), lambda t: t.nn.AdaptiveMaxPool2d((3, 2)),
     (2, 3, 7, 5)),
    (lambda: nn.AdaptiveMaxPool2d(2), lambda t: t.nn.AdaptiveMaxPool2d(2), (3, 6, 6)),
    (lambda: nn.InstanceNorm2d(3), lambda t: t.nn.InstanceNorm2d(3), (2, 3, 5, 5)),
    (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
     lambda t: t.nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 5)),
    (lambda: nn.InstanceNorm2d(3, momentum=0.3, affine=True),
     lambda t: t.nn.InstanceNorm2d(3, momentum=0.3, affine=True), (3, 4, 5)),
    (lambda: nn.ZeroPad2d(2), lambda t: t.nn.ZeroPad2d(2), (2, 3, 4, 5)),
    (lambda: nn.ConstantPad2d((1, 0, 2, -1), 0.5), lambda t: t.nn.ConstantPad2d((1, 0, 2, -1), 0.5),
     (2, 3, 4, 5)),
    (lambda: nn.ReflectionPad2d((1, 2, 3, 0)), lambda t: t.nn.ReflectionPad2d((1, 2, 3, 0)),
     (2, 3, 4, 5)),
    (lambda: nn.ReplicationPad2d(2), lambda t: t.nn.ReplicationPad2d(2), (3, 4, 5)),
    (lambda: nn.CircularPad2d((1, 2, 0, 1)), lambda t: t.nn.CircularPad2d((1, 2, 0, 1)),
     (2, 3, 4, 5)),
    (lambda: nn.Upsample(scale_factor=2), lambda t: t.nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda: nn.Upsample(size=(5, 9), mode="bilinear"),
     lambda t: t.nn.Upsample(size=(5, 9), mode="bilinear"), (2, 3, 4, 6)),
    (lambda: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
     lambda t: t.nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
     (2, 3, 4, 5)),
]


def _copy_weights(ours, theirs, torch):
    rng = np.random.default_rng(7)
    with torch.no_grad():  # random affine parameters, so that they matter in the comparison
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("ours_fn", "theirs_fn", "shape"), LAYERS)
@pytest.mark.parametrize("training", [True, False])
def test_parity_with_torch(torch, dtype, ours_fn, theirs_fn, shape, training):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ours, theirs = ours_fn().to(dtype), theirs_fn(torch).to(tdtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_weights(ours, theirs, torch)
    ours.train(training)
    theirs.train(training)
    check_module_parity(torch, ours, theirs,
                        np.random.default_rng(0).standard_normal(shape).astype(dtype), dtype)
    for name, b in ours.named_buffers():
        assert_close(b, theirs.state_dict()[name], dtype, f"buffer {name}")


def test_batchnorm_running_statistics_after_several_steps(torch):
    ours, theirs = nn.BatchNorm2d(3, momentum=0.3).double(), torch.nn.BatchNorm2d(3, momentum=0.3)
    theirs.double()
    rng = np.random.default_rng(2)
    for _ in range(4):
        x = rng.standard_normal((5, 3, 4, 4)) * 3 + 1
        ours(dg.tensor(x))
        theirs(torch.tensor(x))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert_close(ours.state_dict()[name], theirs.state_dict()[name], np.float64, name)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 4, 4))
    assert_close(ours(dg.tensor(x)), theirs(torch.tensor(x)), np.float64, "eval output")


def test_separable_conv_is_depthwise_then_pointwise():
    layer = nn.SeparableConv2d(4, 8, 3, padding=1, depth_multiplier=2)
    assert layer.depthwise.weight.shape == (8, 1, 3, 3) and layer.depthwise.groups == 4
    assert layer.pointwise.weight.shape == (8, 8, 1, 1)
    x = dg.randn(2, 4, 6, 6)
    expected = layer.pointwise(layer.depthwise(x))
    np.testing.assert_allclose(layer(x).numpy(), expected.numpy())
    full = nn.Conv2d(4, 8, 3)
    assert sum(p.numel() for p in layer.parameters()) < sum(p.numel() for p in full.parameters())


def test_dropout_layers_train_and_eval():
    dg.manual_seed(0)
    layer = nn.Dropout(0.4)
    x = dg.ones(200, 500)
    y = layer(x).numpy()
    assert abs((y == 0).mean() - 0.4) < 0.01 and abs(y.mean() - 1) < 0.02
    layer.eval()
    assert layer(x) is x or np.array_equal(layer(x).numpy(), x.numpy())
    maps = nn.Dropout2d(0.5)(dg.ones(8, 16, 3, 3)).numpy()
    per_channel = maps.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel != 0).all(-1))
    with pytest.raises(ValueError, match=r"Dropout: p must be between 0 and 1; got 1\.5"):
        nn.Dropout(1.5)


def test_embedding_layer(torch):
    ours, theirs = nn.Embedding(10, 4, padding_idx=0), torch.nn.Embedding(10, 4, padding_idx=0)
    assert np.all(ours.weight.numpy()[0] == 0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    idx = np.array([[1, 0, 3], [3, 3, 9]])
    yd, yt = ours(dg.tensor(idx)), theirs(torch.tensor(idx))
    assert_close(yd, yt, np.float32, "output")
    yd.sum().backward()
    yt.sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad, np.float32, "weight gradient")


@pytest.mark.parametrize(("ours_fn", "theirs_fn"), [
    (lambda: nn.Conv2d(3, 8, 3), lambda t: t.nn.Conv2d(3, 8, 3)),
    (lambda: nn.Conv1d(3, 8, 5, groups=1), lambda t: t.nn.Conv1d(3, 8, 5)),
    (lambda: nn.ConvTranspose2d(8, 3, 3), lambda t: t.nn.ConvTranspose2d(8, 3, 3)),
])
def test_default_initialization_bounds_are_pytorchs(torch, ours_fn, theirs_fn):
    # PyTorch draws weight and bias from U(-b, b) with b = 1/sqrt(fan_in), fan_in taken from
    # weight.shape[1:] (for ConvTranspose2d that is out_channels * kernel area).
    dg.manual_seed(0)
    ours, theirs = ours_fn(), theirs_fn(torch)
    bound = 1.0 / math.sqrt(theirs.weight[0].numel())
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert p.shape == tuple(q.shape), name
        for values in (p.numpy(), q.detach().numpy()):
            assert np.abs(values).max() <= bound, name
        if name == "weight":  # enough samples that the largest comes close to the bound
            assert np.abs(p.numpy()).max() > 0.9 * bound


def test_layer_errors_name_the_layer_and_the_shapes():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()))
    with pytest.raises(dg.ShapeError, match=r"^Conv2d '0\.0' expects input \(N, 3, H, W\); got "
                                            r"\(64, 1, 28, 28\)\. The layer has in_channels=3, "
                                            r"but the data has 1 channel$"):
        model(dg.randn(64, 1, 28, 28))
    # A batch of 1-channel images without its channel axis reads as one 32-channel sample.
    with pytest.raises(dg.ShapeError, match=r"has 32 channels \(a 3-D input is one sample "
                                            r"without a batch axis.*x\.unsqueeze\(1\)\)$"):
        nn.Conv2d(1, 8, 3)(dg.randn(32, 28, 28))
    # Channels-last images (Keras, PIL): the hint says how to reorder them.
    with pytest.raises(dg.ShapeError, match=r"but the data has 28 channels; its last axis has 3: "
                                            r"channels-last data becomes channels-first with "
                                            r"x\.permute\(0, 3, 1, 2\)$"):
        nn.Conv2d(3, 8, 3)(dg.randn(4, 28, 28, 3))
    with pytest.raises(dg.ShapeError, match=r"x\.permute\(0, 2, 1\)$"):
        nn.Conv1d(3, 8, 3)(dg.randn(4, 50, 3))
    with pytest.raises(dg.ShapeError, match=r"^BatchNorm2d expects input \(N, 3, H, W\); got "
                                            r"\(2, 4, 5, 5\)$"):
        nn.BatchNorm2d(3)(dg.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) and out_channels \(8\) "
                                         r"must be divisible by groups \(2\)"):
        nn.Conv2d(3, 8, 3, groups=2)


def test_reprs():
    assert repr(nn.Conv2d(3, 8, 3, padding=1)) == \
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(nn.BatchNorm2d(8)) == \
        "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.MaxPool2d(2)).startswith("MaxPool2d(kernel_size=2")


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda: nn.AdaptiveMaxPool2d((2, 3)), lambda t: t.nn.AdaptiveMaxPool2d((2, 3))),
    (lambda: nn.ZeroPad2d(1), lambda t: t.nn.ZeroPad2d(1)),
    (lambda: nn.ConstantPad2d((1, 2, 3, 4), 0.5), lambda t: t.nn.ConstantPad2d((1, 2, 3, 4), 0.5)),
    (lambda: nn.ReflectionPad2d(2), lambda t: t.nn.ReflectionPad2d(2)),
    (lambda: nn.ReplicationPad2d((1, 0, 2, 0)), lambda t: t.nn.ReplicationPad2d((1, 0, 2, 0))),
    (lambda: nn.CircularPad2d(1), lambda t: t.nn.CircularPad2d(1)),
    (lambda: nn.Upsample(scale_factor=2), lambda t: t.nn.Upsample(scale_factor=2)),
    (lambda: nn.Upsample(scale_factor=(2, 1.5)), lambda t: t.nn.Upsample(scale_factor=(2, 1.5))),
    (lambda: nn.Upsample((3, 4), mode="bilinear", align_corners=True),
     lambda t: t.nn.Upsample((3, 4), mode="bilinear", align_corners=True)),
    (lambda: nn.CosineSimilarity(dim=0), lambda t: t.nn.CosineSimilarity(dim=0)),
    (lambda: nn.PairwiseDistance(p=1.0), lambda t: t.nn.PairwiseDistance(p=1.0)),
])
def test_reprs_match_torch(torch, ours, theirs):
    assert repr(ours()) == repr(theirs(torch))


def test_instance_norm_layer():
    # The repr of batch norm (torch 2.13 adds a bias=... entry that deepgrad's layers lack).
    assert repr(nn.InstanceNorm2d(3)) == \
        "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)"
    assert list(nn.InstanceNorm2d(3).state_dict()) == []
    layer = nn.InstanceNorm2d(2, track_running_stats=True)
    layer(dg.randn(4, 2, 3, 3))
    assert layer.num_batches_tracked.item() == 0  # as in PyTorch, only batch norm counts
    assert not np.array_equal(layer.running_mean.numpy(), np.zeros(2))
    with pytest.raises(dg.ShapeError, match=r"^InstanceNorm2d expects input \(N, 2, H, W\) or "
                                            r"\(2, H, W\); got \(4, 3, 3, 3\)$"):
        layer(dg.randn(4, 3, 3, 3))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distance_layers_match_torch(torch, dtype):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 4, 5)).astype(dtype)
    for ours, theirs in ((nn.CosineSimilarity(dim=0, eps=1e-6), torch.nn.CosineSimilarity(0, 1e-6)),
                         (nn.PairwiseDistance(3.0, 1e-4, keepdim=True),
                          torch.nn.PairwiseDistance(3.0, 1e-4, keepdim=True))):
        check_parity(torch, ours, theirs, [a, b])


def test_padding_and_upsample_layer_errors():
    with pytest.raises(dg.ShapeError, match=r"^ReflectionPad2d expects input \(N, C, H, W\) or "
                                            r"\(C, H, W\); got \(4, 5\)$"):
        nn.ReflectionPad2d(1)(dg.randn(4, 5))
    with pytest.raises(dg.ShapeError, match=r"'reflect' widths must be smaller than the size"):
        nn.ReflectionPad2d(3)(dg.randn(1, 3, 3))
    with pytest.raises(TypeError, match=r"^ZeroPad2d: padding must be an int or a tuple of 4 ints "
                                        r"\(left, right, top, bottom\); got \(1, 2\)$"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(dg.ShapeError, match=r"^Upsample expects input \(N, C, H, W\); got "
                                            r"\(3, 4, 5\)$"):
        nn.Upsample(scale_factor=2)(dg.randn(3, 4, 5))
    assert nn.functional.pad is dg.pad  # one implementation of every mode
