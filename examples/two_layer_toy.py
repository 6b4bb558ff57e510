"""Train a two-layer network on a toy 2-D dataset (three interleaved spirals) and print accuracy.

Everything is written from deepgrad's primitives: the layers are ``x @ W.T + b``, the loss is
cross-entropy from ``log_softmax``, and the optimizer is SGD with momentum, by hand.

    python examples/two_layer_toy.py
"""

from __future__ import annotations

import math
import time

import numpy as np

import deepgrad as dg


def make_spiral(n_per_class: int, classes: int, noise: float, seed: int) -> tuple:
    """Points on ``classes`` interleaved spiral arms in 2-D, with their class labels."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.05, 1.0, n_per_class), classes)
    label = np.repeat(np.arange(classes), n_per_class)
    angle = label * 2 * math.pi / classes + radius * 4.0 + rng.normal(0, noise, radius.shape)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1).astype(np.float32)
    return x, label.astype(np.int64)


def main() -> None:
    """Train for a few hundred full-batch steps and report train and test accuracy."""
    dg.manual_seed(0)
    x_train, y_train = make_spiral(300, 3, noise=0.2, seed=0)
    x_test, y_test = make_spiral(100, 3, noise=0.2, seed=1)
    hidden = 64
    w1 = (dg.randn(hidden, 2) * math.sqrt(2 / 2)).requires_grad_()
    b1 = dg.zeros(hidden, requires_grad=True)
    w2 = (dg.randn(3, hidden) * math.sqrt(1 / hidden)).requires_grad_()
    b2 = dg.zeros(3, requires_grad=True)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p.numpy()) for p in params]

    def logits(x: dg.Tensor) -> dg.Tensor:
        return (x @ w1.T + b1).relu() @ w2.T + b2

    x, y = dg.tensor(x_train), dg.tensor(y_train)
    start = time.perf_counter()
    for step in range(1, 1001):
        logp = logits(x).log_softmax(dim=1)
        loss = -logp[dg.arange(len(y_train)), y].mean()
        loss.backward()
        with dg.no_grad():
            for p, v in zip(params, velocity, strict=True):
                v *= 0.9
                v += p.grad.numpy()
                p -= 0.2 * v
                p.grad = None
        if step % 200 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    seconds = time.perf_counter() - start

    with dg.no_grad():
        train_acc = (logits(x).numpy().argmax(1) == y_train).mean()
        test_acc = (logits(dg.tensor(x_test)).numpy().argmax(1) == y_test).mean()
    print(f"train accuracy {train_acc:.3f}  test accuracy {test_acc:.3f}  ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
