"""The optimizer tests' shared harness: a 4-6-3 tanh network's weights, data and loss, the same
weights as deepgrad Parameters and torch tensors, and checks of state dicts."""

import contextlib

import numpy as np
from helpers import assert_close

from deepgrad.nn import Parameter

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
