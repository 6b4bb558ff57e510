"""Feature visualization: first-layer filters as an image grid, the PCA embedding of penultimate
features colored by class (PNGs), the NumPy PCA itself, and collecting a model's features."""

import os

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.errors import ShapeError
from deepgrad.nn.utils.transfer import feature_extractor
from deepgrad.train.visualize import embeddings, pca, plot_embedding, plot_filters

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    image = pytest.importorskip("matplotlib.image", reason="the plots need matplotlib")
    with open(path, "rb") as file:
        assert file.read(8) == PNG_SIGNATURE
    pixels = image.imread(path)
    assert min(pixels.shape[:2]) >= 200 and max(pixels.shape[:2]) <= 2000, pixels.shape
    assert pixels.std() > 0.01  # something was drawn
    return pixels


def clusters(n_per_class=40, classes=3, dim=10, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, dim)) * 5
    labels = np.repeat(np.arange(classes), n_per_class)
    return centers[labels] + rng.standard_normal((labels.size, dim)), labels


# ------------------------------------------------------------------------------ PCA
def test_pca_matches_the_eigenvectors_of_the_covariance():
    features, _ = clusters()
    projected, explained = pca(features, 3)
    centered = features - features.mean(0)
    values, vectors = np.linalg.eigh(np.cov(centered, rowvar=False))
    order = np.argsort(values)[::-1][:3]
    np.testing.assert_allclose(explained, values[order] / values.sum(), rtol=1e-10)
    for i, column in enumerate(order):    # the same axes, up to the sign of each
        reference = centered @ vectors[:, column]
        sign = np.sign(reference @ projected[:, i])
        np.testing.assert_allclose(projected[:, i], sign * reference, atol=1e-9)
    np.testing.assert_allclose(projected.var(0, ddof=1), values[order], rtol=1e-10)


def test_pca_is_deterministic_in_sign_and_accepts_tensors_and_images():
    features, _ = clusters()
    a, _ = pca(features)
    b, _ = pca(dg.tensor(features[::-1].copy()))
    np.testing.assert_allclose(a[::-1], b, atol=1e-9)  # same axes whatever the row order
    images = np.random.default_rng(0).standard_normal((20, 2, 3, 3))
    assert pca(images)[0].shape == (20, 2)


def test_pca_errors():
    with pytest.raises(ShapeError, match=r"features must be \(N, D\) with N >= 2 examples; got "
                                         r"\(5\)"):
        pca(np.zeros(5))
    with pytest.raises(ValueError, match=r"n_components must be an integer in \[1, 4\] for "
                                         r"features of shape \(10, 4\); got 5"):
        pca(np.zeros((10, 4)), 5)


# ------------------------------------------------------------------------------ plots
def test_plot_filters_of_a_model_writes_a_png(tmp_path):
    dg.manual_seed(0)
    path = plot_filters(dg.models.cnn(), tmp_path / "filters.png")
    assert path == tmp_path / "filters.png"
    read_png(path)
    assert os.listdir(tmp_path) == ["filters.png"]   # no temporary file left


def test_plot_filters_of_rgb_weights_and_constant_filters(tmp_path):
    weight = np.random.default_rng(0).standard_normal((10, 3, 5, 5))
    weight[3] = 0.25                                   # constant: drawn gray, no division by 0
    read_png(plot_filters(weight, tmp_path / "rgb.png", title="RGB"))
    read_png(plot_filters(dg.models.resnet(depth=8, width=4), tmp_path / "resnet.png"))


def test_plot_filters_errors(tmp_path):
    with pytest.raises(ShapeError, match=r"C = 1 \(grayscale\) or 3 \(RGB\); got \(8, 2, 3, 3\)"):
        plot_filters(np.zeros((8, 2, 3, 3)), tmp_path / "f.png")
    with pytest.raises(ValueError, match="plot_filters: Sequential has no Conv2d layer"):
        plot_filters(nn.Sequential(nn.Linear(2, 2)), tmp_path / "f.png")
    with pytest.raises(ValueError, match=r"must end in \.png"):
        plot_filters(np.zeros((8, 1, 3, 3)), tmp_path / "f.jpg")


def test_plot_embedding_writes_a_png(tmp_path):
    features, labels = clusters()
    path = plot_embedding(features, labels, tmp_path / "embedding.png",
                          class_names=["Trouser", "Sandal", "Bag"])
    read_png(path)
    read_png(plot_embedding(features, labels + 4, tmp_path / "numbers.png"))


def test_plot_embedding_errors(tmp_path):
    features, labels = clusters()
    with pytest.raises(ShapeError, match=r"labels must be \(N,\) = \(120,\)"):
        plot_embedding(features, labels[:10], tmp_path / "e.png")
    with pytest.raises(ValueError, match="got 2 class names, but the labels go up to 2"):
        plot_embedding(features, labels, tmp_path / "e.png", class_names=["a", "b"])
    with pytest.raises(ValueError, match="class indices"):
        plot_embedding(features, labels - 1, tmp_path / "e.png")


# ------------------------------------------------------------------------------ features
def test_embeddings_are_the_eval_mode_penultimate_features_in_batches():
    dg.manual_seed(0)
    model = dg.models.cnn(widths=(4, 8), hidden=16)
    model.train()
    model.classifier.eval()              # a mode set on purpose on one part is kept
    x = np.random.default_rng(0).standard_normal((70, 1, 28, 28))   # float64 in: cast
    features = embeddings(model, x, batch_size=32)
    assert features.shape == (70, 16) and features.dtype == np.float32
    assert model.training and model.features.training and not model.classifier.training
    model.eval()
    np.testing.assert_allclose(features, model.embed(dg.tensor(x.astype(np.float32))).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())


def test_embeddings_of_a_feature_extractor():
    dg.manual_seed(0)
    model = dg.models.cnn(widths=(4, 8), hidden=16)
    x = np.random.default_rng(0).standard_normal((5, 1, 28, 28)).astype(np.float32)
    assert embeddings(feature_extractor(model, "features"), x).shape == (5, 8, 7, 7)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        embeddings(model, x, batch_size=0)
