"""Conv, ConvTranspose and the pooling kernels against PyTorch (torch.nn.functional) and
onnxruntime: strides, pads (asymmetric too), dilations, groups, auto_pad, ceil_mode,
count_include_pad, and 1, 2 and 3 spatial axes."""

from __future__ import annotations

import numpy as np
import pytest
from runtime.oracle import assert_matches, one_node, outputs_of

rng = np.random.default_rng(1)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def per_axis(value, rank: int) -> list[int]:
    """A PyTorch size argument (an int or a tuple) as an ONNX attribute list."""
    return [value] * rank if isinstance(value, int) else list(value)


def run_conv(x, w, b, attrs, op="Conv", constant=(1, 2)):
    graph, feeds = one_node(op, [x, w, b], attrs, constant=constant)
    return graph, feeds, outputs_of(graph, feeds)[0]


# (N, C, spatial, M, kernel, stride, padding, dilation, groups)
TORCH_CONVS = [
    (2, 3, (9, 8), 4, (3, 3), 1, 1, 1, 1),
    (1, 4, (10, 11), 6, (3, 2), (2, 1), (1, 0), (1, 2), 2),
    (3, 6, (7, 7), 6, (3, 3), 2, 2, 1, 6),  # depthwise
    (2, 8, (5, 6), 4, (1, 1), 1, 0, 1, 1),  # 1x1: the input is the column matrix
    (2, 3, (12,), 5, (4,), 3, 2, 2, 1),  # 1-d
    (1, 2, (5, 6, 7), 3, (2, 3, 2), (1, 2, 1), 1, 1, 1),  # 3-d
]


@pytest.mark.parametrize("config", TORCH_CONVS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_torch(torch, config, bias):
    n, c, spatial, m, kernel, stride, padding, dilation, groups = config
    rank = len(spatial)
    x, w = f32(n, c, *spatial), f32(m, c // groups, *kernel)
    b = f32(m) if bias else None
    attrs = {"strides": per_axis(stride, rank), "pads": per_axis(padding, rank) * 2,
             "dilations": per_axis(dilation, rank), "group": groups}
    _, _, y = run_conv(x, w, b, attrs)
    conv = getattr(torch.nn.functional, f"conv{rank}d")
    expected = conv(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b),
                    stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_matches([y], [expected.numpy()])


@pytest.mark.parametrize(("shape", "w_shape", "attrs"), [
    ((2, 3, 9, 8), (4, 3, 3, 3), {"pads": [0, 1, 2, 1]}),
    ((2, 3, 9, 8), (4, 3, 3, 2), {"auto_pad": "SAME_UPPER", "strides": [2, 3]}),
    ((2, 3, 9, 8), (4, 3, 2, 3), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    ((2, 3, 9, 8), (3, 1, 3, 3), {"auto_pad": "VALID", "group": 3, "dilations": [2, 1]}),
    ((1, 2, 7), (3, 2, 3), {"pads": [2, 0], "strides": [2]}),
    ((1, 2, 4, 5, 6), (2, 2, 2, 2, 2), {"auto_pad": "SAME_UPPER"}),
])
def test_conv_matches_onnxruntime(oracle, shape, w_shape, attrs):
    graph, feeds, y = run_conv(f32(*shape), f32(*w_shape), f32(w_shape[0]), attrs)
    assert_matches([y], oracle(graph, feeds))


def test_conv_with_runtime_weights_and_kernel_shape(oracle):
    graph, feeds, y = run_conv(f32(2, 4, 6, 6), f32(2, 2, 3, 3), None,
                               {"kernel_shape": [3, 3], "group": 2, "pads": [1, 1, 1, 1]},
                               constant=())
    assert_matches([y], oracle(graph, feeds))


def test_conv_errors_name_expected_shapes():
    with pytest.raises(ValueError, match=r"expects input \(N, 3, 2 spatial axes\); got "
                                         r"\(1, 2, 5, 5\)"):
        run_conv(f32(1, 2, 5, 5), f32(4, 3, 3, 3), None, {})
    with pytest.raises(ValueError, match=r"kernel_shape \[2, 2\] differs from the weights' "
                                         r"\[3, 3\]"):
        run_conv(f32(1, 3, 5, 5), f32(4, 3, 3, 3), None, {"kernel_shape": [2, 2]})
    with pytest.raises(ValueError, match="smaller than the kernel's extent 5"):
        run_conv(f32(1, 3, 4, 4), f32(4, 3, 3, 3), None, {"dilations": [2, 2]})
    with pytest.raises(ValueError, match="refused as implausible"):
        run_conv(f32(1, 1, 2, 2), f32(1, 1, 1, 1), None, {"pads": [10 ** 5] * 4})


# (N, C, spatial, M, kernel, stride, padding, output_padding, dilation, groups)
TORCH_TRANSPOSED = [
    (2, 4, (5, 6), 3, (3, 3), 2, 1, 1, 1, 1),
    (1, 4, (4, 5), 6, (2, 3), (2, 3), (0, 1), (1, 2), (2, 1), 2),
    (2, 3, (7,), 2, (4,), 3, 2, 0, 1, 1),
    (1, 2, (3, 4, 3), 2, (2, 2, 3), 2, 0, 0, 1, 1),
]


@pytest.mark.parametrize("config", TORCH_TRANSPOSED)
def test_conv_transpose_matches_torch(torch, config):
    n, c, spatial, m, kernel, stride, padding, output_padding, dilation, groups = config
    rank = len(spatial)
    x, w, b = f32(n, c, *spatial), f32(c, m // groups, *kernel), f32(m)
    attrs = {"strides": per_axis(stride, rank), "pads": per_axis(padding, rank) * 2,
             "output_padding": per_axis(output_padding, rank),
             "dilations": per_axis(dilation, rank), "group": groups}
    _, _, y = run_conv(x, w, b, attrs, op="ConvTranspose")
    conv = getattr(torch.nn.functional, f"conv_transpose{rank}d")
    expected = conv(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride,
                    padding=padding, output_padding=output_padding, dilation=dilation,
                    groups=groups)
    assert_matches([y], [expected.numpy()])


@pytest.mark.parametrize(("shape", "w_shape", "attrs"), [
    ((2, 3, 4, 5), (3, 2, 3, 3), {"pads": [0, 1, 2, 1], "strides": [2, 2]}),
    ((2, 3, 4, 5), (3, 2, 3, 2), {"auto_pad": "SAME_UPPER", "strides": [2, 3]}),
    ((2, 3, 4, 5), (3, 2, 3, 3), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    ((1, 2, 5), (2, 3, 1), {"auto_pad": "SAME_UPPER", "strides": [3]}),  # span < output
    ((1, 2, 3, 3), (2, 1, 2, 2), {"auto_pad": "VALID", "output_padding": [1, 0],
                                  "strides": [2, 2]}),
])
def test_conv_transpose_matches_onnxruntime(oracle, shape, w_shape, attrs):
    graph, feeds, y = run_conv(f32(*shape), f32(*w_shape), f32(w_shape[1]), attrs,
                               op="ConvTranspose")
    assert_matches([y], oracle(graph, feeds))


def run_pool(op, x, attrs):
    graph, feeds = one_node(op, [x], attrs)
    return graph, feeds, outputs_of(graph, feeds)[0]


# (kernel, stride, padding, dilation, ceil_mode)
TORCH_MAX_POOLS = [
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((3, 2), (2, 1), (1, 0), (2, 1), False),
    ((2, 3), (3, 2), (1, 1), (1, 2), True),
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation", "ceil_mode"),
                         TORCH_MAX_POOLS)
def test_max_pool_matches_torch(torch, kernel, stride, padding, dilation, ceil_mode):
    x = f32(2, 3, 10, 9)
    attrs = {"kernel_shape": list(kernel), "strides": list(stride), "pads": list(padding) * 2,
             "dilations": list(dilation), "ceil_mode": int(ceil_mode)}
    _, _, y = run_pool("MaxPool", x, attrs)
    expected = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, padding,
                                              dilation, ceil_mode=ceil_mode)
    assert_matches([y], [expected.numpy()])


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [
    ((3, 3), (2, 2), (1, 1)), ((2, 3), (3, 2), (1, 0)), ((2, 2), (2, 2), (0, 0))])
def test_average_pool_matches_torch(torch, kernel, stride, padding, ceil_mode,
                                    count_include_pad):
    x = f32(2, 3, 11, 8)
    attrs = {"kernel_shape": list(kernel), "strides": list(stride), "pads": list(padding) * 2,
             "ceil_mode": int(ceil_mode), "count_include_pad": int(count_include_pad)}
    _, _, y = run_pool("AveragePool", x, attrs)
    expected = torch.nn.functional.avg_pool2d(torch.tensor(x), kernel, stride, padding,
                                              ceil_mode=ceil_mode,
                                              count_include_pad=count_include_pad)
    assert_matches([y], [expected.numpy()])


@pytest.mark.parametrize(("op", "shape", "attrs"), [
    ("MaxPool", (2, 3, 9, 8), {"kernel_shape": [3, 3], "pads": [0, 1, 2, 1]}),
    ("MaxPool", (2, 3, 9, 8), {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER",
                               "strides": [2, 2]}),
    ("MaxPool", (2, 3, 9, 8), {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER",
                               "strides": [2, 3]}),
    ("MaxPool", (1, 2, 9), {"kernel_shape": [3], "strides": [2], "ceil_mode": 1}),
    ("MaxPool", (1, 2, 5, 6, 7), {"kernel_shape": [2, 2, 3], "strides": [2, 2, 2],
                                  "auto_pad": "VALID"}),
    ("AveragePool", (2, 3, 9, 8), {"kernel_shape": [3, 3], "pads": [0, 1, 2, 1],
                                   "count_include_pad": 1}),
    ("AveragePool", (2, 3, 9, 8), {"kernel_shape": [3, 3], "pads": [0, 1, 2, 1],
                                   "ceil_mode": 1, "strides": [2, 2]}),
    ("AveragePool", (2, 3, 9, 8), {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER",
                                   "strides": [2, 2]}),
    ("AveragePool", (1, 2, 6, 5, 4), {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2],
                                      "ceil_mode": 1, "count_include_pad": 1}),
    ("GlobalAveragePool", (2, 3, 5, 4), {}),
    ("GlobalMaxPool", (2, 3, 5, 4, 2), {}),
])
def test_pool_matches_onnxruntime(oracle, op, shape, attrs):
    graph, feeds, y = run_pool(op, f32(*shape), attrs)
    assert_matches([y], oracle(graph, feeds))


def test_max_pool_of_integers_pads_with_the_lowest_value():
    x = -np.arange(16, dtype=np.int8).reshape(1, 1, 4, 4)
    _, _, y = run_pool("MaxPool", x, {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1],
                                      "strides": [2, 2]})
    assert y.dtype == np.int8 and y[0, 0].tolist() == [[0, -1, -3], [-4, -5, -7],
                                                       [-12, -13, -15]]


def test_pool_errors():
    with pytest.raises(ValueError, match="attribute 'kernel_shape' is required"):
        run_pool("MaxPool", f32(1, 1, 4, 4), {})
    with pytest.raises(ValueError, match="Indices output is not supported"):
        graph, feeds = one_node("MaxPool", [f32(1, 1, 4, 4)], {"kernel_shape": [2, 2]}, 2)
        outputs_of(graph, feeds)
    with pytest.raises(ValueError, match="may not be given with auto_pad=SAME_UPPER"):
        run_pool("MaxPool", f32(1, 1, 4, 4), {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1],
                                              "auto_pad": "SAME_UPPER"})
