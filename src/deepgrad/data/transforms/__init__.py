"""Batch transforms: augment and normalize a whole batch of images at once, reproducibly.

Every transform maps a batch to a new batch and leaves its input unchanged::

    out = transform(batch, rng)

``batch`` is a NumPy array of images, (N, C, H, W) or (N, H, W) (one image: ``image[None]``);
``rng`` is the NumPy ``Generator`` all randomness is drawn from. A ``DataLoader`` passes each
batch's own generator (derived from its seed, epoch and batch index), so the same seed gives the
same augmented batches, also after a resume; called without ``rng``, a transform draws from
deepgrad's global generator (``dg.manual_seed``). Each random choice is made for the
whole batch in one call (one offset, angle or rectangle per image), and the pixels are moved by
fancy indexing: no Python loop over images.

The families: :mod:`~deepgrad.data.transforms.core` (Transform, Compose, Lambda),
:mod:`~deepgrad.data.transforms.color` (ToFloat, Normalize, RandomErasing),
:mod:`~deepgrad.data.transforms.geometry` (flips, RandomRotation, RandomAffine),
:mod:`~deepgrad.data.transforms.crops` (Pad, RandomCrop, CenterCrop, Resize,
RandomResizedCrop) and :mod:`~deepgrad.data.transforms.mixing` (MixUp, CutMix, which map a
batch ``(images, labels)`` to ``(images, soft labels)``: a DataLoader's ``batch_transform``).
"""

from deepgrad.data.transforms.color import Normalize, RandomErasing, ToFloat
from deepgrad.data.transforms.core import Compose, Lambda, Transform
from deepgrad.data.transforms.crops import (
    CenterCrop,
    Pad,
    RandomCrop,
    RandomResizedCrop,
    Resize,
)
from deepgrad.data.transforms.geometry import (
    RandomAffine,
    RandomHorizontalFlip,
    RandomRotation,
    RandomVerticalFlip,
)
from deepgrad.data.transforms.mixing import CutMix, MixUp

__all__ = [
    "CenterCrop",
    "Compose",
    "CutMix",
    "Lambda",
    "MixUp",
    "Normalize",
    "Pad",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomVerticalFlip",
    "Resize",
    "ToFloat",
    "Transform",
]


def __getattr__(name: str) -> object:
    # torchvision's first transform: say what replaces it here, not just that it is missing.
    if name == "ToTensor":
        raise AttributeError("deepgrad.data.transforms has no ToTensor: batches stay NumPy "
                             "arrays (the DataLoader makes them), already (N, C, H, W); "
                             "ToFloat() scales uint8 images to floats in [0, 1]")
    raise AttributeError(f"module 'deepgrad.data.transforms' has no attribute {name!r}")
