"""Tests of deepgrad.ops.sorting: sort, argsort, topk: gradients, PyTorch parity, ties, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops.sorting import ValuesIndices


def _leaf(shape, seed=0):
    return dg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# (id, shape, fn(module, x)): the same code for deepgrad and torch.
CASES = [
    ("sort-1d", (6,), lambda m, x: m.sort(x)),
    ("sort-dim0", (3, 4), lambda m, x: m.sort(x, 0)),
    ("sort-descending", (3, 4), lambda m, x: m.sort(x, -1, True)),
    ("sort-method", (2, 3, 4), lambda m, x: x.sort(dim=1, descending=True)),
    ("sort-stable", (2, 3, 4), lambda m, x: m.sort(x, stable=True, dim=0)),
    ("sort-0d", (), lambda m, x: m.sort(x)),
    ("topk", (3, 5), lambda m, x: m.topk(x, 2)),
    ("topk-smallest", (3, 5), lambda m, x: m.topk(x, 3, 0, largest=False)),
    ("topk-all", (2, 4), lambda m, x: x.topk(4, dim=-1)),
    ("topk-zero", (2, 4), lambda m, x: m.topk(x, 0, 1)),
    ("topk-middle-dim", (2, 5, 3), lambda m, x: x.topk(2, 1, True, True)),
    ("topk-0d", (), lambda m, x: m.topk(x, 1)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("shape", "fn"), [c[1:] for c in CASES], ids=IDS)
def test_gradcheck(shape, fn):
    assert dg.gradcheck(lambda x: fn(dg, x), [_leaf(shape)])


def test_gradcheck_noncontiguous():
    x = dg.from_numpy(np.random.default_rng(1).standard_normal((5, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda t: t.sort(0).values * 2 + t.topk(2).values.sum(), [x])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "fn"), [c[1:] for c in CASES], ids=IDS)
def test_parity(torch, shape, fn, dtype):
    array = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    check_parity(torch, lambda x: fn(dg, x), lambda x: fn(torch, x), [array])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
def test_argsort_parity(torch, dim, descending):
    array = np.random.default_rng(3).standard_normal((4, 5))
    check_parity(torch, lambda x: dg.argsort(x, dim, descending),
                 lambda x: torch.argsort(x, dim, descending), [array])
    check_parity(torch, lambda x: x.argsort(dim=dim, descending=descending, stable=True),
                 lambda x: x.argsort(dim=dim, descending=descending, stable=True), [array])


# --------------------------------------------------------------------------- ties and NaN

TIES = np.array([[1.0, 3.0, 3.0, 0.0, 3.0, 1.0], [2.0, 2.0, np.nan, 2.0, np.nan, -1.0]])


@pytest.mark.parametrize("descending", [False, True])
def test_ties_keep_input_order_like_torch_stable(torch, descending):
    for stable in (False, True):
        values, indices = dg.sort(dg.tensor(TIES), descending=descending, stable=stable)
        expected = torch.sort(torch.tensor(TIES), descending=descending, stable=True)
        np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())
        np.testing.assert_array_equal(dg.argsort(dg.tensor(TIES), descending=descending).numpy(),
                                      expected.indices.numpy())


def test_nan_sorts_as_largest():
    np.testing.assert_array_equal(dg.sort(dg.tensor(TIES[1])).indices.numpy(), [5, 0, 1, 3, 2, 4])
    descending = dg.sort(dg.tensor(TIES[1]), descending=True)
    np.testing.assert_array_equal(descending.indices.numpy(), [2, 4, 0, 1, 3, 5])
    np.testing.assert_array_equal(dg.topk(dg.tensor(TIES[1]), 1).indices.numpy(), [2])


def test_topk_takes_the_first_of_equal_elements(torch):
    x = dg.tensor(TIES[0], requires_grad=True)
    values, indices = x.topk(2)
    np.testing.assert_array_equal(indices.numpy(), [1, 2])
    np.testing.assert_array_equal(values.numpy(), torch.topk(torch.tensor(TIES[0]), 2).values)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 0, 0, 0])
    smallest = dg.topk(dg.tensor(TIES[0]), 3, largest=False, sorted=False)
    np.testing.assert_array_equal(smallest.indices.numpy(), [3, 0, 5])


def test_sort_gradient_goes_to_where_each_value_came_from():
    x = dg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values = x.sort(descending=True).values
    (values * dg.tensor([10.0, 20.0, 30.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 30.0, 20.0])


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_and_bool_sort_like_torch(torch, dtype):
    array = np.array([[3, 0, 255, 1, 1], [0, 1, 0, 1, 0]]).astype(dtype)
    for descending in (False, True):
        values, indices = dg.sort(dg.tensor(array), descending=descending)
        expected = torch.sort(torch.tensor(array), descending=descending, stable=True)
        assert values.dtype == array.dtype
        np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())
    expected = torch.topk(torch.tensor(array.astype(np.int64)), 2)
    np.testing.assert_array_equal(dg.topk(dg.tensor(array), 2).values.numpy().astype(np.int64),
                                  expected.values.numpy())


# --------------------------------------------------------------------------- behaviour


def test_returns_named_values_and_int64_indices_without_grad():
    x = dg.randn(3, 4, requires_grad=True)
    for result in (x.sort(), dg.topk(x, 2, 0)):
        assert isinstance(result, ValuesIndices)
        assert result.values.requires_grad
        assert result.indices.dtype == dg.int64
        assert not result.indices.requires_grad
    assert x.argsort().dtype == dg.int64
    assert not x.argsort().requires_grad


def test_float32_stays_float32():
    x = dg.randn(3, 4, requires_grad=True)
    for values in (x.sort(0).values, x.topk(2).values):
        assert values.dtype == dg.float32
        x.grad = None
        values.sum().backward()
        assert x.grad.dtype == dg.float32


def test_shapes_of_0d_and_empty_inputs(torch):
    assert dg.sort(dg.tensor(1.5)).indices.shape == ()
    assert dg.topk(dg.tensor(1.5), 0).values.item() == torch.topk(torch.tensor(1.5), 0)[0]
    assert dg.argsort(dg.tensor(1.5)).shape == ()
    assert dg.sort(dg.zeros(2, 0)).values.shape == (2, 0)
    assert dg.topk(dg.zeros(3, 4), 0).values.shape == (3, 0)


def test_methods_and_exports():
    for name in ("sort", "argsort", "topk"):
        assert getattr(dg, name) is getattr(dg.Tensor, name)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: x.sort(2), IndexError,
     r"^sort: dimension 2 is out of range for a tensor with 2 dimensions \(expected -2 to 1\)"),
    (lambda x: x.argsort(-3), IndexError, r"^argsort: dimension -3 is out of range"),
    (lambda x: x.topk(1, 5), IndexError, r"^topk: dimension 5 is out of range"),
    (lambda x: x.sort((0, 1)), TypeError, r"^sort: dim must be an int; got \(0, 1\)"),
    (lambda x: x.topk(5), ValueError,
     r"^topk: k=5 is out of range for dimension -1 of size 4 \(input shape \(3, 4\)\); "
     r"expected 0 <= k <= 4$"),
    (lambda x: x.topk(4, 0), ValueError, r"^topk: k=4 .* dimension 0 of size 3 .* k <= 3$"),
    (lambda x: x.topk(-1), ValueError, r"^topk: k=-1 is out of range"),
    (lambda x: x.topk(1.5), TypeError, r"^topk: k must be an int; got 1.5"),
    (lambda x: dg.sort(x.numpy()), TypeError, r"^sort: input must be a Tensor; got ndarray"),
    (lambda x: x.sort(0, True, True), TypeError, r"positional"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn(dg.randn(3, 4))
