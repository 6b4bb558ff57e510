"""The optimizer tests' shared harness: a 4-6-3 tanh network's weights, data and loss, the same
weights as deepgrad Parameters and torch tensors, and checks of state dicts."""

import numpy as np

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
