"""Normalization and dropout rows: BatchNorm2d in training mode, LayerNorm, Dropout.

Each row runs the functional op forward, then backward from a fixed random gradient (the same
array in both frameworks), and returns the input's gradient, so that the correctness check
covers both passes. Dropout's masks come from different generators, so its row is timed without
comparing values.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad.bench.harness import Prepared, Workload
from deepgrad.ops.dropout import dropout
from deepgrad.ops.norm import batch_norm, layer_norm

SEED = 0
BN_SHAPE = (128, 32, 28, 28)
LN_SHAPE = (128, 256)
DROPOUT_SHAPE = (128, 4096)


def _arrays(shape: tuple[int, ...], params: int,
            length: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Input, output gradient and ``params`` random parameter vectors of ``length``, float32."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(shape, dtype=np.float32)
    gy = rng.standard_normal(shape, dtype=np.float32)
    return x, gy, [rng.standard_normal(length, dtype=np.float32) for _ in range(params)]


def _steps(run_dg: Callable[[list], Any], run_torch: Callable[[list], Any], torch: Any,
           variant: str, x: np.ndarray, gy: np.ndarray, params: list) -> Prepared:
    """A deepgrad step and the torch step named ``variant``: forward with ``run_*(leaves)``,
    backward from ``gy``, return the input's gradient."""
    dg_leaves = [dg.tensor(a, requires_grad=True) for a in (x, *params)]
    dg_gy = dg.tensor(gy)

    def deepgrad_step() -> Any:
        for t in dg_leaves:
            t.grad = None
        run_dg(dg_leaves).backward(dg_gy)
        return dg_leaves[0].grad

    if torch is None:
        return Prepared(deepgrad_step)
    torch_leaves = [torch.tensor(a, requires_grad=True) for a in (x, *params)]
    torch_gy = torch.tensor(gy)

    def torch_step() -> Any:
        for t in torch_leaves:
            t.grad = None
        run_torch(torch_leaves).backward(torch_gy)
        return torch_leaves[0].grad

    return Prepared(deepgrad_step, {variant: torch_step})


def setup_batch_norm(torch: ModuleType | None) -> Prepared:
    """BatchNorm2d in training mode: batch statistics, running statistics updated in place."""
    channels = BN_SHAPE[1]
    x, gy, params = _arrays(BN_SHAPE, 2, channels)
    dg_stats = [dg.zeros(channels), dg.ones(channels)]
    torch_stats = [] if torch is None else [torch.zeros(channels), torch.ones(channels)]

    def run_dg(leaves: list) -> Any:
        return batch_norm(leaves[0], *dg_stats, leaves[1], leaves[2], training=True)

    def run_torch(leaves: list) -> Any:
        return torch.nn.functional.batch_norm(leaves[0], *torch_stats, leaves[1], leaves[2],
                                              training=True)

    return _steps(run_dg, run_torch, torch, "F.batch_norm", x, gy, params)


def setup_layer_norm(torch: ModuleType | None) -> Prepared:
    """LayerNorm over the last dim, with weight and bias."""
    x, gy, params = _arrays(LN_SHAPE, 2, LN_SHAPE[-1])

    def run_dg(leaves: list) -> Any:
        return layer_norm(leaves[0], LN_SHAPE[-1], leaves[1], leaves[2])

    def run_torch(leaves: list) -> Any:
        return torch.nn.functional.layer_norm(leaves[0], LN_SHAPE[-1:], leaves[1], leaves[2])

    return _steps(run_dg, run_torch, torch, "F.layer_norm", x, gy, params)


def setup_dropout(torch: ModuleType | None) -> Prepared:
    """Dropout with p = 0.5 in training mode."""
    x, gy, _ = _arrays(DROPOUT_SHAPE, 0, 0)
    dg.manual_seed(SEED)
    return _steps(lambda leaves: dropout(leaves[0], 0.5),
                  lambda leaves: torch.nn.functional.dropout(leaves[0], 0.5), torch, "F.dropout",
                  x, gy, [])


WORKLOADS = [
    Workload("BatchNorm2d train fwd+bwd (128, 32, 28, 28)", "throughput", setup_batch_norm,
             target=1.0, items_per_call=BN_SHAPE[0]),
    Workload("LayerNorm fwd+bwd (128, 256)", "throughput", setup_layer_norm,
             items_per_call=LN_SHAPE[0]),
    Workload("Dropout fwd+bwd (128, 4096)", "throughput", setup_dropout,
             items_per_call=DROPOUT_SHAPE[0], compare_outputs=False),
]
