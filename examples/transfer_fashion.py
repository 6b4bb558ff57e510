"""Transfer learning on Fashion-MNIST: features learned on five classes, reused for the other five.

    .venv/bin/python examples/transfer_fashion.py [--quick] [--seeds 3] [--pretrained PATH]
                                [--pretrain-classes 0,1,3,5,8] [--pretrain-epochs 15] [--out DIR]

1. Pretrain the flagship CNN on classes 0, 1, 3, 5, 8 only (T-shirt/top, Trouser, Dress, Sandal,
   Bag; ``--pretrain-classes`` chooses another five) with the recipe of ``deepgrad pretrain``
   (15 epochs over their 30,000 training images, ``--pretrain-epochs``), unless
   ``--pretrained`` gives a weights file it wrote.
2. For the five held-out classes (by default Pullover, Coat, Shirt, Sneaker, Ankle boot: three
   that are easily confused with each other, so that k images leave room for better features) and
   k = 10, 50, 500 labeled training images per class (drawn at random, per seed), train
     (a) frozen:    the pretrained convolutional body frozen (its BatchNorm layers then keep
                    their statistics) and a new head (``replace_head``: the CNN's classifier,
                    two dense layers, re-initialized with 5 outputs) trained on its features;
     (b) fine-tune: the same new head, and the pretrained body trained at a 10x lower rate;
     (c) scratch:   the same network from random weights;
     (d) pixels:    logistic regression on the raw (normalized) pixels.
   Every run: Adam (lr 1e-3; 1e-4 for the body in (b)), batches of 32, random crops and flips,
   at least 300 steps and 10 epochs, the last weights kept (no validation set: k is tiny).
3. Test accuracy on the 5,000 test images of the held-out classes, mean and standard deviation
   (NumPy's, ddof=0) over seeds 0, 1, 2 (``--seeds N``: 0 .. N-1; the pretrained network is the
   same for all seeds), and each transfer method's gain over (c) seed by seed (paired: every
   method of a seed trains on the same images), whose spread is far smaller than the table's.

Writes to ``--out`` (default ``runs/transfer_fashion``): ``results.json``, ``results.md`` (the
table), ``transfer.png`` (accuracy against k), ``embedding_heldout.png`` (PCA of the pretrained
features of the held-out test images), and the pretraining outputs in ``pretrain/``.
``--quick`` runs a small version in a few minutes (fewer images, steps and seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data import transforms as T
from deepgrad.datasets import FashionMNIST
from deepgrad.nn.utils.transfer import replace_head
from deepgrad.pretrain_cli import pretrain

CLASSES = 5  # classes on each side of the split
METHODS = {"frozen": "(a) new head on frozen features", "finetune": "(b) fine-tune all, body lr/10",
           "scratch": "(c) same network from scratch", "pixels": "(d) logistic regression, pixels"}
MEAN, STD = 0.2860, 0.3530
LR, BODY_LR, BATCH = 1e-3, 1e-4, 32


def held_out(dataset: FashionMNIST, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 1, 28, 28) of the held-out ``classes``, labeled 0 .. 4."""
    keep = np.isin(dataset.targets, classes)
    return dataset.data[keep][:, None], np.searchsorted(classes, dataset.targets[keep])


def sample(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` random examples of each class."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in range(CLASSES)])


def build(method: str, weights: Path) -> tuple[nn.Module, optim.Optimizer]:
    """The network and optimizer of one method."""
    if method == "pixels":
        model = dg.models.mlp((784, CLASSES))
        return model, optim.Adam(model.parameters(), lr=LR)
    if method == "scratch":
        model = dg.models.cnn(num_classes=CLASSES)
        return model, optim.Adam(model.parameters(), lr=LR)
    model = dg.models.cnn(num_classes=CLASSES, pretrained=weights)
    if method == "frozen":
        model.requires_grad_(False)          # before replace_head: the new head is trainable
        head = replace_head(model, CLASSES)
        return model, optim.Adam(head.parameters(), lr=LR)
    head = replace_head(model, CLASSES)
    return model, optim.Adam([{"params": model.features.parameters(), "lr": BODY_LR},
                              {"params": head.parameters()}], lr=LR)


def run(method: str, weights: Path, train: tuple, test_loader: DataLoader, seed: int,
        min_steps: int, min_epochs: int) -> float:
    """Train one method on ``train = (x, y)``; its test accuracy."""
    dg.manual_seed(seed)
    model, optimizer = build(method, weights)
    augment = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.ToFloat(),
                         T.Normalize(MEAN, STD)])
    loader = DataLoader(TensorDataset(*train), batch_size=BATCH, shuffle=True, seed=seed,
                        transform=augment)
    epochs = max(min_epochs, math.ceil(min_steps / len(loader)))
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optimizer, verbose=0)
    trainer.fit(loader, epochs=epochs)
    return trainer.evaluate(test_loader)["accuracy"]


def paired(table: dict, sizes: list[int]) -> str:
    """Each transfer method's gain over (c) scratch, seed by seed (the same k images per seed):
    mean and standard error of the per-seed difference, and how many seeds it won."""
    if len(table["scratch"][sizes[0]]) < 2:
        return ""
    lines = ["", "", "Paired gain over (c), in accuracy points: mean ± standard error of the "
             "per-seed difference (the same images for every method of a seed); seeds won.", "",
             "| method | " + " | ".join(f"k = {k}" for k in sizes) + " |",
             "|" + " --- |" * (len(sizes) + 1)]
    for method in ("frozen", "finetune"):
        cells = []
        for k in sizes:
            gain = 100 * (np.array(table[method][k]) - np.array(table["scratch"][k]))
            error = gain.std(ddof=1) / math.sqrt(len(gain))
            cells.append(f"{gain.mean():+.1f} ± {error:.1f} ({(gain > 0).sum()}/{len(gain)})")
        lines.append(f"| {METHODS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(table: dict, sizes: list[int], path: Path) -> None:
    """Accuracy against examples per class, one line per method, error bars = std."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("(no plot: install matplotlib with pip install 'deepgrad[plot]')")
        return
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for method, label in METHODS.items():
        means = [np.mean(table[method][k]) for k in sizes]
        stds = [np.std(table[method][k]) for k in sizes]
        ax.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(k) for k in sizes])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("labeled training images per held-out class")
    ax.set_ylabel("test accuracy on the 5 held-out classes")
    ax.set_title("CNN pretrained on 5 Fashion-MNIST classes, reused for the other 5",
                 fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend()
    figure.savefig(path)


def main(argv: list[str] | None = None) -> int:
    """Pretrain (or load), run every method, size and seed, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small version: 3,000 pretraining images, k = 10 and 50, one "
                             "seed, 1,000 test images, shorter training")
    parser.add_argument("--pretrained", type=Path,
                        help="a weights file from 'deepgrad pretrain --classes 0,1,3,5,8' "
                             "(default: pretrain now)")
    parser.add_argument("--pretrain-epochs", type=int, default=15,
                        help="epochs of pretraining when --pretrained is not given (default 15)")
    parser.add_argument("--pretrain-classes", default="0,1,3,5,8",
                        help="the five classes to pretrain on (the other five are held out)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="how many seeds (0, 1, ...) to average over (default 3)")
    parser.add_argument("--out", type=Path, default=Path("runs/transfer_fashion"))
    args = parser.parse_args(argv)
    for flag, value in (("--seeds", args.seeds), ("--pretrain-epochs", args.pretrain_epochs)):
        if value < 1:
            parser.error(f"{flag}: at least 1; got {value}")
    pretrain_classes = tuple(sorted(int(c) for c in args.pretrain_classes.split(",")))
    if len(set(pretrain_classes)) != CLASSES or not set(pretrain_classes) <= set(range(10)):
        parser.error(f"--pretrain-classes: five distinct classes 0-9; got {args.pretrain_classes}")
    held = tuple(c for c in range(10) if c not in pretrain_classes)
    quick = args.quick
    sizes = [10, 50] if quick else [10, 50, 500]
    seeds = [0] if quick else list(range(args.seeds))
    min_steps, min_epochs = (100, 3) if quick else (300, 10)
    args.out.mkdir(parents=True, exist_ok=True)

    weights = args.pretrained
    if weights is None:
        started = time.perf_counter()
        result = pretrain("cnn", pretrain_classes, args.out / "pretrain",
                          epochs=1 if quick else args.pretrain_epochs,
                          limit=3000 if quick else None, verbose=0)
        weights = Path(result["weights"])
        print(f"pretrained on classes {pretrain_classes}: test accuracy "
              f"{result['test_accuracy']:.4f} on those classes "
              f"({time.perf_counter() - started:.0f} s)")

    x_train, y_train = held_out(FashionMNIST(train=True), held)
    x_test, y_test = held_out(FashionMNIST(train=False), held)
    if quick:
        x_test, y_test = x_test[:1000], y_test[:1000]
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=500,
                             transform=T.Compose([T.ToFloat(), T.Normalize(MEAN, STD)]))
    try:
        from deepgrad.train import visualize

        model = dg.models.cnn(num_classes=CLASSES, pretrained=weights)
        features = visualize.embeddings(model, (x_test[:2000] / 255 - MEAN) / STD)
        names = [FashionMNIST.classes[c] for c in held]
        visualize.plot_embedding(features, y_test[:2000], args.out / "embedding_heldout.png",
                                 class_names=names, title="pretrained features of the held-out "
                                                          "classes (never trained on), PCA")
    except ImportError:
        pass

    table: dict[str, dict[int, list[float]]] = {m: {k: [] for k in sizes} for m in METHODS}
    for seed in seeds:
        for k in sizes:
            chosen = sample(y_train, k, seed)
            train = (x_train[chosen], y_train[chosen])
            for method in METHODS:
                started = time.perf_counter()
                accuracy = run(method, weights, train, test_loader, seed, min_steps, min_epochs)
                table[method][k].append(accuracy)
                print(f"seed {seed}  k {k:4d}  {method:9s} accuracy {accuracy:.4f}  "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)

    header = "| method | " + " | ".join(f"k = {k}" for k in sizes) + " |"
    lines = [header, "|" + " --- |" * (len(sizes) + 1)]
    for method, label in METHODS.items():
        cells = [f"{np.mean(table[method][k]):.3f} ± {np.std(table[method][k]):.3f}"
                 for k in sizes]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines) + paired(table, sizes)
    print(f"\ntest accuracy on the {len(y_test):,} test images of the held-out classes, "
          f"mean ± std over seeds {seeds} (k = labeled training images per class):\n")
    print(markdown)
    (args.out / "results.md").write_text(markdown + "\n")
    (args.out / "results.json").write_text(json.dumps(
        {"sizes": sizes, "seeds": seeds, "pretrained": str(weights), "quick": quick,
         "pretrain_classes": pretrain_classes, "held_out": held,
         "accuracy": {m: {str(k): v for k, v in table[m].items()} for m in METHODS}},
        indent=1) + "\n")
    plot(table, sizes, args.out / "transfer.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
