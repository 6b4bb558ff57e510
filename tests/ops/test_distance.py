"""normalize, cosine_similarity, pairwise_distance: gradcheck, parity with torch (outputs and
gradients, including vectors shorter than eps), broadcasting, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops.distance import cosine_similarity, normalize, pairwise_distance

# (shape, options): the orders, dims and eps values that change the math.
NORMALIZE_CASES = [
    ((4, 5), {}),
    ((2, 3, 4), {"dim": -1}),
    ((2, 3, 4), {"p": 1.0, "dim": 0}),
    ((3, 6), {"p": 3.0, "eps": 1e-3}),
    ((3, 6), {"p": float("inf")}),
    ((5,), {"dim": 0}),
]
# (shape of x1, shape of x2, options)
COSINE_CASES = [
    ((4, 5), (4, 5), {}),
    ((2, 3, 4), (2, 3, 4), {"dim": -1}),
    ((3, 4), (1, 4), {}),                   # x2 broadcast along the batch
    ((3, 1), (3, 4), {}),                   # x1 broadcast along dim: its norm grows, as in torch
    ((2, 5, 3), (5, 3), {"dim": 1, "eps": 1e-3}),
    ((6,), (6,), {"dim": 0}),
]
PAIRWISE_CASES = [
    ((4, 5), (4, 5), {}),
    ((4, 5), (5,), {"p": 1.0}),
    ((2, 3, 4), (2, 3, 4), {"p": 3.0, "keepdim": True}),
    ((3, 4), (3, 4), {"p": float("inf"), "eps": 0.0}),
    ((6,), (6,), {}),
]


def _arrays(rng, *shapes, dtype=np.float64):
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def _leaves(arrays):
    return [dg.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize(("shape", "options"), NORMALIZE_CASES)
def test_normalize_gradcheck(shape, options):
    (x,) = _leaves(_arrays(np.random.default_rng(0), shape))
    assert dg.gradcheck(lambda t: normalize(t, **options), [x])


@pytest.mark.parametrize(("shape1", "shape2", "options"), COSINE_CASES)
def test_cosine_similarity_gradcheck(shape1, shape2, options):
    x1, x2 = _leaves(_arrays(np.random.default_rng(1), shape1, shape2))
    assert dg.gradcheck(lambda a, b: cosine_similarity(a, b, **options), [x1, x2])


@pytest.mark.parametrize(("shape1", "shape2", "options"), PAIRWISE_CASES)
def test_pairwise_distance_gradcheck(shape1, shape2, options):
    x1, x2 = _leaves(_arrays(np.random.default_rng(2), shape1, shape2))
    assert dg.gradcheck(lambda a, b: pairwise_distance(a, b, **options), [x1, x2])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "options"), NORMALIZE_CASES)
def test_normalize_parity(torch, dtype, shape, options):
    arrays = _arrays(np.random.default_rng(3), shape, dtype=dtype)
    check_parity(torch, lambda t: normalize(t, **options),
                 lambda t: torch.nn.functional.normalize(t, **options), arrays)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape1", "shape2", "options"), COSINE_CASES)
def test_cosine_similarity_parity(torch, dtype, shape1, shape2, options):
    arrays = _arrays(np.random.default_rng(4), shape1, shape2, dtype=dtype)
    check_parity(torch, lambda a, b: cosine_similarity(a, b, **options),
                 lambda a, b: torch.nn.functional.cosine_similarity(a, b, **options), arrays)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape1", "shape2", "options"), PAIRWISE_CASES)
def test_pairwise_distance_parity(torch, dtype, shape1, shape2, options):
    arrays = _arrays(np.random.default_rng(5), shape1, shape2, dtype=dtype)
    check_parity(torch, lambda a, b: pairwise_distance(a, b, **options),
                 lambda a, b: torch.nn.functional.pairwise_distance(a, b, **options), arrays)


def _short_vectors(dtype):
    """Rows of x1: zero, shorter than cosine's eps (1e-8) and normalize's (1e-6 here), normal."""
    x1 = np.array([[0.0, 0.0, 0.0], [1e-9, 2e-9, 0.0], [3e-7, -1e-7, 2e-7], [1.0, -2.0, 0.5]])
    x2 = np.array([[1.0, 2.0, 3.0], [1.0, 0.5, 2.0], [0.0, 0.0, 0.0], [2.0, 1.0, -1.0]])
    return x1.astype(dtype), x2.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_short_vectors_match_torch(torch, dtype):
    # torch clamps cosine_similarity's norms without recording it (the gradient flows through
    # the norm even where the clamp holds) and normalize's with a recorded clamp_min.
    x1, x2 = _short_vectors(dtype)
    check_parity(torch, cosine_similarity, torch.nn.functional.cosine_similarity, [x1, x2])
    check_parity(torch, lambda t: normalize(t, eps=1e-6),
                 lambda t: torch.nn.functional.normalize(t, eps=1e-6), [x1])
    check_parity(torch, pairwise_distance, torch.nn.functional.pairwise_distance, [x1, x1])


def test_results():
    x = dg.tensor([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x).numpy(), [[0.6, 0.8], [0.0, 0.0]])
    a, b = dg.tensor([[1.0, 0.0], [1.0, 1.0]]), dg.tensor([[0.0, 2.0], [-3.0, -3.0]])
    np.testing.assert_allclose(cosine_similarity(a, b).numpy(), [0.0, -1.0], atol=1e-7)
    np.testing.assert_allclose(pairwise_distance(a, b, eps=0.0).numpy(),
                               [np.sqrt(5.0), np.sqrt(32.0)], rtol=1e-6)
    assert pairwise_distance(a[0], b[0]).shape == ()


def test_errors_name_the_function():
    x, y = dg.randn(3, 4), dg.randn(2, 4)
    with pytest.raises(dg.ShapeError, match=r"^cosine_similarity: x1 of shape \(3, 4\) and x2 "
                                            r"of shape \(2, 4\) do not broadcast together"):
        cosine_similarity(x, y)
    with pytest.raises(dg.ShapeError, match=r"^pairwise_distance: x1 of shape \(3, 4\) and x2"):
        pairwise_distance(x, y)
    with pytest.raises(dg.ShapeError, match=r"^pairwise_distance: expects vectors along the last "
                                            r"dimension; got two 0-d tensors"):
        pairwise_distance(dg.tensor(1.0), dg.tensor(2.0))
    with pytest.raises(IndexError, match=r"^normalize: dimension 2 is out of range for a tensor "
                                         r"with 2 dimensions"):
        normalize(x, dim=2)
    with pytest.raises(IndexError, match=r"^cosine_similarity: dimension -3 is out of range"):
        cosine_similarity(x, x, dim=-3)
    with pytest.raises(TypeError, match=r"^normalize: expects a floating point tensor; got dtype "
                                        r"int64"):
        normalize(dg.tensor([[1, 2]]))
    with pytest.raises(TypeError, match=r"^cosine_similarity: expects a floating point tensor"):
        cosine_similarity(x, dg.tensor([[1, 2, 3, 4]]))
