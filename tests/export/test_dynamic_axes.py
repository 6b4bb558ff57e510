"""Export with axes of any size besides the batch (``dynamic_axes``, PyTorch's name): sequence
models exported once run on any length in onnxruntime, in the runtime and imported back; the
ONNX file names each dimension; models that need a fixed size, and bad arguments, are errors."""

import numpy as np
import pytest
from helpers import Head

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export import ExportError, from_onnx, to_onnx, to_runtime

onnx = pytest.importorskip("onnx", reason="ONNX export tests need pip install 'deepgrad[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="ONNX export tests need pip install 'deepgrad[onnx]'")


class Tagger(nn.Module):
    """A bidirectional LSTM over (N, T, 3): a label per sequence (its last step) and per step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1]), self.head(out)


def _dims(values):
    return [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values]


def _export_and_run(model, shapes, path):
    """Export ``model`` (traced at ``shapes[0]``, its DYNAMIC axes of any size) to ONNX and as
    a runtime artifact beside it; check onnxruntime, the runtime and the imported module
    against the model at every shape. Returns the ONNX path."""
    rng = np.random.default_rng(0)
    dg.manual_seed(0)
    example = rng.standard_normal(shapes[0]).astype(np.float32)
    axes = DYNAMIC[type(model)]
    to_onnx(model, example, path, dynamic_axes=axes)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    imported = from_onnx(path)
    runtime = deepgrad_runtime.load(to_runtime(model, path.with_suffix(".rt"), example,
                                               dynamic_axes=axes))
    model.eval()
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        with dg.no_grad():
            out = model(dg.tensor(x))
            expected = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
            back = imported(dg.tensor(x))
        ran = runtime.run(x)
        got = {"onnxruntime": session.run(None, {"input": x}),
               "from_onnx": [t.numpy() for t in (back if isinstance(back, tuple) else (back,))],
               "runtime": list(ran) if isinstance(ran, tuple) else [ran]}
        for who, outputs in got.items():
            assert len(outputs) == len(expected), who
            for g, e in zip(outputs, expected):
                assert g.shape == e.shape, (who, shape)
                np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"{who} {shape}")
    return path


class Temporal(nn.Module):
    """A 1-D convolution over (N, C, L), pooled over the whole length."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu().mean(dim=2)


DYNAMIC = {Tagger: {1: "time"}, Temporal: {2: "length"}}


def test_a_recurrent_tagger_runs_on_any_length(tmp_path):
    path = _export_and_run(Tagger(), [(2, 5, 3), (7, 9, 3), (1, 1, 3)], tmp_path / "t.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert _dims(proto.graph.input) == [["batch", "time", 3]]
    assert _dims(proto.graph.output) == [["batch", 2], ["batch", "time", 2]]
    runtime = deepgrad_runtime.load(path.with_suffix(".rt"))
    assert "inputs=[input: float32(batch, time, 3)]" in repr(runtime)
    with pytest.raises(ValueError, match=r"\(batch, time, 3\) \(batch, time: any size\); got "
                                         r"float32 of shape \(2, 5, 4\)"):
        runtime.run(np.zeros((2, 5, 4), np.float32))


def test_a_convolution_over_any_length_and_a_fixed_batch(tmp_path):
    model = Temporal()
    path = _export_and_run(model, [(2, 3, 7), (4, 3, 20)], tmp_path / "c.onnx")
    assert _dims(onnx.load(str(path)).graph.input) == [["batch", 3, "length"]]
    rng = np.random.default_rng(1)
    fixed = to_onnx(model, rng.standard_normal((2, 3, 7)).astype(np.float32),
                    tmp_path / "fixed.onnx", dynamic_batch=False, dynamic_axes={-1: "length"})
    assert _dims(onnx.load(str(fixed)).graph.input) == [[2, 3, "length"]]


def test_a_mean_over_dynamic_axes_reads_their_sizes(tmp_path):
    model = Head(lambda x: x - x.mean(dim=(0, 1), keepdim=True) + x.mean())
    path = to_onnx(model, np.zeros((2, 5, 6), np.float32), tmp_path / "m.onnx",
                   dynamic_axes={1: "time"})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).standard_normal((4, 9, 6)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model(dg.tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_a_model_that_needs_a_fixed_length_says_so(tmp_path):
    flat = nn.Sequential(nn.Flatten(), nn.Linear(15, 2))
    with pytest.raises(ExportError, match=r"does not run when batch \(axis 0 of input 0\), time "
                                          r"\(axis 1 of input 0\) change size.*\(3, 7, 3\).*"
                                          r"Linear '1' expects"):
        to_onnx(flat, np.zeros((2, 5, 3), np.float32), tmp_path / "f.onnx",
                dynamic_axes={1: "time"})
    assert not (tmp_path / "f.onnx").exists()


@pytest.mark.parametrize("axes, message", [
    ({3: "time"}, "out of range"), ({1: "batch"}, "other than 'batch'"),
    ({0: "rows"}, "is the batch axis"), ([{1: "t"}, {1: "t"}], "one such dict per input"),
    ({1: ""}, "needs a name"), ("time", "must be"),
])
def test_bad_dynamic_axes(tmp_path, axes, message):
    with pytest.raises(ValueError, match=message):
        to_onnx(Tagger(), np.zeros((2, 5, 3), np.float32), tmp_path / "t.onnx",
                dynamic_axes=axes)
