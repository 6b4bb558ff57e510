"""``dg.testing.assert_close``, PyTorch's ``torch.testing.assert_close`` for tests of models and
custom Functions: same shape and dtype, and values within ``atol + rtol * |expected|``, with
PyTorch's default tolerances for the dtype. The failure message counts the mismatched elements
and names the worst one, as PyTorch's does."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepgrad.tensor import Tensor

# PyTorch's defaults (rtol, atol) per dtype; other dtypes compare exactly.
_TOLERANCES = {np.dtype("float32"): (1.3e-6, 1e-5), np.dtype("float64"): (1e-7, 1e-7),
               np.dtype("float16"): (1e-3, 1e-5)}


def _array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    return np.asarray(value)


def assert_close(actual: Any, expected: Any, *, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_dtype: bool = True,
                 msg: str | None = None) -> None:
    """Raise an AssertionError unless ``actual`` and ``expected`` (tensors, arrays or numbers)
    have the same shape (and dtype, with ``check_dtype``) and every element is within
    ``atol + rtol * |expected|``; give both tolerances or neither (the dtype's defaults)."""
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: give both rtol and atol, or neither")
    a, e = _array(actual), _array(expected)
    if a.shape != e.shape:
        raise AssertionError(msg or f"The values for attribute 'shape' do not match: {a.shape} "
                                    f"!= {e.shape}.")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(msg or f"The values for attribute 'dtype' do not match: {a.dtype} "
                                    f"!= {e.dtype}.")
    if rtol is None:
        rtol, atol = _TOLERANCES.get(np.promote_types(a.dtype, e.dtype), (0.0, 0.0))
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(a64 - e64) <= atol + rtol * np.abs(e64)
    close |= a64 == e64  # equal infinities
    if equal_nan:
        close |= np.isnan(a64) & np.isnan(e64)
    if close.all():
        return
    if msg:
        raise AssertionError(msg)
    with np.errstate(invalid="ignore", divide="ignore"):
        absolute = np.where(close, 0.0, np.abs(a64 - e64))
        relative = np.where(close, 0.0, absolute / np.abs(e64))
    worst_abs = np.unravel_index(np.nanargmax(absolute), a.shape) if a.ndim else ()
    worst_rel = np.unravel_index(np.nanargmax(relative), a.shape) if a.ndim else ()
    count = int((~close).sum())
    raise AssertionError(
        f"Tensor-likes are not close!\n\nMismatched elements: {count} / {a.size} "
        f"({100 * count / a.size:.1f}%)\nGreatest absolute difference: "
        f"{absolute[worst_abs]} at index {tuple(int(i) for i in worst_abs)} (up to {atol} "
        f"allowed)\nGreatest relative difference: {relative[worst_rel]} at index "
        f"{tuple(int(i) for i in worst_rel)} (up to {rtol} allowed)")


__all__ = ["assert_close"]
