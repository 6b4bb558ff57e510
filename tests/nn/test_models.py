"""The model zoo: each model builds, runs forward and backward, has the parameter count that
summary prints, and loads the state_dict of the same architecture written in torch."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad import models, nn


def torch_cnn(t, in_channels=1, num_classes=10, widths=(32, 64, 128), hidden=128,
              dropout=0.1):
    tnn = t.nn
    blocks = []
    for i, o in zip([in_channels, *widths], widths):
        blocks += [tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU(),
                   tnn.MaxPool2d(2)]
    side = 28 >> len(widths)

    class CNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(*blocks)
            self.classifier = tnn.Sequential(
                tnn.Flatten(), tnn.Dropout(dropout), tnn.Linear(widths[-1] * side * side, hidden),
                tnn.ReLU(), tnn.Dropout(dropout), tnn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    return CNN()


def torch_resnet(t, depth=8, in_channels=1, num_classes=10, width=4):
    tnn = t.nn

    def conv_bn(i, o, k, s):
        return [tnn.Conv2d(i, o, k, s, padding=k // 2, bias=False), tnn.BatchNorm2d(o)]

    class Residual(tnn.Module):
        def __init__(self, block, shortcut):
            super().__init__()
            self.block, self.shortcut = block, shortcut

        def forward(self, x):
            return self.block(x) + (x if self.shortcut is None else self.shortcut(x))

    class Block(tnn.Module):
        def __init__(self, i, o, s):
            super().__init__()
            shortcut = tnn.Sequential(*conv_bn(i, o, 1, s)) if s != 1 or i != o else None
            self.residual = Residual(tnn.Sequential(*conv_bn(i, o, 3, s), tnn.ReLU(),
                                                    *conv_bn(o, o, 3, 1)), shortcut)
            self.relu = tnn.ReLU()

        def forward(self, x):
            return self.relu(self.residual(x))

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            n = (depth - 2) // 6
            self.stem = tnn.Sequential(*conv_bn(in_channels, width, 3, 1), tnn.ReLU())
            blocks, c = [], width
            for stage, o in enumerate((width, 2 * width, 4 * width)):
                for i in range(n):
                    blocks.append(Block(c, o, 2 if stage and not i else 1))
                    c = o
            self.stages = tnn.Sequential(*blocks)
            self.head = tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(),
                                       tnn.Linear(c, num_classes))

        def forward(self, x):
            return self.head(self.stages(self.stem(x)))

    return ResNet()


def torch_mobilenet(t, width=0.25, in_channels=1, num_classes=10):
    tnn = t.nn
    c = max(8, int(32 * width))
    stem = tnn.Sequential(tnn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                          tnn.BatchNorm2d(c), tnn.ReLU())
    blocks = []
    for out, s in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 1)):
        o = max(8, int(out * width))
        blocks.append(tnn.Sequential(
            tnn.Conv2d(c, c, 3, s, padding=1, groups=c, bias=False), tnn.BatchNorm2d(c),
            tnn.ReLU(), tnn.Conv2d(c, o, 1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU()))
        c = o
    model = tnn.Module()
    model.stem, model.blocks = stem, tnn.Sequential(*blocks)
    model.head = tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(c, num_classes))
    model.forward = lambda x: model.head(model.blocks(model.stem(x)))
    return model


def torch_mlp(t):
    tnn = t.nn
    return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 32), tnn.ReLU(), tnn.Linear(32, 10))


ZOO = [
    (lambda: models.mlp((784, 32, 10)), torch_mlp),
    (lambda: models.cnn(widths=(8, 16, 16), hidden=16),
     lambda t: torch_cnn(t, widths=(8, 16, 16), hidden=16)),
    (lambda: models.cnn(widths=(8, 16), hidden=16),
     lambda t: torch_cnn(t, widths=(8, 16), hidden=16)),
    (lambda: models.resnet(depth=8, width=4), torch_resnet),
    (lambda: models.mobilenet(width=0.25), torch_mobilenet),
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
