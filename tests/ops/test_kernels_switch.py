"""The switch between the ops' NumPy code and their compiled loops (deepgrad.ops._kernels)."""

import importlib

import pytest

from deepgrad.ops import _kernels


@pytest.fixture
def fresh(monkeypatch):
    """The switch as before its first use (it loads the compiled loops once)."""
    monkeypatch.setattr(_kernels._State, "tried", False)
    monkeypatch.setattr(_kernels._State, "module", None)
    monkeypatch.setattr(_kernels._State, "enabled", True)


def test_without_numba_the_numpy_code_runs_silently(fresh, monkeypatch, recwarn):
    def missing(name):
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(importlib, "import_module", missing)
    assert _kernels.compiled() is None
    assert not recwarn.list


def test_a_numba_that_cannot_cache_warns_once_and_the_numpy_code_runs(fresh, monkeypatch):
    def broken(name):
        raise RuntimeError("cannot cache function 'max_pool': no locator available")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.warns(RuntimeWarning, match="compiled loops are unavailable .*no locator"):
        assert _kernels.compiled() is None
    assert _kernels.compiled() is None  # tried once


def test_switched_off_and_back(fresh):
    with _kernels.use_compiled(False):
        assert _kernels.compiled() is None
    pytest.importorskip("numba", reason="numba is not installed: the compiled loops need "
                                        "`pip install 'deepgrad[fast]'`")
    assert _kernels.compiled() is not None
