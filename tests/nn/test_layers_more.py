"""The layers added to match torch.nn: shrink activations, RReLU, Softmax2d, pixel and channel
shuffles, Unfold/Fold, the fixed-mode upsamplers, 1-D pools, pads, norms and dropout,
ConvTranspose1d, LPPool, Bilinear and LazyLinear. Each against its torch twin (same weights
through load_state_dict, outputs and every gradient), gradcheck, and error texts."""

import math

import numpy as np
import pytest
from helpers import assert_close, check_module_parity, check_parity

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

# (deepgrad module factory, torch module factory, input shape); names are PyTorch's.
LAYERS = [
    ("Threshold(0.1, 20)", (2, 3, 4)),
    ("Hardshrink()", (4, 5)),
    ("Hardshrink(0.8)", (4, 5)),
    ("Softshrink(0.3)", (4, 5)),
    ("Tanhshrink()", (4, 5)),
    ("Softmax2d()", (2, 3, 4, 5)),
    ("Softmax2d()", (3, 4, 5)),
    ("PixelShuffle(2)", (2, 8, 3, 4)),
    ("PixelShuffle(3)", (2, 2, 9, 2, 3)),
    ("PixelUnshuffle(2)", (2, 3, 4, 6)),
    ("ChannelShuffle(3)", (2, 6, 3, 4)),
    ("ChannelShuffle(2)", (2, 4, 5)),
    ("Unfold(3)", (2, 3, 6, 5)),
    ("Unfold((2, 3), dilation=(2, 1), padding=1, stride=(2, 3))", (2, 2, 7, 8)),
    ("Unfold(2, stride=2)", (3, 4, 5)),
    ("Fold((6, 5), 3)", (2, 27, 12)),
    ("Fold((7, 8), (2, 3), dilation=(2, 1), padding=1, stride=(2, 3))", (2, 12, 12)),
    ("Fold(5, 2, stride=2)", (8, 4)),
    ("UpsamplingNearest2d(scale_factor=2)", (2, 3, 3, 4)),
    ("UpsamplingNearest2d(size=(5, 7))", (2, 3, 3, 4)),
    ("UpsamplingBilinear2d(scale_factor=2)", (2, 3, 3, 4)),
    ("UpsamplingBilinear2d(size=(5, 7))", (2, 3, 3, 4)),
    ("AdaptiveAvgPool1d(3)", (2, 3, 8)),
    ("AdaptiveAvgPool1d(4)", (3, 7)),
    ("AdaptiveMaxPool1d(3)", (2, 3, 7)),
    ("AdaptiveMaxPool1d(2)", (3, 8)),
    ("ConvTranspose1d(4, 3, 3)", (2, 4, 5)),
    ("ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2)",
     (2, 4, 5)),
    ("ConvTranspose1d(3, 2, 2, bias=False)", (3, 6)),
    ("InstanceNorm1d(3)", (2, 3, 6)),
    ("InstanceNorm1d(3, affine=True, track_running_stats=True)", (2, 3, 6)),
    ("InstanceNorm1d(3, momentum=0.3, affine=True)", (3, 5)),
    ("ZeroPad1d(2)", (2, 3, 4)),
    ("ConstantPad1d((1, -1), 0.5)", (2, 3, 4)),
    ("ReflectionPad1d((2, 1))", (2, 3, 4)),
    ("ReplicationPad1d(3)", (3, 4)),
    ("CircularPad1d((1, 2))", (2, 3, 4)),
    ("LPPool1d(2, 3)", (2, 3, 8)),
    ("LPPool1d(2, 3, stride=2, ceil_mode=True)", (3, 8)),
    ("LPPool1d(float('inf'), 2)", (2, 3, 8)),
    ("LPPool2d(2, 2)", (2, 3, 6, 5)),
    ("LPPool2d(2, (2, 3), stride=(1, 2), ceil_mode=True)", (2, 3, 5, 6)),
    ("RReLU(0.1, 0.3)", (4, 5)),
    ("Dropout1d(0.4)", (2, 3, 5)),
]
RANDOM_IN_TRAINING = ("RReLU", "Dropout1d")


def _pair(torch, spec, dtype):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ours = eval(f"nn.{spec}").to(dtype)
    theirs = eval(f"torch.nn.{spec}").to(tdtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(7)
    with torch.no_grad():  # random parameters, so that they matter in the comparison
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


# Random layers are compared in eval mode only here; their training mode has tests below.
PARITY = [(spec, shape, training) for spec, shape in LAYERS for training in (True, False)
          if not (training and spec.startswith(RANDOM_IN_TRAINING))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("spec", "shape", "training"), PARITY)
def test_parity_with_torch(torch, spec, shape, training, dtype):
    ours, theirs = _pair(torch, spec, dtype)
    ours.train(training)
    theirs.train(training)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    check_module_parity(torch, ours, theirs, x, dtype)
    for name, b in ours.named_buffers():
        assert_close(b, theirs.state_dict()[name], dtype, f"buffer {name}")


@pytest.mark.parametrize(("spec", "shape"), LAYERS)
def test_gradcheck(spec, shape):
    """The input's gradient (the parameters' are checked against torch above, and for
    ConvTranspose1d by gradcheck below)."""
    layer = eval(f"nn.{spec}").double()
    if spec.startswith(RANDOM_IN_TRAINING):
        layer.eval()  # the same slopes and mask for every evaluation
    x = dg.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert dg.gradcheck(layer, (x,))


FUNCTIONAL = [  # the functions of the layers above, called as in torch.nn.functional
    ("threshold", (0.2, -1.0), (3, 8)),
    ("hardshrink", (), (3, 8)),
    ("softshrink", (0.2,), (3, 8)),
    ("tanhshrink", (), (3, 8)),
    ("rrelu", (0.1, 0.2), (3, 8)),
    ("pixel_shuffle", (2,), (2, 4, 3, 3)),
    ("pixel_unshuffle", (3,), (2, 1, 3, 6)),
    ("channel_shuffle", (2,), (2, 4, 3, 3)),
    ("unfold", ((2, 3), 1, (1, 0), 2), (2, 3, 5, 6)),
    ("fold", ((4, 5), 2), (2, 8, 12)),
    ("adaptive_avg_pool1d", (3,), (2, 3, 7)),
    ("adaptive_max_pool1d", (3,), (2, 3, 7)),
    ("lp_pool1d", (3, 2), (2, 3, 6)),
    ("lp_pool2d", (1.5, (2, 1), 1, True), (2, 3, 5, 4)),
    ("dropout1d", (0.5, False), (2, 3, 7)),
]


@pytest.mark.parametrize(("name", "args", "shape"), FUNCTIONAL)
def test_functional_forms_match_torch(torch, name, args, shape):
    x = np.random.default_rng(2).standard_normal(shape)
    if name.startswith("lp_pool"):
        x = np.abs(x)  # an odd or fractional power of a negative sum is NaN in both
    check_parity(torch, lambda a: getattr(F, name)(a, *args),
                 lambda a: getattr(torch.nn.functional, name)(a, *args), [x])


@pytest.mark.parametrize(("name", "args", "shape"), FUNCTIONAL)
def test_functions_name_themselves_when_given_an_array(name, args, shape):
    with pytest.raises(TypeError, match=rf"^{name}: input must be a Tensor; got ndarray"):
        getattr(F, name)(np.ones(shape), *args)


def test_functional_conv_transpose1d_and_max_indices(torch):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 4, 5)), rng.standard_normal((4, 3, 3)), rng.standard_normal(3)
    check_parity(torch, lambda a, k, c: F.conv_transpose1d(a, k, c, 2, 1, 1),
                 lambda a, k, c: torch.nn.functional.conv_transpose1d(a, k, c, 2, 1, 1),
                 [x, w, b])
    assert dg.gradcheck(lambda a, k, c: F.conv_transpose1d(a, k, c, 2, 1, 1),
                        [dg.tensor(v, requires_grad=True) for v in (x, w, b)])
    y = rng.standard_normal((1, 3, 8))
    values, indices = F.adaptive_max_pool1d(dg.tensor(y), 3, return_indices=True)
    t_values, t_indices = torch.nn.functional.adaptive_max_pool1d(torch.tensor(y), 3,
                                                                 return_indices=True)
    assert_close(values, t_values)
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())


@pytest.mark.parametrize("spec", [spec for spec, _ in LAYERS
                                  if not spec.startswith(("InstanceNorm", "Dropout"))]
                         + ["Bilinear(3, 4, 5)", "LazyLinear(4)", "LazyLinear(2, bias=False)"])
def test_reprs_match_torch(torch, spec):
    """InstanceNorm and Dropout leave out torch's bias and inplace, as their 2-D versions do."""
    assert repr(eval(f"nn.{spec}")) == repr(eval(f"torch.nn.{spec}"))


@pytest.mark.parametrize("fn", [
    lambda a: F.unfold(a, 2, padding=1), lambda a: F.pixel_unshuffle(a, 2),
    lambda a: F.channel_shuffle(a, 2), lambda a: F.softshrink(a, 0.2),
    lambda a: F.lp_pool2d(a, 2, 2), lambda a: F.adaptive_avg_pool1d(a[:, :, 0], 3)])
def test_gradcheck_non_contiguous_inputs(fn):
    base = np.random.default_rng(9).standard_normal((2, 4, 6, 4))
    x = dg.from_numpy(base.transpose(0, 1, 3, 2)).requires_grad_()  # (2, 4, 4, 6), strided
    assert dg.gradcheck(fn, (x,))


def test_unfold_and_fold_are_adjoint():
    """<unfold(x), c> == <x, fold(c)>: each one's backward is the other."""
    rng = np.random.default_rng(3)
    x, c = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((2, 3 * 6, 12))
    options = dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(2, 2))
    lhs = (F.unfold(dg.tensor(x), **options).numpy() * c).sum()
    rhs = (x * F.fold(dg.tensor(c), (7, 6), **options).numpy()).sum()
    assert math.isclose(lhs, rhs, rel_tol=1e-12)


def test_rrelu_draws_slopes_in_training_and_uses_the_mean_in_eval():
    layer = nn.RReLU(0.1, 0.3)
    x = dg.tensor(np.linspace(-3, 3, 600).reshape(20, 30), requires_grad=True)
    dg.manual_seed(4)
    y = layer(x)
    dg.manual_seed(4)
    np.testing.assert_array_equal(layer(x).numpy(), y.numpy())  # seeded by deepgrad's generator
    xs, ys = x.numpy(), y.numpy()
    slopes = ys[xs < 0] / xs[xs < 0]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    np.testing.assert_array_equal(ys[xs > 0], xs[xs > 0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[xs < 0], slopes)
    layer.eval()
    np.testing.assert_allclose(layer(x).numpy()[xs < 0], 0.2 * xs[xs < 0])


def test_dropout1d_drops_whole_channels():
    dg.manual_seed(5)
    y = nn.Dropout1d(0.5)(dg.ones(8, 32, 6)).numpy()
    assert np.all((y == 0).all(-1) | (y == 2).all(-1)) and 0.3 < (y == 0).mean() < 0.7
    single = nn.Dropout1d(0.5)(dg.ones(32, 6)).numpy()
    assert np.all((single == 0).all(-1) | (single == 2).all(-1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bilinear_matches_torch(torch, dtype):
    ours, theirs = nn.Bilinear(3, 4, 5).to(dtype), torch.nn.Bilinear(3, 4, 5)
    theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(6)
    x1, x2 = rng.standard_normal((2, 6, 3)).astype(dtype), rng.standard_normal((2, 6, 4))
    x1d, x2d = dg.tensor(x1, requires_grad=True), dg.tensor(x2.astype(dtype), requires_grad=True)
    x1t, x2t = torch.tensor(x1, requires_grad=True), torch.tensor(x2.astype(dtype),
                                                                  requires_grad=True)
    yd, yt = ours(x1d, x2d), theirs(x1t, x2t)
    assert_close(yd, yt, dtype, "output")
    g = rng.standard_normal(yd.shape).astype(dtype)
    yd.backward(g)
    yt.backward(torch.tensor(g))
    for what, d, t in [("x1", x1d.grad, x1t.grad), ("x2", x2d.grad, x2t.grad),
                       ("weight", ours.weight.grad, theirs.weight.grad),
                       ("bias", ours.bias.grad, theirs.bias.grad)]:
        assert_close(d, t, dtype, f"gradient of {what}")
    bound = 1 / math.sqrt(3)
    fresh = nn.Bilinear(3, 4, 5).weight.numpy()
    assert np.abs(fresh).max() <= bound and np.abs(fresh).max() > 0.8 * bound


def test_bilinear_gradcheck():
    rng = np.random.default_rng(7)
    args = [dg.tensor(rng.standard_normal(shape), requires_grad=True)
            for shape in [(4, 3), (4, 2), (5, 3, 2), (5,)]]
    assert dg.gradcheck(F.bilinear, args)
    assert dg.gradcheck(lambda a, b, w: F.bilinear(a, b, w), args[:3])


def test_lazy_linear_takes_in_features_from_the_first_input(torch):
    ours, theirs = nn.LazyLinear(4), torch.nn.LazyLinear(4).double()
    assert list(ours.parameters()) == []
    x = np.random.default_rng(8).standard_normal((2, 5))
    ours(dg.tensor(x))
    theirs(torch.tensor(x))
    assert type(ours) is nn.Linear and ours.in_features == 5 and ours.weight.dtype == np.float64
    assert np.abs(ours.weight.numpy()).max() <= 1 / math.sqrt(5)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    check_module_parity(torch, ours, theirs, x, np.float64)
    # A state dict also sets the shapes, as torch's lazy modules do on load.
    fresh = nn.Sequential(nn.LazyLinear(4))
    fresh.load_state_dict({f"0.{k}": v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert_close(fresh(dg.tensor(x)), theirs(torch.tensor(x)), np.float64, "after load")
    no_bias = nn.LazyLinear(3, bias=False)
    no_bias(dg.ones(2, 6))
    assert no_bias.bias is None and no_bias.weight.shape == (3, 6)


ERRORS = [
    (nn.PixelShuffle(2), (1, 3, 4, 4),
     r"^PixelShuffle expects input \(\*, C, H, W\) with C divisible by 4; got \(1, 3, 4, 4\)"),
    (nn.PixelUnshuffle(2), (1, 3, 5, 4), r"^PixelUnshuffle expects input .* divisible by 2; got"),
    (nn.ChannelShuffle(4), (2, 6, 3), r"^ChannelShuffle expects input \(N, C, \*\) with C "
     r"divisible by 4; got \(2, 6, 3\)"),
    (nn.Softmax2d(), (2, 3), r"^Softmax2d expects input \(N, C, H, W\) or \(C, H, W\); got"),
    (nn.Unfold(2), (2, 3, 4), None),
    (nn.Unfold(2), (4, 4), r"^Unfold expects input \(N, C, H, W\) or \(C, H, W\); got \(4, 4\)"),
    (nn.Fold((4, 4), 2), (2, 10, 9), r"^fold: expects input \(N, C \* 4, 9\) or \(C \* 4, 9\) for "
     r"output_size \(4, 4\).*got \(2, 10, 9\)"),
    (nn.Fold((4, 4), 2), (2, 8, 7), r"^fold: expects input \(N, C \* 4, 9\).*got \(2, 8, 7\)"),
    (nn.AdaptiveAvgPool1d(2), (2, 3, 4, 5),
     r"^AdaptiveAvgPool1d expects input \(N, C, L\) or \(C, L\); got \(2, 3, 4, 5\)"),
    (nn.LPPool2d(2, 2), (3, 4), r"^LPPool2d expects input \(N, C, H, W\) or \(C, H, W\); got"),
    (nn.ConvTranspose1d(4, 2, 3), (2, 3, 5),
     r"^ConvTranspose1d expects input \(N, 4, L\); got \(2, 3, 5\)"),
    (nn.InstanceNorm1d(3), (2, 4, 5), r"^InstanceNorm1d expects input \(N, 3, L\) or \(3, L\); got "
     r"\(2, 4, 5\)"),
    (nn.ReflectionPad1d(3), (2, 3, 3), r"'reflect' widths must be smaller than the size"),
    (nn.ZeroPad1d(1), (2, 3, 4, 5), r"^ZeroPad1d expects input \(N, C, L\) or \(C, L\); got"),
    (nn.Dropout1d(), (2, 3, 4, 5), r"^Dropout1d expects input \(N, C, L\) or \(C, L\); got"),
    (nn.Bilinear(3, 4, 2), (5, 3), r"^Bilinear expects input \(\.\.\., 3\) and a second input "
     r"\(\.\.\., 4\) with the same leading dims; got \(5, 3\)\. The second input has shape "
     r"\(5, 5\)"),
]


@pytest.mark.parametrize(("layer", "shape", "message"), ERRORS)
def test_errors_name_the_layer_and_the_shapes(layer, shape, message):
    x = dg.randn(*shape)
    args = (x, dg.randn(5, 5)) if isinstance(layer, nn.Bilinear) else (x,)
    if message is None:  # a valid unbatched input
        assert layer(*args).shape == (8, 6)
        return
    with pytest.raises(dg.ShapeError, match=message):
        layer(*args)


def test_argument_errors():
    with pytest.raises(TypeError, match=r"^ZeroPad1d: padding must be an int or a tuple of 2 ints "
                       r"\(left, right\); got \(1, 2, 3\)"):
        nn.ZeroPad1d((1, 2, 3))
    with pytest.raises(ValueError, match=r"^softshrink: lambd must be >= 0; got -0\.5"):
        F.softshrink(dg.ones(2), -0.5)
    with pytest.raises(ValueError, match=r"^rrelu: lower \(0\.5\) must not exceed upper \(0\.2\)"):
        F.rrelu(dg.ones(2), 0.5, 0.2, training=True)
    with pytest.raises(ValueError, match=r"^pixel_shuffle: upscale_factor must be a positive int"):
        F.pixel_shuffle(dg.ones(1, 4, 2, 2), 0)
    with pytest.raises(ValueError, match=r"^lp_pool1d: norm_type must be a nonzero number"):
        F.lp_pool1d(dg.ones(1, 2, 4), 0, 2)
