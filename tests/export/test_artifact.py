"""The runtime artifact: what to_runtime writes (a simplified graph: batch norms folded, no
Identity), its save/load round trip, and the folded graph's numbers (checked through ONNX and
onnxruntime, the oracle; the runtime's own execution is tested with the runtime)."""

import argparse

import numpy as np
import pytest
from helpers import with_statistics

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export.artifact import simplify, to_runtime
from deepgrad.export.trace import trace
from deepgrad_runtime.graph import GRAPH_KEY, load_artifact, save_artifact
from deepgrad_runtime.safetensors import load_file


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _same_graph(a, b):
    assert a.inputs == b.inputs and a.outputs == b.outputs and a.metadata == b.metadata
    assert [(n.op, n.inputs, n.outputs, n.attrs, n.name) for n in a.nodes] == [
        (n.op, n.inputs, n.outputs, n.attrs, n.name) for n in b.nodes]
    assert sorted(a.initializers) == sorted(b.initializers)  # safetensors orders them itself
    for name, array in a.initializers.items():
        assert b.initializers[name].dtype == array.dtype
        np.testing.assert_array_equal(b.initializers[name], array)


def run_with_onnxruntime(graph, x):
    """The graph's output for ``x`` by onnxruntime (one thread), through the ONNX export."""
    pytest.importorskip("onnx", reason="checking graphs numerically needs deepgrad[onnx]")
    ort = pytest.importorskip("onnxruntime", reason="checking graphs needs deepgrad[onnx]")
    from deepgrad.export.onnx_export import graph_to_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    run = ort.InferenceSession(graph_to_onnx(graph).SerializeToString(), options,
                               providers=["CPUExecutionProvider"])
    return run.run(None, {graph.inputs[0].name: x})[0]


def _expected(model, x):
    model.eval()
    with dg.no_grad():
        return model(dg.tensor(x)).numpy()


def test_cnn_artifact_contents(tmp_path):
    model = with_statistics(dg.models.cnn(widths=(4, 8)))
    path = to_runtime(model, tmp_path / "cnn.runtime.safetensors", _x(2, 1, 28, 28),
                      metadata={"classes": "[]"})
    assert path == tmp_path / "cnn.runtime.safetensors"
    graph = load_artifact(path)
    assert [n.op for n in graph.nodes] == ["Conv", "MaxPool", "Relu", "Conv", "MaxPool", "Relu",
                                           "Reshape", "Gemm", "Relu", "Gemm"]
    assert graph.inputs[0].shape == (None, 1, 28, 28) and graph.outputs[0].shape == (None, 10)
    assert graph.metadata == {"producer": "deepgrad", "model": "CNN", "classes": "[]"}
    conv = graph.nodes[0]
    assert conv.inputs[1:] == ["features.0.weight.folded", "features.1.bias.folded"]
    assert "features.1.running_mean" not in graph.initializers  # unused ones are dropped
    bn = model.features[1]
    scale = bn.weight.numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
    np.testing.assert_allclose(graph.initializers["features.0.weight.folded"],
                               model.features[0].weight.numpy() * scale[:, None, None, None],
                               rtol=1e-6)
    np.testing.assert_array_equal(graph.initializers["classifier.5.weight"],
                                  model.classifier[5].weight.numpy())
    arrays, metadata = load_file(path)  # a plain safetensors file: weights + graph JSON
    assert set(arrays) == set(graph.initializers) and GRAPH_KEY in metadata


def test_save_and_load_give_the_same_graph(tmp_path):
    model = with_statistics(dg.models.resnet(8, width=4))
    graph = simplify(trace(model, _x(2, 1, 28, 28)))
    _same_graph(graph, load_artifact(save_artifact(graph, tmp_path / "a.safetensors")))
    written = load_artifact(to_runtime(model, tmp_path / "b.safetensors", _x(3, 1, 28, 28)))
    _same_graph(graph, written)


@pytest.mark.parametrize("name", ["cnn", "resnet", "mobilenet", "mlp batch norm"])
def test_folded_graph_computes_the_same(name):
    dg.manual_seed(0)
    model, shape = {
        "cnn": (dg.models.cnn(widths=(4, 8)), (1, 28, 28)),
        "resnet": (dg.models.resnet(8, width=4), (1, 28, 28)),
        "mobilenet": (dg.models.mobilenet(0.25), (1, 28, 28)),
        "mlp batch norm": (nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                         nn.Dropout(0.3), nn.Linear(8, 3)), (6,)),
    }[name]
    graph = simplify(trace(with_statistics(model), _x(2, *shape)))
    assert not {"BatchNormalization", "Identity", "Dropout"} & {n.op for n in graph.nodes}
    for batch in (1, 17):
        x = _x(batch, *shape, seed=batch)
        np.testing.assert_allclose(run_with_onnxruntime(graph, x), _expected(model, x),
                                   rtol=1e-5, atol=1e-5)


def test_batch_norm_stays_where_folding_would_be_wrong():
    class Shared(nn.Module):
        """The convolution's output feeds the batch norm and the sum."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    model = with_statistics(Shared())
    graph = simplify(trace(model, _x(2, 2, 5, 5)))
    assert [n.op for n in graph.nodes] == ["Conv", "BatchNormalization", "Add"]
    x = _x(4, 2, 5, 5, seed=1)
    np.testing.assert_allclose(run_with_onnxruntime(graph, x), _expected(model, x), rtol=1e-5,
                               atol=1e-5)


def test_identity_defining_an_output_stays(tmp_path):
    graph = load_artifact(to_runtime(nn.Sequential(nn.Identity(), nn.Dropout()),
                                     tmp_path / "id.safetensors", _x(2, 3)))
    assert [(n.op, n.inputs, n.outputs) for n in graph.nodes] == [
        ("Identity", ["input"], ["output"])]


def test_example_input_is_guessed_from_the_first_layer(tmp_path):
    for model, shape in [(dg.models.mlp((784, 16, 10)), (None, 784)),
                         (dg.models.cnn(widths=(4,)), (None, 1, 28, 28)),
                         (nn.Sequential(nn.Embedding(9, 3), nn.Flatten()), (None, 8)),
                         (nn.GRU(3, 4, batch_first=True), (None, 8, 3))]:
        graph = load_artifact(to_runtime(model, tmp_path / "m.safetensors"))
        assert graph.inputs[0].shape == shape
    with pytest.raises(ValueError, match="cannot tell the input shape of a ReLU"):
        to_runtime(nn.ReLU(), tmp_path / "r.safetensors")
    with pytest.raises(ValueError, match="cannot tell the input shape of a Sequential"):
        to_runtime(nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2)), tmp_path / "b.safetensors")
    with pytest.raises(ValueError, match=r"guessed input of shape \(1, 1, 28, 28\) failed"):
        to_runtime(dg.models.cnn(image_size=32), tmp_path / "c.safetensors")


def test_export_command_writes_an_artifact(tmp_path, capsys):
    from deepgrad.cli import build_model, save_model
    from deepgrad.export.export_cli import add_export_parser

    parser = argparse.ArgumentParser(prog="deepgrad")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    model = build_model("mlp")
    config = {"model": "mlp", "in_channels": 1, "classes": list("abcdefghij")}
    model_file = save_model(model, tmp_path / "model.safetensors", config)
    args = parser.parse_args(["export", str(model_file), "--format", "runtime"])
    assert args.run(args) == 0
    graph = load_artifact(tmp_path / "model.runtime.safetensors")
    assert graph.inputs[0].shape == (None, 1, 28, 28)
    assert '"classes"' in graph.metadata["deepgrad.model"]
    out = tmp_path / "other.safetensors"
    args = parser.parse_args(["export", str(model_file), "--format", "runtime", "--out",
                              str(out)])
    assert args.run(args) == 0 and out.exists()
    foreign = dg.save(model, tmp_path / "weights.safetensors")  # weights without a config
    args = parser.parse_args(["export", str(foreign), "--format", "runtime"])
    assert args.run(args) == 1
    assert "not written by 'deepgrad train'" in capsys.readouterr().err


def test_export_command_converts_an_onnx_file(tmp_path, capsys):
    """A model trained elsewhere, as an ONNX file, becomes a runtime artifact that computes
    what the model does; other formats and --int8 are refused in one line."""
    pytest.importorskip("onnx", reason="ONNX import needs `pip install 'deepgrad[onnx]'`")
    from deepgrad.export.export_cli import add_export_parser

    parser = argparse.ArgumentParser(prog="deepgrad")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    model = dg.models.cnn(widths=(4,)).eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    onnx_file = dg.export.to_onnx(model, x, tmp_path / "net.onnx")
    args = parser.parse_args(["export", str(onnx_file), "--format", "runtime"])
    assert args.run(args) == 0
    assert "net.runtime.safetensors" in capsys.readouterr().out
    artifact = deepgrad_runtime.load(tmp_path / "net.runtime.safetensors")
    with dg.no_grad():
        np.testing.assert_allclose(artifact.run(x), model(x).numpy(), rtol=1e-5, atol=1e-5)
    for extra, message in ((["--format", "onnx"], "is an ONNX file already"),
                           (["--format", "runtime", "--int8"], "an ONNX file converts as it is")):
        args = parser.parse_args(["export", str(onnx_file), *extra])
        assert args.run(args) == 1
        assert message in capsys.readouterr().err
