"""The README's Python examples run as printed (the training ones for one epoch on a subset of
Fashion-MNIST instead of fifteen on all of it), so that the documentation cannot rot."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.datasets

README = Path(__file__).resolve().parents[1] / "README.md"
FASHION = "/usr/share/datasets/fashion-mnist"
needs_data = pytest.mark.skipif(
    not os.path.isdir(FASHION) and "DEEPGRAD_DATA" not in os.environ,
    reason=f"Fashion-MNIST not found in {FASHION} (apt install dataset-fashion-mnist)")


def _block(marker):
    """The README's one Python block that contains ``marker``."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
              if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} README Python blocks contain {marker!r}"
    return blocks[0]


def _run(code, namespace=None):
    namespace = {} if namespace is None else namespace
    exec(compile(code, str(README), "exec"), namespace)
    return namespace


def test_a_first_taste(capsys):
    names = _run(_block("w = dg.randn(3, 2, requires_grad=True)"))
    assert names["w"].grad.shape == (3, 2)
    assert "[[" in capsys.readouterr().out


def test_a_function_with_its_own_backward():
    names = _run(_block("class Cube(dg.Function):"))
    np.testing.assert_allclose(names["x"].grad.numpy(), 3 * names["x"].numpy() ** 2)


@needs_data
def test_train_a_model_with_the_trainer_and_by_hand(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="history.plot needs matplotlib (deepgrad[plot])")

    class FirstImages(deepgrad.datasets.FashionMNIST):
        def __len__(self):
            return 512

    monkeypatch.setattr(deepgrad.datasets, "FashionMNIST", FirstImages)
    monkeypatch.chdir(tmp_path)
    trainer_code = _block("trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt,")
    loop_code = _block("for epoch in range(15):")
    assert trainer_code.count("15") == 2 and loop_code.count("15") == 1  # the epochs, only
    names = _run(trainer_code.replace("15", "1"))
    assert set(names["trainer"].evaluate(names["test"])) == {"loss", "accuracy"}
    assert (tmp_path / "curves.png").exists()
    assert (tmp_path / "runs" / "cnn" / "ckpt.safetensors").exists()
    _run(loop_code.replace("15", "1"), names)
    assert np.isfinite(names["loss"].item())


def test_export_quantize_and_the_runtime(tmp_path, monkeypatch):
    pytest.importorskip("onnx", reason="export needs onnx (deepgrad[onnx])")
    pytest.importorskip("onnxruntime", reason="export checks against onnxruntime")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "inputs.npy", images)
    dg.manual_seed(0)
    names = {"model": dg.models.cnn(widths=(4, 8), hidden=16).eval(),
             "example_input": dg.tensor(images[:1]), "calibration_images": images,
             "x": images[:4]}
    _run(_block("export.to_onnx(model, example_input"), names)
    assert np.load(tmp_path / "outputs.npy").shape == (16, 10)
    assert names["m"].run(images[:4]).shape == (4, 10)


@needs_data
def test_transfer_learning(tmp_path, monkeypatch):
    from deepgrad.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["pretrain", "--limit", "256", "--epochs", "1", "--quiet",
                 "--out", "runs/pretrain"]) == 0
    x = dg.tensor(np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32))
    names = _run(_block("replace_head(model, num_classes=5)"), {"x": x})
    assert names["features"].shape == (3, 128)
    assert all(p.requires_grad for p in names["head"].parameters())
    assert not any(p.requires_grad for p in names["model"].features.parameters())


def test_the_transformer_example_learns_its_task(capsys):
    names = _run(_block("nn.TransformerEncoderLayer(d_model"))
    assert names["trainer"].evaluate((names["x"][1600:], names["y"][1600:]))["accuracy"] > 0.98
    assert "accuracy" in capsys.readouterr().out
