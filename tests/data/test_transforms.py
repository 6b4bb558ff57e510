"""Batch transforms: their math and statistics, reproducibility, and error messages."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import transforms as T
from deepgrad.errors import ShapeError


def batch(shape=(6, 3, 9, 9), dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 256, shape).astype(dtype)


ALL = [T.RandomCrop(7, padding=2), T.RandomHorizontalFlip(), T.RandomRotation(30),
       T.RandomRotation(30, interpolation="bilinear"), T.RandomErasing(p=1.0),
       T.Compose([T.ToFloat(), T.Normalize(0.5, 0.25)]), T.RandomVerticalFlip(),
       T.CenterCrop(5), T.CenterCrop((11, 4)), T.Pad(2, fill=3), T.Pad((1, 2), padding_mode="edge"),
       T.Pad((1, 2, 3, 4), padding_mode="reflect"), T.Resize(5), T.Resize((4, 13), "nearest"),
       T.RandomAffine(30, translate=(0.2, 0.1), scale=(0.8, 1.2), shear=(-10, 10, -5, 5)),
       T.RandomAffine(20, scale=(0.9, 1.1), interpolation="bilinear", fill=9),
       T.RandomResizedCrop(5), T.RandomResizedCrop((6, 8), interpolation="nearest"),
       T.Lambda(lambda x: 255 - x)]


@pytest.mark.parametrize("transform", ALL, ids=repr)
@pytest.mark.parametrize("shape", [(6, 3, 9, 9), (6, 9, 9), (1, 2, 9, 9)])
def test_reproducible_and_leaves_the_input_alone(transform, shape):
    x = batch(shape)
    before = x.copy()
    first = transform(x, np.random.default_rng(1))
    second = transform(x, np.random.default_rng(1))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(x, before)
    assert first.shape[:-2] == x.shape[:-2]
    if not isinstance(transform, (T.Compose, T.Lambda)):
        assert first.dtype == x.dtype          # uint8 in, uint8 out, as torchvision
        first[...] = 0                         # the output is not a view of the input
        np.testing.assert_array_equal(x, before)


def test_without_rng_draws_from_deepgrads_generator():
    x = batch()
    dg.manual_seed(3)
    first = T.RandomRotation(45)(x)
    dg.manual_seed(3)
    np.testing.assert_array_equal(first, T.RandomRotation(45)(x))


def test_to_float_scales_uint8_and_keeps_floats():
    x = batch()
    out = T.ToFloat()(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype(np.float32) / np.float32(255))
    assert T.ToFloat()(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(T.ToFloat()(np.array([2.5])), np.float32([2.5]))
    with pytest.raises(TypeError, match=r"ToFloat expects uint8 images .* got int64"):
        T.ToFloat()(np.arange(3))


def test_normalize_per_channel_math():
    x = batch(dtype=np.float32)
    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 8.0]
    out = T.Normalize(mean, std)(x)
    expected = (x - np.float32(mean)[:, None, None]) / np.float32(std)[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32
    single = T.Normalize(0.5, 0.25)(x[:, 0])
    np.testing.assert_allclose(single, (x[:, 0] - 0.5) / 0.25, rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(1.0, 2.0)(x), (x - 1) / 2, rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(TypeError, match=r"expects float images; got uint8 .*ToFloat"):
        T.Normalize(0.5, 0.5)(batch())
    with pytest.raises(ShapeError, match=r"2 means .* batch \(6, 3, 9, 9\) has 3 channel"):
        T.Normalize([0.5, 0.5], [1.0, 1.0])(batch(dtype=np.float32))
    with pytest.raises(ValueError, match="every std must be positive"):
        T.Normalize(0.5, 0.0)
    with pytest.raises(ValueError, match="got 2 means but 1 stds"):
        T.Normalize([0.1, 0.2], 1.0)


def test_flip_rate_and_content():
    x = batch((4000, 1, 3, 5))
    out = T.RandomHorizontalFlip(p=0.3)(x, np.random.default_rng(0))
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    same = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped ^ same)
    assert abs(flipped.mean() - 0.3) < 0.03
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]; got 1.5"):
        T.RandomHorizontalFlip(p=1.5)


def shifted(image, dy, dx):
    """image moved down by dy, right by dx, zeros coming in."""
    out = np.zeros_like(image)
    h, w = image.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_crop_with_padding_keeps_shape_and_shifts_content():
    x = batch((300, 2, 6, 6))
    out = T.RandomCrop(6, padding=2)(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    offsets = set()
    for image, result in zip(x, out):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(result, shifted(image, dy, dx))]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) == 25          # every offset of the 5x5 range occurs


def test_crop_without_padding_is_a_window():
    x = batch((20, 10, 12))
    out = T.RandomCrop((4, 5))(x, np.random.default_rng(2))
    assert out.shape == (20, 4, 5)
    for image, window in zip(x, out):
        assert any(np.array_equal(window, image[i:i + 4, j:j + 5])
                   for i in range(7) for j in range(8))


def test_crop_fill_and_errors():
    x = np.zeros((50, 1, 2, 2), np.uint8)
    out = T.RandomCrop(2, padding=2, fill=7)(x, np.random.default_rng(0))
    assert set(np.unique(out)) == {0, 7}
    with pytest.raises(ShapeError, match=r"crop 12x12 is larger than the images .* padded by "
                                         r"1 \(11x11\)"):
        T.RandomCrop(12, padding=1)(batch())
    with pytest.raises(ValueError, match="fill=300 is not a value of uint8 images"):
        T.RandomCrop(9, padding=1, fill=300)(batch())
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        T.RandomCrop(9, padding=-1)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_by_zero_is_identity_and_by_right_angles_is_rot90(interpolation):
    x = batch((150, 3, 8, 8))          # several chunks of RandomRotation's inner loop
    same = T.RandomRotation(0, interpolation=interpolation)(x)
    np.testing.assert_array_equal(same, x)
    for degrees, k in ((90, 1), (-90, -1), (180, 2)):
        out = T.RandomRotation((degrees, degrees), interpolation=interpolation)(x)
        np.testing.assert_array_equal(out, np.rot90(x, k, axes=(-2, -1)))
    floats = x[:, 0].astype(np.float32)
    out = T.RandomRotation((90, 90), interpolation=interpolation)(floats)
    np.testing.assert_allclose(out, np.rot90(floats, 1, axes=(-2, -1)), atol=1e-3)


def test_rotation_fills_outside_and_varies_per_image():
    x = np.full((200, 9, 9), 5, np.uint8)
    out = T.RandomRotation((45, 45), fill=1)(x)
    assert np.all(out[:, 0, 0] == 1) and np.all(out[:, 4, 4] == 5)
    many = T.RandomRotation(180)(batch((200, 9, 9)), np.random.default_rng(0))
    assert len({m.tobytes() for m in many}) == 200
    with pytest.raises(ValueError, match="interpolation must be 'nearest' or 'bilinear'"):
        T.RandomRotation(10, interpolation="cubic")
    with pytest.raises(ValueError, match="needs min <= max"):
        T.RandomRotation((10, -10))


def test_bilinear_rotation_interpolates():
    x = np.zeros((1, 1, 3), np.float32)
    x[0, 0] = [0.0, 10.0, 20.0]
    x = np.repeat(x, 3, axis=1)[None]          # (1, 1, 3, 3), a ramp along the columns
    out = T.RandomRotation((45, 45), interpolation="bilinear")(x)
    assert out[0, 0, 1, 1] == pytest.approx(10.0)
    assert 0 < out[0, 0, 1, 0] < 10.0          # a blend, not one source pixel


def test_erasing_rectangles_have_an_area_in_range():
    x = np.ones((2000, 2, 40, 50), np.float32)
    scale = (0.05, 0.2)
    out = T.RandomErasing(p=0.7, scale=scale, ratio=(0.5, 2.0), value=(0.0, 3.0))(
        x, np.random.default_rng(0))
    erased = out[:, 0] == 0
    assert np.array_equal(erased, out[:, 1] == 3)        # same rectangle in all channels
    counts = erased.sum(axis=(1, 2))
    assert abs((counts > 0).mean() - 0.7) < 0.04
    for mask in erased[counts > 0][:200]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask.sum() == len(rows) * len(cols)         # one filled rectangle
        assert np.ptp(rows) + 1 == len(rows) and np.ptp(cols) + 1 == len(cols)
    area = counts[counts > 0] / (40 * 50)
    # Rounding the height and width moves the area by at most half a row and half a column.
    slack = (0.5 * (40 + 50) + 0.25) / (40 * 50)
    assert area.min() >= scale[0] - slack and area.max() <= scale[1] + slack
    assert area.min() < 0.07 and area.max() > 0.18        # the whole range is used


def test_erasing_identity_and_errors():
    x = batch()
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x), x)
    with pytest.raises(ShapeError, match=r"2 values .* batch \(6, 3, 9, 9\) has 3 channel"):
        T.RandomErasing(value=(1, 2))(x)
    with pytest.raises(ValueError, match=r"value=0\.5 is not a value of uint8 images"):
        T.RandomErasing(value=0.5)(x)
    with pytest.raises(ValueError, match="scale needs 0 < min <= max <= 1"):
        T.RandomErasing(scale=(0.5, 0.1))


def test_compose_shares_the_generator_and_checks_its_parts():
    x = batch()
    compose = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(9, padding=1)])
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    by_hand = T.RandomCrop(9, padding=1)(T.RandomHorizontalFlip()(x, rng_b), rng_b)
    np.testing.assert_array_equal(compose(x, rng_a), by_hand)
    with pytest.raises(TypeError, match="transform 1 is a int"):
        T.Compose([T.ToFloat(), 3])


def test_lambda_applies_a_function_of_the_batch():
    x = batch()
    take_red = T.Lambda(lambda b: b[:, :1].copy())
    np.testing.assert_array_equal(take_red(x), x[:, :1])
    compose = T.Compose([take_red, T.ToFloat()])
    np.testing.assert_array_equal(compose(x), x[:, :1] / np.float32(255))
    assert repr(take_red) == "Lambda(fn=test_lambda_applies_a_function_of_the_batch.<locals>." \
                             "<lambda>)"
    with pytest.raises(TypeError, match="Lambda: fn must be callable; got int"):
        T.Lambda(3)


def test_batch_errors():
    with pytest.raises(ShapeError, match=r"RandomCrop expects a batch of images \(N, H, W\) or "
                                         r"\(N, C, H, W\); got shape \(9, 9\)"):
        T.RandomCrop(3)(np.zeros((9, 9)))
    with pytest.raises(TypeError, match="expects a batch as a NumPy array; got list"):
        T.ToFloat()([1, 2])


def test_torchvisions_to_tensor_points_to_to_float():
    with pytest.raises(AttributeError, match="ToFloat"):
        T.ToTensor  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'ColorJitter'"):
        T.ColorJitter  # noqa: B018
