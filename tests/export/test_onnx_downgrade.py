"""ONNX models of opsets 18-21 with Pad (an axes input, reflect and edge modes), Split
(num_outputs, even and uneven) and Gelu, which ONNX's version converter cannot take to opset 17:
imported by deepgrad and run as onnxruntime runs them."""

import math
import warnings

import numpy as np
import pytest

from deepgrad.export.onnx_import import from_onnx

onnx = pytest.importorskip("onnx", reason="ONNX import needs `pip install 'deepgrad[onnx]'`")
ort = pytest.importorskip("onnxruntime", reason="the reference runs need onnxruntime "
                                                "(`pip install 'deepgrad[onnx]'`)")
helper, TensorProto = onnx.helper, onnx.TensorProto
SHAPE = [2, 3, 5, 6]


def _ints(name, values):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def _model(nodes, outputs, initializers, opset):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, SHAPE)], [helper.make_tensor_value_info(
            name, TensorProto.FLOAT, ["a", "b", "c", "d"]) for name in outputs], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


CASES = {
    "pad reflect": ([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")],
                    ["y"], [_ints("p", [0, 0, 1, 2, 0, 0, 2, 1])]),
    "pad constant value": ([helper.make_node("Pad", ["x", "p", "v"], ["y"])], ["y"],
                           [_ints("p", [0, 1, 0, 1, 0, 0, 1, 0]),
                            helper.make_tensor("v", TensorProto.FLOAT, [], [0.5])]),
    "pad axes": ([helper.make_node("Pad", ["x", "p", "", "a"], ["y"], mode="edge")], ["y"],
                 [_ints("p", [1, 2, 3, 0]), _ints("a", [-1, 2])]),
    "pad axes from a Constant node": (
        [helper.make_node("Constant", [], ["a"], value=_ints("a_value", [1])),
         helper.make_node("Pad", ["x", "p", "", "a"], ["y"])], ["y"], [_ints("p", [2, 1])]),
    "split even": ([helper.make_node("Split", ["x"], ["y", "z"], axis=-1, num_outputs=2)],
                   ["y", "z"], []),
    "split uneven": ([helper.make_node("Split", ["x"], ["y", "z"], axis=2, num_outputs=2)],
                     ["y", "z"], []),
    "split sizes": ([helper.make_node("Split", ["x", "s"], ["y", "z"], axis=1)], ["y", "z"],
                    [_ints("s", [1, 2])]),
    "pad then split then relu": (
        [helper.make_node("Pad", ["x", "p"], ["h"]),
         helper.make_node("Split", ["h"], ["s0", "s1", "s2"], axis=3, num_outputs=3),
         helper.make_node("Relu", ["s2"], ["y"])], ["y", "s0"],
        [_ints("p", [0, 0, 0, 0, 0, 0, 0, 2])]),
}


@pytest.mark.parametrize("opset", [18, 19, 21])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_onnxruntime(tmp_path, case, opset):
    nodes, outputs, initializers = CASES[case]
    path = tmp_path / "model.onnx"
    onnx.save(_model(nodes, outputs, initializers, opset), str(path))
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    ours = from_onnx(path)(x)
    ours = ours if isinstance(ours, (tuple, list)) else (ours,)
    assert len(ours) == len(expected)
    for got, want in zip(ours, expected):
        np.testing.assert_array_equal(got.numpy(), want)


def test_wrap_padding_is_refused_naming_the_node(tmp_path):
    path = tmp_path / "wrap.onnx"
    node = helper.make_node("Pad", ["x", "p"], ["y"], mode="wrap", name="ring")
    onnx.save(_model([node], ["y"], [_ints("p", [0, 0, 1, 1, 0, 0, 1, 1])], 19), str(path))
    with pytest.raises(ValueError, match=r"wrap\.onnx: node 0 \(Pad in 'ring'\): mode 'wrap' "
                                         r"\(opset 19\) is not supported"):
        from_onnx(path)


@pytest.mark.parametrize("opset", [18, 19, 20])  # torch's TorchScript exporter stops at 20
def test_a_torch_export_with_reflection_padding(torch, tmp_path, opset):
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pad = torch.nn.ReflectionPad2d((1, 2, 0, 1))
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            a, b = torch.chunk(self.conv(self.pad(x)), 2, dim=1)
            return torch.relu(a) * b

    torch.manual_seed(0)
    model = Model().eval()
    path = tmp_path / "torch.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(*SHAPE), str(path), dynamo=False,
                          opset_version=opset, input_names=["x"])
    assert "Pad" in {n.op_type for n in onnx.load(str(path)).graph.node}
    x = torch.randn(*SHAPE)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(from_onnx(path)(x.numpy()).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("opset", [20, 21])
@pytest.mark.parametrize("approximate", [None, "none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_of_opset_20_is_written_in_opset_17_operators(tmp_path, opset, approximate, dtype):
    """Gelu, new in opset 20 (PyTorch's default exporter writes it for nn.GELU), becomes the
    operators of its formula, its constants in the input's type, the nodes after it intact."""
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    options = {} if approximate is None else {"approximate": approximate}
    nodes = [helper.make_node("Gelu", ["x"], ["g"], name="act", **options),
             helper.make_node("Neg", ["g"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, [4, 50])],
                              [helper.make_tensor_value_info("y", elem, [4, 50])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    x = np.random.default_rng(0).uniform(-6, 6, (4, 50)).astype(dtype)
    path = tmp_path / "gelu.onnx"
    onnx.save(model, str(path))
    got = from_onnx(path)(x).numpy()
    assert got.dtype == dtype
    t = x.astype(np.float64)
    if approximate == "tanh":
        formula = 0.5 * t * (1 + np.tanh(math.sqrt(2 / math.pi) * (t + 0.044715 * t ** 3)))
    else:
        formula = 0.5 * t * (1 + np.vectorize(math.erf)(t / math.sqrt(2)))
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, -formula, rtol=tolerance, atol=tolerance)
    if dtype == np.float32:  # onnxruntime computes float64 Gelu in float32's precision
        expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_layer_norm_statistics_in_another_type_are_refused(tmp_path):
    node = helper.make_node("LayerNormalization", ["x", "scale"], ["y"], stash_type=11,
                            name="norm")
    model = _model([node], ["y"], [helper.make_tensor("scale", TensorProto.FLOAT, [6],
                                                      np.ones(6))], 18)
    path = tmp_path / "stash.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match=r"stash\.onnx: node 0 \(LayerNormalization in 'norm'\): "
                                         r"a stash_type other than 1 \(the statistics in float32\) "
                                         r"is not supported"):
        from_onnx(path)
