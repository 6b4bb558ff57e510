"""Smooth activations (selu celu mish logsigmoid softsign glu softmin): gradcheck, parity with
torch, stability at extreme inputs, dtypes, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.nn import functional as F


def _tf(torch):
    return torch.nn.functional


# name -> (deepgrad function, torch function of (torch, x)); all elementwise.
CASES = {
    "selu": (F.selu, lambda torch, x: _tf(torch).selu(x)),
    "celu": (F.celu, lambda torch, x: _tf(torch).celu(x)),
    "celu(0.5)": (lambda x: F.celu(x, alpha=0.5), lambda torch, x: _tf(torch).celu(x, 0.5)),
    "celu(-2)": (lambda x: F.celu(x, -2.0), lambda torch, x: _tf(torch).celu(x, -2.0)),
    "mish": (F.mish, lambda torch, x: _tf(torch).mish(x)),
    "logsigmoid": (F.logsigmoid, lambda torch, x: _tf(torch).logsigmoid(x)),
    "softsign": (F.softsign, lambda torch, x: _tf(torch).softsign(x)),
}
NAMES = list(CASES)
# Along a dimension: name -> (deepgrad function, torch function, shapes to test).
DIM_CASES = {
    "glu": (F.glu, lambda torch, x: _tf(torch).glu(x), [(4,), (3, 6), (2, 3, 4)]),
    "glu(dim=0)": (lambda x: F.glu(x, 0), lambda torch, x: _tf(torch).glu(x, 0),
                   [(2,), (4, 3), (6, 1, 2)]),
    "glu(dim=1)": (lambda x: F.glu(x, dim=1), lambda torch, x: _tf(torch).glu(x, 1),
                   [(3, 2), (2, 8, 3)]),
    "softmin(-1)": (lambda x: F.softmin(x, -1), lambda torch, x: _tf(torch).softmin(x, -1),
                    [(5,), (3, 4), (2, 3, 4)]),
    "softmin(0)": (lambda x: F.softmin(x, dim=0), lambda torch, x: _tf(torch).softmin(x, 0),
                   [(), (5,), (3, 4)]),
}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def _away_from_zero(x):
    # selu's derivative jumps at 0; the others are smooth there, but one rule keeps it simple.
    return np.where(np.abs(x) < 0.05, np.where(x >= 0, 0.1, -0.1), x)


# ---------------------------------------------------------------- gradcheck (float64)
@pytest.mark.parametrize("shape", [(3, 4), (), (2, 1, 5)], ids=["2d", "0d", "3d"])
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name, shape):
    x = _away_from_zero(np.random.default_rng(0).standard_normal(shape) * 3)
    assert dg.gradcheck(CASES[name][0], [dg.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_non_contiguous_and_composed(name):
    a = _away_from_zero(np.random.default_rng(1).standard_normal((5, 4)) * 3)
    x = dg.from_numpy(a.T).requires_grad_()
    fn = CASES[name][0]
    assert dg.gradcheck(lambda t: fn(t) * fn(t) + t * fn(t), [x])


def _dim_cases():
    return [(name, shape) for name, case in DIM_CASES.items() for shape in case[2]]


@pytest.mark.parametrize("name, shape", _dim_cases())
def test_gradcheck_along_a_dimension(name, shape):
    x = dg.tensor(np.random.default_rng(2).standard_normal(shape) * 2, requires_grad=True)
    assert dg.gradcheck(DIM_CASES[name][0], [x])


# ---------------------------------------------------------------- parity with torch
@DTYPES
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", NAMES)
def test_parity(torch, name, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, rng.integers(0, 4)))
    dg_fn, torch_fn = CASES[name]
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    check_parity(torch, dg_fn, lambda t: torch_fn(torch, t), [x])


@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_parity_at_zero_and_across_ranges(torch, name, dtype):
    x = np.array([-25.0, -20.0, -8.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 1.0, 8.0, 20.0, 25.0], dtype)
    dg_fn, torch_fn = CASES[name]
    check_parity(torch, dg_fn, lambda t: torch_fn(torch, t), [x])


@DTYPES
@pytest.mark.parametrize("name, shape", _dim_cases())
def test_parity_along_a_dimension(torch, name, shape, dtype):
    x = (np.random.default_rng(3).standard_normal(shape) * 3).astype(dtype)
    dg_fn, torch_fn, _ = DIM_CASES[name]
    check_parity(torch, dg_fn, lambda t: torch_fn(torch, t), [x])


# ---------------------------------------------------------------- stability
@pytest.mark.filterwarnings("error")
@DTYPES
@pytest.mark.parametrize("name", [n for n in NAMES if n != "celu(-2)"])
def test_extreme_inputs_finite_and_equal_to_torch(torch, name, dtype):
    x = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4], dtype)
    dg_fn, torch_fn = CASES[name]
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yd, yt = dg_fn(xd), torch_fn(torch, xt)
    yd.backward(dg.ones_like(yd))
    yt.backward(torch.ones_like(yt))
    assert np.all(np.isfinite(yd.numpy())) and np.all(np.isfinite(xd.grad.numpy()))
    # Elementwise relative: the floor only forgives float32 denormals (mish(-100)).
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), rtol=rtol, atol=1e-37)
    if name == "softsign" and dtype == np.float32:
        # Both differentiate x / (1 + |x|) as a quotient, whose two terms cancel for large |x|:
        # float32 keeps about 4 digits of 1 / (1 + |x|)**2 at |x| = 1e3, in either framework.
        rtol = 3e-4
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=1e-37)


@pytest.mark.filterwarnings("error")
def test_celu_negative_alpha_overflows_like_torch(torch):
    x = np.array([-2000.0, -1.0, 1.0], np.float64)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yd, yt = F.celu(xd, -2.0), _tf(torch).celu(xt, -2.0)
    yd.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(yd.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xd.grad.numpy(), xt.grad.numpy())
    assert yd.numpy()[0] == -np.inf


def test_known_values():
    x = dg.tensor([-1.0, 0.0, 2.0], dtype=dg.float64)
    np.testing.assert_allclose(F.selu(x).numpy(), [1.0507009873554805 * 1.6732632423543772 *
                                                   np.expm1(-1.0), 0.0, 2.1014019747109610],
                               rtol=1e-15)
    np.testing.assert_allclose(F.celu(x, 2.0).numpy(), [2 * np.expm1(-0.5), 0.0, 2.0],
                               rtol=1e-15)
    np.testing.assert_allclose(F.mish(x).numpy(), [-np.tanh(np.log1p(np.exp(-1.0))), 0.0,
                                                   2 * np.tanh(np.log1p(np.exp(2.0)))],
                               rtol=1e-15)
    np.testing.assert_allclose(F.softsign(x).numpy(), [-0.5, 0.0, 2 / 3], rtol=1e-15)
    np.testing.assert_allclose(F.logsigmoid(dg.tensor([-50.0], dtype=dg.float64)).numpy(),
                               [-50.0 - np.log1p(np.exp(-50.0))], rtol=1e-15)


# ---------------------------------------------------------------- dtypes and graph behaviour
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("name", NAMES + list(DIM_CASES))
def test_keeps_float_dtype_and_no_grad_values(name, dtype):
    fn = CASES[name][0] if name in CASES else DIM_CASES[name][0]
    x = dg.tensor(np.random.default_rng(4).standard_normal((4, 6)), dtype=dtype,
                  requires_grad=True)
    y = fn(x)
    assert y.dtype == dtype and y.requires_grad
    y.backward(dg.ones_like(y))
    assert x.grad.dtype == dtype
    with dg.no_grad():
        np.testing.assert_array_equal(fn(x).numpy(), y.numpy())


def test_softsign_of_integers_is_float32_as_in_torch():
    y = F.softsign(dg.tensor([-3, 0, 1]))
    assert y.dtype == dg.float32
    np.testing.assert_allclose(y.numpy(), [-0.75, 0.0, 0.5])


@pytest.mark.parametrize("fn, op", [(F.selu, "selu"), (F.celu, "celu"), (F.mish, "mish"),
                                    (F.logsigmoid, "logsigmoid"), (F.glu, "glu"),
                                    (lambda t: F.softmin(t, 0), "softmin")])
def test_integer_tensor_rejected_where_torch_rejects_it(fn, op):
    with pytest.raises(TypeError, match=rf"{op}: expects a floating-point tensor, got dtype int64"):
        fn(dg.tensor([1, -2]))


# ---------------------------------------------------------------- errors
def test_celu_alpha():
    with pytest.raises(ValueError, match=r"celu: alpha must be nonzero"):
        F.celu(dg.tensor([1.0]), 0.0)
    with pytest.raises(TypeError, match=r"celu: alpha must be a number, got str"):
        F.celu(dg.tensor([1.0]), "1")


@pytest.mark.parametrize("shape, dim, error, message", [
    ((3,), -1, dg.ShapeError, r"glu: dimension -1 must have an even size to be halved; got size "
                              r"3 in shape \(3\)"),
    ((2, 5), 1, dg.ShapeError, r"glu: dimension 1 must have an even size .* shape \(2, 5\)"),
    ((), 0, dg.ShapeError, r"glu: expects a tensor with at least one dimension"),
    ((2, 4), 2, IndexError, r"glu: dimension 2 is out of range"),
])
def test_glu_errors(shape, dim, error, message):
    with pytest.raises(error, match=message):
        F.glu(dg.ones(*shape), dim)


def test_softmin_errors():
    with pytest.raises(TypeError, match=r"softmin: dim must be an int; got None"):
        F.softmin(dg.ones(2, 3), None)
    with pytest.raises(IndexError, match=r"softmin: dimension 2 is out of range"):
        F.softmin(dg.ones(2, 3), 2)
