"""Run the benchmarks and print the table: deepgrad vs PyTorch (CPU), float32, one process.

Usage::

    deepgrad bench [--quick] [--filter SUBSTR] [--markdown]
    python benchmarks/run.py [...]          # the same, from a source checkout

Every module of this package other than ``harness`` and ``run`` that defines ``WORKLOADS``
contributes rows, in module name order. Progress goes to stderr, the table to
stdout. Run it on an otherwise quiet machine; repeats disturbed by other processes are discarded
and retried.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from deepgrad.bench import harness, machine

NOT_WORKLOADS = {"harness", "run"}


def workloads() -> list[harness.Workload]:
    """Every workload of every benchmark module here."""
    found = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name in NOT_WORKLOADS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"deepgrad.bench.{info.name}")
        found.extend(getattr(module, "WORKLOADS", []))
    return found


def import_torch() -> ModuleType | None:
    """PyTorch, or None when it is not installed (deepgrad is then reported alone)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the options, run the selected workloads, print the table."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter repeats: a smoke run, not numbers to record")
    parser.add_argument("--filter", metavar="SUBSTR", default="",
                        help="run only workloads whose name contains SUBSTR (case-insensitive)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the Markdown table for BENCHMARKS.md")
    parser.add_argument("--list", action="store_true", help="list the workloads and stop")
    args = parser.parse_args(argv)

    selected = [w for w in workloads() if args.filter.lower() in w.name.lower()]
    if not selected:
        parser.error(f"no workload name contains {args.filter!r}")
    if args.list:
        print("\n".join(w.name for w in selected))
        return 0
    settings = harness.Settings.quick() if args.quick else harness.Settings()

    torch = import_torch()
    blas = machine.blas_info()
    machine.match_torch_threads(torch)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if torch is None:
        log("torch is not installed: reporting deepgrad alone, without ratios")
    busy = machine.busy_share()
    if busy > settings.max_other_share:
        log(f"warning: other processes use {busy:.0%} of the CPU; disturbed repeats will be "
            "discarded and retried, and the run will be slow")

    results = []
    for workload in selected:
        log(f"{workload.name} ...")
        results.append(harness.measure(workload, torch, settings, log))

    header = machine.header(torch, blas, settings)
    if args.quick:
        header.append("--quick: short repeats, numbers to eyeball, not to record")
    if args.markdown:
        print("\n".join(f"- {line}" for line in header))
        print()
        print(harness.markdown_table(results))
    else:
        print("\n".join(header))
        print()
        print(harness.plain_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
