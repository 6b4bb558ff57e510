"""The optimizer tests' shared harness: a 4-6-3 tanh network's weights, data and loss, the same
weights as deepgrad Parameters and torch tensors, training loops, and the checks the optimizer
test files share: parity with torch.optim and state dict round trips, layout and loading."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from helpers import assert_close

import deepgrad as dg
from deepgrad import optim
from deepgrad.nn import Parameter
from deepgrad.optim import lr_scheduler

STEPS = 50
SHAPES = [(6, 4), (6,), (3, 6), (3,)]  # w1, b1, w2, b2 of a 4-6-3 tanh network


def assert_plain(value, where="state_dict"):
    """Only arrays, Python numbers and bools, lists and dicts (no tuples, tensors, objects)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, (int, str)), f"{where}: key {key!r}"
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        assert type(value) in (np.ndarray, int, float, bool), f"{where}: {type(value)}"


def batches(dtype):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((8, 4)).astype(dtype), rng.standard_normal((8, 3)).astype(dtype))
            for _ in range(5)]


def case_id(case):
    name, options = case
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def initial_weights(dtype):
    rng = np.random.default_rng(0)
    return [(0.5 * rng.standard_normal(shape)).astype(dtype) for shape in SHAPES]


def make_params(weights):
    return [Parameter(w.copy()) for w in weights]


def make_torch_params(torch, weights):
    return [torch.tensor(w.copy(), requires_grad=True) for w in weights]


def to_numpy(torch, value):
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, dict):
        return {k: to_numpy(torch, v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_numpy(torch, v) for v in value]
    return value


def torch_loss(torch, params, x, y):
    w1, b1, w2, b2 = params[:4]
    out = torch.tanh(torch.tensor(x) @ w1.T + b1) @ w2.T + b2
    return ((out - torch.tensor(y)) ** 2).mean()


def compare_with_torch(ours, theirs, params, torch_params, dtype):
    """deepgrad's parameters and optimizer state equal torch's (same keys, same values)."""
    for i, (p, t) in enumerate(zip(params, torch_params)):
        assert_close(p.data, t, dtype, f"parameter {i}")
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert sorted(mine["state"]) == sorted(reference["state"])
    for index, state in reference["state"].items():
        assert list(mine["state"][index]) == list(state), f"state keys of parameter {index}"
        for key, value in state.items():
            if key == "step":
                assert mine["state"][index][key] == int(value.item())
            else:
                assert_close(mine["state"][index][key], value, dtype, f"{key} of {index}")


@contextlib.contextmanager
def torch_scalars(torch, dtype):
    """torch keeps an optimizer's scalar state (step, NAdam's mu_product, ASGD's eta and mu) in
    its default dtype; float64 runs set it to float64, the precision deepgrad keeps them in."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def dg_loss(params, x, y):
    """The 4-6-3 tanh network's mean squared error in deepgrad (torch_loss's twin)."""
    w1, b1, w2, b2 = params[:4]
    out = (dg.tensor(x) @ w1.T + b1).tanh() @ w2.T + b2
    diff = out - dg.tensor(y)
    return (diff * diff).mean()


def train(loss, params, optimizer, dtype, steps, start=0, scheduler=None):
    """`steps` steps of `optimizer` on loss(params, x, y), cycling through the batches from
    batch `start`; a scheduler, if given, steps after each."""
    data = batches(dtype)
    for i in range(start, start + steps):
        optimizer.zero_grad()
        loss(params, *data[i % len(data)]).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


@dataclass(frozen=True)
class Net:
    """What the optimizers train: initial weights by dtype, and the loss in deepgrad
    (loss(params, x, y)) and in torch (torch_loss(torch, params, x, y))."""

    weights: Callable
    loss: Callable
    torch_loss: Callable

    def train(self, params, optimizer, dtype, steps, start=0, scheduler=None):
        train(self.loss, params, optimizer, dtype, steps, start, scheduler)

    def train_torch(self, torch, params, optimizer, dtype, steps, start=0, scheduler=None):
        train(lambda *a: self.torch_loss(torch, *a), params, optimizer, dtype, steps, start,
              scheduler)


TANH = Net(initial_weights, dg_loss, torch_loss)


def run_with_torch(torch, net, name, options, dtype=np.float64, steps=STEPS, *, weights=None,
                   groups=None, schedule=None, scalars=True):
    """deepgrad's and torch's optimizer `name` take the same `steps` steps from the same weights
    (net's, or `weights`) and end equal (compare_with_torch); returns (ours, theirs, params).

    groups(params) gives the parameter groups; schedule(lr_scheduler_module, optimizer) a
    scheduler for each; scalars: torch runs under torch_scalars(dtype)."""
    weights = net.weights(dtype) if weights is None else weights
    params, torch_params = make_params(weights), make_torch_params(torch, weights)

    def make(module, p):
        return getattr(module, name)(p if groups is None else groups(p), **options)

    def scheduler(module, optimizer):
        return None if schedule is None else schedule(module, optimizer)

    ours = make(optim, params)
    with torch_scalars(torch, dtype) if scalars else contextlib.nullcontext():
        theirs = make(torch.optim, torch_params)
        net.train_torch(torch, torch_params, theirs, dtype, steps,
                        scheduler=scheduler(torch.optim.lr_scheduler, theirs))
    net.train(params, ours, dtype, steps, scheduler=scheduler(lr_scheduler, ours))
    compare_with_torch(ours, theirs, params, torch_params, dtype)
    return ours, theirs, params


def three_groups(first, last_lr):
    """groups for run_with_torch: the first parameter at lr 0.003 with its own settings `first`,
    the next two with the defaults, the rest at lr `last_lr`."""
    return lambda p: [{"params": p[:1], "lr": 0.003, **first}, {"params": p[1:3]},
                      {"params": p[3:], "lr": last_lr}]


# ----------------------------------------------------------------------------- state dicts
TORCH_ONLY = {"foreach", "fused", "differentiable", "capturable"}


def check_state_dict_round_trip(net, name, options, settings=None, not_plain=()):
    """A state dict saved at step 20 of STEPS holds plain values and, loaded into a fresh
    optimizer, takes its settings (`settings`, entries of the first group; by default
    options' lr) and continues to the uninterrupted run's weights, bit for bit.

    not_plain: group entries assert_plain passes over."""
    weights = net.weights(np.float64)
    uninterrupted = make_params(weights)
    net.train(uninterrupted, getattr(optim, name)(uninterrupted, **options), np.float64, STEPS)

    params = make_params(weights)
    first = getattr(optim, name)(params, **options)
    net.train(params, first, np.float64, 20)
    saved = first.state_dict()
    weights_at_20 = [p.data.copy() for p in params]
    net.train(params, first, np.float64, 5)  # the saved arrays are copies: this cannot reach them
    assert_plain({**saved, "param_groups": [{k: v for k, v in g.items() if k not in not_plain}
                                            for g in saved["param_groups"]]})

    resumed_params = make_params(weights_at_20)
    resumed = getattr(optim, name)(resumed_params, lr=123.0)  # the settings come from the dict
    resumed.load_state_dict(saved)
    settings = {"lr": options["lr"]} if settings is None else settings
    assert {k: resumed.param_groups[0][k] for k in settings} == settings
    net.train(resumed_params, resumed, np.float64, STEPS - 20, start=20)
    for p, q in zip(resumed_params, uninterrupted):
        np.testing.assert_array_equal(p.data, q.data)


def check_state_dict_layout(torch, net, name, options, torch_only=TORCH_ONLY):
    """After 3 steps in two groups, the state dict has torch's parameter indices, state keys in
    torch's order, and group settings equal to torch's (tuples as lists); torch's groups may
    hold `torch_only` keys besides."""
    weights = net.weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.001}],
                                **options)
    theirs = getattr(torch.optim, name)([{"params": torch_params[:2]},
                                         {"params": torch_params[2:], "lr": 0.001}], **options)
    net.train(params, ours, np.float64, 3)
    net.train_torch(torch, torch_params, theirs, np.float64, 3)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine["state"]) == sorted(reference["state"])
    for index, state in reference["state"].items():
        assert list(mine["state"][index]) == list(state)
    for group, torch_group in zip(mine["param_groups"], reference["param_groups"]):
        assert group["params"] == torch_group["params"]
        assert set(torch_group) - set(group) <= torch_only
        for key, value in group.items():
            expected = torch_group[key]
            assert value == (list(expected) if isinstance(expected, tuple) else expected), key


def check_loads_torchs_state_dict(torch, net, name, options, after_load):
    """torch's state dict after 20 steps, converted to arrays, loads into a fresh optimizer
    (default settings) that then takes torch's next 30 steps; after_load(ours, theirs, params)
    checks what was loaded before either goes on."""
    weights = net.weights(np.float64)
    torch_params = make_torch_params(torch, weights)
    with torch_scalars(torch, np.float64):
        theirs = getattr(torch.optim, name)(torch_params, **options)
        net.train_torch(torch, torch_params, theirs, np.float64, 20)
        params = make_params([t.detach().numpy() for t in torch_params])
        ours = getattr(optim, name)(params)
        ours.load_state_dict(to_numpy(torch, theirs.state_dict()))
        assert ours.state[params[0]]["step"] == 20
        after_load(ours, theirs, params)
        net.train_torch(torch, torch_params, theirs, np.float64, 30, start=20)
    net.train(params, ours, np.float64, 30, start=20)
    compare_with_torch(ours, theirs, params, torch_params, np.float64)
