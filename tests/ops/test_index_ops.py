"""index_add, index_copy and index_fill: values and gradients against torch (every dimension,
repeated positions, alpha, a 0-D index, a 0-D input), gradcheck, function and method forms,
errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 5, 3))


def _source(dim, count):
    """A source of X's shape, but ``count`` along ``dim``."""
    shape = list(X.shape)
    shape[dim] = count
    return rng.standard_normal(shape)


# (dim, index): distinct positions, a repeated one, a negative dim, a 0-D index.
INDEX_CASES = [(0, np.array([3, 0, 1])), (1, np.array([4, 1, 4, 0])), (-1, np.array([2, 0])),
               (1, np.array(2))]
IDS = ["dim0", "dim1-repeated", "dim-1", "0d-index"]


@pytest.mark.parametrize(("dim", "index"), INDEX_CASES, ids=IDS)
@pytest.mark.parametrize("alpha", [1, -2.5])
def test_index_add_matches_torch(torch, dim, index, alpha):
    source = _source(dim, index.size)
    check_parity(torch, lambda x, s: dg.index_add(x, dim, dg.tensor(index), s, alpha=alpha),
                 lambda x, s: torch.index_add(x, dim, torch.tensor(index), s, alpha=alpha),
                 [X, source])
    check_parity(torch, lambda x, s: x.index_add(dim, dg.tensor(index), s, alpha=alpha),
                 lambda x, s: x.index_add(dim, torch.tensor(index), s, alpha=alpha),
                 [X.astype(np.float32), source.astype(np.float32)])
    assert dg.gradcheck(lambda x, s: x.index_add(dim, dg.tensor(index), s, alpha=alpha),
                        [dg.tensor(X, requires_grad=True),
                         dg.tensor(source, requires_grad=True)])


@pytest.mark.parametrize(("dim", "index"), [c for c in INDEX_CASES if c[1].size == 1
                                            or len(set(c[1].tolist())) == c[1].size],
                         ids=["dim0", "dim-1", "0d-index"])
def test_index_copy_matches_torch(torch, dim, index):
    source = _source(dim, index.size)
    check_parity(torch, lambda x, s: dg.index_copy(x, dim, dg.tensor(index), s),
                 lambda x, s: torch.index_copy(x, dim, torch.tensor(index), s), [X, source])
    check_parity(torch, lambda x, s: x.index_copy(dim, dg.tensor(index), s),
                 lambda x, s: x.index_copy(dim, torch.tensor(index), s),
                 [X.astype(np.float32), source.astype(np.float32)])
    assert dg.gradcheck(lambda x, s: x.index_copy(dim, dg.tensor(index), s),
                        [dg.tensor(X, requires_grad=True),
                         dg.tensor(source, requires_grad=True)])


def test_index_copy_with_a_repeated_position_gives_every_copy_the_gradient(torch):
    # Which slice wins is unspecified (in PyTorch too); the gradients are not.
    index = np.array([1, 3, 1])
    source = _source(1, 3)
    x, s = dg.tensor(X, requires_grad=True), dg.tensor(source, requires_grad=True)
    y = dg.index_copy(x, 1, dg.tensor(index), s)
    tx, ts = torch.tensor(X, requires_grad=True), torch.tensor(source, requires_grad=True)
    ty = torch.index_copy(tx, 1, torch.tensor(index), ts)
    np.testing.assert_array_equal(y.numpy()[:, [0, 2, 4]], ty.detach().numpy()[:, [0, 2, 4]])
    np.testing.assert_array_equal(y.numpy()[:, 3], source[:, 1])
    winner = y.numpy()[:, 1]
    assert np.array_equal(winner, source[:, 0]) or np.array_equal(winner, source[:, 2])
    g = rng.standard_normal(X.shape)
    (y * dg.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("dim", "index"), [(0, np.array([3, 0])), (1, np.array([4, -1, 1, 4])),
                                            (-1, np.array(-3))],
                         ids=["dim0", "negative-and-repeated", "0d-index"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_index_fill_matches_torch(torch, dim, index, dtype):
    # torch's forward takes negative positions, its backward does not: it gets them wrapped.
    wrapped = torch.tensor(index % X.shape[dim])
    np.testing.assert_array_equal(
        dg.index_fill(dg.tensor(X), dim, dg.tensor(index), -1.5).numpy(),
        torch.index_fill(torch.tensor(X), dim, torch.tensor(index), -1.5).numpy())
    check_parity(torch, lambda x: dg.index_fill(x, dim, dg.tensor(index), -1.5),
                 lambda x: torch.index_fill(x, dim, wrapped, -1.5), [X.astype(dtype)])
    # A 0-D tensor value gets the gradient of the filled slices (a repeated one counted once).
    check_parity(torch, lambda x, v: x.index_fill(dim, dg.tensor(index), v),
                 lambda x, v: x.index_fill(dim, wrapped, v),
                 [X.astype(dtype), np.array(2.5, dtype)])
    assert dg.gradcheck(lambda x, v: x.index_fill(dim, dg.tensor(index), v),
                        [dg.tensor(X, requires_grad=True), dg.tensor(2.5, requires_grad=True)])


def test_integer_inputs_and_values_like_torch(torch):
    ints = np.arange(12).reshape(3, 4)
    for ours, theirs in [
        (dg.index_fill(dg.tensor(ints), 1, dg.tensor([0, 2]), 2.7),
         torch.index_fill(torch.tensor(ints), 1, torch.tensor([0, 2]), 2.7)),
        (dg.tensor(ints).index_add(0, dg.tensor([2, 2]), dg.ones(2, 4, dtype=dg.int64), alpha=3),
         torch.tensor(ints).index_add(0, torch.tensor([2, 2]),
                                      torch.ones(2, 4, dtype=torch.int64), alpha=3)),
        (dg.tensor(ints).index_copy(0, dg.tensor([1], dtype=dg.int32),
                                    dg.zeros(1, 4, dtype=dg.int64)),
         torch.tensor(ints).index_copy(0, torch.tensor([1]), torch.zeros(1, 4, dtype=torch.int64))),
    ]:
        assert ours.dtype == dg.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_0d_input_is_one_slice(torch):
    for name, extra in [("index_add", {"alpha": 2}), ("index_copy", {})]:
        check_parity(torch, lambda x, s, n=name, e=extra: getattr(dg, n)(x, 0, dg.tensor([0]), s,
                                                                         **e),
                     lambda x, s, n=name, e=extra: getattr(torch, n)(x, 0, torch.tensor([0]), s,
                                                                     **e),
                     [np.array(1.5), np.array(-2.0)])
    check_parity(torch, lambda x: dg.index_fill(x, -1, dg.tensor(0), 3.0),
                 lambda x: torch.index_fill(x, -1, torch.tensor(0), 3.0), [np.array(1.5)])
    # Several positions into the one slice: their sum (torch insists on source's shape).
    twice = dg.index_add(dg.tensor(1.0), 0, dg.tensor([0, 0]), dg.tensor([2.0, 3.0]))
    assert twice.shape == () and twice.item() == 6.0


def test_the_input_is_not_changed_and_the_methods_are_the_functions():
    x = dg.tensor(X)
    before = X.copy()
    x.index_add(0, dg.tensor([1]), dg.ones(1, 5, 3, dtype=dg.float64))
    x.index_copy(0, dg.tensor([1]), dg.ones(1, 5, 3, dtype=dg.float64))
    x.index_fill(0, dg.tensor([1]), 0.0)
    np.testing.assert_array_equal(x.numpy(), before)
    for name in ("index_add", "index_copy", "index_fill"):
        assert getattr(dg, name) is getattr(dg.Tensor, name)


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: x.index_add(0, dg.tensor([3]), dg.ones(1, 4)), IndexError,
     r"^index_add: index 3 is out of range for dimension 0 of size 3 \(expected 0 to 2\)$"),
    (lambda x: x.index_copy(1, dg.tensor([-1]), dg.ones(3, 1)), IndexError,
     r"^index_copy: index -1 is out of range for dimension 1 of size 4 \(expected 0 to 3\)$"),
    (lambda x: x.index_fill(1, dg.tensor([0, -5]), 1.0), IndexError,
     r"^index_fill: index -5 is out of range for dimension 1 of size 4 \(expected -4 to 3\)$"),
    (lambda x: x.index_add(0, dg.tensor([1.0]), dg.ones(1, 4)), TypeError,
     r"^index_add: index must be a 0-D or 1-D integer tensor; got float32 of shape \(1\)$"),
    (lambda x: x.index_fill(0, dg.tensor([[1]]), 1.0), TypeError,
     r"^index_fill: index must be a 0-D or 1-D integer tensor; got int64 of shape \(1, 1\)$"),
    (lambda x: x.index_add(2, dg.tensor([0]), dg.ones(1, 4)), IndexError,
     r"^index_add: dimension 2 is out of range for a tensor with 2 dimensions"),
    (lambda x: x.index_copy(0, dg.tensor([1]), dg.ones(2, 4)), dg.ShapeError,
     r"^index_copy: source must have shape \(1, 4\) \(the input's \(3, 4\) with dimension 0 the "
     r"index's length 1\); got \(2, 4\)$"),
    (lambda x: x.index_add(1, dg.tensor([1, 2]), dg.ones(3)), dg.ShapeError,
     r"^index_add: source must have shape \(3, 2\) .*; got \(3\)$"),
    (lambda x: x.index_add(0, dg.tensor([1]), dg.ones(1, 4, dtype=dg.float64)), TypeError,
     r"^index_add: source must have the input's dtype float32; got float64$"),
    (lambda x: x.index_copy(0, dg.tensor([1]), np.ones((1, 4), np.float32)), TypeError,
     r"^index_copy: source must be a Tensor; got ndarray"),
    (lambda x: dg.index_add(x.numpy(), 0, dg.tensor([1]), dg.ones(1, 4)), TypeError,
     r"^index_add: input must be a Tensor; got ndarray"),
    (lambda x: x.long().index_add(0, dg.tensor([1]), dg.ones(1, 4, dtype=dg.int64), alpha=0.5),
     TypeError, r"^index_add: for an integer input alpha must be an int; got 0.5$"),
    (lambda x: x.index_fill(0, dg.tensor([1]), dg.ones(2)), dg.ShapeError,
     r"^index_fill: value must be a number or a 0-D tensor; got a tensor of shape \(2\)$"),
    (lambda x: x.index_fill(0, dg.tensor([1]), [1.0]), TypeError,
     r"^index_fill: value must be a number or a 0-D tensor; got list$"),
    (lambda x: dg.index_copy(dg.tensor(1.0), 0, dg.tensor([0]), dg.ones(2)), dg.ShapeError,
     r"^index_copy: source must have 1 element\(s\), one per index, for a 0-d input; got "
     r"shape \(2\)$"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn(dg.zeros(3, 4))
