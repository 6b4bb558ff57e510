"""lerp logaddexp hypot logit xlogy clamp_min clamp_max nanmean var_mean std_mean quantile cross
kron tensordot swapaxes unflatten ravel argwhere: torch parity of values and gradients, gradcheck,
errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

rng = np.random.default_rng(0)
A, B = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
P = rng.uniform(0.1, 0.9, (3, 4))
V3, W3 = rng.standard_normal((5, 3)), rng.standard_normal((1, 3))

# name -> (deepgrad function, torch function taking the torch module first, inputs)
CASES = {
    "lerp": (lambda x, y: x.lerp(y, 0.3), lambda T, t, u: t.lerp(u, 0.3), [A, B]),
    "lerp_tensor_weight": (dg.lerp, lambda T, t, u, w: t.lerp(u, w), [A, B, P]),
    "logaddexp": (dg.logaddexp, lambda T, t, u: t.logaddexp(u), [A * 40, B]),
    "hypot": (dg.hypot, lambda T, t, u: t.hypot(u), [A, B]),
    "logit": (lambda x: x.logit(), lambda T, t: t.logit(), [P]),
    "logit_eps": (lambda x: dg.logit(x, 0.2), lambda T, t: t.logit(0.2), [P]),
    "xlogy": (dg.xlogy, lambda T, t, u: t.xlogy(u), [A, P]),
    "clamp_min": (lambda x: x.clamp_min(0.1), lambda T, t: t.clamp_min(0.1), [A]),
    "clamp_max": (lambda x: dg.clamp_max(x, 0.2), lambda T, t: t.clamp_max(0.2), [A]),
    "var_mean": (lambda x: dg.var_mean(x, 1), lambda T, t: T.var_mean(t, 1), [A]),
    "std_mean": (lambda x: dg.std_mean(x, 0, keepdim=True),
                 lambda T, t: T.std_mean(t, 0, keepdim=True), [A]),
    "quantile": (lambda x: x.quantile(0.3), lambda T, t: t.quantile(0.3), [A]),
    "quantiles_dim": (lambda x: dg.quantile(x, [0.1, 0.5, 1.0], dim=1, keepdim=True),
                      lambda T, t: t.quantile(t.new_tensor([0.1, 0.5, 1.0]), dim=1,
                                              keepdim=True), [A]),
    "cross": (dg.cross, lambda T, t, u: T.linalg.cross(t, u), [V3, W3]),
    "kron": (dg.kron, lambda T, t, u: T.kron(t, u), [A[:2, :3], B[:2, :2]]),
    "tensordot": (lambda x, y: dg.tensordot(x, y, 1), lambda T, t, u: T.tensordot(t, u, 1),
                  [A, B.T.copy()]),
    "tensordot_pairs": (lambda x, y: dg.tensordot(x, y, ([0], [0])),
                        lambda T, t, u: T.tensordot(t, u, ([0], [0])), [A, B]),
    "swapaxes": (lambda x: x.swapaxes(0, 1), lambda T, t: t.swapaxes(0, 1), [A]),
    "unflatten": (lambda x: x.unflatten(1, (2, -1)), lambda T, t: t.unflatten(1, (2, -1)),
                  [A]),
    "ravel": (lambda x: x.ravel(), lambda T, t: t.ravel(), [A]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_parity(torch, name):
    fn, torch_fn, arrays = CASES[name]
    check_parity(torch, fn, lambda *ts: torch_fn(torch, *ts), arrays)


@pytest.mark.parametrize("name", [n for n in CASES if n not in ("clamp_min", "clamp_max")])
def test_gradcheck(name):
    fn, _, arrays = CASES[name]
    assert dg.gradcheck(lambda *xs: fn(*xs) if not isinstance(fn(*xs), tuple) else fn(*xs)[0],
                        [dg.tensor(a, requires_grad=True) for a in arrays])


def test_nanmean_xlogy_zero_and_argwhere(torch):
    a = A.copy()
    a[0, :] = np.nan
    a[1, 2] = np.nan
    ours, theirs = dg.tensor(a).nanmean(1), torch.tensor(a).nanmean(1)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    x = dg.tensor([0.0, 2.0], requires_grad=True)
    y = dg.xlogy(x, dg.tensor([0.0, 3.0]))
    np.testing.assert_allclose(y.numpy(), [0.0, 2.0 * np.log(3.0)], rtol=1e-6)
    assert dg.argwhere(dg.tensor(A) > 1).tolist() == torch.argwhere(torch.tensor(A) > 1).tolist()


def test_errors():
    with pytest.raises(ValueError, match=r"quantile: q must be numbers in \[0, 1\]"):
        dg.ones(3).quantile(1.5)
    with pytest.raises(dg.ShapeError, match="cross: dimension -1 must have size 3"):
        dg.cross(dg.ones(2, 4), dg.ones(2, 4))
    with pytest.raises(dg.ShapeError, match="tensordot: the contracted sizes differ"):
        dg.tensordot(dg.ones(2, 3), dg.ones(4, 5), 1)
