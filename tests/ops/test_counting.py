"""median (values, indices, gradient, NaN), unique, bincount, nan_to_num and diff against torch;
gradcheck of the differentiable ones; errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 6))


@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, True), (-1, False)])
def test_median_along_a_dimension_matches_torch(torch, dim, keepdim):
    for a in (A, A[:, :5]):  # even and odd counts: the lower median
        ours = dg.median(dg.tensor(a), dim, keepdim)
        theirs = torch.median(torch.tensor(a), dim, keepdim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        check_parity(torch, lambda x: x.median(dim, keepdim)[0],
                     lambda t: t.median(dim, keepdim)[0], [a])


def test_median_of_everything_and_nan(torch):
    check_parity(torch, lambda x: x.median(), lambda t: t.median(), [A])
    a = A.copy()
    a[1, 3] = np.nan
    ours, theirs = dg.tensor(a).median(1), torch.tensor(a).median(1)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    assert ours.indices.tolist()[1] == theirs.indices.tolist()[1] == 3
    assert dg.gradcheck(lambda x: x.median(0).values, [dg.tensor(A, requires_grad=True)])


def test_unique_and_bincount_match_torch(torch):
    v = np.array([[3, 1, 3], [2, 1, 7]])
    ours = dg.unique(dg.tensor(v), return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(v), return_inverse=True, return_counts=True)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.numpy(), t.numpy())
    assert dg.tensor([2.0, 1.0, 2.0]).unique().tolist() == [1.0, 2.0]
    counts = dg.tensor([0, 3, 3, 1])
    assert counts.bincount().tolist() == torch.tensor([0, 3, 3, 1]).bincount().tolist()
    assert dg.bincount(counts, minlength=6).tolist() == [1, 1, 0, 2, 0, 0]
    w = np.array([0.5, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(dg.bincount(counts, dg.tensor(w)).numpy(),
                               torch.bincount(torch.tensor([0, 3, 3, 1]), torch.tensor(w)))


def test_nan_to_num_and_diff_match_torch(torch):
    a = A.copy()
    a[0, 0], a[1, 1], a[2, 2] = np.nan, np.inf, -np.inf
    # The defaults (the dtype's largest numbers) compared by value: their gradient check would
    # multiply them into an overflow.
    np.testing.assert_array_equal(dg.nan_to_num(dg.tensor(a)).numpy(),
                                  torch.nan_to_num(torch.tensor(a)).numpy())
    check_parity(torch, lambda x: x.nan_to_num(1.0, 5.0, -5.0),
                 lambda t: t.nan_to_num(1.0, 5.0, -5.0), [a])
    check_parity(torch, lambda x: dg.diff(x, 2, 0), lambda t: torch.diff(t, 2, 0), [A])
    check_parity(torch, lambda x: x.diff(), lambda t: t.diff(), [A])
    assert dg.gradcheck(lambda x: dg.diff(x, 2), [dg.tensor(A, requires_grad=True)])


def test_errors():
    with pytest.raises(ValueError, match="bincount: expects a 1-D tensor of non-negative"):
        dg.bincount(dg.tensor([1.0]))
    with pytest.raises(ValueError, match="bincount: expects non-negative integers; got -1"):
        dg.bincount(dg.tensor([-1, 2]))
    with pytest.raises(ValueError, match="median: the tensor is empty"):
        dg.median(dg.zeros(0))
    with pytest.raises(ValueError, match="diff: n must be an int >= 0"):
        dg.diff(dg.ones(3), -1)
