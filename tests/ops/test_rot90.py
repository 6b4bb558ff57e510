"""rot90: values and gradients against torch for every k and pair of dims, gradcheck, function
and method forms, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

X = np.random.default_rng(0).standard_normal((2, 3, 4))


@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (2, 0), (-1, -2), [0, 2]])
@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 3, 4, 5])
def test_matches_torch(torch, k, dims):
    check_parity(torch, lambda x: dg.rot90(x, k, dims), lambda x: torch.rot90(x, k, dims), [X])
    check_parity(torch, lambda x: x.rot90(k=k, dims=dims), lambda x: x.rot90(k=k, dims=dims),
                 [X.astype(np.float32)])


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_gradcheck(k):
    assert dg.gradcheck(lambda x: x.rot90(k, (2, 1)), [dg.tensor(X, requires_grad=True)])


def test_a_quarter_turn_and_defaults(torch):
    square = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(dg.rot90(dg.tensor(square)).numpy(), [[2, 4], [1, 3]])
    np.testing.assert_array_equal(dg.tensor(square).rot90().numpy(),
                                  torch.tensor(square).rot90().numpy())
    assert dg.rot90 is dg.Tensor.rot90


def test_k0_is_a_copy():
    x = dg.tensor(X)
    y = x.rot90(0)
    y.data[0, 0, 0] = 99.0
    assert x.numpy()[0, 0, 0] == X[0, 0, 0]


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: x.rot90(1, (0, 1, 2)), ValueError,
     r"^rot90: dims must name 2 dimensions; got 3: \(0, 1, 2\)$"),
    (lambda x: x[0, 0].rot90(), dg.ShapeError,
     r"^rot90: expects a tensor of at least 2 dimensions; got shape \(4\)$"),
    (lambda x: x.rot90(1, (0, -3)), ValueError,
     r"^rot90: dims must name two different dimensions; got \(0, -3\)$"),
    (lambda x: x.rot90(1, (0, 3)), IndexError,
     r"^rot90: dimension 3 is out of range for a tensor with 3 dimensions"),
    (lambda x: x.rot90(1, 0), TypeError, r"^rot90: dims must be a pair of ints; got 0$"),
    (lambda x: x.rot90(1.5), TypeError, r"^rot90: k must be an int; got 1.5$"),
    (lambda x: dg.rot90(X), TypeError, r"^rot90: input must be a Tensor; got ndarray"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn(dg.tensor(X))
