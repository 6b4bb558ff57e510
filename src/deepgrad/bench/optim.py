"""Optimizer step rows (issue 5): one ``optimizer.step()`` of Adam and of SGD with momentum over
the parameters of an MLP 784-1024-256-10 (1,068,810 float32 parameters in six arrays), whose
gradients are filled once with fixed random values.

deepgrad's optimizer runs against torch.optim's in each flavor whose speed differs (the
for-loop default, ``foreach`` and ``fused``), each on its own copy of the same weights and
gradients; the harness compares with the fastest. A call is one step and returns the first
layer's weight, so that the correctness check compares the updated weights after each of the
first steps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import deepgrad as dg
import deepgrad.optim
from deepgrad.bench.harness import Prepared, Workload
from deepgrad.nn import Parameter

SIZES = (784, 1024, 256, 10)
SEED = 0
PARAMETERS = sum(fan_out * (fan_in + 1) for fan_in, fan_out in itertools.pairwise(SIZES))
TORCH_FLAVORS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True},
                 "fused": {"fused": True}}


def weights_and_grads() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights drawn like nn.Linear's and standard normal gradients, float32, W (out, in)."""
    rng = np.random.default_rng(SEED)
    weights, grads = [], []
    for fan_in, fan_out in itertools.pairwise(SIZES):
        bound = 1 / math.sqrt(fan_in)
        for shape in ((fan_out, fan_in), (fan_out,)):
            weights.append(rng.uniform(-bound, bound, shape).astype(np.float32))
            grads.append(rng.standard_normal(shape, dtype=np.float32))
    return weights, grads


def torch_step(torch: ModuleType, name: str, options: dict[str, Any], flavor: dict[str, Any],
               weights: list[np.ndarray], grads: list[np.ndarray]) -> Callable[[], Any]:
    """One torch.optim step in the given flavor, on its own copies of weights and gradients."""
    params = []
    for w, g in zip(weights, grads):
        p = torch.tensor(w.copy(), requires_grad=True)
        p.grad = torch.tensor(g.copy())
        params.append(p)
    optimizer = getattr(torch.optim, name)(params, **options, **flavor)

    def step() -> Any:
        optimizer.step()
        return params[0]

    return step


def setup_step(torch: ModuleType | None, name: str, options: dict[str, Any]) -> Prepared:
    """deepgrad's ``name`` optimizer step vs torch.optim's flavors, same weights and gradients."""
    weights, grads = weights_and_grads()
    params = []
    for w, g in zip(weights, grads):
        p = Parameter(w.copy())
        p.grad = dg.tensor(g.copy())
        params.append(p)
    optimizer = getattr(deepgrad.optim, name)(params, **options)

    def step() -> Any:
        optimizer.step()
        return params[0].data

    variants = {} if torch is None else {
        f"optim.{name} {label}": torch_step(torch, name, options, flavor, weights, grads)
        for label, flavor in TORCH_FLAVORS.items()}
    return Prepared(step, variants)


WORKLOADS = [
    Workload(f"optimizer step, 1M parameters: Adam (MLP 784-1024-256-10, {PARAMETERS:,} "
             "float32)", "throughput", lambda torch: setup_step(torch, "Adam", {"lr": 1e-3}),
             target=1.0, unit="steps/s"),
    Workload(f"optimizer step, 1M parameters: SGD momentum 0.9 (same {PARAMETERS:,})",
             "throughput",
             lambda torch: setup_step(torch, "SGD", {"lr": 1e-3, "momentum": 0.9}),
             target=1.0, unit="steps/s"),
]
