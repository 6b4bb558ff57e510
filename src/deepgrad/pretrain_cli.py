"""The ``deepgrad pretrain`` command: train a zoo model on some of a dataset's classes, to reuse its
features for the others (transfer learning).

    deepgrad pretrain --model cnn --classes 0,1,3,5,8 --epochs 15 --out runs/pretrain

writes to ``--out``: ``model.safetensors`` (the weights, loadable with
``dg.models.cnn(num_classes=5, pretrained=path)``; the metadata records the architecture and the
classes), ``results.json`` (test accuracy on those classes, time), and, with matplotlib,
``filters.png`` (the first layer's filters) and ``embedding.png`` (PCA of the penultimate
features of 2,000 test images of every class, the held-out ones included). ``deepgrad.cli``
registers the command with :func:`add_pretrain_parser`; the Python entry point is
:func:`pretrain`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.cli import DATASETS, nonnegative_float, positive_float, positive_int

_MODELS = ("cnn", "resnet", "mobilenet")  # the zoo models that take ``pretrained=``
_DATASETS = tuple(DATASETS)
_EMBEDDED_TEST_IMAGES = 2000


def _class_list(value: str) -> list[int]:
    try:
        classes = [int(c) for c in value.split(",") if c.strip()]
    except ValueError:
        classes = []
    if len(classes) < 2 or min(classes) < 0 or len(set(classes)) != len(classes):
        raise argparse.ArgumentTypeError(f"must be at least two distinct class indices "
                                         f"separated by commas, such as 0,2,4,6,8; got {value!r}")
    return classes


def _select(dataset: Any, classes: Sequence[int], limit: int | None) -> tuple[Any, Any]:
    """The images (N, C, H, W) of ``classes`` and their labels renumbered 0 .. k-1 in the
    order given, the first ``limit`` of them."""
    targets = np.asarray(dataset.targets)
    chosen = np.flatnonzero(np.isin(targets, classes))[:limit]
    renumber = np.full(int(targets.max()) + 1, -1, np.int64)
    renumber[list(classes)] = np.arange(len(classes))
    return dataset.images[chosen], renumber[targets[chosen]]


def pretrain(model: str = "cnn", classes: Sequence[int] = (0, 1, 3, 5, 8),
             out: str | Path = "runs/pretrain", dataset: str = "fashion-mnist", epochs: int = 15,
             batch_size: int = 128, lr: float = 0.1, weight_decay: float = 5e-4,
             augment: bool = True, limit: int | None = None, seed: int = 0,
             verbose: int = 1) -> dict[str, Any]:
    """Train ``model`` (a zoo name) on the images of ``classes`` only, labeled 0 .. k-1 in the
    order given: SGD with Nesterov momentum and a one-cycle schedule, random crops (and flips
    for Fashion-MNIST and CIFAR-10) unless ``augment`` is False.

    Args:
        model: ``"cnn"``, ``"resnet"`` or ``"mobilenet"`` (default settings, for the
            dataset's channels and image size).
        classes: the dataset's class indices to train on.
        out: the directory for ``model.safetensors``, ``results.json`` and the plots.
        dataset: ``"fashion-mnist"``, ``"mnist"`` or ``"cifar-10"``.
        epochs, batch_size, lr, weight_decay: the recipe (``lr`` is the schedule's peak).
        augment: random crops and flips of the training images.
        limit: use only the first ``limit`` training and test images of those classes.
        seed: seeds the weights and the data order.
        verbose: 1 for a progress bar, 0 for silence.

    Returns:
        The results written to ``results.json``: test accuracy on ``classes``, the weights
        file, the time taken and the settings.
    """
    import deepgrad as dg
    from deepgrad import nn, optim
    from deepgrad.cli import CLIError, augmentation, build_model, load_dataset, preprocessing
    from deepgrad.data import DataLoader, TensorDataset
    from deepgrad.data import transforms as T
    from deepgrad.nn.utils.transfer import PRETRAIN_KEY
    from deepgrad.serialization import save_file

    if model not in _MODELS:
        raise CLIError(f"unknown model {model!r} for pretraining; choose one of "
                       f"{', '.join(_MODELS)}")
    if dataset not in _DATASETS:
        raise CLIError(f"unknown dataset {dataset!r}; choose one of {', '.join(_DATASETS)}")
    train_data = load_dataset(dataset, train=True)
    test_data = load_dataset(dataset, train=False)
    names = list(type(train_data).classes)
    wrong = [c for c in classes if not 0 <= c < len(names)]
    if wrong or len(set(classes)) != len(classes) or len(classes) < 2:
        raise CLIError(f"classes must be at least two distinct indices in 0 .. {len(names) - 1} "
                       f"({dataset} has {len(names)} classes); got {list(classes)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dg.manual_seed(seed)
    x_train, y_train = _select(train_data, classes, limit)
    x_test, y_test = _select(test_data, classes, limit)
    augment_train = augmentation(dataset) if augment else []
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size,
                              shuffle=True, seed=seed,
                              transform=T.Compose(augment_train + preprocessing(dataset)))
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=512,
                             transform=T.Compose(preprocessing(dataset)))
    spec = DATASETS[dataset]
    network = build_model(model, spec.channels, len(classes), image_size=spec.size)
    optimizer = optim.SGD(network.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=weight_decay)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                              total_steps=epochs * len(train_loader))
    trainer = dg.Trainer(network, nn.CrossEntropyLoss(), optimizer, scheduler=scheduler,
                         verbose=verbose)
    started = time.perf_counter()
    trainer.fit(train_loader, epochs=epochs)
    seconds = time.perf_counter() - started
    accuracy = trainer.evaluate(test_loader)["accuracy"]
    config = {"model": model, "dataset": dataset, "in_channels": spec.channels,
              "image_size": spec.size, "num_classes": len(classes), "classes": list(classes),
              "class_names": [names[c] for c in classes], "epochs": epochs, "seed": seed}
    weights = save_file(network.state_dict(), out / "model.safetensors",
                        metadata={PRETRAIN_KEY: json.dumps(config)})
    results = {"test_accuracy": accuracy, "test_images": len(y_test), "weights": str(weights),
               "train_images": len(y_train), "train_seconds": round(seconds, 1), **config}
    shown = min(limit or _EMBEDDED_TEST_IMAGES, _EMBEDDED_TEST_IMAGES)
    results["plots"] = [str(p) for p in _plots(network, test_data, shown, classes, names,
                                                dataset, out)]
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def _plots(network: Any, test_data: Any, shown: int, classes: Sequence[int], names: list[str],
           dataset: str, out: Path) -> list[Path]:
    """The first layer's filters and the PCA of the penultimate features of the first ``shown``
    test images, of every class (held-out classes marked), or nothing without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("(no plots: install matplotlib with pip install 'deepgrad[plot]')",
              file=sys.stderr)
        return []
    from deepgrad.cli import preprocessing
    from deepgrad.data import transforms as T
    from deepgrad.train import visualize

    images = T.Compose(preprocessing(dataset))(test_data.images[:shown])
    features = visualize.embeddings(network, images)
    labels = [name if c in classes else f"{name} (held out)" for c, name in enumerate(names)]
    return [visualize.plot_filters(network, out / "filters.png",
                                   title="first-layer filters after pretraining"),
            visualize.plot_embedding(features, test_data.targets[:shown],
                                     out / "embedding.png", class_names=labels,
                                     title="penultimate features of test images (PCA)")]


def _load_call(results: dict[str, Any]) -> str:
    """The ``dg.models`` call that builds the pretrained architecture and loads the weights."""
    from deepgrad.nn.utils.transfer import _architecture_arguments

    arguments = [*_architecture_arguments(results), f"pretrained={results['weights']!r}"]
    return f"dg.models.{results['model']}({', '.join(arguments)})"


def _run(args: argparse.Namespace) -> int:
    results = pretrain(args.model, args.classes, args.out, args.dataset, args.epochs,
                       args.batch_size, args.lr, args.weight_decay, not args.no_augment,
                       args.limit, args.seed, verbose=0 if args.quiet else 1)
    print(f"test accuracy {results['test_accuracy']:.4f} on {results['test_images']:,} "
          f"{args.dataset} test images of classes {','.join(map(str, args.classes))}; trained "
          f"{args.epochs} epoch{'s' if args.epochs > 1 else ''} in "
          f"{results['train_seconds'] / 60:.1f} min")
    print(f"wrote {results['weights']}; load it with {_load_call(results)}")
    return 0


def add_pretrain_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pretrain`` under ``subparsers`` (from ``parser.add_subparsers()``); returns
    its parser."""
    command = subparsers.add_parser(
        "pretrain", help="train a model on some classes, to transfer its features to others",
        description="Train a zoo model on a subset of a dataset's classes and write weights "
                    "that dg.models.<model>(num_classes=K, pretrained=PATH) loads.")
    command.add_argument("--model", choices=_MODELS, default="cnn")
    command.add_argument("--dataset", choices=_DATASETS, default="fashion-mnist")
    command.add_argument("--classes", type=_class_list, default=[0, 1, 3, 5, 8],
                         help="class indices to train on, comma-separated (default 0,1,3,5,8)")
    command.add_argument("--epochs", type=positive_int, default=15)
    command.add_argument("--batch-size", type=positive_int, default=128)
    command.add_argument("--lr", type=positive_float, default=0.1,
                         help="peak of the one-cycle schedule")
    command.add_argument("--weight-decay", type=nonnegative_float, default=5e-4)
    command.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    command.add_argument("--limit", type=positive_int,
                         help="use only the first N train and test images of those classes")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--out", default="runs/pretrain", help="directory for the outputs")
    command.add_argument("--quiet", action="store_true", help="no progress output")
    command.set_defaults(run=_run)
    return command


__all__ = ["add_pretrain_parser", "pretrain"]
