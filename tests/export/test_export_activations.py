"""ONNX export of the piecewise and smooth activations (ReLU6, Hardtanh, Hardsigmoid, Hardswish,
PReLU, SELU, CELU, Mish, LogSigmoid, Softsign, Softplus, GLU, Softmin): the file passes
onnx.checker, and onnxruntime, the file imported back (``from_onnx``) and ``deepgrad_runtime``
all match deepgrad's output."""

import numpy as np
import pytest

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export import from_onnx, simplify, to_onnx, trace
from deepgrad_runtime.graph import save_artifact

onnx = pytest.importorskip("onnx", reason="ONNX export tests need pip install 'deepgrad[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="ONNX export tests need pip install 'deepgrad[onnx]'")


def _spread(model, seed):
    """``model`` with Linear weights large enough that every activation sees both sides of its
    kinks and saturations (such as x beyond +-3 and 6)."""
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.weight.data[:] = rng.standard_normal(module.weight.shape)
    return model


def _every_activation(softplus_threshold=20.0):
    # Ordered so that a bounded activation follows each unbounded one: values stay moderate
    # (within +-100) while every activation gets inputs on both sides of its kinks.
    acts = [nn.PReLU(8, init=0.1), nn.ReLU6(), nn.SELU(), nn.Hardtanh(-0.5, 2.0), nn.CELU(0.5),
            nn.Hardsigmoid(), nn.CELU(-1.5), nn.Softsign(), nn.Mish(), nn.Hardswish(),
            nn.LogSigmoid(), nn.Softplus(2.0, softplus_threshold), nn.PReLU()]
    layers = []
    for act in acts:
        layers += [nn.Linear(8, 8), act]
    model = _spread(nn.Sequential(*layers), 0)
    model[1].weight.data[:] = np.linspace(-0.5, 0.6, 8)  # PReLU(8): a slope per channel
    head = nn.Linear(8, 16)
    head.weight.data[:] = np.random.default_rng(1).normal(0.0, 0.05, (16, 8))
    return nn.Sequential(*model, head, nn.GLU(), nn.Softmin(dim=1))


def _convolutional():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.PReLU(4), nn.Hardswish(), nn.GLU(dim=1),
                          nn.Flatten(), nn.Linear(50, 6), nn.Softmin(-1))
    model[1].weight.data[:] = [-0.3, 0.0, 0.4, 1.7]
    return model


def _check(model, shape, tmp_path, dtype=np.float32):
    """Export ``model``; onnxruntime (float32 only: its CPU Elu and Softplus have no float64
    kernels), ``from_onnx`` and ``deepgrad_runtime`` match deepgrad at batch 1 and 17."""
    rng = np.random.default_rng(1)
    model.eval()
    path = to_onnx(model, rng.standard_normal((2, *shape)).astype(dtype) * 3,
                   tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    runners = {"from_onnx": from_onnx(path)}
    graph = trace(model, rng.standard_normal((2, *shape)).astype(dtype))
    runners["runtime"] = deepgrad_runtime.load(save_artifact(simplify(graph), tmp_path / "rt"))
    if dtype == np.float32:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        runners["onnxruntime"] = ort.InferenceSession(str(path), options,
                                                      providers=["CPUExecutionProvider"])
    for batch in (1, 17):
        x = rng.standard_normal((batch, *shape)).astype(dtype) * 3
        with dg.no_grad():
            expected = model(dg.tensor(x)).numpy()
            outputs = {"from_onnx": runners["from_onnx"](dg.tensor(x)).numpy()}
        assert np.all(np.isfinite(expected))
        outputs["runtime"] = runners["runtime"].run(x)
        if "onnxruntime" in runners:
            outputs["onnxruntime"] = runners["onnxruntime"].run(None, {"input": x})[0]
        for who, got in outputs.items():
            assert got.shape == expected.shape and got.dtype == expected.dtype, who
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=who)


def test_every_new_activation_exports(tmp_path):
    _check(_every_activation(), (8,), tmp_path)


def test_float64_model_exports(tmp_path):
    # Softplus's default threshold (20) does not export in float64 (ONNX's Softplus has none).
    _check(_every_activation(softplus_threshold=40.0).double(), (8,), tmp_path, np.float64)


def test_per_channel_prelu_on_images_exports(tmp_path):
    _check(_spread(_convolutional(), 2), (3, 7, 7), tmp_path)


def test_operators_stay_within_the_runtime(tmp_path):
    # deepgrad_runtime has no PRelu, Selu, Celu, Mish or HardSwish: the converters write these
    # with operators it has.
    model = _every_activation()
    path = to_onnx(model, np.zeros((2, 8), np.float32), tmp_path / "model.onnx")
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not ops & {"PRelu", "Selu", "Celu", "Mish", "HardSwish", "Where"}
    assert {"Clip", "Elu", "Softplus", "Split", "Softmax"} <= ops
