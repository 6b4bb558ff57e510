"""instance_norm: gradcheck, parity with torch (outputs, gradients, running statistics) with and
without the input's statistics, errors."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops.instance_norm import instance_norm

SHAPES = [(2, 3, 4, 5), (3, 2, 6), (2, 2, 3, 2, 2)]
AFFINE = ["none", "weight", "bias", "both"]


def _affine(channels, affine, rng, dtype=np.float64):
    weight = rng.standard_normal(channels).astype(dtype) if affine in ("weight", "both") else None
    bias = rng.standard_normal(channels).astype(dtype) if affine in ("bias", "both") else None
    return [a for a in (weight, bias) if a is not None]


def _call(fn, affine):
    """fn(x, weight, bias, ...) taking the present affine tensors positionally."""
    def run(x, *params):
        named = dict(zip([k for k in ("weight", "bias") if affine in (k, "both")], params))
        return fn(x, **named)
    return run


@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck(shape, affine):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape), *_affine(shape[1], affine, rng)]
    leaves = [dg.tensor(a, requires_grad=True) for a in arrays]
    assert dg.gradcheck(_call(lambda x, **kw: instance_norm(x, **kw), affine), leaves)


def test_gradcheck_with_running_statistics():
    rng = np.random.default_rng(1)
    mean, var = dg.tensor(rng.standard_normal(3)), dg.tensor(rng.random(3) + 0.5)
    x, w, b = (dg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3, 4, 4), 3, 3))
    assert dg.gradcheck(lambda x, w, b: instance_norm(x, mean, var, w, b, use_input_stats=False),
                        [x, w, b])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("shape", SHAPES)
def test_parity_with_torch(torch, dtype, shape, affine):
    rng = np.random.default_rng(2)
    arrays = [(rng.standard_normal(shape) * 3 + 1).astype(dtype),
              *_affine(shape[1], affine, rng, dtype)]
    check_parity(torch, _call(lambda x, **kw: instance_norm(x, eps=1e-3, **kw), affine),
                 _call(lambda x, **kw: torch.nn.functional.instance_norm(x, eps=1e-3, **kw),
                       affine), arrays)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_running_statistics_match_torch(torch, dtype, use_input_stats):
    rng = np.random.default_rng(3)
    mean, var = rng.standard_normal(3).astype(dtype), (rng.random(3) + 0.5).astype(dtype)
    ours = [dg.tensor(mean.copy()), dg.tensor(var.copy())]
    theirs = [torch.tensor(mean.copy()), torch.tensor(var.copy())]
    weight, bias = rng.standard_normal((2, 3)).astype(dtype)
    for _ in range(3):
        x = (rng.standard_normal((4, 3, 5, 3)) * 2 + 1).astype(dtype)
        check_parity(torch,
                     lambda x, w, b: instance_norm(x, *ours, w, b, use_input_stats, 0.3),
                     lambda x, w, b: torch.nn.functional.instance_norm(
                         x, *theirs, w, b, use_input_stats, 0.3), [x, weight, bias])
        for got, want, name in zip(ours, theirs, ("running_mean", "running_var")):
            assert_close(got, want, dtype, name)
    assert np.array_equal(ours[0].numpy(), mean) != use_input_stats  # updated only then


def test_is_group_norm_with_one_group_per_channel():
    x = dg.randn(2, 4, 3, 3)
    np.testing.assert_array_equal(instance_norm(x).numpy(), dg.nn.functional.group_norm(
        x, 4).numpy())


def test_errors():
    x = dg.randn(2, 3, 4, 4)
    with pytest.raises(dg.ShapeError, match=r"^instance_norm: expects input \(N, C, \*spatial\) "
                                            r"with C > 0 and at least one spatial dimension; "
                                            r"got \(2, 3\)"):
        instance_norm(dg.randn(2, 3))
    with pytest.raises(dg.ShapeError, match=r"^instance_norm: expects more than 1 spatial element "
                                            r"per channel when using the input's statistics; got "
                                            r"input \(2, 3, 1, 1\)"):
        instance_norm(dg.randn(2, 3, 1, 1))
    with pytest.raises(dg.ShapeError, match=r"^instance_norm: weight must have shape \(3\) for an "
                                            r"input of shape \(2, 3, 4, 4\); got \(4\)"):
        instance_norm(x, weight=dg.ones(4))
    with pytest.raises(TypeError, match=r"^instance_norm: running_mean has dtype float64 but the "
                                        r"input has float32"):
        instance_norm(x, dg.zeros(3, dtype=dg.float64), dg.ones(3, dtype=dg.float64))
    with pytest.raises(ValueError, match=r"^instance_norm: give both running_mean and "
                                         r"running_var, or neither"):
        instance_norm(x, dg.zeros(3))
    with pytest.raises(ValueError, match=r"^instance_norm: running_mean and running_var must be "
                                         r"given when use_input_stats=False"):
        instance_norm(x, use_input_stats=False)
    with pytest.raises(TypeError, match=r"^instance_norm: expects a floating point input; got "
                                        r"int64"):
        instance_norm(dg.tensor(np.ones((1, 2, 3), np.int64)))
    with pytest.raises(TypeError, match=r"^instance_norm: momentum must be a number; got None"):
        instance_norm(x, dg.zeros(3), dg.ones(3), momentum=None)
