"""nn.Linear: torch parity with copied weights, PyTorch's initialization, errors."""

import math

import numpy as np
import pytest
from helpers import check_module_parity

import deepgrad as dg
from deepgrad import nn


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parity_with_torch_linear(torch, bias, dtype):
    theirs = torch.nn.Linear(5, 3, bias=bias).to(torch.float64 if dtype == np.float64 else
                                                  torch.float32)
    ours = nn.Linear(5, 3, bias=bias).to(dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    check_module_parity(torch, ours, theirs,
                        np.random.default_rng(0).standard_normal((4, 2, 5)).astype(dtype), dtype)


def test_state_dict_keys_match_torch(torch):
    assert list(nn.Linear(3, 2).state_dict()) == list(torch.nn.Linear(3, 2).state_dict())


def test_gradcheck():
    layer = nn.Linear(4, 3).double()
    x = dg.randn(2, 4, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(lambda a, w, b: nn.functional.linear(a, w, b),
                        (x, layer.weight, layer.bias))


def test_default_initialization_is_pytorchs():
    dg.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # uniform(-a, a): a/sqrt(3)
    dg.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.numpy(), w)


def test_wrong_input_names_the_layer():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(dg.ShapeError, match=r"^Linear '0' expects input \(\.\.\., 4\); got "
                                            r"\(2, 5\)$"):
        model(dg.randn(2, 5))
    assert repr(model[0]) == "Linear(in_features=4, out_features=3, bias=True)"
