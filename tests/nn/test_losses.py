"""Fused cross-entropy: gradcheck, parity with torch, stability, target errors."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
import deepgrad.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck(reduction):
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    target = rng.integers(0, 4, 5)
    assert dg.gradcheck(lambda a: F.cross_entropy(a, target, reduction), (x,))


def test_gradcheck_one_example_and_non_contiguous():
    x = dg.tensor(np.random.default_rng(1).standard_normal(4), requires_grad=True)
    assert dg.gradcheck(lambda a: F.cross_entropy(a, 2), (x,))
    xt = dg.from_numpy(np.random.default_rng(2).standard_normal((4, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda a: F.cross_entropy(a, np.array([0, 3, 1])), (xt,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7, 3), (1, 10), (3,)])
def test_parity_with_torch(torch, dtype, reduction, shape):
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal(shape) * 3).astype(dtype)
    target = rng.integers(0, shape[-1], shape[:-1])
    x = dg.tensor(logits, requires_grad=True)
    xt = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target, reduction)
    loss_t = torch.nn.functional.cross_entropy(xt, torch.tensor(target), reduction=reduction)
    assert loss.dtype == dtype
    assert_close(loss, loss_t, dtype, "loss")
    g = rng.standard_normal(loss.shape).astype(dtype)
    loss.backward(g)
    loss_t.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, dtype, "gradient")


def test_extreme_logits_give_finite_loss_and_gradient(torch):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=np.float32)
    target = np.array([1, 0])
    x = dg.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target)
    loss.backward()
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(target))
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_target_errors_name_the_problem():
    x = dg.randn(3, 4)
    with pytest.raises(ValueError, match=r"cross_entropy: target value 4 at index 1 is out of "
                                         r"range for 4 classes \(expected 0 to 3\)"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="target value -1 at index 2"):
        F.cross_entropy(x, dg.tensor([0, 1, -1]))
    with pytest.raises(dg.ShapeError, match=r"target must have shape \(3\) for logits of "
                                            r"shape \(3, 4\); got \(2\)"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(TypeError, match="target must hold integer class indices; got dtype "
                                        "float32"):
        F.cross_entropy(x, dg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(dg.ShapeError, match=r"expects logits \(N, C\) or \(C,\); got "
                                            r"\(2, 3, 4\)"):
        F.cross_entropy(dg.randn(2, 3, 4), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, np.array([0, 1, 2]), reduction="avg")


def test_matches_the_primitives():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 5))
    target = rng.integers(0, 5, 6)
    a = dg.tensor(logits, requires_grad=True)
    b = dg.tensor(logits, requires_grad=True)
    F.cross_entropy(a, target).backward()
    (-b.log_softmax(dim=1)[dg.arange(6), dg.tensor(target)].mean()).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-15)
