"""Data pipeline: datasets, the DataLoader, and batch transforms.

::

    from deepgrad.data import DataLoader, TensorDataset, transforms as T

    augment = T.Compose([T.RandomCrop(28, padding=1), T.RandomHorizontalFlip(),
                         T.ToFloat(), T.Normalize(0.2860, 0.3530)])
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, seed=0,
                        transform=augment)
    for xb, yb in loader:    # Tensors; xb augmented, yb untouched
        ...

Label-mixing augmentations see the whole ``(x, y)`` batch: pass them as ``batch_transform``
(``DataLoader(..., batch_transform=T.MixUp(0.2, num_classes=10))``); ``y`` then holds class
probabilities (N, 10), which ``nn.CrossEntropyLoss`` accepts as targets.

PyTorch's samplers choose the order instead of ``shuffle``, e.g. to oversample rare classes
(``DataLoader(dataset, batch_size=64, sampler=WeightedRandomSampler(1 / counts[y], len(y)))``),
and an :class:`IterableDataset` (a stream, ``__iter__`` yielding examples) is batched in order.
"""

from deepgrad.data import transforms
from deepgrad.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    get_worker_info,
    random_split,
)
from deepgrad.data.loader import DataLoader, default_collate
from deepgrad.data.samplers import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SeededSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SeededSampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "get_worker_info",
    "random_split",
    "transforms",
]
