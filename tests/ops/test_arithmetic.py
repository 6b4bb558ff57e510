"""Arithmetic: + - * / ** @ and negation: gradcheck, parity with PyTorch, dtypes and errors."""

import re

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


def _operands(op, shape_a, shape_b, rng, dtype=np.float64):
    """Inputs in the op's comfortable domain: a positive base for pow, denominators away from 0."""
    a = rng.standard_normal(shape_a)
    b = rng.standard_normal(shape_b)
    if op == "pow":
        a = rng.uniform(0.5, 2.0, shape_a)
        b = rng.uniform(-2.0, 2.0, shape_b)
    if op == "div":
        b = rng.choice([-1.0, 1.0], shape_b) * rng.uniform(0.5, 2.0, shape_b)
    return np.asarray(a, dtype), np.asarray(b, dtype)


def _leaf(array):
    return dg.tensor(np.asarray(array, np.float64), requires_grad=True)


def _noncontiguous_leaf(shape, rng, low=None):
    """A float64 leaf of ``shape`` whose array is a transposed (non-contiguous) view."""
    base = rng.standard_normal(shape[::-1]) if low is None else rng.uniform(low, 2.0, shape[::-1])
    leaf = dg.from_numpy(base.T).requires_grad_()
    assert not leaf.numpy().flags.c_contiguous
    return leaf


def _random_broadcast_shapes(rng):
    """Two shapes that broadcast: the second drops leading dims and has some dims set to 1."""
    shape = tuple(int(s) for s in rng.integers(1, 5, rng.integers(1, 4)))
    other = [1 if rng.random() < 0.3 else s for s in shape[rng.integers(0, len(shape) + 1):]]
    pair = (shape, tuple(other))
    return pair if rng.random() < 0.5 else pair[::-1]


# ---------------------------------------------------------------- gradcheck

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1, 4), (2, 4)),
    ((2, 4), (3, 1, 4)),
    ((2, 1), (1, 3)),
    ((4,), ()),
    ((), (3,)),
    ((2, 3), (1,)),
]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize(("shape_a", "shape_b"), BROADCAST_SHAPES)
def test_binary_gradcheck_with_broadcasting(op, shape_a, shape_b):
    a, b = _operands(op, shape_a, shape_b, np.random.default_rng(0))
    assert dg.gradcheck(BINARY[op], (_leaf(a), _leaf(b)))


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("which", [(True, False), (False, True)], ids=["a-only", "b-only"])
def test_binary_gradcheck_with_one_input_requiring_grad(op, which):
    a, b = _operands(op, (2, 3), (3,), np.random.default_rng(1))
    ta = dg.tensor(a, requires_grad=which[0])
    tb = dg.tensor(b, requires_grad=which[1])
    assert dg.gradcheck(BINARY[op], (ta, tb))


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("layout", ["both", "first", "broadcast"])
def test_binary_gradcheck_with_non_contiguous_leaves(op, layout):
    rng = np.random.default_rng(2)
    low = 0.5 if op in ("pow", "div") else None
    a = _noncontiguous_leaf((3, 4), rng, low=0.5 if op == "pow" else None)
    if layout == "both":
        b = _noncontiguous_leaf((3, 4), rng, low=low)
    elif layout == "first":
        b = _leaf(_operands(op, (3, 4), (3, 4), rng)[1])
    else:
        b = _noncontiguous_leaf((2, 3, 4), rng, low=low)
    assert dg.gradcheck(BINARY[op], (a, b))


SCALAR_FORMS = {
    "t+2.5": lambda t: t + 2.5,
    "2.5+t": lambda t: 2.5 + t,
    "t-3": lambda t: t - 3,
    "3-t": lambda t: 3 - t,
    "t*2.5": lambda t: t * 2.5,
    "-1.5*t": lambda t: -1.5 * t,
    "t/1.5": lambda t: t / 1.5,
    "1.5/t": lambda t: 1.5 / t,
    "t**2": lambda t: t**2,
    "t**3": lambda t: t**3,
    "t**0.5": lambda t: t**0.5,
    "t**-1.5": lambda t: t**-1.5,
    "2**t": lambda t: 2**t,
    "2.5**t": lambda t: 2.5**t,
    "-t": lambda t: -t,
    "t*t": lambda t: t * t,
    "t/t**2": lambda t: t / t**2,
}


def _positive_input(shape, rng, dtype=np.float64):
    # Positive and away from 0 so that every scalar form (t**0.5, 1.5/t) is smooth.
    return rng.uniform(0.5, 2.0, shape).astype(dtype)


@pytest.mark.parametrize("name", list(SCALAR_FORMS))
def test_scalar_operand_gradcheck(name):
    x = _leaf(_positive_input((2, 3), np.random.default_rng(3)))
    assert dg.gradcheck(SCALAR_FORMS[name], [x])


@pytest.mark.parametrize("exponent", [2, 3, -1])
def test_integer_power_of_negative_base_gradcheck(exponent):
    x = _leaf(-_positive_input((5,), np.random.default_rng(4)))
    assert dg.gradcheck(lambda t: t**exponent, [x])


def test_negation_gradcheck():
    rng = np.random.default_rng(5)
    assert dg.gradcheck(lambda t: -t, [_leaf(rng.standard_normal((2, 3)))])
    assert dg.gradcheck(dg.neg, [_noncontiguous_leaf((2, 3), rng)])


MATMUL_SHAPES = [
    pytest.param((3,), (3,), id="1d@1d"),
    pytest.param((3,), (3, 2), id="1d@2d"),
    pytest.param((2, 3), (3,), id="2d@1d"),
    pytest.param((2, 3), (3, 4), id="2d@2d"),
    pytest.param((2, 2, 3), (2, 3, 4), id="3d@3d"),
    pytest.param((2, 2, 3), (3, 4), id="3d@2d"),
    pytest.param((2, 3), (2, 3, 4), id="2d@3d"),
    pytest.param((3,), (2, 3, 4), id="1d@3d"),
    pytest.param((2, 2, 3), (3,), id="3d@1d"),
    pytest.param((2, 1, 3, 4), (5, 4, 2), id="broadcast-batch"),
    pytest.param((1, 2, 3), (4, 3, 2), id="batch-1-stretched"),
]


@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES)
def test_matmul_gradcheck(shape_a, shape_b):
    rng = np.random.default_rng(6)
    a, b = _leaf(rng.standard_normal(shape_a)), _leaf(rng.standard_normal(shape_b))
    assert dg.gradcheck(lambda a, b: a @ b, (a, b))


@pytest.mark.parametrize("which", [(True, False), (False, True)], ids=["a-only", "b-only"])
@pytest.mark.parametrize(("shape_a", "shape_b"), [((2, 3), (3, 4)), ((2, 3), (2, 3, 4)),
                                                  ((2, 2, 3), (3,))])
def test_matmul_gradcheck_with_one_input_requiring_grad(shape_a, shape_b, which):
    rng = np.random.default_rng(7)
    a = dg.tensor(rng.standard_normal(shape_a), requires_grad=which[0])
    b = dg.tensor(rng.standard_normal(shape_b), requires_grad=which[1])
    assert dg.gradcheck(dg.matmul, (a, b))


def test_matmul_gradcheck_with_non_contiguous_leaves():
    rng = np.random.default_rng(8)
    a, b = _noncontiguous_leaf((2, 3), rng), _noncontiguous_leaf((3, 4), rng)
    assert dg.gradcheck(lambda a, b: a @ b, (a, b))
    batched = dg.from_numpy(rng.standard_normal((3, 2, 4)).transpose(1, 0, 2)).requires_grad_()
    assert dg.gradcheck(lambda a, b: a @ b, (batched, b.T))


# ---------------------------------------------------------------- parity with PyTorch

DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_parity(torch, op, seed, dtype):
    rng = np.random.default_rng(seed)
    shape_a, shape_b = _random_broadcast_shapes(rng)
    a, b = _operands(op, shape_a, shape_b, rng, dtype)
    check_parity(torch, BINARY[op], BINARY[op], [a, b])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_parity_with_one_input_requiring_grad(torch, op, dtype):
    a, b = _operands(op, (3, 1, 4), (2, 4), np.random.default_rng(9), dtype)
    check_parity(torch, BINARY[op], BINARY[op], [a, b], requires_grad=[False, True])
    check_parity(torch, BINARY[op], BINARY[op], [a, b], requires_grad=[True, False])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(SCALAR_FORMS))
def test_scalar_operand_parity(torch, name, dtype):
    x = _positive_input((3, 4), np.random.default_rng(10), dtype)
    check_parity(torch, SCALAR_FORMS[name], SCALAR_FORMS[name], [x])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("transpose", ["a", "b", "both"])
def test_non_contiguous_parity(torch, transpose, dtype):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)

    def fn(a, b):
        a = a.T if transpose in ("a", "both") else a.reshape(3, 4)
        b = b.T if transpose in ("b", "both") else b.reshape(4, 5)
        return (a @ b) * 2.0 + (a * a).sum(1, keepdim=True) / (b * b + 1.0).sum(0)

    check_parity(torch, fn, fn, [a, b])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES)
def test_matmul_parity(torch, shape_a, shape_b, dtype):
    rng = np.random.default_rng(12)
    a = rng.standard_normal(shape_a).astype(dtype)
    b = rng.standard_normal(shape_b).astype(dtype)
    check_parity(torch, lambda a, b: a @ b, lambda a, b: a @ b, [a, b])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("seed", range(4))
def test_matmul_parity_random_batches(torch, seed, dtype):
    rng = np.random.default_rng(seed)
    n, k, m = (int(s) for s in rng.integers(1, 6, 3))
    batch = tuple(int(s) for s in rng.integers(1, 4, rng.integers(0, 3)))
    other = tuple(1 if rng.random() < 0.5 else s for s in batch[rng.integers(0, len(batch) + 1):])
    a = rng.standard_normal((*batch, n, k)).astype(dtype)
    b = rng.standard_normal((*other, k, m)).astype(dtype)
    check_parity(torch, lambda a, b: a @ b, lambda a, b: a @ b, [a, b])
    check_parity(torch, lambda a, b: a @ b, lambda a, b: a @ b, [a, b], requires_grad=[False, True])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_negation_parity(torch, dtype):
    x = np.random.default_rng(13).standard_normal((3, 4)).astype(dtype)
    check_parity(torch, lambda t: -t, lambda t: -t, [x])


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
def test_pow_exponent_gradient_at_zero_base_parity(torch):
    base = np.array([0.0, 0.5, 2.0])
    exponent = np.array([2.0, 1.5, 0.5])
    check_parity(torch, lambda a, b: a**b, lambda a, b: a**b, [base, exponent],
                 requires_grad=[False, True])


# ---------------------------------------------------------------- functions and methods


def test_functions_and_methods_match_operators():
    rng = np.random.default_rng(14)
    a = dg.tensor(rng.uniform(0.5, 2.0, (2, 3)))
    b = dg.tensor(rng.uniform(0.5, 2.0, (3,)))
    w = dg.tensor(rng.standard_normal((3, 4)))
    pairs = [
        (dg.add(a, b), a + b), (a.add(b), a + b),
        (dg.sub(a, b), a - b), (a.sub(b), a - b),
        (dg.mul(a, b), a * b), (a.mul(b), a * b),
        (dg.div(a, b), a / b), (a.div(b), a / b),
        (dg.pow(a, b), a**b), (a.pow(2.0), a**2.0),
        (dg.matmul(a, w), a @ w), (a.matmul(w), a @ w),
        (dg.neg(a), -a), (a.neg(), -a), (+a, a),
    ]
    for got, expected in pairs:
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_numpy_arrays_and_lists_as_operands():
    t = dg.tensor([1.0, 2.0])
    np.testing.assert_array_equal((t + np.array([1.0, 1.0], np.float32)).numpy(), [2.0, 3.0])
    np.testing.assert_array_equal((t * [2.0, 3.0]).numpy(), [2.0, 6.0])
    np.testing.assert_array_equal((np.array([[1.0, 0.0], [0.0, 2.0]], np.float32) @ t).numpy(),
                                  [1.0, 4.0])


def test_float32_matmul_stays_float32():
    a, b = dg.randn(2, 3), dg.randn(3, 4)
    assert (a @ b).dtype == dg.float32
    assert (a.double() @ b.double()).dtype == dg.float64


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
def test_float_with_integer_tensor_keeps_the_float_dtype(op, dtype):
    floats = dg.tensor([1.0, 2.0], dtype=dtype)
    ints = dg.tensor([1, 2])
    assert BINARY[op](floats, ints).dtype == dtype
    assert BINARY[op](ints, floats).dtype == dtype
    np.testing.assert_array_equal(BINARY[op](ints, floats).numpy(), BINARY[op](
        np.array([1, 2]), np.array([1.0, 2.0])))


# ---------------------------------------------------------------- errors


def test_shape_error_is_a_value_error():
    assert issubclass(dg.ShapeError, ValueError)


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("op", list(BINARY))
def test_broadcast_mismatch_names_op_and_shapes(op, requires_grad):
    a = dg.ones(3, 1, 4, requires_grad=requires_grad)
    b = dg.ones(2, 3)
    expected = (f"{op}: shapes (3, 1, 4) and (2, 3) do not broadcast together (each dimension, "
                "counted from the last, must be equal or 1)")
    with pytest.raises(dg.ShapeError, match=re.escape(expected)):
        BINARY[op](a, b)
    with pytest.raises(dg.ShapeError, match=re.escape(f"{op}: shapes (2, 3) and (3, 1, 4)")):
        BINARY[op](b, a)


@pytest.mark.parametrize(("shape_a", "shape_b", "message"), [
    ((2, 3), (4, 5), "matmul: cannot multiply shapes (2, 3) and (4, 5): the last dimension of "
                     "the first (3) must equal the second-to-last dimension of the second (4)"),
    ((2, 3), (4,), "matmul: cannot multiply shapes (2, 3) and (4): the last dimension of the "
                   "first (3) must equal the first dimension of the second (4)"),
    ((3,), (4,), "matmul: cannot multiply shapes (3) and (4)"),
    ((5, 2, 3), (4, 2), "matmul: cannot multiply shapes (5, 2, 3) and (4, 2)"),
    ((2, 3, 4), (5, 4, 2), "matmul: cannot multiply shapes (2, 3, 4) and (5, 4, 2): the batch "
                           "dimensions (2) and (5) do not broadcast together"),
    ((), (3,), "matmul: both operands need at least one dimension; got shapes () and (3)"),
    ((3,), (), "matmul: both operands need at least one dimension; got shapes (3) and ()"),
])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_matmul_shape_errors(shape_a, shape_b, message, requires_grad):
    a = dg.ones(*shape_a, requires_grad=requires_grad)
    with pytest.raises(dg.ShapeError, match=re.escape(message)):
        a @ dg.ones(*shape_b)


def test_matmul_with_a_python_number_raises_shape_error():
    with pytest.raises(dg.ShapeError, match="matmul: both operands need at least one dimension"):
        dg.ones(3) @ 2.0
