"""Shared fixtures: ``torch`` (the parity oracle; tests using it skip, saying why, without it)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


def pytest_configure(config):
    """Under pytest-xdist, each worker computes with its share of the cores. Two workers with
    two BLAS threads each on two cores made mid-sized GEMMs (32x144 by 144x512) take 16 ms
    instead of 0.08: a thread of each waits for a core the other holds. The DQN tests took
    284-340 s so, 25 s each with one thread per worker. Tests of the threaded paths set their
    thread count themselves."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import deepgrad as dg

        dg.set_num_threads(max(1, dg.get_num_threads() // workers))


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
