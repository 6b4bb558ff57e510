"""The machine a benchmark runs on: its CPU and BLAS for the table's header, torch's thread
count matched to deepgrad's, and how much of the CPU other processes use (a repeat during which
they used much is discarded)."""

from __future__ import annotations

import datetime
import os
import platform
import resource
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from deepgrad.parallel import get_num_threads

if TYPE_CHECKING:
    from deepgrad.bench.harness import Settings


def blas_info() -> dict[str, Any] | None:
    """threadpoolctl's record of NumPy's BLAS (library, version, kernel, threads), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return info
    return None


def match_torch_threads(torch: ModuleType | None) -> None:
    """Give torch as many threads as deepgrad computes with (DESIGN.md section 6)."""
    if torch is not None:
        torch.set_num_threads(get_num_threads())


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, saying whether it is a virtual machine's."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown"
    fields = {key.strip(): value.strip() for key, _, value in
              (line.partition(":") for line in info.splitlines())}
    model = fields.get("model name", "unknown")
    virtual = "hypervisor" in fields.get("flags", "").split()
    return f"{model} (virtual machine)" if virtual else model


def header(torch: ModuleType | None, blas: dict[str, Any] | None,
                   settings: Settings) -> list[str]:
    """Lines describing where, when and how the table was measured."""
    if blas is None:
        blas_line = "unknown (install threadpoolctl to report it)"
    else:
        blas_line = (f"{blas.get('internal_api')} {blas.get('version')}, kernel "
                     f"{blas.get('architecture')}; deepgrad computes with {get_num_threads()} "
                     f"threads, its own on the GEMMs of rows with large passes (BLAS on one "
                     f"thread), BLAS's on the others")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        blas_line += f" (OPENBLAS_CORETYPE={coretype})"
    torch_line = ("not installed: deepgrad alone, no ratios" if torch is None else
                  f"{torch.__version__}, {torch.get_num_threads()} threads")
    now = datetime.datetime.now(datetime.timezone.utc)
    return [
        f"Date: {now:%Y-%m-%d %H:%M} UTC",
        f"CPU: {cpu_model()} ({os.cpu_count()} logical cores), Linux {platform.release()}",
        f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch_line}",
        f"NumPy BLAS: {blas_line}",
        f"Method: median of {settings.repeats} repeats of at least {settings.min_time:g} s each "
        f"[min, max], deepgrad and torch interleaved, after warm-up; repeats in which other "
        f"processes used more than {settings.max_other_share:.0%} of the CPU are discarded",
        "Garbage collection on, as in a training loop; torch is compared in its fastest variant",
    ]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_snapshot() -> tuple[int, int, float] | None:
    """(total jiffies, idle jiffies, own CPU seconds) now, or None where /proc/stat is absent."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal; guest time is already inside user/nice.
    jiffies = [int(v) for v in fields[1:9]]
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_seconds = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return sum(jiffies), jiffies[3] + jiffies[4], own_seconds


def other_share(before: tuple | None, after: tuple | None) -> float:
    """The share of the whole machine's CPU (all cores) that other processes used in between."""
    if before is None or after is None:
        return 0.0
    total = after[0] - before[0]
    if total <= 0:
        return 0.0
    busy = total - (after[1] - before[1])
    own = (after[2] - before[2]) * _CLOCK_TICKS
    return max(0.0, busy - own) / total


def busy_share(seconds: float = 1.0) -> float:
    """How much of the machine other processes use right now, sampled over ``seconds``."""
    before = cpu_snapshot()
    time.sleep(seconds)
    return other_share(before, cpu_snapshot())


__all__ = ["blas_info", "busy_share", "cpu_model", "cpu_snapshot", "header",
           "match_torch_threads", "other_share"]
