"""How training-step time scales with batch size and width, deepgrad against PyTorch.

    .venv/bin/python benchmarks/scaling.py [--quick] [--out benchmarks/scaling.png]

Rows: the MLP 784-w-w-10 (w = 256, and w = 64 and 1024 at batch 128) and the flagship CNN,
each a full training step (forward, cross-entropy, backward, SGD with momentum) through
``deepgrad.bench.models.setup_train``, at batch sizes 1 to 512. Every point is measured by the
benchmark harness (interleaved repeats, disturbed repeats discarded, median). Prints a Markdown
table of milliseconds per step and the ratio, and writes a PNG (needs matplotlib) of step time
against batch size, log-log, one line per framework and model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from deepgrad.bench import harness, machine
from deepgrad.bench.models import setup_train
from deepgrad.bench.run import import_torch

BATCHES = (1, 8, 32, 128, 512)


def _points() -> list[tuple[str, int, dict]]:
    """(series label, batch size, setup_train options) of every point."""
    points = [(label, batch, options)
              for label, options in (("MLP 784-256-256-10", {"name": "mlp"}),
                                     ("flagship CNN", {"name": "cnn"}))
              for batch in BATCHES]
    for width in (64, 1024):
        points.append((f"MLP 784-{width}-{width}-10", 128,
                       {"name": "mlp", "sizes": (784, width, width, 10)}))
    return points


def main(argv: list[str] | None = None) -> int:
    """Measure every point, print the table, write the plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short repeats (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("scaling.png")))
    args = parser.parse_args(argv)
    torch = import_torch()
    blas = machine.blas_info()
    machine.match_torch_threads(torch)
    settings = harness.Settings.quick() if args.quick else harness.Settings()
    rows = []
    for label, batch, options in _points():
        options = dict(options)
        name = options.pop("name")
        workload = harness.Workload(
            f"{label} train step, batch {batch}", "latency",
            lambda t, name=name, batch=batch, options=options: setup_train(
                t, name, batch=batch, **options),
            unit="ms", compare_outputs=name != "cnn")  # the CNN's dropout draws differ
        print(f"{workload.name} ...", file=sys.stderr, flush=True)
        result = harness.measure(workload, torch, settings, lambda m: None)
        ours = statistics.median(result.deepgrad.seconds) * 1e3 if result.deepgrad else None
        theirs = statistics.median(result.torch.seconds) * 1e3 if result.torch else None
        rows.append((label, batch, ours, theirs, result.problem))
    print("\n".join(f"- {line}" for line in machine.header(torch, blas, settings)))
    print("\n| model | batch | deepgrad ms/step | torch ms/step | torch time / deepgrad time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, batch, ours, theirs, problem in rows:
        cells = [f"{v:.3g}" if v else (problem or "-") for v in (ours, theirs)]
        speed = f"{theirs / ours:.2f}x" if ours and theirs else "-"
        print(f"| {label} | {batch} | {cells[0]} | {cells[1]} | {speed} |")
    _plot(rows, args.out)
    return 0


def _plot(rows: list[tuple], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'deepgrad[plot]'): no plot written",
              file=sys.stderr)
        return
    figure, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for i, label in enumerate(("MLP 784-256-256-10", "flagship CNN")):
        series = [r for r in rows if r[0] == label and r[2] and r[3]]
        batches = [r[1] for r in series]
        ax.plot(batches, [r[2] for r in series], "-o", color=f"C{i}", label=f"{label}, deepgrad")
        ax.plot(batches, [r[3] for r in series], "--s", color=f"C{i}", label=f"{label}, torch")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("ms per training step")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    figure.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
