"""The benchmark harness: workloads, quiet-machine timing, and the comparison table.

A :class:`Workload` names one row of the table. Its ``setup(torch)`` builds both frameworks'
versions of the same work on identical data and weights and returns a :class:`Prepared`: one
deepgrad callable and one or more torch callables (variants such as ``no_grad`` vs
``inference_mode``; the fastest is compared with, for fairness to torch). A module in
``deepgrad.bench`` adds rows by defining ``WORKLOADS = [Workload(...), ...]``; ``run.py`` finds it
by itself.

How a row is measured (DESIGN.md section 6):

1. Correctness first: the first few calls of the deepgrad callable and of every torch variant
   must return the same values (losses or outputs) to ``Workload.tolerance``; a row whose math
   disagrees is reported as wrong and not timed.
2. Warm-up, then a calibration of the number of calls per repeat (at least ``min_time``
   seconds) for each side.
3. Repeats, interleaved deepgrad, torch, deepgrad, torch, ... (every torch variant in every
   round; the row compares with the variant of the lowest median) so that drift hits all.
   Each repeat starts after a short pause in which the other side's idle worker threads stop
   spinning. Around each repeat the aggregate line of /proc/stat and this process's own CPU
   time (with waited-for children) are read; if other processes used more than
   ``max_other_share`` of the machine's CPU during it, the repeat is discarded and retried, up
   to ``max_discards`` times per row, each retry after waiting (a bounded time) for the machine
   to be quiet. The table reports the median with min and max, and the number of discarded
   repeats.

torch runs with as many threads as deepgrad (``dg.get_num_threads()``).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np

from deepgrad.bench import machine

LATENCY_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6}


@dataclass(frozen=True)
class Prepared:
    """The two sides of a workload, built by ``Workload.setup`` on identical data and weights.

    Args:
        deepgrad: one call of the work; returns what the correctness check compares (a loss or
            an output, as a deepgrad Tensor or array), or, for a self-timed workload, the
            seconds the work took.
        torch: the torch variants by name, each with its own copy of the weights (a variant's
            calls must not change another's state); empty when torch is not installed.
    """

    deepgrad: Callable[[], Any]
    torch: dict[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """One row of the benchmark table.

    Args:
        name: what the row measures, shapes included.
        kind: ``"throughput"`` (items per second, ratio deepgrad/torch, higher is better) or
            ``"latency"`` (time per call, ratio deepgrad/torch, lower is better).
        setup: ``setup(torch_module_or_None) -> Prepared``.
        target: the ratio the row should reach (at least this for throughput, at most this for
            latency), or None for a row reported only.
        unit: ``"samples/s"`` (or another ``items/s``) for throughput; ``"s"``, ``"ms"`` or
            ``"us"`` for latency.
        items_per_call: samples processed by one call (the batch size), for throughput.
        self_timed: the callables time their own work and return seconds (for work such as a
            fresh interpreter, whose fixed cost they subtract themselves); one call per repeat.
        compare_outputs: run the correctness check on the callables' return values.
        tolerance: the largest allowed difference, relative to max(1, |torch value|).
        deepgrad_label: what the deepgrad column runs, when it is not deepgrad itself.
    """

    name: str
    kind: Literal["throughput", "latency"]
    setup: Callable[[ModuleType | None], Prepared]
    target: float | None = None
    unit: str = "samples/s"
    items_per_call: int = 1
    self_timed: bool = False
    compare_outputs: bool = True
    tolerance: float = 1e-4
    deepgrad_label: str = "deepgrad"

    def __post_init__(self) -> None:
        if self.kind not in ("throughput", "latency"):
            raise ValueError(f"workload {self.name!r}: kind must be 'throughput' or 'latency'; "
                             f"got {self.kind!r}")
        if self.kind == "latency" and self.unit not in LATENCY_SCALE:
            raise ValueError(f"workload {self.name!r}: a latency unit must be one of "
                             f"{', '.join(LATENCY_SCALE)}; got {self.unit!r}")

    def value(self, seconds_per_call: float) -> float:
        """The number shown in the table for one repeat's time per call."""
        if self.kind == "throughput":
            return self.items_per_call / seconds_per_call
        return seconds_per_call * LATENCY_SCALE[self.unit]

    def meets(self, ratio: float) -> bool:
        """Whether ``ratio`` (deepgrad/torch in this row's unit) reaches the target."""
        if self.target is None:
            raise ValueError(f"workload {self.name!r} has no target")
        return ratio >= self.target if self.kind == "throughput" else ratio <= self.target


@dataclass(frozen=True)
class Settings:
    """How hard to measure: ``quick()`` for a smoke run, the defaults for the recorded table."""

    repeats: int = 7
    min_time: float = 0.25
    warmup_time: float = 0.5
    check_calls: int = 3
    max_other_share: float = 0.10
    settle: float = 0.2
    max_discards: int = 40
    quiet_wait: float = 30.0
    quiet_poll: float = 0.5

    @classmethod
    def quick(cls) -> Settings:
        """Fewer and shorter repeats: numbers to eyeball, not to record."""
        return cls(repeats=3, min_time=0.03, warmup_time=0.05, max_discards=10, quiet_wait=5.0,
                   settle=0.05)


@dataclass
class Series:
    """The kept repeats of one side of a row, as seconds per call."""

    seconds: list[float] = field(default_factory=list)
    calls_per_repeat: int = 1


@dataclass
class Result:
    """The outcome of one row: deepgrad's repeats and each torch variant's."""

    workload: Workload
    deepgrad: Series | None = None
    variants: dict[str, Series] = field(default_factory=dict)
    discarded: int = 0
    problem: str = ""

    @property
    def torch_variant(self) -> str:
        """The fastest torch variant (lowest median time), the one the row compares with."""
        timed = {name: s for name, s in self.variants.items() if s.seconds}
        if not timed:
            return ""
        return min(timed, key=lambda name: statistics.median(timed[name].seconds))

    @property
    def torch(self) -> Series | None:
        """The repeats of the fastest torch variant."""
        return self.variants[self.torch_variant] if self.torch_variant else None

    def ratio(self) -> float | None:
        """deepgrad/torch of the medians in the row's unit, or None without both sides."""
        if self.problem or not self.deepgrad or not self.torch:
            return None
        w = self.workload
        return (w.value(statistics.median(self.deepgrad.seconds))
                / w.value(statistics.median(self.torch.seconds)))


# ------------------------------------------------------------------------------ timing
def _time_calls(fn: Callable[[], Any], calls: int, self_timed: bool) -> float:
    """Seconds per call over ``calls`` calls."""
    if self_timed:
        return sum(fn() for _ in range(calls)) / calls
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _warm_up(fn: Callable[[], Any], settings: Settings) -> None:
    start = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - start < settings.warmup_time:
        fn()
        calls += 1


def _calibrate(fn: Callable[[], Any], workload: Workload, settings: Settings) -> int:
    """The number of calls that lasts at least ``min_time`` (one for a self-timed workload)."""
    if workload.self_timed:
        return 1
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= settings.min_time:
            return calls
        calls = max(calls * 2, int(calls * settings.min_time / max(elapsed, 1e-9) * 1.2))


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def _check(workload: Workload, prepared: Prepared, settings: Settings) -> str:
    """'' when every torch variant agrees with deepgrad on the first calls; else the problem."""
    ours = [_as_array(prepared.deepgrad()) for _ in range(settings.check_calls)]
    for variant, fn in prepared.torch.items():
        for call, mine in enumerate(ours):
            theirs = _as_array(fn())
            if mine.shape != theirs.shape:
                return (f"wrong output: call {call + 1} gives shape {mine.shape} in deepgrad, "
                        f"{theirs.shape} in torch ({variant})")
            scale = max(1.0, float(np.max(np.abs(theirs)))) if theirs.size else 1.0
            diff = float(np.max(np.abs(mine - theirs))) if theirs.size else 0.0
            if not diff <= workload.tolerance * scale:
                return (f"wrong output: call {call + 1} differs from torch ({variant}) by "
                        f"{diff:.3g} (tolerance {workload.tolerance * scale:.3g})")
    return ""


def _quiet_repeat(fn: Callable[[], Any], calls: int, label: str, result: Result,
                  settings: Settings, log: Callable[[str], None]) -> float | None:
    """Seconds per call of one repeat that no other process disturbed, retried after a wait for
    quiet; None (and ``result.problem`` set) once the row has discarded too many."""
    while True:
        gc.collect()
        # Idle worker threads spin for a while after their last task (OpenBLAS for ~0.1 s):
        # let the other framework's pool fall asleep, so that neither side pays for the other.
        time.sleep(settings.settle)
        before = machine.cpu_snapshot()
        seconds = _time_calls(fn, calls, result.workload.self_timed)
        other = machine.other_share(before, machine.cpu_snapshot())
        if other <= settings.max_other_share:
            return seconds
        result.discarded += 1
        log(f"  discarded a {label} repeat: other processes used {other:.0%} of the CPU")
        if result.discarded > settings.max_discards:
            result.problem = (f"machine busy: {result.discarded} repeats discarded (other "
                              f"processes used more than {settings.max_other_share:.0%} of the "
                              "CPU)")
            return None
        deadline = time.monotonic() + settings.quiet_wait
        while (machine.busy_share(settings.quiet_poll) > settings.max_other_share
               and time.monotonic() < deadline):
            pass


def measure(workload: Workload, torch: ModuleType | None, settings: Settings,
            log: Callable[[str], None] = lambda message: None) -> Result:
    """Check, warm up, calibrate and time one workload (see the module docstring)."""
    result = Result(workload)
    prepared = workload.setup(torch)
    if workload.compare_outputs:
        result.problem = _check(workload, prepared, settings)
        if result.problem:
            return result

    sides = [("deepgrad", prepared.deepgrad), *prepared.torch.items()]
    series = {}
    for label, fn in sides:
        _warm_up(fn, settings)
        series[label] = Series(calls_per_repeat=_calibrate(fn, workload, settings))
    result.deepgrad = series.pop("deepgrad")
    result.variants = series

    for _ in range(settings.repeats):
        for label, fn in sides:
            kept = result.deepgrad if label == "deepgrad" else result.variants[label]
            seconds = _quiet_repeat(fn, kept.calls_per_repeat, label, result, settings, log)
            if seconds is None:
                return result
            kept.seconds.append(seconds)
    for label, kept in [("deepgrad", result.deepgrad), *result.variants.items()]:
        median = workload.value(statistics.median(kept.seconds))
        log(f"  {label}: median {median:.4g} {workload.unit}")
    return result


# ------------------------------------------------------------------------------ the table
COLUMNS = ("workload", "unit", "deepgrad: median [min, max]", "torch: median [min, max]",
           "ratio dg/torch", "target", "met?", "torch variant", "discarded")


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cell(workload: Workload, series: Series | None) -> str:
    if series is None or not series.seconds:
        return "-"
    values = [workload.value(s) for s in series.seconds]
    return (f"{_number(statistics.median(values))} "
            f"[{_number(min(values))}, {_number(max(values))}]")


def row_cells(result: Result) -> list[str]:
    """The table cells of one result, in ``COLUMNS`` order."""
    w = result.workload
    ratio = result.ratio()
    if w.target is None:
        target = "none (reference)"
    else:
        target = f"{'>=' if w.kind == 'throughput' else '<='} {w.target:g}x"
    if result.problem:
        met = result.problem
    elif w.target is None or ratio is None:
        met = "-"
    else:
        met = "yes" if w.meets(ratio) else "NO"
    name = w.name if w.deepgrad_label == "deepgrad" else \
        f"{w.name} (deepgrad column: {w.deepgrad_label})"
    return [name, w.unit, _cell(w, result.deepgrad), _cell(w, result.torch),
            "-" if ratio is None else f"{ratio:.2f}x", target, met,
            result.torch_variant or "-", str(result.discarded)]


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in results]
    return "\n".join(lines)


def plain_table(results: list[Result]) -> str:
    """The results as an aligned plain-text table for the terminal."""
    rows = [list(COLUMNS)] + [row_cells(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
