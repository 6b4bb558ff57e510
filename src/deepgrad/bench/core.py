"""The first rows (issue #3): an MLP train step, its hand-written NumPy ceiling, the step
against its GEMMs alone, batch-1 inference latency, and import time.

The MLP is 784-256-256-10 with ReLU, Linear as ``F.linear`` (or ``x @ W.T + b``), W (out, in),
initialized like PyTorch's nn.Linear, on random float32 data with a fixed seed; torch gets copies
of the same arrays. torch runs its usual idiom (``F.linear``, ``F.cross_entropy``) in each
variant whose speed might differ; the harness compares with the fastest.
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad.bench.harness import Prepared, Workload
from deepgrad.parallel import matmul

SIZES = (784, 256, 256, 10)
TRAIN_BATCH = 128
LR = 0.01
SEED = 0


def mlp_arrays(batch: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """Weights [(W, b), ...] drawn like nn.Linear's (float32), inputs x (float32), labels y."""
    rng = np.random.default_rng(SEED)
    layers = []
    for fan_in, fan_out in itertools.pairwise(SIZES):
        bound = 1 / math.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    return layers, x, y


def deepgrad_mlp(layers: list, requires_grad: bool,
                 fused: bool = True) -> tuple[list, Callable[[Any], Any]]:
    """deepgrad parameters (copies) and the forward function ``x -> logits``: each layer is
    ``dg.nn.functional.linear`` (one fused op), or with ``fused=False`` the primitives
    ``x @ W.T + b`` (three ops)."""
    params = [(dg.tensor(w, requires_grad=requires_grad), dg.tensor(b, requires_grad=requires_grad))
              for w, b in layers]
    linear = dg.nn.functional.linear

    def forward(x: Any) -> Any:
        for i, (w, b) in enumerate(params):
            x = linear(x, w, b) if fused else x @ w.T + b
            if i < len(params) - 1:
                x = x.relu()
        return x

    return [p for pair in params for p in pair], forward


def torch_mlp(torch: ModuleType, layers: list,
              requires_grad: bool) -> tuple[list, Callable[[Any], Any]]:
    """torch parameters (copies of the same arrays) and its forward ``x -> logits``."""
    functional = torch.nn.functional
    params = [(torch.tensor(w, requires_grad=requires_grad),
               torch.tensor(b, requires_grad=requires_grad)) for w, b in layers]

    def forward(x: Any) -> Any:
        for i, (w, b) in enumerate(params):
            x = functional.linear(x, w, b)
            if i < len(params) - 1:
                x = functional.relu(x)
        return x

    return [p for pair in params for p in pair], forward


def torch_train_steps(torch: ModuleType, layers: list, x: np.ndarray,
                      y: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The torch train step in each idiom whose speed might differ, each on its own weights."""
    functional = torch.nn.functional
    tx, ty = torch.tensor(x), torch.tensor(y)

    def manual_sgd() -> Callable[[], Any]:
        params, forward = torch_mlp(torch, layers, requires_grad=True)

        def step() -> Any:
            loss = functional.cross_entropy(forward(tx), ty)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-LR)
                    p.grad = None
            return loss

        return step

    def optim_sgd(**options: Any) -> Callable[[], Any]:
        params, forward = torch_mlp(torch, layers, requires_grad=True)
        optimizer = torch.optim.SGD(params, lr=LR, **options)

        def step() -> Any:
            loss = functional.cross_entropy(forward(tx), ty)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        return step

    return {"manual SGD (add_)": manual_sgd(),
            "optim.SGD foreach": optim_sgd(foreach=True),
            "optim.SGD fused": optim_sgd(fused=True)}


def setup_mlp_train(torch: ModuleType | None, fused: bool = True) -> Prepared:
    """deepgrad: forward, cross-entropy, backward, manual SGD. ``fused``: the layers and the loss
    are deepgrad's fused ops (``F.linear``, ``F.cross_entropy``); otherwise they are written from
    primitives (``x @ W.T + b``; ``log_softmax``, pick, ``-mean``)."""
    layers, x, y = mlp_arrays(TRAIN_BATCH)
    params, forward = deepgrad_mlp(layers, requires_grad=True, fused=fused)
    dx, dy, rows = dg.tensor(x), dg.tensor(y), dg.arange(TRAIN_BATCH)

    def step() -> Any:
        if fused:
            loss = dg.nn.functional.cross_entropy(forward(dx), dy)
        else:
            loss = -forward(dx).log_softmax(dim=1)[rows, dy].mean()
        loss.backward()
        with dg.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    return Prepared(step, {} if torch is None else torch_train_steps(torch, layers, x, y))


def setup_numpy_train(torch: ModuleType | None) -> Prepared:
    """The same train step written by hand in NumPy: the ceiling for a NumPy-based framework."""
    layers, x, y = mlp_arrays(TRAIN_BATCH)
    params = [(w.copy(), b.copy()) for w, b in layers]
    rows = np.arange(TRAIN_BATCH)

    def step() -> float:
        inputs = [x]
        for i, (w, b) in enumerate(params):
            z = inputs[-1] @ w.T
            z += b
            if i < len(params) - 1:
                np.maximum(z, 0, out=z)
            inputs.append(z)
        logits = inputs.pop()
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        total = probs.sum(axis=1, keepdims=True)
        loss = float(np.log(total[:, 0]).mean() - logits[rows, y].mean())
        probs /= total
        probs[rows, y] -= 1
        grad = probs
        grad *= 1 / TRAIN_BATCH
        for i in range(len(params) - 1, -1, -1):
            w, b = params[i]
            a = inputs[i]
            gw = grad.T @ a
            gb = grad.sum(axis=0)
            if i > 0:
                grad = grad @ w
                grad *= a > 0
            w -= LR * gw
            b -= LR * gb
        return loss

    return Prepared(step, {} if torch is None else torch_train_steps(torch, layers, x, y))


def setup_gemm_share(torch: ModuleType | None) -> Prepared:
    """deepgrad's MLP train step against the step's eight GEMMs alone (three forward, five
    backward: the input needs no gradient), on preallocated outputs, run as deepgrad runs them
    (NumPy's BLAS, split over deepgrad's threads). The ratio of the two throughputs is the step's
    FLOP rate as a fraction of the rate its GEMMs reach on the same shapes. Needs no torch."""
    step = setup_mlp_train(None).deepgrad
    layers, x, _ = mlp_arrays(TRAIN_BATCH)
    weights = [w for w, _ in layers]
    rng = np.random.default_rng(SEED)
    acts = [x] + [rng.standard_normal((TRAIN_BATCH, w.shape[0])).astype(np.float32)
                  for w in weights]
    weight_grads = [np.empty_like(w) for w in weights]
    input_grads = [np.empty_like(a) for a in acts[1:-1]]  # of the hidden layers' inputs

    def gemms() -> None:
        for i, w in enumerate(weights):
            matmul(acts[i], w.T, out=acts[i + 1])
        for i in range(len(weights) - 1, -1, -1):
            matmul(acts[i + 1].T, acts[i], out=weight_grads[i])       # gW = gy^T @ x
            if i:
                matmul(acts[i + 1], weights[i], out=input_grads[i - 1])  # gx = gy @ W

    return Prepared(step, {"the 8 GEMMs alone": gemms})


def setup_mlp_inference(torch: ModuleType | None) -> Prepared:
    """One sample through the MLP without recording a graph."""
    layers, x, _ = mlp_arrays(1)
    _, forward = deepgrad_mlp(layers, requires_grad=True)
    dx = dg.tensor(x)

    def infer() -> Any:
        with dg.no_grad():
            return forward(dx)

    if torch is None:
        return Prepared(infer)
    _, torch_forward = torch_mlp(torch, layers, requires_grad=True)
    tx = torch.tensor(x)

    def infer_no_grad() -> Any:
        with torch.no_grad():
            return torch_forward(tx)

    def infer_inference_mode() -> Any:
        with torch.inference_mode():
            return torch_forward(tx)

    return Prepared(infer, {"no_grad": infer_no_grad, "inference_mode": infer_inference_mode})


def import_seconds(module: str) -> Callable[[], float]:
    """A call timing ``import module`` in a fresh interpreter, less an empty interpreter's start.

    Bytecode caching is left on in the child whatever this environment says, so that the
    package's .pyc files exist after the warm-up, as they do after ``pip install`` (torch's do).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, env=env)
        middle = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
        return (middle - start) - (time.perf_counter() - middle)

    return run


def setup_import(torch: ModuleType | None) -> Prepared:
    """``import deepgrad`` vs ``import torch``, each in a fresh interpreter."""
    return Prepared(import_seconds("deepgrad"),
                    {} if torch is None else {"import torch": import_seconds("torch")})


WORKLOADS = [
    Workload("MLP 784-256-256-10 train step, batch 128", "throughput", setup_mlp_train,
             target=1.2, items_per_call=TRAIN_BATCH),
    Workload("MLP train step as above, layers and loss written from primitives", "throughput",
             lambda torch: setup_mlp_train(torch, fused=False), items_per_call=TRAIN_BATCH),
    Workload("NumPy hand-written MLP train step, batch 128", "throughput", setup_numpy_train,
             items_per_call=TRAIN_BATCH, deepgrad_label="NumPy by hand"),
    Workload("MLP train step as a fraction of its GEMMs' rate (torch column: the step's 8 "
             "GEMMs alone, as deepgrad runs them)", "throughput", setup_gemm_share, target=0.7,
             items_per_call=TRAIN_BATCH, compare_outputs=False),
    Workload("MLP 784-256-256-10 inference, batch 1, no_grad", "latency", setup_mlp_inference,
             target=0.6, unit="us"),
    Workload("import time", "latency", setup_import, target=0.1, unit="ms", self_timed=True,
             compare_outputs=False),
]
