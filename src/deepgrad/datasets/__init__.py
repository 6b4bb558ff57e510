"""Datasets: Fashion-MNIST, MNIST and CIFAR-10 (found on this machine or downloaded once,
checked), the IDX file reader, toy 2-D sets, and text (the Python standard library's source,
cut into sequences).

::

    from deepgrad.datasets import load_fashion_mnist, FashionMNIST, make_moons

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()   # uint8 (N, 28, 28), int64
    train = FashionMNIST(train=True)       # array-backed Dataset for DataLoader
    x, y = make_moons(1000, noise=0.1, seed=0)
"""

from deepgrad._lazy import lazy_names
from deepgrad.datasets.fetch import DatasetNotFoundError, DatasetSource, RemoteFile, locate
from deepgrad.datasets.idx import parse_idx, read_idx
from deepgrad.datasets.mnist import (
    FASHION_MNIST,
    MNIST,
    MNIST_SOURCE,
    FashionMNIST,
    load_fashion_mnist,
    load_mnist,
)
from deepgrad.datasets.text import CharSequences, python_stdlib_text
from deepgrad.datasets.toy import make_circles, make_gaussians, make_moons, make_spiral, make_xor

__all__ = [
    "CIFAR10",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST",
    "MNIST",
    "MNIST_SOURCE",
    "CharSequences",
    "DatasetNotFoundError",
    "DatasetSource",
    "FashionMNIST",
    "RemoteFile",
    "load_cifar10",
    "load_fashion_mnist",
    "load_mnist",
    "locate",
    "make_circles",
    "make_gaussians",
    "make_moons",
    "make_spiral",
    "make_xor",
    "parse_idx",
    "python_stdlib_text",
    "read_idx",
]

# CIFAR-10 is read on first use: import deepgrad stays quick.
__getattr__, __dir__ = lazy_names(globals(), {
    name: ("deepgrad.datasets.cifar", name)
    for name in ("CIFAR10", "CIFAR10_MEAN", "CIFAR10_STD", "load_cifar10")})
