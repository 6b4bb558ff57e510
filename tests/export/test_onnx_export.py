"""ONNX export: every dg.nn layer and every dg.models model passes onnx.checker (full check) and
onnxruntime (one thread) matches deepgrad's eval output for batch sizes 1 and 17; so do the
round trips: the ONNX file imported back (``from_onnx``) and the runtime artifact run by
``deepgrad_runtime``."""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import Head, with_statistics

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export.artifact import simplify
from deepgrad.export.onnx_export import graph_to_onnx, to_onnx
from deepgrad.export.onnx_import import from_onnx
from deepgrad.export.trace import ExportError, trace
from deepgrad.nn.models.charlm import CharLM
from deepgrad_runtime.graph import save_artifact

onnx = pytest.importorskip("onnx", reason="ONNX export tests need pip install 'deepgrad[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="ONNX export tests need pip install 'deepgrad[onnx]'")

RTOL = ATOL = 1e-5


def session(proto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def _flat(output):
    if isinstance(output, dg.Tensor):
        return [output.numpy()]
    return [a for item in output for a in _flat(item)]


def _inputs(shapes, batch, batch_axes, seed, high=None, dtype=np.float32):
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, axis in zip(shapes, batch_axes):
        shape = list(shape)
        shape[axis] = batch
        arrays.append(rng.integers(0, high, shape) if high else
                      rng.standard_normal(shape).astype(dtype))
    return arrays


def check_export(model, shapes, batch_axes=None, high=None, dtype=np.float32, opset=17):
    """Export ``model`` traced at batch 2, check the file, compare onnxruntime with deepgrad
    at batch 1 and 17; returns the graph."""
    shapes = [shapes] if isinstance(shapes[0], int) else shapes
    batch_axes = batch_axes or [0] * len(shapes)
    example = _inputs(shapes, 2, batch_axes, 0, high, dtype)
    graph = trace(model, tuple(example), batch_axis=batch_axes)
    proto = graph_to_onnx(graph, opset)
    onnx.checker.check_model(proto, full_check=True)
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(proto, Path(tmp) / "model.onnx")
        imported = from_onnx(Path(tmp) / "model.onnx")
        runtime = deepgrad_runtime.load(save_artifact(simplify(graph), Path(tmp) / "model.rt"))
    run = session(proto)
    model.eval()
    for batch in (1, 17):
        xs = _inputs(shapes, batch, batch_axes, batch, high, dtype)
        with dg.no_grad():
            expected = _flat(model(*[dg.tensor(x) for x in xs]))
            round_trip = _flat(imported(*[dg.tensor(x) for x in xs]))
        got = run.run(None, {v.name: x for v, x in zip(graph.inputs, xs)})
        ran = runtime.run(*xs)
        ran = list(ran) if isinstance(ran, tuple) else [ran]
        for outputs, who in ((got, "onnxruntime"), (round_trip, "from_onnx"), (ran, "runtime")):
            assert len(outputs) == len(expected), who
            for g, e in zip(outputs, expected):
                assert g.shape == e.shape and g.dtype == e.dtype, who
                np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL * max(1.0, np.abs(e).max()),
                                           err_msg=who)
    return graph


class Stack(nn.Module):
    """The containers that have no forward of their own, used the usual way."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(6, 6), nn.Linear(6, 6)])
        self.acts = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})

    def forward(self, x):
        for layer, name in zip(self.layers, ("a", "b")):
            x = self.acts[name](layer(x))
        return x


class Classifier(nn.Module):
    """A sequence classifier: a recurrent layer (batch first), then a Linear on the last
    step's output (LSTM) or on the last layer's final state (GRU)."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.rnn = getattr(nn, kind)(8, 16, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        output, state = self.rnn(x)
        return self.head(output[:, -1] if self.kind == "LSTM" else state[-1])


class WithState(nn.Module):
    """An LSTM given its initial state as inputs."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 4, 2)

    def forward(self, x, h, c):
        return self.lstm(x, (h, c))


def _cells(cell, with_state):
    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = cell

        def forward(self, x, h=None):
            if h is None:
                return self.cell(x)
            return self.cell(x, (h, h * 0.5) if isinstance(self.cell, nn.LSTMCell) else h)

    return Cell(), ([(2, 5), (2, 4)] if with_state else (2, 5))


LAYERS = {
    "ELU": (nn.ELU(0.5), (2, 6)),
    "GELU": (nn.GELU(), (2, 6)),
    "GELU tanh": (nn.GELU("tanh"), (2, 6)),
    "LeakyReLU": (nn.LeakyReLU(0.2), (2, 6)),
    "LogSoftmax": (nn.LogSoftmax(1), (2, 6)),
    "ReLU": (nn.ReLU(), (2, 6)),
    "SiLU": (nn.SiLU(), (2, 6)),
    "Sigmoid": (nn.Sigmoid(), (2, 6)),
    "Softmax": (nn.Softmax(-1), (2, 3, 6)),
    "Tanh": (nn.Tanh(), (2, 6)),
    "Linear": (nn.Linear(6, 4), (2, 6)),
    "Linear 3-D no bias": (nn.Linear(6, 4, bias=False), (2, 5, 6)),
    "Conv2d": (nn.Conv2d(3, 4, 3), (2, 3, 9, 9)),
    "Conv2d stride padding": (nn.Conv2d(3, 4, 3, 2, 1), (2, 3, 9, 9)),
    "Conv2d dilation": (nn.Conv2d(3, 4, 3, dilation=2, bias=False), (2, 3, 9, 9)),
    "Conv2d groups": (nn.Conv2d(3, 6, 3, groups=3), (2, 3, 9, 9)),
    "Conv2d depthwise same": (nn.Conv2d(4, 4, 3, padding="same", groups=4), (2, 4, 9, 9)),
    "Conv2d depthwise stride": (nn.Conv2d(4, 4, 3, 2, 1, groups=4, bias=False), (2, 4, 9, 9)),
    "Conv2d same even kernel": (nn.Conv2d(3, 4, (2, 4), padding="same"), (2, 3, 9, 9)),
    "Conv1d": (nn.Conv1d(3, 4, 3, 2, 1), (2, 3, 11)),
    "Conv1d groups dilation": (nn.Conv1d(4, 4, 3, groups=2, dilation=2), (2, 4, 11)),
    "ConvTranspose2d": (nn.ConvTranspose2d(3, 4, 3, 2, 1, output_padding=1), (2, 3, 5, 5)),
    "ConvTranspose2d groups": (nn.ConvTranspose2d(4, 6, 3, groups=2, dilation=2), (2, 4, 5, 5)),
    "SeparableConv2d": (nn.SeparableConv2d(3, 6, 3, padding=1, depth_multiplier=2),
                        (2, 3, 8, 8)),
    "Dropout": (nn.Sequential(nn.Linear(6, 4), nn.Dropout(0.5)), (2, 6)),
    "Dropout2d": (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout2d(0.5)), (2, 3, 4, 4)),
    "Flatten": (nn.Flatten(), (2, 3, 4, 5)),
    "Identity": (nn.Identity(), (2, 3)),
    "Unflatten": (nn.Unflatten(1, (2, 3)), (2, 6)),
    "BatchNorm1d": (with_statistics(nn.BatchNorm1d(4)), (2, 4)),
    "BatchNorm1d 3-D": (with_statistics(nn.BatchNorm1d(4)), (2, 4, 7)),
    "BatchNorm2d": (with_statistics(nn.BatchNorm2d(4)), (2, 4, 5, 5)),
    "BatchNorm2d no affine": (with_statistics(nn.BatchNorm2d(4, affine=False)), (2, 4, 5, 5)),
    "GroupNorm": (nn.GroupNorm(2, 4), (2, 4, 5, 5)),
    "GroupNorm no affine 3-D": (nn.GroupNorm(2, 4, affine=False), (2, 4, 7)),
    "LayerNorm": (nn.LayerNorm(6), (2, 3, 6)),
    "LayerNorm 2 dims no affine": (nn.LayerNorm((3, 6), elementwise_affine=False), (2, 3, 6)),
    "AdaptiveAvgPool2d global": (nn.AdaptiveAvgPool2d(1), (2, 3, 6, 6)),
    "AdaptiveAvgPool2d divides": (nn.AdaptiveAvgPool2d(2), (2, 3, 6, 6)),
    "AdaptiveAvgPool2d uneven": (nn.AdaptiveAvgPool2d((4, 5)), (2, 3, 6, 7)),
    "AvgPool1d": (nn.AvgPool1d(3, 2, 1), (2, 3, 10)),
    "AvgPool1d ceil": (nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                       (2, 3, 10)),
    "AvgPool2d": (nn.AvgPool2d(2), (2, 3, 6, 6)),
    "AvgPool2d ceil": (nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 3, 8, 8)),
    "AvgPool2d no pad count": (nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 7, 7)),
    "AvgPool2d divisor": (nn.AvgPool2d(3, 2, 1, divisor_override=5), (2, 3, 7, 7)),
    "MaxPool1d ceil": (nn.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 10)),
    "MaxPool2d": (nn.MaxPool2d(2), (2, 3, 7, 7)),
    "MaxPool2d dilation ceil": (nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
                                (2, 3, 10, 10)),
    "Residual": (nn.Residual(nn.Sequential(nn.Linear(6, 6), nn.ReLU())), (2, 6)),
    "Residual shortcut": (nn.Residual(nn.Linear(6, 4), nn.Linear(6, 4)), (2, 6)),
    "ModuleList ModuleDict": (Stack(), (2, 6)),
    "GRU batch first": (nn.GRU(5, 4, batch_first=True), (2, 7, 5)),
    "LSTM batch first": (nn.LSTM(5, 4, batch_first=True), (2, 7, 5)),
    "GRUCell": _cells(nn.GRUCell(5, 4), False),
    "LSTMCell": _cells(nn.LSTMCell(5, 4), False),
    "RNNCell relu": _cells(nn.RNNCell(5, 4, nonlinearity="relu"), False),
    "GRUCell state": _cells(nn.GRUCell(5, 4), True),
    "LSTMCell state": _cells(nn.LSTMCell(5, 4), True),
    "RNNCell state": _cells(nn.RNNCell(5, 4), True),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer(name):
    model, shapes = LAYERS[name]
    check_export(model, shapes)


@pytest.mark.parametrize("model", [
    nn.RNN(5, 4), nn.RNN(5, 4, 2, nonlinearity="relu"), nn.GRU(5, 4, 2, bidirectional=True),
    nn.LSTM(5, 4, 2, bias=False, bidirectional=True)], ids=repr)
def test_recurrent_layers_time_major(model):
    graph = check_export(model, (7, 2, 5), batch_axes=[1])
    directions = 2 if model.bidirectional else 1
    states = 2 if isinstance(model, nn.LSTM) else 1
    assert [v.shape for v in graph.outputs] == [(7, None, 4 * directions)] + [
        (model.num_layers * directions, None, 4)] * states


def test_recurrent_state_inputs():
    check_export(WithState(), [(7, 2, 5), (2, 2, 4), (2, 2, 4)], batch_axes=[1, 1, 1])


def test_embedding():
    graph = check_export(nn.Embedding(10, 4, padding_idx=0), (2, 5), high=10)
    assert graph.inputs[0].dtype == "int64"


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet", "mobilenet", "gru", "lstm",
                                  "charlm"])
def test_model_zoo(name):
    dg.manual_seed(0)
    models = {
        "mlp": lambda: (dg.models.mlp((784, 64, 32, 10), dropout=0.2), (2, 1, 28, 28)),
        "cnn": lambda: (dg.models.cnn(widths=(8, 16)), (2, 1, 28, 28)),
        "resnet": lambda: (dg.models.resnet(8, width=4), (2, 1, 28, 28)),
        "mobilenet": lambda: (dg.models.mobilenet(0.25), (2, 1, 28, 28)),
        "gru": lambda: (Classifier("GRU"), (2, 12, 8)),
        "lstm": lambda: (Classifier("LSTM"), (2, 12, 8)),
        "charlm": lambda: (CharLM(12, 6, 8, 2), (2, 5)),
    }
    model, shape = models[name]()
    check_export(with_statistics(model), shape, high=12 if name == "charlm" else None)


@pytest.mark.parametrize(("name", "fn"), [
    ("arithmetic", lambda x: (x.clamp(-0.5, 0.5) * 2.0 + 1 - x / 3) ** 2 - (-x)),
    ("clamp min", lambda x: x.clamp(min=0.1)),
    ("softplus", lambda x: dg.nn.functional.softplus(x, beta=2.0)),
    ("matmul", lambda x: x @ x.T),
    ("sum mean", lambda x: x.mean(1, keepdim=True) + x.sum(-1)[:, None]),
    ("split cat", lambda x: dg.cat(list(dg.split(x, [2, 4], dim=1))[::-1], dim=1)),
    ("stack", lambda x: dg.stack([x, x * 2], dim=1)),
    ("basic index", lambda x: x[:, 1:5:2][..., None] + x[:, -1, None, None]),
    ("index after reshape", lambda x: x.reshape(x.shape[0], 2, 3)[:, 0]),
    ("integer array index", lambda x: x[:, [0, 3, 3]]),
    ("permute", lambda x: x.reshape(x.shape[0], 2, 3).permute(2, 0, 1)),
    ("maximum minimum", lambda x: dg.maximum(x, 0.1) + dg.minimum(x, x * 2)),
    ("exp log sqrt abs", lambda x: (x.exp() + 1).log().sqrt().abs()),
    ("constant weight", lambda x: x @ dg.tensor(np.linspace(-1, 1, 18, dtype=np.float32)
                                                .reshape(6, 3))),
    ("tuple outputs", lambda x: (x, x.relu(), (x.tanh(),))),
])
def test_functional_ops(name, fn):
    check_export(Head(fn), (2, 6))


def test_float64_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), with_statistics(nn.BatchNorm1d(3)),
                          nn.Tanh(), nn.Softmax(1)).double()
    check_export(model, (2, 3, 4), dtype=np.float64)


def test_to_onnx_writes_a_checked_file(tmp_path):
    model = with_statistics(dg.models.cnn(widths=(4, 8)))
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    path = to_onnx(model, x, tmp_path / "cnn.onnx", metadata={"classes": "a,b"})
    assert path == tmp_path / "cnn.onnx" and not list(tmp_path.glob(".*tmp"))
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 17 and proto.producer_name == "deepgrad"
    assert {p.key: p.value for p in proto.metadata_props}["classes"] == "a,b"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, 28, 28]
    model.eval()
    with dg.no_grad():
        expected = model(dg.tensor(x)).numpy()
    got = session(proto).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_fixed_batch_and_newer_opset(tmp_path):
    model = dg.models.mlp((12, 5, 3))
    path = to_onnx(model, np.ones((4, 12), np.float32), tmp_path / "m.onnx", opset=18,
                   dynamic_batch=False)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 18
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [4, 12]
    check_export(dg.models.cnn(widths=(4,)), (2, 1, 28, 28), opset=18)


def test_bad_opset_and_unexportable_model(tmp_path):
    model = dg.models.mlp((12, 5, 3))
    with pytest.raises(ValueError, match="opset must be an int from 17"):
        to_onnx(model, np.ones((1, 12), np.float32), tmp_path / "m.onnx", opset=13)
    bad = Head(lambda x: dg.nn.functional.mse_loss(x, x * 2))
    with pytest.raises(ExportError, match="cannot export op Pointwise called in the model's own"):
        to_onnx(bad, np.ones((1, 6), np.float32), tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_graph_to_onnx_names_the_node_an_opset_cannot_hold():
    from deepgrad_runtime.graph import Graph, Node, Value

    node = Node("ReduceSum", ["x"], ["y"], {"keepdims": 1, "noop_with_empty_axes": 1}, "head")
    graph = Graph([Value("x", (None, 3))], [Value("y", (1, 1))], [node])
    graph_to_onnx(graph, 17)
    node.op, node.attrs = "ReduceMean", {"noop_with_empty_axes": 1}  # opset 18's attribute
    with pytest.raises(ValueError, match=r"node 0 \(ReduceMean in 'head'\): ONNX's ReduceMean "
                                         r"has no attribute 'noop_with_empty_axes'"):
        graph_to_onnx(graph, 17)
    assert graph_to_onnx(graph, 18).graph.node[0].attribute[0].name == "noop_with_empty_axes"


def test_export_command(tmp_path, capsys):
    from deepgrad.cli import save_model
    from deepgrad.export.export_cli import add_export_parser

    parser = argparse.ArgumentParser(prog="deepgrad")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    model = with_statistics(dg.models.cnn())
    config = {"model": "cnn", "dataset": "fashion-mnist", "in_channels": 1,
              "classes": [str(k) for k in range(10)], "normalize": [0.286, 0.353]}
    model_file = save_model(model, tmp_path / "model.safetensors", config)
    args = parser.parse_args(["export", str(model_file), "--format", "onnx"])
    assert args.run(args) == 0
    assert "model.onnx" in capsys.readouterr().out
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert '"classes"' in {p.key: p.value for p in proto.metadata_props}["deepgrad.model"]
    x = np.random.default_rng(1).standard_normal((5, 1, 28, 28)).astype(np.float32)
    model.eval()
    with dg.no_grad():
        expected = model(dg.tensor(x)).numpy()
    np.testing.assert_allclose(session(proto).run(None, {"input": x})[0], expected,
                               rtol=RTOL, atol=ATOL)
    args = parser.parse_args(["export", str(tmp_path / "missing.safetensors"), "--format",
                              "onnx"])
    assert args.run(args) == 1
    assert "missing.safetensors: no such file" in capsys.readouterr().err
