"""nn.summary: output shapes, parameter counts (trainable and frozen), activation memory."""

import pytest

import deepgrad as dg
from deepgrad import nn


def test_summary_table_and_counts(capsys):
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(),
                          nn.Sequential(nn.Linear(256, 10), nn.LogSoftmax(dim=1)))
    model[0].requires_grad_(False)
    model.train()
    result = nn.summary(model, (32, 784))
    printed = capsys.readouterr().out
    assert printed.strip() == str(result)
    assert result.total_params == 784 * 256 + 256 + 256 * 10 + 10
    assert result.frozen_params == 784 * 256 + 256
    assert result.trainable_params == 256 * 10 + 10
    assert [row[:3] for row in result.rows] == [
        ("0", "Linear", "(32, 256)"), ("1", "ReLU", "(32, 256)"), ("2", "Sequential", "(32, 10)"),
        ("2.0", "Linear", "(32, 10)"), ("2.1", "LogSoftmax", "(32, 10)")]
    assert result.activation_bytes == 4 * 32 * (256 + 256 + 10 + 10)
    assert "Total params: 203,530" in printed and "Frozen params: 200,960" in printed
    assert model.training  # the mode is restored


def test_summary_quiet_and_hooks_removed():
    model = nn.Sequential(nn.Linear(3, 2))
    nn.summary(model, (1, 3), verbose=False)
    assert all(not m._forward_hooks for m in model.modules())


def test_summary_of_a_shape_without_the_batch_dimension_says_so():
    model = dg.models.cnn()
    with pytest.raises(dg.errors.ShapeError) as info:
        dg.nn.summary(model, (1, 28, 28), verbose=False)
    assert str(info.value).startswith(
        "summary: a batch of shape (1, 28, 28) does not fit the model (input_shape includes the "
        "batch dimension, e.g. (1, 1, 28, 28) for one 28x28 image): BatchNorm2d 'features.1'")
    assert model.training  # the model's mode is restored after the failure
