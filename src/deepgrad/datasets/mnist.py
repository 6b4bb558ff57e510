"""Fashion-MNIST and MNIST: 70,000 grayscale 28x28 images in 10 classes (60,000 train, 10,000
test), as NumPy arrays or as array-backed datasets for the DataLoader's fast path.

Files are found or downloaded as :mod:`deepgrad.datasets.fetch` describes. The checksums:

- ``sha256``: of the published ``.gz`` files, as recorded by TensorFlow Datasets'
  ``url_checksums`` (fashion_mnist.txt, mnist.txt, with the files' sizes, which match the
  publishers' listings) and by several other projects that pin the same files; for
  Fashion-MNIST, projects that pin both list torchvision's MD5s next to these SHA-256s.
- ``content_sha256``: of the decompressed IDX files. For Fashion-MNIST they were computed here
  from Debian's ``dataset-fashion-mnist`` (which recompressed the files, so its ``.gz`` hashes
  differ from the published ones while the content is the same), and agree with the hashes of
  the decompressed official files that other projects pin. For MNIST they are the values two
  independent projects pin for the decompressed official files.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from deepgrad.backend import xp
from deepgrad.datasets.fetch import DatasetSource, RemoteFile, locate
from deepgrad.datasets.idx import read_idx
from deepgrad.datasets.images import ImageSplit
from deepgrad.errors import FileFormatError, shape_str

FASHION_MNIST = DatasetSource(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files=(
        RemoteFile("train-images-idx3-ubyte.gz",
                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                   "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                   "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                   "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                   "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    install_hint="sudo apt install dataset-fashion-mnist",
)

# Debian has no MNIST package; the directory is where one would put it, by analogy.
MNIST_SOURCE = DatasetSource(
    name="mnist",
    title="MNIST",
    files=(
        RemoteFile("train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                   "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                   "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    system_dirs=("/usr/share/datasets/mnist",),
)

NUM_CLASSES = 10
IMAGE_SIZE = 28


def _load_split(source: DatasetSource, paths: dict[str, Any], split: str) -> tuple[Any, Any]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of split ``train`` or ``t10k``, checked."""
    images_path = paths[f"{split}-images-idx3-ubyte"]
    labels_path = paths[f"{split}-labels-idx1-ubyte"]
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != xp.uint8 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise FileFormatError(f"{os.fspath(images_path)}: expected {source.title} images, uint8 "
                              f"of shape (N, 28, 28); the file holds {images.dtype} of shape "
                              f"{shape_str(images.shape)}")
    if labels.dtype != xp.uint8 or labels.ndim != 1:
        raise FileFormatError(f"{os.fspath(labels_path)}: expected {source.title} labels, uint8 "
                              f"of shape (N,); the file holds {labels.dtype} of shape "
                              f"{shape_str(labels.shape)}")
    if len(images) != len(labels):
        raise FileFormatError(f"{os.fspath(images_path)} holds {len(images)} images but "
                              f"{os.fspath(labels_path)} holds {len(labels)} labels")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise FileFormatError(f"{os.fspath(labels_path)}: label {labels.max()} is not a class "
                              f"of {source.title} (0 to {NUM_CLASSES - 1})")
    return images, labels.astype(xp.int64)


def _load(source: DatasetSource, root: str | os.PathLike | None, download: bool) -> tuple:
    paths = locate(source, root, download)
    return _load_split(source, paths, "train"), _load_split(source, paths, "t10k")


def load_fashion_mnist(root: str | os.PathLike | None = None, download: bool = True) -> tuple:
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 arrays (N, 28, 28) with values 0..255, labels int64 arrays (N,) in 0..9
    (names in ``FashionMNIST.classes``); 60,000 train and 10,000 test examples.

    Args:
        root: a directory holding the four IDX files (plain or ``.gz``), searched first.
        download: download the files into ``~/.cache/deepgrad/fashion-mnist`` when they are
            nowhere on this machine.
    """
    return _load(FASHION_MNIST, root, download)


def load_mnist(root: str | os.PathLike | None = None, download: bool = True) -> tuple:
    """MNIST handwritten digits as ``(x_train, y_train), (x_test, y_test)``, like
    :func:`load_fashion_mnist` (cache directory ``~/.cache/deepgrad/mnist``)."""
    return _load(MNIST_SOURCE, root, download)


class _IDXImages(ImageSplit):
    """A split of an MNIST-like dataset; ``data`` (N, 28, 28) is the split's images."""

    source: ClassVar[DatasetSource]

    def __init__(self, train: bool = True, transform: Any = None,
                 root: str | os.PathLike | None = None, download: bool = True) -> None:
        paths = locate(self.source, root, download)
        self.data, targets = _load_split(self.source, paths, "train" if train else "t10k")
        # The images as (N, 1, 28, 28): a view of data with the channel axis.
        super().__init__(self.data[:, None], targets, train, transform)


class FashionMNIST(_IDXImages):
    """Fashion-MNIST as a dataset of ``(image, label)``: image uint8 (1, 28, 28), label an int.

    ``data`` (N, 28, 28) uint8 and ``targets`` (N,) int64 hold the whole split. Batches from a
    DataLoader are (B, 1, 28, 28) uint8 and (B,) int64, the channel axis included for
    convolutions; add ``transforms.ToFloat()`` to get floats in [0, 1].

    Args:
        train: the 60,000 training images, else the 10,000 test images.
        transform: a batch transform ``transform(images, rng)``, applied to each batch the
            loader takes (with the loader's generator), and to single examples (drawing from
            deepgrad's generator).
        root: a directory with the IDX files, searched first (see :func:`load_fashion_mnist`).
        download: download the files when they are nowhere on this machine.
    """

    source = FASHION_MNIST
    classes: ClassVar[list[str]] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class MNIST(_IDXImages):
    """MNIST handwritten digits as a dataset of ``(image, label)``, like :class:`FashionMNIST`."""

    source = MNIST_SOURCE
    classes: ClassVar[list[str]] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                                    "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
