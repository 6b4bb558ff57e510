"""CIFAR-10 (binary version) on small files made here in its format: read from the archive or the
extracted folder, the search order, the checked download, bad files, and the dataset class."""

import dataclasses
import hashlib

import numpy as np
import pytest
from helpers import CIFAR_NAMES, FakeWeb, cifar_batch_bytes, write_cifar_archive

from deepgrad.data import DataLoader
from deepgrad.data import transforms as T
from deepgrad.datasets import CIFAR10, CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from deepgrad.datasets import cifar as cifar_module
from deepgrad.datasets import fetch as fetch_module
from deepgrad.datasets.fetch import DatasetNotFoundError
from deepgrad.errors import FileFormatError


def write_folder(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(CIFAR_NAMES):
        (directory / name).write_bytes(cifar_batch_bytes(i))
    return directory


def _check(splits):
    (x_train, y_train), (x_test, y_test) = splits
    assert x_train.shape == (20, 3, 32, 32) and x_train.dtype == np.uint8
    assert x_test.shape == (4, 3, 32, 32) and y_test.dtype == np.int64
    # File i's records come in order, each channel its own plane (R, G, B: CHW as stored).
    assert x_train[:, :, 0, 0].tolist()[::4] == [[10 * i + c for c in range(3)] for i in range(5)]
    assert y_train[:4].tolist() == [0, 1, 2, 3] and y_test.tolist() == [5, 6, 7, 8]
    assert x_test[0, 2, 31, 31] == 52


def test_reads_the_archive_or_the_extracted_folder(home, tmp_path):
    _check(load_cifar10(write_cifar_archive(tmp_path / "a" / "cifar-10-binary.tar.gz").parent,
                        download=False))
    _check(load_cifar10(write_folder(tmp_path / "b" / "cifar-10-batches-bin").parent,
                        download=False))
    _check(load_cifar10(write_folder(tmp_path / "c"), download=False))  # the .bin files here


def test_the_cache_and_data_env_are_searched(home, tmp_path, monkeypatch):
    write_cifar_archive(home / ".cache" / "deepgrad" / "cifar-10" / "cifar-10-binary.tar.gz")
    _check(load_cifar10(download=False))
    write_folder(tmp_path / "data" / "cifar-10" / "cifar-10-batches-bin")
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "data"))
    data = CIFAR10(train=False, download=False)
    assert len(data) == 4 and data.data.shape == (4, 3, 32, 32) == data.images.shape


def test_download_is_checked_and_kept_in_the_cache(home, tmp_path, monkeypatch):
    archive = write_cifar_archive(tmp_path / "server" / "cifar-10-binary.tar.gz").read_bytes()
    url = cifar_module.CIFAR10_SOURCE.mirrors[0] + "cifar-10-binary.tar.gz"
    web = FakeWeb({url: archive})
    monkeypatch.setattr(fetch_module, "urlopen", web)
    with pytest.raises(DatasetNotFoundError, match=r"checksum mismatch: SHA-256 [0-9a-f]{64}, "
                                                   r"but the published file has c4a38c50"):
        load_cifar10()  # the small archive is not the published one
    cache = home / ".cache" / "deepgrad" / "cifar-10"
    assert list(cache.iterdir()) == []  # nothing kept
    published = dataclasses.replace(cifar_module.CIFAR10_SOURCE.files[0],
                                    sha256=hashlib.sha256(archive).hexdigest())
    monkeypatch.setattr(cifar_module, "CIFAR10_SOURCE", dataclasses.replace(
        cifar_module.CIFAR10_SOURCE, files=(published,)))
    _check(load_cifar10())
    assert [p.name for p in cache.iterdir()] == ["cifar-10-binary.tar.gz"]
    _check(load_cifar10())  # from the cache: no second download
    assert web.requests == [url, url]


def test_not_found_lists_the_places_and_the_folder_option(home):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)CIFAR-10: its data files were not found"
                                                   r".*download: not attempted.*extracted "
                                                   r"cifar-10-batches-bin directory"):
        load_cifar10(download=False)


@pytest.mark.parametrize("contents, message", [
    ({"data_batch_1.bin": b"\x00" * 100}, r"data_batch_1\.bin: 100 bytes is not a whole number"),
    ({name: cifar_batch_bytes(0) for name in CIFAR_NAMES[1:]},
     r"the archive has no cifar-10-batches-bin/data_batch_1\.bin"),
    ({name: b"\x0b" + cifar_batch_bytes(0)[1:] for name in CIFAR_NAMES}, "label 11 is not a class"),
])
def test_bad_archives_are_errors_naming_the_file(home, tmp_path, contents, message):
    if len(contents) == 1:  # a short first file, the others fine
        contents = {**{name: cifar_batch_bytes(0) for name in CIFAR_NAMES}, **contents}
    write_cifar_archive(tmp_path / "cifar-10-binary.tar.gz", contents)
    with pytest.raises(FileFormatError, match=message):
        load_cifar10(tmp_path, download=False)


def test_a_truncated_archive_is_an_error(home, tmp_path):
    path = write_cifar_archive(tmp_path / "cifar-10-binary.tar.gz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FileFormatError, match="truncated or corrupted"):
        load_cifar10(tmp_path, download=False)


def test_dataset_batches_and_normalization(home, tmp_path):
    write_cifar_archive(tmp_path / "cifar-10-binary.tar.gz")
    normalize = T.Compose([T.ToFloat(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    data = CIFAR10(root=tmp_path, download=False, transform=normalize)
    assert repr(data) == "CIFAR10(train, 20 examples)" and data.classes[3] == "cat"
    x, y = next(iter(DataLoader(data, batch_size=8)))
    assert x.shape == (8, 3, 32, 32) and x.dtype == np.float32 and y.shape == (8,)
    expected = (np.array([0, 1, 2]) / 255 - np.array(CIFAR10_MEAN)) / np.array(CIFAR10_STD)
    np.testing.assert_allclose(x[0, :, 5, 5], expected, rtol=1e-5)
    image, label = data[4]
    assert image.shape == (3, 32, 32) and label == 1
