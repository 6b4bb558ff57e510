"""``inplace=True`` on the activations and dropouts (PyTorch's argument): the input's memory holds
the output and the input is returned, in a graph as outside one; gradients equal the
out-of-place ones (gradcheck and torch parity); what cannot be recorded says so; an export
trace follows it."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export import ExportError, simplify, trace
from deepgrad.nn import functional as F
from deepgrad_runtime.graph import save_artifact

# name: (deepgrad call, torch call), each f(x, inplace)
ACTIVATIONS = {
    "relu": (F.relu, lambda t, x, i: t.nn.functional.relu(x, inplace=i)),
    "relu6": (F.relu6, lambda t, x, i: t.nn.functional.relu6(x, inplace=i)),
    "leaky_relu": (lambda x, i: F.leaky_relu(x, 0.2, i),
                   lambda t, x, i: t.nn.functional.leaky_relu(x, 0.2, i)),
    "elu": (lambda x, i: F.elu(x, 0.7, i), lambda t, x, i: t.nn.functional.elu(x, 0.7, i)),
    "celu": (lambda x, i: F.celu(x, 1.3, i), lambda t, x, i: t.nn.functional.celu(x, 1.3, i)),
    "selu": (F.selu, lambda t, x, i: t.nn.functional.selu(x, inplace=i)),
    "hardtanh": (lambda x, i: F.hardtanh(x, -0.5, 0.8, i),
                 lambda t, x, i: t.nn.functional.hardtanh(x, -0.5, 0.8, i)),
    "threshold": (lambda x, i: F.threshold(x, 0.1, -2.0, i),
                  lambda t, x, i: t.nn.functional.threshold(x, 0.1, -2.0, i)),
    "rrelu (eval)": (lambda x, i: F.rrelu(x, 0.1, 0.3, False, i),
                     lambda t, x, i: t.nn.functional.rrelu(x, 0.1, 0.3, False, i)),
    "silu": (F.silu, lambda t, x, i: t.nn.functional.silu(x, inplace=i)),
    "mish": (F.mish, lambda t, x, i: t.nn.functional.mish(x, inplace=i)),
    "hardswish": (F.hardswish, lambda t, x, i: t.nn.functional.hardswish(x, inplace=i)),
    "hardsigmoid": (F.hardsigmoid, lambda t, x, i: t.nn.functional.hardsigmoid(x, inplace=i)),
}

X = np.random.default_rng(0).uniform(-4, 4, (3, 7)).round(3)  # away from the kinks at 0.1 steps


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_in_a_graph_it_overwrites_its_input_and_matches_torch(torch, name):
    ours, theirs = ACTIVATIONS[name]
    g = np.random.default_rng(1).standard_normal(X.shape)
    results = []
    for inplace in (False, True):
        x = dg.tensor(X, requires_grad=True)
        h = x * 1.5  # not a leaf: what an in-place activation is for
        y = ours(h, inplace)
        assert (y is h) == inplace
        (y * dg.tensor(g)).sum().backward()
        results.append((y.numpy(), x.grad.numpy()))
    for out_of_place, in_place in zip(*results):
        np.testing.assert_array_equal(in_place, out_of_place)
    xt = torch.tensor(X, requires_grad=True)
    ht = xt * 1.5
    yt = theirs(torch, ht, True)
    (yt * torch.tensor(g)).sum().backward()
    assert_close(results[1][0], yt, what="output")
    # torch's in-place CELU differentiates from its output, and its Hardsigmoid multiplies by
    # 1/6 rounded to float32: a relative difference of up to 4e-8.
    np.testing.assert_allclose(results[1][1], xt.grad.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradcheck(name):
    ours = ACTIVATIONS[name][0]
    x = dg.tensor(X, requires_grad=True)
    assert dg.gradcheck(lambda x: ours(x * 1.0, True), [x])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_outside_a_graph_it_writes_the_values_back(name):
    ours = ACTIVATIONS[name][0]
    expected = ours(dg.tensor(X), False).numpy()
    x = dg.tensor(X.copy())
    assert ours(x, True) is x and x._version == 1
    np.testing.assert_array_equal(x.numpy(), expected)
    array = X.copy()  # a NumPy array is written too
    np.testing.assert_array_equal(ours(array, True).numpy(), expected)
    np.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize("function", [F.dropout, F.dropout1d, F.dropout2d])
def test_dropout_in_place_draws_and_differentiates_as_out_of_place(function):
    a = np.random.default_rng(2).standard_normal((4, 6, 5))
    results = []
    for inplace in (False, True):
        dg.manual_seed(3)
        x = dg.tensor(a, requires_grad=True)
        h = x * 2.0
        y = function(h, 0.4, True, inplace)
        assert (y is h) == inplace
        y.sum().backward()
        results.append((y.numpy(), x.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
    x = dg.tensor(a, requires_grad=True)  # the identity when not training: even for a leaf
    assert function(x, 0.4, False, True) is x and x._version == 0


def test_modules_in_place_train_as_out_of_place():
    def model(inplace):
        dg.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 16), nn.ReLU(inplace=inplace), nn.Linear(16, 16),
                             nn.SiLU(inplace), nn.Dropout(0.3, inplace=inplace),
                             nn.Linear(16, 16), nn.LeakyReLU(0.1, inplace), nn.Linear(16, 3),
                             nn.Hardtanh(-1.0, 1.0, inplace))

    x = np.random.default_rng(4).standard_normal((8, 5)).astype(np.float32)
    results = []
    for inplace in (False, True):
        net = model(inplace)
        dg.manual_seed(1)
        out = net(dg.tensor(x))
        out.sum().backward()
        results.append([out.numpy()] + [p.grad.numpy() for p in net.parameters()])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_reprs_say_inplace_as_pytorch():
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)" and repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU(0.2, True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.Dropout(0.3, inplace=True)) == "Dropout(p=0.3, inplace=True)"
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"


def test_the_underscore_forms_are_inplace():
    x = dg.tensor([-1.0, 2.0])
    assert F.relu_(x) is x and x.tolist() == [0.0, 2.0]
    y = dg.tensor([-1.0, 2.0])
    assert F.leaky_relu_(y, 0.5) is y and y.tolist() == [-0.5, 2.0]


def test_what_cannot_be_recorded_says_so():
    leaf = dg.tensor(X, requires_grad=True)
    with pytest.raises(dg.BackwardError, match=r"relu\(inplace=True\): in-place operation on "
                                               r"a leaf that requires grad"):
        F.relu(leaf, inplace=True)
    h = leaf * 1.0
    with pytest.raises(dg.BackwardError, match=r"silu\(inplace=True\): in-place operation on "
                                               r"a view"):
        F.silu(h[0], inplace=True)
    view = h.reshape(21)  # a view the graph goes on to use
    with pytest.raises(dg.BackwardError, match="on a tensor whose views the graph uses"):
        F.relu(h, inplace=True)
    del view
    F.relu(h, inplace=True)  # no live view any more
    with dg.no_grad():  # outside a graph a leaf may be overwritten, as any tensor
        F.relu(leaf, inplace=True)


def test_overwriting_what_a_backward_needs_fails_there_as_in_pytorch():
    x = dg.tensor(X, requires_grad=True)
    s = x.sigmoid()  # its backward reads its output
    F.relu(s, inplace=True)
    with pytest.raises(dg.BackwardError, match="modified in place"):
        s.sum().backward()


def test_an_export_trace_follows_in_place_activations(tmp_path):
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Dropout(0.5, inplace=True),
                          nn.Linear(8, 3), nn.Hardswish(inplace=True)).eval()
    x = np.random.default_rng(5).standard_normal((6, 4)).astype(np.float32)
    before = x.copy()
    runtime = deepgrad_runtime.load(save_artifact(simplify(trace(model, x)), tmp_path / "rt"))
    np.testing.assert_array_equal(x, before)  # the example input is left as it was
    np.testing.assert_allclose(runtime.run(x), model(dg.tensor(x)).numpy(), rtol=1e-5,
                               atol=1e-6)

    class ReadsTheOverwritten(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            h = self.fc(x)
            F.relu(h, inplace=True)  # the result dropped: h stands for it
            return h * 2.0

    with pytest.raises(ExportError, match="reads a tensor after an in-place op"):
        trace(ReadsTheOverwritten(), x)
