"""Tests of deepgrad.ops.vector_norm: norm for every order, gradients at 0, parity, errors."""

import math
import warnings

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

ORDERS = [2, 1, math.inf, -math.inf, 0, 3, 0.5, 1.5, -1]
DIMS_KEEPDIM = [(None, False), (0, False), (-1, True), ((0, 2), False), ((0, 2), True)]


def _leaf(shape=(3, 4, 2), seed=0):
    return dg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize(("dim", "keepdim"), DIMS_KEEPDIM)
@pytest.mark.parametrize("p", ORDERS)
def test_gradcheck(p, dim, keepdim):
    assert dg.gradcheck(lambda x: dg.norm(x, p, dim, keepdim), [_leaf()])


def test_gradcheck_noncontiguous_and_0d():
    x = dg.from_numpy(np.random.default_rng(1).standard_normal((4, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda t: t.norm(dim=1) + t.norm(3, 0).sum(), [x])
    assert dg.gradcheck(lambda t: t.norm(), [dg.tensor(-1.5, requires_grad=True)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("dim", "keepdim"), DIMS_KEEPDIM)
@pytest.mark.parametrize("p", ORDERS)
def test_parity_with_vector_norm(torch, p, dim, keepdim, dtype):
    array = np.random.default_rng(2).standard_normal((3, 4, 2)).astype(dtype)
    check_parity(torch, lambda x: x.norm(p, dim, keepdim),
                 lambda x: torch.linalg.vector_norm(x, p, dim, keepdim), [array])


@pytest.mark.parametrize("p", ORDERS)
def test_parity_with_torch_norm(torch, p):
    array = np.random.default_rng(3).standard_normal((4, 5))
    check_parity(torch, lambda x: dg.norm(x, p=p, dim=1),
                 lambda x: torch.norm(x, p=p, dim=1), [array])


# Zeros: a whole zero row (the norm is 0) and zeros next to nonzeros.
ZEROS = np.array([[0.0, 0.0, 0.0], [0.0, -2.0, 3.0], [1.0, -1.0, 0.5]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", ORDERS)
def test_zeros_match_torch_without_warnings(torch, p, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_parity(torch, lambda x: x.norm(p, 1), lambda x: x.norm(p, 1),
                     [ZEROS.astype(dtype)])


def test_two_norm_gradient_at_zero_is_zero():
    x = dg.zeros(3, dtype=dg.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_inf_norm_ties_share_the_gradient(torch):
    array = np.array([[3.0, -3.0, 1.0], [2.0, 2.0, 2.0]])
    check_parity(torch, lambda x: x.norm(math.inf, 1), lambda x: x.norm(math.inf, 1), [array])
    x = dg.tensor(array, requires_grad=True)
    x.norm(math.inf, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.5, -0.5, 0], [1 / 3, 1 / 3, 1 / 3]])


def test_fro_and_dtype_like_torch(torch):
    array = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    check_parity(torch, lambda x: x.norm("fro", (0, 1)), lambda x: x.norm("fro", (0, 1)),
                 [array])
    check_parity(torch, lambda x: dg.norm(x, dim=0, dtype=dg.float64),
                 lambda x: torch.norm(x, dim=0, dtype=torch.float64), [array])
    assert dg.norm(dg.tensor(array), dtype=dg.float64).dtype == dg.float64


def test_float32_stays_float32_and_empty_sum_norms_are_zero(torch):
    x = dg.randn(3, 4, requires_grad=True)
    y = x.norm(dim=1)
    assert y.dtype == dg.float32
    y.sum().backward()
    assert x.grad.dtype == dg.float32
    for p in (2, 1, 0, 3):
        expected = torch.linalg.vector_norm(torch.zeros(2, 0), p, 1).numpy()
        np.testing.assert_array_equal(dg.zeros(2, 0).norm(p, 1).numpy(), expected)


def test_methods_and_exports():
    assert dg.norm is dg.Tensor.norm


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: dg.norm(dg.tensor([1, 2])), TypeError,
     r"^norm: expects a floating point tensor; got dtype int64"),
    (lambda x: x.norm("nuc"), TypeError,
     r"^norm: p must be a number \(such as 2, 1, inf, -inf or 0\) or 'fro'; got 'nuc'"),
    (lambda x: x.norm(True), TypeError, r"^norm: p must be a number .* got True"),
    (lambda x: x.norm(dim=2), IndexError,
     r"^norm: dimension 2 is out of range for a tensor with 2 dimensions \(expected -2 to 1\)"),
    (lambda x: x.norm(dim=1.5), TypeError, r"^norm: dim must be an int, a tuple of ints"),
    (lambda x: x.double().norm(dtype=dg.float32), TypeError,
     r"^norm: dtype must be a floating type at least as wide as the input's float64; got "
     r"float32"),
    (lambda x: x.norm(dtype=dg.int64), TypeError, r"^norm: dtype must be a floating type"),
    (lambda x: dg.zeros(2, 0).norm(math.inf, 1), dg.ShapeError,
     r"^norm: cannot compute the inf norm over dimension 1 of size 0 \(input shape \(2, 0\)\)"),
    (lambda x: dg.zeros(0, 2).norm(-1), dg.ShapeError, r"^norm: cannot compute the -1 norm"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn(dg.randn(3, 4))
