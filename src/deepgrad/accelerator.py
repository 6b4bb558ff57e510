"""PyTorch's ``torch.accelerator`` queries (its quickstart picks its device with them), answered
for deepgrad, which computes on the CPU: no accelerator, so ``device = dg.accelerator.
current_accelerator().type if dg.accelerator.is_available() else "cpu"`` picks the CPU."""

from __future__ import annotations

from deepgrad import cuda
from deepgrad.backend import device


def is_available() -> bool:
    """Whether an accelerator (a GPU) can compute: False on deepgrad's CPU array library."""
    return cuda.is_available()


def device_count() -> int:
    """The number of accelerators deepgrad can compute on: 0."""
    return cuda.device_count()


def current_accelerator() -> device | None:
    """The accelerator in use, or None (as in PyTorch on a machine without one)."""
    return device("cuda") if is_available() else None


__all__ = ["current_accelerator", "device_count", "is_available"]
