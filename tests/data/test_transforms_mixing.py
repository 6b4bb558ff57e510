"""MixUp and CutMix (torchvision.transforms.v2's arithmetic), the DataLoader's batch_transform
hook that applies them, and training on their soft labels."""

import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data import transforms as T
from deepgrad.errors import ShapeError


def labelled(n=8, classes=5, shape=(3, 6, 7), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *shape)).astype(dtype)
    # Neighbours differ, so that each row of soft labels shows lam and 1 - lam apart.
    y = (np.arange(n) * 2 + 1) % classes if n % classes else np.arange(n) % classes
    return x, y.astype(np.int64)


def test_mixup_is_torchvisions_arithmetic(torch):
    x, y = labelled()
    before = x.copy()
    mixed, soft = T.MixUp(0.8, num_classes=5)((x, y), np.random.default_rng(4))
    lam = np.random.default_rng(4).beta(0.8, 0.8)
    # torchvision: inpt.roll(1, 0).mul_(1.0 - lam).add_(inpt.mul(lam)), labels likewise
    images = torch.from_numpy(x)
    expected = images.roll(1, 0).mul_(1.0 - lam).add_(images.mul(lam)).numpy()
    np.testing.assert_array_equal(mixed, expected)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(y), 5).float()
    expected = one_hot.roll(1, 0).mul_(1.0 - lam).add_(one_hot.mul(lam)).numpy()
    np.testing.assert_array_equal(soft, expected)
    assert mixed.dtype == np.float32 and soft.dtype == np.float32 and soft.shape == (8, 5)
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(x, before)


def test_mixup_weight_follows_beta_alpha_alpha():
    alpha, draws = 0.4, 4000
    x, y = labelled(n=2, classes=2, shape=(1, 1))
    mixup, rng = T.MixUp(alpha, num_classes=2), np.random.default_rng(0)
    lam = np.array([mixup((x, y), rng)[1][0, y[0]] for _ in range(draws)])
    variance = 1 / (4 * (2 * alpha + 1))                # of Beta(alpha, alpha)
    assert abs(lam.mean() - 0.5) < 4 * math.sqrt(variance / draws)
    assert abs(lam.var() - variance) < 0.01
    assert (lam < 0.1).mean() > 0.15                    # U-shaped for alpha < 1


def test_cutmix_pastes_one_box_weighted_by_its_area():
    n, height, width = 6, 12, 10
    x = np.repeat(np.arange(n, dtype=np.uint8), height * width).reshape(n, 1, height, width)
    y = np.arange(n)
    cutmix, rng = T.CutMix(1.0, num_classes=n), np.random.default_rng(0)
    areas = []
    for _ in range(300):
        out, soft = cutmix((x, y), rng)
        assert out.dtype == np.uint8 and soft.dtype == np.float32
        pasted = out != x                               # image i shows image i - 1 there
        assert np.array_equal(out[pasted], np.roll(x, 1, axis=0)[pasted])
        box = pasted[0, 0]
        assert np.all(pasted == box)                    # the same box in every image
        if box.any():
            rows, cols = np.flatnonzero(box.any(axis=1)), np.flatnonzero(box.any(axis=0))
            assert box.sum() == len(rows) * len(cols) and np.ptp(rows) + 1 == len(rows)
        share = box.mean()
        np.testing.assert_allclose(soft[np.arange(n), y - 1], share, rtol=1e-6)
        np.testing.assert_allclose(soft[np.arange(n), y], 1 - share, rtol=1e-6)
        np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
        areas.append(share)
    assert min(areas) == 0 and 0.5 < max(areas) <= 1
    assert 0.2 < np.mean(areas) < 0.5       # E[1 - lam] = 0.5 before clipping to the image


def test_cutmix_box_is_torchvisions():
    x, y = labelled(n=4, shape=(2, 9, 13))
    out, soft = T.CutMix(0.5, num_classes=5)((x, y), np.random.default_rng(7))
    rng = np.random.default_rng(7)
    lam = float(rng.beta(0.5, 0.5))
    r_x, r_y = int(rng.integers(13)), int(rng.integers(9))
    r = 0.5 * math.sqrt(1.0 - lam)
    x1, y1 = max(r_x - int(r * 13), 0), max(r_y - int(r * 9), 0)
    x2, y2 = min(r_x + int(r * 13), 13), min(r_y + int(r * 9), 9)
    expected = x.copy()
    expected[..., y1:y2, x1:x2] = np.roll(x, 1, axis=0)[..., y1:y2, x1:x2]
    np.testing.assert_array_equal(out, expected)
    lam_adjusted = 1.0 - (x2 - x1) * (y2 - y1) / (13 * 9)
    np.testing.assert_allclose(soft[np.arange(4), y], lam_adjusted, rtol=1e-6)


def test_mixing_accepts_probabilities_and_a_batch_of_one():
    x, y = labelled(n=1)
    mixed, soft = T.MixUp(num_classes=5)((x, y))
    np.testing.assert_allclose(mixed, x, rtol=1e-6)     # mixed with itself
    assert soft.tolist() == np.eye(5, dtype=np.float32)[y].tolist()
    x, y = labelled(n=7, shape=(6, 6))
    rng = np.random.default_rng(0)
    x2, soft = T.MixUp(1.0, num_classes=5)((x, y), rng)
    _, soft2 = T.CutMix(1.0)((x2, soft), rng)           # probabilities need no num_classes
    np.testing.assert_allclose(soft2.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("make, batch, error, message", [
    (lambda: T.MixUp(0.0, 3), None, ValueError, r"MixUp: alpha must be a number > 0 .* got 0.0"),
    (lambda: T.CutMix(1.0, 0), None, ValueError,
     "CutMix: num_classes must be a positive int or None; got 0"),
    (lambda: T.MixUp(1.0, 3), "x", TypeError, r"MixUp expects a batch \(images, labels\); got "
                                              "a ndarray"),
    (lambda: T.MixUp(1.0, 3), "xyz", TypeError, "got a tuple of 3"),
    (lambda: T.CutMix(1.0, 3), "flat", ShapeError, r"CutMix expects images \(N, H, W\) or "
                                                   r"\(N, C, H, W\); got \(4, 5\)"),
    (lambda: T.MixUp(1.0, 3), "uint8", TypeError, r"MixUp expects float images; got uint8 "
                                                  r"\(put ToFloat\(\) before MixUp\)"),
    (lambda: T.MixUp(1.0, 3), "range", ValueError,
     r"MixUp: label 3 at position 1 is not a class index in \[0, 3\)"),
    (lambda: T.MixUp(1.0), "xy", ValueError, "class-index labels need num_classes"),
    (lambda: T.CutMix(1.0, 3), "short", ShapeError, "the batch has 4 images but 3 labels"),
    (lambda: T.CutMix(1.0, 4), "soft", ShapeError,
     r"CutMix expects labels as class indices \(N,\) .* or class probabilities \(N, 4\) of "
     r"a float dtype; got float32 of shape \(4, 3\)"),
])
def test_mixing_errors(make, batch, error, message):
    x, y = np.zeros((4, 5, 5), np.float32), np.array([0, 1, 2, 0])
    batches = {"x": x, "xyz": (x, y, y), "flat": (x[:, 0], y), "uint8": (x.astype(np.uint8), y),
               "range": (x, np.array([0, 3, 1, 2])), "xy": (x, y), "short": (x, y[:3]),
               "soft": (x, np.full((4, 3), 1 / 3, np.float32))}
    with pytest.raises(error, match=message):
        make()(batches[batch])


# ------------------------------------------------------------------ in a DataLoader
def test_loader_batch_transform_sees_x_and_y_reproducibly():
    x, y = labelled(n=50, classes=4, shape=(1, 8, 8), dtype=np.uint8)
    augment = T.Compose([T.RandomCrop(8, padding=1), T.ToFloat()])

    def loader(**kwargs):
        return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=3,
                          transform=augment, batch_transform=T.CutMix(1.0, num_classes=4),
                          **kwargs)

    first = list(loader())
    for (xb, yb), (xb2, yb2) in zip(first, loader(num_workers=2)):
        np.testing.assert_array_equal(xb, xb2)
        np.testing.assert_array_equal(yb, yb2)
    assert [len(b[0]) for b in first] == [16, 16, 16, 2]
    assert all(yb.shape == (len(xb), 4) and yb.dtype == np.float32 for xb, yb in first)
    assert all(xb.dtype == np.float32 for xb, _ in first)
    np.testing.assert_allclose(np.concatenate([yb for _, yb in first]).sum(axis=1), 1,
                               rtol=1e-6)
    with pytest.raises(TypeError, match="DataLoader: batch_transform must be callable; got int"):
        DataLoader(TensorDataset(x, y), batch_transform=3)


def test_trainer_fits_on_mixed_soft_labels():
    x, y = labelled(n=64, classes=3, shape=(1, 4, 4), seed=1)
    dg.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    mixup, cutmix = T.MixUp(0.4, num_classes=3), T.CutMix(1.0, num_classes=3)

    def cutmix_or_mixup(batch, rng):
        return (cutmix if rng.random() < 0.5 else mixup)(batch, rng)

    loader = DataLoader(TensorDataset(x / 255, y), batch_size=16, shuffle=True, seed=0,
                        batch_transform=cutmix_or_mixup)
    # Training accuracy scores each mixed label's larger class; validation stays hard-labelled.
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                         verbose=0)
    history = trainer.fit(loader, epochs=2, validation_data=(x / 255, y))
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(history.history["val_loss"]).all()
    assert all(0 <= a <= 1 for a in history.history["accuracy"] + history.history["val_accuracy"])
