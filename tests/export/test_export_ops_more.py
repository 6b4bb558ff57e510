"""ONNX export of casts, norm (and normalize, cosine_similarity, pairwise_distance), cumsum,
cumprod, sort, topk, einsum, tile / repeat / expand and adaptive_max_pool2d: each model passes
onnx.checker (full check); onnxruntime, ``deepgrad_runtime`` and the file imported back
(``from_onnx``) match deepgrad in float32 and float64 at batch sizes 1 and 5; the imported
module's input gradient matches deepgrad's where the op is differentiable. The ops that cannot
export say why."""

import numpy as np
import pytest
from export_harness import Net, check_export, integers, onnx, spread, ties

import deepgrad as dg
from deepgrad import nn
from deepgrad.export import ExportError, from_onnx, to_onnx
from deepgrad.nn import functional as F


class Einsum(nn.Module):
    """``einsum(equation, x, weight)``, or of x alone without a weight shape."""

    def __init__(self, equation, weight_shape=None):
        super().__init__()
        self.equation = equation
        self.weight = nn.Parameter(dg.randn(*weight_shape)) if weight_shape else None

    def forward(self, x):
        operands = (x,) if self.weight is None else (x, self.weight)
        return dg.einsum(self.equation, *operands)


def _with_zeros(x):
    # zeros (where -0.5 < x <= 0), negatives and positives
    return F.relu(x) - F.relu(-x - 0.5)


def _tolerance(dtype):
    # float64 outputs are held to float64's precision (integer ones are exact either way)
    return (1e-5, 1e-5) if dtype == np.float32 else (1e-10, 1e-10)


# (id, model factory, input shape without the batch, input maker, differentiable)
CASES = [
    ("norm-2", lambda: Net(lambda x: x.norm(dim=1)), (6,), spread, True),
    ("norm-2-all-keepdim", lambda: Net(lambda x: dg.norm(x, dim=(1, 2), keepdim=True)), (3, 6),
     spread, True),
    ("norm-whole-batch", lambda: Net(lambda x: x.norm()), (6,), spread, True),
    ("norm-1", lambda: Net(lambda x: dg.norm(x, 1, dim=-1)), (6,), spread, True),
    ("norm-inf", lambda: Net(lambda x: dg.norm(x, float("inf"), dim=(1, 2))), (3, 6), spread,
     True),
    ("norm-minus-inf-keepdim", lambda: Net(lambda x: dg.norm(x, -float("inf"), 1, True)),
     (6,), spread, True),
    ("norm-inf-whole-batch", lambda: Net(lambda x: dg.norm(x, float("inf"))), (6,), spread,
     True),
    ("norm-0", lambda: Net(lambda x: dg.norm(_with_zeros(x), 0, dim=1)), (6,), spread, False),
    ("norm-3", lambda: Net(lambda x: dg.norm(x, 3, dim=1)), (6,), spread, True),
    ("norm-half", lambda: Net(lambda x: dg.norm(x, 0.5, dim=1)), (6,), spread, True),
    ("normalize", lambda: Net(lambda x: F.normalize(x, dim=1)), (6,), spread, True),
    ("normalize-p1", lambda: Net(lambda x: F.normalize(x, p=1, dim=-1)), (2, 6), spread, True),
    ("cosine-similarity", lambda: Net(lambda x: F.cosine_similarity(x[:, :3], x[:, 3:])), (6,),
     spread, True),
    # The norms' clamp to eps is in the graph: 0, not NaN. (Values only: an imported graph
    # differentiates the norm as Sqrt(ReduceSum(x * x)), infinite at 0.)
    ("cosine-similarity-zero-vectors",
     lambda: Net(lambda x: F.cosine_similarity(F.relu(x[:, :3] - 9), x[:, 3:]), linear=False),
     (6,), ties, False),
    ("cosine-similarity-broadcast",
     lambda: Net(lambda x: F.cosine_similarity(x, x[:, :1], dim=-1)), (3, 6), spread, True),
    ("pairwise-distance", lambda: Net(lambda x: F.pairwise_distance(x[:, :3], x[:, 3:])),
     (6,), spread, True),
    ("pairwise-distance-p1-keepdim",
     lambda: Net(lambda x: F.pairwise_distance(x[:, :3], x[:, 3:], p=1, keepdim=True)), (6,),
     spread, True),
    ("cumsum", lambda: Net(lambda x: x.cumsum(1)), (6,), spread, True),
    ("cumsum-batch-axis", lambda: Net(lambda x: x.cumsum(0)), (6,), spread, True),
    ("cumsum-integers", lambda: Net(lambda x: x.cumsum(-1), linear=False), (6,), integers,
     False),
    ("cumprod", lambda: Net(lambda x: _with_zeros(x).cumprod(1)), (6,), spread, True),
    ("cumprod-odd-length", lambda: Net(lambda x: x.cumprod(1), features=5), (3, 5), spread,
     True),
    ("cumprod-integers", lambda: Net(lambda x: x.cumprod(1), linear=False), (7,), integers,
     False),
    ("sort", lambda: Net(lambda x: dg.sort(x, 1).values), (6,), spread, True),
    ("sort-descending-indices", lambda: Net(lambda x: tuple(dg.sort(x, -1, descending=True))),
     (6,), spread, True),
    ("sort-ties", lambda: Net(lambda x: tuple(dg.sort(x, 1)), linear=False), (8,), ties, True),
    ("sort-ties-descending", lambda: Net(lambda x: tuple(dg.sort(x, 1, descending=True)),
                                         linear=False), (8,), ties, True),
    ("sort-batch-axis", lambda: Net(lambda x: tuple(dg.sort(x, 0))), (6,), spread, True),
    ("topk", lambda: Net(lambda x: tuple(dg.topk(x, 3))), (6,), spread, True),
    ("cast-float64", lambda: Net(lambda x: x.double() * 2, linear=False), (6,), spread, True),
    ("cast-int64", lambda: Net(lambda x: (x * 3).long()), (6,), spread, False),
    ("argsort-ties", lambda: Net(lambda x: dg.argsort(x, 1, descending=True), linear=False),
     (8,), ties, False),
    ("topk-smallest-ties", lambda: Net(lambda x: tuple(dg.topk(x, 4, 1, largest=False)),
                                       linear=False), (8,), ties, True),
    ("einsum-weight", lambda: Einsum("bi,oi->bo", (4, 6)), (6,), spread, True),
    ("einsum-batched", lambda: Net(lambda x: dg.einsum("bij,bkj->bik", x, x)), (3, 6), spread,
     True),
    ("einsum-ellipsis", lambda: Einsum("...ij->...ji"), (2, 3, 4), spread, True),
    ("einsum-diagonal", lambda: Einsum("bii->bi"), (4, 4), spread, True),
    ("einsum-implicit", lambda: Net(lambda x: dg.einsum("bi,bj", x, x[:, :2])), (6,), spread,
     True),
    ("tile", lambda: Net(lambda x: x.tile(2)), (6,), spread, True),
    ("repeat-new-dimension", lambda: Net(lambda x: x.repeat(2, 1, 3)), (6,), spread, True),
    ("repeat-batch-axis", lambda: Net(lambda x: x.repeat(3, 1)), (6,), spread, True),
    ("adaptive-max-pool", lambda: Net(lambda x: F.adaptive_max_pool2d(x, (3, 4)), features=7),
     (2, 5, 7), spread, True),
    ("adaptive-max-pool-tiling", lambda: Net(lambda x: F.adaptive_max_pool2d(x, (2, 3))),
     (2, 4, 6), spread, True),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("make_model", "shape", "make_input", "differentiable"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_export_matches(tmp_path, make_model, shape, make_input, differentiable, dtype):
    check_export(tmp_path, make_model, shape, make_input, dtype, _tolerance,
                 gradients=differentiable and dtype == np.float64)


def test_operators_stay_within_opset_17_and_18(tmp_path):
    # TopK for the max-norm: ReduceMax's axes moved from an attribute to an input in opset 18.
    model = Net(lambda x: (dg.norm(x, float("inf"), 1), x.cumprod(1), dg.topk(x, 2).values))
    for opset in (17, 18):
        path = to_onnx(model, np.ones((2, 6), np.float32), tmp_path / "m.onnx", opset=opset)
        onnx.checker.check_model(str(path), full_check=True)
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert ops.isdisjoint({"ReduceMax", "ReduceMin", "Exp", "Log"}), ops


def test_imported_model_fine_tunes(tmp_path):
    model = Net(lambda x: dg.sort(F.normalize(x, dim=1).cumsum(1), 1).values)
    path = to_onnx(model, np.ones((2, 6), np.float32), tmp_path / "m.onnx")
    imported = from_onnx(path).train()
    weight = imported.initializer_names["fc.weight"]
    assert weight in dict(imported.named_parameters())
    x = dg.tensor(np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32))
    before = (imported(x) ** 2).mean()
    optimizer = dg.optim.SGD(imported.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        loss = (imported(x) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert (imported(x) ** 2).mean().item() < before.item()


@pytest.mark.parametrize(("fn", "op", "message"), [
    (lambda x: x.cumprod(0), "Cumprod", "ONNX has no running product.*batch dimension"),
    (lambda x: F.adaptive_max_pool2d(x.reshape(-1, 1, 2, 3), 2, return_indices=True)[0],
     "AdaptiveMaxPool", r"return_indices=True"),
    (lambda x: F.cosine_similarity(x, x[:1]), "Expand",
     "it broadcasts a dimension of size 1 to the batch size"),
])
def test_what_cannot_export_says_why(tmp_path, fn, op, message):
    with pytest.raises(ExportError, match=f"cannot export op {op} called in the model's own "
                                          f"forward: {message}"):
        to_onnx(Net(fn), np.ones((2, 6), np.float32), tmp_path / "m.onnx")
    # a fixed batch size lifts the restriction on the batch dimension
    if op != "AdaptiveMaxPool":
        to_onnx(Net(fn), np.ones((2, 6), np.float32), tmp_path / "m.onnx", dynamic_batch=False)


@pytest.mark.parametrize("fn", [lambda x: F.one_hot(dg.argsort(x, 1)[:, 0], 6),
                                lambda x: dg.nonzero(x > 0)])
def test_untraced_ops_are_refused(tmp_path, fn):
    with pytest.raises(ExportError):
        to_onnx(Net(fn), np.ones((2, 6), np.float32), tmp_path / "m.onnx")


def test_a_weight_read_by_einsum_imports_as_a_parameter(tmp_path):
    dg.manual_seed(0)
    path = to_onnx(Einsum("bi,oi->bo", (4, 6)), np.ones((2, 6), np.float32), tmp_path / "e.onnx")
    imported = from_onnx(path)
    assert imported.initializer_names["weight"] in dict(imported.named_parameters())
