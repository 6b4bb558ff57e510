"""``torch.utils.data``'s names, which are :mod:`deepgrad.data`'s: ``Dataset``,
``TensorDataset``, ``DataLoader``, ``random_split``, the samplers, ``default_collate``..."""

from deepgrad.data import *  # noqa: F403 (the same names under PyTorch's path)
from deepgrad.data import __all__  # noqa: F401
