"""The margin, ranking and likelihood losses added to match torch.nn: parity of the value and of
every gradient (input, target, variance) for each reduction and option, gradcheck, the loss
Modules (settings, weight buffers), and error texts."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

REDUCTIONS = ["mean", "sum", "none"]


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], shape)


def _cosine_distance(framework):
    cos = framework.nn.functional.cosine_similarity
    return lambda a, b: 1 - cos(a, b)


# name: (arrays from a generator, [options]); the arrays are the positional arguments.
CASES = {
    "margin_ranking_loss": (
        lambda r: [r.standard_normal(6), r.standard_normal(6), _signs(r, 6)],
        [{}, {"margin": 0.5}]),
    "hinge_embedding_loss": (
        lambda r: [r.standard_normal((4, 5)) * 2, _signs(r, (4, 5))],
        [{}, {"margin": 0.3}]),
    "soft_margin_loss": (lambda r: [r.standard_normal((4, 5)) * 2, _signs(r, (4, 5))], [{}]),
    "multilabel_soft_margin_loss": (
        lambda r: [r.standard_normal((4, 5)) * 2, r.integers(0, 2, (4, 5)).astype(float)],
        [{}, {"weight": np.array([0.5, 1.0, 2.0, 1.5, 0.2])}]),
    "multi_margin_loss": (
        lambda r: [r.standard_normal((4, 5)), r.integers(0, 5, 4)],
        [{}, {"p": 2, "margin": 0.7}, {"weight": np.array([0.5, 1.0, 2.0, 1.5, 0.2])}]),
    "triplet_margin_loss": (
        lambda r: [r.standard_normal((4, 3)) for _ in range(3)],
        [{}, {"margin": 0.5, "p": 1.0, "swap": True}, {"p": 3.0, "eps": 1e-3}]),
    "triplet_margin_with_distance_loss": (
        lambda r: [r.standard_normal((4, 3)) for _ in range(3)],
        [{}, {"swap": True, "margin": 2.0}, {"distance_function": "cosine"}]),
    "poisson_nll_loss": (
        lambda r: [r.standard_normal((4, 3)), r.poisson(2.0, (4, 3)).astype(float)],
        [{}, {"full": True}]),
    "poisson_nll_loss/rate": (
        lambda r: [r.uniform(0.1, 3.0, (4, 3)), r.poisson(2.0, (4, 3)).astype(float)],
        [{"log_input": False}, {"log_input": False, "full": True, "eps": 1e-3}]),
    "gaussian_nll_loss": (
        lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                   np.concatenate([r.uniform(0.2, 2.0, (3, 3)), [[1e-8, 0.5, 1e-9]]])],
        [{}, {"full": True}, {"eps": 0.3}]),
    "gaussian_nll_loss/shared": (
        lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)), r.uniform(0.2, 2, 4)],
        [{}]),
    "gaussian_nll_loss/column": (
        lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                   r.uniform(0.2, 2, (4, 1))], [{"full": True}]),
}
UNBATCHED = {  # one example: (C,) or (D,) inputs
    "multi_margin_loss": lambda r: [r.standard_normal(5), np.array(3)],
    "multilabel_soft_margin_loss": lambda r: [r.standard_normal(5),
                                              r.integers(0, 2, 5).astype(float)],
    "triplet_margin_loss": lambda r: [r.standard_normal(3) for _ in range(3)],
}
PARAMS = [(name, i) for name, (_, options) in CASES.items() for i in range(len(options))]


def _call(framework, name, options, reduction):
    fn = getattr(framework.nn.functional, name.split("/")[0])
    options = dict(options)
    if options.get("distance_function") == "cosine":
        options["distance_function"] = _cosine_distance(framework)
    if "weight" in options:
        options["weight"] = framework.tensor(options["weight"])
    return lambda *args: fn(*args, **options, reduction=reduction)


def _arrays(name, seed, dtype):
    arrays = CASES[name][0](np.random.default_rng(seed))
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]


def _requires_grad(name, arrays, options=None):
    # hinge_embedding_loss's target only selects, torch's soft margin gives it no gradient, and
    # torch's full Poisson loss gives a zero target a NaN one (see the test below)
    selects = name.startswith(("hinge_embedding", "soft_margin", "multilabel")) or (
        name.startswith("poisson") and (options or {}).get("full"))
    return [a.dtype.kind == "f" and not (selects and i == 1) for i, a in enumerate(arrays)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "case"), PARAMS)
def test_parity_with_torch(torch, name, case, reduction, dtype):
    options = CASES[name][1][case]
    if "weight" in options:
        options = {**options, "weight": options["weight"].astype(dtype)}
    arrays = _arrays(name, case, dtype)
    check_parity(torch, _call(dg, name, options, reduction), _call(torch, name, options, reduction),
                 arrays, _requires_grad(name, arrays, options))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(UNBATCHED))
def test_one_example_parity(torch, name, reduction):
    arrays = UNBATCHED[name](np.random.default_rng(3))
    check_parity(torch, _call(dg, name, {}, reduction), _call(torch, name, {}, reduction),
                 arrays, _requires_grad(name, arrays))


@pytest.mark.parametrize(("name", "case"), PARAMS)
def test_gradcheck(name, case):
    options = CASES[name][1][case]
    arrays = _arrays(name, 10 + case, np.float64)
    flags = _requires_grad(name, arrays)
    if name.startswith("gaussian"):  # away from the clamp at eps (its gradient passes through)
        arrays[2] = np.abs(arrays[2]) + options.get("eps", 0.0) + 0.1
    if name.startswith("poisson"):  # away from 1, where the Stirling term starts (a jump)
        arrays[1] = arrays[1] + 0.5
    tensors = [dg.tensor(a, requires_grad=f) for a, f in zip(arrays, flags)]
    fn = _call(dg, name, options, "sum")
    assert dg.gradcheck(fn, tensors)


def test_gaussian_variance_below_eps_passes_its_gradient_through(torch):
    """The clamp changes the value only, as torch's clamp_ under no_grad."""
    var = dg.tensor([1e-9, 0.5], requires_grad=True)
    loss = F.gaussian_nll_loss(dg.tensor([0.0, 0.0]), dg.tensor([1.0, 1.0]), var, eps=1e-3,
                               reduction="sum")
    loss.backward()
    expected = 0.5 * (1 / np.array([1e-3, 0.5]) - 1 / np.array([1e-3, 0.5]) ** 2)
    np.testing.assert_allclose(var.grad.numpy(), expected, rtol=1e-5)
    assert_close(loss, 0.5 * (np.log([1e-3, 0.5]) + 1 / np.array([1e-3, 0.5])).sum(),
                 np.float32)


def test_full_poisson_loss_gives_zero_targets_a_finite_gradient(torch):
    """Torch differentiates log(target) before masking it, so a zero target gets NaN; here the
    masked Stirling term gives it 0, and the other gradients are torch's."""
    x, t = np.random.default_rng(6).standard_normal(4), np.array([0.0, 1.0, 2.0, 5.0])
    td = dg.tensor(t, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    F.poisson_nll_loss(dg.tensor(x), td, full=True, reduction="sum").backward()
    torch.nn.functional.poisson_nll_loss(torch.tensor(x), tt, full=True,
                                         reduction="sum").backward()
    assert np.isnan(tt.grad.numpy()[0]) and np.isfinite(td.grad.numpy()).all()
    assert_close(td.grad.numpy()[1:], tt.grad[1:])
    assert td.grad.numpy()[0] == -x[0]


# (deepgrad's and torch's constructor call, the name of the function whose arrays it takes)
MODULES = [
    ("MarginRankingLoss(0.5, reduction='sum')", "margin_ranking_loss"),
    ("HingeEmbeddingLoss(0.5)", "hinge_embedding_loss"),
    ("SoftMarginLoss(reduction='none')", "soft_margin_loss"),
    ("MultiLabelSoftMarginLoss(weight=W)", "multilabel_soft_margin_loss"),
    ("MultiMarginLoss(p=2, margin=0.5, weight=W)", "multi_margin_loss"),
    ("TripletMarginLoss(margin=0.3, p=1.0, swap=True)", "triplet_margin_loss"),
    ("TripletMarginWithDistanceLoss(margin=0.3, swap=True)", "triplet_margin_with_distance_loss"),
    ("PoissonNLLLoss(log_input=True, full=True, reduction='sum')", "poisson_nll_loss"),
    ("GaussianNLLLoss(full=True, eps=1e-3)", "gaussian_nll_loss"),
]


@pytest.mark.parametrize(("spec", "name"), MODULES)
def test_modules_match_torch(torch, spec, name):
    weights = np.array([0.5, 1.0, 2.0, 1.5, 0.2])
    ours = eval(f"nn.{spec}", {"nn": nn, "W": dg.tensor(weights)})
    theirs = eval(f"nn.{spec}", {"nn": torch.nn, "W": torch.tensor(weights)})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    arrays = _arrays(name, 5, np.float64)
    check_parity(torch, ours, theirs, arrays, _requires_grad(name, arrays, {"full": True}))


def test_module_reprs_show_the_settings_that_differ():
    assert repr(nn.MultiMarginLoss(p=2)) == "MultiMarginLoss(p=2)"
    assert repr(nn.TripletMarginLoss()) == "TripletMarginLoss()"
    assert repr(nn.GaussianNLLLoss(full=True, reduction="sum")) == \
        "GaussianNLLLoss(full=True, reduction='sum')"


ERRORS = [
    (lambda: F.margin_ranking_loss(dg.ones(3), dg.ones(4), dg.ones(3)), dg.ShapeError,
     r"^margin_ranking_loss: input1 and input2 must have the same shape; got \(3\) and \(4\)"),
    (lambda: F.hinge_embedding_loss(dg.ones(2, 3), dg.ones(3)), dg.ShapeError,
     r"^hinge_embedding_loss: target shape \(3\) differs from input shape \(2, 3\)"),
    (lambda: F.multi_margin_loss(dg.ones(2, 3), np.array([0, 3])), ValueError,
     r"^multi_margin_loss: target must be class indices in \[0, 2\]; got 3 at position 1"),
    (lambda: F.multi_margin_loss(dg.ones(2, 3), np.array([0, 1]), p=3), ValueError,
     r"^multi_margin_loss: p must be 1 or 2; got 3"),
    (lambda: F.multi_margin_loss(dg.ones(2, 3), np.array([0.0, 1.0])), TypeError,
     r"^multi_margin_loss: target must hold integer class indices; got dtype float64"),
    (lambda: F.multilabel_soft_margin_loss(dg.ones(2, 3, 4), dg.ones(2, 3, 4)), dg.ShapeError,
     r"^multilabel_soft_margin_loss: expects input \(N, C\) or \(C,\); got \(2, 3, 4\)"),
    (lambda: F.triplet_margin_loss(dg.ones(2, 3), dg.ones(2, 3), dg.ones(3)), dg.ShapeError,
     r"^triplet_margin_loss: anchor, positive and negative must have the same number of dims; "
     r"got \(2, 3\), \(2, 3\), \(3\)"),
    (lambda: nn.TripletMarginLoss(margin=0), ValueError,
     r"^TripletMarginLoss: margin must be > 0; got 0"),
    (lambda: F.gaussian_nll_loss(dg.ones(4, 3), dg.ones(4, 3), dg.ones(3, 4)), dg.ShapeError,
     r"^gaussian_nll_loss: var of shape \(3, 4\) does not fit the input's shape \(4, 3\)"),
    (lambda: F.gaussian_nll_loss(dg.ones(2), dg.ones(2), -dg.ones(2)), ValueError,
     r"^gaussian_nll_loss: var has negative entries"),
    (lambda: F.poisson_nll_loss(dg.ones(2), dg.ones(2), reduction="batchmean"), ValueError,
     r"^poisson_nll_loss: reduction must be one of 'mean', 'sum', 'none'; got 'batchmean'"),
    (lambda: nn.MultiMarginLoss(p=3), ValueError, r"^MultiMarginLoss: p must be 1 or 2; got 3"),
]


@pytest.mark.parametrize(("call", "error", "message"), ERRORS)
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
