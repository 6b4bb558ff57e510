"""Plots: each writes a valid PNG of a sensible size, atomically, without pyplot; bad inputs and
a missing matplotlib give clear errors."""

import os
import sys

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.errors import ShapeError
from deepgrad.train import metrics, plots, visualize

image = pytest.importorskip("matplotlib.image", reason="the plots need matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path, min_side=150, max_side=2500):
    """The image written at ``path``, after checking that it is a PNG of a plausible size."""
    with open(path, "rb") as file:
        assert file.read(8) == PNG_SIGNATURE
    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    assert min_side <= height <= max_side and min_side <= width <= max_side, pixels.shape
    assert pixels.std() > 0.01  # something was drawn
    return pixels


def leftovers(directory, name):
    return [f for f in os.listdir(directory) if f.startswith(f".{name}.")]


def test_plot_history_writes_a_png(tmp_path):
    history = {"loss": [1.0, 0.6, 0.4, 0.35], "val_loss": [1.1, 0.8, 0.7, 0.72],
               "accuracy": [0.5, 0.7, 0.8, 0.85], "val_accuracy": [0.45, 0.6, None, 0.7],
               "val_top5_accuracy": [0.9, 0.95, 0.97, 0.98], "lr": [0.1, 0.1, 0.01, 0.01]}
    path = tmp_path / "curves.png"
    written = plots.plot_history(history, path)
    assert written == path
    pixels = read_png(path)
    assert pixels.shape[1] > pixels.shape[0]  # panels side by side, three to a row
    assert leftovers(tmp_path, "curves.png") == []


def test_plot_history_one_panel_per_class_values_and_overwrite(tmp_path):
    path = tmp_path / "f1.png"
    path.write_bytes(b"old")
    per_class = [np.array([0.2, 0.5, 0.1]), np.array([0.4, 0.6, 0.3])]
    plots.plot_history({"f1": per_class, "val_f1": per_class}, str(path))
    read_png(path)
    wide = plots.plot_history({"loss": [dg.tensor(1.0), np.float32(0.5)]}, tmp_path / "one.png")
    read_png(wide)


def test_plot_history_errors(tmp_path):
    with pytest.raises(ValueError, match="plot_history: history must be a non-empty dict"):
        plots.plot_history({}, tmp_path / "h.png")
    with pytest.raises(ValueError, match=r"plot_history: history\['loss'\] must be a list of "
                                         r"numbers"):
        plots.plot_history({"loss": ["high", "low"]}, tmp_path / "h.png")
    with pytest.raises(ValueError, match=r"plot_history: writes PNG files; the path must end in "
                                         r"\.png, got '.*h\.pdf'"):
        plots.plot_history({"loss": [1.0]}, tmp_path / "h.pdf")
    with pytest.raises(FileNotFoundError, match=r"plot_history: directory '.*missing' does not "
                                                r"exist"):
        plots.plot_history({"loss": [1.0]}, tmp_path / "missing" / "h.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("normalize", [False, True])
def test_plot_confusion_matrix(tmp_path, normalize):
    rng = np.random.default_rng(0)
    cm = metrics.confusion_matrix(rng.integers(0, 4, 200), rng.integers(0, 4, 200))
    path = plots.plot_confusion_matrix(cm, ["cat", "dog", "bird", "fish"],
                                       tmp_path / "cm.png", normalize=normalize)
    read_png(path)
    assert leftovers(tmp_path, "cm.png") == []


def test_plot_confusion_matrix_many_classes_and_empty_rows(tmp_path):
    cm = np.diag(np.arange(40))  # row 0 sums to 0: normalize leaves it at 0
    read_png(plots.plot_confusion_matrix(dg.tensor(cm), None, tmp_path / "big.png",
                                         normalize=True))


def test_plot_confusion_matrix_errors(tmp_path):
    with pytest.raises(ShapeError, match=r"plot_confusion_matrix: cm must be a square \(C, C\) "
                                         r"matrix; got \(2, 3\)"):
        plots.plot_confusion_matrix(np.zeros((2, 3)), None, tmp_path / "cm.png")
    with pytest.raises(ValueError, match="plot_confusion_matrix: got 2 labels, but exactly 3 "
                                         "are needed"):
        plots.plot_confusion_matrix(np.eye(3), ["a", "b"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match="plot_confusion_matrix: cm must hold non-negative"):
        plots.plot_confusion_matrix(-np.eye(3), None, tmp_path / "cm.png")


@pytest.mark.parametrize("shape", [(30, 12, 12), (30, 1, 12, 12), (30, 3, 12, 12)])
def test_plot_misclassified(tmp_path, shape):
    rng = np.random.default_rng(1)
    images = rng.standard_normal(shape)  # normalized data: RGB is rescaled for display
    scores, targets = rng.standard_normal((30, 10)), rng.integers(0, 10, 30)
    labels = [f"class {i}" for i in range(10)]
    path = plots.plot_misclassified(images, scores, targets, labels, tmp_path / "wrong.png",
                                    max_images=9)
    read_png(path)
    assert leftovers(tmp_path, "wrong.png") == []


def test_plot_misclassified_uint8_and_none_wrong(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    read_png(plots.plot_misclassified(images, np.array([0, 1, 1, 0]), np.array([1, 1, 0, 0]),
                                      None, tmp_path / "u8.png"))
    read_png(plots.plot_misclassified(images, np.array([0, 1]).repeat(2), [0, 0, 1, 1], None,
                                      tmp_path / "none.png"))


def test_plot_misclassified_errors(tmp_path):
    images = np.zeros((4, 8, 8))
    path = tmp_path / "m.png"
    with pytest.raises(ShapeError, match=r"plot_misclassified: images must have shape \(N, H, W\) "
                                         r"or \(N, C, H, W\) with C = 1 or 3; got \(4, 2, 8, 8\)"):
        plots.plot_misclassified(np.zeros((4, 2, 8, 8)), [0, 1, 1, 0], [0, 1, 0, 0], None, path)
    with pytest.raises(ShapeError, match="plot_misclassified: images have 4 rows but targets "
                                         "have 3"):
        plots.plot_misclassified(images, [0, 1, 1], [0, 1, 0], None, path)
    with pytest.raises(ShapeError, match="plot_misclassified: outputs have 4 rows but targets "
                                         "have 3"):
        plots.plot_misclassified(images, [0, 1, 1, 0], [0, 1, 0], None, path)
    with pytest.raises(ValueError, match="plot_misclassified: got 2 labels, but at least 3 are "
                                         "needed"):
        plots.plot_misclassified(images, [0, 2, 1, 0], [0, 1, 0, 0], ["a", "b"], path)
    with pytest.raises(ValueError, match="plot_misclassified: max_images must be a positive int"):
        plots.plot_misclassified(images, [0, 1, 1, 0], [0, 1, 0, 0], None, path, max_images=0)


def test_no_pyplot_and_backend_unchanged(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plots.plot_history({"loss": [1.0, 0.5]}, tmp_path / "h.png")
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


@pytest.mark.parametrize(("name", "call"), [
    ("plot_history", lambda p: plots.plot_history({"loss": [1.0]}, p)),
    ("plot_confusion_matrix", lambda p: plots.plot_confusion_matrix(np.eye(2), None, p)),
    ("plot_misclassified",
     lambda p: plots.plot_misclassified(np.zeros((2, 4, 4)), [0, 1], [1, 1], None, p)),
    ("plot_filters", lambda p: visualize.plot_filters(np.ones((2, 1, 3, 3)), p)),
    ("plot_embedding", lambda p: visualize.plot_embedding(np.eye(4), [0, 1, 0, 1], p)),
])
def test_import_error_without_matplotlib(tmp_path, monkeypatch, name, call):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=rf"^{name} needs matplotlib; install with pip install "
                                          r"'deepgrad\[plot\]'$"):
        call(tmp_path / "x.png")
    assert os.listdir(tmp_path) == []


def test_plots_are_reachable_from_dg_metrics():
    import deepgrad as dg
    from deepgrad.train import plots

    assert dg.metrics.plot_confusion_matrix is plots.plot_confusion_matrix
    assert dg.metrics.plot_misclassified is plots.plot_misclassified
    with pytest.raises(AttributeError, match="no attribute 'plot_everything'"):
        dg.metrics.plot_everything  # noqa: B018
