"""embedding: gradcheck with repeated indices and padding_idx, parity with torch, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops.embedding import embedding

INDICES = [[[1, 3, 1, 0], [3, 3, 4, 1]], [2], 4]


@pytest.mark.parametrize("indices", INDICES)
def test_gradcheck(indices):
    weight = dg.randn(5, 3, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(lambda w: embedding(dg.tensor(indices), w), (weight,))


@pytest.mark.parametrize("padding_idx", [1, -2])
def test_gradcheck_with_padding_idx(padding_idx):
    # The padding row is looked up but gets no gradient: it is a constant here, so that finite
    # differences see the same function; every other row must still get its exact gradient.
    row = padding_idx % 5
    top = dg.randn(row, 3, dtype=dg.float64, requires_grad=True)
    bottom = dg.randn(4 - row, 3, dtype=dg.float64, requires_grad=True)
    padding_row = dg.randn(1, 3, dtype=dg.float64)
    idx = dg.tensor(INDICES[0])
    assert row in idx.numpy()

    def fn(top, bottom):
        return embedding(idx, dg.cat([top, padding_row, bottom]), padding_idx=padding_idx)

    assert dg.gradcheck(fn, (top, bottom))


def test_gradcheck_non_contiguous_weight():
    weight = dg.from_numpy(np.random.default_rng(0).standard_normal((3, 6)).T).requires_grad_()
    assert dg.gradcheck(lambda w: embedding(dg.tensor([[0, 5, 5], [2, 0, 1]]), w), (weight,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding_idx", [None, 0, 7])
@pytest.mark.parametrize("seed", range(3))
def test_parity_with_torch(torch, seed, padding_idx, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, size=seed + 1))
    # Few rows, many lookups: most indices repeat, and the padding row is looked up.
    arrays = [rng.integers(0, 8, size=shape), rng.standard_normal((8, 5)).astype(dtype)]
    check_parity(torch, lambda i, w: embedding(i, w, padding_idx=padding_idx),
                 lambda i, w: torch.nn.functional.embedding(i, w, padding_idx=padding_idx),
                 arrays)


def test_large_table_gradient_accumulates_repeats():
    rng = np.random.default_rng(1)
    indices = rng.integers(0, 50, size=4096)
    weight = dg.randn(50, 8, requires_grad=True)
    g = rng.standard_normal((4096, 8)).astype(np.float32)
    embedding(indices, weight).backward(dg.tensor(g))
    expected = np.zeros((50, 8))
    np.add.at(expected, indices, g.astype(np.float64))
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert weight.grad.dtype == dg.float32


def test_output_shape_values_and_padding_row_not_zeroed():
    weight = dg.randn(6, 4, requires_grad=True)
    y = embedding(dg.tensor([[2, 0], [5, 2], [0, 0]]), weight, padding_idx=0)
    assert y.shape == (3, 2, 4)
    np.testing.assert_array_equal(y.numpy()[1, 0], weight.numpy()[5])
    np.testing.assert_array_equal(y.numpy()[0, 1], weight.numpy()[0])
    y.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy()[:, 0], [0, 0, 2, 0, 0, 1])


def test_errors():
    weight = dg.randn(10, 3)
    with pytest.raises(IndexError, match=r"embedding: index 12 is out of range for a table of "
                                         r"10 embeddings \(expected 0 to 9\)"):
        embedding(dg.tensor([[1, 12], [3, 0]]), weight)
    with pytest.raises(IndexError, match="embedding: index -1 is out of range"):
        embedding(dg.tensor([-1]), weight)
    with pytest.raises(TypeError, match="embedding: indices must be integers; got dtype float32"):
        embedding(dg.tensor([1.0]), weight)
    with pytest.raises(dg.ShapeError, match=r"embedding: weight must be 2-D \(num_embeddings, "
                                            r"embedding_dim\); got \(10\)"):
        embedding(dg.tensor([1]), dg.randn(10))
    with pytest.raises(ValueError, match="embedding: padding_idx 10 is out of range for a "
                                         "table of 10 embeddings"):
        embedding(dg.tensor([1]), weight, padding_idx=10)
