"""Fashion-MNIST read row by row by a GRU: each image is a sequence of 28 steps of 28 pixels.

    .venv/bin/python examples/gru_fashion_rows.py [--epochs 15] [--hidden 128] [--layers 2]

A 2-layer GRU (hidden 128) reads the rows top to bottom; a linear head classifies from its
last layer's final state. Trained with ``dg.Trainer``: AdamW with a one-cycle schedule,
gradients clipped to norm 1, random horizontal flips and 1-pixel shifts of the training images.
The published Fashion-MNIST table lists GRU+SVM at 0.888-0.897 test accuracy; the target here
is 0.90.

Measured with the defaults (15 epochs, nice -n 5, one BLAS thread, on a 2-core machine shared
with up to four other jobs, so the time is an upper bound: epochs took 54 to 210 s):
**0.9108 test accuracy** (0.9004 after epoch 10), in 24 min.

Writes ``OUT/model.safetensors`` (weights) and ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.data import DataLoader
from deepgrad.data import transforms as T
from deepgrad.datasets import FashionMNIST
from deepgrad.parallel import limit_threads

MEAN, STD = 0.2860, 0.3530  # of the training images' pixels in [0, 1]


class RowGRU(nn.Module):
    """(N, 1, 28, 28) images -> (N, 10) logits: a GRU over the 28 rows, then a linear head."""

    def __init__(self, hidden: int = 128, num_layers: int = 2, bidirectional: bool = False,
                 dropout: float = 0.0, num_classes: int = 10) -> None:
        super().__init__()
        self.gru = nn.GRU(28, hidden, num_layers, batch_first=True, dropout=dropout,
                          bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, images: dg.Tensor) -> dg.Tensor:
        rows = images.reshape(images.shape[0], 28, 28)  # (N, T=28 rows, 28 pixels)
        _, h_n = self.gru(rows)  # (num_layers * directions, N, hidden)
        # The last layer's final state: after the bottom row going down, and after the top row
        # going up when bidirectional.
        last = dg.cat([h_n[-2], h_n[-1]], dim=1) if self.gru.bidirectional else h_n[-1]
        return self.head(last)


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate on the 10,000 test images, save the model and the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--dropout", type=float, default=0.0, help="between the GRU layers")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak of the one-cycle schedule")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--no-augment", action="store_true", help="no flips and shifts")
    parser.add_argument("--threads", type=int, default=1, help="threads to compute with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/gru_fashion_rows")
    args = parser.parse_args(argv)
    with limit_threads(args.threads):
        return train_and_report(args)


def train_and_report(args: argparse.Namespace) -> int:
    """The run: loaders, model, Trainer.fit, the test accuracy and the files."""
    dg.manual_seed(args.seed)
    normalize = [T.ToFloat(), T.Normalize(MEAN, STD)]
    augment = [] if args.no_augment else [T.RandomCrop(28, padding=1), T.RandomHorizontalFlip()]
    train = DataLoader(FashionMNIST(train=True), batch_size=args.batch_size, shuffle=True,
                       seed=args.seed, transform=T.Compose(augment + normalize))
    test = DataLoader(FashionMNIST(train=False), batch_size=500, transform=T.Compose(normalize))
    model = RowGRU(args.hidden, args.layers, args.bidirectional, args.dropout)
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * len(train))
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, metrics=("accuracy",),
                         scheduler=schedule, grad_clip=1.0, verbose=0,
                         callbacks=[EpochPrinter()])
    print(f"{model.gru}: {sum(p.numel() for p in model.parameters()):,} parameters; "
          f"{args.epochs} epochs of {len(train)} batches", flush=True)
    started = time.perf_counter()
    trainer.fit(train, epochs=args.epochs, validation_data=test)
    seconds = time.perf_counter() - started
    result = trainer.evaluate(test)
    out = Path(args.out)
    dg.save(model, out / "model.safetensors")
    summary = {"test_accuracy": result["accuracy"], "test_loss": result["loss"],
               "train_seconds": round(seconds, 1), "epochs": args.epochs,
               "hidden": args.hidden, "layers": args.layers,
               "bidirectional": args.bidirectional, "augment": not args.no_augment,
               "history": trainer.history.state_dict()}
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"test accuracy {result['accuracy']:.4f} on 10,000 Fashion-MNIST test images "
          f"({'reaches' if result['accuracy'] >= 0.90 else 'below'} the 0.90 target); trained "
          f"{args.epochs} epochs in {seconds / 60:.1f} min; wrote {out / 'results.json'}")
    return 0


class EpochPrinter(dg.callbacks.Callback):
    """One line per epoch: training loss and accuracy, test accuracy, time so far."""

    def on_train_begin(self, logs: dict) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        print(f"epoch {epoch + 1:2d}: train loss {logs['loss']:.4f} accuracy "
              f"{logs['accuracy']:.4f}; test accuracy {logs['val_accuracy']:.4f}; "
              f"{time.perf_counter() - self.started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
