"""The ``deepgrad generate`` command: continue a prompt with a trained character language model.

    deepgrad generate runs/char_lm/model.safetensors --prompt "def " --length 300 \\
        --temperature 0.8 --seed 0

The model file is one written by ``save_charlm`` (``examples/char_lm.py`` writes one). The prompt
and its continuation go to standard output; a missing or foreign file, or a prompt with
characters the model does not know, prints one line on standard error and returns status 1.
``deepgrad.cli`` registers the command with :func:`add_generate_parser`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deepgrad.cli import positive_int


def _temperature(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (0 is greedy); got "
                                         f"{value}")
    return number


def run_generate(args: argparse.Namespace) -> int:
    """Load ``args.model_file`` and print ``args.prompt`` with its continuation; returns the
    exit status (1 with a one-line error on standard error)."""
    from deepgrad.nn.models.charlm import generate, load_charlm

    try:
        model, vocab = load_charlm(args.model_file)
        text = generate(model, vocab, args.prompt, length=args.length,
                        temperature=args.temperature, seed=args.seed)
    except (OSError, ValueError) as error:  # FileFormatError is a ValueError
        message = f"{args.model_file}: no such file" if isinstance(error, FileNotFoundError) \
            else str(error)
        print(f"deepgrad generate: error: {message}", file=sys.stderr)
        return 1
    print(args.prompt + text)
    return 0


def add_generate_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``generate`` command to ``commands`` (the subparsers of ``deepgrad``'s parser);
    returns its parser."""
    generate = commands.add_parser(
        "generate", help="continue a prompt with a character language model",
        description="Continue a prompt with a character language model saved by save_charlm "
                    "(e.g. by examples/char_lm.py).")
    generate.add_argument("model_file", help="a .safetensors file written by save_charlm")
    generate.add_argument("--prompt", default="def ",
                          help="the text to continue (default: %(default)r)")
    generate.add_argument("--length", type=positive_int, default=300,
                          help="characters to generate (default: %(default)s)")
    generate.add_argument("--temperature", type=_temperature, default=0.8,
                          help="sampling temperature; 0 is greedy (default: %(default)s)")
    generate.add_argument("--seed", type=int, default=None,
                          help="seed of the sampling, for a repeatable text")
    generate.set_defaults(run=run_generate)
    return generate


__all__ = ["add_generate_parser", "run_generate"]
