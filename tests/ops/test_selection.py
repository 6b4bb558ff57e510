"""cummax, cummin, kthvalue, mode and histc: values, indices and gradients against torch,
gradcheck, ties and NaN, integer inputs, function and method forms, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops.sorting import ValuesIndices

rng = np.random.default_rng(0)
NAN = np.nan


def _normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# (id, shape, fn(module, x)): the same code for deepgrad and torch, on distinct values.
CASES = [
    ("cummax-1d", (6,), lambda m, x: m.cummax(x, 0)),
    ("cummax-dim1", (3, 5), lambda m, x: m.cummax(x, 1)),
    ("cummax-method-dim0", (4, 3, 2), lambda m, x: x.cummax(0)),
    ("cummax-0d", (), lambda m, x: m.cummax(x, -1)),
    ("cummin-1d", (6,), lambda m, x: m.cummin(x, 0)),
    ("cummin-method", (3, 5), lambda m, x: x.cummin(dim=-1)),
    ("cummin-middle", (2, 4, 3), lambda m, x: m.cummin(x, 1)),
    ("kthvalue", (3, 5), lambda m, x: m.kthvalue(x, 2)),
    ("kthvalue-dim0-keepdim", (4, 3), lambda m, x: m.kthvalue(x, 4, 0, True)),
    ("kthvalue-method", (2, 5, 3), lambda m, x: x.kthvalue(3, dim=1)),
    ("kthvalue-first", (3, 5), lambda m, x: x.kthvalue(1, -1, keepdim=True)),
    ("kthvalue-0d", (), lambda m, x: m.kthvalue(x, 1)),
    # Distinct values all occur once: the mode is the smallest, at its only position.
    ("mode", (3, 5), lambda m, x: m.mode(x)),
    ("mode-dim0-keepdim", (4, 3), lambda m, x: m.mode(x, 0, True)),
    ("mode-method", (2, 5, 3), lambda m, x: x.mode(dim=1)),
    ("mode-0d", (), lambda m, x: m.mode(x)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("shape", "fn"), [c[1:] for c in CASES], ids=IDS)
def test_gradcheck(shape, fn):
    assert dg.gradcheck(lambda x: fn(dg, x), [dg.tensor(_normal(shape), requires_grad=True)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "fn"), [c[1:] for c in CASES], ids=IDS)
def test_parity(torch, shape, fn, dtype):
    check_parity(torch, lambda x: fn(dg, x), lambda x: fn(torch, x),
                 [_normal(shape, 1).astype(dtype)])


def test_returns_named_values_and_int64_indices_without_grad():
    x = dg.randn(3, 4, requires_grad=True)
    for result in (x.cummax(0), dg.cummin(x, 1), x.kthvalue(2), dg.mode(x, 0)):
        assert isinstance(result, ValuesIndices)
        assert result.values.requires_grad and result.values.dtype == dg.float32
        assert result.indices.dtype == dg.int64 and not result.indices.requires_grad
    for name in ("cummax", "cummin", "kthvalue", "mode", "histc"):
        assert getattr(dg, name) is getattr(dg.Tensor, name)


# --------------------------------------------------------------------------- cummax, cummin

TIES = np.array([[1.0, 3.0, 3.0, 2.0, NAN, 5.0, NAN, 1.0],
                 [2.0, 2.0, 0.0, 0.0, 4.0, 4.0, -1.0, 4.0]])


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cum_extremes_ties_and_nan_like_torch(torch, name):
    # Equal extremes: the last one so far; NaN, once met, stays, at the last NaN so far.
    for data in (TIES, -TIES):
        check_parity(torch, lambda x, n=name: getattr(dg, n)(x, 1),
                     lambda x, n=name: getattr(torch, n)(x, 1), [data])


def test_cummax_gradient_sums_at_each_position():
    x = dg.tensor([1.0, 3.0, 2.0, 2.5, 4.0], requires_grad=True)
    x.cummax(0).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 3, 0, 0, 1])


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cum_extremes_of_integers_and_bools_like_torch(torch, name, dtype):
    data = np.array([[3, 0, 5, 5, 1, 0], [0, 1, 1, 0, 0, 1]]).astype(dtype)
    ours = getattr(dg, name)(dg.tensor(data), 1)
    theirs = getattr(torch, name)(torch.tensor(data), 1)
    assert ours.values.dtype == data.dtype
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


def test_cum_extremes_of_an_empty_dimension(torch):
    ours, theirs = dg.cummin(dg.zeros(2, 0), 1), torch.cummin(torch.zeros(2, 0), 1)
    assert ours.values.shape == tuple(theirs.values.shape) == ours.indices.shape


# --------------------------------------------------------------------------- kthvalue, mode


def _check_indices_point_at_values(x, result, dim):
    picked = np.take_along_axis(x, np.expand_dims(result.indices.numpy(), dim), dim)
    np.testing.assert_array_equal(picked.squeeze(dim), result.values.numpy())


def test_kthvalue_with_ties_and_nan(torch):
    data = np.array([[1.0, 3.0, 1.0, 1.0, 0.0, 1.0], [2.0, NAN, 0.0, NAN, -1.0, 2.0]])
    for k in range(1, 7):
        ours, theirs = dg.kthvalue(dg.tensor(data), k), torch.kthvalue(torch.tensor(data), k)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        # Which of equal elements: unspecified by torch; NaN (largest) compares unequal.
        picked = data[np.arange(2), ours.indices.numpy()]
        np.testing.assert_array_equal(picked, ours.values.numpy())


def test_kthvalue_gradient_goes_to_the_picked_element():
    x = dg.tensor([[2.0, 2.0, 0.0, 2.0]], requires_grad=True)
    values, indices = x.kthvalue(3, 1)
    values.sum().backward()
    expected = np.zeros((1, 4))
    expected[0, indices.numpy()[0]] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize(("dim", "keepdim"), [(-1, False), (0, True), (1, False)])
def test_mode_with_ties_like_torch(torch, dim, keepdim):
    data = rng.integers(0, 4, (5, 9)).astype(np.float64)
    ours = dg.mode(dg.tensor(data), dim, keepdim)
    theirs = torch.mode(torch.tensor(data), dim, keepdim)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    assert ours.indices.shape == tuple(theirs.indices.shape)
    if keepdim:
        ours = ValuesIndices(ours.values.squeeze(dim), ours.indices.squeeze(dim))
    _check_indices_point_at_values(data, ours, dim)


def test_mode_takes_the_smallest_of_equally_frequent_values_and_skips_nan(torch):
    data = np.array([[3.0, 1.0, 1.0, 2.0, 2.0, 0.0], [3.0, NAN, NAN, 2.0, 2.0, NAN],
                     [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]])
    ours, theirs = dg.mode(dg.tensor(data)), torch.mode(torch.tensor(data))
    np.testing.assert_array_equal(ours.values.numpy(), [1.0, 2.0, 1.0])
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    _check_indices_point_at_values(data, ours, 1)


def test_mode_of_integers_and_bools_like_torch(torch):
    for data in (np.array([[5, 7, 7, 5, 9], [0, 0, 3, 3, 3]]), np.array([[True, False, True]])):
        ours, theirs = dg.tensor(data).mode(), torch.tensor(data).mode()
        assert ours.values.dtype == data.dtype
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        _check_indices_point_at_values(data, ours, 1)


def test_mode_gradient_goes_to_the_picked_element():
    x = dg.tensor([[4.0, 1.0, 4.0, 1.0, 4.0]], requires_grad=True)
    values, indices = dg.mode(x)
    assert values.item() == 4.0
    (values * 3).sum().backward()
    expected = np.zeros((1, 5))
    expected[0, indices.item()] = 3
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_mode_of_an_empty_other_dimension(torch):
    ours, theirs = dg.mode(dg.zeros(0, 3)), torch.mode(torch.zeros(0, 3))
    assert ours.values.shape == tuple(theirs.values.shape) == ours.indices.shape


# --------------------------------------------------------------------------- histc


@pytest.mark.parametrize(("bins", "low", "high"), [(100, 0, 0), (7, -1, 1), (13, -2.3, 0.7),
                                                   (1, 0, 0), (4, 5, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histc_matches_torch(torch, bins, low, high, dtype):
    for seed in range(3):
        data = (_normal((40, 25), seed) * 2).astype(dtype)
        data[0, :5] = [low, high, -1, 1, 0]  # on the edges
        ours = dg.histc(dg.tensor(data), bins, low, high)
        theirs = torch.histc(torch.tensor(data), bins, low, high)
        assert ours.dtype == data.dtype
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    method = dg.tensor(data).histc(bins=bins, min=low, max=high)
    np.testing.assert_array_equal(method.numpy(), theirs.numpy())


def test_histc_edge_cases_like_torch(torch):
    for data, kwargs in [([1.0, 2.0, 1.0, 4.0, 5.0], {"bins": 4}),
                         ([2.0, 2.0], {"bins": 4}),  # one value: the range [1, 3]
                         ([], {"bins": 3}),
                         ([1.0, NAN, 3.0, -7.0], {"bins": 4, "min": 0, "max": 2}),
                         ([[2.0, 3.0], [0.0, 1.0]], {"bins": 4})]:
        ours = dg.histc(dg.tensor(data), **kwargs)
        theirs = torch.histc(torch.tensor(data), **kwargs)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_histc_has_no_gradient():
    assert not dg.histc(dg.randn(5, requires_grad=True), 4).requires_grad


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: x.cummax(2), IndexError,
     r"^cummax: dimension 2 is out of range for a tensor with 2 dimensions \(expected -2 to 1\)"),
    (lambda x: dg.cummin(x, (0, 1)), TypeError, r"^cummin: dim must be an int; got \(0, 1\)"),
    (lambda x: dg.cummax(x.numpy(), 0), TypeError, r"^cummax: input must be a Tensor"),
    (lambda x: x.kthvalue(5), ValueError,
     r"^kthvalue: k=5 is out of range for dimension -1 of size 4 \(input shape \(3, 4\)\); "
     r"expected 1 <= k <= 4$"),
    (lambda x: x.kthvalue(0, 0), ValueError, r"^kthvalue: k=0 is out of range .* 1 <= k <= 3$"),
    (lambda x: x.kthvalue(1.5), TypeError, r"^kthvalue: k must be an int; got 1.5$"),
    (lambda x: x.kthvalue(1, -3), IndexError, r"^kthvalue: dimension -3 is out of range"),
    (lambda x: x[:, :0].kthvalue(1), dg.ShapeError,
     r"^kthvalue: cannot reduce dimension 1 of size 0 \(input shape \(3, 0\)\)"),
    (lambda x: x[:, :0].mode(1), dg.ShapeError,
     r"^mode: cannot reduce dimension 1 of size 0 \(input shape \(3, 0\)\)"),
    (lambda x: x.mode(2), IndexError, r"^mode: dimension 2 is out of range"),
    (lambda x: x.long().histc(), TypeError,
     r"^histc: expects a floating point tensor; got dtype int64"),
    (lambda x: x.histc(0), ValueError, r"^histc: bins must be > 0; got 0$"),
    (lambda x: x.histc(2.5), TypeError, r"^histc: bins must be an int; got 2.5$"),
    (lambda x: x.histc(4, 3, 1), ValueError,
     r"^histc: max must be larger than min; got min=3, max=1$"),
    (lambda x: x.histc(4, 0, float("inf")), ValueError,
     r"^histc: the range \[0.0, inf\] is not finite$"),
    (lambda x: dg.tensor([1.0, NAN]).histc(4), ValueError,
     r"^histc: the range \[nan, nan\] is not finite$"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn(dg.randn(3, 4))
