"""Activation and shape layers: same outputs and gradients as the torch modules, reprs, PReLU's
trained weight, errors."""

import numpy as np
import pytest
from helpers import assert_close, check_module_parity

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
    (lambda: nn.ReLU6(), lambda t: t.nn.ReLU6()),
    (lambda: nn.Hardtanh(), lambda t: t.nn.Hardtanh()),
    (lambda: nn.Hardtanh(-0.5, 2.0), lambda t: t.nn.Hardtanh(-0.5, 2.0)),
    (lambda: nn.Hardsigmoid(), lambda t: t.nn.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda t: t.nn.Hardswish()),
    (lambda: nn.PReLU(), lambda t: t.nn.PReLU()),
    (lambda: nn.PReLU(6, init=-0.5), lambda t: t.nn.PReLU(6, init=-0.5)),
    (lambda: nn.SELU(), lambda t: t.nn.SELU()),
    (lambda: nn.CELU(), lambda t: t.nn.CELU()),
    (lambda: nn.CELU(0.5), lambda t: t.nn.CELU(0.5)),
    (lambda: nn.Mish(), lambda t: t.nn.Mish()),
    (lambda: nn.LogSigmoid(), lambda t: t.nn.LogSigmoid()),
    (lambda: nn.Softsign(), lambda t: t.nn.Softsign()),
    (lambda: nn.Softplus(), lambda t: t.nn.Softplus()),
    (lambda: nn.Softplus(beta=2.0, threshold=1.0), lambda t: t.nn.Softplus(2.0, 1.0)),
    (lambda: nn.GLU(), lambda t: t.nn.GLU()),
    (lambda: nn.GLU(dim=1), lambda t: t.nn.GLU(dim=1)),
    (lambda: nn.Softmin(dim=1), lambda t: t.nn.Softmin(dim=1)),
    (lambda: nn.Flatten(), lambda t: t.nn.Flatten()),
    (lambda: nn.Flatten(0, 1), lambda t: t.nn.Flatten(0, 1)),
    (lambda: nn.Unflatten(1, (2, 3)), lambda t: t.nn.Unflatten(1, (2, 3))),
    (lambda: nn.Identity(), lambda t: t.nn.Identity()),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("ours", "theirs"), CASES)
def test_parity_with_torch_modules(torch, dtype, ours, theirs):
    x = (np.random.default_rng(0).standard_normal((4, 6, 2)) * 3).astype(dtype)
    ours, theirs = ours().to(dtype), theirs(torch).to(getattr(torch, np.dtype(dtype).name))
    if dtype == np.float64 and isinstance(ours, nn.Hardsigmoid):
        # torch scales the float64 gradient by 1/6 rounded to float32 (see tests/ops).
        dtype = np.float32
    check_module_parity(torch, ours, theirs, x, dtype)


@pytest.mark.parametrize(("ours", "_"), CASES)
def test_gradcheck(ours, _):
    x = dg.randn(3, 6, 2, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(ours().double(), (x,))


def test_reprs():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.PReLU(3)) == "PReLU(num_parameters=3)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"


REPRS = [
    (nn.ReLU6(), lambda t: t.nn.ReLU6()), (nn.Hardtanh(-2, 3), lambda t: t.nn.Hardtanh(-2, 3)),
    (nn.Hardsigmoid(), lambda t: t.nn.Hardsigmoid()), (nn.Hardswish(), lambda t: t.nn.Hardswish()),
    (nn.PReLU(), lambda t: t.nn.PReLU()), (nn.PReLU(4, 0.1), lambda t: t.nn.PReLU(4, 0.1)),
    (nn.SELU(), lambda t: t.nn.SELU()), (nn.CELU(), lambda t: t.nn.CELU()),
    (nn.CELU(0.5), lambda t: t.nn.CELU(0.5)), (nn.Mish(), lambda t: t.nn.Mish()),
    (nn.LogSigmoid(), lambda t: t.nn.LogSigmoid()), (nn.Softsign(), lambda t: t.nn.Softsign()),
    (nn.Softplus(2, 10), lambda t: t.nn.Softplus(2, 10)), (nn.GLU(), lambda t: t.nn.GLU()),
    (nn.GLU(1), lambda t: t.nn.GLU(1)), (nn.Softmin(dim=-1), lambda t: t.nn.Softmin(dim=-1)),
]


@pytest.mark.parametrize(("ours", "theirs"), REPRS, ids=[repr(ours) for ours, _ in REPRS])
def test_reprs_match_torch(torch, ours, theirs):
    assert repr(ours) == repr(theirs(torch))


def test_prelu_weight_is_trained_and_saved_under_torchs_key(torch):
    # Seeded: with some initial weights (about 1 in 12) every input of the last PReLU is
    # positive, and its slope rightly gets no gradient.
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 3), nn.PReLU(3, init=0.1), nn.Linear(3, 2), nn.PReLU())
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.PReLU(3, init=0.1),
                                 torch.nn.Linear(3, 2), torch.nn.PReLU())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.state_dict())[2:3] == ["1.weight"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 2))
    sgd_ours = dg.optim.SGD(ours.parameters(), lr=0.5)
    sgd_theirs = torch.optim.SGD(theirs.parameters(), lr=0.5)
    for _ in range(3):
        loss = ((ours(dg.tensor(x)) - dg.tensor(target.astype(np.float32))) ** 2).mean()
        loss.backward()
        sgd_ours.step()
        sgd_ours.zero_grad()
        t_loss = ((theirs(torch.tensor(x)) - torch.tensor(target, dtype=torch.float32)) ** 2)
        t_loss.mean().backward()
        sgd_theirs.step()
        sgd_theirs.zero_grad()
    trained = ours.state_dict()
    assert not np.allclose(trained["1.weight"], 0.1) and trained["3.weight"][0] != 0.25
    for key, value in theirs.state_dict().items():
        assert_close(trained[key], value, np.float32, key)


def test_activation_layer_errors():
    model = nn.Sequential(nn.Identity(), nn.PReLU(3))
    with pytest.raises(dg.ShapeError, match=r"^PReLU '1' expects input \(N, 3, \.\.\.\) with 3 "
                                            r"channels in dimension 1; got \(4, 5\)$"):
        model(dg.randn(4, 5))
    with pytest.raises(dg.ShapeError, match=r"^GLU expects input with an even size in dimension "
                                            r"-1; got \(4, 5\)$"):
        nn.GLU()(dg.randn(4, 5))
    with pytest.raises(ValueError, match=r"Hardtanh: min_val \(1\) cannot be greater than "
                                         r"max_val \(0\)"):
        nn.Hardtanh(1, 0)
    with pytest.raises(ValueError, match=r"PReLU: num_parameters must be a positive int, got 0"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match=r"celu: alpha must be nonzero"):
        nn.CELU(0.0)(dg.randn(2))


def test_shape_layer_errors_name_the_layer():
    model = nn.Sequential(nn.Identity(), nn.Unflatten(1, (2, 3)))
    with pytest.raises(dg.ShapeError, match=r"^Unflatten '1' expects input with dimension 1 of "
                                            r"size 6; got \(4, 5\)$"):
        model(dg.randn(4, 5))
    with pytest.raises(dg.ShapeError, match=r"^Flatten expects input with at least 2 "
                                            r"dimensions; got \(5\)$"):
        nn.Flatten()(dg.randn(5))
