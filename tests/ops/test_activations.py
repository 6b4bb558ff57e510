"""Activations (sigmoid relu leaky_relu elu gelu silu softplus clamp clip): gradcheck, parity,
stability at extreme inputs, dtypes, kink and boundary gradients, errors."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg


def _functional(torch):
    return torch.nn.functional


# name -> (deepgrad function, torch function of (torch, x), points where the derivative jumps:
# gradcheck inputs stay away from them).
CASES = {
    "sigmoid": (dg.sigmoid, lambda torch, x: torch.sigmoid(x), ()),
    "relu": (dg.relu, lambda torch, x: torch.relu(x), (0.0,)),
    "leaky_relu": (dg.leaky_relu, lambda torch, x: _functional(torch).leaky_relu(x), (0.0,)),
    "leaky_relu(0.2)": (lambda x: dg.leaky_relu(x, 0.2),
                        lambda torch, x: _functional(torch).leaky_relu(x, 0.2), (0.0,)),
    "leaky_relu(-0.5)": (lambda x: dg.leaky_relu(x, negative_slope=-0.5),
                         lambda torch, x: _functional(torch).leaky_relu(x, -0.5), (0.0,)),
    "leaky_relu(3)": (lambda x: dg.leaky_relu(x, 3.0),
                      lambda torch, x: _functional(torch).leaky_relu(x, 3.0), (0.0,)),
    "elu": (dg.elu, lambda torch, x: _functional(torch).elu(x), ()),
    "elu(0.5)": (lambda x: dg.elu(x, 0.5), lambda torch, x: _functional(torch).elu(x, 0.5),
                 (0.0,)),
    "elu(2)": (lambda x: dg.elu(x, alpha=2.0), lambda torch, x: _functional(torch).elu(x, 2.0),
               (0.0,)),
    "gelu": (dg.gelu, lambda torch, x: _functional(torch).gelu(x), ()),
    "gelu(tanh)": (lambda x: dg.gelu(x, approximate="tanh"),
                   lambda torch, x: _functional(torch).gelu(x, approximate="tanh"), ()),
    "silu": (dg.silu, lambda torch, x: _functional(torch).silu(x), ()),
    "softplus": (dg.softplus, lambda torch, x: _functional(torch).softplus(x), (20.0,)),
    "softplus(2, 3)": (lambda x: dg.softplus(x, beta=2.0, threshold=3.0),
                       lambda torch, x: _functional(torch).softplus(x, 2.0, 3.0), (1.5,)),
    "softplus(-0.5, 2)": (lambda x: dg.softplus(x, -0.5, 2.0),
                          lambda torch, x: _functional(torch).softplus(x, -0.5, 2.0), (-4.0,)),
    "clamp(-0.5, 0.8)": (lambda x: dg.clamp(x, -0.5, 0.8),
                         lambda torch, x: torch.clamp(x, -0.5, 0.8), (-0.5, 0.8)),
    "clamp(min=-0.5)": (lambda x: dg.clamp(x, min=-0.5),
                        lambda torch, x: torch.clamp(x, min=-0.5), (-0.5,)),
    "clamp(max=0.8)": (lambda x: dg.clamp(x, max=0.8),
                       lambda torch, x: torch.clamp(x, max=0.8), (0.8,)),
    "clip(-0.5, 0.8)": (lambda x: dg.clip(x, -0.5, 0.8),
                        lambda torch, x: torch.clip(x, -0.5, 0.8), (-0.5, 0.8)),
}
NAMES = list(CASES)
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def _inputs(name, shape, rng, dtype=np.float64, scale=2.0):
    """Random inputs at least 0.05 away from the case's kinks."""
    x = rng.standard_normal(shape) * scale
    for kink in CASES[name][2]:
        near = np.abs(x - kink) < 0.05
        x = np.where(near, x + np.where(x >= kink, 0.1, -0.1), x)
    return x.astype(dtype)


def _parity(torch, name, x):
    dg_fn, torch_fn, _ = CASES[name]
    check_parity(torch, dg_fn, lambda t: torch_fn(torch, t), [x])


# ---------------------------------------------------------------- gradcheck (float64)
@pytest.mark.parametrize("shape", [(3, 4), (), (2, 1, 5)], ids=["2d", "0d", "3d"])
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name, shape):
    x = dg.tensor(_inputs(name, shape, np.random.default_rng(0)), requires_grad=True)
    assert dg.gradcheck(CASES[name][0], [x])


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_non_contiguous(name):
    x = dg.from_numpy(_inputs(name, (5, 4), np.random.default_rng(1)).T).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    assert dg.gradcheck(CASES[name][0], [x])


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_composed(name):
    # The op twice in one graph and its output reused: gradients must accumulate correctly.
    x = dg.tensor(_inputs(name, (6,), np.random.default_rng(2)), requires_grad=True)
    fn = CASES[name][0]
    assert dg.gradcheck(lambda t: fn(t) * fn(t) + t * fn(t), [x])


@pytest.mark.parametrize("name", ["softplus", "softplus(2, 3)", "softplus(-0.5, 2)"])
def test_gradcheck_softplus_above_threshold(name):
    # Both sides of the threshold, far enough from it that the switch is not in the stencil.
    x = dg.tensor(_inputs(name, (12,), np.random.default_rng(3), scale=15.0), requires_grad=True)
    assert dg.gradcheck(CASES[name][0], [x])


# ---------------------------------------------------------------- parity with torch
@DTYPES
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", NAMES)
def test_parity(torch, name, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, rng.integers(0, 4)))
    _parity(torch, name, rng.standard_normal(shape).astype(dtype) * 3)


@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_parity_at_kinks_and_boundaries(torch, name, dtype):
    # Exactly on every kink, threshold and clamp bound, where the one-sided choice matters.
    x = np.array([-4.0, -1.0, -0.5, -0.0, 0.0, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 20.0, 25.0],
                 dtype)
    _parity(torch, name, x)


@DTYPES
@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0), (-1.0, 5.0)])
def test_softplus_parity_around_threshold(torch, beta, threshold, dtype):
    edge = threshold / beta
    x = np.concatenate([np.linspace(edge - 3, edge + 3, 13), [-30.0, 30.0, 50.0, -50.0]])
    check_parity(torch, lambda t: dg.softplus(t, beta, threshold),
                 lambda t: torch.nn.functional.softplus(t, beta, threshold), [x.astype(dtype)])


@pytest.mark.filterwarnings("error")
@DTYPES
def test_softplus_with_huge_threshold_does_not_overflow(dtype):
    # torch computes log1p(exp(x)) below the threshold and overflows to inf from x = 89 (float32);
    # the stable formula gives x + log1p(exp(-x)) = x.
    x = dg.tensor(np.array([-1e4, 50.0, 800.0, 1e4], dtype), requires_grad=True)
    y = dg.softplus(x, threshold=1e9)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [0.0, 50.0, 800.0, 1e4], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0])


@DTYPES
def test_clamp_min_above_max_parity(torch, dtype):
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0], dtype)
    check_parity(torch, lambda t: dg.clamp(t, 1.0, 0.0), lambda t: torch.clamp(t, 1.0, 0.0), [x])


# ---------------------------------------------------------------- stability
@pytest.mark.filterwarnings("error")
@DTYPES
@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_finite_and_equal_to_torch(torch, name, dtype):
    x = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4], dtype)
    dg_fn, torch_fn, _ = CASES[name]
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yd, yt = dg_fn(xd), torch_fn(torch, xt)
    yd.backward(dg.ones_like(yd))
    yt.backward(torch.ones_like(yt))
    assert np.all(np.isfinite(yd.numpy())) and np.all(np.isfinite(xd.grad.numpy()))
    # Elementwise relative comparison: a scale-relative one would hide errors near 0 next to
    # the 1e4 entries. The absolute floor only forgives float32 denormals (sigmoid(-100)).
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), rtol=rtol, atol=1e-37)
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=1e-37)


@pytest.mark.filterwarnings("error")
@DTYPES
def test_saturated_values_are_exact(dtype):
    x = dg.tensor(np.array([-1e4, 1e4], dtype), requires_grad=True)
    for fn, expected, slope in [(dg.sigmoid, [0.0, 1.0], [0.0, 0.0]),
                                (dg.softplus, [0.0, 1e4], [0.0, 1.0]),
                                (dg.silu, [0.0, 1e4], [0.0, 1.0])]:
        x.grad = None
        y = fn(x)
        y.backward(dg.ones_like(y))
        np.testing.assert_array_equal(y.numpy(), expected)
        np.testing.assert_array_equal(x.grad.numpy(), slope)


# ---------------------------------------------------------------- kinks, boundaries, values
@DTYPES
def test_relu_family_gradient_at_zero(dtype):
    x = dg.tensor(np.array([-2.0, 0.0, 3.0], dtype), requires_grad=True)
    for fn, slope_at_zero, slope_below in [(dg.relu, 0.0, 0.0),
                                           (lambda t: dg.leaky_relu(t, 0.2), 0.2, 0.2),
                                           (lambda t: dg.elu(t, 0.5), 0.5, 0.5 * np.exp(-2.0))]:
        x.grad = None
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [slope_below, slope_at_zero, 1.0], rtol=1e-6)


@DTYPES
def test_clamp_gradient_includes_both_boundaries(dtype):
    x = dg.tensor(np.array([-1.0, -0.5, 0.0, 0.75, 1.0], dtype), requires_grad=True)
    y = dg.clamp(x, -0.5, 0.75)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), np.array([-0.5, -0.5, 0.0, 0.75, 0.75], dtype))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clamp_min_above_max_gives_max_and_no_gradient():
    x = dg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = dg.clamp(x, 1.0, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_known_values():
    x = dg.tensor(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_allclose(dg.sigmoid(x).numpy(), 1 / (1 + np.exp([1.0, 0.0, -2.0])),
                               rtol=1e-15)
    np.testing.assert_allclose(dg.gelu(x).numpy(), [-0.15865525393145707, 0.0,
                                                    1.9544997361036416], rtol=1e-14)
    np.testing.assert_allclose(dg.softplus(x).numpy(), np.log1p(np.exp([-1.0, 0.0, 2.0])),
                               rtol=1e-15)
    np.testing.assert_allclose(dg.elu(x).numpy(), [np.expm1(-1.0), 0.0, 2.0], rtol=1e-15)


def test_gelu_tanh_float32_keeps_relative_accuracy_for_negative_inputs():
    # 1 + tanh(u) cancels here (torch loses every digit below x = -5); the sigmoid form does not.
    a = np.array([-9.0, -7.0, -5.0, -3.0, -1.5])
    results = {}
    for dtype in (np.float64, np.float32):
        x = dg.tensor(a.astype(dtype), requires_grad=True)
        y = dg.gelu(x, approximate="tanh")
        y.sum().backward()
        results[dtype] = (y.numpy().astype(np.float64), x.grad.numpy().astype(np.float64))
    for got, want in zip(results[np.float32], results[np.float64]):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=0)


def test_clip_is_clamp():
    x = dg.tensor(np.array([-2.0, -0.5, 0.3, 0.8, 4.0]), requires_grad=True)
    dg.clip(x, -0.5, 0.8).sum().backward()
    clip_grad = x.grad.numpy().copy()
    x.grad = None
    dg.clamp(x, -0.5, 0.8).sum().backward()
    np.testing.assert_array_equal(dg.clip(x, -0.5, 0.8).numpy(), dg.clamp(x, -0.5, 0.8).numpy())
    np.testing.assert_array_equal(clip_grad, x.grad.numpy())


# ---------------------------------------------------------------- dtypes and graph behaviour
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("name", NAMES)
def test_keeps_float_dtype(name, dtype):
    x = dg.tensor(_inputs(name, (7,), np.random.default_rng(4)), dtype=dtype,
                  requires_grad=True)
    y = CASES[name][0](x)
    assert y.dtype == dtype
    y.backward(dg.ones(7, dtype=dtype))
    assert x.grad.dtype == dtype


def test_integer_inputs_follow_torch():
    ints = dg.tensor([-2, 0, 3])
    assert dg.sigmoid(ints).dtype == dg.float32
    np.testing.assert_allclose(dg.sigmoid(ints).numpy(), 1 / (1 + np.exp([2.0, 0.0, -3.0])),
                               rtol=1e-6)
    assert dg.relu(ints).dtype == dg.int64
    assert dg.relu(ints).tolist() == [0, 0, 3]
    assert dg.clamp(ints, 0, 2).dtype == dg.int64
    assert dg.clamp(ints, 0, 2).tolist() == [0, 0, 2]
    assert dg.clamp(ints, max=0.5).dtype == dg.float32
    assert dg.clamp(ints, max=0.5).tolist() == [-2.0, 0.0, 0.5]


@pytest.mark.parametrize("name", NAMES)
def test_without_grad_same_values(name):
    a = _inputs(name, (4, 3), np.random.default_rng(5), scale=10.0)
    fn = CASES[name][0]
    with_graph = fn(dg.tensor(a, requires_grad=True))
    plain = fn(dg.tensor(a))
    with dg.no_grad():
        no_grad = fn(dg.tensor(a, requires_grad=True))
    assert with_graph.requires_grad and not plain.requires_grad and not no_grad.requires_grad
    np.testing.assert_array_equal(plain.numpy(), with_graph.numpy())
    np.testing.assert_array_equal(no_grad.numpy(), with_graph.numpy())


@pytest.mark.parametrize("name", NAMES)
def test_read_only_broadcast_input_is_not_written(name):
    # A stride-0 read-only view: any write into the input or its saved arrays would raise.
    row = _inputs(name, (4,), np.random.default_rng(6))
    x = dg.from_numpy(np.broadcast_to(row, (3, 4))).requires_grad_()
    fn = CASES[name][0]
    y = fn(x)
    y.backward(dg.ones_like(y))
    expected = fn(dg.tensor(row[None, :].repeat(3, axis=0)))
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    np.testing.assert_array_equal(x.numpy(), np.broadcast_to(row, (3, 4)))
    assert x.grad.shape == (3, 4)


@pytest.mark.parametrize("method, args, kwargs", [
    ("sigmoid", (), {}), ("relu", (), {}), ("leaky_relu", (0.3,), {}), ("elu", (), {"alpha": 2}),
    ("gelu", (), {"approximate": "tanh"}), ("silu", (), {}), ("softplus", (2.0, 1.0), {}),
    ("clamp", (-0.5, 0.5), {}), ("clip", (), {"max": 0.5}),
])
def test_methods_match_functions(method, args, kwargs):
    x = dg.tensor(np.random.default_rng(7).standard_normal((3, 4)))
    np.testing.assert_array_equal(getattr(x, method)(*args, **kwargs).numpy(),
                                  getattr(dg, method)(x, *args, **kwargs).numpy())


def test_float32_parity_of_hot_activations_on_a_batch(torch):
    # A realistic layer size in float32, where a float64 temporary would change the rounding.
    a = np.random.default_rng(8).standard_normal((16, 64)).astype(np.float32) * 4
    for name in ("relu", "sigmoid", "gelu", "gelu(tanh)", "silu"):
        _parity(torch, name, a)
        assert CASES[name][0](dg.tensor(a)).dtype == dg.float32


def test_numpy_scalar_arguments():
    x = dg.tensor(np.array([-1.0, 0.5, 2.0]))
    np.testing.assert_array_equal(dg.clamp(x, np.float64(0.0), np.int64(1)).numpy(),
                                  [0.0, 0.5, 1.0])
    assert_close(dg.leaky_relu(x, np.float32(0.5)), np.array([-0.5, 0.5, 2.0]))


# ---------------------------------------------------------------- errors
def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match=r"gelu: approximate must be 'none' or 'tanh', got 'foo'"):
        dg.gelu(dg.tensor([1.0]), approximate="foo")


@pytest.mark.parametrize("fn", [dg.clamp, dg.clip])
def test_clamp_needs_a_bound(fn):
    with pytest.raises(ValueError, match=r"clamp: at least one of min and max must be given"):
        fn(dg.tensor([1.0]))


@pytest.mark.parametrize("call, message", [
    (lambda x: dg.clamp(x, min=[0.0]), r"clamp: min must be a number, got list"),
    (lambda x: dg.clamp(x, max="1"), r"clamp: max must be a number, got str"),
    (lambda x: dg.leaky_relu(x, None), r"leaky_relu: negative_slope must be a number, got "
                                       r"NoneType"),
    (lambda x: dg.elu(x, alpha=True), r"elu: alpha must be a number, got bool"),
    (lambda x: dg.softplus(x, threshold=[1]), r"softplus: threshold must be a number, got list"),
])
def test_non_number_arguments(call, message):
    with pytest.raises(TypeError, match=message):
        call(dg.tensor([1.0, -1.0]))


def test_softplus_rejects_zero_beta():
    with pytest.raises(ValueError, match=r"softplus: beta must be nonzero"):
        dg.softplus(dg.tensor([1.0]), beta=0)


@pytest.mark.parametrize("fn, op", [(dg.leaky_relu, "leaky_relu"), (dg.elu, "elu"),
                                    (dg.gelu, "gelu"), (dg.silu, "silu"),
                                    (dg.softplus, "softplus")])
def test_integer_tensor_rejected_where_torch_rejects_it(fn, op):
    with pytest.raises(TypeError, match=rf"{op}: expects a floating-point tensor, got dtype int64"):
        fn(dg.tensor([1, -2]))


@pytest.mark.parametrize("size", [5, 160], ids=["in cache", "over 1 MiB"])
def test_relu_keeps_a_channel_major_layout_both_ways(size):
    """A convolution's output is channel-major memory seen as NCHW: ReLU's output and input
    gradient keep that layout, so that the next convolution (and the pooling's backward) read
    contiguous channels instead of transposing. (Large arrays take another forward loop.)"""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, size, size)).transpose(1, 0, 2, 3)
    x = dg.from_numpy(x).requires_grad_()
    y = dg.relu(x)
    assert y.numpy().transpose(1, 0, 2, 3).flags.c_contiguous
    gy = rng.standard_normal((3, 4, size, size)).transpose(1, 0, 2, 3)
    y.backward(dg.from_numpy(gy))
    assert x.grad.numpy().transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.numpy(), 0))
    np.testing.assert_array_equal(x.grad.numpy(), gy * (x.numpy() > 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "channel-major"])
def test_relu_gradient_compiled_and_numpy_agree(dtype, layout):
    """The compiled input gradient (gy in y's layout) gives NumPy's numbers, NaN and -0.0
    where the gradient carries them included."""
    pytest.importorskip("numba", reason="numba is not installed: no compiled ReLU to compare")
    from deepgrad.ops import activations
    from deepgrad.ops._kernels import use_compiled

    rng = np.random.default_rng(4)
    x, gy = (rng.standard_normal((3, 4, 6, 5)).astype(dtype) for _ in range(2))
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    x[0, 0, 1, :4] = [-1.0, -1.0, 1.0, -1.0]  # where y is 0, NaN * 0, inf * 0 and -1 * 0
    gy[0, 0, 1, :4] = [np.nan, np.inf, -np.inf, -1.0]
    if layout == "channel-major":
        x, gy = (np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
                 for a in (x, gy))
    grads = []
    for enabled in (False, True):
        with use_compiled(enabled), pytest.MonkeyPatch.context() as mp:
            mp.setattr(activations, "_COMPILED_GRAD_BYTES", 0)  # these small arrays too
            t = dg.from_numpy(x).requires_grad_()
            dg.relu(t).backward(dg.from_numpy(gy))
            grads.append(t.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])
    assert np.array_equal(np.signbit(grads[1]), np.signbit(grads[0]))
    assert grads[1].strides == grads[0].strides


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_compiled_and_numpy_agree(dtype):
    pytest.importorskip("numba", reason="numba is not installed: no compiled GELU to compare")
    from deepgrad.ops._kernels import use_compiled

    x = (np.random.default_rng(3).standard_normal(5000) * 4).astype(dtype)
    x[:3] = [0.0, -0.0, 1e-30]
    results = []
    for enabled in (False, True):
        with use_compiled(enabled):
            t = dg.tensor(x, requires_grad=True)
            y = dg.gelu(t)
            y.sum().backward()
            results.append((y.numpy(), t.grad.numpy()))
    (y0, g0), (y1, g1) = results
    if dtype == np.float32:  # each step rounds to float32 as NumPy's passes do
        np.testing.assert_array_equal(y1, y0)
        np.testing.assert_array_equal(g1, g0)
    else:  # the two erfs may differ in their last bit (1 + erf cancels for x << 0)
        np.testing.assert_allclose(y1, y0, rtol=1e-11, atol=1e-300)
        np.testing.assert_allclose(g1, g0, rtol=1e-11, atol=1e-300)
    assert np.signbit(y1[1]) == np.signbit(y0[1])
