"""The ``deepgrad export`` command: a model trained by ``deepgrad train`` as an ONNX file or a
runtime artifact.

    deepgrad export runs/cnn/model.safetensors --format onnx     # runs/cnn/model.onnx
    deepgrad export runs/cnn/model.safetensors --format runtime  # model.runtime.safetensors

The exported graph takes batches of normalized images (N, C, 28, 28), any N, like the model; the
training config (class names, the normalization's mean and std) goes into the file's metadata
under ``deepgrad.model``. ``deepgrad.cli`` registers the command with :func:`add_export_parser`;
errors print one line and return status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

_SUFFIXES = {"onnx": ".onnx", "runtime": ".runtime.safetensors"}


def _default_out(model_file: Path, fmt: str) -> Path:
    name = model_file.name.removesuffix(".safetensors")
    return model_file.with_name(name + _SUFFIXES[fmt])


def _export(args: argparse.Namespace) -> int:
    from deepgrad.cli import CLIError, load_model
    from deepgrad.errors import FileFormatError

    model_file = Path(args.model_file)
    try:
        if not model_file.exists():
            raise CLIError(f"{model_file}: no such file")
        model, config = load_model(model_file)
        # random rather than zeros: the trace checks that no constant depends on the values
        example = np.random.default_rng(0).standard_normal(
            (1, int(config.get("in_channels", 1)), 28, 28)).astype(np.float32)
        metadata = {"deepgrad.model": json.dumps(config)}
        out = Path(args.out) if args.out else _default_out(model_file, args.format)
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
    print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB, {args.format})")
    return 0


def add_export_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``export`` under ``commands`` (from ``parser.add_subparsers()``); returns its
    parser."""
    export = commands.add_parser(
        "export", help="write a trained model as ONNX or as a runtime artifact",
        description="Export a model file written by 'deepgrad train' for inference elsewhere: "
                    "an ONNX file (needs pip install 'deepgrad[onnx]') or an artifact for "
                    "deepgrad's NumPy-only runtime. The batch size stays free.")
    export.add_argument("model_file", help="a model file from 'deepgrad train'")
    export.add_argument("--format", choices=tuple(_SUFFIXES), required=True)
    export.add_argument("--out", help="the file to write (default: next to MODEL_FILE, "
                                      "model.onnx or model.runtime.safetensors)")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    export.set_defaults(run=_export)
    return export


__all__ = ["add_export_parser"]
