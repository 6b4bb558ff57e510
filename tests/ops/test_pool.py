"""Tests of deepgrad.ops.pool: gradients, PyTorch parity (outputs, indices, gradients), ties,
the fast and global paths, errors; each on the NumPy code and on the compiled loops."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops.pool import (
    GlobalAvgPool,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)

# Every test once on the NumPy code and once on the compiled loops.
pytestmark = pytest.mark.usefixtures("both_kernels")

# (input shape, options): the combinations that change the math of the windows.
MAX2D_CASES = [
    ((2, 2, 4, 6), {"kernel_size": 2}),                                   # tiled 2x2 fast path
    ((1, 2, 5, 7), {"kernel_size": 2}),                                   # odd: last row/col unused
    ((2, 2, 7, 5), {"kernel_size": 2, "ceil_mode": True}),                # odd: partial windows
    ((2, 1, 6, 6), {"kernel_size": 3}),                                   # tiled 3x3
    ((1, 2, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),        # overlapping, padded
    ((1, 2, 5, 6), {"kernel_size": (3, 2), "stride": (1, 2), "padding": (1, 0),
                    "dilation": (2, 1), "ceil_mode": True}),
    ((2, 1, 7, 5), {"kernel_size": 2, "stride": 3, "ceil_mode": True}),  # gaps, partial window
    ((1, 1, 7, 7), {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}),
    ((1, 2, 6, 5), {"kernel_size": 1, "stride": 2}),
    ((2, 5, 6), {"kernel_size": 2, "stride": 1, "ceil_mode": True}),       # unbatched
    ((1, 3, 5, 5), {"kernel_size": 4, "stride": 2, "padding": 2, "return_indices": True}),
]
MAX1D_CASES = [
    ((2, 3, 8), {"kernel_size": 2}),
    ((2, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 10), {"kernel_size": 3, "stride": 1, "dilation": 3, "return_indices": True}),
    ((3, 7), {"kernel_size": 4, "stride": 3, "padding": 2, "ceil_mode": True}),  # unbatched
]
AVG2D_CASES = [
    ((2, 2, 4, 6), {"kernel_size": 2}),
    ((1, 2, 5, 7), {"kernel_size": 2}),
    ((2, 2, 7, 5), {"kernel_size": 2, "ceil_mode": True}),
    ((1, 2, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ((1, 2, 6, 5), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1),
                    "ceil_mode": True}),
    ((1, 2, 6, 5), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1),
                    "ceil_mode": True, "count_include_pad": False}),
    ((2, 1, 7, 5), {"kernel_size": 2, "stride": 3, "ceil_mode": True}),
    ((1, 2, 5, 5), {"kernel_size": 3, "stride": 1, "padding": 1, "divisor_override": 5}),
    ((2, 5, 6), {"kernel_size": 2, "stride": 1}),
]
AVG1D_CASES = [
    ((2, 3, 8), {"kernel_size": 2}),
    ((2, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                 "count_include_pad": False}),
    ((3, 7), {"kernel_size": 4, "stride": 1, "padding": 2}),
]
ADAPTIVE_CASES = [
    ((2, 2, 6, 8), (3, 4)),       # divisible: the tiled average
    ((1, 2, 7, 9), (3, 4)),       # uneven, overlapping windows
    ((1, 2, 5, 7), (7, 3)),       # more outputs than inputs along H
    ((2, 3, 5, 6), 1),            # global average
    ((3, 5, 6), (None, 4)),       # unbatched, None keeps H
    ((1, 2, 6, 5), (2, None)),
]
FUNCTIONS = {
    "max_pool2d": (max_pool2d, MAX2D_CASES),
    "max_pool1d": (max_pool1d, MAX1D_CASES),
    "avg_pool2d": (avg_pool2d, AVG2D_CASES),
    "avg_pool1d": (avg_pool1d, AVG1D_CASES),
}
ALL_CASES = [(name, shape, options) for name, (_, cases) in FUNCTIONS.items()
             for shape, options in cases]


def _ids(cases):
    return [f"{c[0]}-{'x'.join(map(str, c[1]))}-{c[2]}" for c in cases]


@pytest.mark.parametrize(("name", "shape", "options"), ALL_CASES, ids=_ids(ALL_CASES))
def test_gradcheck(name, shape, options):
    fn = FUNCTIONS[name][0]
    x = dg.randn(*shape, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(lambda t: fn(t, **options), (x,))


@pytest.mark.parametrize(("shape", "output_size"), ADAPTIVE_CASES)
def test_gradcheck_adaptive(shape, output_size):
    x = dg.randn(*shape, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(lambda t: adaptive_avg_pool2d(t, output_size), (x,))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_gradcheck_non_contiguous_input(name):
    fn, cases = FUNCTIONS[name]
    shape, options = cases[1]
    a = np.random.default_rng(0).standard_normal(shape[::-1]).T  # a transposed, strided leaf
    x = dg.from_numpy(a).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    assert dg.gradcheck(lambda t: fn(t, **options), (x,))


def test_gradcheck_adaptive_non_contiguous_input():
    a = np.random.default_rng(0).standard_normal((9, 7, 2, 1)).T
    x = dg.from_numpy(a).requires_grad_()
    assert dg.gradcheck(lambda t: adaptive_avg_pool2d(t, (3, 4)), (x,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "shape", "options"), ALL_CASES, ids=_ids(ALL_CASES))
def test_parity_with_torch(torch, dtype, name, shape, options):
    fn = FUNCTIONS[name][0]
    torch_fn = getattr(torch.nn.functional, name)
    a = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    check_parity(torch, lambda t: fn(t, **options), lambda t: torch_fn(t, **options), [a])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "output_size"), ADAPTIVE_CASES)
def test_parity_adaptive_with_torch(torch, dtype, shape, output_size):
    a = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    check_parity(torch, lambda t: adaptive_avg_pool2d(t, output_size),
                 lambda t: torch.nn.functional.adaptive_avg_pool2d(t, output_size), [a])


MAX_CASES = [(name, shape, options) for name, (_, cases) in FUNCTIONS.items()
             if name.startswith("max") for shape, options in cases]


@pytest.mark.parametrize(("name", "shape", "options"), MAX_CASES, ids=_ids(MAX_CASES))
def test_max_pool_without_gradient_matches_torch(torch, name, shape, options):
    # No input needs a gradient: the maxima alone, by a path that keeps no positions.
    fn, torch_fn = FUNCTIONS[name][0], getattr(torch.nn.functional, name)
    a = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    a.flat[::7] = a.flat[0]  # ties
    with dg.no_grad():
        got = fn(dg.tensor(a), **options)
    want = torch_fn(torch.tensor(a), **options)
    for g, w in zip(got, want) if options.get("return_indices") else [(got, want)]:
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def _random_window(rng, spatial_dims, dilation):
    """Random valid pooling options and a matching input shape (seeded, small)."""
    while True:
        n = spatial_dims
        kernel = tuple(int(k) for k in rng.integers(1, 5, n))
        stride = tuple(int(s) for s in rng.integers(1, 4, n))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        dilations = tuple(int(d) for d in rng.integers(1, 3, n)) if dilation else (1,) * n
        sizes = tuple(int(s) for s in rng.integers(4, 10, n))
        if all((k - 1) * d + 1 <= s + 2 * p
               for k, d, s, p in zip(kernel, dilations, sizes, padding)):
            break
    options = {"kernel_size": kernel if n == 2 else kernel[0],
               "stride": stride if n == 2 else stride[0],
               "padding": padding if n == 2 else padding[0],
               "ceil_mode": bool(rng.integers(2))}
    if dilation:
        options["dilation"] = dilations if n == 2 else dilations[0]
    batch = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
    return batch + sizes, options


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("seed", range(6))
def test_parity_random_configurations(torch, dtype, name, seed):
    rng = np.random.default_rng(100 + seed)
    spatial_dims = 2 if name.endswith("2d") else 1
    shape, options = _random_window(rng, spatial_dims, dilation=name.startswith("max"))
    if name.startswith("max"):
        options["return_indices"] = bool(rng.integers(2))
    else:
        options["count_include_pad"] = bool(rng.integers(2))
    fn, torch_fn = FUNCTIONS[name][0], getattr(torch.nn.functional, name)
    a = rng.standard_normal(shape).astype(dtype)
    check_parity(torch, lambda t: fn(t, **options), lambda t: torch_fn(t, **options), [a])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_parity_adaptive_random_sizes(torch, dtype, seed):
    rng = np.random.default_rng(200 + seed)
    shape = (2, 2, int(rng.integers(3, 12)), int(rng.integers(3, 12)))
    output_size = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    a = rng.standard_normal(shape).astype(dtype)
    check_parity(torch, lambda t: adaptive_avg_pool2d(t, output_size),
                 lambda t: torch.nn.functional.adaptive_avg_pool2d(t, output_size), [a])


def test_max_pool_ties_send_the_gradient_to_the_first_max():
    # Windows (row-major): [[1, 1], [1, 1]] -> (0, 0);  [[0, 2], [2, 2]] -> (0, 1).
    a = np.array([[[[1.0, 1.0, 0.0, 2.0],
                    [1.0, 1.0, 2.0, 2.0]]]])
    x = dg.tensor(a, requires_grad=True)
    y, indices = max_pool2d(x, 2, return_indices=True)
    y.backward(dg.tensor(np.array([[[[10.0, 20.0]]]])))
    np.testing.assert_array_equal(indices.numpy(), [[[[0, 3]]]])
    np.testing.assert_array_equal(x.grad.numpy(), [[[[10.0, 0.0, 0.0, 20.0],
                                                      [0.0, 0.0, 0.0, 0.0]]]])


def test_max_pool_ties_in_overlapping_windows_add_up_at_the_first_max():
    # 3x3 windows of stride 1 over a constant 4x4 plane: window (i, j) picks (i, j).
    x = dg.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    y, indices = max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    y.sum().backward()
    # Padded windows start one row/col early, so the first real position of window (i, j) is
    # (max(i - 1, 0), max(j - 1, 0)).
    rows = np.maximum(np.arange(4) - 1, 0)
    np.testing.assert_array_equal(indices.numpy()[0, 0], rows[:, None] * 4 + rows)
    counts = np.array([2, 1, 1, 0])
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], np.outer(counts, counts))


def test_max_pool1d_ties_within_rows():
    x = dg.tensor(np.array([[[3.0, 3.0, 3.0, 1.0, 5.0, 5.0]]]), requires_grad=True)
    y, indices = max_pool1d(x, 3, stride=1, return_indices=True)
    y.sum().backward()
    np.testing.assert_array_equal(indices.numpy(), [[[0, 1, 4, 4]]])
    np.testing.assert_array_equal(x.grad.numpy(), [[[1.0, 1.0, 0.0, 0.0, 2.0, 0.0]]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("fn_name", "shape", "options"), [
    ("max_pool2d", (2, 3, 6, 6), {"kernel_size": 2}),
    ("max_pool2d", (2, 3, 6, 6), {"kernel_size": 3, "stride": 1, "padding": 1}),
    ("max_pool1d", (2, 3, 9), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
])
def test_ties_match_torch(torch, dtype, fn_name, shape, options):
    # Few distinct values: many windows hold their max more than once.
    a = np.random.default_rng(3).integers(0, 3, shape).astype(dtype)
    fn, torch_fn = FUNCTIONS[fn_name][0], getattr(torch.nn.functional, fn_name)
    check_parity(torch, lambda t: fn(t, **options, return_indices=True),
                 lambda t: torch_fn(t, **options, return_indices=True), [a])


def test_indices_are_int64_and_carry_no_gradient():
    x = dg.randn(2, 3, 4, 4, requires_grad=True)
    y, indices = max_pool2d(x, 2, return_indices=True)
    assert indices.dtype == dg.int64
    assert y.requires_grad and not indices.requires_grad


def test_integer_max_pool_matches_torch(torch):
    a = np.random.default_rng(4).integers(-50, 50, (2, 3, 7, 7))
    y, indices = max_pool2d(dg.tensor(a), 3, stride=2, padding=1, return_indices=True)
    ty, tindices = torch.nn.functional.max_pool2d(torch.tensor(a), 3, stride=2, padding=1,
                                                  return_indices=True)
    assert y.dtype == dg.int64
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())


def test_nan_propagates_like_torch(torch):
    a = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    a[0, 0, 1, 2] = np.nan
    for options in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1}):
        assert_close(max_pool2d(dg.tensor(a), **options),
                     torch.nn.functional.max_pool2d(torch.tensor(a), **options))


def test_fast_path_gradient_is_contiguous_float32():
    x = dg.randn(4, 3, 8, 8, requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    grad = x.grad.numpy()
    assert grad.dtype == np.float32 and grad.flags.c_contiguous
    # Exactly one position per 2x2 window receives the gradient.
    np.testing.assert_array_equal(grad.reshape(4, 3, 4, 2, 4, 2).sum(axis=(3, 5)), 1.0)


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_kernel_one_output_does_not_share_memory_with_the_input(fn):
    a = np.random.default_rng(5).standard_normal((1, 2, 4, 4))
    x = dg.tensor(a.copy())
    y = fn(x, 1)
    assert not np.shares_memory(y.numpy(), x.numpy())
    np.testing.assert_array_equal(y.numpy(), a)


def test_global_average_pooling_is_a_plain_mean():
    x = dg.randn(3, 4, 5, 6, requires_grad=True)
    y = adaptive_avg_pool2d(x, (1, 1))
    assert isinstance(y.grad_fn, GlobalAvgPool)
    assert y.shape == (3, 4, 1, 1)
    np.testing.assert_allclose(y.numpy(), x.numpy().mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4, 5, 6), 1 / 30), rtol=1e-6)


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d])
def test_empty_batch(torch, fn):
    x = dg.zeros(0, 3, 6, 6, requires_grad=True)
    y = fn(x, 2)
    assert y.shape == tuple(getattr(torch.nn.functional, fn.__name__)(
        torch.zeros(0, 3, 6, 6), 2).shape)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 6, 6)


def test_float32_stays_float32():
    x = dg.randn(2, 3, 7, 7, requires_grad=True)
    outputs = [max_pool2d(x, 3, 2, 1, ceil_mode=True), avg_pool2d(x, 3, 2, 1, ceil_mode=True),
               avg_pool2d(x, 3, 2, 1, count_include_pad=False), adaptive_avg_pool2d(x, (3, 5)),
               adaptive_avg_pool2d(x, 1)]
    for y in outputs:
        assert y.dtype == dg.float32
        y.sum().backward()
        assert x.grad.dtype == dg.float32
        x.grad = None


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: max_pool2d(dg.randn(5, 5), 2), dg.ShapeError,
     r"max_pool2d: expects input \(N, C, H, W\) or \(C, H, W\) with C, H, W > 0; got \(5, 5\)"),
    (lambda: avg_pool2d(dg.randn(1, 0, 5, 5), 2), dg.ShapeError,
     r"avg_pool2d: expects input \(N, C, H, W\) or \(C, H, W\) with C, H, W > 0; got "
     r"\(1, 0, 5, 5\)"),
    (lambda: max_pool1d(dg.randn(2, 3, 4, 5), 2), dg.ShapeError,
     r"max_pool1d: expects input \(N, C, L\) or \(C, L\) with C, L > 0; got \(2, 3, 4, 5\)"),
    (lambda: adaptive_avg_pool2d(dg.randn(5), 2), dg.ShapeError,
     r"adaptive_avg_pool2d: expects input \(N, C, H, W\) or \(C, H, W\) .*; got \(5\)"),
    (lambda: max_pool2d(dg.randn(1, 1, 5, 5), 6), dg.ShapeError,
     r"max_pool2d: the pooling window \(6, 6\) \(kernel_size=\(6, 6\), dilation=\(1, 1\)\) is "
     r"larger than the padded input \(5, 5\) \(input \(1, 1, 5, 5\), padding=\(0, 0\)\)"),
    (lambda: max_pool2d(dg.randn(1, 1, 5, 8), 3, padding=(0, 1), dilation=3), dg.ShapeError,
     r"max_pool2d: the pooling window \(7, 7\) \(kernel_size=\(3, 3\), dilation=\(3, 3\)\) is "
     r"larger than the padded input \(5, 10\) \(input \(1, 1, 5, 8\), padding=\(0, 1\)\)"),
    (lambda: avg_pool1d(dg.randn(1, 1, 5), 6), dg.ShapeError,
     r"avg_pool1d: the pooling window 6 \(kernel_size=6, dilation=1\) is larger than the "
     r"padded input 5 \(input \(1, 1, 5\), padding=0\)"),
    (lambda: avg_pool2d(dg.randn(1, 1, 5, 5), 3, padding=2), ValueError,
     r"avg_pool2d: padding must be between 0 and half the kernel size \(kernel_size // 2\); "
     r"got padding=\(2, 2\) for kernel_size=\(3, 3\)"),
    (lambda: max_pool1d(dg.randn(1, 1, 5), 2, padding=-1), ValueError,
     r"max_pool1d: padding must be between 0 .*; got padding=-1 for kernel_size=2"),
    (lambda: max_pool2d(dg.randn(1, 1, 5, 5), 2, stride=0), ValueError,
     r"max_pool2d: kernel_size, stride and dilation must be positive; got kernel_size=\(2, 2\), "
     r"stride=\(0, 0\), dilation=\(1, 1\)"),
    (lambda: max_pool2d(dg.randn(1, 1, 5, 5), 2.0), TypeError,
     r"max_pool2d: kernel_size must be an int or a tuple of 2 ints; got 2.0"),
    (lambda: max_pool2d(dg.randn(1, 1, 5, 5), (2, 2, 2)), TypeError,
     r"max_pool2d: kernel_size must be an int or a tuple of 2 ints; got \(2, 2, 2\)"),
    (lambda: avg_pool2d(dg.tensor(np.ones((1, 1, 4, 4), np.int64)), 2), TypeError,
     r"avg_pool2d: expects a floating-point input; got int64"),
    (lambda: avg_pool2d(dg.randn(1, 1, 4, 4), 2, divisor_override=0), ValueError,
     r"avg_pool2d: divisor_override must not be zero"),
    (lambda: adaptive_avg_pool2d(dg.randn(1, 1, 4, 4), (-1, 2)), ValueError,
     r"adaptive_avg_pool2d: output_size must be an int or a pair of non-negative ints \(or None "
     r"to keep an input size\); got \(-1, 2\)"),
    (lambda: adaptive_avg_pool2d(dg.randn(1, 1, 4, 4), (2, 2, 2)), ValueError,
     r"adaptive_avg_pool2d: output_size must be .*; got \(2, 2, 2\)"),
])
def test_errors_name_the_op_and_the_values(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("shape", [(8, 3, 6, 6), (16, 64, 32, 33)])  # the second in blocks
def test_2x2_pooling_of_channel_major_input_with_nans_and_ties_matches_torch(torch, shape):
    # A convolution's output is an (N, C, H, W) view of (C, N, H, W) memory; NaN (at every
    # window position, alone and in pairs) sends the 2x2 loop back to the general one.
    n, c, h, w = shape
    a = np.random.default_rng(8).integers(0, 3, (c, n, h, w)).astype(np.float32)
    a[0, 0, 0, 0] = a[0, 0, 0, 3] = a[0, 0, 3, 0] = a[1, 0, 3, 3] = np.nan
    a[0, 1, 2, 2] = a[0, 1, 3, 3] = a[0, 1, 4, 5] = a[0, 1, 5, 4] = np.nan
    base = dg.tensor(a, requires_grad=True)
    y, indices = max_pool2d(base.permute(1, 0, 2, 3), 2, return_indices=True)
    gy = np.random.default_rng(9).standard_normal(y.shape).astype(np.float32)
    y.backward(dg.tensor(gy))
    t = torch.tensor(a, requires_grad=True)
    ty, tindices = torch.nn.functional.max_pool2d(t.permute(1, 0, 2, 3), 2, return_indices=True)
    ty.backward(torch.tensor(gy))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())
    np.testing.assert_array_equal(base.grad.numpy(), t.grad.numpy())
