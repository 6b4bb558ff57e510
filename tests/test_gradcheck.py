"""dg.gradcheck: passes correct gradients, catches wrong ones with a precise message."""

import re

import numpy as np
import pytest

import deepgrad as dg


class WrongSquare(dg.Function):
    """y = x**2 with a deliberately wrong backward (gx = gy * x, missing the factor 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.x


class WrongSecondInput(dg.Function):
    """y = a * b whose gradient for b is wrong (ga right, gb = gy * a + 1)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a=a, b=b)
        return a * b

    @staticmethod
    def backward(ctx, gy):
        return gy * ctx.b, gy * ctx.a + 1.0


def _parse(message: str) -> tuple[float, float]:
    found = re.search(r"analytical gradient (\S+) but numerical (\S+) ", message)
    assert found, message
    return float(found.group(1)), float(found.group(2))


def _f64(*shape, seed=0):
    return dg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_returns_true_for_correct_gradients():
    a, b = _f64(2, 3), _f64(2, 3, seed=1)
    assert dg.gradcheck(lambda a, b: (a * b).exp() - a / (b * b + 1.0), (a, b)) is True


def test_accepts_a_single_tensor():
    assert dg.gradcheck(lambda x: x.sin() * x, _f64(4)) is True


def test_passes_non_tensor_arguments_through():
    assert dg.gradcheck(lambda x, k: x * k + k, (_f64(3), 2.5)) is True


def test_wrong_gradient_raises_naming_input_element_and_values():
    values = np.array([0.0, 1.5, -2.0])
    x = dg.tensor(values, requires_grad=True)
    with pytest.raises(dg.GradcheckError) as info:
        dg.gradcheck(lambda x: WrongSquare.apply(x), [x])
    message = str(info.value)
    # element 0 is x = 0, where the wrong and the right gradients agree: the first mismatch is 1.
    assert message.startswith("gradcheck: input 0 (shape (3,)), element (1,): analytical gradient")
    weight = np.random.default_rng(0).standard_normal(3)[1]
    analytical, numerical = _parse(message)
    assert analytical == pytest.approx(weight * 1.5, rel=1e-8)
    assert numerical == pytest.approx(2 * weight * 1.5, rel=1e-6)
    assert "atol" in message and "rtol" in message


def test_wrong_gradient_of_the_second_input_names_input_1():
    a, b = _f64(2, 2), _f64(2, 2, seed=1)
    expected = re.escape("input 1 (shape (2, 2)), element (0, 0)")
    with pytest.raises(dg.GradcheckError, match=expected):
        dg.gradcheck(lambda a, b: WrongSecondInput.apply(a, b), (a, b))


def test_only_inputs_that_require_grad_are_checked():
    a = _f64(2, 2)
    b = dg.tensor(np.ones((2, 2)))
    assert dg.gradcheck(lambda a, b: WrongSecondInput.apply(a, b), (a, b))


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(dg.GradcheckError, AssertionError)


def test_float32_inputs_are_checked_in_float64():
    seen = []

    def fn(x, y):
        seen.append((x.dtype, y.dtype))
        # In float32, a finite difference with eps=1e-6 is noise; in float64 it is exact enough.
        return (x * y).tanh()

    x = dg.randn(2, 3, requires_grad=True)
    y = dg.randn(2, 3)
    before = x.numpy().copy()
    assert dg.gradcheck(fn, (x, y))
    assert set(seen) == {(dg.float64, dg.float64)}
    assert x.dtype == dg.float32
    np.testing.assert_array_equal(x.numpy(), before)


def test_leaves_the_callers_tensors_unchanged():
    x = _f64(3, 2)
    before = x.numpy().copy()
    assert dg.gradcheck(lambda x: (x * x).sum(), [x])
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


def test_writes_no_grad_into_the_tensors_fn_closes_over():
    """As torch's gradcheck: a layer's weights used inside fn keep the .grad they had (the
    check once wrote its backward passes into them)."""
    layer = dg.nn.Linear(3, 2).double()
    x = dg.randn(4, 3, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(layer, [x])
    assert layer.weight.grad is None and layer.bias.grad is None and x.grad is None


def test_non_contiguous_input():
    base = np.random.default_rng(0).standard_normal((3, 4))
    x = dg.from_numpy(base.T).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    assert dg.gradcheck(lambda x: x * x.exp(), [x])
    np.testing.assert_array_equal(x.numpy(), base.T)


def test_non_scalar_outputs():
    assert dg.gradcheck(lambda x: x * x, [_f64(2, 3)])
    with pytest.raises(dg.GradcheckError, match="input 0"):
        dg.gradcheck(lambda x: WrongSquare.apply(x) + 0.0, [_f64(2, 3)])


def test_multiple_outputs_are_all_checked():
    a, b = _f64(2, 3), _f64(2, 3, seed=1)
    assert dg.gradcheck(lambda a, b: (a * b, a - b.exp()), (a, b))
    with pytest.raises(dg.GradcheckError, match="input 0"):
        dg.gradcheck(lambda a, b: (a * b, WrongSquare.apply(a)), (a, b))


def test_an_output_that_needs_no_grad_is_ignored():
    x = _f64(3)
    assert dg.gradcheck(lambda x: (x.exp(), dg.ones(3)), [x])


def test_no_input_requiring_grad_is_a_value_error():
    with pytest.raises(ValueError, match="gradcheck: no input has requires_grad=True"):
        dg.gradcheck(lambda x: x * 2.0, [dg.tensor(np.ones(3))])


def test_tolerances_are_used():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    # The wrong gradient is off by x**2 * |w|, a few units: a huge atol accepts it.
    assert dg.gradcheck(lambda x: WrongSquare.apply(x), [x], atol=100.0)
    with pytest.raises(dg.GradcheckError):
        dg.gradcheck(lambda x: WrongSquare.apply(x), [x])
