"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ against torch.nn.utils (returned
norm and clipped gradients), in place, non-finite norms, errors."""

import math

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad.nn import Parameter
from deepgrad.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(30, 20), (20,), (5, 3, 4), ()]


def gradients(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(shape)).astype(dtype) for shape in SHAPES]


def with_grads(grads, tensor, attach):
    """Parameters holding ``grads`` (None: no gradient), in deepgrad or torch."""
    params = []
    for g in grads:
        p = tensor(np.zeros((2,)) if g is None else np.zeros_like(g))
        if g is not None:
            attach(p, g.copy())
        params.append(p)
    return params


def pair(torch, grads):
    ours = with_grads(grads, Parameter, lambda p, g: setattr(p, "grad", dg.tensor(g)))
    theirs = with_grads(grads, lambda a: torch.tensor(a, requires_grad=True),
                        lambda p, g: setattr(p, "grad", torch.tensor(g)))
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(torch, dtype, norm_type, max_norm):
    grads = gradients(dtype)
    grads.insert(2, None)  # a parameter without a gradient is left out
    ours, theirs = pair(torch, grads)
    arrays = [p.grad.data for p in ours if p.grad is not None]
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, dg.Tensor) and total.shape == () and total.dtype == dtype
    assert_close(total, expected, dtype, "total norm")
    for i, (p, t) in enumerate(zip(ours, theirs)):
        if t.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, t.grad, dtype, f"gradient {i}")
    assert all(p.grad.data is a for p, a in zip([p for p in ours if p.grad is not None], arrays))
    if max_norm > 1e3:  # under the bound: untouched
        for p, g in zip(ours, grads):
            if g is not None:
                np.testing.assert_array_equal(p.grad.data, g)


def test_clip_grad_norm_reaches_max_norm_on_a_large_model_gradient(torch):
    grads = [np.random.default_rng(3).standard_normal((1000, 1000)).astype(np.float32)]
    ours, theirs = pair(torch, grads)
    total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert_close(total, expected, np.float32, "total norm")
    assert_close(ours[0].grad, theirs[0].grad, np.float32, "gradient")
    assert np.linalg.norm(ours[0].grad.data.astype(np.float64)) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_takes_a_single_tensor_and_a_generator(torch):
    ours, theirs = pair(torch, gradients(np.float64))
    total = clip_grad_norm_(ours[0], 0.1)
    assert_close(total, torch.nn.utils.clip_grad_norm_(theirs[0], 0.1), np.float64)
    total = clip_grad_norm_((p for p in ours), 0.1)
    assert_close(total, torch.nn.utils.clip_grad_norm_((p for p in theirs), 0.1), np.float64)
    assert_close(ours[1].grad, theirs[1].grad, np.float64)


def test_no_gradients_give_a_zero_norm():
    total = clip_grad_norm_([Parameter(np.zeros(3))], 1.0)
    assert total.item() == 0.0 and total.dtype == np.float32
    assert clip_grad_norm_([], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_norm_scales_like_torch_or_raises(torch, bad):
    grads = gradients(np.float64)
    grads[2][1, 2, 3] = bad
    ours, theirs = pair(torch, grads)
    total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert np.isnan(total.item()) == np.isnan(expected.item())
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.data, t.grad.numpy())
    ours, _ = pair(torch, grads)
    before = [p.grad.data.copy() for p in ours]
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_: the total norm of order 2.0 of the "
                                           rf"gradients is {bad}, so they cannot be clipped; "
                                           r"the first non-finite norm is that of the gradient "
                                           r"of parameter 2 \(shape \(5, 3, 4\)\)"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    for p, b in zip(ours, before):
        np.testing.assert_array_equal(p.grad.data, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.0, 0.3, 10.0])
def test_clip_grad_value_matches_torch(torch, dtype, clip_value):
    grads = gradients(dtype, scale=2.0)
    grads[0][0, 0] = np.nan
    grads.insert(1, None)
    ours, theirs = pair(torch, grads)
    arrays = [p.grad.data for p in ours if p.grad is not None]
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, t in zip(ours, theirs):
        if t.grad is not None:
            np.testing.assert_array_equal(p.grad.data, t.grad.numpy())
    assert all(p.grad.data is a for p, a in zip([p for p in ours if p.grad is not None], arrays))


def test_clip_grad_value_takes_a_single_tensor():
    p = Parameter(np.zeros(3))
    p.grad = dg.tensor(np.array([-5.0, 0.5, 5.0]))
    clip_grad_value_(p, 1)
    np.testing.assert_array_equal(p.grad.data, [-1.0, 0.5, 1.0])


@pytest.mark.parametrize("call, message", [
    (lambda ps: clip_grad_norm_(ps, -1.0), "clip_grad_norm_: max_norm must be a number >= 0; "
                                           "got -1.0"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), "clip_grad_norm_: norm_type must be a "
                                                       "positive number or inf; got 0"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="fro"), "norm_type must be a positive "
                                                           "number or inf; got 'fro'"),
    (lambda ps: clip_grad_value_(ps, -0.5), "clip_grad_value_: clip_value must be a number >= "
                                            "0; got -0.5"),
])
def test_invalid_arguments_are_reported(call, message):
    params, _ = [Parameter(np.zeros(2))], None
    with pytest.raises(ValueError, match=message):
        call(params)


def test_non_tensors_are_reported():
    with pytest.raises(TypeError, match="clip_grad_norm_: parameters must be Tensors; got "
                                        "ndarray at position 1"):
        clip_grad_norm_([Parameter(np.zeros(2)), np.zeros(2)], 1.0)
