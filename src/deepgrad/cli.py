"""The ``deepgrad`` command: train, evaluate and run image classifiers, and print model summaries.

    deepgrad train --model cnn --dataset fashion-mnist --epochs 15 --out runs/cnn
    deepgrad evaluate runs/cnn/model.safetensors
    deepgrad predict runs/cnn/model.safetensors shirt.png
    deepgrad generate runs/char_lm/model.safetensors --prompt "def "
    deepgrad summary --model resnet
    deepgrad pretrain --model cnn --classes 0,2,4,6,8 --out runs/pretrain
    deepgrad rl train CartPole-v1 --steps 100000 --out runs/dqn     (needs deepgrad[rl])

A trained model is one safetensors file: its weights, plus (in the metadata) the architecture and
the preprocessing it was trained with, so ``evaluate`` and ``predict`` rebuild it from the file.
Wrong arguments print a one-line error and a usage hint, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_MODELS = ("mlp", "cnn", "resnet", "mobilenet")
_MODEL_KEY = "deepgrad.model"


@dataclass(frozen=True)
class DatasetSpec:
    """How the CLI reads a dataset: its class in ``deepgrad.datasets``, its images' channels and
    side, the per-channel mean and standard deviation of its training images (in [0, 1]; one
    number each for one channel), and the augmentation that suits it (random crops after
    padding, and horizontal flips where the classes are symmetric: not for digits)."""

    cls: str
    channels: int
    size: int
    mean: float | tuple[float, ...]
    std: float | tuple[float, ...]
    flips: bool
    padding: int


# Fashion-MNIST crops after 1 pixel of padding, not the usual 2: the flagship CNN underfits the
# heavier shifts (0.9388 and 0.9395 against 0.9339 and 0.9341 on two seeds, README "Results").
DATASETS = {
    "fashion-mnist": DatasetSpec("FashionMNIST", 1, 28, 0.2860, 0.3530, True, 1),
    "mnist": DatasetSpec("MNIST", 1, 28, 0.1307, 0.3081, False, 2),
    "cifar-10": DatasetSpec("CIFAR10", 3, 32, (0.4914, 0.4822, 0.4465),
                            (0.2470, 0.2435, 0.2616), True, 4),
}
_DATASETS = tuple(DATASETS)


class CLIError(Exception):
    """A problem with the command line's arguments or files, shown as one line."""


def build_model(name: str, in_channels: int = 1, num_classes: int = 10,
                dropout: float | None = None, image_size: int = 28, depth: int | None = None,
                width: float | None = None) -> Any:
    """A zoo model by name, for square images of ``image_size`` pixels a side with
    ``in_channels`` channels; ``dropout`` (mlp and cnn) replaces the model's default
    probability, ``depth`` (resnet) and ``width`` (resnet: the first stage's channels;
    mobilenet: the channel multiplier) the architecture's defaults."""
    from deepgrad import models

    if name not in _MODELS:
        raise CLIError(f"unknown model {name!r}; choose one of {', '.join(_MODELS)}")
    if dropout is not None and name not in ("mlp", "cnn"):
        raise CLIError(f"--dropout applies to the mlp and cnn models; {name} has no dropout")
    if depth is not None and name != "resnet":
        raise CLIError(f"--depth applies to the resnet model; {name} has a fixed depth")
    if width is not None and name not in ("resnet", "mobilenet"):
        raise CLIError(f"--width applies to the resnet and mobilenet models; not to {name}")
    options: dict[str, Any] = {} if dropout is None else {"dropout": dropout}
    if name == "resnet":
        if depth is not None:
            if depth < 8 or (depth - 2) % 6:
                raise CLIError(f"--depth: a resnet has 6n + 2 layers (8, 14, 20, 32, 44, 56, "
                               f"...); got {depth}")
            options["depth"] = depth
        if width is not None:
            if width != int(width):
                raise CLIError(f"--width: a resnet's width is its first stage's channel count, "
                               f"a whole number; got {width:g}")
            options["width"] = int(width)
    elif width is not None:
        options["width"] = width
    if name == "mlp":
        return models.mlp((in_channels * image_size ** 2, 256, 256, num_classes),
                          **{"dropout": 0.2, **options})
    if name == "cnn":
        options["image_size"] = image_size
    return getattr(models, name)(in_channels=in_channels, num_classes=num_classes, **options)


def load_dataset(name: str, train: bool) -> Any:
    """The train or test split of a dataset the CLI knows, by name; CLIError if not found."""
    from deepgrad import datasets

    cls = getattr(datasets, DATASETS[name].cls)
    try:
        return cls(train=train)
    except FileNotFoundError as e:  # its message lists every place tried and how to fix it
        raise CLIError(str(e)) from e


def preprocessing(dataset: str) -> Any:
    """The transforms that turn a dataset's uint8 images into the model's float inputs."""
    from deepgrad.data import transforms as T

    spec = DATASETS[dataset]
    return [T.ToFloat(), T.Normalize(spec.mean, spec.std)]


def augmentation(dataset: str, padding: int | None = None) -> list:
    """The random crops (after padding) and, where they suit the classes, flips of training;
    ``padding`` replaces the dataset's pixels of padding on each side (0: no crops)."""
    from deepgrad.data import transforms as T

    spec = DATASETS[dataset]
    padding = spec.padding if padding is None else padding
    return [*([T.RandomCrop(spec.size, padding=padding)] if padding else []),
            *([T.RandomHorizontalFlip()] if spec.flips else [])]


def normalized(images: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """uint8 images (N, C, H, W) as the float32 inputs of the model ``config`` describes."""
    mean, std = (np.reshape(np.asarray(v, np.float32), (-1, 1, 1)) for v in config["normalize"])
    return ((images.astype(np.float32) / 255 - mean) / std).astype(np.float32)


def _limited(data: Any, limit: int | None) -> Any:
    from deepgrad.data import Subset

    return data if limit is None or limit >= len(data) else Subset(data, range(limit))


def save_model(model: Any, path: Path, config: dict[str, Any]) -> Path:
    """The model's weights and the config that rebuilds it (``load_model``), in one file."""
    from deepgrad.serialization import save_file

    return save_file(model.state_dict(), path, metadata={_MODEL_KEY: json.dumps(config)})


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Rebuild a model saved by ``deepgrad train`` (or :func:`save_model`), in eval mode."""
    from deepgrad.serialization import TREE_KEY, load_file

    arrays, metadata = load_file(path)
    if _MODEL_KEY not in metadata and TREE_KEY in metadata:
        model_file = Path(path).parent / "model.safetensors"
        raise CLIError(f"{path}: a training checkpoint (it continues a run with 'deepgrad train "
                       f"--resume'); the trained model is {model_file}")
    if _MODEL_KEY not in metadata:
        raise CLIError(f"{path}: a weights file without a model description; it was not written "
                       f"by 'deepgrad train' (load it with dg.load_into(model, path))")
    config = json.loads(metadata[_MODEL_KEY])
    model = build_model(config["model"], config["in_channels"], len(config["classes"]),
                        image_size=config.get("image_size", 28),  # files before CIFAR-10: 28
                        depth=config.get("depth"), width=config.get("width"))
    model.load_state_dict(arrays)
    return model.eval(), config


# ------------------------------------------------------------------------------ train
def _train(args: argparse.Namespace) -> int:
    import deepgrad as dg
    from deepgrad import nn, optim
    from deepgrad.data import DataLoader
    from deepgrad.data import transforms as T

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dg.manual_seed(args.seed)
    train_set = _limited(load_dataset(args.dataset, train=True), args.limit)
    test_set = _limited(load_dataset(args.dataset, train=False), args.limit)
    spec = DATASETS[args.dataset]
    if args.crop_padding is None:
        args.crop_padding = spec.padding
    augment = [] if args.no_augment else augmentation(args.dataset, args.crop_padding)
    erasing = [T.RandomErasing(args.erasing)] if args.erasing else []  # after normalizing: 0 = mean
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              seed=args.seed,
                              transform=T.Compose(augment + preprocessing(args.dataset) + erasing))
    test_loader = DataLoader(test_set, batch_size=512,
                             transform=T.Compose(preprocessing(args.dataset)))
    classes = list(type(load_dataset(args.dataset, train=False)).classes)
    model = build_model(args.model, spec.channels, len(classes), args.dropout, spec.size,
                        args.depth, args.width)
    if args.init is not None:
        _initialize(model, args)
    if args.swa_lr is not None and args.lr is not None:
        raise CLIError("--lr is the peak of the one-cycle schedule, which --swa-lr replaces by "
                       "a constant rate: give one of them")
    if args.lr is None and args.swa_lr is None:
        args.lr = 0.1
    lr = args.swa_lr if args.swa_lr is not None else args.lr
    if args.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                              weight_decay=args.weight_decay)
    else:
        optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=args.weight_decay)
    checkpoint = out / "checkpoint.safetensors"
    checkpoints = dg.callbacks.ModelCheckpoint(checkpoint, every_n_batches=args.checkpoint_every)
    callbacks = [checkpoints, dg.callbacks.JSONLogger(out / "history.json")]
    if args.swa_lr is None:
        scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                  total_steps=args.epochs * len(train_loader))
    else:  # a constant rate, the weights of each epoch's end averaged (Izmailov et al., 2018)
        scheduler = None
        callbacks.append(dg.callbacks.WeightAveraging(every="epoch", update_bn=True))
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
                         optimizer, scheduler=scheduler,
                         verbose=0 if args.quiet else 1, callbacks=callbacks)
    started = time.perf_counter()
    # Each pass over the test set costs about a twentieth of an epoch: every few epochs, and
    # after the last, is enough for the curves.
    validated = set(range(args.validate_every, args.epochs + 1, args.validate_every))
    resume_from = checkpoint if args.resume and checkpoint.exists() else None
    try:
        history = trainer.fit(train_loader, epochs=args.epochs, validation_data=test_loader,
                              validation_freq=validated | {args.epochs}, resume_from=resume_from)
    except KeyboardInterrupt:
        if checkpoints.saved or resume_from is not None:  # not another run's old checkpoint
            print(f"deepgrad train: {checkpoint} holds the run up to its last checkpoint: the "
                  f"same command with --resume continues from there", file=sys.stderr)
        raise
    except (dg.CheckpointError, dg.FileFormatError) as e:
        raise CLIError(f"{e}. (--resume continues the run that wrote the checkpoint, with its "
                       f"--epochs, --batch-size and --limit; leave out --resume, or choose another "
                       f"--out, to start a new run)") from e
    # A resumed run's history holds the earlier pieces' epoch times too: the total is theirs.
    seconds = sum(history.times)
    piece = (f" ({(time.perf_counter() - started) / 60:.1f} min since resuming)"
             if resume_from is not None else "")
    config = {"model": args.model, "dataset": args.dataset, "in_channels": spec.channels,
              "image_size": spec.size, "classes": classes, "normalize": [spec.mean, spec.std],
              "epochs": args.epochs, "seed": args.seed,
              **{key: getattr(args, key) for key in ("depth", "width")
                 if getattr(args, key) is not None}}
    model_path = save_model(model, out / "model.safetensors", config)
    outputs = trainer.predict(test_loader)
    targets = np.concatenate([y for _, y in test_loader])
    accuracy = float((outputs.argmax(1) == targets).mean())
    written = [model_path, checkpoint, out / "history.json"]
    written += _plots(history, outputs, targets, test_set, classes, out)
    epochs = len(history.epoch)
    recipe = {key: getattr(args, key) for key in ("depth", "width", "optimizer", "lr", "swa_lr",
                                                   "init", "weight_decay", "batch_size",
                                                   "dropout", "label_smoothing", "erasing",
                                                   "crop_padding", "no_augment",
                                                   "validate_every", "limit",
                                                   "seed")}
    summary = {"test_accuracy": accuracy, "train_seconds": round(seconds, 1),
               "epochs": epochs, "model": args.model, "dataset": args.dataset,
               "recipe": recipe}
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"test accuracy {accuracy:.4f} on {len(targets):,} {args.dataset} test images; "
          f"trained {epochs} epoch{'' if epochs == 1 else 's'} in {seconds / 60:.1f} min{piece}")
    print("wrote " + ", ".join(str(p) for p in [*written, out / "results.json"]))
    return 0


def _initialize(model: Any, args: argparse.Namespace) -> None:
    """Start from the weights of a model file that ``deepgrad train`` wrote for the same model
    and dataset (``--init``)."""
    trained, config = _load(args.init)
    if (config["model"], config["dataset"]) != (args.model, args.dataset):
        raise CLIError(f"--init {args.init}: a model file of --model {config['model']} on "
                       f"{config['dataset']}; this run trains --model {args.model} on "
                       f"{args.dataset}")
    def shown(value: float | None) -> str:
        return "the default" if value is None else f"{value:g}"

    for key in ("depth", "width"):
        theirs, ours = config.get(key), getattr(args, key)
        if theirs != ours:
            raise CLIError(f"--init {args.init}: a model of --{key} {shown(theirs)}; this run's "
                           f"--{key} is {shown(ours)}")
    model.load_state_dict(trained.state_dict())


def _plots(history: Any, outputs: np.ndarray, targets: np.ndarray, test_set: Any,
           classes: list[str], out: Path) -> list[Path]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("(no plots: install matplotlib with pip install 'deepgrad[plot]')",
              file=sys.stderr)
        return []
    from deepgrad.data import DataLoader
    from deepgrad.train import metrics, plots

    predictions = outputs.argmax(1)
    # Every test image, not only the wrong ones shown: the grid's title counts all of those.
    images = np.concatenate([x for x, _ in DataLoader(test_set, batch_size=1000)])
    cm = metrics.confusion_matrix(predictions, targets, num_classes=len(classes))
    return [Path(history.plot(out / "curves.png")),
            Path(plots.plot_confusion_matrix(cm, classes, out / "confusion.png")),
            Path(plots.plot_misclassified(images, predictions, targets, classes,
                                          out / "misclassified.png"))]


# ------------------------------------------------------------------------------ evaluate / predict
def _evaluate(args: argparse.Namespace) -> int:
    import deepgrad as dg
    from deepgrad.data import DataLoader
    from deepgrad.data import transforms as T

    model, config = _load(args.model_file)
    dataset = args.dataset or config["dataset"]
    if args.tta and not DATASETS[dataset].flips:
        raise CLIError(f"--tta averages each image with its mirror image, and {dataset}'s "
                       f"classes change when mirrored")
    test_set = _limited(load_dataset(dataset, train=False), args.limit)
    loader = DataLoader(test_set, batch_size=512, transform=T.Compose(preprocessing(dataset)))
    trainer = dg.Trainer(model, "cross_entropy", optimizer=None, verbose=0)
    if args.tta:
        mirrored = DataLoader(test_set, batch_size=512, transform=T.Compose(
            [T.RandomHorizontalFlip(p=1.0), *preprocessing(dataset)]))
        probabilities = sum(dg.tensor(trainer.predict(view)).softmax(1).numpy()
                            for view in (loader, mirrored)) / 2
        targets = np.concatenate([y for _, y in loader])
        chosen = probabilities[np.arange(len(targets)), targets]
        result = {"loss": float(-np.log(np.maximum(chosen, np.finfo(chosen.dtype).tiny)).mean()),
                  "accuracy": float((probabilities.argmax(1) == targets).mean())}
    else:
        result = trainer.evaluate(loader)
    views = " (each image and its mirror image)" if args.tta else ""
    print(f"{dataset} test{views}: " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return 0


def _load(path: str) -> tuple[Any, dict[str, Any]]:
    if not Path(path).exists():
        raise CLIError(f"{path}: no such file")
    from deepgrad.errors import FileFormatError

    try:
        return load_model(path)
    except FileFormatError as e:
        raise CLIError(str(e)) from e


def _read_image(path: str, channels: int, size: int) -> np.ndarray:
    """An image file as uint8 (C, size, size): grayscale for one channel, else RGB."""
    try:
        from PIL import Image
    except ImportError:
        raise CLIError("predict reads images with Pillow: pip install 'deepgrad[image]'") from None
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB").resize((size, size))
    except (OSError, ValueError) as e:
        raise CLIError(f"{path}: cannot read the image ({e})") from e
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _predict(args: argparse.Namespace) -> int:
    import deepgrad as dg

    model, config = _load(args.model_file)
    images = np.stack([_read_image(p, config["in_channels"], config.get("image_size", 28))
                       for p in args.images])
    if args.invert:  # Fashion-MNIST has light garments on a black background
        images = 255 - images
    x = normalized(images, config)
    with dg.no_grad():
        probabilities = model(dg.tensor(x)).softmax(1).numpy()
    classes = config["classes"]
    for path, p in zip(args.images, probabilities):
        top = np.argsort(-p)[:args.top]
        print(f"{path}: " + ", ".join(f"{classes[i]} {p[i]:.3f}" for i in top))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from deepgrad import nn

    model = build_model(args.model, args.in_channels, args.num_classes,
                        image_size=args.image_size, depth=args.depth, width=args.width)
    nn.summary(model, (args.batch_size, args.in_channels, args.image_size, args.image_size))
    return 0


# ------------------------------------------------------------------------------ parsing
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, a guess at what a misspelled word meant, and a usage hint
    instead of the full usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}{self._guess(message)}\n(see '{self.prog} --help')",
              file=sys.stderr)
        raise SystemExit(2)

    def _guess(self, message: str) -> str:
        """The guess ``; did you mean 'x'?`` for a misspelled choice or option, else ""."""
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            word = choice.group(1)
            # Older Pythons quote the choices (their repr), newer ones print them as they are.
            options = [option.strip(" '\"") for option in choice.group(2).split(",")]
        else:
            unknown = re.match(r"unrecognized arguments: (--[^\s=]+)", message)
            if not unknown:
                return ""
            word, options = unknown.group(1), list(self._option_string_actions)
        # Without the leading dashes, which every option shares and which would make any two
        # short options look alike.
        names = {option.lstrip("-"): option for option in options}
        close = difflib.get_close_matches(word.lstrip("-"), list(names), n=1)
        return f"; did you mean '{names[close[0]]}'?" if close else ""


def _parse(top: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``top.parse_args(argv)``, where arguments that no parser knows are reported by the
    (sub)command's parser that got them (its options are the ones to suggest and show), not by
    ``top``."""
    args, unknown = top.parse_known_args(argv)
    if unknown:
        command = top
        while True:
            commands = next((action for action in command._actions
                             if isinstance(action, argparse._SubParsersAction)), None)
            if commands is None or getattr(args, commands.dest, None) is None:
                break
            command = commands.choices[getattr(args, commands.dest)]
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _integer(value: str, least: int, wanted: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = least - 1
    if number < least:
        raise argparse.ArgumentTypeError(f"must be {wanted}; got {value}")
    return number


def positive_int(value: str) -> int:
    """An argparse type: an integer >= 1."""
    return _integer(value, 1, "a positive integer")


def _float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {value}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {value}")
    return number


def nonnegative_int(value: str) -> int:
    """An argparse type: an integer >= 0."""
    return _integer(value, 0, "0 or a positive integer")


def positive_float(value: str) -> float:
    """An argparse type: a finite number > 0."""
    number = _float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0; got {value}")
    return number


def nonnegative_float(value: str) -> float:
    """An argparse type: a finite number >= 0."""
    number = _float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more; got {value}")
    return number


def fraction(value: str) -> float:
    """An argparse type: a number in [0, 1)."""
    number = _float(value)
    if not 0.0 <= number < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1); got {value}")
    return number


def _architecture_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--depth", type=positive_int,
                         help="layers of the resnet, 6n + 2 (default 20)")
    command.add_argument("--width", type=positive_float,
                         help="the resnet's channels in its first stage (default 16), or the "
                              "mobilenet's channel multiplier (default 1)")


def parser() -> argparse.ArgumentParser:
    """The command line's parser (its ``--help`` is the CLI's documentation)."""
    top = _Parser(prog="deepgrad", description="deepgrad: train, evaluate and run image "
                                               "classifiers, and print model summaries.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train an image classifier and evaluate it")
    train.add_argument("--model", choices=_MODELS, default="cnn")
    train.add_argument("--dataset", choices=_DATASETS, default="fashion-mnist")
    _architecture_arguments(train)
    train.add_argument("--epochs", type=positive_int, default=15)
    train.add_argument("--batch-size", type=positive_int, default=128)
    train.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    train.add_argument("--lr", type=positive_float,
                       help="peak of the one-cycle schedule (default 0.1)")
    train.add_argument("--swa-lr", type=positive_float, metavar="LR",
                       help="stochastic weight averaging: train at the constant rate LR instead "
                            "of the one-cycle schedule, average the weights of every epoch's end "
                            "and measure batch norm's statistics again for the average (with "
                            "--init, around a trained model)")
    train.add_argument("--init", metavar="MODEL_FILE",
                       help="start from the weights of a model file 'deepgrad train' wrote for "
                            "the same --model and --dataset")
    train.add_argument("--weight-decay", type=nonnegative_float, default=5e-4)
    train.add_argument("--label-smoothing", type=fraction, default=0.0,
                       help="weight of the uniform distribution mixed into the targets")
    train.add_argument("--dropout", type=fraction, metavar="P",
                       help="dropout probability of the mlp and cnn models (default: theirs, "
                            "0.2 and 0.1)")
    train.add_argument("--erasing", type=fraction, default=0.0,
                       help="probability of erasing a random rectangle of each training image")
    train.add_argument("--crop-padding", type=nonnegative_int, metavar="PIXELS",
                       help="zero pixels added on each side before the random crops of "
                            "training, to the images' size (default: " + ", ".join(
                                f"{name} {spec.padding}" for name, spec in DATASETS.items())
                            + "; 0: no crops)")
    train.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    train.add_argument("--limit", type=positive_int, help="use only the first N train and test "
                                                       "images (for a quick try)")
    train.add_argument("--validate-every", type=positive_int, default=5, metavar="N",
                       help="evaluate on the test set every N epochs and after the last")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/cnn", help="directory for the outputs")
    train.add_argument("--resume", action="store_true",
                       help="continue from OUT/checkpoint.safetensors if it exists")
    train.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                       help="also write the checkpoint every N batches within an epoch (a run "
                            "killed mid-epoch then loses at most N batches; by default the "
                            "checkpoint is written at the end of each epoch)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--threads", type=positive_int, metavar="N", help=_THREADS_HELP)
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy of a trained model")
    evaluate.add_argument("model_file")
    evaluate.add_argument("--dataset", choices=_DATASETS, help="default: the training dataset")
    evaluate.add_argument("--limit", type=positive_int)
    evaluate.add_argument("--tta", action="store_true",
                          help="test-time augmentation: average the class probabilities of each "
                               "image and its mirror image (datasets whose classes allow flips)")
    evaluate.add_argument("--threads", type=positive_int, metavar="N", help=_THREADS_HELP)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="classify image files")
    predict.add_argument("model_file")
    predict.add_argument("images", nargs="+")
    predict.add_argument("--top", type=positive_int, default=3)
    predict.add_argument("--invert", action="store_true",
                         help="invert the images (dark objects on a light background)")
    predict.set_defaults(run=_predict)

    summary = commands.add_parser("summary", help="layers, output shapes and parameter counts")
    summary.add_argument("--model", choices=_MODELS, default="cnn")
    _architecture_arguments(summary)
    summary.add_argument("--in-channels", type=positive_int, default=1)
    summary.add_argument("--num-classes", type=positive_int, default=10)
    summary.add_argument("--batch-size", type=positive_int, default=1)
    summary.add_argument("--image-size", type=positive_int, default=28,
                         help="the side of the square input images (32 for CIFAR-10)")
    summary.set_defaults(run=_summary)

    # The suite parses its own options (see main); listed here for 'deepgrad --help'.
    commands.add_parser("bench", help="benchmark deepgrad against PyTorch (when installed) on "
                                      "this machine; 'deepgrad bench --help' for its options")

    from deepgrad.export.export_cli import add_export_parser
    from deepgrad.generate_cli import add_generate_parser
    from deepgrad.pretrain_cli import add_pretrain_parser
    from deepgrad.rl.cli import add_rl_parser  # gymnasium itself is imported only when used
    from deepgrad_runtime.cli import add_serve_batch_parser

    add_export_parser(commands)
    add_generate_parser(commands)
    add_pretrain_parser(commands)
    add_serve_batch_parser(commands)

    add_rl_parser(commands)
    return top


_THREADS_HELP = ("threads to compute with (default: every core the process may use, or "
                 "DEEPGRAD_NUM_THREADS)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from deepgrad.bench.run import main as bench

        return bench(argv[1:], prog="deepgrad bench")
    args = _parse(parser(), argv)
    if getattr(args, "threads", None) is not None:
        from deepgrad.parallel import set_num_threads

        set_num_threads(args.threads)
    try:
        return args.run(args)
    except CLIError as e:
        print(f"deepgrad {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"deepgrad {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
