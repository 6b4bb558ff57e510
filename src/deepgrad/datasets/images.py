"""What the image datasets share: a split held in memory as (N, C, H, W) uint8 images and int64
labels, array-backed so that the DataLoader takes whole batches (and transforms them at once)."""

from __future__ import annotations

from typing import Any, ClassVar

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.data.dataset import Dataset, check_index


class ImageSplit(Dataset):
    """The train or test split of an image dataset: ``(image, label)`` pairs, image uint8
    (C, H, W), label an int; batches from a DataLoader are (B, C, H, W) uint8 and (B,) int64
    (``transforms.ToFloat()`` makes floats in [0, 1]).

    Args:
        images: (N, C, H, W) uint8, the whole split.
        targets: (N,) int64 labels.
        train: which split it is (for the repr).
        transform: a batch transform ``transform(images, rng)``, applied to each batch the
            loader takes (with the loader's generator), and to single examples (drawing from
            deepgrad's generator).
    """

    classes: ClassVar[list[str]]
    array_backed = True

    def __init__(self, images: Any, targets: Any, train: bool, transform: Any) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(f"{type(self).__name__}: transform must be callable "
                            f"transform(batch, rng); got {type(transform).__name__}")
        self.train, self.transform = train, transform
        self._images, self.targets = images, targets

    @property
    def images(self) -> Any:
        """The whole split's images, (N, C, H, W) uint8, untransformed (a grayscale set's
        ``data`` is (N, H, W), as in torchvision)."""
        return self._images

    def __len__(self) -> int:
        return self._images.shape[0]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        i = check_index(type(self).__name__, index, len(self))
        image = self._images[i]
        if self.transform is not None:
            image = self.transform(image[None], generator())[0]
        return image, int(self.targets[i])

    def get_batch(self, indices: Any, rng: Any) -> tuple[Any, Any]:
        """(images (B, C, H, W), labels (B,)); ``transform(images, rng)`` if one is set."""
        images = xp.take(self._images, indices, axis=0)
        if self.transform is not None:
            images = self.transform(images, rng)
        return images, xp.take(self.targets, indices)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} examples)"


__all__ = ["ImageSplit"]
