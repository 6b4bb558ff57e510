"""Recurrent rows (issue 7): a character-level language model's training step.

Tokens (T = 64, N = 64) from a vocabulary of 100 go through Embedding(100, 64) -> a recurrent
layer (hidden 256) -> Linear(256, 100) -> cross-entropy over all T * N positions -> backward ->
an SGD step (lr 0.1), float32. The weights are drawn once in NumPy with PyTorch's default
initializations and copied into both frameworks; both sides train the same model on the same
batch, so their losses agree call after call (the correctness check compares the first three).
Throughput is in tokens per second (T * N tokens per call).

torch runs ``nn.LSTM`` / ``nn.GRU`` as a user writes it (its CPU build picks its own kernel,
oneDNN where it applies) and, as a second variant, with oneDNN disabled (``aten`` kernels); the
harness compares with the faster. deepgrad runs its fused sequence op: one input GEMM per layer,
one recurrent GEMM and in-place gate math per step, a hand-written backward through time whose
weight gradients are one GEMM each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad.bench.harness import Prepared, Workload
from deepgrad.nn import functional as F

VOCAB, EMBED, HIDDEN, STEPS, BATCH = 100, 64, 256, 64, 64
LR = 0.1
SEED = 0
GATES = {"LSTM": 4, "GRU": 3}


def model_arrays(kind: str, layers: int) -> dict[str, np.ndarray]:
    """Weights named as in ``Sequential(Embedding, LSTM/GRU, Linear)``'s pieces, float32."""
    rng = np.random.default_rng(SEED)
    bound = 1 / math.sqrt(HIDDEN)
    rows = GATES[kind] * HIDDEN
    arrays = {"embedding.weight": rng.standard_normal((VOCAB, EMBED)).astype(np.float32)}
    for layer in range(layers):
        features = EMBED if layer == 0 else HIDDEN
        for name, shape in ((f"weight_ih_l{layer}", (rows, features)),
                            (f"weight_hh_l{layer}", (rows, HIDDEN)),
                            (f"bias_ih_l{layer}", (rows,)), (f"bias_hh_l{layer}", (rows,))):
            arrays[f"rnn.{name}"] = rng.uniform(-bound, bound, shape).astype(np.float32)
    arrays["head.weight"] = rng.uniform(-bound, bound, (VOCAB, HIDDEN)).astype(np.float32)
    arrays["head.bias"] = rng.uniform(-bound, bound, VOCAB).astype(np.float32)
    return arrays


def batch() -> tuple[np.ndarray, np.ndarray]:
    """Input tokens and next-token targets, (T, N) int64 each."""
    rng = np.random.default_rng(SEED + 1)
    tokens = rng.integers(0, VOCAB, (STEPS + 1, BATCH))
    return tokens[:-1], tokens[1:]


def _load(module: Any, arrays: dict[str, np.ndarray], prefix: str) -> None:
    module.load_state_dict({key[len(prefix):]: value.copy() for key, value in arrays.items()
                            if key.startswith(prefix)})


def setup_char_model(torch: ModuleType | None, kind: str, layers: int) -> Prepared:
    """deepgrad's train step and torch's (in each variant) on copies of the same weights."""
    arrays = model_arrays(kind, layers)
    inputs, targets = batch()

    embedding = dg.nn.Embedding(VOCAB, EMBED)
    rnn = getattr(dg.nn, kind)(EMBED, HIDDEN, num_layers=layers)
    head = dg.nn.Linear(HIDDEN, VOCAB)
    for module, prefix in ((embedding, "embedding."), (rnn, "rnn."), (head, "head.")):
        _load(module, arrays, prefix)
    params = [*embedding.parameters(), *rnn.parameters(), *head.parameters()]
    optimizer = dg.optim.SGD(params, lr=LR)
    x, y = dg.tensor(inputs), dg.tensor(targets.reshape(-1))

    def step() -> Any:
        output, _ = rnn(embedding(x))
        loss = F.cross_entropy(head(output).reshape(STEPS * BATCH, VOCAB), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    if torch is None:
        return Prepared(step)
    return Prepared(step, {"nn default": torch_step(torch, kind, layers, arrays, True),
                           "oneDNN off": torch_step(torch, kind, layers, arrays, False)})


def torch_step(torch: ModuleType, kind: str, layers: int, arrays: dict[str, np.ndarray],
               onednn: bool) -> Callable[[], Any]:
    """torch's train step on its own copy of the weights, with or without oneDNN."""
    inputs, targets = batch()
    embedding = torch.nn.Embedding(VOCAB, EMBED)
    rnn = getattr(torch.nn, kind)(EMBED, HIDDEN, num_layers=layers)
    head = torch.nn.Linear(HIDDEN, VOCAB)
    for module, prefix in ((embedding, "embedding."), (rnn, "rnn."), (head, "head.")):
        module.load_state_dict({key[len(prefix):]: torch.tensor(value)
                                for key, value in arrays.items() if key.startswith(prefix)})
    params = [*embedding.parameters(), *rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=LR, foreach=True)
    x, y = torch.tensor(inputs), torch.tensor(targets.reshape(-1))
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> Any:
        with torch.backends.mkldnn.flags(enabled=onednn):
            output, _ = rnn(embedding(x))
            loss = cross_entropy(head(output).reshape(STEPS * BATCH, VOCAB), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        return loss

    return step


TOKENS = STEPS * BATCH
SHAPES = f"embedding {EMBED}, hidden {HIDDEN}, seq {STEPS}, batch {BATCH}, vocab {VOCAB}"

WORKLOADS = [
    Workload(f"char-LSTM train step ({SHAPES}, 1 layer)", "throughput",
             lambda torch: setup_char_model(torch, "LSTM", 1), target=1.0, unit="tokens/s",
             items_per_call=TOKENS),
    Workload(f"char-GRU train step ({SHAPES}, 1 layer)", "throughput",
             lambda torch: setup_char_model(torch, "GRU", 1), unit="tokens/s",
             items_per_call=TOKENS),
    Workload(f"char-LSTM train step ({SHAPES}, 2 layers)", "throughput",
             lambda torch: setup_char_model(torch, "LSTM", 2), unit="tokens/s",
             items_per_call=TOKENS),
]
