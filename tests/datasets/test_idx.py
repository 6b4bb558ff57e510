"""The IDX reader: the real Fashion-MNIST files, every dtype, and broken files made here."""

import gzip
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from deepgrad.datasets import parse_idx, read_idx
from deepgrad.errors import FileFormatError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(
    not (DEBIAN / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason=f"{DEBIAN} is missing (install it with: apt install dataset-fashion-mnist)")

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}


def idx_bytes(array):
    """The IDX encoding of ``array``."""
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@needs_debian
def test_real_fashion_mnist_files():
    labels = read_idx(DEBIAN / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]
    assert np.bincount(labels).tolist() == [1000] * 10
    images = read_idx(DEBIAN / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert images.flags.writeable and images.flags.c_contiguous


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_of_every_dtype(tmp_path, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) * 7 - 50).astype(dtype)
    data = idx_bytes(array)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_gzip_is_told_by_content_not_name(tmp_path):
    array = np.arange(5, dtype=np.uint8)
    (tmp_path / "plain.gz").write_bytes(idx_bytes(array))
    (tmp_path / "packed").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), array)


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize("data, message", [
    (GOOD[:-1], r"truncated: 11 bytes of data; its header declares uint8 values of shape "
                r"\(3, 4\), which is 12 bytes"),
    (GOOD + b"\0\0", r"2 bytes after the end of the data; its header declares uint8"),
    (b"\x1f\x00" + GOOD[2:], r"not an IDX file \(its magic number starts with 0x1f 0x00"),
    (b"\0\0\x07\x02" + GOOD[4:], r"unknown IDX data type code 0x07 .* 0x08 \(uint8\)"),
    (b"\0\0\x08\x00", r"the IDX magic number declares 0 dimensions"),
    (GOOD[:9], r"truncated header: 2 dimensions need 12 bytes, the file has 9"),
    (b"", r"too short for an IDX file \(0 bytes"),
])
def test_broken_files_name_the_file_and_the_problem(tmp_path, data, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(FileFormatError, match=f"{re.escape(str(path))}: {message}"):
        read_idx(path)


def test_truncated_and_corrupted_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(packed[:len(packed) // 2])
    with pytest.raises(FileFormatError,
                       match=f"{re.escape(str(truncated))}: truncated gzip stream"):
        read_idx(truncated)
    corrupted = tmp_path / "corrupted.gz"
    flipped = bytearray(packed)
    flipped[len(flipped) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(flipped))
    with pytest.raises(FileFormatError, match=f"{re.escape(str(corrupted))}: corrupted gzip data"):
        read_idx(corrupted)
    bad_crc = tmp_path / "bad-crc.gz"
    tail = bytearray(packed)
    tail[-8] ^= 0xFF                                  # the CRC-32 of the trailer
    bad_crc.write_bytes(bytes(tail))
    with pytest.raises(FileFormatError,
                       match=f"{re.escape(str(bad_crc))}: corrupted gzip data .*CRC"):
        read_idx(bad_crc)


@needs_debian
def test_truncated_copy_of_a_real_file(tmp_path):
    copy = tmp_path / "t10k-labels-idx1-ubyte.gz"
    shutil.copy(DEBIAN / copy.name, copy)
    copy.write_bytes(copy.read_bytes()[:-100])
    with pytest.raises(FileFormatError, match=f"{re.escape(str(copy))}: truncated gzip stream"):
        read_idx(copy)
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress((DEBIAN / copy.name).read_bytes())[:-10])
    with pytest.raises(FileFormatError, match=r"truncated: 9990 bytes of data; .* shape "
                                              r"\(10000\), which is 10000 bytes"):
        read_idx(plain)


def test_missing_file_and_parse_idx_name(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing")
    with pytest.raises(FileFormatError, match=r"^<bytes>: too short"):
        parse_idx(b"\0")
    np.testing.assert_array_equal(parse_idx(GOOD), np.arange(12).reshape(3, 4))
