"""parameters_to_vector and vector_to_parameters against torch.nn.utils (values, order, dtype,
gradients through the vector), writing back in place, errors."""

import numpy as np
import pytest
from helpers import assert_close

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn import Parameter
from deepgrad.nn.utils import parameters_to_vector, vector_to_parameters

SHAPES = [(3, 4), (4,), (), (2, 1, 3)]


def weights(dtypes=(np.float64,) * 4):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for shape, dtype in zip(SHAPES, dtypes)]


@pytest.mark.parametrize("dtypes", [(np.float64,) * 4, (np.float32,) * 4,
                                    (np.float32, np.float64, np.float32, np.float32)])
def test_parameters_to_vector_matches_torch_with_gradients(torch, dtypes):
    arrays = weights(dtypes)
    ours = [Parameter(a.copy()) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    vec = parameters_to_vector(ours)
    expected = torch.nn.utils.parameters_to_vector(theirs)
    assert vec.shape == (23,) and vec.dtype == np.dtype(str(expected.dtype).split(".")[1])
    assert_close(vec, expected, vec.dtype, "vector")
    g = np.random.default_rng(1).standard_normal(23)
    (vec * dg.tensor(g.astype(vec.dtype))).sum().backward()
    (expected * torch.tensor(g.astype(vec.dtype))).sum().backward()
    for i, (p, t) in enumerate(zip(ours, theirs)):
        assert p.grad.dtype == p.dtype
        assert_close(p.grad, t.grad, vec.dtype, f"gradient of parameter {i}")


def test_vector_to_parameters_matches_torch_and_writes_in_place(torch):
    arrays = weights()
    ours = [Parameter(a.copy()) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    before = [p.data for p in ours]
    new = np.random.default_rng(2).standard_normal(23)
    vector_to_parameters(dg.tensor(new), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs)
    for i, (p, t, array) in enumerate(zip(ours, theirs, before)):
        assert p.data is array, f"parameter {i} got a new array"
        assert_close(p, t, np.float64, f"parameter {i}")
    np.testing.assert_array_equal(parameters_to_vector(ours).numpy(), new)


def test_round_trip_through_a_model_and_its_optimizer():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    model.float()
    theta = parameters_to_vector(model.parameters())
    assert theta.dtype == np.float32 and theta.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    sgd = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(dg.ones(5, 3)).sum().backward()
    sgd.step()
    vector_to_parameters(theta.double(), model.parameters())  # cast back to float32
    assert all(p.dtype == np.float32 for p in model.parameters())
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).numpy(), theta.numpy())
    assert all(p in sgd.state for p in model.parameters())


def test_a_single_tensor_and_a_vector_that_requires_grad():
    w = Parameter(np.zeros((2, 3)))
    vec = dg.tensor(np.arange(6.0), requires_grad=True)
    vector_to_parameters(vec, w)
    np.testing.assert_array_equal(w.data, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(parameters_to_vector(w).numpy(), np.arange(6.0))


def test_writing_back_invalidates_a_graph_that_saved_the_parameter():
    w = Parameter(np.ones(3))
    y = (w * w).sum()
    vector_to_parameters(dg.tensor(np.zeros(3)), [w])
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.backward()


@pytest.mark.parametrize("vec, error, message", [
    (np.zeros(23), TypeError, "vector_to_parameters: vec must be a Tensor; got ndarray"),
    (dg.zeros(22), dg.ShapeError, "vector_to_parameters: vec has 22 elements, but the 4 "
                                  "parameters hold 23 in total"),
    (dg.zeros(24), dg.ShapeError, "vec has 24 elements, but the 4 parameters hold 23"),
    (dg.zeros(5, 5), dg.ShapeError, r"vector_to_parameters: vec must be 1-D; got shape \(5, 5\)"),
])
def test_vector_to_parameters_errors_change_nothing(vec, error, message):
    params = [Parameter(a) for a in weights()]
    before = [p.data.copy() for p in params]
    with pytest.raises(error, match=message):
        vector_to_parameters(vec, params)
    assert all(np.array_equal(p.data, b) for p, b in zip(params, before))


@pytest.mark.parametrize("call", [parameters_to_vector,
                                  lambda p: vector_to_parameters(dg.zeros(3), p)])
def test_parameters_must_be_tensors_and_not_none(call):
    name = "parameters_to_vector" if call is parameters_to_vector else "vector_to_parameters"
    with pytest.raises(ValueError, match=f"{name}: got no parameters"):
        call([])
    with pytest.raises(TypeError, match=f"{name}: parameters must be Tensors; got ndarray at "
                                        "position 1"):
        call([Parameter(np.zeros(1)), np.zeros(2)])
