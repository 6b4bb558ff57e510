"""RMSNorm and rms_norm: parity with torch (output, input and weight gradients), gradcheck, eps
from the dtype, state dict, errors."""

import numpy as np
import pytest
from helpers import assert_close, check_module_parity

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn import functional as F


@pytest.mark.parametrize("normalized_shape", [5, (4, 5)])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rms_norm_parity_with_torch(torch, normalized_shape, eps, dtype):
    theirs = torch.nn.RMSNorm(normalized_shape, eps=eps)
    theirs = theirs.double() if dtype == np.float64 else theirs.float()
    with torch.no_grad():
        theirs.weight.normal_()
    ours = nn.RMSNorm(normalized_shape, eps=eps).to(dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(dtype)
    check_module_parity(torch, ours, theirs, x, dtype)


def test_rms_norm_without_affine(torch):
    ours, theirs = nn.RMSNorm(5, elementwise_affine=False), torch.nn.RMSNorm(
        5, elementwise_affine=False)
    assert ours.weight is None and list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = np.random.default_rng(1).standard_normal((2, 5))
    assert_close(ours.double()(dg.tensor(x)), theirs(torch.tensor(x)), np.float64)


def test_rms_norm_eps_none_is_the_dtypes_machine_epsilon():
    """A zero row is 0 / sqrt(eps): eps is float32's epsilon for float32, float64's for
    float64 (so a tiny row normalizes differently in the two)."""
    x = np.full((1, 4), 1e-5)
    for dtype in (np.float32, np.float64):
        y = F.rms_norm(dg.tensor(x.astype(dtype)), 4).numpy()
        assert y.dtype == dtype
        np.testing.assert_allclose(y, x / np.sqrt(1e-10 + np.finfo(dtype).eps), rtol=1e-5)


def test_rms_norm_gradcheck():
    x = dg.tensor(np.random.default_rng(2).standard_normal((2, 3, 4)), requires_grad=True)
    w = dg.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    assert dg.gradcheck(lambda a, b: F.rms_norm(a, (3, 4), b, eps=1e-6), (x, w))
    assert dg.gradcheck(lambda a: F.rms_norm(a, 4), (x,))


def test_rms_norm_errors():
    with pytest.raises(dg.ShapeError, match=r"^RMSNorm expects input \(\.\.\., 4, 5\); got "
                                            r"\(2, 5, 4\)$"):
        nn.RMSNorm((4, 5))(dg.randn(2, 5, 4))
    with pytest.raises(dg.ShapeError, match=r"rms_norm: weight must have the normalized shape "
                                            r"\(4\); got \(3\)"):
        F.rms_norm(dg.randn(2, 4), 4, dg.randn(3))
    assert repr(nn.RMSNorm(4)) == "RMSNorm((4,), eps=None, elementwise_affine=True)"
