"""dropout and dropout2d: gradcheck with a fixed mask, statistics of the mask, modes, errors."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.ops.dropout import dropout, dropout2d


def _seeded(fn, p):
    """``fn(x, p)`` with the generator reseeded on every call, so that gradcheck's repeated
    evaluations all draw the same mask."""
    def run(x):
        dg.manual_seed(0)
        return fn(x, p)

    return run


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)])
def test_dropout_gradcheck(shape, p):
    x = dg.randn(*shape, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(_seeded(dropout, p), (x,))


def test_dropout_gradcheck_non_contiguous_input():
    x = dg.from_numpy(np.random.default_rng(0).standard_normal((5, 4)).T).requires_grad_()
    assert dg.gradcheck(_seeded(dropout, 0.4), (x,))


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (4, 3, 2)])
def test_dropout2d_gradcheck(shape):
    x = dg.randn(*shape, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(_seeded(dropout2d, 0.5), (x,))


@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p, dtype):
    dg.manual_seed(1)
    x = dg.ones(512, 1024, dtype=dtype, requires_grad=True)
    y = dropout(x, p)
    values = y.numpy()
    assert y.dtype == dtype
    dropped = values == 0
    # 524,288 draws: the dropped fraction's standard deviation is below 7e-4.
    assert abs(dropped.mean() - p) < 4e-3
    np.testing.assert_array_equal(values[~dropped], np.asarray(1 / (1 - p), dtype=dtype))
    assert abs(values.mean() - 1) < 1.5e-2
    y.backward(dg.ones(512, 1024, dtype=dtype))
    np.testing.assert_array_equal(x.grad.numpy(), values)


def test_dropout_backward_uses_the_forward_mask():
    dg.manual_seed(2)
    x = dg.randn(30, 40, requires_grad=True)
    y = dropout(x, 0.3)
    g = dg.randn(30, 40)
    y.backward(g)
    kept = y.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g.numpy() / 0.7, 0), rtol=1e-6)


def test_dropout_is_reproducible_with_manual_seed():
    x = dg.randn(8, 16)
    dg.manual_seed(3)
    first = dropout(x, 0.5).numpy()
    dg.manual_seed(3)
    np.testing.assert_array_equal(dropout(x, 0.5).numpy(), first)
    assert not np.array_equal(dropout(x, 0.5).numpy(), first)


@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_identity_in_eval_mode_and_for_p_zero(fn):
    x = dg.randn(2, 3, 4, 4, requires_grad=True)
    assert fn(x, 0.5, training=False) is x
    assert fn(x, 0.0) is x


@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_p_one_gives_zeros_and_zero_gradient(fn):
    x = dg.randn(2, 3, 4, 4, requires_grad=True)
    y = fn(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


@pytest.mark.parametrize("shape", [(16, 32, 3, 5), (512, 3, 5)])
def test_dropout2d_zeroes_whole_channels(shape):
    dg.manual_seed(4)
    y = dropout2d(dg.ones(*shape), 0.4).numpy()
    per_channel = y.reshape(*shape[:-2], -1)
    first = per_channel[..., :1]
    np.testing.assert_array_equal(per_channel, np.broadcast_to(first, per_channel.shape))
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.6)}
    assert abs((first == 0).mean() - 0.4) < 0.07  # 3 standard deviations


def test_errors():
    x = dg.randn(2, 3)
    with pytest.raises(ValueError, match=r"dropout: p is the probability of dropping an element "
                                         r"and must be between 0 and 1; got 1\.5"):
        dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"dropout2d: .* got -0\.1"):
        dropout2d(dg.randn(2, 3, 4, 4), -0.1)
    with pytest.raises(TypeError, match="dropout: expects a floating point input; got int64"):
        dropout(dg.tensor([1, 2, 3]))
    with pytest.raises(dg.ShapeError, match=r"dropout2d: expects input \(N, C, H, W\) or "
                                            r"\(C, H, W\); got \(2, 3\)"):
        dropout2d(x)
