"""Losses: gradcheck, parity with torch for every option, stability, modules, error texts."""

import itertools
import warnings

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [np.float64, np.float32]
C = 4
SHAPES = {"2d": (6, C), "kdim": (3, C, 2, 3), "one": (C,)}


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _as(framework, a):
    return None if a is None else framework.tensor(a)


# ----------------------------------------------------------------------------- data
def _classification(seed, shape_name, ignore, probabilities, dtype=np.float64):
    """Logits, a target and the ignore_index to pass for a parity or gradcheck case."""
    rng = np.random.default_rng(seed)
    shape = SHAPES[shape_name]
    logits = (rng.standard_normal(shape) * 2).astype(dtype)
    if probabilities:
        axis = 0 if len(shape) == 1 else 1
        return logits, _softmax(rng.standard_normal(shape) * 2, axis).astype(dtype), -100
    index_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    target = rng.integers(0, C, index_shape) if index_shape else np.array(1)
    ignore_index = {"none": -100, "default": -100, "class": 2}[ignore]
    if ignore == "default" and target.ndim:
        target.flat[[1, 3]] = -100
    if ignore == "class" and target.ndim:
        target.flat[[0, 4]] = 2
    return logits, target, ignore_index


INDEX_CASES = list(itertools.product(["2d", "kdim", "one"], ["none", "default", "class"],
                                     [False, True], [0.0, 0.3]))
PROB_CASES = list(itertools.product(["2d", "kdim", "one"], [False, True], [0.0, 0.3]))


# ----------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_name,ignore,weighted,smoothing", INDEX_CASES)
def test_cross_entropy_parity(torch, shape_name, ignore, weighted, smoothing, reduction, dtype):
    logits, target, ignore_index = _classification(0, shape_name, ignore, False, dtype)
    w = np.array([0.5, 2.0, 1.5, 0.25], dtype) if weighted else None
    options = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    check_parity(torch, lambda x, t: F.cross_entropy(x, t, _as(dg, w), **options),
                 lambda x, t: torch.nn.functional.cross_entropy(x, t, _as(torch, w), **options),
                 [logits, target])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_name,weighted,smoothing", PROB_CASES)
def test_cross_entropy_probability_targets_parity(torch, shape_name, weighted, smoothing,
                                                  reduction, dtype):
    logits, target, _ = _classification(1, shape_name, "none", True, dtype)
    w = np.array([0.5, 2.0, 1.5, 0.25], dtype) if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing)
    check_parity(torch, lambda x, t: F.cross_entropy(x, t, _as(dg, w), **options),
                 lambda x, t: torch.nn.functional.cross_entropy(x, t, _as(torch, w), **options),
                 [logits, target])  # the target's gradient is compared too


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_name,ignore,weighted,smoothing", INDEX_CASES)
def test_cross_entropy_gradcheck(shape_name, ignore, weighted, smoothing, reduction):
    logits, target, ignore_index = _classification(2, shape_name, ignore, False)
    w = dg.tensor([0.5, 2.0, 1.5, 0.25], dtype=dg.float64) if weighted else None
    x = dg.tensor(logits, requires_grad=True)
    assert dg.gradcheck(lambda a: F.cross_entropy(
        a, target, w, ignore_index=ignore_index, reduction=reduction,
        label_smoothing=smoothing), (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_name,weighted,smoothing", PROB_CASES)
def test_cross_entropy_probability_targets_gradcheck(shape_name, weighted, smoothing, reduction):
    logits, target, _ = _classification(3, shape_name, "none", True)
    w = dg.tensor([0.5, 2.0, 1.5, 0.25], dtype=dg.float64) if weighted else None
    x, t = dg.tensor(logits, requires_grad=True), dg.tensor(target, requires_grad=True)
    assert dg.gradcheck(lambda a, b: F.cross_entropy(a, b, w, reduction=reduction,
                                                     label_smoothing=smoothing), (x, t))


def test_cross_entropy_non_contiguous_and_matches_the_primitives():
    xt = dg.from_numpy(np.random.default_rng(4).standard_normal((4, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda a: F.cross_entropy(a, np.array([0, 3, 1])), (xt,))
    logits = np.random.default_rng(5).standard_normal((6, 5))
    target = np.random.default_rng(6).integers(0, 5, 6)
    a, b = dg.tensor(logits, requires_grad=True), dg.tensor(logits, requires_grad=True)
    F.cross_entropy(a, target).backward()
    (-b.log_softmax(dim=1)[dg.arange(6), dg.tensor(target)].mean()).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_one_node_and_backward_twice_with_retained_graph():
    x = dg.tensor(np.random.default_rng(7).standard_normal((5, 3)), requires_grad=True)
    for kwargs in ({}, {"label_smoothing": 0.2, "weight": dg.tensor([1.0, 2.0, 3.0])}):
        loss = F.cross_entropy(x, np.array([0, 2, 1, 1, 0]), **kwargs)
        assert loss.grad_fn.edges == ((x, -1),)  # one node straight to the leaf
        loss.backward(retain_graph=True)
        first = x.grad.numpy().copy()
        x.grad = None
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), first, rtol=1e-14)
        x.grad = None


@pytest.mark.parametrize("loss_fn", ["cross_entropy", "nll_loss"])
def test_all_ignored_mean_is_nan_with_zero_gradient_as_torch(torch, loss_fn):
    check_parity(torch, lambda x, t: getattr(F, loss_fn)(x, t),
                 lambda x, t: getattr(torch.nn.functional, loss_fn)(x, t),
                 [np.zeros((2, 3)), np.array([-100, -100])])  # nan == nan in assert_close
    x = dg.tensor(np.zeros((2, 3)), requires_grad=True)
    getattr(F, loss_fn)(x, np.array([-100, -100])).backward()
    assert not x.grad.numpy().any()
    assert getattr(F, loss_fn)(x, np.array([-100, -100]), reduction="sum").item() == 0.0


# ----------------------------------------------------------------------------- nll
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_name,ignore,weighted",
                         list(itertools.product(["2d", "kdim", "one"],
                                                ["none", "default", "class"], [False, True])))
def test_nll_loss_parity_and_gradcheck(torch, shape_name, ignore, weighted, reduction, dtype):
    logits, target, ignore_index = _classification(8, shape_name, ignore, False, dtype)
    w = np.array([0.5, 2.0, 1.5, 0.25], dtype) if weighted else None
    options = dict(ignore_index=ignore_index, reduction=reduction)
    check_parity(torch, lambda x, t: F.nll_loss(x, t, _as(dg, w), **options),
                 lambda x, t: torch.nn.functional.nll_loss(x, t, _as(torch, w), **options),
                 [logits, target])
    if dtype == np.float64:
        x = dg.tensor(logits, requires_grad=True)
        assert dg.gradcheck(lambda a: F.nll_loss(a, target, _as(dg, w), **options), (x,))


# ----------------------------------------------------------------------------- regression
def _regression_cases():
    cases = [(name, {}) for name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss")]
    cases += [("huber_loss", {"delta": 0.5}), ("smooth_l1_loss", {"beta": 0.5}),
              ("smooth_l1_loss", {"beta": 0.0})]
    cases += [(name, {"weight": True}) for name in ("mse_loss", "l1_loss", "huber_loss")]
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (128, 1)])
@pytest.mark.parametrize("name,options", _regression_cases())
def test_regression_parity(torch, name, options, shape, reduction, dtype):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(shape) * 1.5).astype(dtype)
    t = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.1, 2.0, shape).astype(dtype) if options.get("weight") else None
    options = {**options, "reduction": reduction, "weight": None}
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    if name == "smooth_l1_loss":  # the one without a weight argument
        del options["weight"]
        w_dg = w_torch = {}
    else:
        w_dg, w_torch = {"weight": _as(dg, w)}, {"weight": _as(torch, w)}
    check_parity(torch, lambda a, b: ours(a, b, **{**options, **w_dg}),
                 lambda a, b: theirs(a, b, **{**options, **w_torch}),
                 [x, t])  # both gradients: target requires grad too


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,options", _regression_cases())
def test_regression_gradcheck(name, options, reduction):
    rng = np.random.default_rng(10)
    x = dg.tensor(rng.standard_normal((4, 3)) * 1.5, requires_grad=True)
    t = dg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    if options.get("weight"):
        options = {"weight": dg.tensor(rng.uniform(0.1, 2.0, (4, 3)))}
    assert dg.gradcheck(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **options),
                        (x, t))


def test_mse_promotes_like_torch_and_gives_gradients_in_each_dtype(torch):
    x = dg.tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    t = np.linspace(0, 1, 4)  # float64, as NumPy makes it
    loss = F.mse_loss(x, t)
    expected = torch.nn.functional.mse_loss(torch.arange(4.0), torch.tensor(t))
    assert loss.dtype == np.float64 and expected.dtype == torch.float64
    assert_close(loss, expected)
    loss.backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("loss_fn", ["cross_entropy", "binary_cross_entropy_with_logits",
                                     "kl_div"])
def test_float64_targets_promote_like_torch(torch, loss_fn):
    logits = np.random.default_rng(17).standard_normal((3, 4)).astype(np.float32)
    target = _softmax(np.random.default_rng(18).standard_normal((3, 4)), 1)  # float64
    x = dg.tensor(logits, requires_grad=True)
    loss = getattr(F, loss_fn)(x, target, reduction="sum")
    expected = getattr(torch.nn.functional, loss_fn)(torch.tensor(logits), torch.tensor(target),
                                                     reduction="sum")
    assert loss.dtype == np.float64 and expected.dtype == torch.float64
    assert_close(loss, expected)
    loss.backward()
    assert x.grad.dtype == np.float32


def test_mse_of_an_empty_batch_is_nan_as_torch():
    assert np.isnan(F.mse_loss(dg.zeros(0), dg.zeros(0)).item())


# ----------------------------------------------------------------------------- binary
BCE_WEIGHTS = [None, (3,), (5, 1), (5, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", BCE_WEIGHTS)
def test_binary_cross_entropy_parity_and_gradcheck(torch, weight_shape, reduction, dtype):
    rng = np.random.default_rng(11)
    x = rng.uniform(0.02, 0.98, (5, 3)).astype(dtype)
    t = rng.uniform(0, 1, (5, 3)).astype(dtype)
    w = None if weight_shape is None else rng.uniform(0.1, 2, weight_shape).astype(dtype)
    check_parity(torch, lambda a, b: F.binary_cross_entropy(a, b, _as(dg, w), reduction),
                 lambda a, b: torch.nn.functional.binary_cross_entropy(
                     a, b, _as(torch, w), reduction=reduction), [x, t])
    if dtype == np.float64:
        xs, ts = dg.tensor(x, requires_grad=True), dg.tensor(t, requires_grad=True)
        assert dg.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, _as(dg, w), reduction),
                            (xs, ts))


def test_binary_cross_entropy_clamps_log_at_minus_100_as_torch(torch):
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-50], dtype=np.float64)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy(xd, dg.tensor(t), reduction="none")
    expected = torch.nn.functional.binary_cross_entropy(xt, torch.tensor(t), reduction="none")
    assert loss.tolist() == expected.tolist() == [100.0, 100.0, 0.0, 0.0, 100.0]
    loss.sum().backward()
    expected.sum().backward()
    # torch clamps x * (1 - x) at 1e-12 rounded to float32: the same to 4e-9
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-8)
    assert xd.grad.numpy()[0] == pytest.approx(-1e12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape,pos_weight_shape",
                         list(itertools.product(BCE_WEIGHTS, [None, (3,), (5, 3)])))
def test_bce_with_logits_parity_and_gradcheck(torch, weight_shape, pos_weight_shape, reduction,
                                              dtype):
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((5, 3)) * 3).astype(dtype)
    t = rng.uniform(0, 1, (5, 3)).astype(dtype)
    w = None if weight_shape is None else rng.uniform(0.1, 2, weight_shape).astype(dtype)
    p = None if pos_weight_shape is None else rng.uniform(0.5, 3, pos_weight_shape).astype(dtype)

    def ours(a, b):
        return F.binary_cross_entropy_with_logits(a, b, _as(dg, w), reduction, _as(dg, p))

    check_parity(torch, ours, lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
        a, b, _as(torch, w), reduction=reduction, pos_weight=_as(torch, p)), [x, t])
    if dtype == np.float64:
        assert dg.gradcheck(ours, (dg.tensor(x, requires_grad=True),
                                   dg.tensor(t, requires_grad=True)))


# ----------------------------------------------------------------------------- stability
EXTREME = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [1e4, 1e4, 1e4, -1e4]],
                   dtype=np.float32)


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1},
                                     {"weight": [1.0, 2.0, 0.5, 1.0]}, {"probabilities": True}])
def test_cross_entropy_is_finite_for_extreme_logits(torch, options):
    options = dict(options)
    if options.pop("probabilities", False):
        target = np.full((3, 4), 0.25, np.float32)
    else:
        target = np.array([1, 0, 3])
    w = options.pop("weight", None)
    w = None if w is None else np.array(w, np.float32)
    x = dg.tensor(EXTREME, requires_grad=True)
    loss = F.cross_entropy(x, target, _as(dg, w), **options)
    loss.backward()
    expected = torch.nn.functional.cross_entropy(torch.tensor(EXTREME), torch.tensor(target),
                                                 _as(torch, w), **options)
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("pos_weight", [None, [2.0, 0.5, 1.0, 3.0]])
def test_bce_with_logits_is_finite_for_extreme_logits(torch, pos_weight):
    target = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0.5, 0.5, 0, 1]], dtype=np.float32)
    p = None if pos_weight is None else np.array(pos_weight, np.float32)
    check_parity(torch, lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=_as(dg, p), reduction="none"),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
        a, b, pos_weight=_as(torch, p), reduction="none"), [EXTREME, target])
    x = dg.tensor(EXTREME, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, target, pos_weight=_as(dg, p))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()


# ----------------------------------------------------------------------------- distributions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2)])
@pytest.mark.filterwarnings("ignore:.*'mean'.*:UserWarning")
def test_kl_div_parity_and_gradcheck(torch, shape, log_target, reduction, dtype):
    rng = np.random.default_rng(13)
    x = np.log(_softmax(rng.standard_normal(shape), -1)).astype(dtype)
    t = _softmax(rng.standard_normal(shape), -1)
    t = (np.log(t) if log_target else t).astype(dtype)
    options = dict(reduction=reduction, log_target=log_target)
    check_parity(torch, lambda a, b: F.kl_div(a, b, **options),
                 lambda a, b: torch.nn.functional.kl_div(a, b, **options), [x, t])
    if dtype == np.float64:
        assert dg.gradcheck(lambda a, b: F.kl_div(a, b, **options),
                            (dg.tensor(x, requires_grad=True), dg.tensor(t, requires_grad=True)))


def test_kl_div_zero_target_counts_zero_and_mean_warns(torch):
    x = dg.tensor(np.log([[0.5, 0.25, 0.25]]), requires_grad=True)
    t = np.array([[1.0, 0.0, 0.0]])
    loss = F.kl_div(x, t, reduction="batchmean")
    expected = torch.nn.functional.kl_div(torch.tensor(x.numpy()), torch.tensor(t),
                                          reduction="batchmean")
    assert_close(loss, expected)
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all()
    with pytest.warns(UserWarning, match="'batchmean' gives the KL divergence per example"):
        F.kl_div(x, t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.2])
@pytest.mark.parametrize("batched", [True, False])
def test_cosine_embedding_parity_and_gradcheck(torch, batched, margin, reduction, dtype):
    rng = np.random.default_rng(14)
    shape = (6, 5) if batched else (5,)
    a, b = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    t = np.array([1, -1, -1, 1, -1, -1]) if batched else np.array(-1)
    options = dict(margin=margin, reduction=reduction)
    check_parity(torch, lambda p, q, y: F.cosine_embedding_loss(p, q, y, **options),
                 lambda p, q, y: torch.nn.functional.cosine_embedding_loss(p, q, y, **options),
                 [a, b, t])
    if dtype == np.float64:
        assert dg.gradcheck(lambda p, q: F.cosine_embedding_loss(p, q, t, **options),
                            (dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)))


# ----------------------------------------------------------------------------- modules
MODULES = [
    ("MSELoss", {"reduction": "sum"}, "mse_loss"),
    ("L1Loss", {}, "l1_loss"),
    ("HuberLoss", {"delta": 0.5}, "huber_loss"),
    ("SmoothL1Loss", {"beta": 0.5}, "smooth_l1_loss"),
    ("BCELoss", {"weight": [1.0, 2.0, 0.5]}, "binary_cross_entropy"),
    ("BCEWithLogitsLoss", {"pos_weight": [1.0, 2.0, 0.5], "reduction": "none"}, None),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1,
                          "ignore_index": 1}, None),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5]}, None),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, None),
    ("CosineEmbeddingLoss", {"margin": 0.2}, None),
]


def _module_inputs(name, rng):
    x = rng.uniform(0.1, 0.9, (4, 3))
    if name in ("CrossEntropyLoss", "NLLLoss"):
        return [x, np.array([0, 1, 2, 1])]
    if name == "CosineEmbeddingLoss":
        return [x, rng.standard_normal((4, 3)), np.array([1, -1, 1, -1])]
    return [x, rng.uniform(0.1, 0.9, (4, 3))]


@pytest.mark.parametrize("name,settings,_", MODULES)
def test_modules_match_torch_modules(torch, name, settings, _):
    as_tensors = {k: (v if not isinstance(v, list) else np.array(v)) for k, v in settings.items()}
    ours = getattr(nn, name)(**{k: _as(dg, v) if isinstance(v, np.ndarray) else v
                                for k, v in as_tensors.items()})
    theirs = getattr(torch.nn, name)(**{k: _as(torch, v) if isinstance(v, np.ndarray) else v
                                        for k, v in as_tensors.items()})
    arrays = _module_inputs(name, np.random.default_rng(15))
    check_parity(torch, ours, theirs, arrays)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.parameters()) == []


def test_module_repr_shows_the_settings_that_differ_from_the_defaults():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum")) == \
        "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
    assert repr(nn.HuberLoss("none", 2.0)) == "HuberLoss(reduction='none', delta=2.0)"
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"
    assert repr(nn.Sequential(nn.Linear(2, 2))) != ""


def test_module_weight_buffers_follow_dtype_and_state_dict():
    loss = nn.CrossEntropyLoss(weight=dg.tensor([1.0, 2.0, 3.0]))
    assert list(loss.state_dict()) == ["weight"]
    assert loss.to(dg.float64).weight.dtype == np.float64
    logits = dg.tensor(np.random.default_rng(16).standard_normal((4, 3)), requires_grad=True)
    assert loss(logits, np.array([0, 1, 2, 0])).dtype == np.float64
    both = nn.BCEWithLogitsLoss(weight=[1.0, 2.0], pos_weight=np.array([3, 1]))
    assert list(both.state_dict()) == ["weight", "pos_weight"]
    assert both.pos_weight.dtype == np.float32
    assert list(nn.BCEWithLogitsLoss().state_dict()) == []
    loaded = nn.NLLLoss(weight=dg.zeros(3))
    loaded.load_state_dict({"weight": np.array([1.0, 1.0, 2.0])})
    assert loaded.weight.tolist() == [1.0, 1.0, 2.0]


def test_module_constructor_errors():
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of 'mean', 'sum', "
                                         "'none'; got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(TypeError):
        nn.MSELoss(None, None, "sum")  # PyTorch's deprecated positional size_average, reduce
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]; got 1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="HuberLoss: delta must be > 0; got 0"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="SmoothL1Loss: beta must be >= 0; got -1"):
        nn.SmoothL1Loss(beta=-1)


# ----------------------------------------------------------------------------- errors
def test_class_target_errors_name_the_problem():
    x = dg.randn(8, 10)
    with pytest.raises(ValueError, match=r"cross_entropy: target has class index 12 at position "
                                         r"3, but input has 10 classes \(shape \(8, 10\)\); "
                                         r"expected 0 to 9 or ignore_index=-100"):
        F.cross_entropy(x, np.array([0, 1, 2, 12, 4, 5, 6, 7]))
    with pytest.raises(ValueError, match="class index -1 at position 2"):
        F.cross_entropy(x[:3], dg.tensor([0, 1, -1]))
    with pytest.raises(ValueError, match=r"nll_loss: target has class index 4 at position "
                                         r"\(1, 0, 1\)"):
        target = np.zeros((2, 2, 3), dtype=np.int64)
        target[1, 0, 1] = 4
        F.nll_loss(dg.randn(2, 4, 2, 3), target)
    with pytest.raises(dg.ShapeError, match=r"cross_entropy: target must have shape \(8\) \(class "
                                            r"indices\) or \(8, 10\) \(class probabilities\) for "
                                            r"input of shape \(8, 10\); got \(7\)"):
        F.cross_entropy(x, np.zeros(7, dtype=np.int64))
    with pytest.raises(TypeError, match=r"target of shape \(8\) must hold integer class indices; "
                                        r"got dtype float32 \(class probabilities need the "
                                        r"input's shape \(8, 10\)\)"):
        F.cross_entropy(x, dg.zeros(8))
    with pytest.raises(TypeError, match=r"a target with the input's shape \(8, 10\) holds class "
                                        r"probabilities, which must be floating point; got int64"):
        F.cross_entropy(x, np.zeros((8, 10), dtype=np.int64))
    with pytest.raises(dg.ShapeError, match=r"nll_loss: target must have shape \(8\) for input of "
                                            r"shape \(8, 10\); got \(8, 10\)"):
        F.nll_loss(x, np.zeros((8, 10), dtype=np.int64))
    with pytest.raises(dg.ShapeError, match=r"expects input \(N, C\), \(N, C, d1, ...\) or \(C,\); "
                                            r"got \(\)"):
        F.cross_entropy(dg.tensor(1.0), 0)


def test_option_errors_name_the_problem():
    x = dg.randn(3, 4)
    target = np.array([0, 1, 2])
    with pytest.raises(ValueError, match="cross_entropy: reduction must be one of 'mean', 'sum', "
                                         "'none'; got 'avg'"):
        F.cross_entropy(x, target, reduction="avg")
    with pytest.raises(ValueError, match="kl_div: reduction must be one of 'mean', 'batchmean'"):
        F.kl_div(x, x, reduction="batch")
    with pytest.raises(dg.ShapeError, match=r"cross_entropy: weight must have shape \(4\); got "
                                            r"\(3\)"):
        F.cross_entropy(x, target, dg.ones(3))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]; got -0.1"):
        F.cross_entropy(x, target, label_smoothing=-0.1)
    with pytest.raises(ValueError, match="ignore_index=1 is not supported with class probability"):
        F.cross_entropy(x, dg.zeros(3, 4), ignore_index=1)
    with pytest.raises(ValueError, match="weight requires grad, but the loss is not "
                                         "differentiable with respect to weight"):
        F.cross_entropy(x, target, dg.ones(4, requires_grad=True))
    with dg.no_grad():
        F.cross_entropy(x, target, dg.ones(4, requires_grad=True))
    with pytest.raises(TypeError, match="cross_entropy: weight must be a Tensor or an array of "
                                        "numbers; got str"):
        F.cross_entropy(x, target, "mean")
    with pytest.raises(dg.ShapeError, match=r"pos_weight of shape \(3\) does not broadcast to the "
                                            r"input's shape \(3, 4\)"):
        F.binary_cross_entropy_with_logits(x, dg.zeros(3, 4), pos_weight=dg.ones(3))
    with pytest.raises(dg.ShapeError, match=r"mse_loss: weight must have shape \(3, 4\); got "
                                            r"\(4\)"):
        F.mse_loss(x, dg.zeros(3, 4), weight=dg.ones(4))


def test_regression_shape_and_dtype_errors():
    q = dg.randn(128, 1, requires_grad=True)
    with pytest.raises(dg.ShapeError, match=r"mse_loss: target shape \(128\) differs from input "
                                            r"shape \(128, 1\); losses here do not broadcast "
                                            r"them; broadcasting them would give shape "
                                            r"\(128, 128\), rarely what is meant"):
        F.mse_loss(q, dg.zeros(128))
    with pytest.raises(dg.ShapeError, match=r"l1_loss: target shape \(7\) differs from input "
                                            r"shape \(8, 10\); losses here do not broadcast them$"):
        F.l1_loss(dg.randn(8, 10), dg.zeros(7))
    with pytest.raises(TypeError, match="mse_loss: target must be floating point like the input; "
                                        r"got int64 \(convert it with .float\(\)\)"):
        F.mse_loss(q, np.zeros((128, 1), dtype=np.int64))
    with pytest.raises(TypeError, match="huber_loss: input must be floating point; got int64"):
        F.huber_loss(dg.tensor([1, 2]), dg.zeros(2))
    with pytest.raises(TypeError, match="kl_div: input must be a Tensor; got ndarray"):
        F.kl_div(np.zeros(2), dg.zeros(2))


def test_binary_and_cosine_value_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must be in \[0, 1\]; got "
                                         r"1.5 at position \(1, 0\) \(apply sigmoid first"):
        F.binary_cross_entropy(dg.tensor([[0.5, 0.5], [1.5, 0.2]]), dg.zeros(2, 2))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target must be in \[0, 1\]; got "
                                         r"-1.0 at position 1"):
        F.binary_cross_entropy(dg.tensor([0.5, 0.5]), dg.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"cosine_embedding_loss: target must hold 1 \(similar\) "
                                         r"or -1 \(dissimilar\); got 0 at position 2"):
        F.cosine_embedding_loss(dg.randn(3, 2), dg.randn(3, 2), np.array([1, -1, 0]))
    with pytest.raises(dg.ShapeError, match=r"expects input1 and input2 of the same shape \(N, D\) "
                                            r"or \(D,\); got \(3, 2\) and \(3, 5\)"):
        F.cosine_embedding_loss(dg.randn(3, 2), dg.randn(3, 5), np.array([1, -1, 1]))
    with pytest.raises(dg.ShapeError, match=r"target must have shape \(3\) for inputs of shape "
                                            r"\(3, 2\); got \(2\)"):
        F.cosine_embedding_loss(dg.randn(3, 2), dg.randn(3, 2), np.array([1, -1]))


def test_no_warnings_on_the_common_paths():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = dg.tensor(np.zeros((2, 3)), requires_grad=True)
        F.cross_entropy(x, np.array([0, -100]), label_smoothing=0.1).backward()
        F.binary_cross_entropy(dg.tensor([0.0, 1.0]), dg.tensor([1.0, 0.0]))
        F.kl_div(x, np.zeros((2, 3)), reduction="sum").backward()
        logits = dg.tensor(EXTREME, requires_grad=True)
        F.binary_cross_entropy_with_logits(logits, np.ones((3, 4), np.float32)).backward()
        F.cross_entropy(logits, np.array([0, 1, 2]), label_smoothing=0.1).backward()
