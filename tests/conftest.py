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
