"""Tests of deepgrad.ops.scan: cumsum, cumprod (gradients also at zeros), parity, errors."""

import warnings

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg


def _leaf(array):
    return dg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


SHAPES_DIMS = [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2), ((2, 3, 1), 2), ((), 0)]

# Rows with zeros in every place cumprod's gradient distinguishes: none, one, two, at the start,
# at the end, next to each other, all.
ZEROS = np.array([
    [1.5, -2.0, 0.5, 3.0, -1.0],
    [2.0, 0.0, 3.0, -1.5, 0.5],
    [2.0, 0.0, 3.0, 0.0, 5.0],
    [0.0, 1.5, -2.0, 0.5, 2.0],
    [1.5, 2.0, -0.5, 3.0, 0.0],
    [1.5, 0.0, 0.0, 3.0, 2.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
])


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize(("shape", "dim"), SHAPES_DIMS)
def test_gradcheck(name, shape, dim):
    x = _leaf(np.random.default_rng(0).standard_normal(shape))
    assert dg.gradcheck(lambda t: getattr(dg, name)(t, dim), [x])


@pytest.mark.parametrize("dim", [0, 1])
def test_gradcheck_cumprod_with_zeros(dim):
    # cumprod is multilinear, so finite differences are exact at zeros too.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dg.gradcheck(lambda t: t.cumprod(dim), [_leaf(ZEROS)])


def test_gradcheck_noncontiguous():
    x = dg.from_numpy(np.random.default_rng(1).standard_normal((4, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda t: t.cumsum(1) * t.cumprod(0), [x])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize(("shape", "dim"), SHAPES_DIMS)
def test_parity(torch, name, shape, dim, dtype):
    array = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    check_parity(torch, lambda x: getattr(dg, name)(x, dim),
                 lambda x: getattr(torch, name)(x, dim), [array])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_with_zeros_matches_torch(torch, dim, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_parity(torch, lambda x: x.cumprod(dim), lambda x: x.cumprod(dim),
                     [ZEROS.astype(dtype)])


def test_cumprod_gradient_at_zeros_by_hand():
    x = _leaf([2.0, 0.0, 3.0, 0.0, 5.0])
    x.cumprod(0).backward(np.array([0.0, 1.0, 2.0, 3.0, 4.0]))
    # Only the first zero gets a gradient: y_0 * (g_1 + g_2 * x_2) = 2 * (1 + 2 * 3).
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 14.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_integers_accumulate_as_int64_like_torch(torch, name):
    for dtype in ("int32", "uint8", "bool"):
        array = np.array([[3, 1, 2], [1, 0, 4]]).astype(dtype)
        out = getattr(dg, name)(dg.tensor(array), 1)
        expected = getattr(torch, name)(torch.tensor(array), 1)
        assert out.dtype == dg.int64
        np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_dtype_converts_first_differentiably(torch, name):
    array = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    check_parity(torch, lambda x: getattr(dg, name)(x, 1, dtype=dg.float64),
                 lambda x: getattr(torch, name)(x, 1, dtype=torch.float64), [array])
    out = getattr(dg.tensor([1.5, 2.5]), name)(0, dtype=dg.int64)
    assert out.dtype == dg.int64


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_float32_stays_float32(name):
    x = dg.randn(3, 4, requires_grad=True)
    y = getattr(x, name)(1)
    assert y.dtype == dg.float32
    y.sum().backward()
    assert x.grad.dtype == dg.float32


def test_methods_and_exports():
    for name in ("cumsum", "cumprod"):
        assert getattr(dg, name) is getattr(dg.Tensor, name)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_errors(name):
    fn = getattr(dg, name)
    with pytest.raises(IndexError, match=rf"^{name}: dimension 2 is out of range for a tensor "
                                         r"with 2 dimensions \(expected -2 to 1\)"):
        fn(dg.randn(3, 4), 2)
    with pytest.raises(TypeError, match=rf"^{name}: dim must be an int; got None"):
        fn(dg.randn(3, 4), None)
    with pytest.raises(TypeError, match=rf"^{name}: input must be a Tensor; got list"):
        fn([1.0, 2.0], 0)
    with pytest.raises(TypeError, match="dim"):
        fn(dg.randn(3))
