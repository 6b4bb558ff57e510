"""CIFAR-10: 60,000 colour 32x32 images in 10 classes (50,000 train, 10,000 test), as NumPy
arrays or as an array-backed dataset.

The data is the authors' binary version (``cifar-10-binary.tar.gz``: fixed-length records of
one label byte and 3,072 pixel bytes, red plane, green plane, blue plane, rows top to bottom),
read straight from the archive, or from its extracted ``cifar-10-batches-bin`` directory; never
the pickled Python version. Found or downloaded as :mod:`deepgrad.datasets.fetch` describes.
The archive's SHA-256 is the value several independent projects pin for the authors' file
(170,052,171 bytes, whose MD5 they check against the one the authors publish).

Per-channel mean and standard deviation of the training images, in [0, 1], for
``transforms.Normalize``: :data:`CIFAR10_MEAN` and :data:`CIFAR10_STD`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from deepgrad.backend import xp
from deepgrad.datasets.fetch import (
    DatasetNotFoundError,
    DatasetSource,
    RemoteFile,
    locate,
    search_places,
)
from deepgrad.datasets.images import ImageSplit
from deepgrad.errors import FileFormatError

CIFAR10_SOURCE = DatasetSource(
    name="cifar-10",
    title="CIFAR-10",
    files=(RemoteFile("cifar-10-binary.tar.gz",
                      "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", ""),),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_FOLDER = "cifar-10-batches-bin"
_SPLITS = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
_RECORD = 1 + 3 * 32 * 32
_CLASSES = 10


def _extracted(directory: Path) -> Path | None:
    """The directory holding the six .bin files: ``directory`` or its cifar-10-batches-bin."""
    for candidate in (directory / _FOLDER, directory):
        if all((candidate / name).is_file() for names in _SPLITS.values() for name in names):
            return candidate
    return None


def _find(root: str | os.PathLike | None, download: bool) -> Path:
    """The extracted directory or the archive, in fetch's search order (an extracted copy in a
    place wins over an archive in a later one); downloads the archive if need be."""
    for _, directory in search_places(CIFAR10_SOURCE, root):
        if directory is not None and directory.is_dir():
            found = _extracted(directory)
            if found is not None:
                return found
            for name in (CIFAR10_SOURCE.files[0].name, CIFAR10_SOURCE.files[0].stem):
                if (directory / name).is_file():
                    return directory / name
    try:
        return locate(CIFAR10_SOURCE, root, download)[CIFAR10_SOURCE.files[0].stem]
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(f"{error}\n(An extracted {_FOLDER} directory with its six "
                                   f".bin files works in any of those places too.)") from None


def _records(where: str, raw: bytes) -> tuple[Any, Any]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file's bytes, checked."""
    if not raw or len(raw) % _RECORD:
        raise FileFormatError(f"{where}: {len(raw)} bytes is not a whole number of CIFAR-10 "
                              f"records ({_RECORD} bytes each: a label and a 32x32x3 image)")
    records = xp.frombuffer(raw, xp.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(xp.int64)
    if labels.max() >= _CLASSES:
        raise FileFormatError(f"{where}: label {labels.max()} is not a class of CIFAR-10 (0 "
                              f"to {_CLASSES - 1})")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _read(path: Path, split: str) -> tuple[Any, Any]:
    """One split's images and labels, from the extracted directory or the archive."""
    parts = []
    if path.is_dir():
        for name in _SPLITS[split]:
            parts.append(_records(os.fspath(path / name), (path / name).read_bytes()))
    else:
        import tarfile  # only for the archive (its import takes ~5 ms)

        try:
            with tarfile.open(path, "r") as archive:
                for name in _SPLITS[split]:
                    try:
                        member = archive.extractfile(f"{_FOLDER}/{name}")
                    except KeyError:
                        member = None
                    if member is None:
                        raise FileFormatError(f"{os.fspath(path)}: the archive has no {_FOLDER}/"
                                              f"{name} (not the CIFAR-10 binary version?)")
                    parts.append(_records(f"{os.fspath(path)}: {name}", member.read()))
        except (tarfile.TarError, EOFError, OSError) as error:
            raise FileFormatError(f"{os.fspath(path)}: not a readable tar archive, truncated or "
                                  f"corrupted ({error})") from None
    images, labels = zip(*parts)
    return xp.concatenate(images), xp.concatenate(labels)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = True) -> tuple:
    """CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``: images uint8 (N, 3, 32, 32) with
    values 0..255, labels int64 (N,) in 0..9 (names in ``CIFAR10.classes``).

    Args:
        root: a directory with ``cifar-10-binary.tar.gz`` or its extracted
            ``cifar-10-batches-bin``, searched first.
        download: download the archive (162 MB) into ``~/.cache/deepgrad/cifar-10`` when it is
            nowhere on this machine.
    """
    path = _find(root, download)
    return _read(path, "train"), _read(path, "test")


class CIFAR10(ImageSplit):
    """CIFAR-10 as a dataset of ``(image, label)``: image uint8 (3, 32, 32), label an int.

    ``data`` (N, 3, 32, 32) uint8 and ``targets`` (N,) int64 hold the whole split; batches from
    a DataLoader are (B, 3, 32, 32) uint8 and (B,) int64. For floats, normalized:
    ``transforms.Compose([ToFloat(), Normalize(CIFAR10_MEAN, CIFAR10_STD)])``.

    Args:
        train: the 50,000 training images, else the 10,000 test images.
        transform: a batch transform ``transform(images, rng)`` (see ``ImageSplit``).
        root: a directory with the archive or its extracted folder, searched first.
        download: download the archive when it is nowhere on this machine.
    """

    classes: ClassVar[list[str]] = ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                    "frog", "horse", "ship", "truck"]

    def __init__(self, train: bool = True, transform: Any = None,
                 root: str | os.PathLike | None = None, download: bool = True) -> None:
        self.data, targets = _read(_find(root, download), "train" if train else "test")
        super().__init__(self.data, targets, train, transform)


__all__ = ["CIFAR10", "CIFAR10_MEAN", "CIFAR10_SOURCE", "CIFAR10_STD", "load_cifar10"]
