"""Indexing and selection: x[...], where, maximum, minimum, masked_fill, gather."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops import indexing

SHAPE = (3, 4, 5)
MASK = np.random.default_rng(7).random((3, 4)) > 0.5

# Index cases on a (3, 4, 5) tensor; NumPy arrays in them become dg / torch tensors.
INDEXES = {
    "int": 1,
    "negative int": -1,
    "int and slice": (slice(None), 2),
    "slices with steps": (slice(0, 3, 2), slice(1, None, 2), slice(None, None, 3)),
    "None and Ellipsis": (None, 1, Ellipsis, None),
    "Ellipsis then int": (Ellipsis, 2),
    "bool mask": MASK,
    "bool mask on dims 1-2": (slice(None), np.array([[True, False, True, False, True]] * 4)),
    "repeated indices": np.array([0, 2, 0, 0]),
    "negative repeated indices": np.array([-1, 2, -1]),
    "repeated indices and slice": (np.array([0, 2, 2]), slice(1, 3)),
    "2-D index on dim 1": (slice(None), np.array([[0, 1], [1, 1]])),
    "index on last dim": (Ellipsis, np.array([4, 4, 0])),
    "two arrays": (np.array([0, 1, 1, 0]), np.array([3, 3, 0, 3])),
    "negative indices on dim 1": (slice(None), np.array([-1, 0, -1])),
    "two arrays with negatives": (np.array([0, -1, -1]), np.array([-2, 3, -2])),
    "arrays split by a slice": (np.array([0, 2, 2]), slice(None), np.array([1, 1, 4])),
    "int and array": (1, np.array([0, 0, 3])),
    "mask and array": (np.array([True, False, True]), slice(None), np.array([1, 1])),
    "0-d index": np.array(1),
    "True": True,
    "empty": np.zeros(0, dtype=np.int64),
    "stepped slice and array": (slice(None, None, 2), np.array([3, 0, 3])),
}


def _convert(index, make):
    if isinstance(index, tuple):
        return tuple(_convert(i, make) for i in index)
    return make(index) if isinstance(index, np.ndarray) else index


def _dg_index(index):
    return _convert(index, dg.tensor)


@pytest.fixture(scope="module")
def x64():
    return np.random.default_rng(0).standard_normal(SHAPE)


@pytest.fixture(params=["flat positions", "np.add.at"])
def accumulation(request, monkeypatch):
    """Runs a test with each way advanced-indexing backward adds up repeated indices."""
    monkeypatch.setattr(indexing, "_FLAT_MIN_SIZE", 0 if request.param == "flat positions" else
                        2**62)
    return request.param


@pytest.mark.parametrize("name", list(INDEXES))
@pytest.mark.usefixtures("accumulation")
def test_getitem_gradcheck(name, x64):
    index = _dg_index(INDEXES[name])
    assert dg.gradcheck(lambda x: x[index], [dg.tensor(x64, requires_grad=True)])


@pytest.mark.parametrize("name", list(INDEXES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.usefixtures("accumulation")
def test_getitem_parity(torch, name, dtype, x64):
    index = INDEXES[name]
    dg_index, torch_index = _dg_index(index), _convert(index, torch.tensor)
    check_parity(torch, lambda x: x[dg_index], lambda t: t[torch_index], [x64.astype(dtype)])


@pytest.mark.parametrize("index", [
    [0, 2, 2],
    ([1, 1], slice(None), [0, 4]),
    (np.array([2, 0, 2]), slice(1, 3)),
    [True, False, True],
])
def test_getitem_accepts_lists_and_arrays(index, x64):
    x = dg.tensor(x64, requires_grad=True)
    np.testing.assert_array_equal(x[index].numpy(), x64[index])
    assert dg.gradcheck(lambda x: x[index], [x])


@pytest.mark.parametrize("index", [
    (slice(None), np.array([3, 0, 3])),
    (slice(1, None), slice(None, None, 2)),
    np.array([[2, 2], [0, 1]]),
])
def test_getitem_gradcheck_non_contiguous_leaf(index):
    a = np.random.default_rng(1).standard_normal((5, 4, 3)).transpose(2, 1, 0)
    x = dg.from_numpy(a).requires_grad_()
    assert not x.data.flags.c_contiguous
    assert dg.gradcheck(lambda x: x[_dg_index(index)], [x])


def test_repeated_indices_accumulate():
    w = dg.tensor(np.ones((4, 2)), requires_grad=True)
    w[dg.tensor([3, 0, 3, 3])].sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [0, 0], [0, 0], [3, 3]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_and_general_accumulation_agree(dtype, monkeypatch):
    # idx alone takes the flat-positions path (large enough gradient), (1, idx) np.add.at.
    calls = []
    flat_positions = indexing._flat_positions
    monkeypatch.setattr(indexing, "_flat_positions", lambda *args: calls.append(args) or
                        flat_positions(*args))
    rng = np.random.default_rng(2)
    idx = rng.integers(-7, 7, size=(10, 12))
    g = rng.standard_normal((10, 12, 16)).astype(dtype)
    fast = dg.tensor(rng.standard_normal((7, 16)).astype(dtype), requires_grad=True)
    fast[dg.tensor(idx)].backward(g)
    assert len(calls) == 1
    general = dg.tensor(rng.standard_normal((2, 7, 16)).astype(dtype), requires_grad=True)
    general[1, dg.tensor(idx)].backward(g)
    assert len(calls) == 1
    expected = np.zeros((7, 16), dtype)
    np.add.at(expected, idx, g)
    assert fast.grad.dtype == dtype
    assert_close(fast.grad, expected, dtype)
    assert_close(general.grad.numpy()[1], expected, dtype)
    assert not general.grad.numpy()[0].any()


def test_basic_index_is_a_view_advanced_is_a_copy():
    x = dg.tensor(np.arange(12.0).reshape(3, 4))
    view = x[1, 1:]
    assert np.shares_memory(view.numpy(), x.numpy())
    assert view._base is x
    copy = x[[1, 2]]
    assert not np.shares_memory(copy.numpy(), x.numpy())
    w = dg.tensor(np.ones((3, 4)), requires_grad=True)
    assert type(w[0].grad_fn).__name__ == "BasicIndex"
    assert type(w[[0]].grad_fn).__name__ == "AdvancedIndex"


def test_inplace_change_through_a_view_is_seen_by_the_base():
    x = dg.tensor(np.ones(4), requires_grad=True)
    y = x * 2.0
    with dg.no_grad():
        view = y[1:3]
    view.fill_(5.0)
    np.testing.assert_array_equal(y.numpy(), [2, 5, 5, 2])
    assert y._version == 1


def test_setitem_with_tensor_indices():
    x = dg.zeros(3, 4)
    x[dg.tensor([0, 2]), 1:3] = 1.0
    x[dg.tensor([[False] * 4, [True] + [False] * 3, [False] * 4])] = 7.0
    expected = np.zeros((3, 4), np.float32)
    expected[[0, 2], 1:3] = 1
    expected[1, 0] = 7
    np.testing.assert_array_equal(x.numpy(), expected)


def test_iteration_and_int_tensor_index():
    x = dg.tensor(np.arange(6.0).reshape(3, 2))
    rows = [row.tolist() for row in x]
    assert rows == [[0, 1], [2, 3], [4, 5]]
    assert x[dg.tensor(2)].tolist() == [4, 5]


@pytest.mark.parametrize(("index", "error", "message"), [
    (5, IndexError, r"getitem: index 5 is out of bounds for dimension 0 with size 3 "
                    r"\(indexing a tensor of shape \(3, 4\)\)"),
    (-4, IndexError, r"index -4 is out of bounds for dimension 0 with size 3"),
    ((slice(None), [0, 4]), IndexError, r"index 4 is out of bounds for dimension 1 with size 4"),
    ((0, 1, 2), IndexError, r"getitem: too many indices .* 3 were indexed"),
    ([True, False], IndexError, r"boolean index did not match .* dimension 0"),
    (([0, 1], [0, 1, 2]), IndexError, r"could not be broadcast together .*\(2,\) \(3,\)"),
    (1.0, IndexError, r"float is not a valid index"),
    ("a", IndexError, r"str is not a valid index"),
    ([0.0, 1.0], IndexError, r"must have an integer or bool dtype; got float64"),
    (slice(None, None, -1), ValueError, r"slice step must be greater than zero; got -1"),
    (slice(None, None, 0), ValueError, r"slice step must be greater than zero; got 0"),
])
def test_getitem_errors(index, error, message):
    x = dg.tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(error, match=message):
        x[index]


def test_float_tensor_index_error():
    x = dg.zeros(3)
    with pytest.raises(IndexError, match=r"must have an integer or bool dtype; got float32"):
        x[dg.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match=r"must have an integer or bool dtype; got float32"):
        x[dg.tensor([0.0])] = 1.0


# ------------------------------------------------------------------------------------- where
WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1, 4), (2, 4), (3, 1, 1)), ((4,), (3, 4), ()),
                ((2, 3, 1), (1,), (3, 4))]


@pytest.mark.parametrize(("c_shape", "a_shape", "b_shape"), WHERE_SHAPES)
def test_where_gradcheck(c_shape, a_shape, b_shape):
    rng = np.random.default_rng(3)
    condition = dg.tensor(rng.random(c_shape) > 0.5)
    a = dg.tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = dg.tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert dg.gradcheck(lambda a, b: dg.where(condition, a, b), [a, b])


@pytest.mark.parametrize(("c_shape", "a_shape", "b_shape"), WHERE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_where_parity(torch, c_shape, a_shape, b_shape, dtype):
    rng = np.random.default_rng(4)
    condition = rng.random(c_shape) > 0.5
    arrays = [condition, rng.standard_normal(a_shape).astype(dtype),
              rng.standard_normal(b_shape).astype(dtype)]
    check_parity(torch, dg.where, torch.where, arrays)


def test_where_with_scalars_and_non_contiguous_leaf():
    rng = np.random.default_rng(5)
    a = dg.from_numpy(rng.standard_normal((4, 3)).T).requires_grad_()
    condition = rng.random((3, 4)) > 0.5
    assert dg.gradcheck(lambda a: dg.where(condition, a, 0.5), [a])
    assert dg.gradcheck(lambda a: dg.where(condition, -1.0, a), [a])
    x32 = dg.ones(3, 4)
    assert dg.where(condition, x32, 0.0).dtype == dg.float32
    assert dg.where(condition, 1.0, 0.0).dtype == dg.float32
    assert dg.where(condition, dg.tensor([1, 2, 3, 4]), 0.5).dtype == dg.float32
    a.grad = None
    dg.where(condition, a, 0.5).backward(np.ones((3, 4)))
    np.testing.assert_array_equal(a.grad.numpy(), condition.astype(float))


def test_where_errors():
    with pytest.raises(TypeError, match=r"where: condition must be a bool tensor; got dtype int64"):
        dg.where(dg.tensor([1, 0]), 1.0, 0.0)
    with pytest.raises(dg.ShapeError, match=r"where: shapes \(2\), \(3\) and \(\) of condition"):
        dg.where(dg.tensor([True, False]), dg.zeros(3), 0.0)


# ---------------------------------------------------------------------- maximum and minimum
BINARY_SHAPES = [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), (3, 4)), ((), (2, 3))]


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@pytest.mark.parametrize(("a_shape", "b_shape"), BINARY_SHAPES)
def test_maximum_minimum_gradcheck(op, a_shape, b_shape):
    rng = np.random.default_rng(6)
    a = dg.tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = dg.tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert dg.gradcheck(getattr(dg, op), [a, b])


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@pytest.mark.parametrize(("a_shape", "b_shape"), BINARY_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maximum_minimum_parity(torch, op, a_shape, b_shape, dtype):
    # Small integers make many ties, where the gradient is split.
    rng = np.random.default_rng(7)
    arrays = [rng.integers(-2, 3, a_shape).astype(dtype),
              rng.integers(-2, 3, b_shape).astype(dtype)]
    check_parity(torch, getattr(dg, op), getattr(torch, op), arrays)


@pytest.mark.parametrize(("op", "expected_a", "expected_b"), [
    ("maximum", [0.5, 1.0, 0.0], [0.5, 0.0, 1.0]),
    ("minimum", [0.5, 0.0, 1.0], [0.5, 1.0, 0.0]),
])
def test_maximum_minimum_ties_split_the_gradient(op, expected_a, expected_b):
    a = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = dg.tensor([1.0, 0.0, 5.0], requires_grad=True)
    getattr(a, op)(b).backward(dg.ones(3))
    np.testing.assert_array_equal(a.grad.numpy(), expected_a)
    np.testing.assert_array_equal(b.grad.numpy(), expected_b)


def test_maximum_with_a_scalar_and_non_contiguous_leaf():
    a = dg.from_numpy(np.random.default_rng(8).standard_normal((4, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda a: dg.maximum(a, 0.1), [a])
    assert dg.gradcheck(lambda a: dg.minimum(0.1, a), [a])
    x = dg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = dg.maximum(x, 0.0)
    assert y.dtype == dg.float32
    y.backward(dg.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 1.0])


def test_maximum_broadcast_error():
    with pytest.raises(dg.ShapeError, match=r"maximum: shapes \(2\) and \(3\) do not broadcast"):
        dg.maximum(dg.zeros(2), dg.zeros(3))
    with pytest.raises(dg.ShapeError, match=r"minimum: shapes \(2, 3\) and \(2\) do not"):
        dg.minimum(dg.zeros(2, 3), dg.zeros(2))


# ------------------------------------------------------------------------------- masked_fill
@pytest.mark.parametrize(("x_shape", "mask_shape"), [((3, 4), (3, 4)), ((3, 4), (4,)),
                                                     ((3, 4), (2, 1, 4)), ((3, 1), (3, 4))])
def test_masked_fill_gradcheck(x_shape, mask_shape):
    rng = np.random.default_rng(9)
    x = dg.tensor(rng.standard_normal(x_shape), requires_grad=True)
    value = dg.tensor(np.float64(0.3), requires_grad=True)
    mask = rng.random(mask_shape) > 0.5
    assert dg.gradcheck(lambda x, v: x.masked_fill(mask, v), [x, value])
    assert dg.gradcheck(lambda x: dg.masked_fill(x, dg.tensor(mask), -2.0), [x])


@pytest.mark.parametrize(("x_shape", "mask_shape"), [((3, 4), (3, 4)), ((3, 4), (4,)),
                                                     ((3, 4), (2, 1, 4)), ((3, 1), (3, 4))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_fill_parity(torch, x_shape, mask_shape, dtype):
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal(x_shape).astype(dtype), rng.random(mask_shape) > 0.5,
              np.asarray(1.5, dtype)]
    check_parity(torch, lambda x, m, v: x.masked_fill(m, v), lambda x, m, v: x.masked_fill(m, v),
                 arrays)
    check_parity(torch, lambda x, m: x.masked_fill(m, -3.25),
                 lambda x, m: x.masked_fill(m, -3.25), arrays[:2])
    x, mask = arrays[:2]
    np.testing.assert_array_equal(dg.tensor(x).masked_fill(dg.tensor(mask), float("-inf")).numpy(),
                                  torch.tensor(x).masked_fill(torch.tensor(mask), float("-inf")))


def test_masked_fill_values_and_dtypes():
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    mask = dg.tensor([[True, False], [False, True]])
    y = x.masked_fill(mask, 0.0)
    np.testing.assert_array_equal(y.numpy(), [[0, 2], [3, 0]])
    y.backward(dg.ones(2, 2))
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1], [1, 0]])
    assert y.dtype == dg.float32
    ints = dg.tensor([1, 2, 3]).masked_fill(dg.tensor([True, False, True]), 1.7)
    assert ints.dtype == dg.int64
    assert ints.tolist() == [1, 2, 1]


def test_masked_fill_errors():
    x = dg.zeros(3)
    with pytest.raises(TypeError, match=r"masked_fill: the mask must be a bool tensor; got dtype "
                                        r"int64"):
        x.masked_fill(dg.tensor([1, 0, 1]), 0.0)
    with pytest.raises(ValueError, match=r"value must be a number or a 0-d tensor; got a tensor "
                                         r"of shape \(2\)"):
        x.masked_fill(dg.tensor([True, False, True]), dg.tensor([1.0, 2.0]))
    with pytest.raises(dg.ShapeError, match=r"masked_fill: the mask of shape \(2\) does not "
                                            r"broadcast with the tensor of shape \(3\)"):
        x.masked_fill(dg.tensor([True, False]), 0.0)


# ------------------------------------------------------------------------------------ gather
GATHER_CASES = [  # (x shape, dim, index shape)
    ((3, 4), 0, (5, 4)),
    ((3, 4), 1, (3, 6)),
    ((3, 4), -1, (2, 3)),
    ((2, 3, 4), 1, (2, 5, 2)),
    ((2, 3, 4), -3, (3, 3, 4)),
    ((5,), 0, (7,)),
]


def _gather_index(x_shape, dim, index_shape, seed):
    return np.random.default_rng(seed).integers(0, x_shape[dim], index_shape)


@pytest.mark.parametrize(("x_shape", "dim", "index_shape"), GATHER_CASES)
def test_gather_gradcheck(x_shape, dim, index_shape):
    index = dg.tensor(_gather_index(x_shape, dim, index_shape, 11))
    x = dg.tensor(np.random.default_rng(12).standard_normal(x_shape), requires_grad=True)
    assert dg.gradcheck(lambda x: dg.gather(x, dim, index), [x])


def test_gather_gradcheck_non_contiguous_leaf_and_0d():
    x = dg.from_numpy(np.random.default_rng(13).standard_normal((4, 3)).T).requires_grad_()
    index = dg.tensor([[0, 0, 3, 3], [2, 1, 1, 1]])
    assert dg.gradcheck(lambda x: x.gather(1, index), [x])
    scalar = dg.tensor(np.float64(2.5), requires_grad=True)
    assert dg.gather(scalar, 0, dg.tensor(0)).shape == ()
    assert dg.gradcheck(lambda s: dg.gather(s, 0, dg.tensor(0)), [scalar])


@pytest.mark.parametrize(("x_shape", "dim", "index_shape"), GATHER_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gather_parity(torch, x_shape, dim, index_shape, dtype):
    index = _gather_index(x_shape, dim, index_shape, 14)
    x = np.random.default_rng(15).standard_normal(x_shape).astype(dtype)
    check_parity(torch, lambda x, i: dg.gather(x, dim, i), lambda x, i: torch.gather(x, dim, i),
                 [x, index])


def test_gather_picks_and_accumulates():
    logp = dg.tensor([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], requires_grad=True)
    picked = logp.gather(1, dg.tensor([[2, 2], [0, 1]]))
    np.testing.assert_allclose(picked.numpy(), [[0.7, 0.7], [0.3, 0.3]])
    picked.backward(dg.ones(2, 2))
    np.testing.assert_array_equal(logp.grad.numpy(), [[0, 0, 2], [1, 1, 0]])


@pytest.mark.parametrize(("dim", "index", "error", "message"), [
    (1, [[0, 4]], IndexError, r"gather: index 4 is out of bounds for dimension 1 with size 4"),
    (0, [[-1, 0]], IndexError, r"gather: index -1 is out of bounds for dimension 0 with size 3"),
    (2, [[0]], IndexError, r"gather: dimension 2 is out of range"),
    (1, [0, 1], dg.ShapeError, r"index must have as many dimensions as the tensor; got index of "
                               r"shape \(2\) for a tensor of shape \(3, 4\)"),
    (1, [[0, 1]] * 4, dg.ShapeError, r"index of shape \(4, 2\) is larger than the tensor of shape "
                                     r"\(3, 4\) in dimension 0"),
    (1, [[0.0, 1.0]], TypeError, r"gather: index must be an integer tensor; got dtype float32"),
])
def test_gather_errors(dim, index, error, message):
    with pytest.raises(error, match=message):
        dg.gather(dg.zeros(3, 4), dim, dg.tensor(index))


def test_methods_and_exports():
    for name in ("maximum", "minimum", "masked_fill", "gather"):
        assert callable(getattr(dg.Tensor, name))
    for name in ("where", "maximum", "minimum", "masked_fill", "gather"):
        assert callable(getattr(dg, name))
    x = dg.tensor([1.0, -1.0])
    assert x.where(x > 0, 5.0).tolist() == [1.0, 5.0]  # torch's x.where(condition, other)
