"""Shared fixtures: ``torch`` (the parity oracle; tests using it skip, saying why, without it)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the test oracle; the parity tests skip where it is not installed."""
    torch = pytest.importorskip(
        "torch", reason="torch is not installed: parity tests need `pip install torch==2.13.0`")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(params=["numpy", "compiled"])
def both_kernels(request):
    """Runs a test twice: with the ops' NumPy code and with their compiled loops (numba; the
    second run skips, saying why, where numba is not installed)."""
    from deepgrad.ops._kernels import compiled, use_compiled

    with use_compiled(request.param == "compiled"):
        if request.param == "compiled" and compiled() is None:
            pytest.skip("numba is not installed: the compiled loops need "
                        "`pip install 'deepgrad[fast]'`")
        yield request.param
