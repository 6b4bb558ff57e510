"""Toy 2-D sets: shapes, dtypes, determinism from the seed, and the geometry they promise."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.datasets import make_circles, make_gaussians, make_moons, make_spiral, make_xor

MAKERS = [make_spiral, make_moons, make_circles, make_xor, make_gaussians]


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_shapes_dtypes_and_seed(make):
    x, y = make(301, seed=0)
    assert x.shape == (301, 2) and x.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    again_x, again_y = make(301, seed=0)
    np.testing.assert_array_equal(x, again_x)
    np.testing.assert_array_equal(y, again_y)
    other_x, _ = make(301, seed=1)
    assert not np.array_equal(x, other_x)
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_seed_none_follows_manual_seed(make):
    dg.manual_seed(8)
    first = make(50)
    dg.manual_seed(8)
    second = make(50)
    np.testing.assert_array_equal(first[0], second[0])


@pytest.mark.parametrize("make, classes", [(make_spiral, 3), (make_moons, 2),
                                           (make_circles, 2), (make_gaussians, 2)])
def test_balanced_classes_in_shuffled_order(make, classes):
    _, y = make(301, seed=0)
    counts = np.bincount(y).tolist()
    assert counts == [301 // classes + (c < 301 % classes) for c in range(classes)]
    assert not np.all(np.diff(y) >= 0)              # not sorted by class


def test_spiral_geometry_and_classes():
    x, y = make_spiral(400, classes=4, noise=0.0, seed=0)
    assert np.bincount(y).tolist() == [100] * 4
    assert np.linalg.norm(x, axis=1).max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="classes must be an integer >= 2; got 1"):
        make_spiral(10, classes=1)


def test_moons_without_noise_lie_on_their_half_circles():
    x, y = make_moons(200, noise=0.0, seed=0)
    outer, inner = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1, atol=1e-6)
    assert np.all(outer[:, 1] >= -1e-6)
    np.testing.assert_allclose(np.linalg.norm(inner - [1, 0.5], axis=1), 1, atol=1e-6)
    assert np.all(inner[:, 1] <= 0.5 + 1e-6)


def test_circles_without_noise_have_the_two_radii():
    x, y = make_circles(200, noise=0.0, factor=0.3, seed=0)
    radius = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(radius[y == 0], 1, atol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, atol=1e-6)
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\); got 1.5"):
        make_circles(10, factor=1.5)


def test_xor_labels_are_the_sign_xor():
    x, y = make_xor(500, noise=0.0, seed=0)
    np.testing.assert_array_equal(y, (x[:, 0] > 0) != (x[:, 1] > 0))
    assert np.abs(x).max() <= 1
    assert 0.4 < y.mean() < 0.6


def test_gaussians_centres_and_spread():
    x, y = make_gaussians(6000, noise=0.25, seed=0, classes=3)
    for c in range(3):
        angle = 2 * np.pi * c / 3
        centre = 2 * np.array([np.cos(angle), np.sin(angle)])
        np.testing.assert_allclose(x[y == c].mean(axis=0), centre, atol=0.03)
        np.testing.assert_allclose(x[y == c].std(axis=0), 0.25, atol=0.02)


def test_argument_errors():
    with pytest.raises(ValueError, match="make_moons: n must be a positive integer; got 0"):
        make_moons(0)
    with pytest.raises(ValueError, match=r"make_xor: noise must be >= 0; got -0\.1"):
        make_xor(10, noise=-0.1)
