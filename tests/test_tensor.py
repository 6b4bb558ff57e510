"""The Tensor object: construction and dtype rules, attributes, conversions, printing, in-place."""

import re
import subprocess
import sys

import numpy as np
import pytest

import deepgrad as dg

# ---------------------------------------------------------------- construction and dtypes


@pytest.mark.parametrize(("data", "dtype"), [
    (1.5, dg.float32),
    ([1.0, 2.0], dg.float32),
    ([[1, 2.5], [3, 4]], dg.float32),
    (3, dg.int64),
    ([1, 2, 3], dg.int64),
    (True, dg.bool_),
    ([True, False], dg.bool_),
    (np.zeros(3, np.float64), dg.float64),
    (np.zeros(3, np.float32), dg.float32),
    (np.zeros(3, np.int32), dg.int32),
    (np.zeros(3, np.int64), dg.int64),
    (np.float64(2.0), dg.float64),
])
def test_tensor_infers_dtype(data, dtype):
    t = dg.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


@pytest.mark.parametrize(("data", "dtype"), [
    ([1.0, 2.0], dg.float64),
    ([1, 2], dg.float32),
    (np.ones(2, np.float32), dg.float64),
    (np.ones(2, np.float64), dg.float32),
    ([1.5, 2.5], "float64"),
])
def test_tensor_dtype_argument(data, dtype):
    t = dg.tensor(data, dtype=dtype)
    assert t.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=dtype))


def test_tensor_copies_its_source_array():
    a = np.arange(6.0).reshape(2, 3)
    t = dg.tensor(a)
    a[0, 0] = 100.0
    assert t.numpy()[0, 0] == 0.0
    assert not np.shares_memory(t.numpy(), a)


def test_tensor_copies_a_tensor_and_drops_its_graph():
    src = dg.tensor([1.0, 2.0], requires_grad=True)
    t = dg.tensor(src)
    assert not t.requires_grad
    assert not np.shares_memory(t.numpy(), src.numpy())


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.arange(4, dtype=np.float64)
    t = dg.from_numpy(a)
    a[1] = 42.0
    assert t.dtype == dg.float64
    assert t.numpy()[1] == 42.0
    t.numpy()[2] = -1.0
    assert a[2] == -1.0


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(TypeError, match="from_numpy expects a NumPy array; got list"):
        dg.from_numpy([1.0, 2.0])


def test_tensor_rejects_non_numeric_data():
    with pytest.raises(TypeError, match="cannot make a tensor from data of type str"):
        dg.tensor("abc")


def test_tensor_requires_grad_flag():
    t = dg.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad
    assert t.is_leaf
    assert t.grad_fn is None
    assert t.grad is None


@pytest.mark.parametrize("data", [[1, 2], [True, False], np.arange(3, dtype=np.int32)])
def test_requires_grad_on_non_float_tensor_raises(data):
    with pytest.raises(TypeError, match="only floating point tensors can require gradients"):
        dg.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match=r"this one has dtype (int64|bool|int32)"):
        dg.tensor(data).requires_grad_()


def test_requires_grad_underscore_returns_self_and_toggles():
    t = dg.tensor([1.0])
    assert t.requires_grad_() is t
    assert t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad


def test_requires_grad_on_a_non_leaf_raises():
    y = dg.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(dg.BackwardError, match=r"only change leaf tensors.*\.detach\(\)"):
        y.requires_grad_(False)


# ---------------------------------------------------------------- attributes and conversions


def test_shape_ndim_size_numel_dim():
    t = dg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3
    assert t.dim() == 3
    assert t.size() == (2, 3, 4)
    assert t.size(1) == 3
    assert t.size(-1) == 4
    assert t.numel() == 24
    assert isinstance(t.numel(), int)


def test_scalar_tensor_attributes():
    t = dg.tensor(2.5)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.numel() == 1


def test_numpy_shares_memory():
    t = dg.tensor([1.0, 2.0])
    t.numpy()[0] = 7.0
    assert t.tolist() == [7.0, 2.0]


def test_transpose_property():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = dg.tensor(a)
    assert t.T.shape == (3, 2)
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    b = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(dg.tensor(b).T.numpy(), b.T)
    np.testing.assert_array_equal(dg.tensor(b).mT.numpy(), b.swapaxes(-1, -2))
    w = dg.tensor(b, requires_grad=True)
    (w.mT * dg.tensor(np.arange(24.0).reshape(2, 4, 3))).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.arange(24.0).reshape(2, 4, 3).swapaxes(1, 2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        dg.tensor([1.0]).mT  # noqa: B018


def test_item_returns_python_numbers():
    assert dg.tensor(2.5).item() == 2.5
    assert isinstance(dg.tensor(2.5).item(), float)
    assert dg.tensor([[3]]).item() == 3
    assert isinstance(dg.tensor([[3]]).item(), int)
    assert dg.tensor(True).item() is True


def test_item_on_several_elements_raises():
    with pytest.raises(ValueError, match=re.escape(
            "item() needs a tensor with one element; this one has shape (2, 3) (6 elements)")):
        dg.zeros(2, 3).item()


def test_float_int_and_bool_conversions():
    assert float(dg.tensor([1.5])) == 1.5
    assert int(dg.tensor(7)) == 7
    assert bool(dg.tensor([1.0])) is True
    assert bool(dg.tensor(0.0)) is False
    with pytest.raises(ValueError, match="one element"):
        float(dg.tensor([1.0, 2.0]))


def test_bool_of_several_elements_raises():
    with pytest.raises(ValueError, match="truth value of a tensor with 2 elements is ambiguous"):
        bool(dg.tensor([1.0, 2.0]))


def test_len_and_iteration():
    a = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    t = dg.tensor(a)
    assert len(t) == 3
    rows = list(t)
    assert len(rows) == 3
    for row, expected in zip(rows, a, strict=True):
        assert isinstance(row, dg.Tensor)
        assert row.shape == (2,)
        np.testing.assert_array_equal(row.numpy(), expected)


def test_len_and_iteration_of_a_scalar_raise():
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(dg.tensor(1.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(dg.tensor(1.0))


def test_array_protocol_and_tolist():
    t = dg.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(t), [[1.0, 2.0]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.tolist() == [[1.0, 2.0]]


def test_detach_shares_data_and_leaves_the_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    d = y.detach()
    assert np.shares_memory(d.numpy(), y.numpy())
    assert not d.requires_grad
    assert d.is_leaf
    assert d.grad_fn is None
    assert (d * 2.0).grad_fn is None
    np.testing.assert_array_equal(d.numpy(), [3.0, 6.0])


def test_tensor_constructor_shares_a_numpy_array():
    a = np.ones(3)
    t = dg.Tensor(a)
    assert t.numpy() is a


# ---------------------------------------------------------------- printing


def test_repr_of_a_leaf_requiring_grad():
    assert repr(dg.tensor([[1.0, 2.0]], requires_grad=True)) == \
        "tensor([[1., 2.]], requires_grad=True)"


@pytest.mark.parametrize(("t", "expected"), [
    (dg.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (dg.tensor([1.0, 2.0], dtype=dg.float64), "tensor([1., 2.], dtype=float64)"),
    (dg.tensor([1, 2]), "tensor([1, 2])"),
    (dg.tensor(np.array([1, 2], np.int32)), "tensor([1, 2], dtype=int32)"),
    (dg.tensor([True, False]), "tensor([ True, False])"),
    (dg.tensor(2.5), "tensor(2.5)"),
])
def test_repr_shows_dtype_only_when_not_default(t, expected):
    assert repr(t) == expected


def test_repr_of_a_non_leaf_shows_grad_fn():
    y = dg.tensor([1.0, 2.0], requires_grad=True) * 2.0
    text = repr(y)
    assert re.fullmatch(r"tensor\(\[2\., 4\.\], grad_fn=<MulBackward\w*>\)", text), text
    assert "requires_grad" not in text


def test_repr_of_a_multiline_tensor_aligns_rows():
    text = repr(dg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert text == "tensor([[1., 2.],\n        [3., 4.]])"


# ---------------------------------------------------------------- dtype rules of Python scalars


@pytest.mark.parametrize("fn", [
    lambda t: t * 2.0,
    lambda t: 2.0 * t,
    lambda t: 2.0 - t,
    lambda t: t - 2.0,
    lambda t: t + 1,
    lambda t: 1.5 + t,
    lambda t: t / 3,
    lambda t: 3.0 / t,
    lambda t: t**2,
    lambda t: t**0.5,
    lambda t: 2**t,
    lambda t: 2.5**t,
    lambda t: t + np.int64(3),
    lambda t: -t,
], ids=["t*2.0", "2.0*t", "2.0-t", "t-2.0", "t+1", "1.5+t", "t/3", "3.0/t", "t**2", "t**0.5",
        "2**t", "2.5**t", "t+np.int64", "-t"])
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64])
def test_python_scalars_never_change_a_float_dtype(fn, dtype):
    t = dg.tensor([1.0, 2.0, 4.0], dtype=dtype, requires_grad=True)
    y = fn(t)
    assert y.dtype == dtype
    y.backward(np.ones(3, dtype))
    assert t.grad.dtype == dtype


@pytest.mark.parametrize("fn", [
    lambda t: t * np.float64(2.0),
    lambda t: np.float64(2.0) * t,
    lambda t: t - np.float64(0.5),
], ids=["t*np.float64", "np.float64*t", "t-np.float64"])
def test_numpy_float64_scalars_do_not_upcast_float32(fn):
    assert fn(dg.tensor([1.0, 2.0])).dtype == dg.float32


@pytest.mark.parametrize(("fn", "dtype"), [
    (lambda t: t * 0.5, dg.float32),
    (lambda t: 0.5 * t, dg.float32),
    (lambda t: t + 1.5, dg.float32),
    (lambda t: t * 2, dg.int64),
    (lambda t: t + t, dg.int64),
    (lambda t: t / 2, dg.float32),
    (lambda t: t / t, dg.float32),
    (lambda t: 2 / t, dg.float32),
], ids=["int*0.5", "0.5*int", "int+1.5", "int*2", "int+int", "int/2", "int/int", "2/int"])
def test_integer_tensor_promotion_follows_pytorch(fn, dtype):
    t = dg.tensor([1, 2, 4])
    y = fn(t)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), fn(np.array([1, 2, 4])))


# ---------------------------------------------------------------- in-place updates


@pytest.mark.parametrize(("update", "expected"), [
    (lambda t: t.__iadd__(1.0), [2.0, 3.0]),
    (lambda t: t.__isub__(dg.tensor([1.0, 1.0])), [0.0, 1.0]),
    (lambda t: t.__imul__(3.0), [3.0, 6.0]),
    (lambda t: t.__itruediv__(2.0), [0.5, 1.0]),
    (lambda t: t.add_(dg.tensor([1.0, 1.0]), alpha=2.0), [3.0, 4.0]),
    (lambda t: t.sub_(1.0, alpha=0.5), [0.5, 1.5]),
    (lambda t: t.mul_(dg.tensor([2.0, 3.0])), [2.0, 6.0]),
    (lambda t: t.div_(4.0), [0.25, 0.5]),
    (lambda t: t.copy_(dg.tensor([9.0, 8.0])), [9.0, 8.0]),
    (lambda t: t.copy_(np.float32(5.0)), [5.0, 5.0]),
    (lambda t: t.fill_(7.0), [7.0, 7.0]),
    (lambda t: t.zero_(), [0.0, 0.0]),
])
def test_inplace_ops_update_the_same_array(update, expected):
    t = dg.tensor([1.0, 2.0])
    data = t.numpy()
    assert update(t) is t
    assert t.numpy() is data
    assert t.dtype == dg.float32
    np.testing.assert_array_equal(t.numpy(), expected)


def test_augmented_assignment_keeps_the_object():
    t = dg.tensor([1.0, 2.0])
    alias = t
    t += 1.0
    t *= 2.0
    assert t is alias
    np.testing.assert_array_equal(alias.numpy(), [4.0, 6.0])


def test_inplace_through_detach_changes_the_base():
    t = dg.tensor([1.0, 2.0])
    d = t.detach()
    d += 1.0
    np.testing.assert_array_equal(t.numpy(), [2.0, 3.0])


def test_export_and_rl_are_attributes_imported_on_first_use():
    # As torch.onnx: reachable from the package, but `import deepgrad` does not import them.
    code = """
import sys
import deepgrad as dg
print("deepgrad.export" in sys.modules, "deepgrad.rl" in sys.modules)
print(callable(dg.export.to_onnx), callable(dg.rl.DQN), "export" in dir(dg))
try:
    dg.exporter
except AttributeError as error:
    print(error)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["False False", "True True True",
                   "module 'deepgrad' has no attribute 'exporter'"]


def test_cpu_casts_and_memory_facts_as_torch(torch):
    a = np.array([[0.0, 1.5], [-2.7, 3.0]], np.float32)
    x, t = dg.tensor(a), torch.tensor(a)
    assert x.cpu() is x and x.cpu().numpy() is x.data
    for name in ("int", "bool", "long"):
        assert getattr(x, name)().tolist() == getattr(t, name)().tolist()
    assert x.int().dtype == dg.int32 and x.bool().dtype == dg.bool_
    assert (x.nbytes, x.element_size()) == (t.nbytes, t.element_size()) == (16, 4)
    assert x.is_contiguous() and not x.T.is_contiguous()
    assert x.T.contiguous().is_contiguous()
