"""Activation and shape layers: same outputs and gradients as the torch modules; errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad import nn

CASES = [
    (lambda: nn.ReLU(), lambda t: t.nn.ReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2)),
    (lambda: nn.ELU(0.5), lambda t: t.nn.ELU(0.5)),
    (lambda: nn.GELU(), lambda t: t.nn.GELU()),
    (lambda: nn.GELU("tanh"), lambda t: t.nn.GELU("tanh")),
    (lambda: nn.SiLU(), lambda t: t.nn.SiLU()),
    (lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
    (lambda: nn.Softmax(dim=1), lambda t: t.nn.Softmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=-1), lambda t: t.nn.LogSoftmax(dim=-1)),
    (lambda: nn.Flatten(), lambda t: t.nn.Flatten()),
    (lambda: nn.Flatten(0, 1), lambda t: t.nn.Flatten(0, 1)),
    (lambda: nn.Unflatten(1, (2, 3)), lambda t: t.nn.Unflatten(1, (2, 3))),
    (lambda: nn.Identity(), lambda t: t.nn.Identity()),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("ours", "theirs"), CASES)
def test_parity_with_torch_modules(torch, dtype, ours, theirs):
    x = np.random.default_rng(0).standard_normal((4, 6, 2)).astype(dtype)
    check_parity(torch, ours(), theirs(torch), [x])


@pytest.mark.parametrize(("ours", "_"), CASES)
def test_gradcheck(ours, _):
    x = dg.randn(3, 6, 2, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(ours(), (x,))


def test_reprs():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.ReLU()) == "ReLU()"


def test_shape_layer_errors_name_the_layer():
    model = nn.Sequential(nn.Identity(), nn.Unflatten(1, (2, 3)))
    with pytest.raises(dg.ShapeError, match=r"^Unflatten '1' expects input with dimension 1 of "
                                            r"size 6; got \(4, 5\)$"):
        model(dg.randn(4, 5))
    with pytest.raises(dg.ShapeError, match=r"^Flatten expects input with at least 2 "
                                            r"dimensions; got \(5\)$"):
        nn.Flatten()(dg.randn(5))
