"""GraphModule: every kernel against onnxruntime on one-node ONNX models, gradients by finite
differences, parameter roles and names, and the errors it raises."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.export.graph_module import KERNELS, GraphModule
from deepgrad.export.onnx_import import from_onnx
from deepgrad_runtime.graph import OPS, Graph, Node, Value

onnx = pytest.importorskip("onnx", reason="the kernel tests need `pip install 'deepgrad[onnx]'`")
ort = pytest.importorskip("onnxruntime", reason="the kernel tests compare with onnxruntime")

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


HALVES = rng.integers(-6, 7, (3, 4)).astype(np.float32) / 2  # ties of Round, zeros, negatives
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5], np.float32)


class C:
    """An initializer input (graph inputs are plain arrays)."""

    def __init__(self, value, dtype=None):
        self.array = np.asarray(value, dtype=dtype or (np.int64 if isinstance(
            np.asarray(value).flat[0], (int, np.integer)) else np.float32))


def _lstm_weights(gates, directions, hidden, features):
    return (C(r(directions, gates * hidden, features)), C(r(directions, gates * hidden, hidden)),
            C(r(directions, 2 * gates * hidden)))


# (id, op, inputs (array: graph input, C: initializer, None: left out), attributes, outputs: a
# count, or one ONNX type per output)
CASES = [
    ("add-broadcast", "Add", [r(3, 4), r(4)], {}, 1),
    ("sub", "Sub", [r(3, 4), C(r(3, 1))], {}, 1),
    ("mul", "Mul", [r(2, 3), C(2.5)], {}, 1),
    ("div", "Div", [r(3, 4), C(pos(4))], {}, 1),
    ("pow", "Pow", [pos(3, 4), C(3.0)], {}, 1),
    ("sqrt", "Sqrt", [pos(3, 4)], {}, 1),
    ("exp", "Exp", [r(3, 4)], {}, 1),
    ("log", "Log", [pos(3, 4)], {}, 1),
    ("abs", "Abs", [r(3, 4)], {}, 1),
    ("neg", "Neg", [r(3, 4)], {}, 1),
    ("erf", "Erf", [r(3, 4) * 2], {}, 1),
    ("max", "Max", [r(3, 4), r(4), C(r(3, 1))], {}, 1),
    ("min", "Min", [r(3, 4), r(3, 4)], {}, 1),
    ("relu", "Relu", [r(3, 4)], {}, 1),
    ("sigmoid", "Sigmoid", [r(3, 4)], {}, 1),
    ("tanh", "Tanh", [r(3, 4)], {}, 1),
    ("softplus", "Softplus", [r(3, 4) * 5], {}, 1),
    ("leaky-relu", "LeakyRelu", [r(3, 4)], {"alpha": 0.2}, 1),
    ("elu", "Elu", [r(3, 4)], {"alpha": 0.5}, 1),
    ("hard-sigmoid", "HardSigmoid", [r(3, 4) * 4], {"alpha": 0.3, "beta": 0.4}, 1),
    ("hard-swish", "HardSwish", [r(3, 4) * 4], {}, 1),
    ("prelu", "PRelu", [r(2, 3, 4), C(r(3, 1))], {}, 1),
    ("resize-nearest", "Resize", [r(2, 3, 4, 5), None, C(np.array([1, 1, 2, 1.5], np.float32))],
     {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
      "nearest_mode": "floor"}, 1),
    ("resize-linear", "Resize", [r(2, 3, 4, 5), None, C(np.array([1, 1, 2, 0.6], np.float32))],
     {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, 1),
    ("resize-linear-sizes", "Resize", [r(1, 2, 4, 5), None, None, C([1, 2, 7, 3])],
     {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, 1),
    ("clip", "Clip", [r(3, 4), C(-0.5), C(0.5)], {}, 1),
    ("clip-max-only", "Clip", [r(3, 4), None, C(0.2)], {}, 1),
    ("softmax", "Softmax", [r(2, 3, 4)], {"axis": 1}, 1),
    ("log-softmax", "LogSoftmax", [r(2, 3, 4)], {}, 1),
    ("identity", "Identity", [r(3, 4)], {}, 1),
    ("dropout-eval", "Dropout", [r(3, 4), C(0.3)], {}, 1),
    ("gemm-general", "Gemm", [r(4, 3), C(r(5, 4)), C(r(3, 5))],
     {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, 1),
    ("gemm-no-bias", "Gemm", [r(3, 4), C(r(4, 5))], {}, 1),
    ("matmul-batched", "MatMul", [r(2, 3, 4), C(r(4, 5))], {}, 1),
    ("conv-asymmetric", "Conv", [r(2, 3, 7, 8), C(r(4, 3, 3, 3)), C(r(4))],
     {"pads": [0, 1, 1, 2], "strides": [2, 1], "dilations": [1, 2]}, 1),
    ("conv-same-upper", "Conv", [r(1, 2, 7, 7), C(r(3, 2, 3, 3))],
     {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, 1),
    ("conv-same-lower", "Conv", [r(1, 2, 6, 6), C(r(3, 2, 2, 2))],
     {"auto_pad": "SAME_LOWER"}, 1),
    ("conv-valid", "Conv", [r(1, 2, 6, 6), C(r(3, 2, 3, 3))], {"auto_pad": "VALID"}, 1),
    ("conv1d-groups", "Conv", [r(2, 4, 9), C(r(6, 2, 3)), C(r(6))],
     {"group": 2, "pads": [1, 1], "kernel_shape": [3]}, 1),
    ("conv-depthwise", "Conv", [r(2, 4, 6, 6), C(r(4, 1, 3, 3))],
     {"group": 4, "pads": [1, 1, 1, 1]}, 1),
    ("conv-transpose", "ConvTranspose", [r(1, 3, 4, 4), C(r(3, 2, 3, 3)), C(r(2))],
     {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}, 1),
    ("conv-transpose-asymmetric", "ConvTranspose", [r(1, 3, 4, 5), C(r(3, 2, 3, 3))],
     {"strides": [2, 2], "pads": [0, 1, 1, 0]}, 1),
    ("maxpool-asymmetric", "MaxPool", [r(1, 2, 5, 5)],
     {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}, 1),
    ("maxpool-ceil", "MaxPool", [r(1, 2, 6, 6)],
     {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, 1),
    ("maxpool1d-dilated", "MaxPool", [r(2, 3, 10)],
     {"kernel_shape": [2], "dilations": [2], "pads": [1, 1]}, 1),
    ("avgpool-exclude-pad", "AveragePool", [r(1, 2, 6, 6)],
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),
    ("avgpool-asymmetric", "AveragePool", [r(1, 2, 6, 6)],
     {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 0, 0, 1],
      "count_include_pad": 1}, 1),
    ("avgpool-asymmetric-exclude-pad", "AveragePool", [r(1, 2, 7, 7)],
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 2, 1]}, 1),
    ("avgpool1d", "AveragePool", [r(2, 3, 9)], {"kernel_shape": [3], "strides": [2]}, 1),
    ("global-avg", "GlobalAveragePool", [r(2, 3, 4, 5)], {}, 1),
    ("global-max", "GlobalMaxPool", [r(2, 3, 4, 5)], {}, 1),
    ("batchnorm", "BatchNormalization", [r(2, 3, 4, 4), C(pos(3)), C(r(3)), C(r(3)), C(pos(3))],
     {"epsilon": 1e-3}, 1),
    ("layernorm", "LayerNormalization", [r(2, 3, 4), C(pos(3, 4)), C(r(3, 4))],
     {"axis": -2}, 1),
    ("instancenorm", "InstanceNormalization", [r(2, 3, 4, 5), C(pos(3)), C(r(3))], {}, 1),
    ("reducemean-attribute", "ReduceMean", [r(2, 3, 4)], {"axes": [1], "keepdims": 0}, 1),
    ("reducesum-axes", "ReduceSum", [r(2, 3, 4), C([0, 2])], {}, 1),
    ("reducesum-all", "ReduceSum", [r(2, 3, 4)], {"keepdims": 0}, 1),
    ("reshape", "Reshape", [r(2, 3, 4), C([0, -1])], {}, 1),
    ("flatten-0", "Flatten", [r(2, 3, 4)], {"axis": 0}, 1),
    ("flatten-2", "Flatten", [r(2, 3, 4)], {"axis": 2}, 1),
    ("transpose", "Transpose", [r(2, 3, 4)], {"perm": [2, 0, 1]}, 1),
    ("transpose-default", "Transpose", [r(2, 3, 4)], {}, 1),
    ("squeeze-axes", "Squeeze", [r(2, 1, 4, 1), C([1])], {}, 1),
    ("squeeze-all", "Squeeze", [r(2, 1, 4, 1)], {}, 1),
    ("unsqueeze", "Unsqueeze", [r(2, 3), C([0, -1])], {}, 1),
    ("concat", "Concat", [r(2, 3), C(r(2, 1)), r(2, 2)], {"axis": -1}, 1),
    ("split-sizes", "Split", [r(2, 4, 3), C([1, 3])], {"axis": 1}, 2),
    ("split-equal", "Split", [r(6, 2)], {}, 3),
    ("slice-negative-step", "Slice", [r(5, 6), C([-1, 0]), C([-1000, 10]), C([0, 1]),
                                      C([-2, 2])], {}, 1),
    ("slice-defaults", "Slice", [r(5, 6), C([1]), C([-1])], {}, 1),
    ("gather-axis1", "Gather", [r(3, 4, 2), C([[0, -1], [1, 2]])], {"axis": 1}, 1),
    ("gather-embedding", "Gather", [C(r(10, 4)), C([[1, 9, -2]])], {}, 1),
    ("expand", "Expand", [r(3, 1), C([2, 1, 4])], {}, 1),
    ("cumsum", "CumSum", [r(3, 4), C(1)], {}, 1),
    ("cumsum-exclusive-reverse", "CumSum", [r(3, 4), C(-2)], {"exclusive": 1, "reverse": 1}, 1),
    ("topk", "TopK", [r(3, 5), C([2])], {}, (1, 7)),
    ("topk-smallest-axis0", "TopK", [r(4, 3), C([3])], {"axis": 0, "largest": 0}, (1, 7)),
    ("argmax-ties", "ArgMax", [HALVES], {"axis": 1, "keepdims": 0}, (7,)),
    ("argmin-last-index", "ArgMin", [HALVES], {"select_last_index": 1}, (7,)),
    ("einsum", "Einsum", [r(2, 3, 4), C(r(4, 5))], {"equation": "bij,jk->bik"}, 1),
    ("einsum-diagonal", "Einsum", [r(2, 3, 3)], {"equation": "...ii ->...i"}, 1),
    ("tile", "Tile", [r(2, 3), C([2, 1])], {}, 1),
    ("lstm-bidirectional", "LSTM", [r(5, 3, 4), *_lstm_weights(4, 2, 6, 4),
                                    C([5, 2, 4], np.int32), r(2, 3, 6), r(2, 3, 6)],
     {"hidden_size": 6, "direction": "bidirectional"}, 3),
    ("gru-reverse", "GRU", [r(5, 3, 4), *_lstm_weights(3, 1, 6, 4), None, r(1, 3, 6)],
     {"hidden_size": 6, "direction": "reverse", "linear_before_reset": 1}, 2),
    ("rnn-relu", "RNN", [r(5, 3, 4), *_lstm_weights(1, 2, 6, 4)],
     {"hidden_size": 6, "direction": "bidirectional", "activations": ["Relu", "Relu"]}, 2),
    ("sin", "Sin", [r(3, 4)], {}, 1),
    ("cos", "Cos", [r(3, 4)], {}, 1),
    ("asin", "Asin", [np.tanh(r(3, 4))], {}, 1),
    ("acos", "Acos", [np.tanh(r(3, 4))], {}, 1),
    ("atan", "Atan", [r(3, 4) * 3], {}, 1),
    ("sinh", "Sinh", [r(3, 4)], {}, 1),
    ("cosh", "Cosh", [r(3, 4)], {}, 1),
    ("reciprocal", "Reciprocal", [pos(3, 4)], {}, 1),
    ("floor", "Floor", [HALVES], {}, 1),
    ("ceil", "Ceil", [HALVES], {}, 1),
    ("round", "Round", [HALVES], {}, 1),
    ("sign", "Sign", [HALVES], {}, 1),
    ("is-nan", "IsNaN", [SPECIAL], {}, (9,)),
    ("is-inf-positive", "IsInf", [SPECIAL], {"detect_negative": 0}, (9,)),
    ("equal", "Equal", [HALVES, C(HALVES[0])], {}, (9,)),
    ("less", "Less", [HALVES, HALVES[::-1]], {}, (9,)),
    ("greater", "Greater", [HALVES, C(0.0)], {}, (9,)),
    ("less-or-equal", "LessOrEqual", [HALVES, HALVES[::-1]], {}, (9,)),
    ("greater-or-equal", "GreaterOrEqual", [HALVES, HALVES[::-1]], {}, (9,)),
    ("and", "And", [HALVES > 0, HALVES < 1], {}, (9,)),
    ("or", "Or", [HALVES > 0, C(HALVES[0] < 0, np.bool_)], {}, (9,)),
    ("xor", "Xor", [HALVES > 0, HALVES[::-1] > 0], {}, (9,)),
    ("not", "Not", [HALVES > 0], {}, (9,)),
    ("where", "Where", [HALVES > 0, r(3, 4), C(r(4))], {}, 1),
    ("mod-fmod", "Mod", [r(3, 4) * 5, C(pos(4))], {"fmod": 1}, 1),
    ("mod-integers", "Mod", [np.array([-7, 7, -7, 7]), C([3, 3, -3, -3])], {}, (7,)),
    ("gather-elements", "GatherElements", [r(3, 4), C([[2, -1, 0, 1], [0, 0, 1, 2]])],
     {"axis": 0}, 1),
    ("scatter-elements-add", "ScatterElements",
     [r(3, 4), C([[1, 1, 0], [2, -1, 0]]), r(2, 3)], {"axis": 1, "reduction": "add"}, 1),
    ("scatter-elements", "ScatterElements", [r(3, 4), C([[2, 0, 1, 1]]), r(1, 4)], {}, 1),
    ("trilu-lower", "Trilu", [r(2, 4, 5), C(1)], {"upper": 0}, 1),
    ("trilu-upper", "Trilu", [r(4, 5)], {}, 1),
    ("pad-constant-crop", "Pad", [r(2, 3, 4), C([0, -1, 2, 1, 0, -1]), C(2.5)], {}, 1),
    ("pad-reflect", "Pad", [r(2, 3, 4), C([0, 1, 2, 0, 2, 3])], {"mode": "reflect"}, 1),
    ("pad-edge", "Pad", [r(2, 3), C([1, 0, 2, 3])], {"mode": "edge"}, 1),
    ("reduceprod-attribute", "ReduceProd", [pos(2, 3, 4)], {"axes": [0, 2], "keepdims": 0}, 1),
    ("reduceprod-all", "ReduceProd", [pos(2, 3)], {}, 1),
]

_ONNX_TYPES = {np.dtype(np.float32): 1, np.dtype(np.int64): 7, np.dtype(np.int32): 6,
               np.dtype(np.bool_): 9}


def _one_node_model(op, inputs, attrs, outputs, out_type=1):
    helper = onnx.helper
    names, graph_inputs, initializers, feeds = [], [], [], {}
    for i, value in enumerate(inputs):
        name = f"in{i}"
        if value is None:
            names.append("")
            continue
        names.append(name)
        if isinstance(value, C):
            initializers.append(onnx.numpy_helper.from_array(value.array, name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, _ONNX_TYPES[value.dtype],
                                                              value.shape))
            feeds[name] = value
    out_types = list(outputs) if isinstance(outputs, tuple) else [out_type] * outputs
    out_names = [f"out{i}" for i in range(len(out_types))]
    node = helper.make_node(op, names, out_names, name="the_node", **attrs)
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_tensor_value_info(n, t, None)
                               for n, t in zip(out_names, out_types)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model), feeds  # the output shapes


def _compare(tmp_path, model, feeds):
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None,
                                                                                      feeds)
    module = from_onnx(path)
    got = module(*feeds.values())
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-5, atol=1e-5)
    return module


@pytest.mark.parametrize(("op", "inputs", "attrs", "outputs"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_kernel_matches_onnxruntime(tmp_path, op, inputs, attrs, outputs):
    _compare(tmp_path, *_one_node_model(op, inputs, attrs, outputs))


def test_batch_first_recurrent_layout(tmp_path):
    # onnxruntime has no layout=1: compare with its layout=0 on the transposed sequence
    x, (w, r_, b) = r(3, 5, 4), _lstm_weights(4, 1, 6, 4)
    h0 = r(1, 3, 6)
    model, feeds = _one_node_model("LSTM", [x.transpose(1, 0, 2), w, r_, b, None, h0],
                                   {"hidden_size": 6}, 3)
    path = tmp_path / "seq_first.onnx"
    onnx.save(model, str(path))
    y, h, c = ort.InferenceSession(str(path)).run(None, feeds)
    batch_first = GraphModule(_graph(
        [Node("LSTM", ["x", "W", "R", "B", "", "h0"], ["y", "h", "c"], {"layout": 1})],
        [("x", (3, 5, 4), "float32"), ("h0", (3, 1, 6), "float32")],
        {"W": w.array, "R": r_.array, "B": b.array}, ("y", "h", "c")))
    got = batch_first(x, h0.transpose(1, 0, 2))
    for g, e in zip(got, (y.transpose(2, 0, 1, 3), h.transpose(1, 0, 2), c.transpose(1, 0, 2))):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-5, atol=1e-5)


def test_every_kernel_is_tested():
    # Cast, QuantizeLinear and DequantizeLinear: test_import_qdq.py
    others = {"Shape", "Size", "ConstantOfShape", "Cast", "QuantizeLinear", "DequantizeLinear"}
    assert {case[1] for case in CASES} | others == set(KERNELS)


def test_every_operator_of_the_graph_format_has_a_kernel():
    # GraphModule relies on it: Graph.check() admits exactly these operators.
    assert set(OPS) == set(KERNELS)


@pytest.mark.parametrize(("attrs", "expected"), [({}, [2, 3, 4, 5]),
                                                 ({"start": 1, "end": -1}, [3, 4])])
def test_shape(tmp_path, attrs, expected):
    model, feeds = _one_node_model("Shape", [r(2, 3, 4, 5)], attrs, 1, out_type=7)
    assert _compare(tmp_path, model, feeds)(*feeds.values()).tolist() == expected


def test_size(tmp_path):
    model, feeds = _one_node_model("Size", [r(2, 3, 4)], {}, 1, out_type=7)
    assert _compare(tmp_path, model, feeds)(*feeds.values()).tolist() == 24


@pytest.mark.parametrize(("value", "out_type"), [(1.5, 1), (7, 7)])
def test_constant_of_shape(tmp_path, value, out_type):
    dtype = np.float32 if isinstance(value, float) else np.int64
    attrs = {"value": onnx.numpy_helper.from_array(np.array([value], dtype))}
    model, _ = _one_node_model("ConstantOfShape", [C([2, 3])], attrs, 1, out_type=out_type)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    y = from_onnx(path)()
    assert y.dtype == dtype and y.tolist() == np.full((2, 3), value).tolist()


def test_erf_gradient():
    x = dg.tensor(np.linspace(-3, 3, 13), dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(dg.erf, [x])


def _graph(nodes, inputs, initializers, outputs=("y",)):
    return Graph([Value(name, shape, "float64" if dtype is None else dtype)
                  for name, shape, dtype in inputs],
                 [Value(name, (), "float64") for name in outputs], nodes, initializers)


def test_gradients_through_kernels_match_finite_differences():
    # float64 weights: every kernel on the way must pass gradients through correctly
    w = {"W": rng.standard_normal((1, 12, 6)), "R": rng.standard_normal((1, 12, 3)),
         "conv_w": rng.standard_normal((2, 3, 3, 3)), "lengths": np.array([2, 4], np.int32),
         "starts": np.array([-1]), "ends": np.array([-100]), "axes": np.array([3]),
         "steps": np.array([-2]), "shape": np.array([4, 2, -1])}
    nodes = [
        Node("ConvTranspose", ["x", "conv_w"], ["c"], {"strides": [2, 2], "pads": [0, 1, 1, 0]}),
        Node("Erf", ["c"], ["e"]),
        Node("Slice", ["e", "starts", "ends", "axes", "steps"], ["s"]),
        Node("Reshape", ["s", "shape"], ["seq"]),
        Node("LSTM", ["seq", "W", "R", "", "lengths"], ["y", "h"], {"hidden_size": 3}),
    ]
    module = GraphModule(_graph(nodes, [("x", (2, 2, 2, 2), None)], w, ("y", "h")))
    assert {name for name, _ in module.named_parameters()} == {"W", "R", "conv_w"}
    x = dg.tensor(rng.standard_normal((2, 2, 2, 2)), requires_grad=True)
    assert dg.gradcheck(lambda t: module(t), [x])


def test_gradients_through_scan_sort_einsum_and_tile_match_finite_differences():
    w = {"axis": np.array(1), "k": np.array([3]), "reps": np.array([1, 2]),
         "m": rng.standard_normal((6, 4))}
    nodes = [
        Node("Tile", ["x", "reps"], ["t"]),
        Node("CumSum", ["t", "axis"], ["c"], {"exclusive": 1, "reverse": 1}),
        Node("Einsum", ["c", "m"], ["e"], {"equation": "bi,ij->bj"}),
        Node("TopK", ["e", "k"], ["y", "indices"], {"largest": 0}),
    ]
    module = GraphModule(_graph(nodes, [("x", (2, 3), None)], w, ("y", "indices")))
    x = dg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert dg.gradcheck(lambda t: module(t)[0], [x])


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_gradients_match_finite_differences(mode):
    scales = np.array([1, 1, 1.5, 0.75], np.float32)
    nodes = [Node("Resize", ["x", "", "scales"], ["y"], {"mode": mode})]
    module = GraphModule(_graph(nodes, [("x", (2, 2, 3, 4), None)], {"scales": scales}))
    x = dg.tensor(rng.standard_normal((2, 2, 3, 4)), requires_grad=True)
    assert module(x).shape == (2, 2, 4, 3)
    assert dg.gradcheck(lambda t: module(t), [x])


def test_a_prelu_slope_is_a_parameter_with_its_gradient():
    """PRelu's slope trains, even PyTorch's default single one (a one-element operand of Mul
    would be a constant of a formula)."""
    nodes = [Node("HardSwish", ["x"], ["h"]), Node("PRelu", ["h", "slope"], ["y"])]
    module = GraphModule(_graph(nodes, [("x", (4, 3), None)], {"slope": np.array([0.25])}))
    assert [name for name, _ in module.named_parameters()] == ["slope"]
    x = dg.tensor(rng.standard_normal((4, 3)) * 4, requires_grad=True)
    module(x).sum().backward()
    h = x.numpy() * np.clip(x.numpy() / 6 + 0.5, 0, 1)
    np.testing.assert_allclose(module.slope.grad.numpy(), [np.minimum(h, 0).sum()])
    assert dg.gradcheck(lambda t: module(t), [x])


def test_parameters_buffers_and_constants():
    initializers = {
        "fc.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "fc_weight": rng.standard_normal(4).astype(np.float32),  # collides once sanitized
        "training": rng.standard_normal(4).astype(np.float32),  # a Module attribute
        "half": np.array(0.5, np.float32),
        "scale": np.ones(4, np.float32), "shift": np.zeros(4, np.float32),
        "mean": np.zeros(4, np.float32), "var": np.ones(4, np.float32),
        "shape": np.array([0, 4, 1]),
    }
    nodes = [
        Node("Gemm", ["x", "fc.weight"], ["a"], {"transB": 1}),
        Node("Add", ["a", "fc_weight"], ["b"]),
        Node("Mul", ["b", "training"], ["c"]),
        Node("Mul", ["c", "half"], ["d"]),
        Node("Reshape", ["d", "shape"], ["e"]),
        Node("BatchNormalization", ["e", "scale", "shift", "mean", "var"], ["y"]),
    ]
    graph = _graph(nodes, [("x", (None, 3), "float32")], initializers)
    module = GraphModule(graph)
    assert module.initializer_names == {
        "fc.weight": "fc_weight", "fc_weight": "fc_weight_", "training": "training_",
        "scale": "scale", "shift": "shift", "mean": "mean", "var": "var"}
    assert [name for name, _ in module.named_parameters()] == [
        "fc_weight", "fc_weight_", "training_", "scale", "shift"]
    assert [name for name, _ in module.named_buffers()] == ["mean", "var"]
    assert module.training is False
    x = rng.standard_normal((5, 3)).astype(np.float32)
    expected = ((x @ initializers["fc.weight"].T + initializers["fc_weight"])
                * initializers["training"] * 0.5) / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(module(x).numpy(), expected[:, :, None], rtol=1e-5, atol=1e-6)
    module.train()
    module(x)  # batch statistics update the running ones
    assert not np.allclose(module.mean.numpy(), 0)
    assert set(module.state_dict()) == {"fc_weight", "fc_weight_", "training_", "scale",
                                        "shift", "mean", "var"}
    np.testing.assert_array_equal(module.to_graph().initializers["mean"], module.mean.numpy())
    module.double().eval()
    assert module(x).dtype == np.float64


def test_input_errors_name_the_input():
    module = GraphModule(_graph([Node("Relu", ["x"], ["y"])], [("x", (None, 3), "float32")],
                                {}))
    with pytest.raises(TypeError, match=r"GraphModule expects 1 input\(s\) \(x\); got 2"):
        module(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(dg.ShapeError, match=r"GraphModule input 'x' expects shape \(\*, 3\); got "
                                            r"\(2, 4\)"):
        module(np.ones((2, 4)))


def test_a_failing_node_is_named():
    graph = _graph([Node("Reshape", ["x", "shape"], ["y"], name="to_rows")],
                   [("x", (None, 3), "float32")], {"shape": np.array([5, -1])})
    with pytest.raises(dg.ShapeError, match=r"node 0 \(Reshape in 'to_rows'\): reshape: cannot "
                                            r"reshape a tensor of shape \(2, 3\)"):
        GraphModule(graph)(np.ones((2, 3)))


def test_unsupported_operators_and_attributes():
    graph = _graph([Node("Tan", ["x"], ["y"], name="t")], [("x", (2,), "float32")], {})
    with pytest.raises(ValueError, match=r"node 0 \(Tan in 't'\): unsupported operator 'Tan'"):
        GraphModule(graph)
    weights = {"W": np.ones((1, 9, 2), np.float32), "R": np.ones((1, 9, 3), np.float32)}
    graph = _graph([Node("GRU", ["x", "W", "R"], ["y"], {"linear_before_reset": 0}, "g")],
                   [("x", (4, 1, 2), "float32")], weights)
    with pytest.raises(ValueError, match=r"node 0 \(GRU in 'g'\): GRU: only "
                                         r"linear_before_reset=1 \(PyTorch's GRU\)"):
        GraphModule(graph)(np.ones((4, 1, 2)))


def test_dropout_follows_the_module_mode():
    graph = _graph([Node("Dropout", ["x", "ratio"], ["y"])], [("x", (100, 10), "float32")],
                   {"ratio": np.array(0.25, np.float32)})
    module = GraphModule(graph)
    x = np.ones((100, 10), np.float32)
    np.testing.assert_array_equal(module(x).numpy(), x)
    y = module.train()(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert 0.15 < (y == 0).mean() < 0.35


def test_unsupported_outputs_are_named():
    graph = _graph([Node("MaxPool", ["x"], ["y", "indices"], {"kernel_shape": [2, 2]}, "pool")],
                   [("x", (1, 1, 4, 4), "float32")], {}, ("y", "indices"))
    with pytest.raises(ValueError, match=r"node 0 \(MaxPool in 'pool'\): MaxPool: output 1 "
                                         r"\(the indices\) is not supported"):
        GraphModule(graph)(np.ones((1, 1, 4, 4)))


_MUTANT_OPS = [*sorted(KERNELS), "Tan", "Loop"]


def test_fuzzed_graphs_raise_only_deepgrads_errors(tmp_path):
    # Valid protobuf, wrong content: other operators, attribute values, inputs and shapes.
    hypothesis = pytest.importorskip("hypothesis", reason="the fuzz test needs hypothesis")
    st = hypothesis.strategies
    path = tmp_path / "mutant.onnx"
    outcomes = {"refused": 0, "ran": 0, "failed": 0}

    @hypothesis.settings(max_examples=600, deadline=None, database=None, derandomize=True)
    @hypothesis.given(st.sampled_from(CASES), st.data())
    def check(case, data):
        model, feeds = _one_node_model(*case[1:])
        node, graph = model.graph.node[0], model.graph
        for _ in range(data.draw(st.integers(1, 3))):
            what = data.draw(st.sampled_from(["op", "attribute", "input", "dims"]))
            if what == "op":
                node.op_type = data.draw(st.sampled_from(_MUTANT_OPS))
            elif what == "attribute" and node.attribute:
                attribute = data.draw(st.sampled_from(list(node.attribute)))
                small = st.integers(-3, 8)
                if attribute.type == onnx.AttributeProto.INT:
                    attribute.i = data.draw(small)
                elif attribute.type == onnx.AttributeProto.INTS and attribute.ints:
                    attribute.ints[data.draw(st.integers(0, len(attribute.ints) - 1))] = \
                        data.draw(small)
                elif attribute.type == onnx.AttributeProto.FLOAT:
                    attribute.f = data.draw(st.floats(-3, 3))
            elif what == "input" and node.input:
                names = ["", *feeds, *(t.name for t in graph.initializer)]
                node.input[data.draw(st.integers(0, len(node.input) - 1))] = \
                    data.draw(st.sampled_from(names))
            elif what == "dims" and graph.initializer:
                tensor = data.draw(st.sampled_from(list(graph.initializer)))
                array = onnx.numpy_helper.to_array(tensor)
                shape = data.draw(st.lists(st.integers(0, 4), max_size=3))
                resized = np.resize(array, shape) if array.size else np.zeros(shape, array.dtype)
                tensor.CopyFrom(onnx.numpy_helper.from_array(resized, tensor.name))
        path.write_bytes(model.SerializeToString())
        try:
            module = from_onnx(path)
        except ValueError:
            outcomes["refused"] += 1
            return
        try:
            with np.errstate(all="ignore"):  # mutated weights may well give NaNs
                module(*feeds.values())
        except (ValueError, TypeError, IndexError):
            outcomes["failed"] += 1
        else:
            outcomes["ran"] += 1

    check()
    assert min(outcomes.values()) > 0, outcomes
