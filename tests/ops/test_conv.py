"""Convolutions (conv2d, conv1d, conv_transpose2d): gradcheck, parity with torch, buffer reuse,
layouts and error messages."""

import itertools

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops.conv import conv1d, conv2d, conv_transpose2d

# torch warns that it pads a copy for 'same' with an even kernel; so does deepgrad, silently.
# Every test once on the NumPy code and once on the compiled loops (col2im).
pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same'"),
              pytest.mark.usefixtures("both_kernels")]

C_IN = 4
# groups -> out_channels: one group, two groups of two channels, depthwise (its own kernel).
GROUPS = {1: 3, 2: 4, C_IN: C_IN}
CONV2D_GRID = [
    (stride, padding, dilation, groups, bias)
    for stride, padding, dilation, groups, bias in itertools.product(
        (1, 2), (0, 1, "same", "valid"), (1, 2), tuple(GROUPS), (True, False))
    if not (padding == "same" and stride != 1)
]


def _arrays(rng, x_shape, w_shape, bias, dtype=np.float64):
    """Input, weight and (``bias``: True for w_shape[0] channels, or a channel count) bias."""
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if bias:
        arrays.append(rng.standard_normal(w_shape[0] if bias is True else bias))
    return [a.astype(dtype) for a in arrays]


def _leaves(arrays):
    return [dg.tensor(a, requires_grad=True) for a in arrays]


def _conv2d_fn(stride, padding, dilation, groups):
    return lambda x, w, b=None: conv2d(x, w, b, stride, padding, dilation, groups)


def _torch_conv2d_fn(torch, stride, padding, dilation, groups):
    return lambda x, w, b=None: torch.nn.functional.conv2d(x, w, b, stride, padding, dilation,
                                                           groups)


# ------------------------------------------------------------------------------ conv2d
@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "bias"), CONV2D_GRID)
def test_conv2d_gradcheck(stride, padding, dilation, groups, bias):
    # Batch 1, odd sizes, a 3x2 kernel: H=5, W=3 fits the dilated kernel without padding.
    rng = np.random.default_rng(0)
    arrays = _arrays(rng, (1, C_IN, 5, 3), (GROUPS[groups], C_IN // groups, 3, 2), bias)
    assert dg.gradcheck(_conv2d_fn(stride, padding, dilation, groups), _leaves(arrays))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "bias"), CONV2D_GRID)
def test_conv2d_parity(torch, dtype, stride, padding, dilation, groups, bias):
    seed = CONV2D_GRID.index((stride, padding, dilation, groups, bias))
    rng = np.random.default_rng(seed)
    n, h, w = rng.integers(1, 4), rng.integers(5, 10), rng.integers(5, 10)
    kh, kw = rng.integers(1, 4, 2)
    arrays = _arrays(rng, (n, C_IN, h, w), (GROUPS[groups], C_IN // groups, kh, kw), bias, dtype)
    check_parity(torch, _conv2d_fn(stride, padding, dilation, groups),
                 _torch_conv2d_fn(torch, stride, padding, dilation, groups), arrays, seed=seed)


@pytest.mark.parametrize("case", ["pointwise", "pointwise strided", "channel multiplier",
                                  "batch 2", "asymmetric same", "depthwise stride (2, 1)",
                                  "depthwise stride 3"])
def test_conv2d_gradcheck_special_shapes(case):
    rng = np.random.default_rng(1)
    x_shape, w_shape, options = {
        "pointwise": ((2, 3, 3, 4), (5, 3, 1, 1), {}),  # a GEMM without im2col
        "pointwise strided": ((2, 3, 3, 4), (2, 3, 1, 1), {"stride": 2, "padding": 1}),
        "channel multiplier": ((1, 2, 4, 5), (4, 1, 3, 3), {"groups": 2, "padding": 1}),
        "batch 2": ((2, 2, 4, 3), (3, 2, 2, 2), {"stride": (2, 1), "padding": (1, 0)}),
        "asymmetric same": ((1, 2, 4, 5), (2, 2, 2, 4), {"padding": "same",
                                                        "dilation": (1, 1)}),
        # Strided depthwise passes whose windows end short of the padded input's edge.
        "depthwise stride (2, 1)": ((2, 3, 7, 6), (3, 1, 3, 2), {"groups": 3, "stride": (2, 1),
                                                                 "padding": 1}),
        "depthwise stride 3": ((1, 2, 8, 9), (2, 1, 3, 3), {"groups": 2, "stride": 3,
                                                            "padding": (1, 2)}),
    }[case]
    arrays = _arrays(rng, x_shape, w_shape, bias=True)
    assert dg.gradcheck(lambda x, w, b: conv2d(x, w, b, **options), _leaves(arrays))


@pytest.mark.parametrize("groups", [1, 3])
def test_conv2d_gradcheck_non_contiguous_leaves(groups):
    rng = np.random.default_rng(2)
    # Leaves whose memory is laid out (W, H, C, N) and (kW, kH, C, O): transposed views.
    x = dg.from_numpy(rng.standard_normal((4, 3, 3, 2)).transpose(3, 2, 1, 0)).requires_grad_()
    w = dg.from_numpy(rng.standard_normal((2, 2, 3 // groups, 3)).transpose(3, 2, 1, 0))
    w.requires_grad_()
    assert not x.numpy().flags.c_contiguous
    assert dg.gradcheck(lambda x, w: conv2d(x, w, padding=1, groups=groups), [x, w])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_chain_parity(torch, dtype):
    # conv -> relu -> 1x1 conv -> relu -> depthwise conv: each consumes the previous output's
    # channel-major memory and produces the next one's gradient in it.
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(dtype) for s in
              [(3, 2, 9, 8), (6, 2, 3, 3), (6,), (6, 6, 1, 1), (6, 1, 3, 3)]]

    def dg_chain(x, w1, b1, w2, w3):
        h = conv2d(x, w1, b1, padding=1).relu()
        h = conv2d(h, w2).relu()
        return conv2d(h, w3, stride=2, groups=6)

    def torch_chain(x, w1, b1, w2, w3):
        functional = torch.nn.functional
        h = functional.relu(functional.conv2d(x, w1, b1, padding=1))
        h = functional.relu(functional.conv2d(h, w2))
        return functional.conv2d(h, w3, stride=2, groups=6)

    check_parity(torch, dg_chain, torch_chain, arrays)


def test_conv2d_unbatched_input_matches_a_batch_of_one(torch):
    rng = np.random.default_rng(4)
    arrays = _arrays(rng, (2, 5, 6), (3, 2, 3, 3), bias=True)
    check_parity(torch, lambda x, w, b: conv2d(x, w, b, padding=1),
                 lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1), arrays)


def test_conv2d_float32_stays_float32():
    x, w, b = (dg.randn(*s, requires_grad=True) for s in [(2, 3, 6, 6), (4, 3, 3, 3), (4,)])
    y = conv2d(x, w, b, padding=1)
    y.sum().backward()
    assert y.dtype == dg.float32
    assert {t.grad.dtype for t in (x, w, b)} == {dg.float32}


def test_conv2d_no_grad_needed_records_nothing():
    x, w = dg.randn(2, 3, 5, 5), dg.randn(4, 3, 3, 3)
    y = conv2d(x, w)
    assert not y.requires_grad and y.grad_fn is None


def test_conv2d_gradient_only_for_the_inputs_that_need_it():
    x = dg.randn(2, 3, 5, 5, requires_grad=True)
    w, b = dg.randn(4, 3, 3, 3), dg.randn(4)
    conv2d(x, w, b).sum().backward()
    assert x.grad is not None and w.grad is None and b.grad is None


# ------------------------------------------------------------------------------ reused buffers
def test_buffers_are_not_reused_while_a_graph_holds_them():
    rng = np.random.default_rng(5)
    x_np, w_np, g_np = (rng.standard_normal(s).astype(np.float32)
                        for s in [(4, 3, 10, 10), (5, 3, 3, 3), (4, 5, 8, 8)])
    expected_w = None
    for _ in range(2):  # the second pass finds the first pass's buffers free again
        x = dg.tensor(x_np, requires_grad=True)
        w = dg.tensor(w_np, requires_grad=True)
        y1 = conv2d(x, w)
        y2 = conv2d(x * 2.0, w)  # same shapes: its columns need their own memory
        with dg.no_grad():
            conv2d(dg.tensor(-x_np), w)  # may take a free buffer, not a saved one
        (y1 * dg.tensor(g_np)).sum().backward(retain_graph=True)
        first = w.grad.numpy().copy()
        w.grad = None
        (y2 * dg.tensor(g_np)).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-5)
        if expected_w is None:
            expected_w = first
        np.testing.assert_array_equal(first, expected_w)


def test_retained_graph_gives_the_same_gradient_twice():
    x = dg.randn(2, 3, 7, 7, requires_grad=True)
    w = dg.randn(4, 3, 3, 3, requires_grad=True)
    y = conv2d(x, w, padding=1, stride=2)
    y.sum().backward(retain_graph=True)
    first_x, first_w = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    conv2d(dg.randn(2, 3, 7, 7), w.detach(), padding=1, stride=2)  # reuses any free buffer
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), first_x)
    np.testing.assert_array_equal(w.grad.numpy(), first_w)


def test_changing_an_input_in_place_after_a_pointwise_conv_is_detected():
    x = dg.randn(3, 2, 4, 4).permute(1, 0, 2, 3).detach().requires_grad_()  # channel-major
    w = dg.randn(3, 3, 1, 1, requires_grad=True)
    y = conv2d(x, w)
    with dg.no_grad():
        x += 1.0
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.sum().backward()


# ------------------------------------------------------------------------------ conv1d
CONV1D_GRID = [(stride, padding, dilation, groups)
               for stride, padding, dilation, groups in itertools.product(
                   (1, 2), (0, 2, "same", "valid"), (1, 2), (1, 2))
               if not (padding == "same" and stride != 1)]


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups"), CONV1D_GRID)
def test_conv1d_gradcheck(stride, padding, dilation, groups):
    rng = np.random.default_rng(6)
    arrays = _arrays(rng, (2, 4, 7), (4, 4 // groups, 3), bias=True)
    assert dg.gradcheck(lambda x, w, b: conv1d(x, w, b, stride, padding, dilation, groups),
                        _leaves(arrays))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("stride", "padding", "dilation", "groups"), CONV1D_GRID)
def test_conv1d_parity(torch, dtype, stride, padding, dilation, groups):
    seed = CONV1D_GRID.index((stride, padding, dilation, groups))
    rng = np.random.default_rng(seed)
    length, kernel = rng.integers(6, 20), rng.integers(1, 4)
    arrays = _arrays(rng, (3, 4, length), (6, 4 // groups, kernel), True, dtype)
    check_parity(torch, lambda x, w, b: conv1d(x, w, b, stride, padding, dilation, groups),
                 lambda x, w, b: torch.nn.functional.conv1d(x, w, b, stride, padding, dilation,
                                                            groups), arrays, seed=seed)


def test_conv1d_unbatched_and_tuple_arguments(torch):
    rng = np.random.default_rng(7)
    arrays = _arrays(rng, (2, 9), (3, 2, 3), bias=False)
    check_parity(torch, lambda x, w: conv1d(x, w, stride=(2,), padding=(1,)),
                 lambda x, w: torch.nn.functional.conv1d(x, w, stride=2, padding=1), arrays)


# ------------------------------------------------------------------------------ conv_transpose2d
TRANSPOSE_GRID = [
    (stride, padding, output_padding, groups, dilation)
    for stride, padding, output_padding, groups, dilation in itertools.product(
        (1, 2), (0, 1), (0, 1), (1, 2), (1, 2))
    if output_padding < stride or output_padding < dilation
]


@pytest.mark.parametrize(("stride", "padding", "output_padding", "groups", "dilation"),
                         TRANSPOSE_GRID)
def test_conv_transpose2d_gradcheck(stride, padding, output_padding, groups, dilation):
    rng = np.random.default_rng(8)
    arrays = _arrays(rng, (2, 4, 3, 2), (4, 6 // groups, 3, 2), bias=6)
    assert dg.gradcheck(
        lambda x, w, b: conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                         dilation), _leaves(arrays))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("stride", "padding", "output_padding", "groups", "dilation"),
                         TRANSPOSE_GRID)
def test_conv_transpose2d_parity(torch, dtype, stride, padding, output_padding, groups,
                                 dilation):
    seed = TRANSPOSE_GRID.index((stride, padding, output_padding, groups, dilation))
    rng = np.random.default_rng(seed)
    h, w = rng.integers(2, 7, 2)
    kh, kw = rng.integers(1, 4, 2)
    arrays = _arrays(rng, (2, 4, h, w), (4, 6 // groups, kh, kw), 6, dtype)
    check_parity(torch,
                 lambda x, w, b: conv_transpose2d(x, w, b, stride, padding, output_padding,
                                                  groups, dilation),
                 lambda x, w, b: torch.nn.functional.conv_transpose2d(
                     x, w, b, stride, padding, output_padding, groups, dilation),
                 arrays, seed=seed)


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    rng = np.random.default_rng(9)
    w = dg.tensor(rng.standard_normal((5, 3, 3, 3)))
    x = dg.tensor(rng.standard_normal((2, 3, 8, 7)), requires_grad=True)
    g = rng.standard_normal((2, 5, 4, 4))
    conv2d(x, w, stride=2, padding=1).backward(g)
    y = conv_transpose2d(dg.tensor(g), w, stride=2, padding=1, output_padding=(1, 0))
    assert_close(y, x.grad.numpy())


def test_conv_transpose2d_non_contiguous_leaf():
    rng = np.random.default_rng(10)
    x = dg.from_numpy(rng.standard_normal((3, 4, 2, 2)).transpose(3, 2, 1, 0)).requires_grad_()
    w = dg.tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    assert dg.gradcheck(lambda x, w: conv_transpose2d(x, w, stride=2), [x, w])


# ------------------------------------------------------------------------------ errors
def test_error_wrong_channels_names_expected_and_given_shapes():
    with pytest.raises(dg.ShapeError, match=r"^conv2d: expects input \(N, 3, H, W\) for a "
                                            r"weight of shape \(16, 3, 3, 3\); got "
                                            r"\(64, 1, 28, 28\)$"):
        conv2d(dg.randn(64, 1, 28, 28), dg.randn(16, 3, 3, 3))


@pytest.mark.parametrize(("fn", "x_shape", "w_shape", "options", "error", "message"), [
    (conv2d, (2, 3, 8), (4, 3, 3, 3), {}, dg.ShapeError,
     r"conv2d: expects input \(N, 3, H, W\) or \(3, H, W\) for a weight of shape "
     r"\(4, 3, 3, 3\); got \(2, 3, 8\)"),
    (conv2d, (2, 4, 8, 8), (4, 1, 3, 3), {"groups": 2}, dg.ShapeError,
     r"conv2d: expects input \(N, 2, H, W\) for a weight of shape \(4, 1, 3, 3\) and "
     r"groups=2; got \(2, 4, 8, 8\)"),
    (conv2d, (2, 6, 8, 8), (4, 2, 3, 3), {"groups": 3}, ValueError,
     r"conv2d: groups=3 must divide out_channels, but the weight of shape \(4, 2, 3, 3\) "
     r"has 4"),
    (conv2d, (2, 3, 8, 8), (4, 3, 3), {}, dg.ShapeError,
     r"conv2d: weight must be 4-D \(out_channels, in_channels/groups, kH, kW\); got shape "
     r"\(4, 3, 3\)"),
    (conv2d, (1, 1, 2, 2), (1, 1, 3, 3), {}, dg.ShapeError,
     r"conv2d: the kernel \(3, 3\) with dilation \(1, 1\) spans \(3, 3\), larger than the "
     r"padded input \(2, 2\) \(input \(1, 1, 2, 2\)\)"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"dilation": 3}, dg.ShapeError,
     r"spans \(7, 7\), larger than the padded input \(5, 5\)"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"padding": "full"}, ValueError,
     r"conv2d: padding must be 'valid', 'same', an int or a tuple of ints; got 'full'"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"padding": "same", "stride": 2}, ValueError,
     r"conv2d: padding='same' needs stride 1 \(as in PyTorch\); got stride \(2, 2\)"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ValueError,
     r"conv2d: stride must be positive; got 0"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"stride": (1, 2, 3)}, TypeError,
     r"conv2d: stride must be an int or a tuple of 2 ints; got \(1, 2, 3\)"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}, ValueError,
     r"conv2d: padding must be non-negative; got -1"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"dilation": (1, 0)}, ValueError,
     r"conv2d: dilation must be positive; got \(1, 0\)"),
    (conv2d, (1, 1, 5, 5), (1, 1, 3, 3), {"groups": 0}, ValueError,
     r"conv2d: groups must be a positive int; got 0"),
    (conv1d, (2, 3, 8, 8), (4, 3, 3), {}, dg.ShapeError,
     r"conv1d: expects input \(N, 3, L\) for a weight of shape \(4, 3, 3\); got "
     r"\(2, 3, 8, 8\)"),
    (conv1d, (2, 3, 8), (4, 3, 3), {"stride": (1, 1)}, TypeError,
     r"conv1d: stride must be an int; got \(1, 1\)"),
    (conv_transpose2d, (2, 3, 4, 4), (4, 2, 3, 3), {}, dg.ShapeError,
     r"conv_transpose2d: expects input \(N, 4, H, W\) for a weight of shape \(4, 2, 3, 3\); "
     r"got \(2, 3, 4, 4\)"),
    (conv_transpose2d, (2, 3, 4, 4), (3, 2, 3, 3), {"groups": 2}, ValueError,
     r"conv_transpose2d: groups=2 must divide in_channels, but the weight of shape "
     r"\(3, 2, 3, 3\) has 3"),
    (conv_transpose2d, (2, 4, 4, 4), (4, 2, 3, 3), {"output_padding": 1}, ValueError,
     r"conv_transpose2d: output_padding \(1, 1\) must be smaller than the stride \(1, 1\) or "
     r"the dilation \(1, 1\) in each dim"),
    (conv_transpose2d, (2, 4, 1, 1), (4, 2, 1, 1), {"padding": 1}, dg.ShapeError,
     r"conv_transpose2d: the output would have size \(-1, -1\)"),
])
def test_errors(fn, x_shape, w_shape, options, error, message):
    with pytest.raises(error, match=message):
        fn(dg.randn(*x_shape), dg.randn(*w_shape), **options)


def test_bias_and_dtype_errors():
    x, w = dg.randn(2, 3, 5, 5), dg.randn(4, 3, 3, 3)
    with pytest.raises(dg.ShapeError, match=r"conv2d: bias must have shape \(4\) for a weight "
                                            r"of shape \(4, 3, 3, 3\); got \(3\)"):
        conv2d(x, w, dg.randn(3))
    with pytest.raises(dg.ShapeError, match=r"conv_transpose2d: bias must have shape \(4\)"):
        conv_transpose2d(dg.randn(2, 4, 3, 3), dg.randn(4, 2, 3, 3), dg.randn(2), groups=2)
    with pytest.raises(TypeError, match="conv2d: input, weight and bias must have the same "
                                        "floating dtype; got float64, float32"):
        conv2d(x.to(dg.float64), w)
    with pytest.raises(TypeError, match="conv2d: input, weight and bias must have the same "
                                        "floating dtype; got int64, int64"):
        conv2d(dg.tensor(np.ones((1, 1, 3, 3), np.int64)), dg.tensor(np.ones((1, 1, 2, 2),
                                                                               np.int64)))
    with pytest.raises(TypeError, match=r"got uint8, float32; convert integer images to floats "
                                        r"first \(x\.float\(\) / 255"):
        conv2d(dg.tensor(np.ones((1, 3, 5, 5), np.uint8)), w)
