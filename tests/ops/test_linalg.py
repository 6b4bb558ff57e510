"""``dg.linalg.vector_norm``, ``dg.linalg.norm`` (vector and Frobenius norms) and ``dg.cdist``:
parity with torch (values and gradients), gradcheck, and the forms refused by name."""

import numpy as np
import pytest
from helpers import gradcheck_of, parity_of

import deepgrad as dg

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
BATCH = RNG.standard_normal((2, 5, 3))
OTHER = RNG.standard_normal((2, 4, 3))
SAME = np.concatenate([BATCH[:, :2], OTHER[:, 2:]], axis=1)  # rows shared: distance 0

CASES = {
    "vector_norm": (lambda m, x: m.linalg.vector_norm(x), [X]),
    "vector_norm ord 3 dim": (lambda m, x: m.linalg.vector_norm(x, 3, dim=1), [X]),
    "vector_norm inf keepdim": (lambda m, x: m.linalg.vector_norm(x, float("inf"), dim=(0, 1),
                                                                  keepdim=True), [X]),
    "norm default": (lambda m, x: m.linalg.norm(x), [X]),
    "norm dim": (lambda m, x: m.linalg.norm(x, dim=1), [X]),
    "norm ord 1 dim": (lambda m, x: m.linalg.norm(x, 1, dim=0), [X]),
    "norm fro": (lambda m, x: m.linalg.norm(x, "fro"), [X]),
    "norm vector ord": (lambda m, x: m.linalg.norm(x[0], 0.5), [X]),
    "cdist": (lambda m, a, b: m.cdist(a, b), [BATCH, OTHER]),
    "cdist 2-D p=1": (lambda m, a, b: m.cdist(a, b, p=1.0), [BATCH[0], OTHER[0]]),
    "cdist p=3": (lambda m, a, b: m.cdist(a, b, p=3.0), [BATCH, OTHER]),
    "cdist zero distances": (lambda m, a, b: m.cdist(a, b), [BATCH, SAME]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(torch, name):
    parity_of(torch, *CASES[name])


@pytest.mark.parametrize("name", [n for n in CASES if "zero" not in n and "inf" not in n])
def test_gradcheck(name):
    gradcheck_of(*CASES[name])


def test_refused_forms_say_why():
    x = dg.tensor(X)
    with pytest.raises(NotImplementedError, match="matrix norm ord='nuc'"):
        dg.linalg.norm(x, "nuc")
    with pytest.raises(NotImplementedError, match="matrix norm ord=2"):
        dg.linalg.norm(x, 2)
    with pytest.raises(ValueError, match="'fro' is a matrix norm"):
        dg.linalg.norm(x[0], "fro")
    with pytest.raises(ValueError, match="give dim for an input of 3 dimensions"):
        dg.linalg.norm(dg.tensor(BATCH), 2)
    with pytest.raises(TypeError, match="ord must be a number"):
        dg.linalg.vector_norm(x, "fro")
    with pytest.raises(dg.ShapeError, match=r"cdist: the rows need the same number of features"):
        dg.cdist(dg.tensor(X), dg.tensor(BATCH[0]))
    with pytest.raises(dg.ShapeError, match="x2 must have at least 2 dimensions"):
        dg.cdist(dg.tensor(X), dg.tensor(X[0]))
