"""Data pipeline: datasets, the DataLoader, and batch transforms.

::

    from deepgrad.data import DataLoader, TensorDataset, transforms as T

    augment = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(),
                         T.ToFloat(), T.Normalize(0.2860, 0.3530)])
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, seed=0,
                        transform=augment)
    for xb, yb in loader:    # NumPy arrays; xb augmented, yb untouched
        ...

Label-mixing augmentations see the whole ``(x, y)`` batch: pass them as ``batch_transform``
(``DataLoader(..., batch_transform=T.MixUp(0.2, num_classes=10))``); ``y`` then holds class
probabilities (N, 10), which ``nn.CrossEntropyLoss`` accepts as targets.
"""

from deepgrad.data import transforms
from deepgrad.data.dataset import (
    ConcatDataset,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
)
from deepgrad.data.loader import DataLoader, default_collate

__all__ = [
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
    "transforms",
]
