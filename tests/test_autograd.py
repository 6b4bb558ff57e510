"""The backward pass: gradients, accumulation, graph recording, deep graphs, retain_graph, errors,
hooks, in-place rules, ownership of .grad arrays, custom Functions and memory."""

import gc
import itertools
import re
import tracemalloc
import weakref
from typing import ClassVar

import numpy as np
import pytest

import deepgrad as dg

# ---------------------------------------------------------------- gradients


def test_issue_example_with_fixed_weights():
    w = dg.tensor([[1.0, -1.0], [0.5, -2.0], [-0.5, 1.0]], requires_grad=True)
    x = dg.tensor([[1.0, 2.0, 3.0]])
    y = (x @ w).relu().sum()
    y.backward()
    # x @ w = [0.5, -2.0]: only column 0 passes the relu, and its gradient is x.
    assert y.item() == pytest.approx(0.5)
    np.testing.assert_array_equal(w.grad.numpy(), [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert w.grad.dtype == dg.float32
    assert x.grad is None


def test_issue_example_with_random_weights():
    dg.manual_seed(0)
    w = dg.randn(3, 2, requires_grad=True)
    x = dg.tensor([[1.0, 2.0, 3.0]])
    y = (x @ w).relu().sum()
    y.backward()
    pre = x.numpy() @ w.numpy()
    expected = np.outer(x.numpy()[0], (pre[0] > 0).astype(np.float32))
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-6)
    assert y.item() == pytest.approx(float(np.maximum(pre, 0).sum()), rel=1e-6)


def test_gradients_accumulate_over_backward_calls():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    np.testing.assert_array_equal(first.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    assert x.grad is first
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0, 9.0])


def test_setting_grad_to_none_restarts_accumulation():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2.0).sum().backward()
    x.grad = None
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])


def test_backward_from_a_leaf():
    x = dg.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_intermediate_tensors_get_no_grad():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    (h * h).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])


def test_mixed_dtypes_give_the_leaf_its_own_dtype():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    w = dg.tensor([3.0, 4.0], dtype=dg.float64, requires_grad=True)
    y = x * w
    assert y.dtype == dg.float64
    y.sum().backward()
    assert x.grad.dtype == dg.float32
    assert w.grad.dtype == dg.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


# ---------------------------------------------------------------- what gets recorded


def test_graph_is_recorded_only_when_an_input_requires_grad():
    x = dg.tensor([1.0, 2.0])
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    plain = x * 2
    assert plain.grad_fn is None
    assert not plain.requires_grad
    assert plain.is_leaf
    both = x * w
    assert both.requires_grad
    assert both.grad_fn is not None
    assert not both.is_leaf
    assert (both + x).requires_grad


def test_graph_is_not_recorded_under_no_grad():
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    with dg.no_grad():
        y = w * 2
    assert y.grad_fn is None
    assert not y.requires_grad


# ---------------------------------------------------------------- shared subgraphs


def test_tensor_used_twice_gets_the_summed_gradient():
    x = dg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy() + 1)


def test_diamond_graph():
    values = np.array([0.5, -1.0, 2.0])
    x = dg.tensor(values, dtype=dg.float64, requires_grad=True)
    b = x * 2.0
    c = x * 3.0
    (b * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 12 * values, rtol=1e-15)


def test_intermediate_used_twice():
    values = np.array([0.5, -1.0, 2.0])
    x = dg.tensor(values, dtype=dg.float64, requires_grad=True)
    h = x.exp()
    (h * h + h).sum().backward()
    e = np.exp(values)
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + e, rtol=1e-14)


def test_diamond_graph_against_gradcheck():
    x = dg.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)

    def fn(x):
        h = x.tanh()
        a = h * x
        b = h.exp() - a
        return a * b + h

    assert dg.gradcheck(fn, [x])


def test_deep_chain_backpropagates_and_frees_without_recursion():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.backward(dg.ones(2))
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    ref = weakref.ref(y.grad_fn)
    del y
    assert ref() is None


# ---------------------------------------------------------------- retain_graph and errors


def test_second_backward_without_retain_graph_raises():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    y.backward()
    with pytest.raises(dg.BackwardError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).exp().sum()
    y.backward(retain_graph=True)
    first_x, first_w = x.grad.numpy().copy(), w.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_x, rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), 2 * first_w, rtol=1e-6)
    with pytest.raises(dg.BackwardError, match="second time"):
        y.backward()


def test_backward_error_is_a_runtime_error():
    assert issubclass(dg.BackwardError, RuntimeError)


def test_backward_on_a_non_scalar_needs_a_gradient():
    y = dg.tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(dg.BackwardError, match=re.escape(
            "backward() without a gradient needs a one-element output; this tensor has shape "
            "(2, 3)")):
        y.backward()


def test_backward_with_a_gradient():
    x = dg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = x * 2.0
    y.backward(np.array([[1.0, 0.5, -1.0]], np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 1.0, -2.0]])
    y2 = x * 1.0
    y2.backward(dg.tensor([[1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 2.0, -1.0]])


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = dg.tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(dg.BackwardError, match=re.escape(
            "backward(grad): grad has shape (3) but the tensor has shape (2, 3)")):
        y.backward(np.ones(3))
    with pytest.raises(dg.BackwardError, match=re.escape("grad has shape (3, 2)")):
        y.backward(dg.ones(3, 2))


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(dg.BackwardError, match="does not require grad"):
        dg.tensor([1.0]).backward()
    with pytest.raises(dg.BackwardError, match=r"dg\.no_grad\(\)"):
        with dg.no_grad():
            y = dg.tensor([1.0], requires_grad=True) * 2.0
        y.backward()


# ---------------------------------------------------------------- hooks


def test_hook_on_a_leaf_sees_its_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 3.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_leaf_hook_sees_the_total_gradient_once_when_used_twice():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 2.0 + x * 3.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])


def test_hook_on_an_intermediate():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h * h).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], 2 * h.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 4 * h.numpy())


def test_intermediate_used_twice_calls_its_hook_once_with_the_sum():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h * 2.0 + h * 3.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])


@pytest.mark.parametrize("where", ["leaf", "intermediate", "root"])
def test_hook_returning_a_gradient_replaces_it(where):
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    y = h.sum()
    target = {"leaf": x, "intermediate": h, "root": y}[where]
    target.register_hook(lambda g: g * 10.0)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 20.0])


def test_hook_returning_none_keeps_the_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h.register_hook(lambda g: None)
    x.register_hook(lambda g: None)
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("where", ["leaf", "intermediate"])
def test_removed_hook_is_not_called(where):
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    calls = []
    handle = (x if where == "leaf" else h).register_hook(lambda g: calls.append(1) or g * 0.0)
    handle.remove()
    handle.remove()
    h.sum().backward()
    assert calls == []
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_hooks_run_in_registration_order():
    x = dg.tensor([1.0], requires_grad=True)
    x.register_hook(lambda g: g + 1.0)
    x.register_hook(lambda g: g * 10.0)
    (x * 1.0).sum().backward()
    assert x.grad.item() == 20.0


def test_hook_on_a_tensor_without_grad_raises():
    with pytest.raises(dg.BackwardError, match="cannot register a hook on a tensor that does not"):
        dg.tensor([1.0]).register_hook(lambda g: g)


# ---------------------------------------------------------------- in-place rules


def test_parameter_update_under_no_grad_keeps_the_object():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    original, data = w, w.numpy()
    with dg.no_grad():
        w -= 0.1 * w.grad
    assert w is original
    assert w.numpy() is data
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6], rtol=1e-6)
    assert w.requires_grad
    assert w.is_leaf
    (w * 1.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 5.0], rtol=1e-6)


@pytest.mark.parametrize("update", [
    lambda w: w.__iadd__(1.0),
    lambda w: w.__isub__(1.0),
    lambda w: w.__imul__(2.0),
    lambda w: w.__itruediv__(2.0),
    lambda w: w.add_(1.0),
    lambda w: w.sub_(1.0, alpha=0.5),
    lambda w: w.mul_(2.0),
    lambda w: w.div_(2.0),
    lambda w: w.copy_(dg.zeros(2)),
    lambda w: w.fill_(0.0),
    lambda w: w.zero_(),
], ids=["iadd", "isub", "imul", "itruediv", "add_", "sub_", "mul_", "div_", "copy_", "fill_",
        "zero_"])
def test_inplace_on_a_leaf_requiring_grad_needs_no_grad(update):
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(dg.BackwardError, match=r"leaf that requires grad.*dg\.no_grad\(\)"):
        update(w)
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])
    with dg.no_grad():
        assert update(w) is w


def test_inplace_on_a_tensor_in_the_graph_is_refused_outside_recording():
    # In a graph it is recorded (tests/test_inplace_graph.py); under no_grad the graph that
    # produced the tensor would silently see other values.
    h = dg.tensor([1.0, 2.0], requires_grad=True) * 2.0
    with dg.no_grad(), pytest.raises(dg.BackwardError, match="produced by an operation"):
        h += 1.0


def test_modifying_a_saved_input_in_place_is_caught():
    x = dg.tensor([1.0, 2.0])
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    y = x * w
    x += 1.0
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.sum().backward()


def test_updating_a_saved_parameter_before_backward_is_caught():
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    loss = (w * w).sum()
    with dg.no_grad():
        w -= 1.0
    with pytest.raises(dg.BackwardError, match=r"Mul\w*: one of the tensors it saved"):
        loss.backward()


def test_modifying_an_input_that_nothing_saved_is_allowed():
    x = dg.tensor([1.0, 2.0])
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    y = x + w
    x += 1.0
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("used", ["base", "alias"])
def test_modifying_through_a_detached_alias_is_caught(used):
    x = dg.tensor([1.0, 2.0])
    alias = x.detach()
    w = dg.tensor([3.0, 4.0], requires_grad=True)
    if used == "base":
        y = x * w
        alias += 1.0
    else:
        y = alias * w
        x += 1.0
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.sum().backward()


def test_modifying_a_saved_output_through_detach_is_caught():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.detach().mul_(0.0)
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.sum().backward()


# ---------------------------------------------------------------- ownership of .grad arrays


@pytest.mark.parametrize("make", [
    lambda a, b: (a + b).sum(),
    lambda a, b: (a + b + a * 0.0).sum(),
    lambda a, b: (a - b).sum(),
    lambda a, b: (a.reshape(2, 2) + b.reshape(2, 2)).sum(),
], ids=["add", "add-accumulated", "sub", "reshape-views"])
def test_grads_of_two_leaves_are_separate_writable_arrays(make):
    a = dg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = dg.tensor([5.0, 6.0, 7.0, 8.0], requires_grad=True)
    make(a, b).backward()
    assert a.grad.numpy() is not b.grad.numpy()
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    before = b.grad.numpy().copy()
    a.grad.numpy()[:] = 0.0
    np.testing.assert_array_equal(b.grad.numpy(), before)
    assert b.grad.numpy().flags.writeable
    assert b.grad.numpy().flags.c_contiguous


@pytest.mark.parametrize("wrap", [np.asarray, dg.from_numpy], ids=["array", "tensor"])
def test_user_gradient_is_not_adopted_as_grad(wrap):
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([3.0, 4.0], requires_grad=True)
    g = np.array([1.0, 2.0], np.float32)
    (a + b).backward(wrap(g))
    g[:] = 100.0
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0])


def test_user_gradient_of_a_leaf_root_is_copied():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([3.0, 4.0], np.float32)
    a.backward(g)
    g[:] = 0.0
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


def test_broadcast_gradient_is_materialized():
    a = dg.tensor(np.ones((2, 3)), requires_grad=True)
    a.sum().backward()
    grad = a.grad.numpy()
    assert grad.shape == (2, 3)
    assert grad.flags.writeable
    assert grad.flags.owndata
    grad[0, 0] = 5.0
    assert grad[1, 2] == 1.0


# ---------------------------------------------------------------- custom Functions


class Cube(dg.Function):
    """y = x**3;  gx = gy * 3 x**2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return x**3

    @staticmethod
    def backward(ctx, gy):
        return gy * 3 * ctx.x**2


class SinCos(dg.Function):
    """(sin x, cos x);  gx = gs * cos x - gc * sin x, with None for an unused output."""

    calls: ClassVar[list] = []

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return np.sin(x), np.cos(x)

    @staticmethod
    def backward(ctx, gs, gc):
        SinCos.calls.append((gs is None, gc is None))
        gx = np.zeros_like(ctx.x)
        if gs is not None:
            gx = gx + gs * np.cos(ctx.x)
        if gc is not None:
            gx = gx - gc * np.sin(ctx.x)
        return gx


class MaxWithIndex(dg.Function):
    """(max, argmax) of a 1-D x; the index carries no gradient."""

    non_differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, x):
        index = int(np.argmax(x))
        ctx.save(shape=x.shape, index=index)
        return x[index], np.asarray(index)

    @staticmethod
    def backward(ctx, gy, gindex):
        gx = np.zeros(ctx.shape, gy.dtype)
        gx[ctx.index] = gy
        return gx


class ScaledProduct(dg.Function):
    """y = scale * a * b, recording which gradients were asked for."""

    seen: ClassVar[list] = []

    @staticmethod
    def forward(ctx, a, b, scale=1.0):
        ScaledProduct.seen.append(tuple(ctx.needs_input_grad[i] for i in range(2)))
        ctx.save(a=a if ctx.needs_input_grad[1] else None,
                 b=b if ctx.needs_input_grad[0] else None, scale=scale)
        return scale * a * b

    @staticmethod
    def backward(ctx, gy):
        ga = gy * ctx.scale * ctx.b if ctx.needs_input_grad[0] else None
        gb = gy * ctx.scale * ctx.a if ctx.needs_input_grad[1] else None
        return ga, gb


def test_custom_function_passes_gradcheck():
    x = dg.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert dg.gradcheck(Cube.apply, [x])
    y = Cube.apply(x)
    assert isinstance(y.grad_fn, Cube)
    assert "grad_fn=<CubeBackward" in repr(y)


def test_custom_function_records_nothing_without_grad():
    y = Cube.apply(dg.tensor([2.0]))
    assert y.grad_fn is None
    assert not y.requires_grad
    assert y.item() == 8.0


def test_multi_output_function():
    x = dg.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    s, c = SinCos.apply(x)
    assert s.requires_grad and c.requires_grad
    assert s.grad_fn is c.grad_fn
    (s * 2.0 + c * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(x.numpy()) - 3 * np.sin(x.numpy()),
                               rtol=1e-14)
    assert dg.gradcheck(SinCos.apply, [x])


@pytest.mark.parametrize(("used", "expected_nones"), [(0, (False, True)), (1, (True, False))])
def test_unused_output_gets_none(used, expected_nones):
    x = dg.tensor(np.array([0.3, -1.2]), requires_grad=True)
    SinCos.calls.clear()
    SinCos.apply(x)[used].sum().backward()
    assert SinCos.calls == [expected_nones]
    expected = np.cos(x.numpy()) if used == 0 else -np.sin(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-14)


def test_non_differentiable_output():
    x = dg.tensor([1.0, 5.0, 2.0], requires_grad=True)
    value, index = MaxWithIndex.apply(x)
    assert value.requires_grad
    assert not index.requires_grad
    assert index.item() == 1
    value.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


@pytest.mark.parametrize(("a_grad", "b_grad"), [(True, False), (False, True), (True, True)])
def test_needs_input_grad_is_respected(a_grad, b_grad):
    a = dg.tensor([1.0, 2.0], requires_grad=a_grad)
    b = dg.tensor([3.0, 4.0], requires_grad=b_grad)
    ScaledProduct.seen.clear()
    y = ScaledProduct.apply(a, b, scale=2.0)
    assert ScaledProduct.seen == [(a_grad, b_grad)]
    y.sum().backward()
    assert (a.grad is not None) == a_grad
    assert (b.grad is not None) == b_grad
    if a_grad:
        np.testing.assert_array_equal(a.grad.numpy(), [6.0, 8.0])
    if b_grad:
        np.testing.assert_array_equal(b.grad.numpy(), [2.0, 4.0])


def test_plain_positional_arguments_get_no_gradient():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ScaledProduct.apply(x, np.array([3.0, 4.0]), scale=0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.5, 2.0])


def test_backward_must_return_one_gradient_per_positional_argument():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = ScaledProduct.apply(x, np.array([3.0, 4.0]), 0.5)
    with pytest.raises(dg.BackwardError, match=re.escape(
            "ScaledProduct.backward returned 2 gradients for 3 inputs")):
        y.sum().backward()


def test_reading_a_value_that_was_not_saved():
    x = dg.tensor([1.0], requires_grad=True)
    y = Cube.apply(x)
    with pytest.raises(AttributeError, match="Cube saved no value named 'missing'"):
        _ = y.grad_fn.missing


# ---------------------------------------------------------------- memory


def test_graph_is_freed_by_reference_counting():
    gc.collect()
    gc.disable()
    try:
        w = dg.tensor(np.ones((3, 3)), requires_grad=True)
        loss = ((w @ w).tanh() * w).sum()
        node = weakref.ref(loss.grad_fn)
        loss.backward()
        del loss
        assert node() is None
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_training_loop_memory_stays_flat():
    rng = np.random.default_rng(0)
    sizes = [20, 32, 32, 3]
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        params.append(dg.tensor(rng.standard_normal((fan_in, fan_out)) * 0.3, dtype=dg.float32,
                                requires_grad=True))
        params.append(dg.zeros(fan_out, requires_grad=True))
    x = dg.tensor(rng.standard_normal((16, 20)), dtype=dg.float32)
    target = dg.tensor(rng.standard_normal((16, 3)), dtype=dg.float32)

    def step():
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = h.relu()
        loss = ((h - target) ** 2).mean()
        loss.backward()
        with dg.no_grad():
            for p in params:
                p -= 0.01 * p.grad
                p.grad = None
        return loss.item()

    gc.collect()
    # With the cycle collector off, a reference cycle per step would pile up and show.
    gc.disable()
    try:
        first = step()
        for _ in range(99):
            step()
        gc.collect()  # empties the interpreter's free lists, which fill up during warm-up
        tracemalloc.start()
        try:
            for _ in range(900):
                last = step()
            cycles = gc.collect()
            growth = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    finally:
        gc.enable()
    assert last < first
    assert cycles == 0
    assert growth < 64 * 1024


def test_retain_grad_keeps_an_intermediate_gradient_as_torch(torch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    outs = []
    for lib, t in ((dg, x), (torch, tx)):
        h = lib.tanh(t * 2)
        h.retain_grad()
        h.retain_grad()  # twice: still one gradient
        loss = (h * h).sum()
        loss.backward(retain_graph=True)
        loss.backward()  # accumulated, as a leaf's
        outs.append(h)
    np.testing.assert_allclose(outs[0].grad.numpy(), outs[1].grad.numpy(), rtol=1e-12)
    assert outs[0].retains_grad and not x.retains_grad
    x.retain_grad()  # a leaf keeps its gradient anyway
    with pytest.raises(dg.BackwardError, match="retain_grad: this tensor does not require grad"):
        dg.ones(2).retain_grad()
