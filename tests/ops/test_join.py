"""cat, stack, split, chunk and pad: gradcheck, parity with PyTorch, behaviour and errors."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.errors import ShapeError

MODES = ["constant", "reflect", "replicate", "circular"]


def leaf(shape, seed=0, contiguous=True, requires_grad=True):
    """A float64 leaf; ``contiguous=False`` gives a transposed (F-order) one."""
    rng = np.random.default_rng(seed)
    if contiguous:
        return dg.tensor(rng.standard_normal(shape), requires_grad=requires_grad)
    return dg.from_numpy(rng.standard_normal(shape[::-1]).T).requires_grad_(requires_grad)


def torch_pad(torch):
    return torch.nn.functional.pad


# ------------------------------------------------------------------ gradcheck


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "transposed"])
@pytest.mark.parametrize(("dim", "shapes"), [
    (0, [(2, 3), (1, 3), (3, 3)]),
    (1, [(2, 3), (2, 1), (2, 2)]),
    (-1, [(2, 2, 3), (2, 2, 1)]),
    (-2, [(2, 1, 3), (2, 2, 3)]),
])
def test_gradcheck_cat(dim, shapes, contiguous):
    xs = [leaf(s, seed=i, contiguous=contiguous) for i, s in enumerate(shapes)]
    assert dg.gradcheck(lambda *ts: dg.cat(ts, dim=dim), xs)


def test_gradcheck_cat_with_an_input_that_needs_no_grad():
    xs = [leaf((2, 3)), leaf((2, 2), seed=1, requires_grad=False), leaf((2, 1), seed=2)]
    assert dg.gradcheck(lambda *ts: dg.cat(list(ts), 1) * 2.0, xs)
    assert xs[1].grad is None


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "transposed"])
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_gradcheck_stack(dim, contiguous):
    xs = [leaf((2, 3), seed=i, contiguous=contiguous) for i in range(3)]
    xs[1].requires_grad_(False)
    assert dg.gradcheck(lambda *ts: dg.stack(ts, dim), xs)


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "transposed"])
@pytest.mark.parametrize(("shape", "fn"), [
    ((5, 2), lambda x: dg.split(x, 2)),                    # 2, 2, 1
    ((2, 5), lambda x: x.split(2, dim=1)),
    ((2, 5), lambda x: x.split([1, 3, 1], dim=-1)),
    ((3, 2, 2), lambda x: dg.split(x, [2, 0, 1], 0)),
    ((2, 5), lambda x: x.split(2, dim=1)[1]),              # the other outputs get no gradient
    ((2, 5), lambda x: (lambda a, b, c: (a, c))(*x.split([1, 3, 1], dim=1))),
    ((2, 6), lambda x: x.split(6, dim=1)),
    ((5, 2), lambda x: x.chunk(3)),                        # 2, 2, 1
    ((2, 6), lambda x: dg.chunk(x, 4, dim=-1)),            # 2, 2, 2: fewer chunks than asked
    ((2, 6), lambda x: x.chunk(4, dim=1)[2]),
    ((3, 2), lambda x: x.chunk(5)),
])
def test_gradcheck_split_and_chunk(shape, fn, contiguous):
    assert dg.gradcheck(fn, [leaf(shape, contiguous=contiguous)])


def test_gradcheck_split_outputs_used_twice_and_rejoined():
    x = leaf((4, 3))
    assert dg.gradcheck(lambda t: dg.cat([*reversed(t.split([1, 3])), t.split(2)[0]]), [x])


PAD_CASES = [
    ((3, 4), (1, 2)),
    ((3, 4), (0, 3)),
    ((3, 4), (2, 1, 1, 2)),
    ((4, 3), (2, 0, 0, 1)),
    ((1, 2, 3, 4), (1, 2, 2, 0)),
    ((1, 2, 3, 4), (3, 1, 1, 2)),
    ((2, 2, 3, 3), (0, 2)),
    ((2, 2, 3, 3), (2, 1, 1, 0, 1, 0)),
]


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "transposed"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("shape", "widths"), PAD_CASES)
def test_gradcheck_pad(shape, widths, mode, contiguous):
    assert dg.gradcheck(lambda x: dg.pad(x, widths, mode=mode),
                        [leaf(shape, contiguous=contiguous)])


@pytest.mark.parametrize(("shape", "widths"), [
    ((3, 4), (-1, 2)), ((3, 4), (-1, -2, 1, -1)), ((1, 2, 3, 4), (1, -3, -1, 0)),
    ((3, 4), (-2, -2)),
])
def test_gradcheck_pad_constant_crop_and_value(shape, widths):
    assert dg.gradcheck(lambda x: dg.pad(x, widths, value=-1.5), [leaf(shape)])


# ------------------------------------------------------------------ parity


def random_shape(rng, ndim):
    return tuple(int(n) for n in rng.integers(1, 5, size=ndim))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_parity_cat(torch, dim, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 3)
    arrays = []
    for _ in range(int(rng.integers(1, 4))):
        s = list(shape)
        s[dim] = int(rng.integers(0, 4))
        arrays.append(rng.standard_normal(s).astype(dtype))
    check_parity(torch, lambda *ts: dg.cat(ts, dim=dim), lambda *ts: torch.cat(ts, dim=dim),
                 arrays, seed=seed)
    check_parity(torch, lambda *ts: dg.concatenate(list(ts), dim),
                 lambda *ts: torch.concatenate(ts, dim), arrays,
                 requires_grad=[i % 2 == 0 for i in range(len(arrays))], seed=seed)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [0, 2, -1, -4])
def test_parity_stack(torch, dim, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 3)
    arrays = [rng.standard_normal(shape).astype(dtype) for _ in range(int(rng.integers(1, 4)))]
    check_parity(torch, lambda *ts: dg.stack(ts, dim=dim), lambda *ts: torch.stack(ts, dim=dim),
                 arrays, seed=seed)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_parity_split_and_chunk(torch, dim, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = list(random_shape(rng, 3))
    shape[dim] = int(rng.integers(3, 8))
    a = rng.standard_normal(shape).astype(dtype)
    size = int(rng.integers(1, 4))
    check_parity(torch, lambda x: x.split(size, dim=dim), lambda x: x.split(size, dim=dim), [a],
                 seed=seed)
    sections = [1, shape[dim] - 3, 2]
    check_parity(torch, lambda x: dg.split(x, sections, dim),
                 lambda x: torch.split(x, sections, dim), [a], seed=seed)
    chunks = int(rng.integers(1, 6))
    check_parity(torch, lambda x: x.chunk(chunks, dim), lambda x: x.chunk(chunks, dim), [a],
                 seed=seed)
    # Only one output feeds the loss: the others give zeros in the gradient.
    check_parity(torch, lambda x: dg.chunk(x, chunks, dim)[-1],
                 lambda x: torch.chunk(x, chunks, dim)[-1], [a], seed=seed)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("ndim", "padded"), [(2, 1), (3, 1), (3, 2), (4, 2), (5, 3)])
def test_parity_pad(torch, ndim, padded, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, ndim)
    limit = 1 if mode == "reflect" else 0   # reflect widths must be smaller than the size
    widths = []
    for n in reversed(shape[-padded:]):
        widths += [int(w) for w in rng.integers(0, n + 1 - limit, size=2)]
    a = rng.standard_normal(shape).astype(dtype)
    check_parity(torch, lambda x: dg.pad(x, widths, mode=mode),
                 lambda x: torch_pad(torch)(x, widths, mode=mode), [a], seed=seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("widths", [(1, 2), (-1, 2, 0, -2), (2, -3, 1, 1, -1, 0)])
def test_parity_pad_constant_value_and_crop(torch, widths, dtype):
    a = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(dtype)
    check_parity(torch, lambda x: dg.pad(x, widths, value=0.5),
                 lambda x: torch_pad(torch)(x, widths, value=0.5), [a])


def test_parity_cat_promotes_dtypes_like_torch(torch):
    rng = np.random.default_rng(0)
    a32, b64 = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((1, 3))
    g = rng.standard_normal((3, 3))
    a, b = dg.tensor(a32, requires_grad=True), dg.tensor(b64, requires_grad=True)
    ta, tb = torch.tensor(a32, requires_grad=True), torch.tensor(b64, requires_grad=True)
    y, ty = dg.cat([a, b]), torch.cat([ta, tb])
    assert y.dtype == dg.float64
    assert_close(y, ty)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert a.grad.dtype == dg.float32
    assert b.grad.dtype == dg.float64
    assert_close(a.grad, ta.grad, np.float32)
    assert_close(b.grad, tb.grad)
    ints = dg.stack([dg.tensor([1, 2]), dg.tensor([True, False]), dg.tensor([0.5, 1.5])])
    assert ints.dtype == dg.float32
    assert dg.cat([dg.tensor([1, 2]), dg.tensor([True])]).dtype == dg.int64


# ------------------------------------------------------------------ behaviour


def test_split_sizes_and_views():
    x = dg.arange(7)
    parts = x.split(3)
    assert [p.shape for p in parts] == [(3,), (3,), (1,)]
    for p in parts:
        assert np.shares_memory(p.numpy(), x.numpy())
        assert p._base is x
    np.testing.assert_array_equal(parts[2].numpy(), [6])
    assert [p.shape for p in x.chunk(3)] == [(3,), (3,), (1,)]
    assert [p.shape for p in dg.zeros(6).chunk(4)] == [(2,), (2,), (2,)]
    assert [p.shape for p in dg.zeros(2, 0).chunk(3, dim=1)] == [(2, 0)] * 3
    assert [p.shape for p in dg.zeros(0).split(2)] == [(0,)]
    assert [p.shape for p in dg.zeros(4).split([4])] == [(4,)]


def test_split_output_inplace_change_counts_as_change_of_the_input():
    x = dg.zeros(4)
    a, _ = x.split(2)
    a += 1
    np.testing.assert_array_equal(x.numpy(), [1, 1, 0, 0])
    assert x._version == 1


def test_split_gradient_of_unused_outputs_is_zero():
    x = dg.tensor(np.arange(10.0).reshape(2, 5), requires_grad=True)
    _, middle, _ = x.split([1, 3, 1], dim=1)
    middle.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 1, 1, 0]] * 2)


def test_split_without_grad_records_nothing():
    parts = dg.randn(4, 2).split(2)
    assert all(not p.requires_grad and p.grad_fn is None for p in parts)
    parts = dg.randn(4, 2, requires_grad=True).split(2)
    assert all(p.requires_grad and p.grad_fn is parts[0].grad_fn for p in parts)


def test_cat_mixing_requires_grad():
    a, b = dg.ones(2, requires_grad=True), dg.zeros(3)
    y = dg.cat((b, a, b))
    assert y.requires_grad
    y.backward(np.arange(8.0, dtype=np.float32))
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


def test_cat_single_tensor_and_stack_of_scalars():
    x = dg.randn(2, 3)
    np.testing.assert_array_equal(dg.cat([x]).numpy(), x.numpy())
    s = dg.stack([dg.tensor(1.0), dg.tensor(2.0)])
    np.testing.assert_array_equal(s.numpy(), [1.0, 2.0])


def test_pad_values():
    x = dg.tensor([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(dg.pad(x, (2, 1), value=9.0).numpy(), [[9, 9, 1, 2, 3, 9]])
    np.testing.assert_array_equal(dg.pad(x, (2, 2), mode="reflect").numpy(),
                                  [[3, 2, 1, 2, 3, 2, 1]])
    np.testing.assert_array_equal(dg.pad(x, (2, 1), mode="replicate").numpy(),
                                  [[1, 1, 1, 2, 3, 3]])
    np.testing.assert_array_equal(dg.pad(x, (3, 1), mode="circular").numpy(),
                                  [[1, 2, 3, 1, 2, 3, 1]])
    np.testing.assert_array_equal(dg.pad(x, (-1, 1)).numpy(), [[2, 3, 0]])
    np.testing.assert_array_equal(dg.pad(x, (0, 0, 1, 0)).numpy(), [[0, 0, 0], [1, 2, 3]])


def test_pad_pads_more_dims_than_torch_allows_in_non_constant_modes():
    # PyTorch restricts these modes to its conv layouts; the math extends to any dims.
    x = dg.tensor(np.arange(6.0).reshape(2, 3))
    y = dg.pad(x, (1, 1, 1, 1), mode="replicate")
    np.testing.assert_array_equal(y.numpy(), np.pad(x.numpy(), 1, mode="edge"))


def test_float32_stays_float32():
    x = dg.randn(2, 3, requires_grad=True)
    outs = [dg.cat([x, x]), dg.stack([x, x], 1), x.split(2, 1)[0], x.chunk(2)[1]]
    outs += [dg.pad(x, (1, 2, 1, 0), mode=m) for m in MODES]
    for y in outs:
        assert y.dtype == dg.float32
        x.grad = None
        y.backward(np.ones(y.shape, np.float32))
        assert x.grad.dtype == dg.float32


def test_exports():
    assert dg.concatenate is dg.cat
    for name in ("cat", "stack", "pad", "concatenate"):
        assert not hasattr(dg.Tensor, name)
    assert callable(dg.Tensor.split)
    assert callable(dg.Tensor.chunk)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda: dg.cat([]), ValueError, r"cat: expected a non-empty list of tensors"),
    (lambda: dg.stack(()), ValueError, r"stack: expected a non-empty list of tensors"),
    (lambda: dg.cat(dg.zeros(2, 3)), TypeError,
     r"cat: expected a list or tuple of tensors; got Tensor"),
    (lambda: dg.cat([dg.zeros(2), [1.0]]), TypeError, r"cat: element 1 is a list, not a Tensor"),
    (lambda: dg.cat([dg.zeros(2, 3), dg.zeros(2, 4)]), ShapeError,
     r"^cat: tensor 1 has shape \(2, 4\) but tensor 0 has shape \(2, 3\); all dimensions except "
     r"dim 0 must match$"),
    (lambda: dg.cat([dg.zeros(2, 3), dg.zeros(3, 3)], dim=-1), ShapeError,
     r"cat: tensor 1 has shape \(3, 3\) .* except dim 1 must match"),
    (lambda: dg.cat([dg.zeros(2, 3), dg.zeros(2, 3, 1)]), ShapeError,
     r"cat: tensor 1 has shape \(2, 3, 1\) but tensor 0 has shape \(2, 3\); all tensors need "
     r"the same number of dimensions"),
    (lambda: dg.cat([dg.tensor(1.0), dg.tensor(2.0)]), ShapeError,
     r"cat: tensor 0 is 0-d; .*\(use stack to join scalars\)"),
    (lambda: dg.cat([dg.zeros(2)], dim=1), IndexError, r"cat: dimension 1 is out of range"),
    (lambda: dg.stack([dg.zeros(2, 3), dg.zeros(2, 4)]), ShapeError,
     r"stack: tensor 1 has shape \(2, 4\) but tensor 0 has shape \(2, 3\); all tensors must "
     r"have the same shape"),
    (lambda: dg.stack([dg.zeros(2, 3)], dim=3), IndexError,
     r"stack: dimension 3 is out of range for inserting a dimension into a tensor with 2 "
     r"dimensions \(expected -3 to 2\)"),
    (lambda: dg.zeros(3).split([1, 1]), ShapeError,
     r"split: section sizes \[1, 1\] sum to 2 but dimension 0 of the tensor of shape \(3\) has "
     r"size 3"),
    (lambda: dg.zeros(3).split([4, -1]), ValueError,
     r"split: section sizes must be non-negative; got \[4, -1\]"),
    (lambda: dg.zeros(3).split(-1), ValueError, r"split: split_size must be non-negative"),
    (lambda: dg.zeros(3).split(0), ValueError,
     r"split: split_size can be 0 only when the dimension is empty"),
    (lambda: dg.zeros(3).split(1.5), TypeError, r"split: sizes must be integers"),
    (lambda: dg.tensor(1.0).split(1), ShapeError,
     r"split: expects a tensor with at least one dimension; got a 0-d tensor"),
    (lambda: dg.zeros(3).split(1, dim=1), IndexError, r"split: dimension 1 is out of range"),
    (lambda: dg.zeros(3).chunk(0), ValueError, r"chunk: chunks must be greater than 0; got 0"),
    (lambda: dg.tensor(1.0).chunk(2), ShapeError, r"chunk: expects a tensor with at least one"),
    (lambda: dg.pad(dg.zeros(2, 3), (1, 2, 3)), ValueError,
     r"pad: the padding \(1, 2, 3\) has odd length 3"),
    (lambda: dg.pad(dg.zeros(2, 3), (1, 1, 1, 1, 1, 1)), ShapeError,
     r"pad: the padding \(1, 1, 1, 1, 1, 1\) pads 3 dimensions but the tensor of shape "
     r"\(2, 3\) has only 2"),
    (lambda: dg.pad(dg.zeros(2, 3), (1, 1), mode="edge"), ValueError,
     r"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular'; got 'edge'"),
    (lambda: dg.pad(dg.zeros(2, 3), (1, 1), mode="reflect", value=1.0), ValueError,
     r"pad: mode 'reflect' takes no fill value; got value=1.0"),
    (lambda: dg.pad(dg.zeros(1, 3, 3), (3, 0), mode="reflect"), ShapeError,
     r"pad: padding \(3, 0\) of dimension 2 \(size 3, tensor of shape \(1, 3, 3\)\): 'reflect' "
     r"widths must be smaller than the size"),
    (lambda: dg.pad(dg.zeros(2, 3), (0, 4), mode="circular"), ShapeError,
     r"pad: padding \(0, 4\) of dimension 1 .*'circular' widths cannot exceed the size"),
    (lambda: dg.pad(dg.zeros(2, 0), (1, 0), mode="replicate"), ShapeError,
     r"pad: padding \(1, 0\) of dimension 1 .*'replicate' cannot pad an empty dimension"),
    (lambda: dg.pad(dg.zeros(2, 3), (-1, 1), mode="replicate"), ValueError,
     r"pad: padding \(-1, 1\) of dimension 1 .* is negative; only 'constant' mode can crop"),
    (lambda: dg.pad(dg.zeros(2, 3), (-2, -2)), ShapeError,
     r"pad: padding \(-2, -2\) of dimension 1 crops more than its size 3 \(tensor of shape "
     r"\(2, 3\)\)"),
    (lambda: dg.pad(dg.zeros(2, 3), (1.5, 1)), TypeError, r"pad: sizes must be integers"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn()
