"""The fused linear op: gradcheck, parity with torch.nn.functional.linear, layouts, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
import deepgrad.nn.functional as F

SHAPES = [((3, 4), True), ((2, 3, 4), True), ((4,), False), ((1, 4), True)]


@pytest.mark.parametrize(("x_shape", "with_bias"), SHAPES)
def test_gradcheck(x_shape, with_bias):
    x = dg.randn(*x_shape, dtype=dg.float64, requires_grad=True)
    w = dg.randn(5, 4, dtype=dg.float64, requires_grad=True)
    b = dg.randn(5, dtype=dg.float64, requires_grad=True) if with_bias else None
    assert dg.gradcheck(F.linear, (x, w, b))


def test_gradcheck_non_contiguous_input():
    x = dg.from_numpy(np.random.default_rng(0).standard_normal((4, 3)).T).requires_grad_()
    w = dg.randn(2, 4, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(F.linear, (x, w, dg.randn(2, dtype=dg.float64, requires_grad=True)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("x_shape", "with_bias"), SHAPES)
def test_parity_with_torch(torch, dtype, x_shape, with_bias):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)]
    if with_bias:
        arrays.append(rng.standard_normal(5).astype(dtype))
    check_parity(torch, F.linear, torch.nn.functional.linear, arrays)


def test_weight_gradient_has_the_weights_layout():
    x = dg.randn(8, 4)
    w = dg.randn(3, 4, requires_grad=True)
    F.linear(x, w).sum().backward()
    assert w.grad.numpy().flags.c_contiguous


def test_input_without_grad_gets_none_and_matches_primitives():
    x = dg.randn(6, 4)
    w = dg.randn(3, 4, requires_grad=True)
    b = dg.randn(3, requires_grad=True)
    F.linear(x, w, b).tanh().sum().backward()
    w2 = w.detach().clone().requires_grad_()
    b2 = b.detach().clone().requires_grad_()
    (x @ w2.T + b2).tanh().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), b2.grad.numpy(), rtol=1e-6)
    assert x.grad is None


def test_errors_name_the_shapes():
    w = dg.randn(3, 4)
    with pytest.raises(dg.ShapeError, match=r"linear: expects input \(\.\.\., 4\) for a weight "
                                            r"of shape \(3, 4\); got \(2, 5\)"):
        F.linear(dg.randn(2, 5), w)
    with pytest.raises(dg.ShapeError, match=r"linear: bias must have shape \(3\)"):
        F.linear(dg.randn(2, 4), w, dg.randn(4))
    with pytest.raises(dg.ShapeError, match="linear: weight must be 2-D"):
        F.linear(dg.randn(2, 4), dg.randn(4))
    with pytest.raises(TypeError, match="linear: input, weight and bias must have the same dtype"):
        F.linear(dg.randn(2, 4, dtype=dg.float64), w)
    with pytest.raises(TypeError, match=r"got uint8, float32; convert integer inputs to floats"):
        F.linear(dg.tensor(np.zeros((2, 4), np.uint8)), w)
