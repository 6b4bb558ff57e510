"""Every elementwise, shape, linear, normalization and quantization kernel against onnxruntime,
on one-node ONNX models with the same inputs and attributes (opset 17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from runtime.oracle import assert_matches, one_node, outputs_of

from deepgrad_runtime.kernels.elementwise import erf

rng = np.random.default_rng(0)


def f32(*shape: int, low: float | None = None, high: float | None = None) -> np.ndarray:
    if low is not None:
        return rng.uniform(low, high, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


INT64_MAX, INT64_MIN = 2 ** 63 - 1, -(2 ** 63)
TIES = rng.integers(-2, 3, (4, 6)).astype(np.float32)  # equal values: TopK orders by index
HALVES = rng.integers(-6, 7, (4, 6)).astype(np.float32) / 2  # ties of Round, zeros, negatives
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5], np.float32)

# (id, op, inputs, attrs, indices of constant inputs, number of outputs)
CASES = [
    ("add-broadcast", "Add", [f32(3, 4, 5), f32(4, 1)], {}, [1], 1),
    ("sub", "Sub", [f32(3, 1), f32(1, 5)], {}, [], 1),
    ("mul", "Mul", [f32(2, 3), f32(3)], {}, [1], 1),
    ("div", "Div", [f32(2, 3), f32(2, 3, low=0.5, high=2.0)], {}, [], 1),
    ("div-int-truncates", "Div", [i64(-7, 7, -8, 5, 0, -1), i64(2, -2, 3, -5, 3, 2)], {}, [], 1),
    ("pow", "Pow", [f32(3, 4, low=0.1, high=3), f32(4, low=-2, high=2)], {}, [], 1),
    ("pow-int-exponent", "Pow", [f32(3, 4), i64(2)], {}, [1], 1),
    ("max-3", "Max", [f32(3, 4), f32(4), f32(1, 4)], {}, [], 1),
    ("min-1", "Min", [f32(3, 4)], {}, [], 1),
    ("neg", "Neg", [f32(5)], {}, [], 1),
    ("sqrt", "Sqrt", [f32(5, low=0, high=4)], {}, [], 1),
    ("exp", "Exp", [f32(5, low=-5, high=5)], {}, [], 1),
    ("log", "Log", [f32(5, low=0.1, high=9)], {}, [], 1),
    ("abs", "Abs", [f32(5)], {}, [], 1),
    ("erf", "Erf", [f32(200, low=-6, high=6)], {}, [], 1),
    ("tanh", "Tanh", [f32(50, low=-10, high=10)], {}, [], 1),
    ("relu", "Relu", [f32(4, 5)], {}, [], 1),
    ("sigmoid", "Sigmoid", [f32(200, low=-40, high=40)], {}, [], 1),
    ("softplus", "Softplus", [f32(200, low=-40, high=40)], {}, [], 1),
    ("leaky-relu", "LeakyRelu", [f32(4, 5)], {"alpha": 0.2}, [], 1),
    ("leaky-relu-default", "LeakyRelu", [f32(4, 5)], {}, [], 1),
    ("elu", "Elu", [f32(4, 5, low=-5, high=5)], {"alpha": 0.5}, [], 1),
    ("elu-default", "Elu", [f32(4, 5)], {}, [], 1),
    ("hard-sigmoid", "HardSigmoid", [f32(4, 5, low=-6, high=6)], {"alpha": 0.3, "beta": 0.4},
     [], 1),
    ("hard-sigmoid-default", "HardSigmoid", [f32(4, 5, low=-6, high=6)], {}, [], 1),
    ("hard-swish", "HardSwish", [f32(4, 5, low=-5, high=5)], {}, [], 1),
    ("prelu-per-channel", "PRelu", [f32(2, 3, 4), f32(3, 1)], {}, [1], 1),
    ("prelu-one-slope", "PRelu", [f32(4, 5), f32(1)], {}, [], 1),
    ("clip", "Clip", [f32(4, 5), np.float32(-0.5), np.float32(0.7)], {}, [1, 2], 1),
    ("clip-max-only", "Clip", [f32(4, 5), None, np.float32(0.7)], {}, [2], 1),
    ("clip-no-bounds", "Clip", [f32(4, 5)], {}, [], 1),
    ("clip-runtime-bounds", "Clip", [f32(4, 5), np.float32(-0.5), np.float32(0.7)], {}, [], 1),
    ("softmax", "Softmax", [f32(3, 4, 5)], {}, [], 1),
    ("softmax-axis1", "Softmax", [f32(3, 4, 5) * 30], {"axis": 1}, [], 1),
    ("log-softmax", "LogSoftmax", [f32(3, 4, 5) * 30], {"axis": 0}, [], 1),
    ("identity", "Identity", [f32(3)], {}, [], 1),
    ("dropout-mask", "Dropout", [f32(3, 4)], {"seed": 3}, [], 2),
    ("flatten", "Flatten", [f32(2, 3, 4, 5)], {}, [], 1),
    ("flatten-axis0", "Flatten", [f32(2, 3, 4)], {"axis": 0}, [], 1),
    ("flatten-axis-neg", "Flatten", [f32(2, 3, 4, 5)], {"axis": -1}, [], 1),
    ("reshape", "Reshape", [f32(2, 3, 4), i64(0, -1)], {}, [1], 1),
    ("reshape-runtime-shape", "Reshape", [f32(2, 3, 4), i64(4, 0, 2)], {}, [], 1),
    ("reshape-allowzero", "Reshape", [f32(0, 3), i64(3, 0)], {"allowzero": 1}, [1], 1),
    ("transpose", "Transpose", [f32(2, 3, 4)], {}, [], 1),
    ("transpose-perm", "Transpose", [f32(2, 3, 4)], {"perm": [1, 2, 0]}, [], 1),
    ("squeeze", "Squeeze", [f32(1, 3, 1, 2), i64(0, -2)], {}, [1], 1),
    ("squeeze-all", "Squeeze", [f32(1, 3, 1, 2)], {}, [], 1),
    ("unsqueeze", "Unsqueeze", [f32(3, 2), i64(0, -1)], {}, [1], 1),
    ("concat", "Concat", [f32(2, 3), f32(2, 1), f32(2, 4)], {"axis": -1}, [1], 1),
    ("split", "Split", [f32(6, 4), i64(1, 2, 3)], {"axis": 0}, [1], 3),
    ("split-equal", "Split", [f32(2, 9)], {"axis": 1}, [], 3),
    ("slice", "Slice", [f32(5, 6, 7), i64(1, -4), i64(4, INT64_MAX), i64(0, 2), i64(1, 2)],
     {}, [1, 2, 3, 4], 1),
    ("slice-reverse", "Slice", [f32(5, 6), i64(-1, 4), i64(INT64_MIN, -10), i64(0, 1),
                                i64(-2, -1)], {}, [1, 2, 3, 4], 1),
    ("slice-defaults", "Slice", [f32(5, 6), i64(1), i64(-1)], {}, [1, 2], 1),
    ("slice-runtime", "Slice", [f32(5, 6), i64(1), i64(3), i64(1)], {}, [], 1),
    ("gather", "Gather", [f32(5, 3), i64(4, -1, 0)], {}, [1], 1),
    ("gather-axis1", "Gather", [f32(2, 5, 3), np.array([[0, 2], [4, -5]], np.int64)],
     {"axis": 1}, [], 1),
    ("reduce-mean", "ReduceMean", [f32(3, 4, 5)], {"axes": [0, -1], "keepdims": 0}, [], 1),
    ("reduce-mean-all", "ReduceMean", [f32(3, 4, 5)], {}, [], 1),
    ("reduce-sum", "ReduceSum", [f32(3, 4, 5), i64(1)], {}, [1], 1),
    ("reduce-sum-no-keep", "ReduceSum", [f32(3, 4, 5), i64(0, 2)], {"keepdims": 0}, [], 1),
    ("reduce-sum-noop", "ReduceSum", [f32(3, 4)], {"noop_with_empty_axes": 1}, [], 1),
    ("shape", "Shape", [f32(2, 3, 4, 5)], {}, [], 1),
    ("shape-start-end", "Shape", [f32(2, 3, 4, 5)], {"start": 1, "end": -1}, [], 1),
    ("size", "Size", [f32(2, 3, 4)], {}, [], 1),
    ("constant-of-shape", "ConstantOfShape", [i64(2, 3)], {"value": [1.5]}, [], 1),
    ("constant-of-shape-int", "ConstantOfShape", [i64(4)], {"value": [7]}, [1], 1),
    ("constant-of-shape-default", "ConstantOfShape", [i64(2, 2)], {}, [], 1),
    ("expand", "Expand", [f32(3, 1), i64(2, 1, 4)], {}, [1], 1),
    ("gemm", "Gemm", [f32(4, 5), f32(5, 3), f32(3)], {}, [1, 2], 1),
    ("gemm-trans-alpha-beta", "Gemm", [f32(5, 4), f32(3, 5), f32(1, 3)],
     {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, [1, 2], 1),
    ("gemm-runtime-b-c", "Gemm", [f32(4, 5), f32(5, 3), f32(4, 3)], {"alpha": 1.5, "beta": 0.5},
     [], 1),
    ("gemm-scalar-c", "Gemm", [f32(4, 5), f32(3, 5), f32(1)], {"transB": 1}, [1, 2], 1),
    ("gemm-no-c", "Gemm", [f32(4, 5), f32(5, 3)], {"alpha": 2.0}, [1], 1),
    ("matmul", "MatMul", [f32(4, 5), f32(5, 3)], {}, [1], 1),
    ("matmul-batched", "MatMul", [f32(2, 4, 5), f32(5, 3)], {}, [], 1),
    ("matmul-vector", "MatMul", [f32(5), f32(2, 5, 3)], {}, [], 1),
    ("batch-norm", "BatchNormalization", [f32(2, 3, 4, 5), f32(3), f32(3), f32(3),
                                          f32(3, low=0.5, high=2)], {"epsilon": 1e-3},
     [1, 2, 3, 4], 1),
    ("batch-norm-2d-runtime", "BatchNormalization", [f32(4, 3), f32(3), f32(3), f32(3),
                                                     f32(3, low=0.5, high=2)], {}, [], 1),
    ("layer-norm", "LayerNormalization", [f32(2, 3, 4), f32(4), f32(4)], {}, [1, 2], 1),
    ("layer-norm-axis1-stats", "LayerNormalization", [f32(2, 3, 4), f32(3, 4)],
     {"axis": 1, "epsilon": 1e-3}, [1], 3),
    ("instance-norm", "InstanceNormalization", [f32(2, 3, 4, 5), f32(3), f32(3)],
     {"epsilon": 1e-4}, [1, 2], 1),
    ("quantize-uint8", "QuantizeLinear", [f32(4, 5) * 3, np.float32(0.02)], {}, [1], 1),
    ("quantize-int8-zero", "QuantizeLinear",
     [f32(4, 5) * 3, np.float32(0.03), np.int8(-3)], {}, [1, 2], 1),
    ("quantize-per-axis", "QuantizeLinear",
     [f32(2, 3, 4), f32(3, low=0.01, high=0.05), np.array([1, -2, 0], np.int8)], {}, [1, 2], 1),
    ("quantize-per-axis0", "QuantizeLinear",
     [f32(2, 3), f32(2, low=0.01, high=0.05), np.array([10, 200], np.uint8)], {"axis": 0},
     [], 1),
    ("dequantize", "DequantizeLinear",
     [rng.integers(-128, 128, (4, 5)).astype(np.int8), np.float32(0.05), np.int8(3)], {},
     [0, 1, 2], 1),
    ("dequantize-per-axis", "DequantizeLinear",
     [rng.integers(0, 256, (3, 4)).astype(np.uint8), f32(4, low=0.01, high=0.1),
      rng.integers(0, 256, 4).astype(np.uint8)], {"axis": -1}, [1, 2], 1),
    ("dequantize-int32", "DequantizeLinear",
     [rng.integers(-1000, 1000, 6).astype(np.int32), np.float32(0.001)], {}, [1], 1),
    ("cumsum", "CumSum", [f32(3, 4), i64(1)], {}, [1], 1),
    ("cumsum-exclusive-reverse", "CumSum", [f32(3, 4), np.array(-1, np.int64)],
     {"exclusive": 1, "reverse": 1}, [1], 1),
    ("cumsum-exclusive", "CumSum", [f32(3, 4), np.array(0, np.int64)], {"exclusive": 1}, [], 1),
    ("cumsum-int32-runtime-axis", "CumSum",
     [np.arange(12, dtype=np.int32).reshape(3, 4), np.array(0, np.int32)], {}, [], 1),
    ("topk", "TopK", [f32(3, 5), i64(2)], {}, [1], 2),
    ("topk-smallest-axis0-ties", "TopK", [TIES, i64(3)], {"axis": 0, "largest": 0}, [], 2),
    ("topk-all-ties", "TopK", [TIES, i64(6)], {"axis": -1}, [1], 2),
    ("topk-int64", "TopK", [TIES.astype(np.int64), i64(2)], {}, [1], 2),
    ("einsum-matmul", "Einsum", [f32(2, 3, 4), f32(4, 5)], {"equation": "bij,jk->bik"}, [1], 1),
    ("einsum-ellipsis-diagonal", "Einsum", [f32(2, 3, 3)], {"equation": "...ii ->...i"}, [], 1),
    ("einsum-implicit", "Einsum", [f32(3, 4), f32(4)], {"equation": "ij,j"}, [], 1),
    ("einsum-transpose", "Einsum", [f32(2, 3)], {"equation": "ij->ji"}, [], 1),
    ("tile", "Tile", [f32(2, 3), i64(2, 1)], {}, [1], 1),
    ("tile-runtime-repeats", "Tile", [f32(2, 1, 3), i64(1, 3, 0)], {}, [], 1),
    ("sin", "Sin", [f32(50, low=-10, high=10)], {}, [], 1),
    ("cos", "Cos", [f32(50, low=-10, high=10)], {}, [], 1),
    ("asin", "Asin", [f32(50, low=-1, high=1)], {}, [], 1),
    ("acos", "Acos", [f32(50, low=-1, high=1)], {}, [], 1),
    ("atan", "Atan", [f32(50, low=-10, high=10)], {}, [], 1),
    ("sinh", "Sinh", [f32(50, low=-5, high=5)], {}, [], 1),
    ("cosh", "Cosh", [f32(50, low=-5, high=5)], {}, [], 1),
    ("reciprocal", "Reciprocal", [f32(5, low=0.5, high=2)], {}, [], 1),
    ("floor", "Floor", [HALVES], {}, [], 1),
    ("ceil", "Ceil", [HALVES], {}, [], 1),
    ("round-half-to-even", "Round", [HALVES], {}, [], 1),
    ("sign", "Sign", [HALVES], {}, [], 1),
    ("sign-int64", "Sign", [i64(-3, 0, 2)], {}, [], 1),
    ("is-nan", "IsNaN", [SPECIAL], {}, [], 1),
    ("is-inf", "IsInf", [SPECIAL], {}, [], 1),
    ("is-inf-positive", "IsInf", [SPECIAL], {"detect_negative": 0}, [], 1),
    ("is-inf-negative", "IsInf", [SPECIAL], {"detect_positive": 0}, [], 1),
    ("equal", "Equal", [HALVES, HALVES[::-1]], {}, [], 1),
    ("less-broadcast", "Less", [HALVES, np.float32(0)], {}, [1], 1),
    ("greater", "Greater", [HALVES, HALVES[::-1]], {}, [], 1),
    ("less-or-equal", "LessOrEqual", [i64(1, 2, 3), i64(2)], {}, [], 1),
    ("greater-or-equal", "GreaterOrEqual", [HALVES, HALVES[::-1]], {}, [], 1),
    ("and", "And", [HALVES > 0, HALVES < 1], {}, [], 1),
    ("or", "Or", [HALVES > 0, HALVES < -1], {}, [], 1),
    ("xor", "Xor", [HALVES > 0, HALVES[::-1] > 0], {}, [], 1),
    ("not", "Not", [HALVES > 0], {}, [], 1),
    ("where", "Where", [HALVES > 0, f32(4, 6), f32(6)], {}, [], 1),
    ("mod-fmod", "Mod", [f32(4, 6) * 5, f32(6, low=0.5, high=2) * np.float32(-1)],
     {"fmod": 1}, [], 1),
    ("mod-integers", "Mod", [i64(-7, 7, -7, 7, 6), i64(3, 3, -3, -3, 3)], {}, [], 1),
    ("mod-integers-fmod", "Mod", [i64(-7, 7, -7, 7), i64(3, 3, -3, -3)], {"fmod": 1}, [], 1),
    ("gather-elements", "GatherElements", [f32(3, 4), i64(2, 0, -1, 1).reshape(1, 4)],
     {}, [1], 1),
    ("gather-elements-axis1", "GatherElements",
     [f32(2, 3, 4), rng.integers(-4, 4, (2, 3, 5))], {"axis": -1}, [], 1),
    ("scatter-elements", "ScatterElements",
     [f32(3, 4), np.array([[1, 0, 2, 2], [0, 2, 1, -1]]), f32(2, 4)], {}, [1], 1),
    ("scatter-elements-add-repeated", "ScatterElements",
     [f32(3, 4), np.array([[1, 1], [0, 1]]), f32(2, 2)], {"axis": 1, "reduction": "add"},
     [], 1),
    ("scatter-elements-mul", "ScatterElements",
     [f32(3, 4), np.array([[2, 2, 0, 1]]), f32(1, 4)], {"reduction": "mul"}, [], 1),
    ("trilu-upper", "Trilu", [f32(2, 4, 5)], {}, [], 1),
    ("trilu-lower-k", "Trilu", [f32(4, 5), np.array(-1, np.int64)], {"upper": 0}, [1], 1),
    ("trilu-runtime-k", "Trilu", [f32(3, 4), np.array(2, np.int64)], {}, [], 1),
    ("pad-constant", "Pad", [f32(2, 3, 4), i64(0, 1, 2, 0, 0, 1), np.float32(-1.5)], {},
     [1, 2], 1),
    ("pad-crop", "Pad", [f32(4, 5), i64(-1, 2, 1, -2)], {}, [1], 1),
    ("pad-reflect", "Pad", [f32(2, 4, 5), i64(0, 1, 3, 0, 2, 1)], {"mode": "reflect"}, [], 1),
    ("pad-edge", "Pad", [f32(2, 3), i64(1, 2, 3, 0)], {"mode": "edge"}, [1], 1),
    ("pad-int64", "Pad", [i64(1, 2, 3), i64(2, 1), np.array(7, np.int64)], {}, [], 1),
    ("reduce-prod", "ReduceProd", [f32(3, 4, 5, low=0.5, high=1.5)], {"axes": [1]}, [], 1),
    ("reduce-prod-attribute", "ReduceProd", [f32(3, 4, 5, low=0.5, high=1.5)],
     {"axes": [0, 2], "keepdims": 0}, [], 1),
    ("reduce-prod-all-int64", "ReduceProd", [i64(1, -2, 3, 4)], {"keepdims": 0}, [], 1),
    ("argmax-ties", "ArgMax", [TIES], {"axis": 1}, [], 1),
    ("argmin-axis0-keepdims0", "ArgMin", [TIES], {"keepdims": 0}, [], 1),
    ("argmax-last-index", "ArgMax", [TIES], {"axis": -1, "select_last_index": 1}, [], 1),
    ("argmin-int64-last-index", "ArgMin", [TIES.astype(np.int64)], {"select_last_index": 1},
     [], 1),
    # Resize: what torch.onnx.export writes for nn.Upsample (nearest: asymmetric and floor;
    # bilinear: pytorch_half_pixel or align_corners), and the other coordinate and rounding
    # modes, up and down, by scales (also odd ones) or sizes.
    ("resize-nearest-torch", "Resize", [f32(2, 3, 4, 5), None, np.array([1, 1, 2, 3], np.float32)],
     {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
      "nearest_mode": "floor"}, [2], 1),
    ("resize-nearest-default", "Resize", [f32(1, 2, 5, 7), None, np.array([1, 1, 1.5, 0.6],
                                                                          np.float32)],
     {}, [2], 1),
    ("resize-nearest-ceil-half-pixel", "Resize", [f32(1, 2, 6, 4), None, None, i64(1, 2, 4, 9)],
     {"nearest_mode": "ceil"}, [3], 1),
    ("resize-nearest-prefer-ceil-tf", "Resize", [f32(1, 1, 4, 4), None,
                                                 np.array([1, 1, 2.5, 0.5], np.float32)],
     {"nearest_mode": "round_prefer_ceil", "coordinate_transformation_mode":
      "tf_half_pixel_for_nn"}, [2], 1),
    ("resize-linear-torch", "Resize", [f32(2, 3, 4, 5), None, np.array([1, 1, 2, 2], np.float32)],
     {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, [2], 1),
    ("resize-linear-align-corners", "Resize", [f32(1, 2, 4, 5), None, None, i64(1, 2, 7, 3)],
     {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, [3], 1),
    ("resize-linear-half-pixel-down", "Resize", [f32(1, 2, 8, 6), None,
                                                 np.array([1, 1, 0.5, 0.75], np.float32)],
     {"mode": "linear"}, [2], 1),
    ("resize-linear-asymmetric-1d", "Resize", [f32(2, 3, 7), None, np.array([1, 1, 1.7],
                                                                            np.float32)],
     {"mode": "linear", "coordinate_transformation_mode": "asymmetric"}, [], 1),
]


@pytest.mark.parametrize(("op", "inputs", "attrs", "constant", "outputs"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_kernel_matches_onnxruntime(oracle, op, inputs, attrs, constant, outputs):
    inputs = [None if a is None else np.asarray(a) for a in inputs]
    graph, feeds = one_node(op, inputs, attrs, outputs, constant)
    assert_matches(outputs_of(graph, feeds), oracle(graph, feeds), what=op)


def test_erf_is_accurate_to_a_few_float64_ulps():
    x = np.concatenate([np.linspace(-7, 7, 2001), [0.0, -0.0, 0.46875, 4.0, 1e-300, np.inf,
                                                   -np.inf]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=1e-15, atol=0)
    assert np.isnan(erf(np.array([np.nan])))[0]
    assert erf(x.astype(np.float32)).dtype == np.float32


def test_integer_division_truncates_toward_zero():
    graph, feeds = one_node("Div", [i64(-7, 7, -7), i64(2, -2, -2)])
    assert outputs_of(graph, feeds)[0].tolist() == [-3, -3, 3]


@pytest.mark.parametrize(("op", "inputs", "attrs", "message"), [
    ("Reshape", [f32(2, 3), i64(-1, -1)], {}, "more than one -1"),
    ("Reshape", [f32(2, 3), i64(0, -1)], {"allowzero": 1}, "both 0 and -1"),
    ("Transpose", [f32(2, 3)], {"perm": [0, 0]}, "must be a permutation"),
    ("Split", [f32(5, 2)], {"axis": 0}, "cannot split size 5 into 2 equal parts"),
    ("Resize", [f32(1, 1, 2, 2), None, np.array([1, 1, 2, 2], np.float32)], {"mode": "cubic"},
     "mode 'cubic' is not supported"),
    ("Resize", [f32(1, 1, 2, 2), None, np.array([1, 1, 2, 2], np.float32)],
     {"coordinate_transformation_mode": "tf_crop_and_resize"}, "'tf_crop_and_resize'"),
    ("Resize", [f32(1, 1, 2, 2), None, np.array([1, 1, 2, 2], np.float32), i64(1, 1, 4, 4)], {},
     "needs exactly one of the scales and sizes inputs"),
    ("Resize", [f32(1, 1, 2, 2), None, np.array([1, 2], np.float32)], {},
     r"scales must be 4 positive numbers for an input of shape \(1, 1, 2, 2\)"),
    ("Resize", [f32(1, 1, 2, 2), None, None, i64(1, 1, 10000, 10000)], {},
     "refused as implausible"),
    ("Slice", [f32(5), i64(0), i64(3), i64(0), i64(0)], {}, "a step of 0"),
    ("LeakyRelu", [f32(2)], {"alpha": "big"}, "attribute 'alpha' must be a finite number"),
    ("Concat", [f32(2), f32(2)], {}, "attribute 'axis' is required"),
    ("QuantizeLinear", [f32(2), np.float32(0.1), np.int32(0)], {}, "int8 or uint8"),
])
def test_bad_attributes_and_inputs_name_the_node(op, inputs, attrs, message):
    outputs = 2 if op == "Split" else 1
    graph, feeds = one_node(op, inputs, attrs, outputs, constant=range(1, len(inputs)))
    with pytest.raises(ValueError, match=message) as info:
        outputs_of(graph, feeds)
    assert f"({op} 'the_node')" in str(info.value)


@pytest.mark.parametrize(("op", "inputs", "attrs", "outputs", "message"), [
    ("CumSum", [f32(2, 3), np.array(2)], {}, 1, "axis 2 is out of range"),
    ("CumSum", [f32(2, 3), i64(0, 1)], {}, 1, "CumSum's axis must hold one integer"),
    ("CumSum", [f32(2, 3), i64(0)], {"reverse": 2}, 1,
     r"attribute 'reverse' must be in \[0, 1\]"),
    ("TopK", [f32(2, 3), i64(4)], {}, 2, "K=4 is out of range for axis -1 of size 3"),
    ("TopK", [f32(2, 3), i64(1, 2)], {}, 2, "TopK's K must hold one integer"),
    ("TopK", [f32(2, 3), i64(1)], {}, 1, "takes 2 outputs; got 1"),
    ("Einsum", [f32(2, 3)], {}, 1, r"attribute 'equation' \(a string\) is required"),
    ("Einsum", [f32(2, 3)], {"equation": "i*->i"}, 1, "may hold only letters"),
    ("Einsum", [f32(2, 3), f32(3)], {"equation": "ij->i"}, 1, "has 1 operand terms"),
    ("Einsum", [f32(2, 3)], {"equation": "ijk->i"}, 1, "do not fit an input of shape"),
    ("Einsum", [f32(300), f32(300), f32(300), f32(300)], {"equation": "a,b,c,d->abcd"}, 1,
     "refused as implausible"),
    ("Tile", [f32(2, 3), i64(2)], {}, 1, "must be 2 counts >= 0"),
    ("Tile", [f32(2, 3), i64(10 ** 5, 10 ** 5)], {}, 1, "refused as implausible"),
])
def test_scan_sort_einsum_and_tile_errors_name_the_node(op, inputs, attrs, outputs, message):
    graph, feeds = one_node(op, inputs, attrs, outputs, constant=range(1, len(inputs)))
    with pytest.raises(ValueError, match=message) as info:
        outputs_of(graph, feeds)
    assert f"({op} 'the_node')" in str(info.value)


@pytest.mark.parametrize(("op", "inputs", "attrs", "message"), [
    ("Mod", [f32(3), f32(3)], {}, "fmod=0 takes integers"),
    ("Where", [f32(3), f32(3), f32(3)], {}, "expects bool tensors; got float32"),
    ("Where", [np.ones(3, bool), f32(3), i64(1, 2, 3)], {}, "X and Y must have one dtype"),
    ("And", [np.ones(3, bool), i64(1, 0, 1)], {}, "expects bool tensors; got int64"),
    ("GatherElements", [f32(2, 3), i64(0, 3).reshape(1, 2)], {"axis": 1},
     r"indices must be in \[-3, 2\]"),
    ("GatherElements", [f32(2, 3), i64(0, 1, 0, 1, 0, 1).reshape(3, 2)], {"axis": 1},
     "be no larger in any dimension but 1"),
    ("ScatterElements", [f32(2, 3), i64(0, 1).reshape(1, 2), f32(1, 3)], {},
     "must have the indices' shape"),
    ("ScatterElements", [f32(2, 3), i64(0).reshape(1, 1), f32(1, 1)], {"reduction": "max"},
     "attribute 'reduction' must be one of"),
    ("Trilu", [f32(3)], {}, "needs an input of rank >= 2"),
    ("Pad", [f32(2, 3), i64(1, 1)], {}, r"must hold 2 \* 2 widths"),
    ("Pad", [f32(2, 3), i64(0, -2, 0, -2)], {}, "crop more than the input"),
    ("Pad", [f32(2, 3), i64(0, 3, 0, 0)], {"mode": "reflect"}, "cannot pad a dimension of size 3"),
    ("Pad", [f32(2, 3), i64(0, 0, 0, 0)], {"mode": "wrap"}, "attribute 'mode' must be one of"),
])
def test_selection_and_logic_errors_name_the_node(op, inputs, attrs, message):
    graph, feeds = one_node(op, inputs, attrs, 1, constant=range(1, len(inputs)))
    with pytest.raises(ValueError, match=message) as info:
        outputs_of(graph, feeds)
    assert f"({op} 'the_node')" in str(info.value)
