"""Module: registration, traversal, modes, dtypes, state_dict round trips, errors, repr."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.nn.module import layer_error


class Affine(nn.Module):
    """A tiny layer for these tests: y = x @ W.T + b, with a running count buffer."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(dg.randn(out_features, in_features))
        self.bias = nn.Parameter(dg.zeros(out_features)) if bias else None
        self.register_buffer("calls", dg.zeros(1, dtype=dg.int64))

    def forward(self, x):
        if x.shape[-1] != self.weight.shape[1]:
            raise layer_error(self, f"(N, {self.weight.shape[1]})", x.shape)
        return dg.nn.functional.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Affine(4, 8), Affine(8, 8))
        self.head = Affine(8, 2, bias=False)

    def forward(self, x):
        return self.head(self.features(x).relu())


def test_registration_and_traversal():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "features.1.weight",
                     "features.1.bias", "head.weight"]
    assert [n for n, _ in net.named_buffers()] == ["features.0.calls", "features.1.calls",
                                                   "head.calls"]
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.1",
                                                   "head"]
    assert len(list(net.children())) == 2
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_shared_parameters_are_listed_once():
    shared = Affine(3, 3)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2


def test_forward_backward_and_zero_grad():
    net = Net()
    out = net(dg.randn(5, 4))
    assert out.shape == (5, 2)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_eval_and_freezing():
    net = Net()
    assert net.training and net.features[0].training
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.features.requires_grad_(False)
    net(dg.randn(2, 4)).sum().backward()
    assert net.features[0].weight.grad is None and net.head.weight.grad is not None


def test_to_double_and_back():
    net = Net().double()
    assert all(p.dtype == dg.float64 for p in net.parameters())
    assert net.features[0].calls.dtype == dg.int64
    assert net(dg.randn(2, 4, dtype=dg.float64)).dtype == dg.float64
    net.float()
    assert all(p.dtype == dg.float32 for p in net.parameters())


def test_state_dict_round_trip_and_copies():
    a, b = Net(), Net()
    state = a.state_dict()
    assert list(state) == ["features.0.weight", "features.0.bias", "features.0.calls",
                           "features.1.weight", "features.1.bias", "features.1.calls",
                           "head.weight", "head.calls"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["head.weight"][...] = 0  # a copy: the module is untouched
    assert np.any(a.head.weight.numpy() != 0)
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = dg.randn(3, 4)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_to_a_device_keeps_the_module_and_refuses_a_gpu():
    model = nn.Linear(3, 2)
    assert model.to("cpu") is model and model.weight.dtype == np.float32
    assert model.to("cpu", dg.float64).weight.dtype == np.float64
    assert model.to(device="cpu", dtype=dg.float32).bias.dtype == np.float32
    with pytest.raises(ValueError, match=r"Module\.to: device 'cuda:0' is not available"):
        model.to("cuda:0")


def test_load_state_dict_casts_to_the_module_dtype():
    net = Net()
    state = {k: v.astype(np.float64) if v.dtype.kind == "f" else v
             for k, v in Net().state_dict().items()}
    net.load_state_dict(state)
    assert net.head.weight.dtype == dg.float32
    np.testing.assert_allclose(net.head.weight.numpy(), state["head.weight"], rtol=1e-6)


def test_load_state_dict_lists_every_problem():
    net = Net()
    state = net.state_dict()
    del state["head.weight"]
    state["features.0.weight"] = np.zeros((3, 3), np.float32)
    state["extra.bias"] = np.zeros(2, np.float32)
    with pytest.raises(KeyError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "3 problems" in message
    assert "features.0.weight: expected shape (8, 4), got (3, 3)" in message
    assert "missing key: head.weight" in message
    assert "unexpected key: extra.bias" in message


def test_non_strict_loading_reports_keys_but_still_checks_shapes():
    net = Net()
    state = {"head.weight": np.ones((2, 8), np.float32), "other": np.zeros(1)}
    result = net.load_state_dict(state, strict=False)
    assert result.unexpected_keys == ["other"]
    assert "features.0.weight" in result.missing_keys
    np.testing.assert_array_equal(net.head.weight.numpy(), 1)
    with pytest.raises(KeyError, match=r"head\.weight: expected shape"):
        net.load_state_dict({"head.weight": np.ones(3)}, strict=False)


def test_loads_a_torch_state_dict(torch):
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    ours = Affine(4, 3)
    del ours.calls
    ours.load_state_dict({k: v.numpy() for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(dg.tensor(x)).numpy(),
                               layer(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6)


def test_shape_error_names_the_layer_by_its_path():
    net = Net()
    with pytest.raises(dg.ShapeError,
                       match=r"^Affine 'features.0' expects input \(N, 4\); got \(2, 5\)$"):
        net(dg.randn(2, 5))
    with pytest.raises(dg.ShapeError, match=r"^Affine expects input \(N, 4\); got \(2, 5\)$"):
        Affine(4, 2)(dg.randn(2, 5))


def test_non_persistent_buffers_are_not_saved():
    layer = Affine(2, 2)
    layer.register_buffer("scratch", dg.zeros(2), persistent=False)
    assert "scratch" not in layer.state_dict()
    assert [n for n, _ in layer.named_buffers()] == ["calls", "scratch"]


def test_assignment_rules():
    layer = Affine(2, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match=r"Affine\.weight is a Parameter"):
        layer.weight = dg.zeros(2, 2)
    with pytest.raises(TypeError, match=r"Affine\.calls is a buffer"):
        layer.calls = np.zeros(1)

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(dg.zeros(1))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Forgetful()


def test_containers():
    seq = nn.Sequential(Affine(2, 3), Affine(3, 4))
    assert len(seq) == 2 and isinstance(seq[1], Affine) and len(seq[:1]) == 1
    seq.append(Affine(4, 1))
    assert seq(dg.randn(5, 2)).shape == (5, 1)
    named = nn.Sequential({"first": Affine(2, 2), "second": Affine(2, 2)})
    assert [n for n, _ in named.named_children()] == ["first", "second"]

    layers = nn.ModuleList([Affine(2, 2) for _ in range(3)])
    layers.insert(0, Affine(2, 2))
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert len(list(layers.parameters())) == 8

    heads = nn.ModuleDict({"a": Affine(2, 1)})
    heads["b"] = Affine(2, 3)
    assert "b" in heads and list(heads.keys()) == ["a", "b"]
    assert len(list(heads.parameters())) == 4


def test_residual():
    block = Affine(3, 3)
    res = nn.Residual(block)
    x = dg.randn(2, 3)
    np.testing.assert_allclose(res(x).numpy(), (block(x) + x).numpy())
    shortcut = Affine(3, 3, bias=False)
    res2 = nn.Residual(block, shortcut)
    np.testing.assert_allclose(res2(x).numpy(), (block(x) + shortcut(x)).numpy())
    assert [n for n, _ in res2.named_parameters()] == ["block.weight", "block.bias",
                                                       "shortcut.weight"]


def test_repr_is_a_tree():
    text = repr(Net())
    assert text == ("Net(\n"
                    "  (features): Sequential(\n"
                    "    (0): Affine(in=4, out=8)\n"
                    "    (1): Affine(in=8, out=8)\n"
                    "  )\n"
                    "  (head): Affine(in=8, out=2)\n"
                    ")")
    assert repr(nn.Parameter(dg.zeros(2))).startswith("Parameter containing:\ntensor(")


def test_apply_visits_every_module():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Affine", "Affine", "Sequential", "Affine", "Net"]


def test_forward_hooks_see_and_replace_outputs():
    net = Net()
    seen = []
    handle = net.head.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    replace = net.features.register_forward_hook(lambda m, inputs, out: out * 0)
    out = net(dg.randn(3, 4))
    assert seen == [(3, 2)]
    np.testing.assert_array_equal(out.numpy(), 0)
    handle.remove()
    replace.remove()
    net(dg.randn(3, 4))
    assert seen == [(3, 2)]


def test_replacing_a_submodule_or_parameter_keeps_its_place():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    setattr(seq, "0", nn.Identity())
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]
    assert isinstance(seq[0], nn.Identity)
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(dg.zeros(2, 2).numpy())
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
