"""NumPy arrays as inputs: layers and models take them (as Keras models do); functions, like
PyTorch's, take Tensors and say so clearly when given an array."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn import functional as F

rng = np.random.default_rng(0)
X4 = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
X3 = rng.standard_normal((2, 3, 8)).astype(np.float32)
X2 = rng.standard_normal((4, 5)).astype(np.float32)
W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
LABELS = np.array([0, 1, 2, 3])


def as_is(value):
    return value


# Each call takes a wrapper for its array arguments: dg.from_numpy (must work) or as_is.
FUNCTIONS = {
    "batch_norm": lambda a: F.batch_norm(a(X4), None, None, training=True),
    "binary_cross_entropy_with_logits": lambda a: F.binary_cross_entropy_with_logits(
        a(X2), a((X2 > 0).astype(np.float32))),
    "conv1d": lambda a: F.conv1d(a(X3), a(W[..., 0].copy())),
    "conv2d": lambda a: F.conv2d(a(X4), a(W)),
    "conv_transpose2d": lambda a: F.conv_transpose2d(a(X4), a(W.transpose(1, 0, 2, 3).copy())),
    "cosine_similarity": lambda a: F.cosine_similarity(a(X2), a(X2[::-1].copy())),
    "cross_entropy": lambda a: F.cross_entropy(a(X2), a(LABELS)),
    "dropout": lambda a: F.dropout(a(X2), 0.5),
    "dropout2d": lambda a: F.dropout2d(a(X4), 0.5),
    "elu": lambda a: F.elu(a(X2)),
    "gelu": lambda a: F.gelu(a(X2)),
    "group_norm": lambda a: F.group_norm(a(X4), 3),
    "instance_norm": lambda a: F.instance_norm(a(X4)),
    "interpolate": lambda a: F.interpolate(a(X4), scale_factor=2),
    "layer_norm": lambda a: F.layer_norm(a(X2), (5,)),
    "linear": lambda a: F.linear(a(X2), a(X2)),
    "log_softmax": lambda a: F.log_softmax(a(X2), 1),
    "mse_loss": lambda a: F.mse_loss(a(X2), a(X2 * 2)),
    "prelu": lambda a: F.prelu(a(X4), a(np.full(3, 0.25, np.float32))),
    "sigmoid": lambda a: F.sigmoid(a(X2)),
    "silu": lambda a: F.silu(a(X2)),
    "softmax": lambda a: F.softmax(a(X2), 1),
    "softplus": lambda a: F.softplus(a(X2)),
    "tanh": lambda a: F.tanh(a(X2)),
    "exp": lambda a: dg.exp(a(X2)),
    "clamp": lambda a: dg.clamp(a(LABELS), 0.5, 2.5),
    "sum": lambda a: dg.sum(a(X2)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_name_themselves_when_given_an_array(name):
    FUNCTIONS[name](dg.from_numpy)  # the same call on Tensors works
    with pytest.raises(TypeError, match=rf"^{name}: input must be a Tensor; got ndarray; "
                                        r"dg\.tensor\(x\) makes one"):
        FUNCTIONS[name](as_is)


def test_a_weight_that_is_an_array_is_named():
    with pytest.raises(TypeError, match=r"^conv2d: weight must be a Tensor; got ndarray"):
        F.conv2d(dg.from_numpy(X4), W)
    with pytest.raises(TypeError, match=r"^linear: bias must be a Tensor; got list"):
        F.linear(dg.from_numpy(X2), dg.from_numpy(X2), [0.0] * 4)


@pytest.mark.parametrize("make, x", [
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                           nn.Linear(64, 2)), X4),
    (lambda: dg.models.cnn(in_channels=3, image_size=6, widths=(4,)), X4),
    (lambda: nn.LSTM(8, 4, batch_first=True), X3),
    (lambda: nn.LayerNorm(5), X2),
])
def test_layers_and_models_take_arrays(make, x):
    dg.manual_seed(0)
    model = make().eval()
    got, want = model(x), model(dg.tensor(x))
    if isinstance(got, tuple):  # recurrent layers: (output, state)
        got, want = got[0], want[0]
    assert isinstance(got, dg.Tensor)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_loss_module_takes_array_targets_and_keeps_the_gradient():
    logits = dg.from_numpy(X2.copy()).requires_grad_()
    nn.CrossEntropyLoss()(logits, LABELS).backward()
    assert logits.grad.shape == X2.shape


def test_float_arrays_take_the_dtype_of_the_parameters_and_integers_stay():
    layer = nn.Linear(5, 2)
    assert layer(X2.astype(np.float64)).dtype == dg.float32
    assert layer.double()(X2).dtype == dg.float64
    embedding = nn.Embedding(4, 3)
    np.testing.assert_array_equal(embedding(LABELS).numpy(), embedding.weight.numpy())
    assert nn.ReLU()(X2.astype(np.float64)).dtype == dg.float64  # no parameters: kept
