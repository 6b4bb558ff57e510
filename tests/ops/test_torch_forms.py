"""PyTorch's other call forms of existing ops: ``max(a, b)``, ``clamp`` with tensor bounds,
``softmax(..., dtype=)``, ``to(tensor / copy / non_blocking)``, and the compositions
``meshgrid``, ``addmm``, ``baddbmm``: parity with torch (values and gradients) and gradcheck."""

import numpy as np
import pytest
from helpers import gradcheck_of, parity_of

import deepgrad as dg

RNG = np.random.default_rng(0)
A, B, C = (RNG.standard_normal((3, 4)) for _ in range(3))

CASES = {
    "max(a, b)": (lambda m, a, b: m.max(a, b), [A, B]),
    "min(a, b)": (lambda m, a, b: m.min(a, b), [A, B]),
    "x.max(b)": (lambda m, a, b: a.max(b), [A, B]),
    "clamp tensor bounds": (lambda m, x, lo, hi: m.clamp(x, min=lo, max=hi),
                            [A, B - 1.0, B + 1.0]),
    "clamp tensor min": (lambda m, x, lo: m.clamp(x, min=lo), [A, B]),
    # (torch takes both bounds as tensors or both as numbers; deepgrad also a mix)
    "clamp tensor max, number min": (lambda m, x, hi: m.clamp(
        x, min=-0.5 if m is dg else m.full_like(x, -0.5), max=hi), [A, B]),
    "clamp bounds crossed": (lambda m, x, lo, hi: m.clamp(x, min=lo, max=hi), [A, B + 1, B - 1]),
    "clamp broadcast bound": (lambda m, x, lo: x.clamp(min=lo), [A, B[:1]]),
    "meshgrid ij": (lambda m, a, b: m.meshgrid(a, b, indexing="ij"), [A[0], B[1, :3]]),
    "meshgrid xy": (lambda m, a, b: m.meshgrid(a, b, indexing="xy"), [A[0], B[1, :3]]),
    "meshgrid xy 3": (lambda m, a, b, c: m.meshgrid(a, b, c, indexing="xy"),
                      [A[0], B[1, :3], C[2, :2]]),
    "addmm": (lambda m, i, a, b: m.addmm(i, a, b), [C[:, :3], A, B.T[:, :3]]),
    "addmm alpha beta": (lambda m, i, a, b: m.addmm(i, a, b, beta=0.5, alpha=-2.0),
                         [C[0, :3], A, B.T[:, :3]]),
    "x.addmm": (lambda m, i, a, b: i.addmm(a, b, alpha=3.0), [C[:, :3], A, B.T[:, :3]]),
    "baddbmm": (lambda m, i, a, b: m.baddbmm(i, a, b, beta=2.0),
                [C[:2, :2].reshape(1, 2, 2), A.reshape(2, 2, 3)[:, :, :2].copy(),
                 B.reshape(2, 2, 3)[:, :, :2].copy()]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(torch, name):
    parity_of(torch, *CASES[name])


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    gradcheck_of(*CASES[name])


def test_softmax_in_a_dtype_and_casts_as_torch(torch):
    x, xt = dg.tensor(A.astype(np.float32)), torch.tensor(A.astype(np.float32))
    for name in ("softmax", "log_softmax"):
        ours = getattr(dg.nn.functional, name)(x, dim=1, dtype=dg.float64)
        theirs = getattr(torch.nn.functional, name)(xt, dim=1, dtype=torch.float64)
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    assert x.to("cpu", non_blocking=True) is x and x.to(x) is x
    copied = x.to(copy=True)
    assert copied is not x and not np.shares_memory(copied.numpy(), x.numpy())
    assert x.to(dg.zeros(1, dtype=dg.float64)).dtype == np.float64
    assert x.to(torch_like := dg.zeros(1, dtype=dg.int64)).dtype == torch_like.dtype
    model = dg.nn.Linear(2, 2)
    assert model.to("cpu", non_blocking=True) is model


def test_in_place_forms(torch):
    x, xt = dg.tensor(C[:, :3]), torch.tensor(C[:, :3])
    x.addmm_(dg.tensor(A), dg.tensor(B.T[:, :3]), beta=0.5)
    xt.addmm_(torch.tensor(A), torch.tensor(B.T[:, :3]), beta=0.5)
    np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-12)
    y = dg.tensor(A)
    y.clamp_(min=dg.tensor(B))
    np.testing.assert_array_equal(y.numpy(), np.maximum(A, B))


def test_beta_zero_ignores_the_input_and_shapes_are_checked(torch):
    nan = np.full((3, 3), np.nan)
    ours = dg.addmm(dg.tensor(nan), dg.tensor(A), dg.tensor(B.T[:, :3]), beta=0)
    theirs = torch.addmm(torch.tensor(nan), torch.tensor(A), torch.tensor(B.T[:, :3]), beta=0)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())
    with pytest.raises(dg.ShapeError, match=r"addmm: input of shape \(2\) does not broadcast"):
        dg.addmm(dg.ones(2), dg.tensor(A), dg.tensor(B.T[:, :3]))
    with pytest.raises(dg.ShapeError, match="meshgrid: expects 0-D or 1-D"):
        dg.meshgrid(dg.ones(2, 2))
    with pytest.raises(ValueError, match="indexing must be 'ij' or 'xy'"):
        dg.meshgrid(dg.ones(2), indexing="yx")
    with pytest.raises(TypeError, match="takes no keepdim"):
        dg.max(dg.ones(2), dg.ones(2), keepdim=True)
