"""% // & | ^ ~ and remainder fmod floor_divide, bitwise and logical_xor, isclose, nonzero,
count_nonzero: values against torch, the gradients of remainder and fmod (gradcheck and torch),
errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

rng = np.random.default_rng(0)
A = rng.uniform(-5, 5, (3, 4))
B = rng.uniform(0.5, 2, (1, 4)) * rng.choice([-1.0, 1.0], (1, 4))


@pytest.mark.parametrize("name", ["remainder", "fmod"])
def test_remainders_match_torch_with_gradients(torch, name):
    check_parity(torch, getattr(dg, name), getattr(torch, name), [A, B])
    assert dg.gradcheck(getattr(dg, name), [dg.tensor(A, requires_grad=True),
                                             dg.tensor(B, requires_grad=True)])


def test_operators_match_torch(torch):
    x, t = dg.tensor(A), torch.tensor(A)
    i, ti = dg.tensor([7, -7, 6, 0]), torch.tensor([7, -7, 6, 0])
    pairs = [
        (x % 1.5, t % 1.5), (-7.5 % x, -7.5 % t), (x // 2, t // 2), (7 // (x + 10), 7 // (t + 10)),
        (i % 3, ti % 3), (i // 3, ti // 3), (-i // 4, -ti // 4),
        ((x > 0) & (x < 2), (t > 0) & (t < 2)), ((x > 0) | (x < -2), (t > 0) | (t < -2)),
        ((x > 0) ^ (x < 2), (t > 0) ^ (t < 2)), (~(x > 0), ~(t > 0)),
        (i & 6, ti & 6), (5 | i, 5 | ti), (i ^ i.flip(0), ti ^ ti.flip(0)), (~i, ~ti),
        (dg.logical_xor(x > 0, i[None] > 0), torch.logical_xor(t > 0, ti[None] > 0)),
        (dg.isclose(x, x + 1e-7), torch.isclose(t, t + 1e-7)),
        (x.nonzero(), t.nonzero()), ((x > 1).nonzero(), (t > 1).nonzero()),
        (dg.count_nonzero(x > 0, dim=1), torch.count_nonzero(t > 0, dim=1)),
    ]
    for k, (ours, theirs) in enumerate(pairs):
        assert ours.shape == tuple(theirs.shape), k
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), k
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, err_msg=str(k))
    rows, cols = dg.nonzero(x > 1, as_tuple=True)
    trows, tcols = torch.nonzero(t > 1, as_tuple=True)
    assert rows.tolist() == trows.tolist() and cols.tolist() == tcols.tolist()


def test_floor_divide_has_no_gradient_and_errors_are_clear():
    x = dg.tensor([3.0, 4.0], requires_grad=True)
    assert not (x // 2).requires_grad
    with pytest.raises(TypeError, match=r"bitwise_and: needs bool or integer tensors; got "
                                        r"float32 \(for masks compare first"):
        dg.tensor([1.0]) & dg.tensor([1.0])
    with pytest.raises(ZeroDivisionError, match="floor_divide: integer division by zero"):
        dg.tensor([3]) // 0
    with pytest.raises(dg.ShapeError, match="remainder: shapes"):
        dg.ones(2) % dg.ones(3)
