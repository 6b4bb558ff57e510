"""Model-zoo rows: whole training steps and inference of ``dg.models`` against their torch twins.

- Training steps (batch 128, 28x28x1 inputs, random labels): forward, cross-entropy, backward
  and an optimizer step through ``dg.optim`` / ``torch.optim``: SGD (momentum 0.9, Nesterov,
  weight decay 5e-4: the flagship recipe's optimizer) or Adam (lr 1e-3), for the MLP
  784-256-256-10, the flagship ``cnn()``, ``resnet()`` (ResNet-20) and ``mobilenet()``. Both
  sides start from the same weights (the twin's state_dict loaded into deepgrad's model).
- Inference of the flagship CNN in eval mode: one image (latency) and a batch of 1024
  (throughput), under ``dg.no_grad()`` against torch's ``no_grad`` and ``inference_mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad import models, nn, optim
from deepgrad.bench.harness import Prepared, Workload
from deepgrad.bench.twins import torch_cnn, torch_mlp, torch_mobilenet, torch_resnet

BATCH = 128
SEED = 0
_ZOO = {"mlp": (models.mlp, torch_mlp), "cnn": (models.cnn, torch_cnn),
        "resnet": (models.resnet, torch_resnet), "mobilenet": (models.mobilenet, torch_mobilenet)}
OPTIMIZERS = {"SGD": {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
              "Adam": {"lr": 1e-3}}


def _pair(name: str, torch: ModuleType | None, **options: Any) -> tuple[Any, Any]:
    """deepgrad's model and its torch twin (None without torch) with the same weights."""
    ours = _ZOO[name][0](**options)
    if torch is None:
        return ours, None
    torch.manual_seed(SEED)
    theirs = _ZOO[name][1](torch, **options)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _batch(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((n, 1, 28, 28)).astype(np.float32),
            rng.integers(0, 10, n))


def setup_train(torch: ModuleType | None, name: str, batch: int = BATCH,
                optimizer: str = "SGD", **options: Any) -> Prepared:
    """One training step of a zoo model (built with ``options``) on a batch."""
    ours, theirs = _pair(name, torch, **options)
    x, y = _batch(batch)
    dx, dy = dg.tensor(x), dg.tensor(y)
    opt = getattr(optim, optimizer)(ours.parameters(), **OPTIMIZERS[optimizer])
    loss_fn = nn.CrossEntropyLoss()
    ours.train()

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(ours(dx), dy)
        loss.backward()
        opt.step()
        return loss

    if theirs is None:
        return Prepared(step)
    tx, ty = torch.tensor(x), torch.tensor(y)
    topt = getattr(torch.optim, optimizer)(theirs.parameters(), **OPTIMIZERS[optimizer])
    tloss = torch.nn.CrossEntropyLoss()
    theirs.train()

    def torch_step() -> Any:
        topt.zero_grad()
        loss = tloss(theirs(tx), ty)
        loss.backward()
        topt.step()
        return loss

    return Prepared(step, {"eager": torch_step})


def setup_inference(torch: ModuleType | None, batch: int) -> Prepared:
    """The flagship CNN in eval mode on ``batch`` images, without a graph."""
    ours, theirs = _pair("cnn", torch)
    x, _ = _batch(batch)
    dx = dg.tensor(x)
    ours.eval()

    def run() -> Any:
        with dg.no_grad():
            return ours(dx)

    if theirs is None:
        return Prepared(run)
    theirs.eval()
    tx = torch.tensor(x)

    def variant(context: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with context():
                return theirs(tx)
        return call

    return Prepared(run, {"no_grad": variant(torch.no_grad),
                          "inference_mode": variant(torch.inference_mode)})


WORKLOADS = [
    Workload("MLP 784-256-256-10 train step (dg.optim.SGD momentum), batch 128", "throughput",
             lambda torch: setup_train(torch, "mlp"), target=1.3, items_per_call=BATCH),
    Workload("MLP 784-256-256-10 train step (dg.optim.Adam), batch 128", "throughput",
             lambda torch: setup_train(torch, "mlp", optimizer="Adam"), target=1.35,
             items_per_call=BATCH),
    Workload("flagship dg.models.cnn() train step (SGD), batch 128", "throughput",
             lambda torch: setup_train(torch, "cnn"), target=1.0, items_per_call=BATCH,
             compare_outputs=False),  # dropout draws differ between the frameworks
    Workload("ResNet-20 train step (SGD), batch 128", "throughput",
             lambda torch: setup_train(torch, "resnet"), target=0.9, items_per_call=BATCH,
             tolerance=1e-3),
    Workload("MobileNet train step (SGD), batch 128", "throughput",
             lambda torch: setup_train(torch, "mobilenet"), target=0.9, items_per_call=BATCH,
             tolerance=1e-3),
    Workload("flagship CNN inference, batch 1", "latency",
             lambda torch: setup_inference(torch, 1), target=0.7, unit="us"),
    Workload("flagship CNN inference, batch 1024", "throughput",
             lambda torch: setup_inference(torch, 1024), target=1.0, items_per_call=1024),
]
