"""The ONNX export tests' shared harness: a Linear-then-``fn`` model, input makers, an
onnxruntime session, and the check that a model exports, passes onnx.checker and matches
deepgrad in onnxruntime, ``deepgrad_runtime`` and ``from_onnx`` at batch sizes 1 and 5.
Importing it skips the importing test file when onnx or onnxruntime is missing."""

import numpy as np
import pytest

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export import from_onnx, to_onnx, to_runtime

onnx = pytest.importorskip("onnx", reason="ONNX export tests need pip install 'deepgrad[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="ONNX export tests need pip install 'deepgrad[onnx]'")


class Net(nn.Module):
    """A Linear over the last dimension (a weight to import as a parameter), then ``fn``; with
    linear=False, ``fn`` of the input itself."""

    def __init__(self, fn, features=6, linear=True):
        super().__init__()
        self.fc = nn.Linear(features, features) if linear else None
        self.fn = fn

    def forward(self, x):
        return self.fn(self.fc(x) if self.fc is not None else x)


def spread(batch, shape, rng):
    return rng.standard_normal((batch, *shape)) * 2


def ties(batch, shape, rng):
    # few distinct values: sorts, extremes and comparisons meet equal elements
    return rng.integers(-2, 3, (batch, *shape)).astype(np.float64)


def special(batch, shape, rng):
    # NaN, infinities, signed zeros among ordinary numbers
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 3.0])
    return rng.choice(values, (batch, *shape))


def integers(batch, shape, rng, bound=3):
    return rng.integers(-bound, bound + 1, (batch, *shape)).astype(np.int32)


def float32_tolerance(dtype):
    """rtol and atol of every output: float32's rounding."""
    return 1e-5, 1e-6


def flat(output):
    return [output] if isinstance(output, dg.Tensor) else list(output)


def session(path):
    """An onnxruntime session on the CPU, one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def assert_close(got, expected, who, tolerance=float32_tolerance):
    """Same shape and dtype, values within ``tolerance(expected.dtype)``."""
    assert got.shape == expected.shape and got.dtype == expected.dtype, who
    rtol, atol = tolerance(expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=who)


def make_inputs(make_input, shape, batch, seed, dtype=np.float32):
    """``make_input``'s values; floats in ``dtype``, integers as made."""
    x = make_input(batch, shape, np.random.default_rng(seed))
    return x if x.dtype.kind in "iu" else x.astype(dtype)


def check_export(tmp_path, make_model, shape, make_input, dtype=np.float32,
                 tolerance=float32_tolerance, gradients=False, again=False):
    """The model exports (onnx.checker, full check) and onnxruntime, deepgrad_runtime and
    from_onnx match deepgrad at batch 1 and 5; with ``gradients``, so does the input gradient
    through the imported module; with ``again``, the imported module exports too, and
    onnxruntime on that file matches as well."""
    dg.manual_seed(0)
    model = make_model().eval()
    model = model.double() if dtype == np.float64 else model
    example = make_inputs(make_input, shape, 2, 0, dtype)
    path = to_onnx(model, example, tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    ort_session, imported = session(path), from_onnx(path)
    sessions = {"onnxruntime": ort_session}
    if again:
        exported = to_onnx(imported, example, tmp_path / "again.onnx")
        onnx.checker.check_model(str(exported), full_check=True)
        sessions["onnxruntime, imported and exported again"] = session(exported)
    runtime = deepgrad_runtime.load(to_runtime(model, tmp_path / "model.rt", example))
    for batch in (1, 5):
        x = make_inputs(make_input, shape, batch, batch, dtype)
        with dg.no_grad():
            expected = [t.numpy() for t in flat(model(dg.tensor(x)))]
            outputs = {"from_onnx": [t.numpy() for t in flat(imported(dg.tensor(x)))]}
        for who, ran_by in sessions.items():
            outputs[who] = ran_by.run(None, {"input": x})
        ran = runtime.run(x)
        outputs["runtime"] = list(ran) if isinstance(ran, tuple) else [ran]
        for who, got in outputs.items():
            assert len(got) == len(expected), who
            for g, e in zip(got, expected):
                assert_close(g, e, who, tolerance)
    if gradients:
        check_gradients(model, imported, make_inputs(make_input, shape, 4, 9, dtype))


def check_gradients(model, imported, x):
    """The gradient of a weighted sum of the outputs with respect to the input, through the
    imported module's kernels, is deepgrad's own."""
    grads = []
    for module in (model, imported):
        t = dg.tensor(x, requires_grad=True)
        outputs = [o for o in flat(module(t)) if o.dtype.kind == "f"]
        weights = [np.random.default_rng(1).standard_normal(o.shape) for o in outputs]
        sum(((o * w).sum() for o, w in zip(outputs, weights)), dg.tensor(0.0)).backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-9, atol=1e-9)
