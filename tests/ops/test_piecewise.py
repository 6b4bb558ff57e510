"""Piecewise-linear activations (relu6 hardtanh hardsigmoid hardswish prelu): gradcheck, parity
with torch (random inputs and exactly on the kinks), dtypes, the weight of prelu, errors."""

import numpy as np
import pytest
from helpers import assert_close, check_module_parity, check_parity

import deepgrad as dg
from deepgrad.nn import functional as F


def _tf(torch):
    return torch.nn.functional


# name -> (deepgrad function, torch function of (torch, x), kinks: gradcheck stays away).
CASES = {
    "relu6": (F.relu6, lambda torch, x: _tf(torch).relu6(x), (0.0, 6.0)),
    "hardtanh": (F.hardtanh, lambda torch, x: _tf(torch).hardtanh(x), (-1.0, 1.0)),
    "hardtanh(-0.5, 2)": (lambda x: F.hardtanh(x, min_val=-0.5, max_val=2.0),
                          lambda torch, x: _tf(torch).hardtanh(x, -0.5, 2.0), (-0.5, 2.0)),
    "hardtanh(1, 1)": (lambda x: F.hardtanh(x, 1.0, 1.0),
                       lambda torch, x: _tf(torch).hardtanh(x, 1.0, 1.0), (1.0,)),
    "hardsigmoid": (F.hardsigmoid, lambda torch, x: _tf(torch).hardsigmoid(x), (-3.0, 3.0)),
    "hardswish": (F.hardswish, lambda torch, x: _tf(torch).hardswish(x), (-3.0, 3.0)),
    "prelu(0.25)": (lambda x: F.prelu(x, dg.full((1,), 0.25, dtype=x.dtype)),
                    lambda torch, x: _tf(torch).prelu(x, torch.full((1,), 0.25, dtype=x.dtype)),
                    (0.0,)),
    "prelu(-1.5)": (lambda x: F.prelu(x, dg.full((), -1.5, dtype=x.dtype)),
                    lambda torch, x: _tf(torch).prelu(x, torch.full((), -1.5, dtype=x.dtype)),
                    (0.0,)),
}
NAMES = list(CASES)
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
# Exactly on (and next to) every kink and bound of the cases above.
KINKS = [-7.0, -6.0, -3.5, -3.0, -2.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 3.5, 6.0,
         7.0]


def _inputs(name, shape, rng, scale=3.0):
    """Random float64 inputs at least 0.05 away from the case's kinks."""
    x = rng.standard_normal(shape) * scale
    for kink in CASES[name][2]:
        near = np.abs(x - kink) < 0.05
        x = np.where(near, x + np.where(x >= kink, 0.1, -0.1), x)
    return x


def _parity(torch, name, x):
    dg_fn, torch_fn, _ = CASES[name]
    if name == "hardsigmoid" and x.dtype == np.float64:
        # torch multiplies the float64 gradient by 1/6 rounded to float32 (relative error
        # 3e-8); deepgrad uses the exact 1/6 (test_hardsigmoid_float64_gradient_is_exact).
        xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yd, yt = dg_fn(xd), torch_fn(torch, xt)
        assert_close(yd, yt, np.float64, "output")
        yd.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=0)
        return
    check_parity(torch, dg_fn, lambda t: torch_fn(torch, t), [x])


# ---------------------------------------------------------------- gradcheck (float64)
@pytest.mark.parametrize("shape", [(3, 4), (), (2, 1, 5)], ids=["2d", "0d", "3d"])
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name, shape):
    x = dg.tensor(_inputs(name, shape, np.random.default_rng(0)), requires_grad=True)
    assert dg.gradcheck(CASES[name][0], [x])


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_non_contiguous_and_composed(name):
    x = dg.from_numpy(_inputs(name, (5, 4), np.random.default_rng(1)).T).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    fn = CASES[name][0]
    assert dg.gradcheck(lambda t: fn(t) * fn(t) + t * fn(t), [x])


# ---------------------------------------------------------------- parity with torch
@DTYPES
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", NAMES)
def test_parity(torch, name, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, rng.integers(1, 4)))
    _parity(torch, name, (rng.standard_normal(shape) * 4).astype(dtype))


@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_parity_at_kinks_and_bounds(torch, name, dtype):
    # Exactly on every kink: the one-sided choice of the gradient must be torch's.
    x = np.array(KINKS, dtype)
    _parity(torch, name, np.concatenate([x, np.nextafter(x, -np.inf), np.nextafter(x, np.inf)]))


@DTYPES
def test_gradients_at_the_kinks(dtype):
    # torch's values, written out: 0 on hardtanh's and relu6's bounds, hardswish 0 at -3 and 1
    # at 3, hardsigmoid 0 at both ends, prelu the slope at 0.
    x = dg.tensor(np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0], dtype), requires_grad=True)
    for fn, expected in [
            (F.relu6, [0, 0, 0, 1, 1, 0]),
            (F.hardtanh, [0, 0, 1, 0, 0, 0]),
            (F.hardsigmoid, [0, 1 / 6, 1 / 6, 1 / 6, 0, 0]),
            (F.hardswish, [0, 1 / 6, 0.5, 5 / 6, 1, 1]),
            (lambda t: F.prelu(t, dg.full((1,), 0.2, dtype=t.dtype)), [0.2, 0.2, 0.2, 1, 1, 1])]:
        x.grad = None
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.array(expected, dtype), rtol=1e-7)


def test_hardsigmoid_float64_gradient_is_exact():
    x = dg.tensor([0.0, 1.0], dtype=dg.float64, requires_grad=True)
    F.hardsigmoid(x).sum().backward()
    assert x.grad.numpy().tolist() == [1 / 6, 1 / 6]


@pytest.mark.filterwarnings("error")
@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_equal_to_torch(torch, name, dtype):
    x = np.array([-1e30, -1e4, -30.0, 30.0, 1e4, 1e30], dtype)
    dg_fn, torch_fn, _ = CASES[name]
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yd, yt = dg_fn(xd), torch_fn(torch, xt)
    yd.backward(dg.ones_like(yd))
    yt.backward(torch.ones_like(yt))
    np.testing.assert_array_equal(yd.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xd.grad.numpy(), xt.grad.numpy())


# ---------------------------------------------------------------- prelu's weight
PRELU_SHAPES = [((4, 3), 3), ((2, 3, 5), 3), ((2, 3, 4, 5), 3), ((2, 3, 4, 5), 1), ((5,), 1),
                ((), 1), ((2, 1, 4), 1)]


@pytest.mark.parametrize("x_shape, count", PRELU_SHAPES)
def test_prelu_gradcheck_with_weight(x_shape, count):
    rng = np.random.default_rng(2)
    x = dg.tensor(_inputs("prelu(0.25)", x_shape, rng), requires_grad=True)
    weight = dg.tensor(rng.uniform(-2.0, 2.0, count), requires_grad=True)
    assert dg.gradcheck(F.prelu, [x, weight])


@DTYPES
@pytest.mark.parametrize("x_shape, count", PRELU_SHAPES)
def test_prelu_parity_with_weight(torch, x_shape, count, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(x_shape) * 2).astype(dtype)
    if x.ndim:
        x.reshape(-1)[:3] = 0.0  # exactly on the kink: the slope passes, the weight gets 0
    weight = rng.uniform(-2.0, 2.0, count).astype(dtype)
    check_parity(torch, F.prelu, _tf(torch).prelu, [x, weight])


def test_prelu_weight_without_input_gradient():
    x = dg.tensor([[-2.0, 1.0], [3.0, -4.0]])
    weight = dg.tensor([0.5, -1.0], requires_grad=True)
    F.prelu(x, weight).sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), [-2.0, -4.0])


def test_prelu_method_and_module_parity(torch):
    x = dg.tensor(np.random.default_rng(4).standard_normal((3, 2, 4)))
    weight = dg.tensor([0.1, -0.3], dtype=dg.float64)
    np.testing.assert_array_equal(x.prelu(weight).numpy(), F.prelu(x, weight).numpy())
    ours, theirs = dg.nn.PReLU(2, 0.1).double(), torch.nn.PReLU(2, 0.1).double()
    check_module_parity(torch, ours, theirs, x.numpy(), np.float64)


# ---------------------------------------------------------------- dtypes, graph behaviour
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("name", NAMES)
def test_keeps_float_dtype_and_no_grad_values(name, dtype):
    a = _inputs(name, (7,), np.random.default_rng(5))
    x = dg.tensor(a, dtype=dtype, requires_grad=True)
    y = CASES[name][0](x)
    assert y.dtype == dtype and y.requires_grad
    y.backward(dg.ones(7, dtype=dtype))
    assert x.grad.dtype == dtype
    with dg.no_grad():
        np.testing.assert_array_equal(CASES[name][0](x).numpy(), y.numpy())


def test_integer_inputs_follow_torch():
    ints = dg.tensor([-2, 0, 3, 8])
    assert F.relu6(ints).dtype == dg.int64 and F.relu6(ints).tolist() == [0, 0, 3, 6]
    assert F.hardtanh(ints).dtype == dg.int64 and F.hardtanh(ints).tolist() == [-1, 0, 1, 1]
    for fn, op in [(F.hardsigmoid, "hardsigmoid"), (F.hardswish, "hardswish"),
                   (lambda t: F.prelu(t, dg.tensor([0.5])), "prelu")]:
        with pytest.raises(TypeError, match=rf"{op}: expects a floating-point tensor"):
            fn(ints)


# ---------------------------------------------------------------- errors
def test_hardtanh_bounds():
    with pytest.raises(ValueError, match=r"hardtanh: min_val \(2.0\) cannot be greater than "
                                         r"max_val \(1.0\)"):
        F.hardtanh(dg.tensor([1.0]), 2.0, 1.0)
    with pytest.raises(TypeError, match=r"hardtanh: max_val must be a number, got str"):
        F.hardtanh(dg.tensor([1.0]), max_val="1")


@pytest.mark.parametrize("x_shape, weight, error, message", [
    ((2, 3), np.ones(2, np.float32), dg.ShapeError,
     r"prelu: weight has 2 elements but the input of shape \(2, 3\) has 3 channels"),
    ((3,), np.ones(3, np.float32), dg.ShapeError,
     r"prelu: weight has 3 elements but the input of shape \(3\) has 1 channels"),
    ((), np.ones(2, np.float32), dg.ShapeError,
     r"prelu: weight has 2 elements but the input of shape \(\) has no channels"),
    ((2, 3), np.ones((3, 1), np.float32), dg.ShapeError,
     r"prelu: weight must have 0 or 1 dimensions; got shape \(3, 1\)"),
    ((2, 3), np.ones(3, np.float64), TypeError,
     r"prelu: weight has dtype float64 but the input has float32"),
    ((2, 3), 0.25, TypeError, r"prelu: weight must be a Tensor, got float"),
])
def test_prelu_errors(x_shape, weight, error, message):
    weight = dg.tensor(weight) if isinstance(weight, np.ndarray) else weight
    with pytest.raises(error, match=message):
        F.prelu(dg.ones(*x_shape), weight)
