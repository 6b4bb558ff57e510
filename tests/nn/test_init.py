"""Weight initialization: gains and fans against torch, the statistics of every initializer against
its formula, orthogonality, reproducibility, dtypes, in-place semantics and error messages."""

import math
import re

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad.nn import init

NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]

# Every initializer as a one-argument function, for the tests that hold for all of them.
INITIALIZERS = {
    "zeros_": init.zeros_,
    "ones_": init.ones_,
    "constant_": lambda t: init.constant_(t, 0.25),
    "uniform_": lambda t: init.uniform_(t, -1.0, 3.0),
    "normal_": lambda t: init.normal_(t, 1.0, 2.0),
    "trunc_normal_": lambda t: init.trunc_normal_(t, 0.5, 1.0, -1.0, 1.0),
    "xavier_uniform_": init.xavier_uniform_,
    "xavier_normal_": init.xavier_normal_,
    "kaiming_uniform_": init.kaiming_uniform_,
    "kaiming_normal_": init.kaiming_normal_,
    "lecun_normal_": init.lecun_normal_,
    "orthogonal_": init.orthogonal_,
}
RANDOM = [name for name in INITIALIZERS if name not in ("zeros_", "ones_", "constant_")]


def normal_cdf(z):
    """Phi(z) for an array, accurate in both tails (erfc does not cancel where Phi is near 0)."""
    erfc = np.frompyfunc(math.erfc, 1, 1)
    return np.asarray(0.5 * erfc(-np.asarray(z, dtype=np.float64) / math.sqrt(2.0)),
                      dtype=np.float64)


def normal_sf(z):
    """1 - Phi(z), accurate in the upper tail."""
    return normal_cdf(-np.asarray(z, dtype=np.float64))


def check_uniform(x, low, high):
    x = x.astype(np.float64).ravel()
    width = high - low
    assert low <= x.min() < low + 0.01 * width, (x.min(), low)
    assert high - 0.01 * width < x.max() <= high, (x.max(), high)
    standard_error = width / math.sqrt(12 * x.size)
    assert abs(x.mean() - (low + high) / 2) < 5 * standard_error
    assert abs(x.std() / (width / math.sqrt(12)) - 1) < 5 / math.sqrt(x.size)


def check_normal(x, mean, std):
    x = x.astype(np.float64).ravel()
    assert abs(x.mean() - mean) < 5 * std / math.sqrt(x.size), (x.mean(), mean)
    assert abs(x.std() / std - 1) < 5 / math.sqrt(2 * x.size), (x.std(), std)
    # a normal, not a uniform with the same variance: about 0.27% beyond 3 std
    beyond = np.mean(np.abs(x - mean) > 3 * std)
    assert 0.0015 < beyond < 0.004, beyond


# ------------------------------------------------------------------ gains and fans
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_calculate_gain_matches_torch(torch, nonlinearity):
    assert init.calculate_gain(nonlinearity) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity), rel=1e-15)


@pytest.mark.parametrize("slope", [None, 0.2, 0, 1, -0.5, 3.0, np.float64(0.3)])
def test_calculate_gain_leaky_relu_slopes_match_torch(torch, slope):
    expected = torch.nn.init.calculate_gain("leaky_relu", slope)
    assert init.calculate_gain("leaky_relu", slope) == pytest.approx(expected, rel=1e-15)


def test_calculate_gain_values():
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("relu", 0.5) == math.sqrt(2)  # param only matters for leaky_relu


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (1, 1), (16, 3, 3, 3), (8, 4, 5),
                                   (2, 3, 4, 5, 6), (6, 2, 1, 1), (0, 5)])
def test_fan_in_and_fan_out_match_torch(torch, shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.calculate_fan_in_and_fan_out(dg.empty(*shape)) == expected
    assert init._calculate_fan_in_and_fan_out(dg.empty(*shape)) == expected


def test_fans_of_linear_and_conv_weights():
    assert init.calculate_fan_in_and_fan_out(dg.empty(10, 784)) == (784, 10)
    # Conv2d(3, 64, kernel_size=(5, 3)): every input channel reaches an output through 15 taps.
    assert init.calculate_fan_in_and_fan_out(dg.empty(64, 3, 5, 3)) == (45, 960)


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("name, fill, shape, low, high", [
    ("uniform_", lambda t: init.uniform_(t, -0.5, 2.0), (200, 160), -0.5, 2.0),
    ("uniform_ default", init.uniform_, (200, 160), 0.0, 1.0),
    ("xavier_uniform_ gain 2", lambda t: init.xavier_uniform_(t, gain=2.0), (256, 128),
     -2 * math.sqrt(6 / 384), 2 * math.sqrt(6 / 384)),
    ("kaiming_uniform_ default", init.kaiming_uniform_, (128, 256),
     -math.sqrt(2) * math.sqrt(3 / 256), math.sqrt(2) * math.sqrt(3 / 256)),
    ("kaiming_uniform_ Linear default", lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)),
     (128, 256), -1 / math.sqrt(256), 1 / math.sqrt(256)),
    ("kaiming_uniform_ conv fan_out relu",
     lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), (32, 16, 5, 5),
     -math.sqrt(2) * math.sqrt(3 / 800), math.sqrt(2) * math.sqrt(3 / 800)),
    ("kaiming_uniform_ leaky 0.2",
     lambda t: init.kaiming_uniform_(t, a=0.2, nonlinearity="leaky_relu"), (64, 512),
     -math.sqrt(2 / 1.04) * math.sqrt(3 / 512), math.sqrt(2 / 1.04) * math.sqrt(3 / 512)),
])
def test_uniform_initializers_follow_their_formula(name, fill, shape, low, high, dtype):
    dg.manual_seed(1)
    check_uniform(fill(dg.empty(*shape, dtype=dtype)).numpy(), low, high)


@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("name, fill, shape, mean, std", [
    ("normal_", lambda t: init.normal_(t, 1.5, 0.3), (200, 160), 1.5, 0.3),
    ("normal_ default", init.normal_, (200, 160), 0.0, 1.0),
    ("xavier_normal_ conv", init.xavier_normal_, (64, 32, 3, 3), 0.0,
     math.sqrt(2 / (32 * 9 + 64 * 9))),
    ("xavier_normal_ gain", lambda t: init.xavier_normal_(t, gain=5 / 3), (100, 300), 0.0,
     5 / 3 * math.sqrt(2 / 400)),
    ("kaiming_normal_ fan_out relu",
     lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), (128, 256), 0.0,
     math.sqrt(2) / math.sqrt(128)),
    ("kaiming_normal_ tanh conv1d", lambda t: init.kaiming_normal_(t, nonlinearity="tanh"),
     (64, 8, 70), 0.0, 5 / 3 / math.sqrt(560)),
    ("kaiming_normal_ default", init.kaiming_normal_, (64, 512), 0.0, math.sqrt(2 / 512)),
    ("lecun_normal_", init.lecun_normal_, (300, 100), 0.0, math.sqrt(1 / 100)),
    ("lecun_normal_ conv", init.lecun_normal_, (64, 16, 3, 3), 0.0, math.sqrt(1 / 144)),
])
def test_normal_initializers_follow_their_formula(name, fill, shape, mean, std, dtype):
    dg.manual_seed(2)
    check_normal(fill(dg.empty(*shape, dtype=dtype)).numpy(), mean, std)


@pytest.mark.parametrize("fill, kind, scale", [
    # shape (4, 3, 2, 5): fan_in = 30, fan_out = 40
    (lambda t: init.xavier_uniform_(t, gain=0.5), "uniform", 0.5 * math.sqrt(6 / 70)),
    (init.xavier_normal_, "normal", math.sqrt(2 / 70)),
    (lambda t: init.kaiming_uniform_(t, a=1.0), "uniform", math.sqrt(3 / 30)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="selu"), "normal",
     0.75 / math.sqrt(40)),
    (init.lecun_normal_, "normal", math.sqrt(1 / 30)),
])
def test_fan_based_initializers_use_the_exact_scale(fill, kind, scale):
    # The statistics tests cannot see a scale off by a fraction of a percent; the draws can.
    dg.manual_seed(13)
    w = fill(dg.empty(4, 3, 2, 5, dtype=dg.float64)).numpy()
    rng = np.random.default_rng(13)
    if kind == "uniform":
        expected = rng.random(w.shape) * (2 * scale) - scale
    else:
        expected = rng.standard_normal(w.shape) * scale
    np.testing.assert_allclose(w, expected, rtol=1e-14, atol=1e-15)


def test_kaiming_mode_is_case_insensitive_like_torch():
    dg.manual_seed(3)
    w = init.kaiming_normal_(dg.empty(64, 512), mode="FAN_OUT")
    check_normal(w.numpy(), 0.0, math.sqrt(2 / 64))


@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0),            # torch's default
    (0.5, 2.0, -1.0, 4.0),            # bounds are values, not multiples of std
    (0.0, 1.0, 1.0, math.inf),        # one tail
    (0.0, 1.0, 2.0, 2.3),             # narrow, in a tail
    (0.0, 1.0, -0.2, 0.3),            # narrow, around the mean
    (1.0, 0.5, -2.0, -0.5),           # far in the lower tail: (-6, -3) std
    (0.0, 1.0, 10.0, 10.2),           # 10 std out
    (0.0, 1.0, -math.inf, -1.0),
    (3.0, 1.0, 3.6, 3.9),
])
def test_trunc_normal_has_the_truncated_distribution(mean, std, a, b, dtype):
    dg.manual_seed(4)
    x = init.trunc_normal_(dg.empty(200, 200, dtype=dtype), mean, std, a, b).numpy()
    assert x.dtype == dtype
    assert a <= x.min() and x.max() <= b
    # Kolmogorov-Smirnov distance to the exact CDF; 1.95 / sqrt(n) is the 0.1% critical value.
    z = np.sort(x.ravel().astype(np.float64) - mean) / std
    alpha, beta = (a - mean) / std, (b - mean) / std
    if alpha >= 0:  # upper tail: compute with survival functions to keep the digits
        cdf = (normal_sf(alpha) - normal_sf(z)) / (normal_sf(alpha) - normal_sf(beta))
    else:
        cdf = (normal_cdf(z) - normal_cdf(alpha)) / (normal_cdf(beta) - normal_cdf(alpha))
    n = z.size
    distance = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert distance < 1.95 / math.sqrt(n), distance


def test_trunc_normal_moments_of_the_default():
    # N(0, 1) on [-2, 2]: mean 0, variance 1 - 2 * 2 * phi(2) / (Phi(2) - Phi(-2)).
    dg.manual_seed(5)
    x = init.trunc_normal_(dg.empty(400, 250, dtype=dg.float64)).numpy()
    mass = math.erf(2 / math.sqrt(2))
    std = math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / mass)
    assert abs(x.mean()) < 5 * std / math.sqrt(x.size)
    assert abs(x.std() / std - 1) < 5 / math.sqrt(2 * x.size)


# ------------------------------------------------------------------ orthogonal
@pytest.mark.parametrize("dtype, tol", [(dg.float32, 1e-5), (dg.float64, 1e-12)])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 7), (7, 1), (6, 2, 3),
                                   (2, 3, 2, 2), (40, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, dtype, tol):
    dg.manual_seed(6)
    w = init.orthogonal_(dg.empty(*shape, dtype=dtype))
    assert w.dtype == dtype and w.shape == shape
    m = w.numpy().reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=tol, rtol=0)


def test_orthogonal_gain_scales_the_matrix():
    dg.manual_seed(7)
    m = init.orthogonal_(dg.empty(4, 9, dtype=dg.float64), gain=2.5).numpy()
    np.testing.assert_allclose(m @ m.T, 6.25 * np.eye(4), atol=1e-12, rtol=0)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (6, 2, 3), (2, 3, 2, 2)])
def test_orthogonal_matches_torch_on_the_same_gaussian(torch, shape):
    # The sign correction makes Q unique given the Gaussian matrix: same input, same Q as torch.
    dg.manual_seed(8)
    w = init.orthogonal_(dg.empty(*shape, dtype=dg.float64), gain=1.5)
    rows, cols = shape[0], math.prod(shape[1:])
    g = torch.tensor(np.random.default_rng(8).standard_normal((rows, cols)))
    if rows < cols:
        g = g.T
    q, r = torch.linalg.qr(g)
    q = q * torch.diag(r).sign()
    if rows < cols:
        q = q.T
    assert_close(w, (1.5 * q).reshape(shape), np.float64, "orthogonal_")


# ------------------------------------------------------------------ generator and dtypes
@pytest.mark.parametrize("name", RANDOM)
def test_manual_seed_makes_initialization_reproducible(name):
    fill = INITIALIZERS[name]
    dg.manual_seed(9)
    first = fill(dg.empty(6, 5)).numpy().copy()
    dg.manual_seed(9)
    second = fill(dg.empty(6, 5)).numpy()
    np.testing.assert_array_equal(first, second)
    dg.manual_seed(10)
    assert not np.array_equal(first, fill(dg.empty(6, 5)).numpy())


@pytest.mark.parametrize("dtype", [dg.float32, dg.float64, np.dtype("float16")])
@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_initializers_keep_the_dtype(name, dtype):
    data = np.full((6, 5), np.nan, dtype=dtype)
    w = INITIALIZERS[name](dg.from_numpy(data))
    assert w.dtype == dtype and w.data is data
    assert np.isfinite(data).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_draws_come_from_deepgrads_generator_in_the_tensors_dtype(dtype):
    # Drawing float64 and rounding to float32 would give different float32 values.
    dg.manual_seed(11)
    w = init.normal_(dg.empty(50, 40, dtype=dtype), 0.5, 2.0)
    expected = np.random.default_rng(11).standard_normal((50, 40), dtype=dtype) * 2.0 + 0.5
    np.testing.assert_array_equal(w.numpy(), expected)
    dg.manual_seed(12)
    w = init.uniform_(dg.empty(50, 40, dtype=dtype), -1.0, 3.0)
    expected = np.random.default_rng(12).random((50, 40), dtype=dtype) * 4.0 - 1.0
    np.testing.assert_array_equal(w.numpy(), expected)


def test_constant_initializers_set_exact_values():
    w = dg.randn(3, 4, dtype=dg.float64)
    assert (init.zeros_(w).numpy() == 0).all()
    assert (init.ones_(w).numpy() == 1).all()
    assert (init.constant_(w, -0.3).numpy() == -0.3).all()
    counts = init.constant_(dg.zeros(5, dtype=dg.int64), 7)
    assert counts.dtype == dg.int64 and counts.tolist() == [7] * 5


# ------------------------------------------------------------------ in place, no graph
@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_parameter_is_initialized_in_place_outside_no_grad(name):
    w = dg.empty(4, 6, requires_grad=True)
    data, version = w.data, w._version
    assert INITIALIZERS[name](w) is w
    assert w.data is data and w._version == version + 1
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    assert dg.is_grad_enabled()
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((4, 6), 3.0, dtype=np.float32))


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_a_parameters_data_array_is_filled_in_place_as_in_pytorch_code(name):
    # nn.init.normal_(m.weight.data, 0.0, 0.02): .data is the array here.
    w = dg.empty(4, 6, requires_grad=True)
    dg.manual_seed(3)
    assert INITIALIZERS[name](w.data) is w.data
    dg.manual_seed(3)
    expected = INITIALIZERS[name](dg.empty(4, 6)).numpy()
    np.testing.assert_array_equal(w.numpy(), expected)


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_non_contiguous_tensor_is_filled_through_the_view(name):
    base = np.full((6, 4), np.nan)
    w = INITIALIZERS[name](dg.from_numpy(base.T))
    assert w.data.base is base and np.isfinite(base).all()


def test_orthogonal_into_a_transposed_view_and_fans_of_the_view():
    base = np.zeros((6, 4))
    view = dg.from_numpy(base.T)
    assert init.calculate_fan_in_and_fan_out(view) == (6, 4)
    init.orthogonal_(view)
    np.testing.assert_allclose(base.T @ base, np.eye(4), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_zero_element_tensors_are_left_alone(name):
    w = dg.empty(0, 5)
    assert INITIALIZERS[name](w) is w and w.shape == (0, 5)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                  "kaiming_normal_", "lecun_normal_"])
def test_fan_based_initializers_need_two_dimensions(name):
    message = (f"{name}: needs a tensor with at least 2 dimensions to compute fan in and fan "
               "out; got shape (5)")
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(init, name)(dg.empty(5))
    with pytest.raises(ValueError, match=re.escape(f"{name}: needs a tensor with at least 2 "
                                                   "dimensions") + r".*got shape \(\)"):
        getattr(init, name)(dg.empty(()))


def test_calculate_fan_in_and_fan_out_error_names_itself():
    with pytest.raises(ValueError, match=r"^calculate_fan_in_and_fan_out: needs a tensor with "
                                         r"at least 2 dimensions .* got shape \(3\)$"):
        init.calculate_fan_in_and_fan_out(dg.empty(3))


def test_orthogonal_needs_two_dimensions():
    with pytest.raises(ValueError, match=re.escape(
            "orthogonal_: needs a tensor with at least 2 dimensions; got shape (7)")):
        init.orthogonal_(dg.empty(7))


def test_unknown_nonlinearity_lists_the_accepted_names():
    accepted = ", ".join(repr(n) for n in NONLINEARITIES)
    with pytest.raises(ValueError, match=re.escape(
            f"calculate_gain: unknown nonlinearity 'softmax'; expected one of {accepted}")):
        init.calculate_gain("softmax")
    with pytest.raises(ValueError, match=r"^kaiming_uniform_: unknown nonlinearity 'gelu'; "
                                         r"expected one of 'linear', "):
        init.kaiming_uniform_(dg.empty(3, 4), nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"^kaiming_normal_: unknown nonlinearity 'Relu'"):
        init.kaiming_normal_(dg.empty(3, 4), nonlinearity="Relu")


@pytest.mark.parametrize("slope", ["0.1", True, [0.1]])
def test_leaky_relu_slope_must_be_a_number(slope):
    with pytest.raises(ValueError, match=re.escape(
            f"calculate_gain: the negative slope of leaky_relu must be a number; got {slope!r}")):
        init.calculate_gain("leaky_relu", slope)


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_unknown_mode_names_the_accepted_modes(name):
    w = dg.zeros(3, 4)
    with pytest.raises(ValueError, match=re.escape(
            f"{name}: unknown mode 'fan_avg'; expected 'fan_in' or 'fan_out'")):
        getattr(init, name)(w, mode="fan_avg")
    assert (w.numpy() == 0).all()  # checked before anything is written


@pytest.mark.parametrize("call, message", [
    (lambda t: init.uniform_(t, 1.0, 0.0), "uniform_: needs a <= b; got a=1.0, b=0.0"),
    (lambda t: init.normal_(t, 0.0, -1.0), "normal_: needs std >= 0; got std=-1.0"),
    (lambda t: init.normal_(t, 0.0, math.nan), "normal_: needs std >= 0; got std=nan"),
    (lambda t: init.trunc_normal_(t, std=0.0), "trunc_normal_: needs std > 0; got std=0.0"),
    (lambda t: init.trunc_normal_(t, a=1.0, b=1.0), "trunc_normal_: needs a < b; got a=1.0, b=1.0"),
])
def test_bad_distribution_parameters(call, message):
    w = dg.zeros(3, 4)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(w)
    assert (w.numpy() == 0).all()


@pytest.mark.parametrize("name", RANDOM)
def test_random_initializers_need_a_float_tensor(name):
    with pytest.raises(TypeError, match=re.escape(
            f"{name}: needs a floating point tensor; got dtype int64")):
        INITIALIZERS[name](dg.zeros(3, 4, dtype=dg.int64))


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_initializers_need_a_tensor_or_an_array(name):
    with pytest.raises(TypeError, match=re.escape(f"{name}: tensor must be a Tensor; got list")):
        INITIALIZERS[name]([[0.0] * 4] * 3)
