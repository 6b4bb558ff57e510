"""dg.detect_anomaly: backward names the op and the layer where NaN or inf first appeared."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

# The NaN and inf these tests make on purpose also make NumPy warn.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


class LogLayer(nn.Module):
    """A layer that takes the log of its input: -inf at 0, NaN below."""

    def forward(self, x):
        return x.log()


def _model():
    dg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), LogLayer(), nn.Linear(4, 1))


def test_non_finite_loss_names_the_first_op_and_its_layer():
    model = _model()
    x = dg.tensor([[-1.0, -2.0, -3.0]] * 2)
    with dg.no_grad():
        model[0].weight.data[:] = 1.0  # every pre-activation negative: relu gives 0, log -inf
        model[0].bias.data[:] = 0.0
    with dg.detect_anomaly():
        loss = model(x).sum()
        with pytest.raises(dg.BackwardError) as info:
            loss.backward()
    text = str(info.value)
    assert "first op of the forward pass that produced NaN or inf" in text
    assert "Log in layer '2' (LogLayer)" in text


def test_non_finite_gradient_names_the_op():
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    with dg.detect_anomaly():
        y = x.sqrt().sum()  # finite forward; d sqrt / dx = inf at 0
        with pytest.raises(dg.BackwardError, match=r"Sqrt returned a NaN or inf gradient"):
            y.backward()


def test_a_non_finite_input_is_reported_as_such():
    x = dg.tensor([np.nan, 1.0], requires_grad=True)
    with dg.detect_anomaly(), pytest.raises(dg.BackwardError, match="an input was already NaN"):
        (x * 2).sum().backward()


def test_without_anomaly_mode_backward_does_not_check():
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_finite_loss_with_an_intermediate_inf_is_fine():
    # Masking with -inf before a softmax is legitimate: the loss and the gradients stay finite.
    x = dg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    mask = dg.tensor([[False, False, True]])
    with dg.detect_anomaly():
        loss = x.masked_fill(mask, float("-inf")).softmax(1)[0, 0]
        loss.backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert not dg.is_anomaly_enabled()
