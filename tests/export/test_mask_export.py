"""ONNX export of masks and indices computed from the input: comparisons, logic, isnan / isinf /
isfinite, isclose, any / all / count_nonzero and argmax / argmin (recorded by the trace although
they have no gradient), used by where, masked_fill and arithmetic; and the index ops index_add,
index_copy, index_fill and kthvalue. Each model passes onnx.checker (full check); onnxruntime,
``deepgrad_runtime`` and the file imported back (``from_onnx``) match deepgrad at batch sizes 1
and 5. The ops without an ONNX form (cummax, cummin, mode, histc) fail naming the op."""

import numpy as np
import pytest
from export_harness import (
    Net,
    assert_close,
    check_export,
    integers,
    onnx,
    session,
    special,
    spread,
    ties,
)

import deepgrad as dg
from deepgrad.export import ExportError, to_onnx

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
    ("where-leaky", lambda: Net(lambda x: dg.where(x > 0, x, 0.1 * x)), (6,), spread),
    ("masked-fill-negative", lambda: Net(lambda x: x.masked_fill(x < 0, 0)), (6,), spread),
    ("times-mask", lambda: Net(lambda x: x * (x >= 0.5)), (6,), spread),
    ("clamp-by-comparisons", lambda: Net(_clamp_by_comparisons), (6,), spread),
    ("band-mask", lambda: Net(lambda x: x * ((x >= -0.5) & (x <= 0.5)).float()), (6,), spread),
    ("compare-tensors", lambda: Net(lambda x: (x[:, :3] == x[:, 3:], x[:, :3] != x[:, 3:],
                                               x[:, :3] < x[:, 3:], x[:, :3] > x[:, 3:]),
                                    linear=False), (6,), ties),
    ("compare-number-on-the-left", lambda: Net(lambda x: (0.5 <= x, 1 >= x)), (6,), spread),
    ("compare-nan", lambda: Net(lambda x: (x != x, x == x, x > 0), linear=False), (6,),
     special),
    ("compare-integers", lambda: Net(lambda x: (x > 2, x == 1.5, x != -1), linear=False), (6,),
     integers),
    ("compare-bools", lambda: Net(lambda x: ((x > 0) < (x > 1), (x > 0) == (x < 1))), (6,),
     spread),
    ("logic", lambda: Net(_logic), (6,), spread),
    ("logic-of-numbers", lambda: Net(lambda x: (dg.logical_and(x, 1), dg.logical_or(x, 0)),
                                     linear=False), (6,), integers),
    ("isnan-cleanup", lambda: Net(_cleanup, linear=False), (6,), special),
    ("isinf-isfinite", lambda: Net(lambda x: (dg.isinf(x), dg.isfinite(x)), linear=False), (6,),
     special),
    ("isnan-integers", lambda: Net(lambda x: (dg.isnan(x), dg.isfinite(x)), linear=False), (6,),
     integers),
    ("isclose", lambda: Net(lambda x: dg.isclose(x[:, :3], x[:, 3:], atol=0.5), linear=False),
     (6,), special),
    ("isclose-number-equal-nan", lambda: Net(lambda x: dg.isclose(x, 1.5, equal_nan=True),
                                             linear=False), (6,), special),
    ("any-all", lambda: Net(lambda x: ((x > 1).any(1), (x > -3).all(1, keepdim=True),
                                       (x > 0).any())), (6,), spread),
    ("count-nonzero", lambda: Net(lambda x: dg.count_nonzero(x, 1), linear=False), (6,),
     integers),
    # Sums of bools and integers, which deepgrad (as PyTorch) takes in int64.
    ("sums-of-masks-and-integers", lambda: Net(lambda x: (
        (x > 0).sum(1), (x * 2).long().sum(1, keepdim=True), (x > 0).int().sum()),
        linear=False), (6,), spread),
    ("argmax", lambda: Net(lambda x: x.argmax(1)), (6,), spread),
    ("argmin-keepdim-ties", lambda: Net(lambda x: x.argmin(2, keepdim=True), linear=False),
     (3, 6), ties),
    ("argmax-flattened", lambda: Net(lambda x: (x.argmax(), x.argmin(keepdim=True)),
                                     linear=False), (3, 6), ties),
    ("argmax-nan-first", lambda: Net(lambda x: (x.argmax(1), x.argmin(1)), linear=False), (6,),
     special),
    ("argmax-integers", lambda: Net(lambda x: dg.argmax(x, 1), linear=False), (6,), integers),
    ("one-hot-of-argmax", lambda: Net(_one_hot_of_argmax), (6,), spread),
    ("index-add", lambda: Net(lambda x: x.index_add(1, np.array([0, 2, 2]), x[:, 3:])), (6,),
     spread),
    ("index-add-alpha", lambda: Net(lambda x: x.index_add(2, np.array([5, 1]), x[:, :, :2] * 3,
                                                          alpha=-0.5)), (3, 6), spread),
    ("index-add-integers", lambda: Net(lambda x: dg.index_add(x, 1, np.array([4]), x[:, :1],
                                                              alpha=2), linear=False), (6,),
     integers),
    ("index-copy", lambda: Net(lambda x: x.index_copy(1, np.array([5, 0]), x[:, 1:3] * 2)),
     (6,), spread),
    ("index-fill", lambda: Net(lambda x: x.index_fill(1, np.array([1, -1]), -2.0)), (6,),
     spread),
    ("index-fill-tensor-value", lambda: Net(lambda x: x.index_fill(2, np.array([0, 3]),
                                                                   x[0, 0, 0])), (3, 6),
     spread),
    ("kthvalue", lambda: Net(lambda x: tuple(x.kthvalue(2, 1)), linear=False), (6,), ties),
    ("kthvalue-keepdim", lambda: Net(lambda x: tuple(dg.kthvalue(x, 6, 2, keepdim=True))),
     (3, 6), spread),
]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("make_model", "shape", "make_input"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_export_matches(tmp_path, make_model, shape, make_input):
    check_export(tmp_path, make_model, shape, make_input)


# The comparison, logic and NaN/infinity cases: an imported graph computes them with deepgrad's
# comparison ops (recorded by a trace), so that it exports again.
REEXPORTED = CASES[:CASES.index(next(case for case in CASES if case[0] == "argmax"))]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("make_model", "shape", "make_input"),
                         [case[1:] for case in REEXPORTED], ids=[case[0] for case in REEXPORTED])
def test_imported_masks_export_again(tmp_path, make_model, shape, make_input):
    check_export(tmp_path, make_model, shape, make_input, again=True)


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
    for g, e in zip(session(path).run(None, {"input": x}), expected, strict=True):
        assert_close(g, e, "onnxruntime, opset 18")


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
    assert_close(session(path).run(None, {"input": x})[0], expected, "onnxruntime")
