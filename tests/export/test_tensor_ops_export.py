"""ONNX export of the tensor ops added after the first exporter: elementwise math (trigonometric,
hyperbolic, steps, log1p / expm1, atan2, nan_to_num, remainder / fmod), where and masked_fill,
flip, roll, tril / triu, diag, index_select, gather, scatter / scatter_add, pad, and the
reductions prod, amax / amin, max / min along a dim, var / std and logsumexp. Each model passes
onnx.checker (full check); onnxruntime, ``deepgrad_runtime`` and the file imported back
(``from_onnx``) match deepgrad in float32 at batch sizes 1 and 5. The files hold only operators
that are the same in opsets 17 and 18 (or are written for each). The ops that cannot export say
why."""

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
from deepgrad.export import ExportError, from_onnx, to_onnx
from deepgrad.nn import functional as F


def _halves(batch, shape, rng):
    # multiples of 0.5 (the ties of round), with zeros and negatives
    return rng.integers(-6, 7, (batch, *shape)) / 2


def _scales(batch, shape, rng):
    # from 1e-9 to 1e2 in size, both signs, zeros: log1p and expm1 near 0 and far from it
    magnitude = 10.0 ** rng.integers(-9, 3, (batch, *shape))
    return rng.choice([-1.0, 0.0, 1.0], (batch, *shape)) * magnitude * rng.uniform(0.5, 1, (
        batch, *shape))


def _infinite_rows(batch, shape, rng):
    # logsumexp's rows of -inf (-inf), with +inf (inf), and ordinary ones
    x = rng.standard_normal((batch, *shape))
    x[0, 0] = -np.inf
    x[-1, -1, 0] = np.inf
    return x


def _integers(batch, shape, rng):
    # wider than the shared -3..3: square and prod reach larger values
    return integers(batch, shape, rng, bound=7)


def _nonzero_integers(batch, shape, rng):
    return rng.choice([-5, -3, -2, 2, 3, 5], (batch, *shape)).astype(np.int64)


MASK = np.array([True, False, False, True, True, False])
FIRST_ROW = np.zeros((1, 3), np.int64)
REPEATED = np.array([[0, 2, 2, 5]])


def _causal_softmax(x):
    future = dg.triu(dg.ones(6, 6), 1).bool()  # a constant: computed once, at export
    return dg.softmax(x.masked_fill(future, float("-inf")), -1)

# (id, model factory, input shape without the batch, input maker)
CASES = [
    ("sin", lambda: Net(dg.sin), (6,), spread),
    ("cos", lambda: Net(dg.cos), (6,), spread),
    ("erf", lambda: Net(dg.erf), (6,), spread),
    ("asin", lambda: Net(lambda x: dg.asin(dg.tanh(x))), (6,), spread),
    ("acos", lambda: Net(lambda x: dg.acos(dg.tanh(x))), (6,), spread),
    ("atan", lambda: Net(dg.atan), (6,), spread),
    ("sinh", lambda: Net(dg.sinh), (6,), spread),
    ("cosh", lambda: Net(dg.cosh), (6,), spread),
    ("reciprocal", lambda: Net(dg.reciprocal), (6,), spread),
    ("rsqrt", lambda: Net(lambda x: dg.rsqrt(x * x + 0.1)), (6,), spread),
    ("square", lambda: Net(dg.square), (6,), spread),
    ("square-integers", lambda: Net(dg.square, linear=False), (6,), _integers),
    ("log2", lambda: Net(lambda x: dg.log2(x * x + 0.1)), (6,), spread),
    ("log10", lambda: Net(lambda x: dg.log10(x * x + 0.1)), (6,), spread),
    ("log1p", lambda: Net(dg.log1p, linear=False), (6,), lambda *a: np.abs(_scales(*a)) - 0.9),
    ("expm1", lambda: Net(dg.expm1, linear=False), (6,), _scales),
    ("sign", lambda: Net(dg.sign, linear=False), (6,), _halves),
    ("sign-integers", lambda: Net(dg.sign, linear=False), (6,), _integers),
    ("floor", lambda: Net(dg.floor, linear=False), (6,), _halves),
    ("ceil", lambda: Net(dg.ceil, linear=False), (6,), _halves),
    ("round-half-to-even", lambda: Net(dg.round, linear=False), (6,), _halves),
    ("trunc", lambda: Net(dg.trunc, linear=False), (6,), _halves),
    ("floor-integers", lambda: Net(lambda x: dg.floor(x) * 2, linear=False), (6,), _integers),
    ("atan2", lambda: Net(lambda x: dg.atan2(x[:, :3], x[:, 3:]), linear=False), (6,),
     special),
    ("atan2-number", lambda: Net(lambda x: dg.atan2(x, -1.0)), (6,), spread),
    ("nan-to-num", lambda: Net(dg.nan_to_num, linear=False), (6,), special),
    ("nan-to-num-values", lambda: Net(lambda x: dg.nan_to_num(x, 1.0, 7.0, -8.0), linear=False),
     (6,), special),
    ("remainder", lambda: Net(lambda x: dg.remainder(x[:, :3], x[:, 3:])), (6,), spread),
    ("remainder-number", lambda: Net(lambda x: x % -1.5), (6,), spread),
    ("remainder-exact-multiples", lambda: Net(lambda x: dg.remainder(x, 1.5), linear=False),
     (6,), _halves),
    ("fmod", lambda: Net(lambda x: dg.fmod(x[:, :3], x[:, 3:])), (6,), spread),
    ("remainder-integers", lambda: Net(lambda x: x[:, :3] % x[:, 3:], linear=False), (6,),
     _nonzero_integers),
    ("fmod-integers", lambda: Net(lambda x: dg.fmod(x[:, :3], x[:, 3:]), linear=False), (6,),
     _nonzero_integers),
    ("where", lambda: Net(lambda x: dg.where(MASK, x, -x)), (6,), spread),
    ("where-number", lambda: Net(lambda x: dg.where(MASK, 0.5, x)), (3, 6), spread),
    ("masked-fill", lambda: Net(lambda x: x.masked_fill(MASK, -1e9)), (6,), spread),
    ("masked-fill-integers", lambda: Net(lambda x: x.masked_fill(MASK, 3), linear=False), (6,),
     _integers),
    ("flip", lambda: Net(lambda x: x.flip(1)), (6,), spread),
    ("flip-with-batch", lambda: Net(lambda x: x.flip((0, 2))), (3, 6), spread),
    ("roll", lambda: Net(lambda x: x.roll(2, 1)), (6,), spread),
    ("roll-two-dims-wrapping", lambda: Net(lambda x: x.roll((-8, 1), (2, 1))), (3, 6), spread),
    ("tril", lambda: Net(dg.tril), (4, 6), spread),
    ("triu-diagonal", lambda: Net(lambda x: dg.triu(x, 2)), (4, 6), spread),
    ("tril-integers", lambda: Net(lambda x: dg.tril(x, -1), linear=False), (3, 3), _integers),
    ("causal-mask", lambda: Net(_causal_softmax), (6, 6), spread),
    ("diag", lambda: Net(lambda x: dg.diag(x[0])), (6,), spread),
    ("diag-above", lambda: Net(lambda x: dg.diag(x[-1], 2)), (6,), spread),
    ("diag-below", lambda: Net(lambda x: dg.diag(x[0, 1:], -1), linear=False), (6,), special),
    ("index-select", lambda: Net(lambda x: x.index_select(1, np.array([4, 0, 4, -1]))), (6,),
     spread),
    ("gather", lambda: Net(lambda x: x.gather(1, dg.argsort(x, 1)[:, :3])), (6,), spread),
    ("gather-batch-axis-corner", lambda: Net(lambda x: x.gather(0, FIRST_ROW)), (6,), spread),
    ("gather-row-block", lambda: Net(lambda x: x.gather(2, FIRST_ROW[None])), (2, 6), spread),
    ("scatter", lambda: Net(lambda x: x.scatter(1, dg.argsort(x, 1), x * 10)), (6,), spread),
    ("scatter-number", lambda: Net(lambda x: x.scatter(1, dg.argsort(x, 1)[:, :2], -1.0)), (6,),
     spread),
    ("scatter-add-repeated", lambda: Net(lambda x: dg.scatter_add(x, 1, REPEATED, x)), (6,),
     spread),
    ("pad", lambda: Net(lambda x: F.pad(x, (1, 2))), (6,), spread),
    ("pad-crop-batch", lambda: Net(lambda x: F.pad(x, (1, -2, -1, 1, 2, 0), value=3.0)), (3, 6),
     spread),
    ("pad-integers", lambda: Net(lambda x: F.pad(x, (0, 2), value=-4), linear=False), (6,),
     _integers),
    ("pad-reflect", lambda: Net(lambda x: F.pad(x, (2, 1, 1, 0), "reflect")), (3, 6), spread),
    ("pad-replicate", lambda: Net(lambda x: F.pad(x, (0, 3), "replicate")), (6,), spread),
    ("pad-circular", lambda: Net(lambda x: F.pad(x, (2, 1, 0, 3), "circular")), (3, 6),
     spread),
    ("prod", lambda: Net(lambda x: x.prod(1)), (6,), spread),
    ("prod-keepdim", lambda: Net(lambda x: x.prod((1, 2), keepdim=True)), (3, 6), spread),
    ("prod-batch-axis", lambda: Net(lambda x: x.prod(0)), (6,), spread),
    ("prod-all", lambda: Net(lambda x: x.prod(), linear=False), (6,), _halves),
    ("prod-integers", lambda: Net(lambda x: x.prod(1), linear=False), (6,), _integers),
    ("amax", lambda: Net(lambda x: x.amax(1)), (6,), spread),
    ("amin-keepdim-batch", lambda: Net(lambda x: x.amin((0, 2), keepdim=True), linear=False),
     (3, 6), ties),
    ("amax-all", lambda: Net(lambda x: x.amax()), (6,), spread),
    ("amax-integers", lambda: Net(lambda x: x.amax(-1), linear=False), (6,), _integers),
    ("max-dim", lambda: Net(lambda x: tuple(x.max(1)), linear=False), (6,), ties),
    ("min-dim-keepdim", lambda: Net(lambda x: tuple(dg.min(x, 1, keepdim=True)), linear=False),
     (3, 6), ties),
    ("max-dim-batch-axis", lambda: Net(lambda x: x.max(0).values), (6,), spread),
    ("var", lambda: Net(lambda x: x.var(1)), (6,), spread),
    ("std-keepdim-population", lambda: Net(lambda x: x.std((1, 2), keepdim=True, correction=0)),
     (3, 6), spread),
    ("var-batch-axis", lambda: Net(lambda x: x.var(0, correction=2)), (6,), spread),
    ("std-all", lambda: Net(lambda x: x.std()), (6,), spread),
    ("logsumexp", lambda: Net(lambda x: x.logsumexp(1)), (6,), spread),
    ("logsumexp-keepdim-infinite", lambda: Net(lambda x: dg.logsumexp(x, (1, 2), keepdim=True),
                                               linear=False), (3, 6), _infinite_rows),
    ("logsumexp-batch-axis", lambda: Net(lambda x: x.logsumexp((0, 1))), (6,), spread),
]


# var-batch-axis at batch 1 and 2 on purpose: no degrees of freedom left, as in the graph
@pytest.mark.filterwarnings("ignore:var. .* leave no degrees of freedom:RuntimeWarning")
@pytest.mark.parametrize(("make_model", "shape", "make_input"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_export_matches(tmp_path, make_model, shape, make_input):
    check_export(tmp_path, make_model, shape, make_input)


def test_opsets_17_and_18(tmp_path):
    # ReduceProd's axes are an attribute in opset 17 and an input from 18; the other operators
    # read the same in both.
    # (No Pad: onnx's version converter, which imports opset 18 as 17, has no adapter for it.)
    model = Net(lambda x: (x.prod(1), x.amax(1), x.var(1), x.logsumexp(1), dg.log1p(x * x),
                           dg.atan2(x, 1.0), x.gather(1, dg.argsort(x, 1)),
                           dg.scatter_add(x, 1, dg.argsort(x, 1), x))).eval()
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    with dg.no_grad():
        expected = [t.numpy() for t in model(dg.tensor(x))]
    for opset in (17, 18):
        path = to_onnx(model, x, tmp_path / f"m{opset}.onnx", opset=opset)
        onnx.checker.check_model(str(path), full_check=True)
        (prod,) = [n for n in onnx.load(str(path)).graph.node if n.op_type == "ReduceProd"]
        assert (len(prod.input), [a.name for a in prod.attribute]) == (
            (1, ["axes", "keepdims"]) if opset == 17 else (2, ["keepdims"]))
        with dg.no_grad():
            imported = [t.numpy() for t in from_onnx(path)(dg.tensor(x))]
        for who, got in (("onnxruntime", session(path).run(None, {"input": x})),
                         ("from_onnx", imported)):
            for g, e in zip(got, expected, strict=True):
                assert_close(g, e, f"{who}, opset {opset}")


@pytest.mark.parametrize(("fn", "message"), [
    (lambda x: x.roll(1), "op Roll .*: it rolls the flattened tensor, whose length changes"),
    (lambda x: x.roll(1, 0), "op Roll .*: it rolls dimension 0, whose size changes"),
    (lambda x: dg.diag(x[:, 0]), "op Diag .*: the vector's length, and so the matrix's size, "
                                 "changes"),
])
def test_what_needs_a_fixed_batch_says_why(tmp_path, fn, message):
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    with pytest.raises(ExportError, match=message):
        to_onnx(Net(fn), x, tmp_path / "m.onnx")
    model = Net(fn).eval()
    path = to_onnx(model, x, tmp_path / "m.onnx", dynamic_batch=False)
    with dg.no_grad():
        expected = model(dg.tensor(x)).numpy()
    assert_close(session(path).run(None, {"input": x})[0], expected, "onnxruntime")


@pytest.mark.parametrize(("fn", "message"), [
    # the mask is computed from the input with NumPy, which the trace does not see
    (lambda x: dg.where(dg.tensor(x.numpy() > 0), x, 0.0), "argument 0 is a tensor that changes"),
])
def test_what_cannot_export_says_why(tmp_path, fn, message):
    with pytest.raises(ExportError, match=message):
        to_onnx(Net(fn), np.ones((2, 6), np.float32), tmp_path / "m.onnx")
