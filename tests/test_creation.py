"""Factories: constants, ranges, random numbers from one seedable generator, and bad sizes."""

import json

import numpy as np
import pytest

import deepgrad as dg

# ---------------------------------------------------------------- constant factories


@pytest.mark.parametrize(("factory", "value"), [(dg.zeros, 0.0), (dg.ones, 1.0)])
@pytest.mark.parametrize("size", [(2, 3), ((2, 3),), ([2, 3],)], ids=["varargs", "tuple", "list"])
def test_zeros_and_ones_accept_varargs_or_a_sequence(factory, value, size):
    t = factory(*size)
    assert t.shape == (2, 3)
    assert t.dtype == dg.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value))


@pytest.mark.parametrize("factory", [dg.zeros, dg.ones, dg.empty])
def test_factory_shapes_and_scalars(factory):
    assert factory().shape == ()
    assert factory(4).shape == (4,)
    assert factory(0, 3).shape == (0, 3)
    assert factory(np.int64(2), 3).shape == (2, 3)


@pytest.mark.parametrize("factory", [dg.zeros, dg.ones, dg.empty, dg.randn, dg.rand])
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
def test_float_factories_take_a_dtype(factory, dtype):
    t = factory(2, 3, dtype=dtype)
    assert t.dtype == dtype
    assert t.shape == (2, 3)


def test_constant_factories_take_integer_dtypes():
    assert dg.zeros(2, dtype=dg.int64).dtype == dg.int64
    assert dg.ones(2, dtype=dg.bool_).dtype == dg.bool_
    np.testing.assert_array_equal(dg.ones(3, dtype=dg.int32).numpy(), [1, 1, 1])


@pytest.mark.parametrize("factory", [dg.zeros, dg.ones, dg.empty, dg.randn, dg.rand])
def test_factories_make_leaves_that_require_grad(factory):
    t = factory(2, requires_grad=True)
    assert t.requires_grad
    assert t.is_leaf
    assert not factory(2).requires_grad


def test_full():
    t = dg.full((2, 3), 1.5)
    assert t.dtype == dg.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 3), 1.5))
    ints = dg.full(3, 7)
    assert ints.dtype == dg.int64
    np.testing.assert_array_equal(ints.numpy(), [7, 7, 7])
    assert dg.full([2], 1, dtype=dg.float64).dtype == dg.float64
    assert dg.full((2,), 0.5, requires_grad=True).requires_grad


def test_zeros_like_and_ones_like_keep_shape_and_dtype():
    src = dg.tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    z = dg.zeros_like(src)
    o = dg.ones_like(src)
    assert z.shape == o.shape == (2, 3)
    assert z.dtype == o.dtype == dg.float64
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(o.numpy(), np.ones((2, 3)))
    assert not np.shares_memory(z.numpy(), src.numpy())
    assert dg.zeros_like(src, dtype=dg.float32).dtype == dg.float32
    assert dg.ones_like(dg.tensor([1, 2])).dtype == dg.int64
    assert dg.ones_like(src, requires_grad=True).requires_grad


def test_eye():
    np.testing.assert_array_equal(dg.eye(3).numpy(), np.eye(3))
    assert dg.eye(3).dtype == dg.float32
    np.testing.assert_array_equal(dg.eye(2, 3).numpy(), np.eye(2, 3))
    assert dg.eye(2, dtype=dg.float64).dtype == dg.float64


# ---------------------------------------------------------------- ranges


@pytest.mark.parametrize(("args", "kwargs", "expected", "dtype"), [
    ((5,), {}, [0, 1, 2, 3, 4], dg.int64),
    ((2, 5), {}, [2, 3, 4], dg.int64),
    ((5, 0, -2), {}, [5, 3, 1], dg.int64),
    ((0, 1, 0.25), {}, [0.0, 0.25, 0.5, 0.75], dg.float32),
    ((3.0,), {}, [0.0, 1.0, 2.0], dg.float32),
    ((3,), {"dtype": dg.float64}, [0.0, 1.0, 2.0], dg.float64),
])
def test_arange(args, kwargs, expected, dtype):
    t = dg.arange(*args, **kwargs)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), expected)


def test_arange_with_zero_step_raises():
    with pytest.raises(ValueError, match="arange: step must not be zero"):
        dg.arange(0, 5, 0)


def test_linspace():
    t = dg.linspace(0, 1, 5)
    assert t.dtype == dg.float32
    np.testing.assert_array_equal(t.numpy(), np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32))
    assert dg.linspace(-1, 1, 3, dtype=dg.float64).dtype == dg.float64


# ---------------------------------------------------------------- random factories


def test_randn_and_rand_distributions():
    dg.manual_seed(0)
    normal = dg.randn(20_000).numpy()
    assert normal.dtype == np.float32
    assert abs(normal.mean()) < 0.03
    assert abs(normal.std() - 1.0) < 0.03
    uniform = dg.rand(20_000).numpy()
    assert uniform.min() >= 0.0
    assert uniform.max() < 1.0
    assert abs(uniform.mean() - 0.5) < 0.01


def test_randint():
    dg.manual_seed(0)
    t = dg.randint(3, 7, (1000,))
    assert t.dtype == dg.int64
    assert t.shape == (1000,)
    assert set(np.unique(t.numpy())) == {3, 4, 5, 6}
    from_zero = dg.randint(4, size=(2, 50))
    assert from_zero.shape == (2, 50)
    assert from_zero.numpy().min() >= 0
    assert from_zero.numpy().max() < 4
    assert dg.randint(0, 5, 3).shape == (3,)
    assert dg.randint(0, 5, (3,), dtype=dg.int32).dtype == dg.int32


def test_randint_with_an_empty_range_raises():
    with pytest.raises(ValueError, match=r"randint: high \(2\) must be greater than low \(5\)"):
        dg.randint(5, 2, (3,))


def test_randperm():
    t = dg.randperm(10)
    assert t.dtype == dg.int64
    np.testing.assert_array_equal(np.sort(t.numpy()), np.arange(10))


@pytest.mark.parametrize("dtype", [dg.int64, dg.bool_, np.float16])
@pytest.mark.parametrize("factory", [dg.randn, dg.rand])
def test_random_floats_need_float32_or_float64(factory, dtype):
    with pytest.raises(TypeError, match="random floats need dtype float32 or float64"):
        factory(2, dtype=dtype)


RANDOM_FACTORIES = {
    "randn": lambda: dg.randn(3, 4),
    "randn64": lambda: dg.randn(5, dtype=dg.float64),
    "rand": lambda: dg.rand(3, 4),
    "randint": lambda: dg.randint(0, 1000, (10,)),
    "randperm": lambda: dg.randperm(20),
}


@pytest.mark.parametrize("name", list(RANDOM_FACTORIES))
def test_manual_seed_makes_random_factories_reproducible(name):
    make = RANDOM_FACTORIES[name]
    dg.manual_seed(123)
    first, second = make().numpy(), make().numpy()
    dg.manual_seed(123)
    np.testing.assert_array_equal(make().numpy(), first)
    np.testing.assert_array_equal(make().numpy(), second)
    assert not np.array_equal(first, second)
    dg.manual_seed(124)
    assert not np.array_equal(make().numpy(), first)


def test_manual_seed_drives_the_shared_generator():
    dg.manual_seed(5)
    a = dg.generator().standard_normal(4)
    dg.manual_seed(5)
    assert isinstance(dg.generator(), np.random.Generator)
    np.testing.assert_array_equal(dg.generator().standard_normal(4), a)


def test_rng_state_round_trip():
    dg.manual_seed(7)
    dg.randn(3)
    state = dg.get_rng_state()
    expected = [dg.randn(4).numpy(), dg.rand(2).numpy(), dg.randint(0, 100, (5,)).numpy(),
                dg.randperm(6).numpy()]
    dg.randn(100)
    dg.set_rng_state(state)
    actual = [dg.randn(4).numpy(), dg.rand(2).numpy(), dg.randint(0, 100, (5,)).numpy(),
              dg.randperm(6).numpy()]
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)


def test_rng_state_is_plain_data():
    dg.manual_seed(3)
    state = json.loads(json.dumps(dg.get_rng_state()))
    expected = dg.randn(3).numpy()
    dg.manual_seed(99)
    dg.set_rng_state(state)
    np.testing.assert_array_equal(dg.randn(3).numpy(), expected)


# ---------------------------------------------------------------- bad sizes

SIZE_MESSAGE = "a size must be non-negative integers"


@pytest.mark.parametrize("make", [
    lambda: dg.zeros(-1),
    lambda: dg.ones(2, -3),
    lambda: dg.empty((2, -1)),
    lambda: dg.zeros(2.5),
    lambda: dg.ones("3"),
    lambda: dg.randn(-2),
    lambda: dg.rand(1.5),
    lambda: dg.full((2, -1), 0.0),
    lambda: dg.randint(0, 5, (2, -1)),
], ids=["zeros", "ones", "empty", "float", "string", "randn", "rand", "full-tuple", "randint"])
def test_bad_sizes_raise(make):
    with pytest.raises(ValueError, match=SIZE_MESSAGE):
        make()


@pytest.mark.parametrize("make", [
    lambda: dg.full(-1, 0.0),
    lambda: dg.randint(0, 5, -1),
    lambda: dg.eye(-1),
    lambda: dg.randperm(-1),
], ids=["full", "randint", "eye", "randperm"])
def test_negative_int_sizes_raise_a_deepgrad_message(make):
    with pytest.raises(ValueError, match=SIZE_MESSAGE):
        make()


def test_new_methods_take_the_tensors_dtype_as_torch(torch):
    x, tx = dg.zeros(2, dtype=dg.float64), torch.zeros(2, dtype=torch.float64)
    for make, expected in ((lambda t: t.new_zeros(2, 3), (2, 3)),
                           (lambda t: t.new_ones((4,)), (4,)),
                           (lambda t: t.new_full((2,), 7), (2,)),
                           (lambda t: t.new_tensor([1, 2]), (2,)),
                           (lambda t: t.new_empty(3), (3,))):
        ours, theirs = make(x), make(tx)
        assert ours.shape == tuple(theirs.shape) == expected
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert x.new_zeros(2, dtype=dg.int64).dtype == dg.int64
    assert x.new_ones(2, requires_grad=True).requires_grad


def test_where_method_is_torch_where_with_self_first():
    x = dg.tensor([1.0, -2.0, 3.0])
    assert x.where(x > 0, 0.0).tolist() == [1.0, 0.0, 3.0]


def test_bernoulli_and_multinomial_draw_from_the_generator():
    dg.manual_seed(0)
    p = dg.full((20000,), 0.3)
    draws = dg.bernoulli(p)
    assert draws.dtype == dg.float32 and set(np.unique(draws.numpy())) <= {0.0, 1.0}
    assert abs(draws.numpy().mean() - 0.3) < 0.02
    weights = dg.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    picks = dg.multinomial(weights, 2000, replacement=True)
    assert picks.shape == (2, 2000) and picks.dtype == dg.int64
    assert abs((picks.numpy()[0] == 2).mean() - 0.75) < 0.04 and (picks.numpy()[1] == 0).all()
    assert sorted(weights[0].multinomial(2).tolist()) == [1, 2]  # without replacement
    dg.manual_seed(1)
    first = dg.multinomial(dg.ones(10), 3).tolist()
    dg.manual_seed(1)
    assert dg.multinomial(dg.ones(10), 3).tolist() == first


def test_bernoulli_and_multinomial_errors():
    with pytest.raises(ValueError, match="bernoulli: probabilities must be in"):
        dg.bernoulli(dg.tensor([1.5]))
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from a row "
                                         "with 2 categories"):
        dg.multinomial(dg.tensor([1.0, 1.0, 0.0]), 3)
    with pytest.raises(ValueError, match="every row needs a positive total"):
        dg.multinomial(dg.zeros(3), 1, replacement=True)
    with pytest.raises(TypeError, match="multinomial: expects float probabilities"):
        dg.multinomial(dg.tensor([1, 2]), 1)


FACTORIES_WITH_DEVICE = {
    "tensor": lambda d: dg.tensor([1.0, 2.0], device=d),
    "zeros": lambda d: dg.zeros(2, 3, device=d),
    "ones": lambda d: dg.ones(2, device=d),
    "empty": lambda d: dg.empty(2, device=d),
    "full": lambda d: dg.full((2,), 1.5, device=d),
    "eye": lambda d: dg.eye(2, device=d),
    "arange": lambda d: dg.arange(4, device=d),
    "linspace": lambda d: dg.linspace(0, 1, 3, device=d),
    "randn": lambda d: dg.randn(2, device=d),
    "rand": lambda d: dg.rand(2, device=d),
    "randint": lambda d: dg.randint(0, 3, (2,), device=d),
    "randperm": lambda d: dg.randperm(3, device=d),
    "zeros_like": lambda d: dg.zeros_like(dg.ones(2), device=d),
    "ones_like": lambda d: dg.ones_like(dg.ones(2), device=d),
    "full_like": lambda d: dg.full_like(dg.ones(2), 3.0, device=d),
    "empty_like": lambda d: dg.empty_like(dg.ones(2), device=d),
    "randn_like": lambda d: dg.randn_like(dg.ones(2), device=d),
    "rand_like": lambda d: dg.rand_like(dg.ones(2), device=d),
    "randint_like": lambda d: dg.randint_like(dg.ones(2), 5, device=d),
    "new_zeros": lambda d: dg.ones(2).new_zeros(3, device=d),
    "new_ones": lambda d: dg.ones(2).new_ones(3, device=d),
    "new_empty": lambda d: dg.ones(2).new_empty(3, device=d),
    "new_full": lambda d: dg.ones(2).new_full((3,), 2.0, device=d),
    "new_tensor": lambda d: dg.ones(2).new_tensor([1.0], device=d),
}


@pytest.mark.parametrize("name", list(FACTORIES_WITH_DEVICE))
def test_factories_take_pytorchs_device_and_refuse_a_gpu(name):
    make = FACTORIES_WITH_DEVICE[name]
    for device in (None, "cpu", dg.device("cpu"), dg.device("cpu", 0), dg.ones(1).device):
        assert make(device).device == "cpu"
    with pytest.raises(ValueError, match=rf"{name}: device 'cuda:0' is not available"):
        make(dg.device("cuda", 0))


def test_like_factories_match_torch(torch):
    x, tx = dg.zeros(2, 3, dtype=dg.float64), torch.zeros(2, 3, dtype=torch.float64)
    for make in (lambda m, t: m.full_like(t, 7.0), lambda m, t: m.empty_like(t),
                 lambda m, t: m.randn_like(t), lambda m, t: m.rand_like(t),
                 lambda m, t: m.randint_like(t, 2, 5),
                 lambda m, t: m.full_like(t, 7, dtype=m.int64),
                 lambda m, t: m.rand_like(t, dtype=m.float32)):
        ours, theirs = make(dg, x), make(torch, tx)
        assert ours.shape == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    assert dg.full_like(x, 7.0).tolist() == [[7.0] * 3] * 2
    draws = dg.randint_like(dg.zeros(1000), 2, 5).numpy()
    assert set(np.unique(draws)) == {2.0, 3.0, 4.0}
    assert abs(dg.randn_like(dg.zeros(4000)).numpy().std() - 1) < 0.1
    assert dg.rand_like(x, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="float32 or float64"):
        dg.randn_like(dg.zeros(2, dtype=dg.int64))


def test_device_objects_as_torch(torch):
    for args in (("cpu",), ("cuda", 1), ("cuda:0",), ("mps",)):
        ours, theirs = dg.device(*args), torch.device(*args)
        assert (ours.type, ours.index, str(ours)) == (theirs.type, theirs.index, str(theirs))
        assert repr(ours) == repr(theirs)
    assert dg.ones(2).device.type == "cpu" and dg.ones(2).device == dg.device("cpu")
    assert dg.device(dg.device("cpu")) == "cpu"
    for bad in (("cuda:x",), ("cuda:0", 1), ("", ), ("cuda", -1)):
        with pytest.raises(ValueError, match="device: "):
            dg.device(*bad)


def test_cuda_queries_answer_for_the_cpu(torch):
    assert dg.cuda.is_available() is False and dg.cuda.device_count() == 0
    assert (dg.accelerator.is_available(), dg.accelerator.device_count(),
            dg.accelerator.current_accelerator()) == (False, 0, None)
    quickstart = (dg.accelerator.current_accelerator().type if dg.accelerator.is_available()
                  else "cpu")
    assert dg.zeros(1, device=quickstart).device == "cpu"
    dg.cuda.manual_seed(0)
    dg.cuda.manual_seed_all(0)
    device = dg.device("cuda" if dg.cuda.is_available() else "cpu")
    assert dg.zeros(2, device=device).to(device).device == "cpu"
    for module in (dg, torch):
        with pytest.raises(ValueError, match="invalid literal"):
            module.cuda.manual_seed("zero")
