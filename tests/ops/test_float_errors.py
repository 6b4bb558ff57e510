"""Non-finite results without NumPy's warnings: log(0), x / 0, sqrt(-1), exp overflow and their
gradients give -inf, inf and nan silently and equal to PyTorch's, forward and backward."""

import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.nn import functional as F

CASES = {
    "exp overflow": (lambda m, x: m.exp(x), [1000.0, 1.0]),
    "log of 0 and -1": (lambda m, x: m.log(x), [0.0, -1.0, 2.0]),
    "sqrt of -1 and 0": (lambda m, x: m.sqrt(x), [-1.0, 0.0, 4.0]),
    "x / 0 and 0 / 0": (lambda m, x: x / (x * 0), [1.0, 0.0]),
    "1 / x at 0": (lambda m, x: 1 / x, [0.0, 2.0]),
    "x ** -1 at 0": (lambda m, x: x ** -1, [0.0, 2.0]),
    "x ** 0.5 below 0": (lambda m, x: x ** 0.5, [-8.0, 0.0, 4.0]),
    "softmax of -inf row": (lambda m, x: F.softmax(x, 0) if m is dg else m.softmax(x, 0),
                            [-np.inf, -np.inf]),
    "mean over an empty dimension": (lambda m, x: x.reshape(2, 0).mean(1), []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_non_finite_results_are_silent_and_match_torch(name, torch):
    fn, values = CASES[name]
    x = dg.tensor(np.array(values, np.float32), requires_grad=True)
    xt = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = fn(dg, x)
        y.sum().backward()
    yt = fn(torch, xt)
    yt.sum().backward()
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("op", ["var", "std"])
def test_no_degrees_of_freedom_warn_in_deepgrads_words(op):
    with pytest.warns(RuntimeWarning, match=rf"^{op}: 1 element\(s\) per result and "
                                            r"correction=1 leave no degrees of freedom"):
        y = getattr(dg.tensor([1.0]), op)()
    assert np.isnan(y.item())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(dg.tensor([1.0]), op)(correction=0).item() == 0.0


def test_numpys_own_settings_are_left_as_they_were():
    before = np.geterr()
    dg.tensor([0.0]).log()
    assert np.geterr() == before
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        np.log(np.zeros(1))
