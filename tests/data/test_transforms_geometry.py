"""Geometric batch transforms: vertical flips, and RandomAffine against torchvision's math
(its inverse matrix and affine grid, sampled by torch's grid_sample)."""

import math

import numpy as np
import pytest

from deepgrad.data import transforms as T
from deepgrad.errors import ShapeError


def images(shape, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)


def test_vertical_flip_rate_and_content():
    x = images((4000, 2, 5, 3))
    out = T.RandomVerticalFlip(p=0.3)(x, np.random.default_rng(0))
    flipped = np.all(out == x[..., ::-1, :], axis=(1, 2, 3))
    same = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped ^ same)
    assert abs(flipped.mean() - 0.3) < 0.03
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x[:, 0]), x[:, 0, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=0.0)(x), x)
    with pytest.raises(ValueError, match=r"RandomVerticalFlip: p must be a probability in "
                                         r"\[0, 1\]; got -0.1"):
        T.RandomVerticalFlip(p=-0.1)


def torchvision_inverse_matrix(angle, translate, scale, shear):
    """torchvision.transforms.functional._get_inverse_affine_matrix with center (0, 0)."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [v / scale for v in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * -translate[0] + m[1] * -translate[1]
    m[5] += m[3] * -translate[0] + m[4] * -translate[1]
    return m


def torchvision_affine(torch, x, matrix, mode, fill):
    """torchvision's tensor affine: _gen_affine_grid, grid_sample, fill by a ones channel.
    Returns the result and that mask (1 where every pixel read lies inside the image)."""
    n, channels, h, w = x.shape
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    base = torch.empty(1, h, w, 3)
    base[..., 0].copy_(torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w))
    base[..., 1].copy_(torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h])
    grid = base.view(1, h * w, 3).bmm(scaled).view(1, h, w, 2).expand(n, -1, -1, -1)
    with_mask = torch.cat([torch.from_numpy(x).float(), torch.ones(n, 1, h, w)], 1)
    out = torch.nn.functional.grid_sample(with_mask, grid, mode=mode, padding_mode="zeros",
                                          align_corners=False)
    out, mask = out[:, :-1], out[:, -1:].expand(n, channels, h, w)
    if mode == "nearest":
        out = torch.where(mask < 0.5, torch.full_like(out, fill), out)
    return out.numpy(), mask.numpy()


@pytest.mark.parametrize("seed", range(12))
def test_affine_matches_torchvisions_math(torch, seed):
    rng = np.random.default_rng(seed)
    h, w = (int(s) for s in rng.integers(5, 16, 2))
    angle, scale = rng.uniform(-180, 180), rng.uniform(0.6, 1.5)
    shear = rng.uniform(-30, 30, 2)
    x = images((3, 2, h, w), seed=seed)
    options = dict(scale=(scale, scale), shear=(shear[0], shear[0], shear[1], shear[1]), fill=7)
    matrix = torchvision_inverse_matrix(angle, (0, 0), scale, shear)
    nearest = T.RandomAffine((angle, angle), **options)(x)
    expected, _ = torchvision_affine(torch, x, matrix, "nearest", 7)
    np.testing.assert_array_equal(nearest, expected)
    floats = x.astype(np.float32)
    bilinear = T.RandomAffine((angle, angle), interpolation="bilinear", **options)(floats)
    expected, mask = torchvision_affine(torch, floats, matrix, "bilinear", 7)
    # Where a read straddles the border, torchvision blends in fill by the inside weight
    # squared; deepgrad (as its RandomRotation) weighs fill by the outside weight.
    inside = mask == 1
    np.testing.assert_allclose(bilinear[inside], expected[inside], atol=2e-3)


def test_affine_translation_is_a_whole_pixel_shift_of_the_drawn_size(torch):
    x = images((400, 1, 6, 10))
    t = T.RandomAffine(0, translate=(0.3, 0.5))
    out = t(x, np.random.default_rng(3))
    replay = np.random.default_rng(3)
    replay.uniform(0, 0, 400)                                   # the angles
    dx = np.rint(replay.uniform(-3.0, 3.0, 400)).astype(int)    # 0.3 * W
    dy = np.rint(replay.uniform(-3.0, 3.0, 400)).astype(int)    # 0.5 * H
    assert set(dx) == set(range(-3, 4)) and set(dy) == set(range(-3, 4))
    for image, result, i in zip(x, out, range(400)):
        expected, _ = torchvision_affine(torch, image[None], torchvision_inverse_matrix(
            0, (dx[i], dy[i]), 1, (0, 0)), "nearest", 0)
        np.testing.assert_array_equal(result, expected[0])
        shifted = np.zeros_like(image)
        src = image[:, max(-dy[i], 0):6 - max(dy[i], 0), max(-dx[i], 0):10 - max(dx[i], 0)]
        shifted[:, max(dy[i], 0):6 + min(dy[i], 0), max(dx[i], 0):10 + min(dx[i], 0)] = src
        np.testing.assert_array_equal(result, shifted)      # positive dx moves right


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_affine_rotation_is_a_clockwise_random_rotation(interpolation):
    x = images((20, 3, 9, 9)).astype(np.float32)
    for angle in (30.0, -75.0, 90.0):
        affine = T.RandomAffine((angle, angle), interpolation=interpolation)(x)
        rotation = T.RandomRotation((-angle, -angle), interpolation=interpolation)(x)
        np.testing.assert_allclose(affine, rotation, atol=1e-3)
    np.testing.assert_array_equal(T.RandomAffine((90, 90))(x), np.rot90(x, -1, axes=(-2, -1)))
    np.testing.assert_array_equal(T.RandomAffine(0, interpolation=interpolation)(x), x)


def test_affine_scale_and_shear_move_pixels_as_stated():
    x = np.zeros((1, 9, 9), np.uint8)
    x[0, 4, 6] = 1                                   # 2 right of the center
    zoomed = T.RandomAffine(0, scale=(1.5, 1.5))(x)
    assert zoomed[0, 4, 7] == 1                      # 2 * 1.5 = 3 right of the center
    x[0, 4, 6], x[0, 6, 4] = 0, 1                    # 2 below the center
    sheared = T.RandomAffine(0, shear=(45, 45))(x)
    assert sheared[0, 6, 2] == 1                     # x - tan(45°) y = 0 - 2
    sheared_y = T.RandomAffine(0, shear=(0, 0, 45, 45))(np.rot90(x, 1, axes=(1, 2)).copy())
    assert sheared_y[0, 2, 6] == 1                   # (2, 0) goes to (2, 0 - 2)


def test_affine_draws_per_image_and_fills():
    x = np.full((300, 9, 9), 5, np.uint8)
    out = T.RandomAffine(0, scale=(0.5, 0.6), fill=1)(x, np.random.default_rng(0))
    assert np.all(out[:, 0, 0] == 1) and np.all(out[:, 4, 4] == 5)
    many = T.RandomAffine(180, translate=(0.1, 0.1), scale=(0.7, 1.3), shear=20)(
        images((300, 9, 9)), np.random.default_rng(0))
    assert len({m.tobytes() for m in many}) == 300


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(degrees=-5), ValueError, r"RandomAffine: degrees must be >= 0 when one number; "
                                   r"got -5"),
    (dict(degrees=(10, 0)), ValueError, "RandomAffine: degrees .* needs min <= max"),
    (dict(degrees=0, translate=(0.5, 1.5)), ValueError,
     r"translate needs fractions of the image size in \[0, 1\]; got \(0.5, 1.5\)"),
    (dict(degrees=0, scale=(0.0, 1.0)), ValueError, r"scale needs 0 < min <= max; got"),
    (dict(degrees=0, shear=-3), ValueError, "shear must be >= 0 when one number"),
    (dict(degrees=0, shear=(1, 2, 3)), ValueError, r"shear must be a number, \(min, max\)"),
    (dict(degrees=0, interpolation="cubic"), ValueError,
     "RandomAffine: interpolation must be 'nearest' or 'bilinear'; got 'cubic'"),
])
def test_affine_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        T.RandomAffine(**kwargs)


def test_affine_batch_errors():
    with pytest.raises(ValueError, match="RandomAffine: fill=-1 is not a value of uint8"):
        T.RandomAffine(10, fill=-1)(images((2, 4, 4)))
    with pytest.raises(ShapeError, match=r"RandomAffine expects a batch of images .* got shape "
                                         r"\(4, 4\)"):
        T.RandomAffine(10)(images((4, 4)))
