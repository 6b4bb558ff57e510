"""ONNX export of masks and indices computed from the input: comparisons, logic, isnan / isinf /
isfinite, isclose, any / all / count_nonzero and argmax / argmin (recorded by the trace although
they have no gradient), used by where, masked_fill and arithmetic; and the index ops index_add,
index_copy, index_fill and kthvalue. Each model passes onnx.checker (full check); onnxruntime,
``deepgrad_runtime`` and the file imported back (``from_onnx``) match deepgrad at batch sizes 1
and 5. The ops without an ONNX form (cummax, cummin, mode, histc) fail naming the op."""

import numpy as np
import pytest

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export import ExportError, from_onnx, to_onnx, to_runtime

onnx = pytest.importorskip("onnx", reason="ONNX export tests need pip install 'deepgrad[onnx]'")
ort = pytest.importorskip("onnxruntime",
                          reason="ONNX export tests need pip install 'deepgrad[onnx]'")


class Net(nn.Module):
    """``fn`` of a Linear over the last dimension (of the input itself with linear=False)."""

    def __init__(self, fn, features=6, linear=True):
        super().__init__()
        self.fc = nn.Linear(features, features) if linear else None
        self.fn = fn

    def forward(self, x):
        return self.fn(self.fc(x) if self.fc is not None else x)


def _spread(batch, shape, rng):
    return rng.standard_normal((batch, *shape)) * 2


def _ties(batch, shape, rng):
    # few distinct values: argmax, argmin and kthvalue meet equal elements
    return rng.integers(-2, 3, (batch, *shape)).astype(np.float64)


def _special(batch, shape, rng):
    # NaN, infinities, signed zeros among ordinary numbers
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 3.0])
    return rng.choice(values, (batch, *shape))


def _integers(batch, shape, rng):
    return rng.integers(-3, 4, (batch, *shape)).astype(np.int32)


COLUMNS = dg.arange(6)


def _clamp_by_comparisons(x):
    return dg.where(x > 1.0, 1.0, dg.where(x < -1.0, -1.0, x))


def _one_hot_of_argmax(x):
    return (x.argmax(1, keepdim=True) == COLUMNS).float()


def _logic(x):
    positive, small = x > 0, dg.abs(x) < 1
    return (dg.logical_and(positive, small), dg.logical_or(positive, ~small),
            dg.logical_xor(positive, small), dg.logical_not(x), positive & small,
            positive | small, positive ^ small, ~positive)


def _cleanup(x):
    return dg.where(dg.isnan(x) | dg.isinf(x), 0.0, x)


# (id, model factory, input shape without the batch, input maker)
CASES = [
    ("where-leaky", lambda: Net(lambda x: dg.where(x > 0, x, 0.1 * x)), (6,), _spread),
    ("masked-fill-negative", lambda: Net(lambda x: x.masked_fill(x < 0, 0)), (6,), _spread),
    ("times-mask", lambda: Net(lambda x: x * (x >= 0.5)), (6,), _spread),
    ("clamp-by-comparisons", lambda: Net(_clamp_by_comparisons), (6,), _spread),
    ("band-mask", lambda: Net(lambda x: x * ((x >= -0.5) & (x <= 0.5)).float()), (6,), _spread),
    ("compare-tensors", lambda: Net(lambda x: (x[:, :3] == x[:, 3:], x[:, :3] != x[:, 3:],
                                               x[:, :3] < x[:, 3:], x[:, :3] > x[:, 3:]),
                                    linear=False), (6,), _ties),
    ("compare-number-on-the-left", lambda: Net(lambda x: (0.5 <= x, 1 >= x)), (6,), _spread),
    ("compare-nan", lambda: Net(lambda x: (x != x, x == x, x > 0), linear=False), (6,),
     _special),
    ("compare-integers", lambda: Net(lambda x: (x > 2, x == 1.5, x != -1), linear=False), (6,),
     _integers),
    ("compare-bools", lambda: Net(lambda x: ((x > 0) < (x > 1), (x > 0) == (x < 1))), (6,),
     _spread),
    ("logic", lambda: Net(_logic), (6,), _spread),
    ("logic-of-numbers", lambda: Net(lambda x: (dg.logical_and(x, 1), dg.logical_or(x, 0)),
                                     linear=False), (6,), _integers),
    ("isnan-cleanup", lambda: Net(_cleanup, linear=False), (6,), _special),
    ("isinf-isfinite", lambda: Net(lambda x: (dg.isinf(x), dg.isfinite(x)), linear=False), (6,),
     _special),
    ("isnan-integers", lambda: Net(lambda x: (dg.isnan(x), dg.isfinite(x)), linear=False), (6,),
     _integers),
    ("isclose", lambda: Net(lambda x: dg.isclose(x[:, :3], x[:, 3:], atol=0.5), linear=False),
     (6,), _special),
    ("isclose-number-equal-nan", lambda: Net(lambda x: dg.isclose(x, 1.5, equal_nan=True),
                                             linear=False), (6,), _special),
    ("any-all", lambda: Net(lambda x: ((x > 1).any(1), (x > -3).all(1, keepdim=True),
                                       (x > 0).any())), (6,), _spread),
    ("count-nonzero", lambda: Net(lambda x: dg.count_nonzero(x, 1), linear=False), (6,),
     _integers),
    ("argmax", lambda: Net(lambda x: x.argmax(1)), (6,), _spread),
    ("argmin-keepdim-ties", lambda: Net(lambda x: x.argmin(2, keepdim=True), linear=False),
     (3, 6), _ties),
    ("argmax-flattened", lambda: Net(lambda x: (x.argmax(), x.argmin(keepdim=True)),
                                     linear=False), (3, 6), _ties),
    ("argmax-nan-first", lambda: Net(lambda x: (x.argmax(1), x.argmin(1)), linear=False), (6,),
     _special),
    ("argmax-integers", lambda: Net(lambda x: dg.argmax(x, 1), linear=False), (6,), _integers),
    ("one-hot-of-argmax", lambda: Net(_one_hot_of_argmax), (6,), _spread),
    ("index-add", lambda: Net(lambda x: x.index_add(1, np.array([0, 2, 2]), x[:, 3:])), (6,),
     _spread),
    ("index-add-alpha", lambda: Net(lambda x: x.index_add(2, np.array([5, 1]), x[:, :, :2] * 3,
                                                          alpha=-0.5)), (3, 6), _spread),
    ("index-add-integers", lambda: Net(lambda x: dg.index_add(x, 1, np.array([4]), x[:, :1],
                                                              alpha=2), linear=False), (6,),
     _integers),
    ("index-copy", lambda: Net(lambda x: x.index_copy(1, np.array([5, 0]), x[:, 1:3] * 2)),
     (6,), _spread),
    ("index-fill", lambda: Net(lambda x: x.index_fill(1, np.array([1, -1]), -2.0)), (6,),
     _spread),
    ("index-fill-tensor-value", lambda: Net(lambda x: x.index_fill(2, np.array([0, 3]),
                                                                   x[0, 0, 0])), (3, 6),
     _spread),
    ("kthvalue", lambda: Net(lambda x: tuple(x.kthvalue(2, 1)), linear=False), (6,), _ties),
    ("kthvalue-keepdim", lambda: Net(lambda x: tuple(dg.kthvalue(x, 6, 2, keepdim=True))),
     (3, 6), _spread),
]


def _flat(output):
    return [output] if isinstance(output, dg.Tensor) else list(output)


def _session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _assert_same(got, expected, who):
    assert got.shape == expected.shape and got.dtype == expected.dtype, who
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=who)


def _inputs(make_input, shape, batch, seed):
    x = make_input(batch, shape, np.random.default_rng(seed))
    return x if x.dtype.kind in "iu" else x.astype(np.float32)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("make_model", "shape", "make_input"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_export_matches(tmp_path, make_model, shape, make_input):
    dg.manual_seed(0)
    model = make_model().eval()
    example = _inputs(make_input, shape, 2, 0)
    path = to_onnx(model, example, tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    session, imported = _session(path), from_onnx(path)
    runtime = deepgrad_runtime.load(to_runtime(model, tmp_path / "model.rt", example))
    for batch in (1, 5):
        x = _inputs(make_input, shape, batch, batch)
        with dg.no_grad():
            expected = [t.numpy() for t in _flat(model(dg.tensor(x)))]
            outputs = {"from_onnx": [t.numpy() for t in _flat(imported(dg.tensor(x)))]}
        outputs["onnxruntime"] = session.run(None, {"input": x})
        ran = runtime.run(x)
        outputs["runtime"] = list(ran) if isinstance(ran, tuple) else [ran]
        for who, got in outputs.items():
            assert len(got) == len(expected), who
            for g, e in zip(got, expected):
                _assert_same(g, e, who)


def test_masks_write_the_comparison_operators(tmp_path):
    model = Net(lambda x: (dg.where(x > 0, x, 0.0), x.argmax(1), x != 1.0, dg.isnan(x)))
    path = to_onnx(model, np.ones((2, 6), np.float32), tmp_path / "m.onnx")
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"Greater", "Where", "ArgMax", "Equal", "Not", "IsNaN"} <= ops


def test_opset_18(tmp_path):
    model = Net(lambda x: (dg.where((x > 0) & ~dg.isnan(x), x, 0.0), x.argmin(1),
                           (x < 1).all(1), x.index_add(1, np.array([1]), x[:, :1]))).eval()
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    path = to_onnx(model, x, tmp_path / "m.onnx", opset=18)
    onnx.checker.check_model(str(path), full_check=True)
    with dg.no_grad():
        expected = [t.numpy() for t in model(dg.tensor(x))]
    for g, e in zip(_session(path).run(None, {"input": x}), expected, strict=True):
        _assert_same(g, e, "onnxruntime, opset 18")


def test_masks_carry_no_gradient():
    data = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    x = dg.tensor(data, requires_grad=True)
    mask, index = x > 0, x.argmax(1)
    assert not (mask.requires_grad or index.requires_grad)
    assert mask.grad_fn is None and index.grad_fn is None
    (dg.where(mask, x, 0.1 * x).sum() + index.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(data > 0, 1, 0.1).astype(np.float32))


@pytest.mark.parametrize(("fn", "op", "message"), [
    (lambda x: x.cummax(1).values, "CumExtreme", "cummax and cummin have no ONNX equivalent"),
    (lambda x: dg.cummin(x, 1).indices, "CumExtreme", "cummax and cummin have no ONNX "
                                                      "equivalent"),
    (lambda x: x.mode(1).values, "ModeIndex", "mode has no ONNX equivalent"),
    (lambda x: dg.histc(x, 4), "Histc", "histc has no ONNX equivalent"),
])
def test_ops_without_an_onnx_form_name_the_op(tmp_path, fn, op, message):
    with pytest.raises(ExportError, match=f"cannot export op {op} called in the model's own "
                                          f"forward: {message}"):
        to_onnx(Net(fn), np.ones((2, 6), np.float32), tmp_path / "m.onnx")


@pytest.mark.parametrize(("fn", "x", "message"), [
    (lambda x: x & 3, np.ones((2, 6), np.int32), "a bitwise op on int32 values: only bool"),
    (lambda x: ~x, np.ones((2, 6), np.int32), "~ of int32 values: only bool tensors export"),
    (lambda x: x > 300, np.ones((2, 6), np.uint8), "the number 300 does not fit the tensor's "
                                                    "dtype uint8"),
])
def test_what_cannot_export_says_why(tmp_path, fn, x, message):
    with pytest.raises(ExportError, match=message):
        to_onnx(Net(fn, linear=False), x, tmp_path / "m.onnx")


def test_index_fill_along_the_batch_needs_a_fixed_batch(tmp_path):
    model = Net(lambda x: x.index_fill(0, np.array([-1]), 0.0)).eval()
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    with pytest.raises(ExportError, match=r"op IndexFill .*: it fills slices of dimension 0, "
                                          r"whose size changes with the batch"):
        to_onnx(model, x, tmp_path / "m.onnx")
    path = to_onnx(model, x, tmp_path / "m.onnx", dynamic_batch=False)
    with dg.no_grad():
        expected = model(dg.tensor(x)).numpy()
    _assert_same(_session(path).run(None, {"input": x})[0], expected, "onnxruntime")
