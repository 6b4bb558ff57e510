"""The deployment runtime: batch-1 latency against onnxruntime, and batch prediction of a file.

    .venv/bin/python benchmarks/runtime.py [--rows 1000000] [--skip-file]

Latency (one thread everywhere: BLAS via threadpoolctl, onnxruntime's intra-op threads): the
MLP 784-256-256-10 and the flagship CNN, each with weights of a fixed seed, run on one image by
(a) ``deepgrad_runtime`` from a float32 and an int8 artifact, (b) onnxruntime from the same
model's ONNX export, and (c) deepgrad's own forward under ``no_grad``. Median of interleaved
rounds, in microseconds, with the ratio to onnxruntime (the issue's goal: runtime <= 1.5x).

Batch prediction: ``Model.predict_file`` on ``--rows`` Fashion-MNIST-sized float32 inputs from a
memory-mapped ``.npy`` (written once to a temporary directory) with the flagship CNN artifact, in
a child process whose peak RSS is reported next to the size of the input file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad import export, models

ROUNDS, CALLS = 15, 200


def _timer(fn: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            fn()
        return (time.perf_counter() - started) / CALLS * 1e6
    return run


def _timers(fp32: Any, int8: Any, session: Any, model: Any,
            x: np.ndarray) -> dict[str, Callable[[], float]]:
    feed = {session.get_inputs()[0].name: x}
    tx = dg.tensor(x)

    def forward() -> Any:
        with dg.no_grad():
            return model(tx)

    return {"fp32": _timer(lambda: fp32.run(x)), "int8": _timer(lambda: int8.run(x)),
            "ort": _timer(lambda: session.run(None, feed)), "dg": _timer(forward)}


def latency_table(directory: Path) -> list[str]:
    """Rows of the latency table for the MLP and the flagship CNN."""
    import onnxruntime as ort

    import deepgrad_runtime

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    rng = np.random.default_rng(0)
    lines = ["| model | runtime fp32 (us) | runtime int8 (us) | onnxruntime (us) | deepgrad "
             "forward (us) | runtime / onnxruntime |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, model in (("MLP 784-256-256-10", models.mlp()), ("flagship CNN", models.cnn())):
        model.eval()
        x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
        calibration = rng.standard_normal((256, 1, 28, 28)).astype(np.float32)
        fp32 = deepgrad_runtime.load(export.to_runtime(model, directory / f"{name}.fp32",
                                                        example_input=x))
        int8 = deepgrad_runtime.load(export.to_runtime(export.quantize(model, calibration),
                                                        directory / f"{name}.int8",
                                                        example_input=x))
        session = ort.InferenceSession(str(export.to_onnx(model, x, directory / f"{name}.onnx")),
                                       options, providers=["CPUExecutionProvider"])
        timers = _timers(fp32, int8, session, model, x)
        samples: dict[str, list[float]] = {key: [] for key in timers}
        for timer in timers.values():
            timer()  # warm-up
        for _ in range(ROUNDS):
            for key, timer in timers.items():
                samples[key].append(timer())
        median = {key: statistics.median(v) for key, v in samples.items()}
        lines.append(f"| {name} | {median['fp32']:.0f} | {median['int8']:.0f} | "
                     f"{median['ort']:.0f} | {median['dg']:.0f} | "
                     f"{median['fp32'] / median['ort']:.2f}x |")
    return lines


# The peak is the child's own VmHWM: ru_maxrss would report the parent's high-water mark, which
# Linux carries into a child through fork and exec (and the parent wrote the whole input file).
_CHILD = r"""
import json, sys, time
import deepgrad_runtime

def peak_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024

model = deepgrad_runtime.load(sys.argv[1])
started = time.perf_counter()
model.predict_file(sys.argv[2], sys.argv[3], batch_size=256)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mib": peak_mib()}))
"""


def batch_prediction(directory: Path, rows: int) -> str:
    """Predict ``rows`` inputs from a memory-mapped file in a child process; one report line."""
    artifact = export.to_runtime(models.cnn().eval(), directory / "cnn.runtime")
    source = directory / "inputs.npy"
    data = np.lib.format.open_memmap(source, mode="w+", dtype=np.float32,
                                     shape=(rows, 1, 28, 28))
    chunk = 65536
    rng = np.random.default_rng(0)
    for start in range(0, rows, chunk):
        stop = min(start + chunk, rows)
        data[start:stop] = rng.standard_normal((stop - start, 1, 28, 28), dtype=np.float32)
    data.flush()
    del data
    result = json.loads(subprocess.run(
        [sys.executable, "-c", _CHILD, str(artifact), str(source), str(directory / "out.npy")],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    size = source.stat().st_size / 2**20
    return (f"predict_file: {rows:,} inputs ({size:,.0f} MiB float32, memory-mapped) through the "
            f"flagship CNN in {result['seconds']:.0f} s ({rows / result['seconds']:,.0f} rows/s), "
            f"peak RSS {result['peak_mib']:.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    """Print the latency table and the batch-prediction line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-file", action="store_true", help="only the latency table")
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        sys.exit("benchmarks/runtime.py needs threadpoolctl (pip install 'deepgrad[bench]')")
    with threadpool_limits(1), dg.limit_threads(1), tempfile.TemporaryDirectory() as tmp:
        print("\n".join(latency_table(Path(tmp))))
        if not args.skip_file:
            print(batch_prediction(Path(tmp), args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
