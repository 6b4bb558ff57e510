"""Comparisons and logic: == != < <= > >=, isnan/isinf/isfinite, logical ops, any/all, allclose."""

import operator

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
               "gt": operator.gt, "ge": operator.ge}
SHAPES = [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), (3, 4)), ((), (2, 3))]


def _ties(shape, dtype, seed):
    # Small integers, so that equal elements are common.
    return np.random.default_rng(seed).integers(-2, 3, shape).astype(dtype)


@pytest.mark.parametrize("name", list(COMPARISONS))
@pytest.mark.parametrize(("a_shape", "b_shape"), SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_comparison_parity(torch, name, a_shape, b_shape, dtype):
    arrays = [_ties(a_shape, dtype, 0), _ties(b_shape, dtype, 1)]
    check_parity(torch, getattr(dg, name), getattr(torch, name), arrays)
    check_parity(torch, COMPARISONS[name], COMPARISONS[name], arrays)
    check_parity(torch, getattr(dg.Tensor, name), getattr(torch.Tensor, name), arrays)


@pytest.mark.parametrize("name", list(COMPARISONS))
@pytest.mark.parametrize("scalar", [0.0, 1, -1.5])
def test_comparison_with_scalars_on_either_side(torch, name, scalar):
    values = _ties((3, 4), np.float32, 2)
    op = COMPARISONS[name]
    x, t = dg.tensor(values), torch.tensor(values)
    np.testing.assert_array_equal(op(x, scalar).numpy(), op(t, scalar).numpy())
    np.testing.assert_array_equal(op(scalar, x).numpy(), op(scalar, t).numpy())
    ints = dg.tensor(values.astype(np.int64))
    np.testing.assert_array_equal(op(ints, scalar).numpy(), op(values.astype(np.int64), scalar))


def test_comparison_result_is_bool_without_graph():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    for result in (y > 2.0, y == x, dg.le(x, y), x.ne(3.0), dg.isnan(y), dg.logical_not(y),
                   dg.any(y > 0, dim=0), dg.all(y, dim=0)):
        assert result.dtype == dg.bool_
        assert not result.requires_grad
        assert result.grad_fn is None


def test_eq_returns_a_tensor_and_hash_stays_identity():
    x = dg.tensor([1.0, 2.0])
    result = x == dg.tensor([1.0, 3.0])
    assert isinstance(result, dg.Tensor)
    assert result.tolist() == [True, False]
    same_values = dg.tensor([1.0, 2.0])
    table = {x: "x", same_values: "other"}
    assert table[x] == "x"
    assert table[same_values] == "other"
    assert hash(x) == object.__hash__(x)


def test_comparison_with_other_objects():
    x = dg.tensor([1.0, 2.0])
    assert (x == None) is False  # noqa: E711 - what this test is about
    assert (x != None) is True  # noqa: E711
    assert (x == "a") is False
    with pytest.raises(TypeError):
        x < None  # noqa: B015


def test_comparison_broadcast_error():
    with pytest.raises(dg.ShapeError, match=r"lt: shapes \(2\) and \(3\) do not broadcast"):
        dg.zeros(2) < dg.zeros(3)  # noqa: B015
    with pytest.raises(dg.ShapeError, match=r"logical_and: shapes \(2, 3\) and \(2\) do not"):
        dg.logical_and(dg.zeros(2, 3), dg.zeros(2))


SPECIAL = np.array([[0.0, -1.5, np.nan, np.inf], [-np.inf, 2.0, np.nan, 3.0]])


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_parity(torch, name, dtype):
    arrays = [SPECIAL.astype(dtype)]
    check_parity(torch, getattr(dg, name), getattr(torch, name), arrays)
    check_parity(torch, getattr(dg.Tensor, name), getattr(torch.Tensor, name), arrays)


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_special_values_on_integers_and_bools(torch, name):
    for values in (np.array([0, 3, -2]), np.array([True, False])):
        assert getattr(dg, name)(dg.tensor(values)).tolist() == \
            getattr(torch, name)(torch.tensor(values)).tolist()


@pytest.mark.parametrize("dtype", [np.bool_, np.float64, np.int64])
def test_logical_parity(torch, dtype):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, (3, 4)).astype(dtype)
    b = rng.integers(0, 2, (4,)).astype(dtype)
    for name in ("logical_and", "logical_or"):
        check_parity(torch, getattr(dg, name), getattr(torch, name), [a, b])
        check_parity(torch, getattr(dg.Tensor, name), getattr(torch.Tensor, name), [a, b])
    check_parity(torch, dg.logical_not, torch.logical_not, [a])
    check_parity(torch, dg.Tensor.logical_not, torch.Tensor.logical_not, [a])


@pytest.mark.parametrize("name", ["any", "all"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (-1, 0, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", [np.bool_, np.float32])
def test_any_all_parity(torch, name, dim, keepdim, dtype):
    # Mostly-True values, so that both results appear along every dimension.
    values = (np.random.default_rng(4).random((2, 3, 4)) > 0.2).astype(dtype)
    kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    check_parity(torch, lambda x: getattr(dg, name)(x, **kwargs),
                 lambda t: getattr(torch, name)(t, **kwargs), [values])
    check_parity(torch, lambda x: getattr(x, name)(**kwargs),
                 lambda t: getattr(t, name)(**kwargs), [values])


def test_any_all_keepdim_without_dim_and_errors():
    x = dg.tensor([[True, False], [True, True]])
    assert dg.any(x).shape == ()
    assert dg.all(x, keepdim=True).tolist() == [[False]]
    assert x.any(dim=(0, 1)).item() is True
    with pytest.raises(IndexError, match=r"any: dimension 2 is out of range for a tensor with 2 "
                                         r"dimensions"):
        x.any(dim=2)
    with pytest.raises(ValueError, match=r"all: dimension \[0, -2\] lists a dimension twice"):
        x.all(dim=(0, -2))


def test_allclose_and_equal(torch):
    a = np.array([1.0, 2.0, 3.0])
    near = a + 5e-6
    x, y = dg.tensor(a), dg.tensor(near)
    assert dg.allclose(x, y) is torch.allclose(torch.tensor(a), torch.tensor(near)) is True
    assert x.allclose(a + 1e-3) is False
    assert dg.allclose(x, y, rtol=0.0, atol=1e-6) is False
    assert dg.allclose(x, dg.tensor(np.tile(a, (2, 1)))) is True
    nan = dg.tensor([np.nan, 1.0])
    assert dg.allclose(nan, nan) is False
    assert dg.allclose(nan, nan, equal_nan=True) is True
    assert dg.equal(x, dg.tensor(a)) is True
    assert x.equal(y) is False
    assert dg.equal(x, dg.tensor(a[:2])) is False
    assert dg.equal(x, dg.tensor(np.tile(a, (2, 1)))) is False
    assert dg.equal(nan, nan) is False
    assert dg.equal(x, x.float()) is True
    with pytest.raises(dg.ShapeError, match=r"allclose: shapes \(3\) and \(2\) do not broadcast"):
        dg.allclose(x, dg.zeros(2))


def test_methods_and_exports():
    names = ["eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "logical_not",
             "logical_and", "logical_or", "any", "all", "allclose", "equal"]
    for name in names:
        assert callable(getattr(dg.Tensor, name))
        assert callable(getattr(dg, name))
