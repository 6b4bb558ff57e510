"""log1p expm1 log2 log10 reciprocal rsqrt square asin acos atan sinh cosh atan2 and the steps
(sign floor ceil round trunc): gradcheck, torch parity of values and gradients, as functions and
methods, integer inputs, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

# name -> domain of the inputs (kept away from poles and kinks)
SMOOTH = {
    "log1p": (-0.5, 2.0), "expm1": (-2.0, 2.0), "log2": (0.2, 3.0), "log10": (0.2, 3.0),
    "reciprocal": (0.3, 3.0), "rsqrt": (0.3, 3.0), "square": (-2.0, 2.0),
    "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3.0, 3.0), "sinh": (-2.0, 2.0),
    "cosh": (-2.0, 2.0),
}
STEPS = ["sign", "floor", "ceil", "round", "trunc"]


def _x(name, shape=(3, 4), seed=0, dtype=np.float64):
    low, high = SMOOTH[name]
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


@pytest.mark.parametrize("name", list(SMOOTH))
def test_gradcheck(name):
    x = dg.tensor(_x(name), requires_grad=True)
    assert dg.gradcheck(getattr(dg, name), [x])
    assert dg.gradcheck(lambda t: getattr(t.T, name)(), [x])  # method, non-contiguous


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(SMOOTH))
def test_parity(torch, name, dtype):
    check_parity(torch, getattr(dg, name), getattr(torch, name), [_x(name, dtype=dtype)])


@pytest.mark.parametrize("name", STEPS)
def test_steps_match_torch_with_zero_gradient(torch, name):
    # Halves included: round goes to even in both.
    x = np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, -1.7, 1.2, 3.0])
    check_parity(torch, getattr(dg, name), getattr(torch, name), [x])
    ints = dg.tensor([-3, 0, 4])
    assert getattr(ints, name)().dtype == dg.int64


def test_atan2_broadcasts_like_torch(torch):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((1, 4))
    check_parity(torch, dg.atan2, torch.atan2, [a, b])
    assert dg.gradcheck(dg.atan2, [dg.tensor(a, requires_grad=True),
                                   dg.tensor(b, requires_grad=True)])
    np.testing.assert_allclose(dg.atan2(dg.tensor([1.0]), 0.0).numpy(), [np.pi / 2])
    assert dg.tensor([1, 2]).atan2(dg.tensor([2, 1])).dtype == dg.float32


def test_integers_give_float32_and_square_keeps_them():
    assert dg.log1p(dg.tensor([1, 2])).dtype == dg.float32
    assert dg.square(dg.tensor([2, -3])).tolist() == [4, 9]


def test_errors_name_the_op():
    with pytest.raises(TypeError, match="log1p: input must be a Tensor"):
        dg.log1p(np.ones(2))
    with pytest.raises(TypeError, match="atan2: input must be a Tensor"):
        dg.atan2(1.0, 2.0)
    with pytest.raises(dg.ShapeError, match="atan2: shapes"):
        dg.atan2(dg.ones(2), dg.ones(3))
