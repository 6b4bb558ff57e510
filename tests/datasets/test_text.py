"""Text corpora: the standard library corpus and the truncated-BPTT chunking of a token stream."""

import numpy as np
import pytest

from deepgrad.datasets.text import CharSequences, python_stdlib_text
from deepgrad.errors import ShapeError


def test_stdlib_text_is_deterministic_and_non_empty():
    text = python_stdlib_text(max_bytes=200_000)
    assert len(text) > 150_000 and "def " in text and "import " in text
    assert python_stdlib_text(max_bytes=200_000) == text
    longer = python_stdlib_text(max_bytes=300_000)
    assert longer.startswith(text)


def test_stdlib_text_skips_tests_and_site_packages_in_sorted_order(tmp_path):
    files = {"b.py": "B = 2", "a/z.py": "Z = 26\n", "a/test/t.py": "T = 0\n",
             "site-packages/pkg/p.py": "P = 0\n", "a/tests/u.py": "U = 0\n",
             "c.txt": "not python\n", "a/m.py": "M = 13\n"}
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    assert python_stdlib_text(root=tmp_path) == "M = 13\nZ = 26\nB = 2\n"
    assert python_stdlib_text(max_bytes=9, root=tmp_path) == "M = 13\nZ "


def test_stdlib_text_skips_invalid_utf8(tmp_path):
    (tmp_path / "x.py").write_bytes(b"a = '\xff\xfe'\n")
    assert python_stdlib_text(root=tmp_path) == "a = ''\n"


def test_stdlib_text_errors(tmp_path):
    with pytest.raises(ValueError, match="max_bytes must be a positive integer or None; got 0"):
        python_stdlib_text(max_bytes=0)
    with pytest.raises(FileNotFoundError, match=r"no \.py files under"):
        python_stdlib_text(root=tmp_path)


def test_chunks_have_the_batch_shape_and_targets_are_shifted_by_one():
    stream = np.arange(1001)
    chunks = CharSequences(stream, batch_size=4, seq_len=64)
    assert chunks.row_length == 250 and chunks.num_tokens == 1000
    assert len(chunks) == 4  # 64 + 64 + 64 + 58
    shapes = [x.shape for x, _ in chunks]
    assert shapes == [(4, 64)] * 3 + [(4, 58)]
    for x, y in chunks:
        assert x.dtype == y.dtype == np.int64
        np.testing.assert_array_equal(y, x + 1)


def test_consecutive_chunks_continue_each_row():
    stream = np.arange(10_000) % 97
    chunks = CharSequences(stream, batch_size=8, seq_len=50)
    rows = np.concatenate([x for x, _ in chunks], axis=1)
    # Each row is one contiguous stretch of the stream; row i + 1 starts where row i ends.
    length = chunks.row_length
    for i in range(8):
        np.testing.assert_array_equal(rows[i], stream[i * length:(i + 1) * length])
    x_last, _ = chunks[-1]
    x_next_to_last, y_next_to_last = chunks[len(chunks) - 2]
    np.testing.assert_array_equal(x_last[:, 0], y_next_to_last[:, -1])
    np.testing.assert_array_equal(x_next_to_last, chunks[-2][0])


def test_chunk_errors():
    with pytest.raises(ShapeError, match=r"tokens must be 1-D; got \(2, 3\)"):
        CharSequences(np.zeros((2, 3), np.int64), 2, 2)
    with pytest.raises(TypeError, match="tokens must be integers; got dtype float64"):
        CharSequences(np.zeros(10), 2, 2)
    with pytest.raises(ValueError, match="seq_len must be a positive integer; got 0"):
        CharSequences(np.zeros(10, np.int64), 2, 0)
    with pytest.raises(ValueError, match="4 tokens are too few for 4 rows"):
        CharSequences(np.zeros(4, np.int64), 4, 2)
    with pytest.raises(IndexError, match="chunk 3 is out of range for 3 chunks"):
        CharSequences(np.zeros(13, np.int64), 2, 2)[3]
