"""Convolution rows: single conv2d layers forward+backward, and the Keras mnist_cnn network.

Every row is float32, batch 128, 28x28 inputs, weights drawn like PyTorch's default init (uniform
within 1/sqrt(fan_in)), random data with a fixed seed; torch gets copies of the same arrays and
runs both in its default NCHW layout and in channels_last (the faster one is compared with).

- Single layers: ``y = conv2d(x, W, b)`` then ``y.backward(g)`` with a fixed random ``g``; the
  input requires grad, as in the middle of a network, so all three gradients are computed.
- mnist_cnn (Keras' examples/mnist_cnn.py): conv3x3 1->32, relu, conv3x3 32->64, relu, max-pool
  2x2, dropout 0.25, flatten, dense 9216->128, relu, dropout 0.5, dense 128->10, cross-entropy;
  forward and backward. The dropout masks are random on both sides, so the losses differ and are
  not compared; the row without dropout checks that both sides compute the same thing.
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
from deepgrad.ops.conv import conv2d
from deepgrad.ops.linear import linear
from deepgrad.ops.pool import max_pool2d

BATCH = 128
SIZE = 28
SEED = 0


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    bound = 1 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _conv_arrays(c_in: int, c_out: int, kernel: int, groups: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    fan_in = c_in // groups * kernel * kernel
    return {"x": rng.standard_normal((BATCH, c_in, SIZE, SIZE)).astype(np.float32),
            "w": _uniform(rng, (c_out, c_in // groups, kernel, kernel), fan_in),
            "b": _uniform(rng, (c_out,), fan_in),
            "g": rng.standard_normal((BATCH, c_out, SIZE, SIZE)).astype(np.float32)}


def setup_conv(torch: ModuleType | None, c_in: int, c_out: int, kernel: int,
               groups: int = 1) -> Prepared:
    """One conv2d layer ('same' padding) forward and backward, all three gradients."""
    arrays = _conv_arrays(c_in, c_out, kernel, groups)
    padding = kernel // 2
    x, w, b = (dg.tensor(arrays[k], requires_grad=True) for k in "xwb")
    g = dg.tensor(arrays["g"])

    def step() -> Any:
        y = conv2d(x, w, b, padding=padding, groups=groups)
        y.backward(g)
        x.grad = w.grad = b.grad = None
        return y

    if torch is None:
        return Prepared(step)

    def torch_step(memory_format: Any) -> Callable[[], Any]:
        tx = torch.tensor(arrays["x"]).contiguous(memory_format=memory_format).requires_grad_()
        tw = torch.tensor(arrays["w"]).contiguous(memory_format=memory_format).requires_grad_()
        tb = torch.tensor(arrays["b"], requires_grad=True)
        tg = torch.tensor(arrays["g"]).contiguous(memory_format=memory_format)

        def run() -> Any:
            y = torch.nn.functional.conv2d(tx, tw, tb, padding=padding, groups=groups)
            y.backward(tg)
            tx.grad = tw.grad = tb.grad = None
            return y

        return run

    return Prepared(step, {"NCHW": torch_step(torch.contiguous_format),
                           "channels_last": torch_step(torch.channels_last)})


def _mnist_arrays() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    params = [_uniform(rng, (32, 1, 3, 3), 9), _uniform(rng, (32,), 9),
              _uniform(rng, (64, 32, 3, 3), 288), _uniform(rng, (64,), 288),
              _uniform(rng, (128, 9216), 9216), _uniform(rng, (128,), 9216),
              _uniform(rng, (10, 128), 128), _uniform(rng, (10,), 128)]
    x = rng.standard_normal((BATCH, 1, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    return params, x, y


def setup_mnist_cnn(torch: ModuleType | None, dropout: bool = True) -> Prepared:
    """Keras' mnist_cnn (with or without its dropouts): forward, cross-entropy, backward."""
    p1, p2 = (0.25, 0.5) if dropout else (0.0, 0.0)
    arrays, x, labels = _mnist_arrays()
    params = [dg.tensor(a, requires_grad=True) for a in arrays]
    dx, dy = dg.tensor(x), dg.tensor(labels)

    def step() -> Any:
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        h = conv2d(dx, w1, b1).relu()
        h = conv2d(h, w2, b2).relu()
        h = F.dropout(max_pool2d(h, 2), p1)
        h = F.dropout(linear(h.reshape(h.shape[0], -1), w3, b3).relu(), p2)
        loss = F.cross_entropy(linear(h, w4, b4), dy)
        loss.backward()
        for p in params:
            p.grad = None
        return loss

    if torch is None:
        return Prepared(step)
    functional = torch.nn.functional

    def torch_step(memory_format: Any) -> Callable[[], Any]:
        tp = [torch.tensor(a).contiguous(memory_format=memory_format if a.ndim == 4 else
                                          torch.contiguous_format).requires_grad_()
              for a in arrays]
        tx = torch.tensor(x).contiguous(memory_format=memory_format)
        ty = torch.tensor(labels)

        def run() -> Any:
            w1, b1, w2, b2, w3, b3, w4, b4 = tp
            h = functional.relu(functional.conv2d(tx, w1, b1))
            h = functional.relu(functional.conv2d(h, w2, b2))
            h = functional.dropout(functional.max_pool2d(h, 2), p1)
            h = functional.dropout(functional.relu(functional.linear(h.flatten(1), w3, b3)), p2)
            loss = functional.cross_entropy(functional.linear(h, w4, b4), ty)
            loss.backward()
            for p in tp:
                p.grad = None
            return loss

        return run

    return Prepared(step, {"NCHW": torch_step(torch.contiguous_format),
                           "channels_last": torch_step(torch.channels_last)})


WORKLOADS = [
    Workload("Conv2d 3x3 32->64 fwd+bwd, batch 128, 28x28", "throughput",
             lambda torch: setup_conv(torch, 32, 64, 3), items_per_call=BATCH),
    Workload("Conv2d 1x1 64->64 fwd+bwd, batch 128, 28x28", "throughput",
             lambda torch: setup_conv(torch, 64, 64, 1), items_per_call=BATCH),
    Workload("depthwise Conv2d 3x3 64ch fwd+bwd, batch 128, 28x28", "throughput",
             lambda torch: setup_conv(torch, 64, 64, 3, groups=64), items_per_call=BATCH),
    Workload("Keras mnist_cnn fwd+bwd, batch 128", "throughput",
             setup_mnist_cnn, target=1.0, items_per_call=BATCH, compare_outputs=False),
    Workload("Keras mnist_cnn without dropout fwd+bwd, batch 128", "throughput",
             lambda torch: setup_mnist_cnn(torch, dropout=False), items_per_call=BATCH),
]
