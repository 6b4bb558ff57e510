"""The ``serve-batch`` command: predict a large ``.npy`` array with a runtime artifact.

    deepgrad serve-batch model.runtime.safetensors inputs.npy outputs.npy --batch-size 256
    python -m deepgrad_runtime serve-batch ...        # the same, with NumPy alone

The inputs are read and the outputs written one chunk at a time (memory stays bounded however
large the file); the output file appears only when complete. ``--threads`` limits the BLAS
threads (with threadpoolctl): on a machine that other processes keep busy, one thread can be
ten times faster than several that wait for each other. ``deepgrad.cli`` registers the command
with :func:`add_serve_batch_parser`; errors print one line and return status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepgrad_runtime.model import load


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {value}")
    return number


def _blas_threads(threads: int | None) -> Any:
    """A context limiting BLAS to ``threads`` threads (a no-op for None)."""
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError("--threads needs threadpoolctl (pip install threadpoolctl); without "
                          "it, set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS before starting "
                          "Python") from None
    return threadpool_limits(threads)


def _serve_batch(args: argparse.Namespace) -> int:
    try:
        model = load(args.artifact)
        start = time.perf_counter()
        with _blas_threads(args.threads):
            path = model.predict_file(args.input, args.output, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        result = np.load(path, mmap_mode="r")
        rate = f" ({result.shape[0] / seconds:,.0f} rows/s)" if seconds > 0 else ""
        print(f"{path}: {result.shape[0]} predictions of shape {result.shape[1:]} "
              f"{result.dtype} in {seconds:.2f} s{rate}")
    except (ValueError, OSError, ImportError) as error:
        print(f"{args.serve_batch_prog}: error: {error}", file=sys.stderr)
        return 1
    return 0


def add_serve_batch_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``serve-batch`` under ``commands`` (from ``parser.add_subparsers()``); returns
    its parser. Running it calls ``args.run(args)``, which returns the exit status."""
    parser = commands.add_parser(
        "serve-batch", help="predict a large .npy array with a runtime artifact, in chunks",
        description="Run a runtime artifact (from 'deepgrad export --format runtime') on every "
                    "row of INPUT.npy and write OUTPUT.npy, one chunk at a time with bounded "
                    "memory. Needs only NumPy.")
    parser.add_argument("artifact", help="the runtime artifact (.safetensors)")
    parser.add_argument("input", help="INPUT.npy: one sample per row (memory-mapped)")
    parser.add_argument("output", help="OUTPUT.npy: written when complete")
    parser.add_argument("--batch-size", type=_positive_int, default=256,
                        help="rows per chunk (default: 256)")
    parser.add_argument("--threads", type=_positive_int,
                        help="BLAS threads (needs threadpoolctl; default: BLAS's own choice)")
    parser.set_defaults(run=_serve_batch, serve_batch_prog=parser.prog)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepgrad_runtime``: the runtime's own command line; returns the status."""
    parser = argparse.ArgumentParser(prog="python -m deepgrad_runtime",
                                     description="deepgrad's NumPy-only runtime.")
    add_serve_batch_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{args.serve_batch_prog}: interrupted", file=sys.stderr)
        return 130


__all__ = ["add_serve_batch_parser", "main"]
