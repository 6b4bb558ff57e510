"""The model zoo: each model builds, runs forward and backward, has the parameter count that
summary prints, and loads the state_dict of the same architecture written in torch."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad import models, nn
from deepgrad.bench.twins import torch_cnn, torch_mobilenet, torch_resnet


def torch_mlp(t):
    tnn = t.nn
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 32), tnn.ReLU(), tnn.Linear(32, 10))


ZOO = [
    (lambda: models.mlp((784, 32, 10)), torch_mlp),
    (lambda: models.cnn(widths=(8, 16, 16), hidden=16),
     lambda t: torch_cnn(t, widths=(8, 16, 16), hidden=16)),
    (lambda: models.cnn(widths=(8, 16), hidden=16),
     lambda t: torch_cnn(t, widths=(8, 16), hidden=16)),
    (lambda: models.resnet(depth=8, width=4), lambda t: torch_resnet(t, depth=8, width=4)),
    (lambda: models.mobilenet(width=0.25), lambda t: torch_mobilenet(t, width=0.25)),
]


@pytest.mark.parametrize(("ours_fn", "theirs_fn"), ZOO)
def test_loads_torch_weights_and_agrees(torch, ours_fn, theirs_fn):
    ours, theirs = ours_fn(), theirs_fn(torch)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    assert_close(ours(dg.tensor(x)), theirs(torch.tensor(x)), np.float32, "logits")


@pytest.mark.parametrize(("ours_fn", "_"), ZOO)
def test_forward_backward_and_summary(ours_fn, _):
    model = ours_fn()
    out = model(dg.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    dg.nn.functional.cross_entropy(out, dg.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in model.parameters())
    result = nn.summary(model, (2, 1, 28, 28), verbose=False)
    assert result.total_params == sum(p.numel() for p in model.parameters())
    assert result.rows[-1][2] == "(2, 10)"


def test_model_options():
    assert models.cnn(in_channels=3, num_classes=5, image_size=32)(dg.randn(1, 3, 32, 32)).shape \
        == (1, 5)
    assert models.resnet(depth=14, in_channels=3, num_classes=7)(dg.randn(1, 3, 32, 32)).shape \
        == (1, 7)
    with pytest.raises(ValueError, match=r"resnet: depth must be 6n \+ 2"):
        models.resnet(depth=10)
    with pytest.raises(ValueError, match="mlp: sizes needs at least an input and an output"):
        models.mlp((10,))


def test_cnn_rejects_impossible_geometry():
    with pytest.raises(ValueError, match="at least one block"):
        models.cnn(widths=())
    with pytest.raises(ValueError, match="need images of at least 8 pixels a side"):
        models.cnn(widths=(4, 4, 4), image_size=7)


def test_cnn_names_the_image_size_it_was_built_for():
    model = models.cnn()
    assert model(dg.randn(2, 1, 29, 31)).shape == (2, 10)  # pooled to the same 3x3
    with pytest.raises(dg.ShapeError, match=r"built for 28x28 images .* got 32x32: build it "
                                             r"with dg\.models\.cnn\(image_size=32\)$"):
        model(dg.randn(2, 1, 32, 32))
    with pytest.raises(dg.ShapeError, match=r"got 32x28: .*for square images, or resize them$"):
        model(dg.randn(1, 32, 28))  # one unbatched image of the wrong size
