"""adaptive_max_pool2d: gradcheck, parity with torch (outputs, indices, gradients) for tiling,
uneven and overlapping windows, ties and NaNs, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops.adaptive_pool import AdaptiveMaxPool, adaptive_max_pool2d

pytestmark = pytest.mark.usefixtures("both_kernels")  # the NumPy passes and the compiled loop

CASES = [
    ((2, 2, 6, 8), (3, 4)),       # divisible: an ordinary max pooling
    ((1, 2, 7, 9), (3, 4)),       # uneven windows
    ((1, 2, 5, 7), (3, 5)),       # overlapping windows (a position is the max of several)
    ((1, 2, 4, 5), (7, 3)),       # more outputs than inputs along H
    ((2, 3, 5, 6), 1),            # global max
    ((3, 5, 6), (None, 4)),       # unbatched, None keeps H
    ((1, 2, 6, 5), (4, None)),
]


@pytest.mark.parametrize(("shape", "output_size"), CASES)
def test_gradcheck(shape, output_size):
    x = dg.randn(*shape, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(lambda t: adaptive_max_pool2d(t, output_size), [x])


def test_gradcheck_non_contiguous_input():
    a = np.random.default_rng(0).standard_normal((9, 7, 2, 1)).T
    x = dg.from_numpy(a).requires_grad_()
    assert dg.gradcheck(lambda t: adaptive_max_pool2d(t, (3, 4)), [x])


@pytest.mark.parametrize("return_indices", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "output_size"), CASES)
def test_parity_with_torch(torch, dtype, return_indices, shape, output_size):
    a = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    check_parity(torch, lambda t: adaptive_max_pool2d(t, output_size, return_indices),
                 lambda t: torch.nn.functional.adaptive_max_pool2d(t, output_size,
                                                                   return_indices), [a])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_parity_random_sizes_with_ties(torch, dtype, seed):
    # Few distinct values: windows hold their max more than once (the first one, row-major,
    # gets the gradient), and overlapping windows share maxima.
    rng = np.random.default_rng(10 + seed)
    shape = (2, 2, int(rng.integers(1, 12)), int(rng.integers(1, 12)))
    output_size = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    a = rng.integers(0, 3, shape).astype(dtype)
    check_parity(torch, lambda t: adaptive_max_pool2d(t, output_size, return_indices=True),
                 lambda t: torch.nn.functional.adaptive_max_pool2d(t, output_size,
                                                                   return_indices=True), [a])


def test_overlapping_windows_add_their_gradients():
    # Height 3 into 2 outputs: rows [0, 2) and [1, 3) share row 1, which holds the max.
    x = dg.tensor([[[[0.0], [5.0], [1.0]]]], requires_grad=True)
    y, indices = adaptive_max_pool2d(x, (2, 1), return_indices=True)
    y.backward(dg.tensor([[[[2.0], [3.0]]]]))
    np.testing.assert_array_equal(indices.numpy().ravel(), [1, 1])
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0.0, 5.0, 0.0])


def test_nan_wins_like_torch(torch):
    a = np.arange(35, dtype=np.float64).reshape(1, 1, 5, 7)
    a[0, 0, 1, 2] = a[0, 0, 2, 1] = np.nan
    y, indices = adaptive_max_pool2d(dg.tensor(a), (2, 3), return_indices=True)
    ty, tindices = torch.nn.functional.adaptive_max_pool2d(torch.tensor(a), (2, 3),
                                                           return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())


def test_paths_indices_and_empty_output(torch):
    x = dg.randn(2, 3, 7, 5, requires_grad=True)
    y, indices = adaptive_max_pool2d(x, (3, 2), return_indices=True)
    assert isinstance(y._node, AdaptiveMaxPool)
    assert indices.dtype == dg.int64 and not indices.requires_grad
    with dg.no_grad():
        np.testing.assert_array_equal(adaptive_max_pool2d(x, (3, 2)).numpy(), y.numpy())
    empty = adaptive_max_pool2d(dg.randn(1, 2, 4, 4), 0)
    assert empty.shape == tuple(torch.nn.functional.adaptive_max_pool2d(
        torch.zeros(1, 2, 4, 4), 0).shape) == (1, 2, 0, 0)


def test_errors():
    with pytest.raises(dg.ShapeError, match=r"^adaptive_max_pool2d: expects input \(N, C, H, W\) "
                                            r"or \(C, H, W\) with C, H, W > 0; got \(4, 4\)"):
        adaptive_max_pool2d(dg.randn(4, 4), 2)
    with pytest.raises(ValueError, match=r"^adaptive_max_pool2d: output_size must be an int or a "
                                         r"pair of non-negative ints .*; got \(2, 2, 2\)"):
        adaptive_max_pool2d(dg.randn(1, 1, 4, 4), (2, 2, 2))
    with pytest.raises(ValueError, match=r"got -1"):
        adaptive_max_pool2d(dg.randn(1, 1, 4, 4), -1)
    with pytest.raises(TypeError, match=r"^adaptive_max_pool2d: expects a floating-point input; "
                                        r"got int64"):
        adaptive_max_pool2d(dg.tensor(np.ones((1, 1, 4, 4), np.int64)), 2)
