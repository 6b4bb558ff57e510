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

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as xp

__all__ = ["DEVICE", "allocator_tuned", "check_device", "cuda_device", "device", "parse_to",
           "silent_float_errors", "xp"]



class device(str):
    """A device, as PyTorch's ``torch.device``: ``dg.device("cpu")``, ``dg.device("cuda", 0)``.

    It is the device's name as a string (``"cpu"``, ``"cuda:0"``) with ``.type`` and ``.index``,
    so it goes wherever a device name does. Only :data:`DEVICE` computes: asking a tensor or
    factory for another raises an error naming it, as PyTorch does on a machine without it.
    """

    def __new__(cls, type: Any, index: int | None = None) -> device:
        name = str(type)
        kind, _, number = name.partition(":")
        if not kind.isalpha() or (number and not number.isdigit()) or (
                number and index is not None):
            raise ValueError(f"device: expects a name such as 'cpu' or 'cuda:0'; got {type!r}"
                             + ("" if index is None else f" and index {index!r}"))
        if index is not None:
            if not isinstance(index, int) or index < 0:
                raise ValueError(f"device: the index must be an int >= 0; got {index!r}")
            name, number = f"{kind}:{index}", str(index)
        made = super().__new__(cls, name)
        made._type, made._index = kind, int(number) if number else None
        return made

    @property
    def type(self) -> str:
        """The kind of device: ``"cpu"``, ``"cuda"``, ..."""
        return self._type

    @property
    def index(self) -> int | None:
        """The device's number among its kind, or None when not given."""
        return self._index

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


DEVICE = device("cpu")
"""Where the array library keeps arrays and computes (NumPy: the CPU)."""


def cuda_device(index: Any = None) -> str:
    """The device that PyTorch's ``.cuda(index)`` asks for: ``"cuda"``, ``"cuda:1"``..."""
    if index is None or isinstance(index, str):
        return index or "cuda"
    return f"cuda:{index}"


def check_device(where: str, requested: Any) -> None:
    """Raise unless ``requested`` (a device, its name, or None for the default) is
    :data:`DEVICE`: factories take PyTorch's ``device=`` so that its code runs unchanged."""
    if requested is not None and str(requested).partition(":")[0] != DEVICE:
        raise ValueError(f"{where}: device {str(requested)!r} is not available: deepgrad "
                         f"computes with NumPy on the CPU (device {str(DEVICE)!r})")

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
    check_device(where, device)
    return dtype


def _is_dtype_name(name: str) -> bool:
    try:
        xp.dtype(name)
    except TypeError:
        return False
    return True
