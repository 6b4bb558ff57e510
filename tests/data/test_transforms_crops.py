"""Pad, CenterCrop, Resize and RandomResizedCrop: torchvision's conventions, checked against
torch's pad and interpolate (the kernels of torchvision's tensor transforms) and by hand."""

import numpy as np
import pytest

from deepgrad.data import transforms as T
from deepgrad.errors import ShapeError


def images(shape, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)


# ------------------------------------------------------------------ Pad
@pytest.mark.parametrize("padding, ltrb", [(2, (2, 2, 2, 2)), ((1, 3), (1, 3, 1, 3)),
                                           ((0, 1, 2, 3), (0, 1, 2, 3))])
@pytest.mark.parametrize("mode, torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                              ("reflect", "reflect")])
def test_pad_matches_torch(torch, padding, ltrb, mode, torch_mode):
    x = images((3, 2, 5, 6)).astype(np.float32)
    out = T.Pad(padding, fill=7, padding_mode=mode)(x)
    kwargs = {"value": 7.0} if mode == "constant" else {}
    left, top, right, bottom = ltrb                 # torch pads (left, right, top, bottom)
    expected = torch.nn.functional.pad(torch.from_numpy(x), (left, right, top, bottom),
                                       mode=torch_mode, **kwargs)
    np.testing.assert_array_equal(out, expected.numpy())
    assert out.dtype == np.float32


def test_pad_by_hand_and_dtypes():
    row = np.array([[[1, 2, 3, 4]]], np.uint8)                    # (1, 1, 4)
    assert T.Pad((2, 0), padding_mode="reflect")(row)[0, 0].tolist() == [3, 2, 1, 2, 3, 4, 3, 2]
    assert T.Pad((2, 0), padding_mode="edge")(row)[0, 0].tolist() == [1, 1, 1, 2, 3, 4, 4, 4]
    padded = T.Pad((1, 0, 0, 1), fill=9)(row)
    assert padded.dtype == np.uint8 and padded.tolist() == [[[9, 1, 2, 3, 4], [9, 9, 9, 9, 9]]]


def test_pad_errors():
    with pytest.raises(ValueError, match=r"Pad: padding must be an integer >= 0 or a sequence "
                                         r"of 2 or 4 of them; got \(1, 2, 3\)"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        T.Pad(-1)
    with pytest.raises(ValueError, match=r"padding_mode must be one of \('constant', 'edge', "
                                         r"'reflect'\); got 'symmetric'"):
        T.Pad(1, padding_mode="symmetric")
    with pytest.raises(ShapeError, match=r"Pad: reflect padding \(3, 0, 3, 0\) .* smaller than "
                                         r"the image sides; the batch is \(2, 4, 3\)"):
        T.Pad((3, 0), padding_mode="reflect")(images((2, 4, 3)))
    with pytest.raises(ValueError, match="Pad: fill=256 is not a value of uint8 images"):
        T.Pad(1, fill=256)(images((2, 4, 3)))


# ------------------------------------------------------------------ CenterCrop
def test_center_crop_positions_as_torchvision():
    x = np.arange(2 * 9 * 10).reshape(2, 9, 10)
    np.testing.assert_array_equal(T.CenterCrop(5)(x), x[:, 2:7, 2:7])
    # Odd margins round half to even, as torchvision's round((H - h) / 2).
    np.testing.assert_array_equal(T.CenterCrop((6, 3))(x), x[:, 2:8, 4:7])      # 1.5, 3.5
    np.testing.assert_array_equal(T.CenterCrop((4, 5))(x), x[:, 2:6, 2:7])      # 2.5, 2.5
    np.testing.assert_array_equal(T.CenterCrop((9, 10))(x), x)


def test_center_crop_pads_small_images_with_zeros():
    x = np.arange(1, 7, dtype=np.uint8).reshape(1, 1, 2, 3)
    out = T.CenterCrop((5, 4))(x)                # 3 rows: 1 on top, 2 below; 1 column: right
    expected = np.zeros((1, 1, 5, 4), np.uint8)
    expected[0, 0, 1:3, 0:3] = x[0, 0]
    np.testing.assert_array_equal(out, expected)
    mixed = T.CenterCrop((4, 1))(x)              # taller than the image, narrower: pad, then cut
    np.testing.assert_array_equal(mixed[0, 0, :, 0], [0, 2, 5, 0])
    with pytest.raises(ValueError, match=r"CenterCrop: size must be a positive int or a pair "
                                         r"of them; got \(0, 3\)"):
        T.CenterCrop((0, 3))


# ------------------------------------------------------------------ Resize
SIZES = [((9, 13), (17, 6)), ((32, 32), (24, 20)), ((7, 10), (14, 20)), ((10, 10), (7, 7)),
         ((1, 5), (4, 1))]


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape, size", SIZES)
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_resize_is_torch_interpolate_bit_for_bit(torch, interpolation, shape, size, channels):
    """torchvision's Resize on tensors with antialias=False is F.interpolate (align_corners
    False); integer images go through float32 and are rounded."""
    options = {"align_corners": False} if interpolation == "bilinear" else {}

    def interpolate(x):
        return torch.nn.functional.interpolate(torch.from_numpy(x), size=size,
                                               mode=interpolation, **options)

    floats = (images((4, channels, *shape), np.float32) - 100) / 7
    np.testing.assert_array_equal(T.Resize(size, interpolation)(floats),
                                  interpolate(floats).numpy())
    x = images((4, channels, *shape))
    out = T.Resize(size, interpolation)(x)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, interpolate(x.astype(np.float32)).round().numpy())
    doubles = floats.astype(np.float64)
    np.testing.assert_allclose(T.Resize(size, interpolation)(doubles),
                               interpolate(doubles).numpy(), rtol=1e-13, atol=1e-13)
    # torchvision.transforms.v2 on AVX2 CPUs resizes uint8 by torch's fixed-point kernel.
    native = interpolate(x).numpy().astype(int)
    assert np.abs(out.astype(int) - native).max() <= (1 if interpolation == "bilinear" else 0)


def test_resize_by_hand_and_shorter_side():
    x = np.array([[[0.0, 4.0]]], np.float32)                       # (1, 1, 2)
    # Output pixel i reads (i + 0.5) * 2 / 4 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped).
    assert T.Resize((1, 4))(x)[0, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert T.Resize((1, 4), "nearest")(x)[0, 0].tolist() == [0.0, 0.0, 4.0, 4.0]
    assert T.Resize(4)(images((2, 3, 6, 9))).shape == (2, 3, 4, 6)      # int(4 * 9 / 6)
    assert T.Resize(4)(images((2, 7, 5))).shape == (2, 5, 4)             # int(4 * 7 / 5)
    single = images((1, 3, 9, 9))
    np.testing.assert_array_equal(T.Resize((5, 4))(single), T.Resize((5, 4))(
        np.concatenate([single, images((3, 3, 9, 9))]))[:1])
    with pytest.raises(ValueError, match="Resize: interpolation must be 'nearest' or "
                                         "'bilinear'; got 'bicubic'"):
        T.Resize(4, "bicubic")
    with pytest.raises(ValueError, match="Resize: size must be a positive int or a pair"):
        T.Resize(0)


# ------------------------------------------------------------------ RandomResizedCrop
def test_resized_crop_is_torch_interpolate_of_a_box(torch):
    """With the box size fixed (scale and ratio single values), every output is
    F.interpolate of a window of that size, and every window position occurs."""
    x = images((120, 2, 8, 10), np.float32)
    # area 0.6 * 80 = 48 and ratio 4/3: w = round(sqrt(64)) = 8, h = round(sqrt(36)) = 6
    t = T.RandomResizedCrop((5, 7), scale=(0.6, 0.6), ratio=(4 / 3, 4 / 3))
    out = t(x, np.random.default_rng(0))
    windows = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(
        x, (6, 8), axis=(-2, -1)).transpose(2, 3, 0, 1, 4, 5).reshape(-1, 2, 6, 8).copy())
    resized = torch.nn.functional.interpolate(windows, size=(5, 7), mode="bilinear",
                                              align_corners=False).numpy().reshape(3, 3, 120,
                                                                                   2, 5, 7)
    positions = set()
    for i, result in enumerate(out):
        matches = [(top, left) for top in range(3) for left in range(3)
                   if np.array_equal(result, resized[top, left, i])]
        assert len(matches) == 1
        positions.add(matches[0])
    assert len(positions) == 9


def test_resized_crop_boxes_follow_scale_and_ratio():
    n, height, width = 2000, 16, 20
    rows = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    cols = np.broadcast_to(np.arange(width, dtype=np.float32)[None, :], (height, width))
    coordinates = np.broadcast_to(np.stack([rows, cols]), (n, 2, height, width))
    scale, ratio = (0.2, 0.7), (0.5, 2.0)
    # Enlarged with nearest, every pixel of the box shows: its rows and columns are the box.
    out = T.RandomResizedCrop(40, scale=scale, ratio=ratio, interpolation="nearest")(
        coordinates, np.random.default_rng(0))
    top, bottom = out[:, 0].min(axis=(1, 2)), out[:, 0].max(axis=(1, 2))
    left, right = out[:, 1].min(axis=(1, 2)), out[:, 1].max(axis=(1, 2))
    h, w = bottom - top + 1, right - left + 1
    for seen in (np.unique(out[i, 0]) for i in range(50)):
        assert np.array_equal(seen, np.arange(seen[0], seen[-1] + 1))
    area = h * w / (height * width)
    # Rounding the sides moves the area by at most half a row and half a column.
    slack = (0.5 * (height + width) + 0.25) / (height * width)
    assert area.min() >= scale[0] - slack and area.max() <= scale[1] + slack
    assert area.min() < 0.23 and area.max() > 0.65
    aspect = w / h
    assert aspect.min() > 0.5 * 0.8 and aspect.max() < 2.0 * 1.25
    assert top.min() == 0 and bottom.max() == height - 1 and left.min() == 0
    assert right.max() == width - 1


def test_resized_crop_falls_back_to_the_central_box():
    x = np.arange(10 * 20, dtype=np.float32).reshape(1, 10, 20)
    # No area above the image's fits: the whole image, clamped to the largest ratio 1.5.
    out = T.RandomResizedCrop((10, 15), scale=(2.0, 3.0), ratio=(0.5, 1.5),
                              interpolation="nearest")(np.repeat(x, 4, axis=0))
    np.testing.assert_array_equal(out, np.repeat(x[:, :, 2:17], 4, axis=0))
    tall = np.arange(20 * 8, dtype=np.float32).reshape(1, 20, 8)
    out = T.RandomResizedCrop((8, 8), scale=(2.0, 3.0), ratio=(1.0, 2.0),
                              interpolation="nearest")(tall)
    np.testing.assert_array_equal(out, tall[:, 6:14])         # h = round(8 / 1.0) = 8


def test_resized_crop_errors():
    with pytest.raises(ValueError, match=r"RandomResizedCrop: scale needs 0 < min <= max; "
                                         r"got \(0.5, 0.1\)"):
        T.RandomResizedCrop(8, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="RandomResizedCrop: ratio needs 0 < min <= max"):
        T.RandomResizedCrop(8, ratio=(0, 1))
    with pytest.raises(ValueError, match=r"RandomResizedCrop: size must be a positive int or "
                                         r"a pair of them; got \(8, 0\)"):
        T.RandomResizedCrop((8, 0))
