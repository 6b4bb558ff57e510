"""Datasets: TensorDataset, Subset, ConcatDataset, random_split (sizes as in PyTorch)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from deepgrad.errors import ShapeError


class Squares(Dataset):
    """A generic (not array-backed) dataset: example i is (i, i * i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.int64(i), np.int64(i * i)


def test_tensor_dataset_rows_and_len():
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, [6.0, 7.0])
    assert yi == 3
    np.testing.assert_array_equal(ds[-1][0], x[-1])
    assert ds.array_backed


def test_tensor_dataset_get_batch_gathers_rows():
    x = np.random.default_rng(0).standard_normal((50, 3, 4))
    y = np.arange(50)
    indices = np.array([7, 3, 49, 0, 3])
    xb, yb = TensorDataset(x, y).get_batch(indices, np.random.default_rng(0))
    np.testing.assert_array_equal(xb, x[indices])
    np.testing.assert_array_equal(yb, indices)


def test_tensor_dataset_accepts_tensors_and_shares_memory():
    t = dg.tensor(np.arange(6.0).reshape(3, 2))
    ds = TensorDataset(t)
    assert isinstance(ds.arrays[0], np.ndarray)
    assert np.shares_memory(ds.arrays[0], t.numpy())
    np.testing.assert_array_equal(ds[1][0], [2.0, 3.0])


def test_tensor_dataset_errors():
    with pytest.raises(ShapeError, match=r"same first dimension .* got shapes \(10, 2\), \(9\)"):
        TensorDataset(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ShapeError, match="array 1 is a scalar"):
        TensorDataset(np.zeros(3), np.float64(1.0))
    ds = TensorDataset(np.zeros(4))
    with pytest.raises(IndexError, match="TensorDataset: index 4 is out of range for 4 examples"):
        ds[4]
    with pytest.raises(TypeError, match="must be an integer; got float"):
        ds[1.0]


def test_base_dataset_says_what_to_implement():
    class Empty(Dataset):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement __len__"):
        len(Empty())
    with pytest.raises(NotImplementedError, match="Empty is not array-backed"):
        Empty().get_batch(np.arange(2), None)


def test_subset_maps_indices_and_stays_array_backed():
    x = np.arange(10) * 10
    sub = Subset(TensorDataset(x), [9, 2, 5])
    assert len(sub) == 3 and sub.array_backed
    assert sub[0][0] == 90 and sub[-1][0] == 50
    (batch,) = sub.get_batch(np.array([2, 0]), None)
    np.testing.assert_array_equal(batch, [50, 90])
    assert not Subset(Squares(5), [1]).array_backed
    assert Subset(Squares(5), [4, 1])[1] == (1, 1)


def test_subset_errors():
    with pytest.raises(IndexError, match="Subset: index 10 is out of range for a dataset of 10"):
        Subset(TensorDataset(np.zeros(10)), [0, 10])
    with pytest.raises(TypeError, match="1-D sequence of integers"):
        Subset(TensorDataset(np.zeros(10)), [0.5])


def test_concat_dataset_getitem_and_batch_order():
    a = TensorDataset(np.arange(5), np.arange(5) * 2)
    b = TensorDataset(np.arange(100, 103), np.arange(100, 103) * 2)
    cat = a + b
    assert isinstance(cat, ConcatDataset) and len(cat) == 8 and cat.array_backed
    assert cat[5] == (100, 200) and cat[4] == (4, 8) and cat[-1] == (102, 204)
    indices = np.array([6, 0, 5, 4, 7, 1])
    xb, yb = cat.get_batch(indices, None)
    expected = [cat[int(i)] for i in indices]
    np.testing.assert_array_equal(xb, [e[0] for e in expected])
    np.testing.assert_array_equal(yb, [e[1] for e in expected])
    assert not ConcatDataset([a, Squares(3)]).array_backed
    with pytest.raises(ValueError, match="at least one dataset"):
        ConcatDataset([])


def test_random_split_partitions_reproducibly():
    ds = TensorDataset(np.arange(100))
    parts = random_split(ds, [60, 30, 10], seed=3)
    assert [len(p) for p in parts] == [60, 30, 10]
    seen = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(np.sort(seen), np.arange(100))
    again = random_split(ds, [60, 30, 10], seed=3)
    for p, q in zip(parts, again):
        np.testing.assert_array_equal(p.indices, q.indices)
    other = random_split(ds, [60, 30, 10], seed=4)
    assert not np.array_equal(parts[0].indices, other[0].indices)


def test_random_split_without_seed_follows_manual_seed():
    ds = TensorDataset(np.arange(30))
    dg.manual_seed(11)
    first = random_split(ds, [0.5, 0.5])
    dg.manual_seed(11)
    second = random_split(ds, [0.5, 0.5])
    np.testing.assert_array_equal(first[0].indices, second[0].indices)


@pytest.mark.filterwarnings("ignore:Length of split")  # torch warns of empty parts
@pytest.mark.parametrize("n, fractions", [(10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]),
                                          (101, [0.8, 0.1, 0.1]), (5, [0.1, 0.1, 0.1, 0.7]),
                                          (3, [1.0, 0.0])])
def test_random_split_fraction_sizes_match_torch(torch, n, fractions):
    ours = [len(p) for p in random_split(TensorDataset(np.arange(n)), fractions, seed=0)]
    theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
    assert ours == theirs


def test_random_split_errors():
    ds = TensorDataset(np.arange(100))
    with pytest.raises(ValueError, match="lengths sum to 90, but the dataset has 100 examples"):
        random_split(ds, [50, 40])
    with pytest.raises(ValueError, match=r"fractions must be in \[0, 1\] and sum to 1"):
        random_split(ds, [0.5, 0.4])
    with pytest.raises(ValueError, match="non-negative numbers"):
        random_split(ds, [-10, 110])
