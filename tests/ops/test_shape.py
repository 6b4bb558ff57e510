"""Shape ops: gradcheck, parity with PyTorch, views and error messages."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad import nn
from deepgrad.errors import BackwardError, ShapeError


def leaf(shape, seed=0, contiguous=True):
    """A float64 leaf that requires grad; ``contiguous=False`` gives a transposed (F-order) one."""
    rng = np.random.default_rng(seed)
    if contiguous:
        return dg.tensor(rng.standard_normal(shape), requires_grad=True)
    array = rng.standard_normal(shape[::-1]).T
    return dg.from_numpy(array).requires_grad_()


# (id, input shape, function): each runs on a contiguous and on a transposed (F-order) leaf.
GRAD_CASES = [
    ("reshape", (2, 3, 2), lambda x: x.reshape(3, -1)),
    ("reshape-tuple", (2, 3, 2), lambda x: dg.reshape(x, (4, 3))),
    ("reshape-flat", (3, 4), lambda x: x.reshape(-1)),
    ("reshape-0d", (1, 1), lambda x: x.reshape(())),
    ("flatten", (2, 3, 2), lambda x: x.flatten()),
    ("flatten-start", (2, 3, 2), lambda x: dg.flatten(x, 1)),
    ("flatten-range", (2, 3, 2, 2), lambda x: x.flatten(1, 2)),
    ("flatten-negative", (2, 3, 2), lambda x: x.flatten(-2, -1)),
    ("flatten-one-dim", (2, 3), lambda x: x.flatten(1, 1)),
    ("squeeze-all", (1, 3, 1, 2), lambda x: x.squeeze()),
    ("squeeze-dim", (1, 3, 1, 2), lambda x: x.squeeze(0)),
    ("squeeze-negative", (1, 3, 1, 2), lambda x: dg.squeeze(x, -2)),
    ("squeeze-tuple", (1, 3, 1, 2), lambda x: x.squeeze((0, 2))),
    ("squeeze-non-one", (1, 3, 1, 2), lambda x: x.squeeze(1)),
    ("unsqueeze-front", (3, 2), lambda x: x.unsqueeze(0)),
    ("unsqueeze-middle", (3, 2), lambda x: dg.unsqueeze(x, 1)),
    ("unsqueeze-end", (3, 2), lambda x: x.unsqueeze(-1)),
    ("unsqueeze-negative", (3, 2), lambda x: x.unsqueeze(-3)),
    ("permute", (2, 3, 4), lambda x: x.permute(2, 0, 1)),
    ("permute-tuple", (2, 3, 4), lambda x: dg.permute(x, (1, 2, 0))),
    ("permute-negative", (2, 3, 4), lambda x: x.permute(-1, 0, -2)),
    ("transpose", (2, 3, 4), lambda x: x.transpose(0, 2)),
    ("transpose-negative", (2, 3, 4), lambda x: dg.transpose(x, -1, -2)),
    ("transpose-same", (2, 3), lambda x: x.transpose(1, -1)),
    ("T", (3, 4), lambda x: x.T),
    ("T-1d", (5,), lambda x: x.T),
    ("expand-leading", (3, 1), lambda x: x.expand(2, 3, 4)),
    ("expand-keep", (3, 1), lambda x: x.expand(-1, 4)),
    ("expand-tuple", (1, 3), lambda x: dg.expand(x, (2, 2, -1))),
    ("broadcast_to", (3, 1), lambda x: dg.broadcast_to(x, (2, 3, 4))),
    ("broadcast_to-method", (1, 3), lambda x: x.broadcast_to((4, 3))),
    ("clone", (3, 4), lambda x: x.clone()),
    ("contiguous", (3, 4), lambda x: dg.contiguous(x) * x),
    ("chain", (2, 3, 4), lambda x: x.T.reshape(4, 6).unsqueeze(1).expand(4, 2, 6).flatten(0, 1)),
    ("repeat", (2, 3), lambda x: x.repeat(2, 3)),
    ("repeat-new-dims", (2, 3), lambda x: x.repeat((3, 1, 1, 2))),
    ("repeat-zero", (2, 3), lambda x: (x.repeat(2, 0), x.repeat(1, 2))),
    ("tile", (2, 3), lambda x: dg.tile(x, (2, 2))),
    ("tile-fewer-dims", (2, 1, 3), lambda x: x.tile(2)),
    ("tile-more-dims", (2, 3), lambda x: dg.tile(x, (2, 1, 3))),
]


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "transposed"])
@pytest.mark.parametrize(("shape", "fn"), [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(shape, fn, contiguous):
    assert dg.gradcheck(fn, [leaf(shape, contiguous=contiguous)])


def test_gradcheck_view_contiguous():
    assert dg.gradcheck(lambda x: x.view(2, -1, 2), [leaf((3, 4))])
    assert dg.gradcheck(lambda x: x.view(-1), [leaf((4, 3), contiguous=False).T])


def test_gradcheck_0d():
    x = dg.tensor(np.array(1.5), requires_grad=True)
    for fn in (lambda t: t.T, lambda t: t.expand(2, 3), lambda t: t.unsqueeze(0),
               lambda t: t.flatten(), lambda t: t.reshape(1, 1), lambda t: t.squeeze(0)):
        assert dg.gradcheck(fn, [x])


def test_gradcheck_fanout_through_views():
    # The same leaf reaches the output through two views: both gradients must add up.
    x = leaf((3, 4))
    assert dg.gradcheck(lambda t: t.T.reshape(-1) * t.reshape(-1), [x])


# (id, fn(lib, x)) with the same code for deepgrad and torch: functions and methods alike.
PARITY_CASES = [
    ("reshape", lambda m, x: m.reshape(x, (x.shape[1], -1))),
    ("reshape-method", lambda m, x: x.reshape(-1, x.shape[2])),
    ("reshape-noncontiguous", lambda m, x: x.transpose(0, 2).reshape(x.shape[2], -1)),
    ("view", lambda m, x: x.view(x.shape[0], -1)),
    ("view-flat", lambda m, x: x.view(-1)),
    ("flatten", lambda m, x: m.flatten(x)),
    ("flatten-start", lambda m, x: x.flatten(1)),
    ("flatten-range", lambda m, x: m.flatten(x, 0, -2)),
    ("squeeze", lambda m, x: m.squeeze(x.unsqueeze(1))),
    ("squeeze-dim", lambda m, x: x.unsqueeze(-1).squeeze(-1)),
    ("squeeze-tuple", lambda m, x: m.squeeze(x.unsqueeze(0).unsqueeze(2), (0, 2, 3))),
    ("unsqueeze", lambda m, x: m.unsqueeze(x, 2)),
    ("unsqueeze-negative", lambda m, x: x.unsqueeze(-2)),
    ("permute", lambda m, x: m.permute(x, (2, 0, 1))),
    ("permute-method", lambda m, x: x.permute(1, -1, 0)),
    ("transpose", lambda m, x: m.transpose(x, 0, -1)),
    ("transpose-method", lambda m, x: x.transpose(1, 2)),
    ("T", lambda m, x: x.flatten(1).T),
    ("expand", lambda m, x: x.unsqueeze(1).expand(2, -1, 3, -1, -1)),
    ("broadcast_to", lambda m, x: m.broadcast_to(x.unsqueeze(0), (2, *x.shape))),
    ("clone", lambda m, x: m.clone(x.transpose(0, 1))),
    ("contiguous", lambda m, x: x.transpose(0, 2).contiguous()),
    ("repeat", lambda m, x: x.repeat(2, 1, 3)),
    ("repeat-new-dims", lambda m, x: x.transpose(0, 1).repeat((2, 1, 1, 2))),
    ("tile", lambda m, x: m.tile(x, (2,))),
    ("tile-method", lambda m, x: x.tile(1, 2, 1, 3)),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", [c[1] for c in PARITY_CASES], ids=[c[0] for c in PARITY_CASES])
def test_parity(torch, fn, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(tuple(rng.integers(1, 5, size=3))).astype(dtype)
    check_parity(torch, lambda x: fn(dg, x), lambda x: fn(torch, x), [a], seed=seed)


# ------------------------------------------------------------------ behaviour


@pytest.mark.parametrize("fn", [
    lambda x: x.reshape(6, 4), lambda x: x.view(-1), lambda x: x.flatten(1),
    lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(1).squeeze(1), lambda x: x.permute(1, 2, 0),
    lambda x: x.transpose(0, 1), lambda x: x.T, lambda x: x.expand(2, 2, 3, 4),
    lambda x: dg.broadcast_to(x, (3, 2, 3, 4)),
    lambda x: x.transpose(0, 1).reshape(3, 2, 2, 2).T.squeeze(),
])
def test_views_share_memory_and_know_their_base(fn):
    x = dg.randn(2, 3, 4)
    v = fn(x)
    assert np.shares_memory(v.numpy(), x.numpy())
    assert v._base is x


def test_reshape_copies_only_when_it_must():
    x = dg.randn(3, 4)
    copied = x.T.reshape(12)
    assert not np.shares_memory(copied.numpy(), x.numpy())
    assert copied._base is None
    np.testing.assert_array_equal(copied.numpy(), x.numpy().T.reshape(12))
    assert np.shares_memory(x.T.reshape(4, 1, 3).numpy(), x.numpy())


def test_inplace_change_through_a_view_changes_the_base():
    x = dg.zeros(2, 3)
    v = x.view(6)
    v += 1
    np.testing.assert_array_equal(x.numpy(), np.ones((2, 3), np.float32))
    assert x._version == 1


def test_inplace_change_of_the_base_is_caught_through_a_saved_view():
    x = dg.randn(2, 3, dtype=dg.float64)
    w = dg.randn(3, 2, dtype=dg.float64, requires_grad=True)
    y = x.T * w  # saves the view x.T for w's gradient
    x += 1
    with pytest.raises(BackwardError, match="modified in place"):
        y.backward(np.ones((3, 2)))


def _channel_major(seed=0, requires_grad=False):
    """A convolution and its output: (N, C, H, W) in deepgrad's channel-major memory."""
    dg.manual_seed(seed)
    conv = nn.Conv2d(2, 4, 3, padding=1)
    x = conv(dg.randn(3, 2, 5, 5))
    if not requires_grad:
        x = x.detach() * 1
    assert not x.is_contiguous()
    return conv, x


def test_view_after_a_layer_is_pytorchs_flatten_and_shares_memory():
    # PyTorch's idiom x.view(x.size(0), -1) after conv layers, whose outputs are contiguous
    # there: deepgrad moves such an op's result to contiguous memory rather than refusing.
    conv, x = _channel_major(requires_grad=True)
    expected = x.data.reshape(3, -1)  # a copy: x.data is not contiguous
    y = x.view(x.size(0), -1)
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    assert x.is_contiguous() and np.shares_memory(y.data, x.data) and y._base is x
    g = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    twin, x2 = _channel_major(requires_grad=True)
    x2.flatten(1).backward(g)
    np.testing.assert_array_equal(conv.weight.grad.numpy(), twin.weight.grad.numpy())
    _, x = _channel_major()
    z = x.view(-1, 25)
    z += 1  # a write through the view reaches x, as in PyTorch
    np.testing.assert_array_equal(x.numpy().reshape(-1, 25), z.numpy())


@pytest.mark.parametrize("make, allowed", [
    (lambda: dg.randn(4, 6).T, False),                             # a view the user made
    (lambda: dg.from_numpy(np.ones((4, 6), np.float32).T), False),  # the user's memory
    (lambda: dg.Tensor(np.ones((4, 6), np.float32).T), False),      # the user's memory
    (lambda: dg.tensor(np.ones((4, 6), np.float32).T), True),       # a copy of deepgrad's own
    (lambda: dg.randn(4, 6, requires_grad=True).T * 1, True),       # an op's result
])
def test_view_moves_only_memory_that_nothing_else_can_see(make, allowed):
    x = make()
    if allowed:
        assert x.view(-1).shape == (24,)
    else:
        with pytest.raises(ShapeError, match=r"cannot view a tensor of shape \(6, 4\)"):
            x.view(-1)


@pytest.mark.parametrize("share", [lambda x: x.numpy(), lambda x: np.asarray(x), dg.Tensor,
                                   lambda x: x.detach(),
                                   lambda x: x[0], lambda x: x.transpose(2, 3)])
def test_view_refuses_op_results_whose_memory_was_handed_out(share):
    _, x = _channel_major()
    shared = share(x)
    with pytest.raises(ShapeError, match="cannot view"):
        x.view(3, -1)
    assert np.shares_memory(np.asarray(shared), x.data)


def test_squeeze_keeps_dims_that_are_not_one():
    x = dg.randn(2, 1, 3)
    assert x.squeeze(0).shape == (2, 1, 3)
    assert x.squeeze((0, 1)).shape == (2, 3)
    assert dg.tensor(2.0).squeeze().shape == ()
    assert dg.tensor(2.0).squeeze(-1).shape == ()


def test_zero_and_one_dim_transpose_is_identity():
    assert dg.tensor(2.0).T.shape == ()
    x = dg.arange(3)
    np.testing.assert_array_equal(x.T.numpy(), [0, 1, 2])
    assert x.permute(0).shape == (3,)


def test_flatten_of_0d_gives_1d():
    assert dg.tensor(2.0).flatten().shape == (1,)


def test_expand_of_size_one_to_zero():
    assert dg.zeros(3, 1).expand(3, 0).shape == (3, 0)


def test_expand_gradient_sums_over_expanded_dims():
    x = dg.tensor([[1.0], [2.0]], requires_grad=True)
    x.expand(3, 2, 4).backward(np.ones((3, 2, 4), np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [[12.0], [12.0]])


def test_reshape_and_permute_accept_numpy_and_tensor_integers():
    x = dg.randn(2, 3)
    assert x.reshape(np.int64(3), dg.tensor(2)).shape == (3, 2)
    assert x.permute([np.int64(1), 0]).shape == (3, 2)


def test_clone_copies_and_keeps_the_layout():
    x = dg.randn(3, 4)
    c = x.T.clone()
    assert not np.shares_memory(c.numpy(), x.numpy())
    assert c.numpy().strides == x.T.numpy().strides  # like torch's preserve_format
    np.testing.assert_array_equal(c.numpy(), x.numpy().T)


def test_contiguous():
    x = dg.randn(3, 4)
    assert x.contiguous() is x
    c = x.T.contiguous()
    assert c.numpy().flags.c_contiguous
    np.testing.assert_array_equal(c.numpy(), x.numpy().T)
    c.view(12)  # a contiguous tensor can be viewed any way


def test_float32_stays_float32():
    x = dg.randn(2, 3, requires_grad=True)
    for y in (x.reshape(3, 2), x.T, x.expand(2, 2, 3), x.T.contiguous(), x.flatten(),
              x.clone(), x.unsqueeze(0).squeeze(0), x.repeat(2, 1), x.tile(3)):
        assert y.dtype == dg.float32
        x.grad = None
        y.backward(np.ones(y.shape, np.float32))
        assert x.grad.dtype == dg.float32


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(("fn", "error", "message"), [
    (lambda x: x.reshape(4, 2), ShapeError,
     r"^reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, 2\) "
     r"\(8 elements\)$"),
    (lambda x: x.reshape(4, -1), ShapeError,
     r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, -1\): "
     r"6 is not a multiple of 4"),
    (lambda x: x.reshape(-1, -1), ValueError, r"reshape: only one dimension can be -1"),
    (lambda x: x.reshape(-2, 3), ValueError, r"reshape: invalid size -2 in \(-2, 3\)"),
    (lambda x: x.reshape(2.0, 3), TypeError, r"reshape: sizes must be integers"),
    (lambda x: x.view(3, 3), ShapeError, r"view: cannot reshape .* \(2, 3\) .* into \(3, 3\)"),
    (lambda x: x.T.view(6), ShapeError,
     r"view: cannot view a tensor of shape \(3, 2\) and strides \(1, 3\) as \(6\) without "
     r"copying its data .*use \.reshape\(\.\.\.\) instead"),
    (lambda x: x.flatten(1, 0), ValueError, r"flatten: start_dim 1 comes after end_dim 0"),
    (lambda x: x.flatten(2), IndexError, r"flatten: dimension 2 is out of range"),
    (lambda x: x.squeeze(2), IndexError, r"squeeze: dimension 2 is out of range"),
    (lambda x: x.squeeze((0, 0)), ValueError, r"squeeze: .* lists a dimension twice"),
    (lambda x: x.unsqueeze(3), IndexError,
     r"unsqueeze: dimension 3 is out of range for inserting a dimension into a tensor with 2 "
     r"dimensions \(expected -3 to 2\)"),
    (lambda x: x.unsqueeze(-4), IndexError, r"unsqueeze: dimension -4 is out of range"),
    (lambda x: x.permute(0), ShapeError,
     r"permute: got 1 dims \(0\) for a tensor of shape \(2, 3\); give each of its 2 dimensions"),
    (lambda x: x.permute(0, -2), ValueError, r"permute: dims \(0, -2\) name a dimension twice"),
    (lambda x: x.permute(0, 2), IndexError, r"permute: dimension 2 is out of range"),
    (lambda x: x.permute(0, 1.0), TypeError, r"permute: dims must be integers"),
    (lambda x: x.transpose(0, 2), IndexError, r"transpose: dimension 2 is out of range"),
    (lambda x: x.expand(2, 4), ShapeError,
     r"expand: cannot expand a tensor of shape \(2, 3\) to \(2, 4\): dimension 1 has size 3, "
     r"which is not 1, so it must stay 3 \(or -1\)"),
    (lambda x: x.expand(3), ShapeError,
     r"expand: cannot expand a tensor of shape \(2, 3\) to \(3\): give at least one size per "
     r"dimension \(2\)"),
    (lambda x: x.expand(-1, 2, 3), ShapeError,
     r"expand: .* -1 is not allowed as a new leading dimension \(dimension 0\)"),
    (lambda x: x.expand(-2, 3), ShapeError, r"expand: .* -2 is not allowed as a size"),
    (lambda x: dg.broadcast_to(x, (3, 3)), ShapeError,
     r"broadcast_to: cannot expand a tensor of shape \(2, 3\) to \(3, 3\): dimension 0"),
    (lambda x: x.repeat(2), ShapeError,
     r"^repeat: got 1 size \(2\) for a tensor of shape \(2, 3\); expected at least one per "
     r"dimension \(2\)$"),
    (lambda x: x.repeat(2, -1), ValueError,
     r"^repeat: repetitions must be >= 0; got \(2, -1\)$"),
    (lambda x: x.repeat(2, 1.5), TypeError, r"^repeat: sizes must be integers"),
    (lambda x: dg.tile(x, (-1,)), ValueError, r"^tile: repetitions must be >= 0; got \(1, -1\)$"),
    (lambda x: x.tile("a"), TypeError, r"^tile: dims must be integers"),
])
def test_errors(fn, error, message):
    with pytest.raises(error, match=message):
        fn(dg.randn(2, 3))


def test_reshape_error_with_ambiguous_inferred_size():
    with pytest.raises(ShapeError, match=r"reshape: .* \(0, 3\) \(0 elements\) into \(-1, 0\)"
                                         r".*-1 is ambiguous"):
        dg.zeros(0, 3).reshape(-1, 0)


def test_methods_and_exports():
    for name in ("reshape", "view", "flatten", "squeeze", "unsqueeze", "permute", "transpose",
                 "expand", "broadcast_to", "clone", "contiguous", "tile"):
        assert callable(getattr(dg, name))
        assert callable(getattr(dg.Tensor, name))
    # As in PyTorch, repeat is a Tensor method only.
    assert callable(dg.Tensor.repeat)
    assert not hasattr(dg, "repeat")


def test_repeat_and_tile_copy_like_torch(torch):
    array = np.arange(6).reshape(2, 3)
    x = dg.tensor(array)
    for fn in (lambda t: t.repeat(2, 1, 2), lambda t: t.repeat(0, 2), lambda t: t.repeat(1, 1),
               lambda t: t.tile((2,)), lambda t: t.tile((3, 1, 1))):
        y = fn(x)
        np.testing.assert_array_equal(y.numpy(), fn(torch.tensor(array)).numpy())
        assert not np.shares_memory(y.numpy(), x.numpy())
    assert dg.tensor(1.5).repeat(()).shape == torch.tensor(1.5).repeat(()).shape == ()
    assert dg.tensor(1.5).repeat(2, 3).shape == (2, 3)
