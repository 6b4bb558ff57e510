"""PyTorch's ``torch.cuda`` queries, answered for deepgrad, which computes on the CPU: code that
asks ``dg.cuda.is_available()`` before choosing its device runs unchanged and picks the CPU.

A GPU array library would plug in behind ``deepgrad.backend``; these answers come from there."""

from __future__ import annotations

from deepgrad.backend import DEVICE


def is_available() -> bool:
    """Whether a CUDA device can compute: False (the array library runs on the CPU)."""
    return DEVICE.type == "cuda"


def device_count() -> int:
    """The number of CUDA devices deepgrad can compute on: 0 on the CPU."""
    return int(is_available())


def manual_seed(seed: int) -> None:
    """Seed the current CUDA device's generator: as in PyTorch without CUDA, there is none, so
    nothing happens (``dg.manual_seed`` seeds deepgrad's one generator)."""
    int(seed)  # the error PyTorch gives for a seed that is not a number


def manual_seed_all(seed: int) -> None:
    """Seed every CUDA device's generator: none here (see :func:`manual_seed`)."""
    manual_seed(seed)


__all__ = ["device_count", "is_available", "manual_seed", "manual_seed_all"]
