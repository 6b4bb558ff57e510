"""scatter and scatter_add: values and gradients against torch (index smaller than src, every
dimension), gradcheck, a number as src, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 5))
SRC = rng.standard_normal((3, 6))
# Along dim 0: each column sends its rows to distinct targets (scatter's winner is then defined).
INDEX0 = np.array([[3, 0, 1, 2, 0], [1, 2, 3, 0, 1]])
INDEX1 = np.array([[4, 0, 2], [1, 1, 3], [0, 4, 4]])  # repeats: summed by scatter_add


def _src(index):
    """A src of index's shape (torch's backward needs that; larger ones are tested apart)."""
    return SRC[:index.shape[0], :index.shape[1]].copy()


@pytest.mark.parametrize("dim, index", [(0, INDEX0), (1, INDEX1[:, :1]), (-2, INDEX0[:1])])
def test_scatter_matches_torch(torch, dim, index):
    check_parity(torch, lambda x, s: x.scatter(dim, dg.tensor(index), s),
                 lambda t, s: t.scatter(dim, torch.tensor(index), s), [X, _src(index)])


@pytest.mark.parametrize("dim, index", [(0, INDEX0), (1, INDEX1)])
def test_scatter_add_matches_torch(torch, dim, index):
    check_parity(torch, lambda x, s: dg.scatter_add(x, dim, dg.tensor(index), s),
                 lambda t, s: torch.scatter_add(t, dim, torch.tensor(index), s),
                 [X, _src(index)])
    assert dg.gradcheck(lambda x, s: x.scatter_add(dim, dg.tensor(index), s),
                        [dg.tensor(X, requires_grad=True), dg.tensor(SRC, requires_grad=True)])


def test_a_src_larger_than_the_index_gives_torchs_values(torch):
    for name in ("scatter", "scatter_add"):
        ours = getattr(dg.tensor(X), name)(1, dg.tensor(INDEX1), dg.tensor(SRC))
        theirs = getattr(torch.tensor(X), name)(1, torch.tensor(INDEX1), torch.tensor(SRC))
        if name == "scatter_add":
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
        else:  # repeated targets: compare where the winner is defined
            np.testing.assert_allclose(ours.numpy()[:, 2], theirs.numpy()[:, 2], rtol=1e-12)


def test_scatter_gradcheck_and_a_number_as_src(torch):
    assert dg.gradcheck(lambda x, s: x.scatter(0, dg.tensor(INDEX0), s),
                        [dg.tensor(X, requires_grad=True), dg.tensor(SRC, requires_grad=True)])
    ours = dg.zeros(3, 4).scatter(1, dg.tensor([[1], [3], [0]]), 1.0)
    theirs = torch.zeros(3, 4).scatter(1, torch.tensor([[1], [3], [0]]), 1.0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # one-hot rows


def test_errors():
    with pytest.raises(IndexError, match="scatter: index 5 is out of range for dimension 1 of "
                                         "size 4"):
        dg.zeros(2, 4).scatter(1, dg.tensor([[5]]), 1.0)
    with pytest.raises(TypeError, match="scatter_add: index must be an integer tensor with the "
                                        "input's 2 dimensions"):
        dg.zeros(2, 4).scatter_add(1, dg.tensor([1]), dg.ones(1))
    with pytest.raises(dg.ShapeError, match="must be no larger than src"):
        dg.zeros(2, 4).scatter(1, dg.tensor([[0, 1]]), dg.ones(1, 1))
