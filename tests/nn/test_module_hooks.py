"""Forward pre-hooks, full backward hooks and backward pre-hooks of modules, against PyTorch's
(the gradients the hooks see, and their replacements), a Grad-CAM map, and the dotted-path
accessors ``get_submodule`` / ``get_parameter`` / ``get_buffer``."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

X = np.random.default_rng(0).standard_normal((2, 2, 5, 5))


def _twins(torch):
    dg.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3)).double()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(3, 4, 3)).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _run(lib, model, x, requires_grad=True):
    x = lib.tensor(x, requires_grad=requires_grad)
    (model(x) ** 2).sum().backward()
    return x


def _close(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(np.asarray(a.detach().numpy() if hasattr(a, "detach") else a),
                               b.detach().numpy(), rtol=1e-12, atol=1e-14)


# torch warns when the hooks fire with no input requiring grad, the case tested against it here.
TORCH_NO_INPUT_GRAD = "ignore:Full backward hook is firing"


@pytest.mark.filterwarnings(TORCH_NO_INPUT_GRAD)
@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("layer", ["0", "2"])
def test_full_backward_hooks_see_torchs_gradients(torch, layer, requires_grad):
    ours, theirs = _twins(torch)
    seen = {}
    for lib, model in (("dg", ours), ("torch", theirs)):
        model.get_submodule(layer).register_full_backward_hook(
            lambda m, gi, go, lib=lib: seen.__setitem__(lib, (gi, go)))
    _run(dg, ours, X, requires_grad)
    _run(torch, theirs, X, requires_grad)
    (gi, go), (gi_t, go_t) = seen["dg"], seen["torch"]
    assert len(gi) == len(gi_t) and len(go) == len(go_t)
    for a, b in zip((*gi, *go), (*gi_t, *go_t)):
        _close(a, b)


def test_replacing_gradients_in_the_hooks_as_torch():
    import torch

    ours, theirs = _twins(torch)
    for model in (ours, theirs):
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
        model[0].register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0),))
    x, xt = _run(dg, ours, X), _run(torch, theirs, X)
    _close(x.grad, xt.grad)
    for p, pt in zip(ours.parameters(), theirs.parameters()):
        _close(p.grad, pt.grad)


def test_a_module_with_two_inputs(torch):
    class Mix(nn.Module):
        def forward(self, a, b, scale=1.0):
            return a * b + a * scale

    class TorchMix(torch.nn.Module):
        def forward(self, a, b, scale=1.0):
            return a * b + a * scale

    a, b = np.random.default_rng(1).standard_normal((2, 3, 4))
    seen = {}
    results = []
    for lib, module in (("dg", Mix()), ("torch", TorchMix())):
        module.register_full_backward_hook(lambda m, gi, go, lib=lib: seen.__setitem__(lib, gi))
        ta, tb = lib_tensor(lib, torch, a, True), lib_tensor(lib, torch, b, False)
        (module(ta, tb, scale=3.0) ** 2).sum().backward()
        results.append(ta.grad)
    for ours, theirs in zip(seen["dg"], seen["torch"], strict=True):
        _close(ours, theirs)  # zeros for b, which does not require grad
    _close(results[0], results[1])


def lib_tensor(lib, torch, array, requires_grad):
    return (dg if lib == "dg" else torch).tensor(array, requires_grad=requires_grad)


def test_forward_pre_hooks_replace_the_inputs_and_handles_remove_them():
    layer = nn.Linear(3, 2)
    calls = []
    handle = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    other = layer.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape))
    np.testing.assert_array_equal(layer(dg.ones(4, 3)).numpy(),
                                  np.broadcast_to(layer.bias.numpy(), (4, 2)))
    assert calls == [(4, 3)]
    handle.remove()
    other.remove()
    assert not np.allclose(layer(dg.ones(4, 3)).numpy(), layer.bias.numpy())
    assert calls == [(4, 3)]
    with pytest.raises(TypeError, match="a hook must be callable"):
        layer.register_full_backward_hook(None)


@pytest.mark.filterwarnings(TORCH_NO_INPUT_GRAD)
def test_grad_cam_with_a_forward_and_a_backward_hook(torch):
    ours, theirs = _twins(torch)
    maps = []
    for lib, model in ((dg, ours), (torch, theirs)):
        store = {}
        model[0].register_forward_hook(lambda m, i, o, s=store: s.__setitem__("act", o))
        model[0].register_full_backward_hook(lambda m, gi, go, s=store: s.__setitem__("grad",
                                                                                   go[0]))
        out = model(lib.tensor(X))
        out[:, 1].sum().backward()
        weights = store["grad"].mean(dim=(2, 3), keepdim=True)
        maps.append((weights * store["act"]).sum(dim=1).relu().detach().numpy())
    np.testing.assert_allclose(maps[0], maps[1], rtol=1e-10, atol=1e-12)


def test_hooks_cost_nothing_without_a_graph():
    layer = nn.Linear(3, 2)
    layer.register_full_backward_hook(lambda m, gi, go: pytest.fail("no backward here"))
    with dg.no_grad():
        out = layer(dg.ones(1, 3))
    assert out.grad_fn is None


def test_dotted_path_accessors_as_torch():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    model.register_module("head", nn.Linear(2, 1))
    assert model.get_submodule("") is model and model.get_submodule("head") is model.head
    assert model.get_parameter("0.weight") is model[0].weight
    assert model.get_buffer("1.running_mean") is model[1].running_mean
    with pytest.raises(AttributeError, match=r"has no sub-module '3'.*\['0', '1', 'head'\]"):
        model.get_submodule("3.weight")
    with pytest.raises(AttributeError, match="BatchNorm2d at '1' has no parameter 'foo'"):
        model.get_parameter("1.foo")
    with pytest.raises(AttributeError, match="Conv2d at '0' has no buffer 'weight'"):
        model.get_buffer("0.weight")
