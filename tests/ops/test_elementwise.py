"""Elementwise math (exp log sqrt abs sin cos tanh erf), dtype casts: gradcheck, parity, dtypes."""

import re

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

# name -> (function, domain of the inputs); abs stays away from its kink at 0.
UNARY = {
    "exp": (dg.exp, (-2.0, 2.0)),
    "log": (dg.log, (0.2, 3.0)),
    "sqrt": (dg.sqrt, (0.2, 3.0)),
    "abs": (dg.abs, (0.1, 3.0)),
    "sin": (dg.sin, (-3.0, 3.0)),
    "cos": (dg.cos, (-3.0, 3.0)),
    "tanh": (dg.tanh, (-2.5, 2.5)),
    "erf": (dg.erf, (-2.5, 2.5)),
}


def _inputs(name, shape, rng, dtype=np.float64):
    low, high = UNARY[name][1]
    x = rng.uniform(low, high, shape)
    if name == "abs":
        x *= rng.choice([-1.0, 1.0], shape)
    return x.astype(dtype)


def _torch_fn(torch, name):
    return getattr(torch, name)


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("form", ["function", "method"])
def test_unary_gradcheck(name, form):
    x = dg.tensor(_inputs(name, (3, 4), np.random.default_rng(0)), requires_grad=True)
    fn = UNARY[name][0] if form == "function" else (lambda t: getattr(t, name)())
    assert dg.gradcheck(fn, [x])


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck_non_contiguous(name):
    base = _inputs(name, (4, 3), np.random.default_rng(1))
    x = dg.from_numpy(base.T).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    assert dg.gradcheck(UNARY[name][0], [x])


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck_composed(name):
    x = dg.tensor(_inputs(name, (5,), np.random.default_rng(2)), requires_grad=True)
    fn = UNARY[name][0]
    assert dg.gradcheck(lambda t: fn(t) * fn(t) + t * fn(t), [x])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_parity(torch, name, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(0, 4)))
    x = _inputs(name, shape, rng, dtype)
    check_parity(torch, UNARY[name][0], _torch_fn(torch, name), [x])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_abs_gradient_at_zero_parity(torch, dtype):
    x = np.array([-1.5, 0.0, 2.0], dtype)
    check_parity(torch, dg.abs, torch.abs, [x])


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
def test_unary_keeps_float_dtype(name, dtype):
    x = dg.tensor(_inputs(name, (3,), np.random.default_rng(3)), dtype=dtype, requires_grad=True)
    y = UNARY[name][0](x)
    assert y.dtype == dtype
    y.backward(dg.ones(3, dtype=dtype))
    assert x.grad.dtype == dtype


def test_abs_operator():
    x = dg.tensor([-1.0, 2.0], requires_grad=True)
    y = abs(x)
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 1.0])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "cos", "tanh"])
def test_unary_of_an_integer_tensor_gives_float32(name):
    assert UNARY[name][0](dg.tensor([1, 2, 3])).dtype == dg.float32


def test_abs_of_an_integer_tensor_stays_integer():
    y = dg.tensor([-2, 3]).abs()
    assert y.dtype == dg.int64
    np.testing.assert_array_equal(y.numpy(), [2, 3])


# ---------------------------------------------------------------- casts


@pytest.mark.parametrize(("source", "cast", "target"), [
    (dg.float32, lambda t: t.double(), dg.float64),
    (dg.float32, lambda t: t.to(dg.float64), dg.float64),
    (dg.float32, lambda t: t.to("float64"), dg.float64),
    (dg.float64, lambda t: t.float(), dg.float32),
    (dg.float64, lambda t: t.to(dg.float32), dg.float32),
], ids=["double", "to-float64", "to-string", "float", "to-float32"])
def test_float_casts_are_differentiable(source, cast, target):
    x = dg.tensor([1.0, -2.0, 3.0], dtype=source, requires_grad=True)
    y = cast(x)
    assert y.dtype == target
    assert y.requires_grad
    assert y.grad_fn is not None
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(target))
    (y * dg.tensor([1.0, 2.0, 3.0], dtype=target)).sum().backward()
    assert x.grad.dtype == source
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_cast_gradcheck_through_float32():
    x = dg.tensor(np.random.default_rng(4).standard_normal((2, 3)), requires_grad=True)
    # A round trip through float32 rounds to ~1e-7: a larger step keeps the differences exact.
    assert dg.gradcheck(lambda t: (t.float().double() * t).exp(), [x], eps=1e-3)


def test_cast_parity(torch):
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    check_parity(torch, lambda t: t.double().exp() * 2.0, lambda t: t.double().exp() * 2.0, [x])
    check_parity(torch, lambda t: t.double().float() * t, lambda t: t.double().float() * t, [x])


def test_cast_to_the_same_dtype_returns_the_tensor():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert x.float() is x
    assert x.to(dg.float32) is x


def test_to_takes_the_cpu_device_as_pytorch_code_passes_it():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert x.device == "cpu"
    assert x.to("cpu") is x and x.to(device="cpu:0") is x
    for y in (x.to("cpu", dg.float64), x.to(dtype=dg.float64), x.to("float64")):
        assert y.dtype == np.float64
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    (("cuda",), {}, ValueError, "Tensor.to: device 'cuda' is not available: deepgrad computes "
                                "with NumPy on the CPU (device 'cpu')"),
    ((), {"device": "mps"}, ValueError, "Tensor.to: device 'mps' is not available"),
    ((dg.float32, dg.float64), {}, TypeError, "Tensor.to: expects at most one dtype and one "
                                              "device"),
])
def test_to_errors(args, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        dg.tensor([1.0]).to(*args, **kwargs)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_long_gives_int64_without_grad(requires_grad):
    x = dg.tensor([1.7, -2.7, 3.0], requires_grad=requires_grad)
    y = x.long()
    assert y.dtype == dg.int64
    assert not y.requires_grad
    assert y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), [1, -2, 3])


def test_integer_to_float_cast():
    y = dg.tensor([1, 2]).float()
    assert y.dtype == dg.float32
    assert not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    assert dg.tensor([1, 2]).double().dtype == dg.float64
