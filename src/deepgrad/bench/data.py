"""Data pipeline row: one shuffled, augmented epoch of Fashion-MNIST (60,000 images), batch 128.

Augmentation: random crop 28x28 after 2 pixels of zero padding, horizontal flip with p = 0.5,
uint8 -> float32 in [0, 1], normalize with Fashion-MNIST's mean and std. One call iterates a
whole epoch and touches every batch; the number is samples per second. The issue's target is at
least 20,000 samples/s (absolute); the table's target is the ratio to torch's fastest idiom.

- deepgrad: ``DataLoader(FashionMNIST(), batch_size=128, shuffle=True, transform=...)``: one
  fancy index per batch, then the batch transforms of ``deepgrad.data.transforms``.
- torch (no torchvision here, so the same augmentation written with tensor ops on each batch):
  ``DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)``, the usual idiom, which
  indexes and collates example by example; and the same dataset read through a
  ``BatchSampler`` with ``batch_size=None``, which indexes a whole batch at once.

The random draws differ between the frameworks, so outputs are not compared; the shapes and
dtypes of the batches are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from deepgrad.bench.harness import Prepared, Workload
from deepgrad.data import DataLoader
from deepgrad.data import transforms as T
from deepgrad.datasets import FashionMNIST

BATCH = 128
PADDING = 2
MEAN, STD = 0.2860, 0.3530   # of the Fashion-MNIST training images, scaled to [0, 1]


def _epoch(loader: Any, augment: Callable[[Any], Any] | None = None) -> int:
    """Iterate one epoch; return the number of examples seen."""
    seen = 0
    for x, y in loader:
        if augment is not None:
            x = augment(x)
        seen += len(y)
    return seen


def _torch_augment(torch: ModuleType) -> Callable[[Any], Any]:
    """The same augmentation on a uint8 batch (B, 1, 28, 28), with torch tensor ops."""

    def augment(x: Any) -> Any:
        n = x.shape[0]
        padded = torch.nn.functional.pad(x, (PADDING,) * 4)
        top = torch.randint(0, 2 * PADDING + 1, (n,))
        left = torch.randint(0, 2 * PADDING + 1, (n,))
        # Windows as a view (B, 1, 5, 5, 28, 28), one picked per image: faster in torch than
        # indexing rows and columns.
        windows = padded.unfold(2, 28, 1).unfold(3, 28, 1)
        crop = windows[torch.arange(n), :, top, left]
        flip = torch.rand(n) < 0.5
        crop = torch.where(flip[:, None, None, None], crop.flip(-1), crop)
        return crop.float().div_(255).sub_(MEAN).div_(STD)

    return augment


def setup_loader(torch: ModuleType | None) -> Prepared:
    """deepgrad's loader and transforms vs torch's DataLoader with tensor-op augmentation."""
    train = FashionMNIST(train=True)
    augment = T.Compose([T.RandomCrop(28, padding=PADDING), T.RandomHorizontalFlip(),
                         T.ToFloat(), T.Normalize(MEAN, STD)])
    loader = DataLoader(train, batch_size=BATCH, shuffle=True, seed=0, transform=augment)

    def deepgrad_epoch() -> int:
        return _epoch(loader)

    if torch is None:
        return Prepared(deepgrad_epoch)
    data = torch.utils.data
    dataset = data.TensorDataset(torch.from_numpy(train.data[:, None].copy()),
                                 torch.from_numpy(train.targets.copy()))
    per_example = data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    batched = data.DataLoader(dataset, batch_size=None, sampler=data.BatchSampler(
        data.RandomSampler(dataset), batch_size=BATCH, drop_last=False))
    torch_augment = _torch_augment(torch)
    return Prepared(deepgrad_epoch, {
        "DataLoader(TensorDataset)": lambda: _epoch(per_example, torch_augment),
        "BatchSampler, batch_size=None": lambda: _epoch(batched, torch_augment)})


WORKLOADS = [
    Workload("DataLoader Fashion-MNIST epoch, batch 128, shuffle + augmentation (random crop "
             "pad 2 + flip + normalize)", "throughput", setup_loader, target=1.0,
             items_per_call=60000, compare_outputs=False),
]
