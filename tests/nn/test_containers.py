"""ParameterList and ParameterDict: registration (parameters, state_dict keys as torch's,
load_state_dict, optimizers, dtype casts), the list and dict operations, reprs, errors."""

from collections import OrderedDict

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn


def _mixture(module, randn):
    """A model holding a ParameterList and a ParameterDict, built with ``module`` (deepgrad's nn
    or torch.nn): y = scales['a'] * x @ weights[0] + scales['b'] + sum_i x @ weights[i]."""

    class Mixture(module.Module):
        def __init__(self):
            super().__init__()
            self.weights = module.ParameterList(
                [module.Parameter(randn(3, 3)) for _ in range(2)])
            self.scales = module.ParameterDict({"b": module.Parameter(randn(3)),
                                                "a": module.Parameter(randn(1))})

        def forward(self, x):
            y = self.scales["a"] * (x @ self.weights[0]) + self.scales["b"]
            for w in self.weights:
                y = y + x @ w
            return y

    return Mixture()


def test_state_dict_keys_loading_and_gradients_match_torch(torch):
    ours, theirs = _mixture(nn, dg.randn), _mixture(torch.nn, torch.randn)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weights.0", "weights.1", "scales.a", "scales.b"]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    yd, yt = ours(dg.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(yd.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    yd.sum().backward()
    yt.sum().backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_optimizers_and_casts_see_the_parameters():
    model = _mixture(nn, dg.randn)
    assert len(list(model.parameters())) == 4
    before = [p.numpy().copy() for p in model.parameters()]
    model(dg.randn(2, 3)).sum().backward()
    dg.optim.SGD(model.parameters(), lr=0.1).step()
    assert all(not np.array_equal(b, p.numpy()) for b, p in zip(before, model.parameters()))
    model.double()
    assert {p.dtype for p in model.parameters()} == {dg.float64}


def test_parameter_list_operations():
    p0, p1, p2 = (nn.Parameter(dg.zeros(i + 1)) for i in range(3))
    params = nn.ParameterList([p0])
    params.append(p1).extend([p2])
    assert len(params) == 3 and list(params) == [p0, p1, p2]
    assert params[-1] is p2 and list(params[1:]) == [p1, p2]
    assert isinstance(params[1:], nn.ParameterList)
    replacement = nn.Parameter(dg.ones(2))
    params[1] = replacement
    assert list(params.state_dict()) == ["0", "1", "2"] and params[1] is replacement
    plain = dg.ones(4)
    params += [plain]
    assert isinstance(params[3], nn.Parameter) and params[3].requires_grad
    assert params[3].numpy() is plain.numpy()  # shares the tensor's data, as in PyTorch
    with pytest.raises(IndexError, match=r"^ParameterList: index 4 is out of range for a list "
                                         r"of 4 parameters$"):
        params[4]
    with pytest.raises(TypeError, match=r"^ParameterList: expects Parameters \(or Tensors, which "
                                        r"become Parameters\); got ndarray$"):
        params.append(np.zeros(2))
    with pytest.raises(NotImplementedError, match="ParameterList is a container"):
        params(dg.ones(1))


def test_parameter_dict_operations():
    a, b, c = (nn.Parameter(dg.zeros(i + 1)) for i in range(3))
    assert list(nn.ParameterDict({"b": b, "a": a})) == ["a", "b"]  # a dict is sorted, as torch
    assert list(nn.ParameterDict(OrderedDict([("b", b), ("a", a)]))) == ["b", "a"]
    params = nn.ParameterDict([("b", b), ("a", a)])
    assert list(params.keys()) == ["b", "a"] and list(params.values()) == [b, a]
    params.update({"c": c})
    params["b"] = dg.ones(3)
    assert list(params.state_dict()) == ["b", "a", "c"]
    assert isinstance(params["b"], nn.Parameter) and "c" in params and len(params) == 3
    assert params.pop("a") is a and params.get("a") is None
    del params["c"]
    assert list(params.items()) == [("b", params["b"])]
    with pytest.raises(KeyError, match=r"keys must be non-empty and contain no '\.'"):
        params["w.x"] = dg.ones(1)
    with pytest.raises(TypeError, match=r"^ParameterDict: keys must be strings; got int$"):
        params[1] = dg.ones(1)
    with pytest.raises(TypeError, match=r"^ParameterDict\.update: element 0 must be a \(name, "
                                        r"parameter\) pair; got str$"):
        params.update(["ab"])


def test_reprs_list_what_torch_lists(torch):
    ours = nn.ParameterList([dg.zeros(2, 3), dg.zeros(3)])
    theirs = torch.nn.ParameterList([torch.zeros(2, 3), torch.zeros(3)])
    assert repr(ours) == ("ParameterList(\n  (0): Parameter containing: [float32 of size 2x3]\n"
                          "  (1): Parameter containing: [float32 of size 3]\n)")
    lines = [line.strip().replace("torch.", "") for line in repr(theirs).splitlines()]
    assert lines == [line.strip() for line in repr(ours).splitlines()]
    assert repr(nn.ParameterDict({"w": dg.zeros(2)})) == \
        "ParameterDict(\n  (w): Parameter containing: [float32 of size 2]\n)"
    assert repr(nn.ParameterList()) == repr(torch.nn.ParameterList()) == "ParameterList()"
