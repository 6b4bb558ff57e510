"""no_grad / enable_grad as context managers and decorators, nesting, and restoring on errors."""

import pytest

import deepgrad as dg


@pytest.fixture(autouse=True)
def _grad_mode_is_restored():
    assert dg.is_grad_enabled()
    yield
    assert dg.is_grad_enabled()


def _records() -> bool:
    y = dg.tensor([1.0], requires_grad=True) * 2.0
    assert y.requires_grad == (y.grad_fn is not None)
    return y.requires_grad


def test_grad_is_enabled_by_default():
    assert dg.is_grad_enabled()
    assert _records()


def test_no_grad_context_manager():
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        assert not _records()
    assert dg.is_grad_enabled()
    assert _records()


def test_no_grad_results_are_plain_leaves():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with dg.no_grad():
        y = (x * x).exp()
    assert y.is_leaf
    assert y.grad_fn is None
    assert not y.requires_grad


def test_no_grad_decorator():
    @dg.no_grad()
    def double(x):
        """Double it."""
        assert not dg.is_grad_enabled()
        return x * 2.0

    y = double(dg.tensor([1.0], requires_grad=True))
    assert not y.requires_grad
    assert dg.is_grad_enabled()
    assert double.__name__ == "double"
    assert double.__doc__ == "Double it."


def test_no_grad_context_manager_restores_after_an_exception():
    with pytest.raises(KeyError), dg.no_grad():
        raise KeyError("boom")
    assert dg.is_grad_enabled()


def test_no_grad_decorator_restores_after_an_exception():
    @dg.no_grad()
    def fail():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fail()
    assert dg.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    with dg.no_grad():
        with dg.enable_grad():
            assert dg.is_grad_enabled()
            assert _records()
        assert not dg.is_grad_enabled()
        assert not _records()


def test_enable_grad_decorator_inside_no_grad():
    @dg.enable_grad()
    def f():
        return _records()

    with dg.no_grad():
        assert f()
        assert not dg.is_grad_enabled()


def test_enable_grad_restores_no_grad_after_an_exception():
    with dg.no_grad():
        with pytest.raises(ValueError), dg.enable_grad():
            raise ValueError
        assert not dg.is_grad_enabled()


def test_nesting_restores_each_level():
    states = []
    with dg.no_grad():
        states.append(dg.is_grad_enabled())
        with dg.no_grad():
            states.append(dg.is_grad_enabled())
            with dg.enable_grad():
                states.append(dg.is_grad_enabled())
                with dg.no_grad():
                    states.append(dg.is_grad_enabled())
                states.append(dg.is_grad_enabled())
            states.append(dg.is_grad_enabled())
        states.append(dg.is_grad_enabled())
    states.append(dg.is_grad_enabled())
    assert states == [False, False, True, False, True, False, False, True]


def test_one_instance_can_be_reentered():
    guard = dg.no_grad()
    with dg.enable_grad():
        with guard:
            with guard:
                assert not dg.is_grad_enabled()
            assert not dg.is_grad_enabled()
        assert dg.is_grad_enabled()


def test_decorated_function_called_from_inside_no_grad_keeps_the_outer_state():
    @dg.no_grad()
    def inner():
        return dg.is_grad_enabled()

    with dg.enable_grad():
        assert not inner()
        assert dg.is_grad_enabled()
    with dg.no_grad():
        assert not inner()
        assert not dg.is_grad_enabled()


def test_backward_still_works_after_no_grad_block():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    with dg.no_grad():
        frozen = w * 3.0
    (w * frozen).backward(dg.ones(2))
    assert w.grad.tolist() == [3.0, 6.0]


def test_set_grad_enabled_as_call_context_and_decorator():
    dg.set_grad_enabled(False)
    try:
        assert not _records()  # a plain call lasts until changed
    finally:
        dg.set_grad_enabled(True)
    for training in (False, True):
        with dg.set_grad_enabled(training):
            assert _records() == training
        assert dg.is_grad_enabled()
    with dg.no_grad(), dg.set_grad_enabled(True):
        assert _records()

    @dg.set_grad_enabled(False)
    def evaluate():
        return _records()

    assert dg.is_grad_enabled()  # decorating changes nothing outside the calls
    assert not evaluate()
    with pytest.raises(TypeError, match="True or False"):
        dg.set_grad_enabled("no")


def test_inference_mode_is_no_grad_under_pytorchs_name():
    with dg.inference_mode():
        assert not _records()
        y = dg.tensor([2.0]) * 3.0
    with dg.inference_mode(False):
        assert _records()

    @dg.inference_mode()
    def predict():
        return _records()

    assert not predict()
    w = dg.tensor([1.0], requires_grad=True)
    (w * y).sum().backward()  # a tensor made inside joins a later graph
    assert w.grad.numpy().tolist() == [6.0]
