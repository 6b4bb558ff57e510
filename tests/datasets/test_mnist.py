"""Fashion-MNIST / MNIST: the search order, the checked download, the all-fail error, and the
arrays and datasets (on the real Debian files where installed, else on small files made here)."""

import dataclasses
import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import FakeWeb

from deepgrad.data import DataLoader
from deepgrad.data import transforms as T
from deepgrad.datasets import (
    FASHION_MNIST,
    MNIST,
    MNIST_SOURCE,
    DatasetNotFoundError,
    FashionMNIST,
    load_fashion_mnist,
    load_mnist,
    locate,
)
from deepgrad.datasets import fetch as fetch_module
from deepgrad.datasets import mnist as mnist_module
from deepgrad.errors import FileFormatError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(
    not all((DEBIAN / f.name).is_file() for f in FASHION_MNIST.files),
    reason=f"{DEBIAN} is missing (install it with: apt install dataset-fashion-mnist)")


def idx_bytes(array):
    code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_split(directory, marker, compress=True, n=(20, 10), size=28, labels=None):
    """Small MNIST-like files in ``directory``: every pixel equals ``marker``."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, count in zip(("train", "t10k"), n):
        images = np.full((count, size, size), marker, np.uint8)
        label_values = np.arange(count) % 10 if labels is None else labels
        for kind, array in (("images-idx3", images), ("labels-idx1", label_values.astype(
                np.uint8))):
            data = idx_bytes(array)
            name = f"{split}-{kind}-ubyte"
            if compress:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return directory


def source_with(system_dirs=(), mirrors=None, files=None):
    return dataclasses.replace(FASHION_MNIST, system_dirs=tuple(map(str, system_dirs)),
                               mirrors=FASHION_MNIST.mirrors if mirrors is None else mirrors,
                               files=FASHION_MNIST.files if files is None else files)


def test_search_order_root_env_cache_system(home, tmp_path, monkeypatch):
    root = write_split(tmp_path / "root", 1)
    env = write_split(tmp_path / "env" / "fashion-mnist", 2)
    cache = write_split(home / ".cache" / "deepgrad" / "fashion-mnist", 3)
    system = write_split(tmp_path / "system", 4)
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "env"))
    source = source_with(system_dirs=[system])
    for expected, directory in ((root, root), (env, env), (cache, cache), (system, system)):
        found = locate(source, root=root if expected is root else None, download=False)
        assert {p.parent for p in found.values()} == {directory}
        if directory is env:
            monkeypatch.delenv("DEEPGRAD_DATA")
        if directory is cache:
            for path in cache.iterdir():
                path.unlink()
    (x_train, _), _ = load_fashion_mnist(root=root)
    assert np.all(x_train == 1)


def test_root_subdirectory_and_plain_files(home, tmp_path):
    write_split(tmp_path / "data" / "mnist", 7, compress=False)
    (x_train, y_train), (x_test, y_test) = load_mnist(root=tmp_path / "data")
    assert x_train.shape == (20, 28, 28) and x_train.dtype == np.uint8 and np.all(x_train == 7)
    assert y_train.dtype == np.int64 and y_train.tolist() == [i % 10 for i in range(20)]
    assert x_test.shape == (10, 28, 28) and y_test.shape == (10,)
    test = MNIST(train=False, root=tmp_path / "data")
    assert len(test) == 10 and MNIST.classes[3] == "3 - three"


def test_an_incomplete_directory_is_skipped(home, tmp_path):
    partial = write_split(tmp_path / "partial", 1)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    complete = write_split(tmp_path / "system", 2)
    found = locate(source_with(system_dirs=[complete]), root=partial, download=False)
    assert {p.parent for p in found.values()} == {complete}


def serve(tmp_path, marker=5):
    """A mirror directory with small files, and the source that lists their hashes."""
    server = write_split(tmp_path / "server", marker)
    files = []
    for f in FASHION_MNIST.files:
        packed = (server / f.name).read_bytes()
        files.append(dataclasses.replace(
            f, sha256=hashlib.sha256(packed).hexdigest(),
            content_sha256=hashlib.sha256(gzip.decompress(packed)).hexdigest()))
    return server, tuple(files)


def test_download_from_a_mirror_into_the_cache(home, tmp_path):
    server, files = serve(tmp_path)
    source = source_with(mirrors=(server.as_uri() + "/",), files=files)
    found = locate(source)
    cache = home / ".cache" / "deepgrad" / "fashion-mnist"
    assert {p.parent for p in found.values()} == {cache}
    assert sorted(p.name for p in cache.iterdir()) == sorted(f.name for f in files)
    for f in files:
        assert (cache / f.name).read_bytes() == (server / f.name).read_bytes()
    for path in server.iterdir():
        path.unlink()
    assert locate(source, download=False) == found       # the cache is found next time


def test_download_fetches_only_what_the_cache_lacks(home, tmp_path):
    server, files = serve(tmp_path)
    cache = home / ".cache" / "deepgrad" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (server / name).rename(cache / name)
    found = locate(source_with(mirrors=(server.as_uri() + "/",), files=files))
    assert len(found) == 4 and all(p.parent == cache for p in found.values())


@needs_debian
def test_download_checks_the_real_fashion_mnist_hashes(home, monkeypatch):
    # Debian recompressed the official files: their .gz hashes differ from the published ones,
    # and they are accepted by the hash of their (identical) content.
    mirror = FASHION_MNIST.mirrors[0]
    web = FakeWeb({mirror + f.name: (DEBIAN / f.name).read_bytes() for f in FASHION_MNIST.files})
    monkeypatch.setattr(fetch_module, "urlopen", web)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST", source_with())   # no system directory
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    assert sorted(web.requests) == sorted(mirror + f.name for f in FASHION_MNIST.files)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_checksum_mismatch_keeps_nothing(home, tmp_path, monkeypatch):
    server, files = serve(tmp_path)
    mirror = "https://mirror.example/"
    pages = {mirror + f.name: (server / f.name).read_bytes() for f in files}
    first = files[0].name
    pages[mirror + first] = pages[mirror + first][:-20] + b"x" * 20
    monkeypatch.setattr(fetch_module, "urlopen", FakeWeb(pages))
    with pytest.raises(DatasetNotFoundError) as error:
        locate(source_with(mirrors=(mirror,), files=files))
    assert re.search(rf"download {re.escape(mirror + first)}: checksum mismatch: SHA-256 "
                     rf"[0-9a-f]{{64}}, but the published file has {files[0].sha256}",
                     str(error.value))
    cache = home / ".cache" / "deepgrad" / "fashion-mnist"
    assert list(cache.iterdir()) == []


def test_the_next_mirror_is_tried(home, tmp_path, monkeypatch):
    server, files = serve(tmp_path)
    dead, alive = "https://dead.example/", "https://alive.example/"
    web = FakeWeb({alive + f.name: (server / f.name).read_bytes() for f in files})
    monkeypatch.setattr(fetch_module, "urlopen", web)
    found = locate(source_with(mirrors=(dead, alive), files=files))
    assert len(found) == 4
    assert web.requests[:2] == [dead + files[0].name, alive + files[0].name]


def test_all_fail_error_lists_every_place_and_the_fixes(home, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "urlopen", FakeWeb({}))
    source = source_with(system_dirs=[tmp_path / "nowhere"])
    with pytest.raises(DatasetNotFoundError) as error:
        locate(source, root=tmp_path / "mine")
    message = str(error.value)
    cache = home / ".cache" / "deepgrad" / "fashion-mnist"
    expected = [
        "Fashion-MNIST: its data files were not found and could not be downloaded.",
        "Looked for train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (each plain or .gz), in this "
        "order:",
        f"  - root='{tmp_path / 'mine'}': does not exist",
        f"  - root='{tmp_path / 'mine'}' + fashion-mnist: does not exist",
        "  - $DEEPGRAD_DATA/fashion-mnist: DEEPGRAD_DATA is not set",
        f"  - cache {cache}: does not exist",
        f"  - system directory {tmp_path / 'nowhere'}: does not exist",
        f"  - download {FASHION_MNIST.mirrors[0]}train-images-idx3-ubyte.gz: <urlopen error no "
        "route to host>",
        "To fix it, do one of:",
        "  - install the system package: sudo apt install dataset-fashion-mnist",
        "  - put the files in a directory and pass root=<that directory>, or set "
        "DEEPGRAD_DATA=<dir> with the files in <dir>/fashion-mnist",
        f"  - allow the download (download=True, with internet access): the files are "
        f"downloaded once into {cache}",
    ]
    assert message.splitlines() == expected


def test_missing_files_are_named_and_download_can_be_disabled(home, tmp_path, monkeypatch):
    partial = write_split(tmp_path / "env" / "mnist", 1)
    (partial / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as error:
        load_mnist(download=False)
    message = str(error.value)
    assert f"  - $DEEPGRAD_DATA/mnist = {partial}: missing t10k-images-idx3-ubyte(.gz)" in message
    assert "  - root argument: not given" in message
    assert "  - download: not attempted (download=False)" in message
    assert f"system directory {MNIST_SOURCE.system_dirs[0]}" in message
    assert "apt install" not in message         # Debian has no MNIST package


@pytest.mark.parametrize("kwargs, problem", [
    (dict(labels=np.array([0, 12] * 10)), r"train-labels-idx1-ubyte.gz: label 12 is not a class "
                                          r"of Fashion-MNIST \(0 to 9\)"),
    (dict(size=32), r"train-images-idx3-ubyte.gz: expected Fashion-MNIST images, uint8 of shape "
                    r"\(N, 28, 28\); the file holds uint8 of shape \(20, 32, 32\)"),
    (dict(labels=np.arange(19) % 10), r"train-images-idx3-ubyte.gz holds 20 images but .*"
                                      r"train-labels-idx1-ubyte.gz holds 19 labels"),
])
def test_wrong_contents_are_errors_naming_the_file(home, tmp_path, kwargs, problem):
    root = write_split(tmp_path / "bad", 1, **kwargs)
    with pytest.raises(FileFormatError, match=problem):
        load_fashion_mnist(root=root)


def test_dataset_class_on_small_files(home, tmp_path):
    root = write_split(tmp_path / "small", 9)
    train = FashionMNIST(root=root, transform=T.ToFloat())
    assert len(train) == 20 and train.array_backed and train.data.shape == (20, 28, 28)
    assert train.images.shape == (20, 1, 28, 28) and np.shares_memory(train.images, train.data)
    image, label = train[3]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32 and label == 3
    xb, yb = train.get_batch(np.array([5, 1]), np.random.default_rng(0))
    assert xb.shape == (2, 1, 28, 28) and yb.tolist() == [5, 1]
    assert repr(train) == "FashionMNIST(train, 20 examples)"
    with pytest.raises(IndexError, match="FashionMNIST: index 20 is out of range"):
        train[20]
    with pytest.raises(TypeError, match="transform must be callable"):
        FashionMNIST(root=root, transform="flip")


@needs_debian
def test_fashion_mnist_on_the_real_files():
    test = FashionMNIST(train=False, transform=T.Compose([T.RandomHorizontalFlip(),
                                                           T.ToFloat()]))
    assert len(test) == 10000 and FashionMNIST.classes[9] == "Ankle boot"
    assert test.targets.dtype == np.int64 and test.targets[0] == 9
    loader = DataLoader(test, batch_size=1000, shuffle=True, seed=0,
                        transform=T.Normalize(0.2860, 0.3530))
    seen = 0
    for xb, yb in loader:
        assert xb.shape == (len(yb), 1, 28, 28) and xb.dtype == np.float32
        seen += len(yb)
    assert seen == 10000
