"""Attention rows: a small Transformer encoder's training step, and multi-head attention alone.

Tokens (N = 32 sequences of T = 64) from a vocabulary of 100 go through Embedding(100, 128) ->
TransformerEncoder (2 layers, d_model 128, 4 heads, feed-forward 512, pre-norm, GELU, dropout 0,
batch_first, a causal mask) -> Linear(128, 100) -> cross-entropy over all positions -> backward
-> an SGD step (lr 0.1), float32. torch's randomly initialized weights are copied into deepgrad's
model (the parameter names are torch's), so both sides train the same model on the same batch
and their losses agree call after call. Throughput is in tokens per second.

deepgrad's attention is a composition of its own ops (matmul, softmax, masked_fill); torch runs
``nn.TransformerEncoder`` as a user writes it (its scaled-dot-product kernel).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad.bench.harness import Prepared, Workload
from deepgrad.nn import functional as F

VOCAB, D_MODEL, HEADS, FF, LAYERS, STEPS, BATCH = 100, 128, 4, 512, 2, 64, 32
LR = 0.1
SEED = 0


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    tokens = rng.integers(0, VOCAB, (BATCH, STEPS + 1))
    return tokens[:, :-1], tokens[:, 1:]


def _build(nn: Any) -> tuple[Any, Any, Any]:
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    # Nested tensors serve only torch's inference fast path (off with norm_first, with a warning)
    return (nn.Embedding(VOCAB, D_MODEL),
            nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False),
            nn.Linear(D_MODEL, VOCAB))


def setup_encoder(torch: ModuleType | None) -> Prepared:
    """deepgrad's train step and torch's on copies of the same weights."""
    inputs, targets = _batch()
    ours = _build(dg.nn)
    if torch is not None:
        torch.manual_seed(SEED)
        theirs = _build(torch.nn)
        for mine, model in zip(ours, theirs):
            mine.load_state_dict({k: v.detach().numpy().copy()
                                  for k, v in model.state_dict().items()})
    mask = dg.nn.Transformer.generate_square_subsequent_mask(STEPS)
    params = [p for module in ours for p in module.parameters()]
    optimizer = dg.optim.SGD(params, lr=LR)
    x, y = dg.tensor(inputs), dg.tensor(targets.reshape(-1))
    embedding, encoder, head = ours

    def step() -> Any:
        hidden = encoder(embedding(x), mask=mask, is_causal=True)
        loss = F.cross_entropy(head(hidden).reshape(BATCH * STEPS, VOCAB), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    if torch is None:
        return Prepared(step)
    return Prepared(step, {"nn default": _torch_step(torch, theirs, inputs, targets)})


def _torch_step(torch: ModuleType, model: tuple, inputs: np.ndarray,
                targets: np.ndarray) -> Callable[[], Any]:
    embedding, encoder, head = model
    params = [p for module in model for p in module.parameters()]
    optimizer = torch.optim.SGD(params, lr=LR, foreach=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(STEPS)
    x, y = torch.tensor(inputs), torch.tensor(targets.reshape(-1))

    def step() -> Any:
        hidden = encoder(embedding(x), mask=mask, is_causal=True)
        loss = torch.nn.functional.cross_entropy(head(hidden).reshape(BATCH * STEPS, VOCAB), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def setup_attention(torch: ModuleType | None) -> Prepared:
    """MultiheadAttention forward and backward (self-attention, causal mask), same weights."""
    rng = np.random.default_rng(SEED)
    data = rng.standard_normal((BATCH, STEPS, D_MODEL)).astype(np.float32)
    ours = dg.nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    mask = dg.nn.Transformer.generate_square_subsequent_mask(STEPS)
    x = dg.tensor(data, requires_grad=True)

    def step() -> Any:
        out, _ = ours(x, x, x, attn_mask=mask, need_weights=False)
        loss = out.square().mean()
        ours.zero_grad()
        x.grad = None
        loss.backward()
        return loss

    if torch is None:
        return Prepared(step)
    theirs = torch.nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    t_mask = torch.nn.Transformer.generate_square_subsequent_mask(STEPS)
    tx = torch.tensor(data, requires_grad=True)

    def torch_step() -> Any:
        out, _ = theirs(tx, tx, tx, attn_mask=t_mask, need_weights=False)
        loss = out.square().mean()
        theirs.zero_grad(set_to_none=True)
        tx.grad = None
        loss.backward()
        return loss

    return Prepared(step, {"nn default": torch_step})


TOKENS = STEPS * BATCH
SHAPES = f"d_model {D_MODEL}, {HEADS} heads, seq {STEPS}, batch {BATCH}"

WORKLOADS = [
    Workload(f"Transformer encoder train step ({SHAPES}, ff {FF}, {LAYERS} layers, causal)",
             "throughput", setup_encoder, unit="tokens/s", items_per_call=TOKENS),
    Workload(f"MultiheadAttention fwd+bwd ({SHAPES}, causal)", "throughput", setup_attention,
             unit="tokens/s", items_per_call=TOKENS),
]
