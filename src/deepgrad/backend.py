"""The one place that chooses the array library. Every other module uses ``xp`` from here.

It also tunes the C allocator for training loops (Linux with glibc): a training step allocates
and frees the same large arrays (activations, gradients, im2col buffers) every step. By default
glibc hands each freed block of a few MB back to the kernel (``munmap`` or heap trimming), and the
next step's allocation page-faults it back in, zeroing every page: measured here, 5,000 page
faults and about a third of the CPU time of a small CNN's training step. Keeping freed memory in
the process removes them; the peak memory is unchanged, but the process keeps it after arrays are
freed. Set ``DEEPGRAD_MALLOC_TUNING=0`` in the environment before importing deepgrad to keep
glibc's defaults.
"""

import ctypes
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as xp

__all__ = ["DEVICE", "allocator_tuned", "parse_to", "silent_float_errors", "xp"]

DEVICE = "cpu"
"""Where the array library keeps arrays and computes (NumPy: the CPU)."""

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_KEEP_BELOW = 1 << 30  # blocks up to 1 GiB come from (and return to) the process's heap


def _tune_allocator() -> bool:
    if os.environ.get("DEEPGRAD_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return False
    # mallopt takes a C int: 2**31 - 1 is the largest trim threshold it can express.
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


allocator_tuned: bool = _tune_allocator()
"""Whether importing deepgrad tuned glibc's allocator (see the module's docstring)."""


def silent_float_errors(fn: Callable) -> Callable:
    """``fn`` without the array library's floating-point warnings: log(0), x / 0, sqrt(-1) and
    overflow give -inf, inf and nan silently, as in PyTorch (``TerminateOnNaN`` and
    ``dg.detect_anomaly()`` are how deepgrad reports them)."""

    @functools.wraps(fn)
    def silent(*args: Any, **kwargs: Any) -> Any:
        with xp.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return silent


def parse_to(where: str, args: tuple, dtype: Any = None, device: Any = None) -> Any:
    """The dtype that PyTorch-style ``.to(...)`` arguments ask for (None: keep it), checking the
    device among them: ``to(dtype)``, ``to("cpu")``, ``to("cpu", dtype)``, ``to(device=...)``.

    A string that is not a dtype name is a device; only :data:`DEVICE` is available, so that
    code written for PyTorch's ``model.to(device)`` runs unchanged on the CPU, and a request
    for a GPU says so instead of failing on an unknown dtype.
    """
    for arg in args:
        if isinstance(arg, str) and not _is_dtype_name(arg):
            device = arg
        elif dtype is None:
            dtype = arg
        else:
            raise TypeError(f"{where}: expects at most one dtype and one device; got {args}")
    if device is not None and str(device).split(":")[0] != DEVICE:
        raise ValueError(f"{where}: device {str(device)!r} is not available: deepgrad computes "
                         f"with NumPy on the CPU (device {DEVICE!r})")
    return dtype


def _is_dtype_name(name: str) -> bool:
    try:
        xp.dtype(name)
    except TypeError:
        return False
    return True
