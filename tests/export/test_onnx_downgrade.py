"""ONNX models of opsets 18-21 with Pad (an axes input, reflect and edge modes) and Split
(num_outputs, even and uneven), which ONNX's version converter cannot take to opset 17: imported
by deepgrad and run as onnxruntime runs them."""

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
