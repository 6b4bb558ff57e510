"""The ``deepgrad export`` command: a model trained by ``deepgrad train`` as an ONNX file or a
runtime artifact.

    deepgrad export runs/cnn/model.safetensors --format onnx     # runs/cnn/model.onnx
    deepgrad export runs/cnn/model.safetensors --format runtime  # model.runtime.safetensors
    deepgrad export runs/cnn/model.safetensors --format runtime --int8
                                                    # model.int8.runtime.safetensors, ~4x smaller
    deepgrad export resnet.onnx --format runtime    # resnet.runtime.safetensors: a model
                                                    # from PyTorch (or any ONNX exporter)

The exported graph takes batches of normalized images (N, C, 28, 28), any N, like the model; the
training config (class names, the normalization's mean and std) goes into the file's metadata
under ``deepgrad.model``. ``--int8`` quantizes the model first (:func:`deepgrad.export.quantize`:
int8 weights per channel, uint8 activations, as QDQ), calibrated on ``--calibration`` images
drawn at random from the training set of the model's dataset, normalized as in training.
An ONNX file (``.onnx``) goes to the runtime as :func:`deepgrad.export.from_onnx` imports it,
its input shapes those of the file, so that a device needs only NumPy to run a model trained
elsewhere. ``deepgrad.cli`` registers the command with :func:`add_export_parser`; errors print
one line and return status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

_SUFFIXES = {"onnx": ".onnx", "runtime": ".runtime.safetensors"}
_CALIBRATION = 1000  # images: the activation ranges settle well before


def _default_out(model_file: Path, fmt: str, int8: bool) -> Path:
    name = (model_file.name.removesuffix(".safetensors").removesuffix(".onnx")
            + (".int8" if int8 else ""))
    return model_file.with_name(name + _SUFFIXES[fmt])


def _calibration_images(config: dict[str, Any], count: int) -> np.ndarray:
    """``count`` training images of the model's dataset, drawn at random (seed 0) and
    normalized as in training: (count, C, H, W) float32."""
    from deepgrad.cli import load_dataset, normalized

    train = load_dataset(config["dataset"], train=True)
    picked = np.sort(np.random.default_rng(0).choice(len(train), min(count, len(train)),
                                                     replace=False))
    images = train.data[picked]
    return normalized(images[:, None] if images.ndim == 3 else images, config)


def _onnx_to_runtime(model_file: Path, args: argparse.Namespace) -> Path:
    """An ONNX file as a runtime artifact (``--format runtime`` alone applies)."""
    from deepgrad.cli import CLIError
    from deepgrad.export.artifact import to_runtime
    from deepgrad.export.onnx_import import from_onnx

    if args.format != "runtime":
        raise CLIError(f"{model_file} is an ONNX file already; --format runtime converts it "
                       f"for deepgrad's runtime")
    if args.int8:
        raise CLIError("--int8 calibrates on the dataset of a model from 'deepgrad train'; an "
                       "ONNX file converts as it is")
    out = Path(args.out) if args.out else _default_out(model_file, "runtime", False)
    return to_runtime(from_onnx(model_file), out, metadata={"onnx.source": model_file.name})


def _export(args: argparse.Namespace) -> int:
    from deepgrad.cli import CLIError, load_model
    from deepgrad.errors import FileFormatError

    model_file = Path(args.model_file)
    try:
        if args.calibration is not None and not args.int8:
            raise CLIError("--calibration sets how --int8 calibrates; add --int8")
        if not model_file.exists():
            raise CLIError(f"{model_file}: no such file")
        if model_file.suffix == ".onnx":
            written = _onnx_to_runtime(model_file, args)
            print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB, runtime)")
            return 0
        model, config = load_model(model_file)
        # random rather than zeros: the trace checks that no constant depends on the values
        size = int(config.get("image_size", 28))
        example = np.random.default_rng(0).standard_normal(
            (1, int(config.get("in_channels", 1)), size, size)).astype(np.float32)
        metadata = {"deepgrad.model": json.dumps(config)}
        if args.int8:
            from deepgrad.export.quantize import quantize

            images = _calibration_images(config, args.calibration or _CALIBRATION)
            model = quantize(model, images)
            metadata["deepgrad.quantization"] = json.dumps(
                {"weights": "int8, symmetric, per output channel",
                 "activations": "uint8, asymmetric", "calibration_images": len(images)})
        out = Path(args.out) if args.out else _default_out(model_file, args.format, args.int8)
        if args.format == "onnx":
            from deepgrad.export.onnx_export import to_onnx

            written = to_onnx(model, example, out, opset=args.opset, metadata=metadata)
        else:
            from deepgrad.export.artifact import to_runtime

            written = to_runtime(model, out, example, metadata=metadata)
    except (CLIError, FileFormatError, ValueError, TypeError, KeyError, ImportError,
            OSError) as error:
        print(f"deepgrad export: error: {error}", file=sys.stderr)
        return 1
    kind = f"{args.format}, int8" if args.int8 else args.format
    print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB, {kind})")
    return 0


def add_export_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``export`` under ``commands`` (from ``parser.add_subparsers()``); returns its
    parser."""
    from deepgrad.cli import positive_int

    export = commands.add_parser(
        "export", help="write a trained model as ONNX or as a runtime artifact",
        description="Export a model file written by 'deepgrad train' for inference elsewhere: "
                    "an ONNX file (needs pip install 'deepgrad[onnx]') or an artifact for "
                    "deepgrad's NumPy-only runtime. The batch size stays free. An ONNX file "
                    "(from PyTorch, say) converts to a runtime artifact.")
    export.add_argument("model_file", help="a model file from 'deepgrad train', or an ONNX file "
                                            "(.onnx, to --format runtime)")
    export.add_argument("--format", choices=tuple(_SUFFIXES), required=True)
    export.add_argument("--out", help="the file to write (default: next to MODEL_FILE, "
                                      "model.onnx or model.runtime.safetensors)")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    export.add_argument("--int8", action="store_true",
                        help="quantize first: int8 weights (per channel) and uint8 activations, "
                             "about 4x smaller (written as model.int8.onnx or "
                             "model.int8.runtime.safetensors by default)")
    export.add_argument("--calibration", type=positive_int, metavar="N",
                        help=f"with --int8: calibrate the activation ranges on N training "
                             f"images of the model's dataset (default {_CALIBRATION})")
    export.set_defaults(run=_export)
    return export


__all__ = ["add_export_parser"]
