"""Tests for the vectorized error function against Python's ``math.erf``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from deepgrad.ops._erf import erf
from deepgrad.ops._kernels import use_compiled

_reference = np.frompyfunc(math.erf, 1, 1)


@pytest.fixture(autouse=True, params=["numpy", "compiled"])
def _both_implementations(request):
    """Every test runs on the NumPy ranges and on the compiled loop (the C library's erf)."""
    if request.param == "compiled":
        pytest.importorskip("numba", reason="numba is not installed: no compiled erf to test")
    with use_compiled(request.param == "compiled"):
        yield


def reference(x: np.ndarray) -> np.ndarray:
    """math.erf applied elementwise, in float64."""
    return _reference(np.asarray(x, dtype=np.float64)).astype(np.float64)


def max_rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest relative error, measured against the smallest normal where ``want`` is 0."""
    scale = np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(got.astype(np.float64) - want) / scale))


def test_dense_grid_matches_math_erf_to_float64_precision() -> None:
    x = np.linspace(-8.0, 8.0, 200_001)
    got = erf(x)
    assert max_rel_error(got, reference(x)) < 2e-15


def test_random_points_matches_math_erf() -> None:
    # Off-grid points cover every range with arbitrary low-order bits.
    x = np.random.default_rng(0).uniform(-7.0, 7.0, 100_000)
    assert max_rel_error(erf(x), reference(x)) < 2e-15


@pytest.mark.parametrize("edge", [0.46875, 4.0, 5.95])
def test_range_boundaries_are_accurate(edge: float) -> None:
    # Each side of every switch between approximations, to the last few ulps.
    around = edge + np.arange(-50, 51) * np.spacing(edge)
    x = np.concatenate([around, -around, np.linspace(edge - 1e-3, edge + 1e-3, 2001)])
    assert max_rel_error(erf(x), reference(x)) < 2e-15


def test_tiny_and_huge_magnitudes_both_signs() -> None:
    mags = np.concatenate([np.geomspace(5e-324, 1e-3, 3000), np.geomspace(1e-3, 1e308, 3000)])
    x = np.concatenate([mags, -mags])
    got = erf(x)
    want = reference(x)
    normal = np.abs(want) >= np.finfo(np.float64).tiny
    assert max_rel_error(got[normal], want[normal]) < 2e-15
    # Subnormal results can only be as good as their absolute spacing.
    subnormal_err = np.abs(got[~normal] - want[~normal])
    assert np.max(subnormal_err) <= 2 * np.finfo(np.float64).smallest_subnormal
    assert np.all(np.sign(got) == np.sign(x))


def test_tiny_inputs_are_linear() -> None:
    x = np.array([1e-300, -1e-300, 1e-200, -1e-17])
    np.testing.assert_array_equal(erf(x), reference(x))
    assert erf(np.array([1e-300]))[0] == pytest.approx(2 / math.sqrt(math.pi) * 1e-300, rel=1e-15)


def test_large_inputs_saturate_exactly() -> None:
    x = np.array([5.95, 6.0, 10.0, 27.0, 1e10, 1e300, np.finfo(np.float64).max])
    np.testing.assert_array_equal(erf(x), np.ones_like(x))
    np.testing.assert_array_equal(erf(-x), -np.ones_like(x))


def test_special_values() -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
    got = erf(x)
    np.testing.assert_array_equal(got[:4], [0.0, -0.0, 1.0, -1.0])
    assert not np.signbit(got[0])
    assert np.signbit(got[1])
    assert np.isnan(got[4])


def test_no_runtime_warnings() -> None:
    x = np.array([0.0, -0.0, 5e-324, -1e-310, 1e-300, 0.3, 2.0, 4.5, 7.0, np.inf, -np.inf, np.nan])
    x32 = np.array([0.0, -0.0, 1e-45, -3e-39, 1e-30, 0.3, 2.0, 4.5, np.inf, np.nan], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Even a caller who turned every floating-point condition into an error is unaffected.
        with np.errstate(all="raise"):
            erf(x)
            erf(x32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_shape_preserved(dtype: type) -> None:
    x = np.linspace(-3.0, 3.0, 24, dtype=dtype).reshape(2, 3, 4)
    got = erf(x)
    assert got.dtype == dtype
    assert got.shape == (2, 3, 4)


def test_non_contiguous_input() -> None:
    base = np.linspace(-5.0, 5.0, 600).reshape(20, 30)
    x = base.T[::2]
    np.testing.assert_array_equal(erf(x), erf(np.ascontiguousarray(x)))
    assert max_rel_error(erf(x), reference(x)) < 2e-15


def test_multi_block_input_keeps_order() -> None:
    # Longer than one internal block, with ranges interleaved, so scatter order matters.
    x = np.random.default_rng(1).standard_normal(50_001) * 3.0
    assert max_rel_error(erf(x), reference(x)) < 2e-15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_saturated_inf_nan_among_ordinary_values(dtype: type) -> None:
    # A handful of saturated, infinite and nan values mixed into ordinary ones take a different
    # internal path from inputs that are mostly saturated.
    x = np.random.default_rng(2).standard_normal(4096)
    x[[3, 700, 1500, 2000, 2500, 4000]] = [np.nan, np.inf, -np.inf, 6.5, -4.2, -1e30]
    x = x.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            got = erf(x)
    want = reference(x)
    finite = ~np.isnan(x)
    if dtype == np.float64:
        assert max_rel_error(got[finite], want[finite]) < 2e-15
    else:
        np.testing.assert_array_equal(got[finite], want[finite].astype(np.float32))
    assert np.isnan(got[3]) and np.isnan(got).sum() == 1
    np.testing.assert_array_equal(got[[700, 1500, 2000, 4000]], [1.0, -1.0, 1.0, -1.0])


def test_threads_do_not_share_state() -> None:
    from concurrent.futures import ThreadPoolExecutor

    inputs = [np.random.default_rng(seed).uniform(-5, 5, 70_000) for seed in range(6)]
    expected = [erf(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(erf, inputs * 3))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, expected[i % len(inputs)])


def test_zero_dim_input() -> None:
    got = erf(np.array(0.5))
    assert isinstance(got, np.ndarray)
    assert got.shape == ()
    assert got.dtype == np.float64
    assert float(got) == pytest.approx(math.erf(0.5), rel=2e-16)
    neg_zero = erf(np.array(-0.0, dtype=np.float32))
    assert neg_zero.shape == () and neg_zero.dtype == np.float32 and np.signbit(neg_zero)


def test_empty_input() -> None:
    got = erf(np.zeros((0, 3), dtype=np.float32))
    assert got.shape == (0, 3) and got.dtype == np.float32


def test_integer_input_promotes_to_float64() -> None:
    got = erf(np.array([-2, 0, 1]))
    assert got.dtype == np.float64
    assert max_rel_error(got, reference(np.array([-2.0, 0.0, 1.0]))) < 2e-15


def test_complex_input_rejected() -> None:
    with pytest.raises(TypeError):
        erf(np.array([1.0 + 1.0j]))


def test_float32_accuracy() -> None:
    x = np.linspace(-6.0, 6.0, 200_001, dtype=np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    want = reference(x)
    # One float32 rounding of the exact value is at most 2**-24 (about 6e-8) relative.
    assert max_rel_error(got, want) < 1e-7
    # Computed in float64, so each value should be the correctly rounded float32.
    np.testing.assert_array_equal(got, want.astype(np.float32))
    tiny = np.array([1e-30, -1e-30, 1e-38], dtype=np.float32)
    assert max_rel_error(erf(tiny), reference(tiny)) < 1e-7


def test_input_not_modified() -> None:
    x = np.linspace(-6.0, 6.0, 1001)
    before = x.copy()
    erf(x)
    np.testing.assert_array_equal(x, before)


def test_float32_saturation_boundary_is_correctly_rounded() -> None:
    # float32 results saturate earlier than float64 ones; the switch must not change values.
    x = np.arange(3.85, 4.05, 2e-6, dtype=np.float32)
    x = np.concatenate([x, -x])
    np.testing.assert_array_equal(erf(x), reference(x).astype(np.float32))
