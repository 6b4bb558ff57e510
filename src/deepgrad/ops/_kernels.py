"""Whether ops use compiled loops (:mod:`deepgrad.ops._compiled`, numba from the ``fast``
extra) for the passes that NumPy makes in several sweeps over memory.

Each op keeps its NumPy implementation: the readable reference, and what runs where numba is not
installed, cannot compile for this NumPy, or is switched off with ``DEEPGRAD_COMPILED=0``. The
compiled loops give the same numbers (the tests run both). numba is imported, and each loop
compiled (or loaded from numba's cache), on first use, never by ``import deepgrad``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator
from types import ModuleType


class _State:
    enabled = os.environ.get("DEEPGRAD_COMPILED", "1").strip() != "0"
    module: ModuleType | None = None
    tried = False


def compiled() -> ModuleType | None:
    """The module of compiled loops, or None where the NumPy code is to run."""
    if not _State.enabled:
        return None
    if not _State.tried:
        _State.tried = True
        try:
            _State.module = importlib.import_module("deepgrad.ops._compiled")
        except ImportError:  # numba missing, or built for another NumPy: the NumPy code runs
            _State.module = None
        except (OSError, RuntimeError) as error:  # e.g. no writable directory for its cache
            warnings.warn(f"deepgrad: the compiled loops are unavailable ({error}); running the "
                          "NumPy code instead (DEEPGRAD_COMPILED=0 skips them)", RuntimeWarning,
                          stacklevel=3)
            _State.module = None
    return _State.module


@contextlib.contextmanager
def use_compiled(enabled: bool) -> Iterator[None]:
    """A block in which ops use the compiled loops (when available) or not; for tests and
    benchmarks that compare the two."""
    before = _State.enabled
    _State.enabled = enabled
    try:
        yield
    finally:
        _State.enabled = before
