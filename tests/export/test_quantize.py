"""Post-training int8 quantization: the weight and input quantization, the quantized model in
deepgrad (close to the float one, the user's model untouched, state_dict round trip), its export
as a runtime artifact (equal outputs, >= 3.5x smaller) and as QDQ ONNX (onnx.checker,
onnxruntime), and ``deepgrad export --int8``."""

import json

import numpy as np
import pytest
from helpers import with_statistics

import deepgrad as dg
import deepgrad_runtime
from deepgrad import models, nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.export.artifact import to_runtime
from deepgrad.export.quantize import quantize
from deepgrad.export.quantized_layers import (
    QuantizedConv1d,
    QuantizedConv2d,
    QuantizedLinear,
    input_quantization,
    quantize_weight,
)
from deepgrad.export.trace import trace
from deepgrad_runtime.graph import load_artifact


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _small_cnn(seed=0):
    dg.manual_seed(seed)
    return with_statistics(models.cnn(widths=(8, 16), hidden=32), seed, shift=0.2).eval()


def _run(model, x):
    with dg.no_grad():
        return model(dg.tensor(x)).numpy()


def _runtime_output(path, x):
    out = deepgrad_runtime.load(path).run(x)
    return out[0] if isinstance(out, (list, tuple)) else out


# ------------------------------------------------------------------------------ the numbers
def test_per_channel_weight_error_is_at_most_half_a_step():
    rng = np.random.default_rng(0)
    # channels of very different magnitudes, as after folding a batch norm; one all zero
    w = (rng.standard_normal((6, 4, 3, 3)) * np.array([1e-3, 0.01, 0.1, 1, 10, 0])[:, None,
                                                       None, None]).astype(np.float32)
    q, scale = quantize_weight(w)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert scale.dtype == np.float32 and scale.shape == (6,)
    assert np.abs(q).max() <= 127
    error = np.abs(w - q.astype(np.float32) * scale[:, None, None, None])
    assert (error.max(axis=(1, 2, 3)) <= scale / 2 * (1 + 1e-6)).all()
    # each channel's largest weight is +-127 steps: the whole int8 range is used
    np.testing.assert_array_equal(np.abs(q[:5]).max(axis=(1, 2, 3)), 127)
    assert scale[5] == 1 and not q[5].any()


def test_per_tensor_weights_lose_the_small_channels():
    w = np.stack([np.full(8, 1e-3), np.linspace(-1, 1, 8)]).astype(np.float32)
    q, scale = quantize_weight(w, per_channel=False)
    assert scale.shape == ()
    assert not q[0].any()  # 1e-3 is below half a step of 1/127
    q, scale = quantize_weight(w)
    np.testing.assert_allclose(q[0] * scale[0], w[0], rtol=1e-6)


def test_quantize_weight_errors():
    with pytest.raises(ValueError, match="expects a non-empty float array; got int64"):
        quantize_weight(np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match="NaN or inf"):
        quantize_weight(np.array([[np.nan]], np.float32))


@pytest.mark.parametrize("low, high", [(-1.0, 3.0), (0.0, 6.0), (0.5, 2.0), (-4.0, -1.0)])
def test_input_quantization_holds_zero_exactly(low, high):
    scale, zero = input_quantization(low, high)
    assert scale.dtype == np.float32 and zero.dtype == np.uint8 and scale.shape == ()
    assert 0 <= zero <= 255
    # the range (widened to 0) fits in the 256 levels, and 0 is one of them
    zero = int(zero)
    assert (0 - zero) * scale <= min(low, 0) + scale / 2
    assert (255 - zero) * scale >= max(high, 0) - scale / 2
    if low >= 0:
        assert zero == 0


def test_input_quantization_of_zeros_and_bad_ranges():
    scale, zero = input_quantization(0.0, 0.0)
    assert scale == 1 and zero == 0
    with pytest.raises(ValueError, match=r"finite range low <= high; got \[2.0, 1.0\]"):
        input_quantization(2.0, 1.0)


# ------------------------------------------------------------------------------ in deepgrad
def test_quantized_cnn_is_close_to_the_float_one_and_folds_batch_norms():
    model = _small_cnn()
    x = _x(200, 1, 28, 28)
    q = quantize(model, x)
    kinds = [type(m) for m in q.modules()]
    assert kinds.count(QuantizedConv2d) == 2 and kinds.count(QuantizedLinear) == 2
    assert nn.BatchNorm2d not in kinds and nn.Conv2d not in kinds and nn.Linear not in kinds
    assert not q.training
    expected, got = _run(model, x[:50]), _run(q, x[:50])
    assert np.abs(got - expected).max() < 0.03 * np.abs(expected).max()
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95


def test_the_users_model_is_untouched():
    model = _small_cnn().train()
    before = model.state_dict()
    modules = [type(m) for m in model.modules()]
    quantize(model, _x(64, 1, 28, 28))
    assert model.training and [type(m) for m in model.modules()] == modules
    after = model.state_dict()
    assert list(after) == list(before)
    for key, array in before.items():
        np.testing.assert_array_equal(after[key], array)


class _Shared(nn.Module):
    """A convolution whose output feeds its batch norm and a skip connection: the norm must
    not be folded into it (the skip reads the unnormalized output)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)
        self.head = nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        y = self.conv(x)
        return self.head((self.norm(y) + y).flatten(1))


def test_a_batch_norm_is_folded_only_into_a_layer_it_alone_reads():
    dg.manual_seed(0)
    model = with_statistics(_Shared(), shift=0.2).eval()
    x = _x(100, 2, 6, 6)
    q = quantize(model, x)
    assert isinstance(q.norm, nn.BatchNorm2d) and isinstance(q.conv, QuantizedConv2d)
    expected, got = _run(model, x), _run(q, x)
    assert np.abs(got - expected).max() < 0.03 * np.abs(expected).max()


def test_calibration_from_batches_and_pairs_equals_calibration_from_the_array():
    model = _small_cnn()
    x = _x(300, 1, 28, 28)
    y = np.zeros(300, np.int64)
    reference = quantize(model, x).state_dict()
    loader = DataLoader(TensorDataset(x, y), batch_size=100)
    for data in (loader, [x[:150], x[150:]], iter([(x[:100], y[:100]), (x[100:], y[100:])])):
        state = quantize(model, data).state_dict()
        for key, array in reference.items():
            # Batches of other sizes may run other BLAS blockings: activation ranges (and the
            # scales made of them) agree to rounding, the integer weights exactly.
            if np.issubdtype(array.dtype, np.floating):
                np.testing.assert_allclose(state[key], array, rtol=1e-6, err_msg=key)
            else:
                np.testing.assert_array_equal(state[key], array, err_msg=key)


def test_percentile_observer_ignores_rare_outliers():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 4)).eval()
    x = _x(1000, 16)
    x[0, 0] = 1000.0  # one outlier among 16000 values
    minmax = quantize(model, x)[0]
    clipped = quantize(model, x, observer="percentile", percentile=99.9)[0]
    assert minmax.input_scale.item() > 1000 / 256
    assert clipped.input_scale.item() < 10 / 256
    expected = _run(model, x[1:])
    errors = [np.abs(_run(nn.Sequential(layer), x[1:]) - expected).mean()
              for layer in (minmax, clipped)]
    assert errors[1] < 0.01 * np.abs(expected).max() and errors[1] < errors[0] / 10


def test_state_dict_round_trip(tmp_path):
    x = _x(100, 1, 28, 28)
    q = quantize(_small_cnn(0), x)
    state = q.state_dict()
    assert state["features.0.weight_int8"].dtype == np.int8
    assert state["features.0.input_zero_point"].dtype == np.uint8
    assert state["features.0.weight_scale"].shape == (8,)
    assert "features.1.running_mean" not in state  # folded
    dg.save(q, tmp_path / "q.safetensors")
    other = quantize(_small_cnn(1), _x(100, 1, 28, 28, seed=1))
    assert not np.array_equal(_run(other, x[:8]), _run(q, x[:8]))
    dg.load_into(other, tmp_path / "q.safetensors")
    np.testing.assert_array_equal(_run(other, x[:8]), _run(q, x[:8]))


def test_straight_through_gradient_reaches_the_input():
    dg.manual_seed(0)
    q = quantize(nn.Sequential(nn.Linear(4, 3)), _x(50, 4))
    x = dg.tensor(np.array([[0.1, -0.2, 0.3, 100.0]], np.float32), requires_grad=True)
    q(x).sum().backward()
    w = q[0].weight_int8.numpy() * q[0].weight_scale.numpy()[:, None]
    np.testing.assert_allclose(x.grad.numpy()[0, :3], w.sum(0)[:3], rtol=1e-6)
    assert x.grad.numpy()[0, 3] == 0  # clipped: outside the calibrated range


def test_quantize_errors():
    model = _small_cnn()
    x = _x(10, 1, 28, 28)
    with pytest.raises(ValueError, match="calibration_data holds no batch"):
        quantize(model, [])
    with pytest.raises(TypeError, match=r"must be an array or an iterable .* got int"):
        quantize(model, 3)
    with pytest.raises(ValueError, match="observer must be one of minmax, percentile; got 'max'"):
        quantize(model, x, observer="max")
    with pytest.raises(ValueError, match=r"percentile must be in \(50, 100\]; got 30"):
        quantize(model, x, observer="percentile", percentile=30)
    with pytest.raises(ValueError, match="ReLU has no Conv1d, Conv2d or Linear layer"):
        quantize(nn.ReLU(), x)
    bad = x.copy()
    bad[3, 0, 5, 5] = np.nan
    with pytest.raises(ValueError, match=r"input of layer 'features\.0' holds NaN"):
        quantize(model, bad)
    with pytest.raises(ValueError, match=r"calibration batch 1 is empty \(shape \(0, 1, 28, 28"):
        quantize(model, [x, x[:0]])


class _Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(4, 2)
        self.spare = nn.Linear(4, 2)

    def forward(self, x):
        return self.used(x)


def test_a_layer_the_calibration_never_reaches_is_an_error():
    with pytest.raises(ValueError, match="layer 'spare' never ran on the calibration data"):
        quantize(_Unused(), _x(8, 4))


def test_quantized_layer_checks_its_input():
    q = quantize(_small_cnn(), _x(20, 1, 28, 28))
    with pytest.raises(dg.ShapeError, match=r"QuantizedConv2d 'features.0' expects input "
                                            r"\(N, 1, H, W\); got \(2, 3, 28, 28\)"):
        q(dg.tensor(_x(2, 3, 28, 28)))
    with pytest.raises(TypeError, match="expects float32 inputs; got float64"):
        q(dg.tensor(_x(2, 1, 28, 28).astype(np.float64)))


# ------------------------------------------------------------------------------ export
class _Mixed(nn.Module):
    """Conv1d, a depthwise Conv2d, a Linear on a 3-D input: the other quantized kinds."""

    def __init__(self):
        super().__init__()
        self.conv1d = nn.Conv1d(3, 4, 3, padding=1)
        self.depthwise = nn.Conv2d(4, 8, 3, padding=1, groups=4, bias=False)
        self.norm = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):  # (N, 3, 16)
        y = self.conv1d(x).relu().reshape(x.shape[0], 4, 4, 4)
        y = self.norm(self.depthwise(y)).relu()
        return self.fc(y.permute(0, 2, 3, 1))  # (N, 4, 4, 5)


@pytest.mark.parametrize("per_channel", [True, False])
def test_runtime_artifact_equals_the_quantized_model(tmp_path, per_channel):
    dg.manual_seed(0)
    model = with_statistics(_Mixed(), shift=0.2).eval()
    x = _x(64, 3, 16)
    q = quantize(model, x, per_channel=per_channel)
    assert isinstance(q.conv1d, QuantizedConv1d) and isinstance(q.norm, nn.Identity)
    path = to_runtime(q, tmp_path / "q.safetensors", x[:1])
    graph = load_artifact(path)
    assert graph.initializers["fc.weight_int8"].dtype == np.int8
    dequantize = [n for n in graph.nodes if n.op == "DequantizeLinear"
                  and n.inputs[0].endswith("weight_int8")]
    assert len(dequantize) == 3
    assert all(n.attrs == ({"axis": 0} if per_channel else {}) for n in dequantize)
    for batch in (1, 17):
        np.testing.assert_allclose(_runtime_output(path, x[:batch]), _run(q, x[:batch]),
                                   rtol=1e-5, atol=1e-6)


def test_flagship_cnn_artifact_is_at_least_3_5_times_smaller(tmp_path):
    dg.manual_seed(0)
    model = with_statistics(models.cnn(), shift=0.2).eval()
    x = _x(32, 1, 28, 28)
    float_path = to_runtime(model, tmp_path / "float.safetensors", x[:1])
    int8_path = to_runtime(quantize(model, x), tmp_path / "int8.safetensors", x[:1])
    ratio = float_path.stat().st_size / int8_path.stat().st_size
    assert ratio >= 3.5, f"int8 artifact only {ratio:.2f}x smaller"


def test_onnx_export_is_qdq_and_onnxruntime_agrees(tmp_path):
    onnx = pytest.importorskip("onnx", reason="ONNX export needs deepgrad[onnx]")
    ort = pytest.importorskip("onnxruntime", reason="checking ONNX files needs deepgrad[onnx]")
    from deepgrad.export.onnx_export import to_onnx

    x = _x(100, 1, 28, 28)
    q = quantize(_small_cnn(), x)
    path = to_onnx(q, x[:1], tmp_path / "q.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("QuantizeLinear") == 4 and ops.count("DequantizeLinear") == 8
    weights = {t.name: t for t in proto.graph.initializer}
    assert weights["features.0.weight_int8"].data_type == onnx.TensorProto.INT8
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for batch in (1, 17):
        got = session.run(None, {"input": x[:batch]})[0]
        expected = _run(q, x[:batch])
        # onnxruntime's convolutions round differently in the last float bit; a value that
        # lands on the other side of a rounding boundary moves by one level: about 1e-3 here
        np.testing.assert_allclose(got, expected, atol=1e-2 * np.abs(expected).max())
        assert (got.argmax(1) == expected.argmax(1)).all()


def test_trace_names_the_quantization_initializers():
    q = quantize(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), _x(20, 3, 4))
    graph = trace(q, _x(1, 3, 4))
    assert [n.op for n in graph.nodes] == ["Reshape", "QuantizeLinear", "DequantizeLinear",
                                           "DequantizeLinear", "Gemm"]
    assert {"1.input_scale", "1.input_zero_point", "1.weight_int8", "1.weight_scale",
            "1.bias"} <= set(graph.initializers)


# ------------------------------------------------------------------------------ CLI
def test_export_int8_command(tmp_path, capsys):
    from deepgrad.cli import build_model, load_model, main, save_model
    from deepgrad.datasets import DatasetNotFoundError, FashionMNIST
    from deepgrad.export.export_cli import _calibration_images

    try:
        FashionMNIST(train=True)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not on this machine")
    dg.manual_seed(0)
    model = with_statistics(build_model("cnn"), shift=0.2)
    config = {"model": "cnn", "dataset": "fashion-mnist", "in_channels": 1,
              "classes": [str(k) for k in range(10)], "normalize": [0.2860, 0.3530]}
    model_file = save_model(model, tmp_path / "model.safetensors", config)
    assert main(["export", str(model_file), "--format", "runtime", "--int8",
                 "--calibration", "64"]) == 0
    out = tmp_path / "model.int8.runtime.safetensors"
    assert f"wrote {out}" in capsys.readouterr().out
    graph = load_artifact(out)
    assert json.loads(graph.metadata["deepgrad.quantization"])["calibration_images"] == 64
    loaded, _ = load_model(model_file)
    q = quantize(loaded, _calibration_images(config, 64))
    x = _x(5, 1, 28, 28)
    np.testing.assert_allclose(_runtime_output(out, x), _run(q, x), rtol=1e-5, atol=1e-6)


def test_export_calibration_needs_int8(tmp_path, capsys):
    from deepgrad.cli import main

    assert main(["export", str(tmp_path / "model.safetensors"), "--format", "runtime",
                 "--calibration", "10"]) == 1
    assert "--calibration sets how --int8 calibrates; add --int8" in capsys.readouterr().err


def test_int8_accuracy_on_real_fashion_mnist_stays_within_half_a_point():
    from deepgrad.datasets import DatasetNotFoundError, load_fashion_mnist

    try:
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not on this machine")

    def normalize(images):
        return ((images.astype(np.float32) / 255 - 0.2860) / 0.3530)[:, None]

    dg.manual_seed(0)
    model = models.cnn(widths=(8, 16), hidden=32)
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), dg.optim.Adam(model.parameters(), 3e-3),
                         verbose=0)
    trainer.fit((normalize(x_train[:6000]), y_train[:6000]), epochs=1, batch_size=64, seed=0)
    x, y = normalize(x_test[:2000]), y_test[:2000]
    q = quantize(model, normalize(x_train[6000:6500]))
    float_accuracy = (trainer.predict(x).argmax(1) == y).mean()
    with dg.no_grad():
        int8_accuracy = (q(dg.tensor(x)).numpy().argmax(1) == y).mean()
    assert float_accuracy > 0.75
    assert abs(float_accuracy - int8_accuracy) <= 0.005
