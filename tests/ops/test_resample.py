"""interpolate ('nearest', 'bilinear'): gradcheck, parity with torch (outputs and gradients) for
sizes and integer and non-integer scale factors, export, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops.resample import interpolate

# (input shape, options): up and down, by size and by scale factor, the identity along one axis,
# size 1 along an axis (input and output), and factors whose positions need float32 rounding.
SIZES = [
    ((2, 3, 4, 5), {"size": (8, 10)}),
    ((1, 2, 7, 6), {"size": (3, 4)}),
    ((1, 2, 5, 7), {"size": (5, 11)}),
    ((1, 2, 1, 4), {"size": (3, 4)}),
    ((1, 1, 5, 6), {"size": 1}),
    ((2, 2, 4, 4), {"scale_factor": 2}),
    ((1, 2, 5, 7), {"scale_factor": 1.7}),
    ((1, 2, 9, 6), {"scale_factor": (0.6, 2.3)}),
    ((1, 2, 6, 5), {"scale_factor": (1.3, 0.75), "recompute_scale_factor": True}),
    ((1, 1, 10, 3), {"scale_factor": (0.35, 3.333)}),
]
MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]
CASES = [(shape, options, mode, align) for shape, options in SIZES for mode, align in MODES]


def _ids(cases):
    return [f"{'x'.join(map(str, c[0]))}-{c[1]}-{c[2]}-{c[3]}" for c in cases]


@pytest.mark.parametrize(("shape", "options", "mode", "align_corners"), CASES, ids=_ids(CASES))
def test_gradcheck(shape, options, mode, align_corners):
    x = dg.randn(*shape, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(
        lambda t: interpolate(t, mode=mode, align_corners=align_corners, **options), [x])


def test_gradcheck_non_contiguous_input():
    a = np.random.default_rng(0).standard_normal((6, 5, 2, 1)).T
    x = dg.from_numpy(a).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    assert dg.gradcheck(lambda t: interpolate(t, scale_factor=1.5, mode="bilinear"), [x])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "options", "mode", "align_corners"), CASES, ids=_ids(CASES))
def test_parity_with_torch(torch, dtype, shape, options, mode, align_corners):
    a = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    check_parity(torch,
                 lambda t: interpolate(t, mode=mode, align_corners=align_corners, **options),
                 lambda t: torch.nn.functional.interpolate(t, mode=mode,
                                                           align_corners=align_corners,
                                                           **options), [a])


@pytest.mark.parametrize("seed", range(8))
def test_nearest_picks_torchs_pixels_for_random_scale_factors(torch, seed):
    # The source of output i is floor(i / scale_factor) computed in float32: a different
    # rounding picks a neighbouring pixel, so the outputs must be equal, not just close.
    rng = np.random.default_rng(10 + seed)
    a = rng.standard_normal((1, 2, *rng.integers(1, 13, 2))).astype(np.float32)
    for _ in range(10):
        factors = tuple(float(np.round(f, 3)) for f in rng.uniform(0.3, 4.0, 2))
        if min(int(a.shape[2] * factors[0]), int(a.shape[3] * factors[1])) < 1:
            continue
        got = interpolate(dg.tensor(a), scale_factor=factors).numpy()
        want = torch.nn.functional.interpolate(torch.tensor(a), scale_factor=factors).numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"scale_factor={factors}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_bilinear_parity_random_configurations(torch, dtype, seed):
    rng = np.random.default_rng(20 + seed)
    shape = (2, 2, *(int(s) for s in rng.integers(2, 10, 2)))
    options = {"align_corners": bool(seed % 2)}
    if seed < 2:
        options["size"] = tuple(int(s) for s in rng.integers(1, 16, 2))
    else:
        options["scale_factor"] = tuple(float(np.round(f, 2)) for f in rng.uniform(0.5, 3, 2))
    a = rng.standard_normal(shape).astype(dtype)
    check_parity(torch, lambda t: interpolate(t, mode="bilinear", **options),
                 lambda t: torch.nn.functional.interpolate(t, mode="bilinear", **options), [a])


def test_values_and_dtypes():
    x = dg.tensor(np.arange(4.0).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(interpolate(x, scale_factor=2).numpy()[0, 0],
                                  [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    corners = interpolate(x, size=3, mode="bilinear", align_corners=True).numpy()[0, 0]
    np.testing.assert_allclose(corners, [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])
    same = interpolate(x, size=(2, 2), mode="bilinear")
    assert same is not x and np.array_equal(same.numpy(), x.numpy())
    labels = dg.tensor(np.array([[[[1, 2], [3, 4]]]]))
    assert interpolate(labels, scale_factor=2).dtype == dg.int64  # 'nearest' keeps integers
    assert interpolate(x.float(), scale_factor=1.5, mode="bilinear").dtype == dg.float32


def test_upsample_exports_as_gathers():
    from deepgrad.export.trace import trace
    from deepgrad_runtime.model import Model

    rng = np.random.default_rng(2)
    for layer in (dg.nn.Upsample(scale_factor=2), dg.nn.Upsample(size=(5, 9), mode="bilinear")):
        graph = trace(layer, rng.standard_normal((2, 3, 4, 6)).astype(np.float32))
        assert {node.op for node in graph.nodes} <= {"Gather", "Mul", "Add"}
        x = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
        with dg.no_grad():
            expected = layer(dg.tensor(x)).numpy()
        np.testing.assert_allclose(Model(graph).run(x), expected, rtol=1e-6, atol=1e-6)


def test_errors():
    x = dg.randn(1, 2, 4, 4)
    with pytest.raises(dg.ShapeError, match=r"^interpolate: expects a 4-D input \(N, C, H, W\); "
                                            r"got \(2, 4, 4\)"):
        interpolate(dg.randn(2, 4, 4), scale_factor=2)
    with pytest.raises(ValueError, match=r"^interpolate: give exactly one of size and "
                                         r"scale_factor; got both"):
        interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match=r"^interpolate: give exactly one of size and "
                                         r"scale_factor; got neither"):
        interpolate(x)
    with pytest.raises(ValueError, match=r"^interpolate: mode must be 'nearest' or 'bilinear'; "
                                         r"got 'bicubic'"):
        interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"^interpolate: align_corners applies only to mode "
                                         r"'bilinear'"):
        interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(dg.ShapeError, match=r"^interpolate: input and output sizes must be "
                                            r"positive; got input \(H, W\) = \(4, 4\) and "
                                            r"output \(H, W\) = \(0, 0\)"):
        interpolate(x, scale_factor=0.1)
    with pytest.raises(TypeError, match=r"^interpolate: size must be an int or a pair of ints "
                                        r"\(height, width\) for a 4-D input; got \(2, 3, 4\)"):
        interpolate(x, size=(2, 3, 4))
    with pytest.raises(TypeError, match=r"^interpolate: scale_factor must be a number or a pair"):
        interpolate(x, scale_factor="2")
    with pytest.raises(ValueError, match=r"^interpolate: recompute_scale_factor is only "
                                         r"meaningful with scale_factor"):
        interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(TypeError, match=r"^interpolate: mode 'bilinear' expects a floating point "
                                        r"input; got int64"):
        interpolate(dg.tensor(np.ones((1, 1, 2, 2), np.int64)), size=3, mode="bilinear")
