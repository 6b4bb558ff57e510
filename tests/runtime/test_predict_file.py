"""Batch prediction of .npy files in chunks (predict_file and ``serve-batch``): the results,
the chunking, atomic output, errors, and memory bounded by the chunk rather than the file."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from deepgrad_runtime import FileFormatError, load
from deepgrad_runtime.cli import add_serve_batch_parser, main
from deepgrad_runtime.graph import Graph, Node, Value, save_artifact

rng = np.random.default_rng(4)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """A 784-64-10 MLP artifact taking (N, 28, 28) images."""
    inits = {"w1": (rng.standard_normal((784, 64)) * 0.05).astype(np.float32),
             "b1": np.zeros(64, np.float32),
             "w2": (rng.standard_normal((64, 10)) * 0.1).astype(np.float32),
             "b2": np.zeros(10, np.float32)}
    nodes = [Node("Flatten", ["x"], ["flat"]), Node("Gemm", ["flat", "w1", "b1"], ["h"]),
             Node("Relu", ["h"], ["hr"]), Node("Gemm", ["hr", "w2", "b2"], ["y"]),
             Node("Softmax", ["y"], ["p"])]
    graph = Graph([Value("x", (None, 28, 28))], [Value("p", (None, 10))], nodes, inits)
    return save_artifact(graph, tmp_path_factory.mktemp("mlp") / "mlp.safetensors")


def test_predict_file_equals_run_in_any_chunking(mlp, tmp_path):
    model = load(mlp)
    x = rng.standard_normal((20, 28, 28))  # float64: converted chunk by chunk
    np.save(tmp_path / "x.npy", x)
    expected = model.run(x)
    for batch_size in (7, 20, 1000):
        path = model.predict_file(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=batch_size)
        y = np.load(path)
        assert path == tmp_path / "y.npy" and y.shape == (20, 10) and y.dtype == np.float32
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]  # no leftovers


def test_predict_file_of_no_rows(mlp, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 28, 28), np.float32))
    y = np.load(load(mlp).predict_file(tmp_path / "x.npy", tmp_path / "y.npy"))
    assert y.shape == (0, 10)


def test_a_failed_prediction_leaves_the_old_output(mlp, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 27, 28), np.float32))
    np.save(tmp_path / "y.npy", np.arange(3))
    with pytest.raises(ValueError, match=r"x.npy: rows 0:4: input 'x' expects float32 of shape "
                                         r"\(\?, 28, 28\)"):
        load(mlp).predict_file(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=4)
    assert np.load(tmp_path / "y.npy").tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


def test_predict_file_errors(mlp, tmp_path):
    model = load(mlp)
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(FileFormatError, match=r"text.npy: not a readable .npy array"):
        model.predict_file(tmp_path / "text.npy", tmp_path / "y.npy")
    with pytest.raises(FileNotFoundError):
        model.predict_file(tmp_path / "missing.npy", tmp_path / "y.npy")
    np.save(tmp_path / "x.npy", np.zeros((3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        model.predict_file(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=0)


def test_memory_stays_bounded_by_the_chunk(mlp, tmp_path):
    """Predicting a 63 MB file raises the peak RSS by far less than the file's size."""
    rows = 20_000
    data = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32,
                                     shape=(rows, 28, 28))
    for start in range(0, rows, 2_000):
        data[start:start + 2_000] = rng.standard_normal((2_000, 28, 28))
    data.flush()
    del data
    np.save(tmp_path / "small.npy", np.zeros((300, 28, 28), np.float32))
    code = textwrap.dedent(f"""
        import resource
        import numpy as np
        import deepgrad_runtime
        model = deepgrad_runtime.load({str(mlp)!r})
        model.predict_file({str(tmp_path / "small.npy")!r}, {str(tmp_path / "s.npy")!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.predict_file({str(tmp_path / "big.npy")!r}, {str(tmp_path / "out.npy")!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    growth_mib = float(result.stdout)
    assert growth_mib < 16, f"peak RSS grew by {growth_mib:.1f} MiB for a 63 MB input"
    assert np.load(tmp_path / "out.npy", mmap_mode="r").shape == (rows, 10)


def test_serve_batch_command(mlp, tmp_path, capsys):
    np.save(tmp_path / "x.npy", rng.standard_normal((9, 28, 28)).astype(np.float32))
    status = main(["serve-batch", str(mlp), str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                   "--batch-size", "4", "--threads", "1"])
    assert status == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'y.npy'}: 9 predictions of shape "
                                              f"(10,) float32 in ")
    assert np.load(tmp_path / "y.npy").shape == (9, 10)
    assert main(["serve-batch", str(mlp), str(tmp_path / "missing.npy"), "out.npy"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("python -m deepgrad_runtime serve-batch: error: ")
    assert "missing.npy" in error and error.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["serve-batch", str(mlp), "x.npy", "y.npy", "--batch-size", "0"])


def test_serve_batch_registers_under_another_command_line(mlp, tmp_path, capsys):
    """As deepgrad's CLI wires it: add_serve_batch_parser(commands), then args.run(args)."""
    top = argparse.ArgumentParser(prog="deepgrad")
    add_serve_batch_parser(top.add_subparsers(dest="command", required=True))
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    args = top.parse_args(["serve-batch", str(mlp), str(tmp_path / "bad.npy"), "y.npy"])
    assert args.run(args) == 1
    assert capsys.readouterr().err.startswith("deepgrad serve-batch: error: ")
