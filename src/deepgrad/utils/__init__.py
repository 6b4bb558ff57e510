"""PyTorch's ``torch.utils`` path to the data pipeline: ``from deepgrad.utils.data import
DataLoader`` (or ``dg.utils.data.DataLoader``) is :mod:`deepgrad.data`, so that code written
against ``torch.utils.data`` ports by its import line."""

from deepgrad.utils import data

__all__ = ["data"]
