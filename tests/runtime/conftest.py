"""Fixtures of the runtime tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from deepgrad_runtime.graph import Graph


@pytest.fixture(scope="session")
def oracle() -> Callable[[Graph, Sequence[np.ndarray]], list[np.ndarray]]:
    """``oracle(graph, feeds)``: onnxruntime's outputs for a graph (skips without it)."""
    for name in ("onnx", "onnxruntime"):
        pytest.importorskip(name, reason="the onnxruntime oracle needs pip install "
                                         "'deepgrad[onnx]'")
    from runtime.oracle import run_onnxruntime

    return run_onnxruntime
