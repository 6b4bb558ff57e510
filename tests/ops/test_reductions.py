"""Tests of deepgrad.ops.reductions: gradients, PyTorch parity, numerical stability, errors."""

import warnings

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops.reductions import MaxMin

SHAPE = (3, 4, 5)
DIMS = [None, 0, -1, (0, 2)]
INT_DIMS = [None, 0, -1]


def _reduction(name):
    def call(m, x, dim, keepdim):
        fn = getattr(m, name)
        if m is dg or dim is not None:
            return fn(x, dim, keepdim=keepdim)
        # PyTorch spells "every dim" by leaving dim out, or by listing every dim to keep them.
        return fn(x, tuple(range(x.ndim)), keepdim=True) if keepdim else fn(x)

    return call


# Each entry calls the function of the same name on deepgrad or torch (the module ``m``).
REDUCTIONS = {name: _reduction(name)
              for name in ["sum", "mean", "amax", "amin", "var", "std", "logsumexp"]}
# Ops taking one int dim (max/min also None); their call returns every output, indices included.
SINGLE_DIM = {
    "max": lambda m, x, dim, keepdim: m.max(x) if dim is None else m.max(x, dim, keepdim),
    "min": lambda m, x, dim, keepdim: m.min(x) if dim is None else m.min(x, dim, keepdim),
    "argmax": lambda m, x, dim, keepdim: m.argmax(x, dim, keepdim),
    "argmin": lambda m, x, dim, keepdim: m.argmin(x, dim, keepdim),
    "softmax": lambda m, x, dim, keepdim: m.softmax(x, dim),
    "log_softmax": lambda m, x, dim, keepdim: m.log_softmax(x, dim),
}
DIFFERENTIABLE_SINGLE = ["max", "min", "softmax", "log_softmax"]
ALL_OPS = {**REDUCTIONS, **SINGLE_DIM}


def _reduction_cases():
    for name in REDUCTIONS:
        for dim in DIMS:
            if not (name == "logsumexp" and dim is None):
                yield name, dim
    yield "logsumexp", (0, 1, 2)


def _leaf(shape=SHAPE, seed=0):
    return dg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _noncontiguous_leaf(shape=SHAPE, seed=0):
    """A float64 leaf whose array is a transposed (non-contiguous) view."""
    array = np.random.default_rng(seed).standard_normal(shape[::-1]).T
    assert not array.flags.c_contiguous
    return dg.from_numpy(array).requires_grad_()


def _torch_fn(torch, name, dim, keepdim):
    return lambda x: ALL_OPS[name](torch, x, dim, keepdim)


def _dg_fn(name, dim, keepdim):
    return lambda x: ALL_OPS[name](dg, x, dim, keepdim)


# --------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize(("name", "dim"), list(_reduction_cases()))
def test_gradcheck_reductions(name, dim, keepdim):
    assert dg.gradcheck(_dg_fn(name, dim, keepdim), [_leaf()])


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", INT_DIMS)
@pytest.mark.parametrize("name", ["max", "min"])
def test_gradcheck_max_min(name, dim, keepdim):
    assert dg.gradcheck(_dg_fn(name, dim, keepdim), [_leaf()])


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_gradcheck_softmax(name, dim):
    assert dg.gradcheck(_dg_fn(name, dim, False), [_leaf()])


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("name", ["var", "std"])
def test_gradcheck_var_std_correction(name, dim, keepdim, correction):
    fn = getattr(dg, name)
    assert dg.gradcheck(lambda x: fn(x, dim, keepdim=keepdim, correction=correction), [_leaf()])


@pytest.mark.parametrize("name", list(REDUCTIONS) + DIFFERENTIABLE_SINGLE)
@pytest.mark.parametrize("dim", [0, -1, (0, 2)])
def test_gradcheck_noncontiguous(name, dim):
    if name in SINGLE_DIM and not isinstance(dim, int):
        dim = 1
    assert dg.gradcheck(_dg_fn(name, dim, False), [_noncontiguous_leaf()])


@pytest.mark.parametrize("name", ["mean", "amax", "logsumexp", "std"])
def test_gradcheck_keepdim_output_broadcast_back(name):
    # The keepdim result is broadcast against x, so its gradient is a sum over the reduced dim.
    fn = REDUCTIONS[name]
    assert dg.gradcheck(lambda x: x - fn(dg, x, (0, 2), True), [_leaf()])


# --------------------------------------------------------------------------- ties


TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 5.0], [-1.0, 0.0, -1.0, 5.0]])


def _grad_of(fn, array=TIES, dtype=np.float64):
    x = dg.tensor(array.astype(dtype), requires_grad=True)
    fn(x).sum().backward()
    return x.grad.numpy()


def test_amax_ties_share_the_gradient():
    expected = [[0, 0.5, 0.5, 0], [0, 0, 0, 1], [0, 0, 0, 1]]
    np.testing.assert_array_equal(_grad_of(lambda x: dg.amax(x, 1)), expected)
    expected_all = np.zeros((3, 4))
    expected_all[1:, 3] = 0.5
    np.testing.assert_array_equal(_grad_of(lambda x: dg.amax(x)), expected_all)
    np.testing.assert_array_equal(_grad_of(lambda x: x.max()), expected_all)


def test_amin_ties_share_the_gradient():
    expected = [[0, 0, 0, 1], [1 / 3, 1 / 3, 1 / 3, 0], [0.5, 0, 0.5, 0]]
    np.testing.assert_array_equal(_grad_of(lambda x: dg.amin(x, -1), dtype=np.float32),
                                  np.array(expected, dtype=np.float32))
    expected_cols = [[0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]]
    np.testing.assert_array_equal(_grad_of(lambda x: x.amin(0, keepdim=True)), expected_cols)


def test_max_min_with_dim_send_the_gradient_to_the_first_index():
    values, indices = dg.max(dg.tensor(TIES), 1)
    np.testing.assert_array_equal(indices.numpy(), [1, 3, 3])
    np.testing.assert_array_equal(values.numpy(), [3, 5, 5])
    expected = [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]
    np.testing.assert_array_equal(_grad_of(lambda x: x.max(1).values), expected)
    expected_min = [[0, 0, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0]]
    np.testing.assert_array_equal(_grad_of(lambda x: x.min(-1, keepdim=True)[0]), expected_min)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_ties_match_torch(torch, name, dim, dtype):
    check_parity(torch, _dg_fn(name, dim, False), _torch_fn(torch, name, dim, False),
                 [TIES.astype(dtype)])


# --------------------------------------------------------------------------- parity


def _random_case(seed, single_dim):
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(1, 5))
    shape = tuple(int(s) for s in rng.integers(1, 6, ndim))
    kind = rng.integers(3)
    if single_dim or kind == 0:
        dim = int(rng.integers(-ndim, ndim))
    elif kind == 1:
        dim = tuple(int(d) for d in rng.choice(ndim, int(rng.integers(1, ndim + 1)), False))
    else:
        dim = None
    return rng.standard_normal(shape), dim, bool(rng.integers(2))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ALL_OPS))
def test_parity_random(torch, name, dtype, seed):
    array, dim, keepdim = _random_case(seed, single_dim=name in SINGLE_DIM)
    if name == "logsumexp" and dim is None:
        dim = tuple(range(array.ndim))
    if name in ("max", "min") and seed == 0:
        dim = None
    check_parity(torch, _dg_fn(name, dim, keepdim), _torch_fn(torch, name, dim, keepdim),
                 [array.astype(dtype)], seed=seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("correction", [0, 1, 2.5])
@pytest.mark.parametrize("name", ["var", "std"])
def test_parity_var_std_correction(torch, name, correction, dtype):
    array = np.random.default_rng(1).standard_normal((4, 3, 5)).astype(dtype)
    check_parity(torch, lambda x: getattr(dg, name)(x, (0, 2), correction=correction),
                 lambda x: getattr(torch, name)(x, (0, 2), correction=correction), [array])


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_unbiased_alias(torch, name):
    x = np.random.default_rng(2).standard_normal((3, 4))
    fn = getattr(dg, name)
    for unbiased in (True, False):
        assert_close(fn(dg.tensor(x), 1, unbiased=unbiased),
                     getattr(torch, name)(torch.tensor(x), 1, unbiased=unbiased))
        # PyTorch's var(x, unbiased) overload: a bool in the place of dim.
        assert_close(fn(dg.tensor(x), unbiased), getattr(torch, name)(torch.tensor(x), unbiased))
    assert_close(fn(dg.tensor(x), unbiased=False), fn(dg.tensor(x), correction=0))


def test_std_of_constant_rows_has_zero_gradient_like_torch(torch):
    array = np.array([[1.0, 1.0, 1.0], [2.0, 3.0, 7.0]])
    check_parity(torch, lambda x: dg.std(x, 1), lambda x: torch.std(x, 1), [array])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad = _grad_of(lambda x: x.std(1), array)
    np.testing.assert_array_equal(grad[0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_zero_dim_tensor_matches_torch(torch, name):
    dim = 0 if name in SINGLE_DIM or name == "logsumexp" else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*degrees of freedom")  # torch's, for var and std
        warnings.filterwarnings("ignore", "divide by zero|invalid value", RuntimeWarning)
        check_parity(torch, _dg_fn(name, dim, False), _torch_fn(torch, name, dim, False),
                     [np.array(1.5)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "var"])
def test_none_and_empty_dims_reduce_every_dim(torch, name, dtype):
    array = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(dtype)
    every_dim = (0, 1, 2)
    for dim, keepdim in [(None, True), ((), False), ([], True)]:
        check_parity(torch, lambda x, d=dim, k=keepdim: getattr(dg, name)(x, d, keepdim=k),
                     lambda x, k=keepdim: getattr(torch, name)(x, every_dim, keepdim=k), [array])


def test_argmax_argmin_flattened_index_of_noncontiguous_input(torch):
    array = np.random.default_rng(4).standard_normal((5, 3)).T
    x = dg.from_numpy(array)
    for name in ("argmax", "argmin"):
        for keepdim in (False, True):
            result = getattr(dg, name)(x, keepdim=keepdim)
            expected = getattr(torch, name)(torch.tensor(array), keepdim=keepdim)
            assert result.dtype == dg.int64
            np.testing.assert_array_equal(result.numpy(), expected.numpy())


# --------------------------------------------------------------------------- stability

EXTREMES = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1])
def test_extreme_values_are_finite_and_match_torch(torch, name, dim, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ALL_OPS[name](dg, dg.tensor(EXTREMES.astype(dtype)), dim, False)
    assert np.all(np.isfinite(out.numpy()))
    torch_fn = _torch_fn(torch, name, dim, False)
    # PyTorch's float32 logsumexp gradient, exp(x - y), loses ~1e-4 to the rounding of y near
    # 1e4; deepgrad's e / sum is exact. The reference runs in float64, rounded to float32.
    check_parity(torch, _dg_fn(name, dim, False), lambda x: torch_fn(x.double()).to(x.dtype),
                 [EXTREMES.astype(dtype)])


def test_logsumexp_of_all_minus_inf_is_minus_inf_like_torch(torch):
    array = np.array([[-np.inf, -np.inf], [0.0, -np.inf], [np.inf, 1.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dg.logsumexp(dg.tensor(array), 1)
    np.testing.assert_array_equal(out.numpy(), [-np.inf, 0.0, np.inf])
    np.testing.assert_array_equal(out.numpy(), torch.logsumexp(torch.tensor(array), 1).numpy())


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_masked_minus_inf_entries_match_torch(torch, name):
    array = np.array([[0.5, -np.inf, 2.0], [-np.inf, -np.inf, 1.0]])
    g = np.random.default_rng(5).standard_normal(array.shape)
    x, tx = dg.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = getattr(dg, name)(x, 1)
        y.backward(dg.tensor(g))
    ty = getattr(torch, name)(tx, 1)
    ty.backward(torch.tensor(g))
    # assert_allclose, not check_parity: its tolerance scales with max|expected|, here inf.
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_empty_softmax_and_logsumexp_like_torch(torch):
    x = dg.zeros(2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dg.softmax(x, 1).shape == torch.softmax(torch.zeros(2, 0), 1).shape == (2, 0)
        assert dg.log_softmax(x, 1).shape == (2, 0)
        np.testing.assert_array_equal(dg.logsumexp(x, 1).numpy(),
                                      torch.logsumexp(torch.zeros(2, 0), 1).numpy())


# --------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_float32_stays_float32(name):
    dim = 1
    x = dg.randn(3, 4, requires_grad=True)
    outputs = ALL_OPS[name](dg, x, dim, False)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert outputs[0].dtype == (dg.int64 if name.startswith("arg") else dg.float32)
    if outputs[0].requires_grad:
        outputs[0].sum().backward()
        assert x.grad.dtype == dg.float32


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean_backward_broadcast_without_copy(name):
    # The gradient reaching the leaf is a broadcast view of gy (stride 0), not a new array.
    x = dg.randn(3, 4, 5, requires_grad=True)
    seen = []
    x.register_hook(seen.append)
    getattr(dg, name)(x, (0, 2)).sum().backward()
    assert seen[0].numpy().strides[0] == seen[0].numpy().strides[2] == 0


def test_max_with_dim_returns_values_and_int64_indices_without_grad():
    x = dg.randn(3, 4, requires_grad=True)
    result = x.max(1, keepdim=True)
    assert isinstance(result, MaxMin)
    assert result.values.shape == result.indices.shape == (3, 1)
    assert result.values.requires_grad
    assert result.indices.dtype == dg.int64
    assert not result.indices.requires_grad


def test_integer_sums_are_int64_and_logsumexp_of_integers_is_float32(torch):
    pixels = np.array([[200, 100], [255, 1]], dtype=np.uint8)
    total = dg.from_numpy(pixels).sum()
    assert total.dtype == dg.int64
    assert total.item() == 556
    assert dg.tensor([True, False, True]).sum().item() == 2
    counts = dg.tensor([[1, 2], [3, 4]])
    out = dg.logsumexp(counts, 1)
    assert out.dtype == dg.float32
    assert_close(out, torch.logsumexp(torch.tensor([[1, 2], [3, 4]]), 1), np.float32)


def test_methods_match_functions():
    x = dg.randn(3, 4)
    for name in dg.ops.reductions.__all__:
        assert getattr(dg, name) is getattr(dg.Tensor, name)
    np.testing.assert_array_equal(x.sum([0, 1]).numpy(), dg.sum(x, (1, 0)).numpy())
    np.testing.assert_array_equal(x.log_softmax(-1).numpy(), dg.log_softmax(x, 1).numpy())


def test_no_graph_without_requires_grad_or_under_no_grad():
    assert not dg.randn(3, 4).softmax(1).requires_grad
    x = dg.randn(3, 4, requires_grad=True)
    with dg.no_grad():
        assert not x.log_softmax(1).requires_grad
        assert not x.max(1).values.requires_grad


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_dim_out_of_range_names_the_op(name):
    with pytest.raises(IndexError, match=rf"^{name}: dimension 3 is out of range for a tensor "
                                         r"with 2 dimensions \(expected -2 to 1\)"):
        ALL_OPS[name](dg, dg.randn(3, 4), 3, False)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_out_of_range_or_repeated_dim_in_a_tuple(name):
    with pytest.raises(IndexError, match=rf"^{name}: dimension -4 is out of range"):
        REDUCTIONS[name](dg, dg.randn(3, 4, 5), (0, -4), False)
    with pytest.raises(ValueError, match=rf"^{name}: dimension \[1, -1\] lists a dimension "
                                         r"twice"):
        REDUCTIONS[name](dg, dg.randn(3, 4), [1, -1], False)


@pytest.mark.parametrize("name", ["sum", "amax", "var"])
def test_bad_dim_type(name):
    with pytest.raises(TypeError, match=rf"^{name}: dim must be an int, a tuple of ints or "
                                        r"None; got 1.5"):
        getattr(dg, name)(dg.randn(3), 1.5)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "argmax"])
def test_single_dim_ops_need_an_int(name):
    with pytest.raises(TypeError, match=rf"^{name}: dim must be an int; got \(0, 1\)"):
        getattr(dg, name)(dg.randn(3, 4), (0, 1))


def test_max_min_dim_errors():
    x = dg.randn(3, 4)
    y = dg.randn(3, 4)
    np.testing.assert_array_equal(dg.max(x, y).numpy(), dg.maximum(x, y).numpy())  # torch's form
    with pytest.raises(TypeError, match=r"^min: dim must be an int \(use amin to reduce "
                                        r"several dims\); got \(0, 1\)"):
        x.min((0, 1))


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_extremum_of_nothing_is_an_error(name):
    with pytest.raises(dg.ShapeError, match=rf"^{name}: cannot reduce dimension 1 of size 0 "
                                            rf"\(input shape \(2, 0\)\): there is no {name}"):
        ALL_OPS[name](dg, dg.zeros(2, 0), 1, False)
    with pytest.raises(dg.ShapeError, match=rf"^{name}: cannot reduce dimension 1 of size 0"):
        ALL_OPS[name](dg, dg.zeros(2, 0), None, False)


@pytest.mark.parametrize("name", ["mean", "var", "std", "softmax", "log_softmax"])
def test_integer_input_rejected_where_torch_rejects_it(name):
    with pytest.raises(TypeError, match=rf"^{name}: expects a floating point tensor; got dtype "
                                        r"int64 \(convert it with .float\(\)\)"):
        ALL_OPS[name](dg, dg.tensor([[1, 2], [3, 4]]), 1, False)


def test_other_argument_errors():
    with pytest.raises(TypeError, match=r"^logsumexp: dim is required"):
        dg.logsumexp(dg.randn(3), None)
    with pytest.raises(ValueError, match=r"^var: pass either unbiased or correction, not both"):
        dg.var(dg.randn(3), unbiased=True, correction=0)
    with pytest.raises(TypeError, match=r"^sum: input must be a Tensor; got ndarray"):
        dg.sum(np.ones(3))
    # PyTorch reads var(x, 0, True) as unbiased=True: keepdim is keyword-only, never misread.
    with pytest.raises(TypeError, match=r"positional"):
        dg.var(dg.randn(3, 4), 0, True)
