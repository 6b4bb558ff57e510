"""In-place variants (``x.clamp_(0, 1)``) against torch's, every one PyTorch has for an op
deepgrad has; writes through views; refused on graphs, for the wrong dtype or shape; a tensor
saved for backward and then changed fails the backward; the random fills."""

import re

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.errors import BackwardError, ShapeError

rng = np.random.default_rng(0)
X = rng.uniform(0.1, 0.9, (3, 4))  # inside every op's domain (log, asin, logit, ...)
Y = rng.uniform(0.1, 0.9, (3, 4))
MIXED = rng.standard_normal((3, 4)) * 3
MASK = X > 0.5
INDEX = np.array([[0, 3], [2, 1], [1, 1]])
ROWS = np.array([2, 0])
SRC_ROWS = rng.standard_normal((2, 4))
SRC = rng.standard_normal((3, 2))
INTS = np.array([[5, -3, 12], [7, 0, -1]])
BOOLS = np.array([[True, False, True], [False, False, True]])

UNARY = ("abs neg sign floor ceil round trunc reciprocal square sqrt rsqrt exp expm1 log log1p "
         "log2 log10 sin cos sinh cosh asin acos atan tanh sigmoid relu erf logit "
         "nan_to_num").split()
# name, data, arguments (arrays become tensors of each library)
WITH_ARGS = [
    ("clamp", MIXED, (-1.0, 2.0)), ("clamp_min", MIXED, (0.5,)), ("clamp_max", MIXED, (0.5,)),
    ("clip", MIXED, (-0.5, 0.5)), ("pow", X, (2.5,)), ("pow", X, (Y,)), ("fmod", MIXED, (0.7,)),
    ("remainder", MIXED, (0.7,)), ("floor_divide", MIXED, (0.7,)), ("atan2", MIXED, (Y,)),
    ("hypot", MIXED, (Y,)), ("xlogy", X, (Y,)), ("lerp", X, (Y, 0.3)), ("eq", X, (X,)),
    ("ne", X, (Y,)), ("lt", X, (Y,)), ("le", X, (0.5,)), ("gt", X, (Y,)), ("ge", X, (0.5,)),
    ("tril", MIXED, ()), ("triu", MIXED, (1,)), ("cumsum", MIXED, (1,)), ("cumprod", X, (0,)),
    ("masked_fill", MIXED, (MASK, -7.0)), ("scatter", MIXED, (1, INDEX, SRC)),
    ("scatter_add", MIXED, (1, INDEX, SRC)), ("index_add", MIXED, (0, ROWS, SRC_ROWS)),
    ("index_copy", MIXED, (1, ROWS, SRC)), ("index_fill", MIXED, (1, ROWS, 2.5)),
    ("abs", MIXED, ()), ("sign", MIXED, ()),
    ("floor", MIXED, ()), ("round", MIXED, ()), ("relu", MIXED, ()),
    ("logical_and", BOOLS, (~BOOLS[::-1].copy(),)), ("logical_or", BOOLS, (BOOLS[::-1].copy(),)),
    ("logical_xor", BOOLS, (BOOLS[::-1].copy(),)), ("logical_not", BOOLS, ()),
    ("bitwise_and", INTS, (INTS[::-1].copy(),)), ("bitwise_or", INTS, (3,)),
    ("bitwise_xor", INTS, (INTS[::-1].copy(),)), ("bitwise_not", INTS, ()),
]
CASES = [(name, X, ()) for name in UNARY] + WITH_ARGS


@pytest.mark.parametrize(("name", "data", "args"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torchs_in_place_op(torch, name, data, args):
    ours = dg.tensor(data.copy())
    theirs = torch.tensor(data.copy())
    result = getattr(ours, f"{name}_")(*[dg.tensor(a) if isinstance(a, np.ndarray) else a
                                         for a in args])
    getattr(theirs, f"{name}_")(*[torch.tensor(a) if isinstance(a, np.ndarray) else a
                                  for a in args])
    assert result is ours and ours.dtype == data.dtype
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_every_in_place_op_of_torch_for_an_op_deepgrad_has_is_there(torch):
    # In-place changes of shape or graph membership are not elementwise updates: left out.
    metadata = {"squeeze_", "unsqueeze_", "t_", "transpose_", "swapaxes_", "swapdims_",
                "detach_"}
    ours = {n for n in dir(dg.Tensor) if not n.startswith("_")}
    missing = sorted(n for n in dir(torch.Tensor) if n.endswith("_") and not n.startswith("_")
                     and n[:-1] in ours and n not in ours and n not in metadata)
    assert missing == []


def test_a_view_writes_through_to_its_base():
    base = dg.zeros(2, 3)
    base[1].exp_()
    base[:, 0].clamp_(0.5, 2.0)
    np.testing.assert_array_equal(base.numpy(), [[0.5, 0, 0], [1, 1, 1]])


def test_refused_where_a_graph_would_need_recording():
    w = dg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    with pytest.raises(BackwardError, match=re.escape(
            "in-place operation on a leaf that requires grad: wrap parameter updates in `with "
            "dg.no_grad")):
        w.clamp_(0, 1)
    with dg.no_grad():
        w.clamp_(0, 1)
    np.testing.assert_array_equal(w.numpy(), [0, 0.5, 1])
    # (elementwise updates, copy_ and fill_ are recorded in a graph instead:
    # tests/test_inplace_graph.py)
    # A tensor saved by an operation for its backward, then changed: the backward refuses.
    x = dg.tensor([1.0, 2.0, 3.0])
    y = (x * w).sum()
    x.exp_()
    with pytest.raises(BackwardError, match="modified in place after it was used"):
        y.backward()


def test_results_that_do_not_fit_the_tensor_are_refused_unchanged():
    ints = dg.tensor([1, 4, 9])
    with pytest.raises(TypeError, match=re.escape("sqrt_: the result has dtype float32, which "
                                                  "cannot be stored in this int64 tensor; use "
                                                  "the out-of-place sqrt")):
        ints.sqrt_()
    x = dg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match=re.escape("pow_: the result has shape (2, 3), which "
                                                   "cannot be stored in this tensor of shape "
                                                   "(3)")):
        x.pow_(dg.ones(2, 3))
    np.testing.assert_array_equal(ints.numpy(), [1, 4, 9])
    np.testing.assert_array_equal(x.numpy(), [1, 2, 3])
    assert x._version == 0


@pytest.mark.parametrize(("fill", "args", "mean", "std"), [
    ("uniform_", (-1.0, 3.0), 1.0, 4 / np.sqrt(12)), ("normal_", (2.0, 0.5), 2.0, 0.5),
    ("exponential_", (4.0,), 0.25, 0.25), ("bernoulli_", (0.3,), 0.3, np.sqrt(0.21)),
])
def test_random_fills_follow_their_distribution_and_the_seed(fill, args, mean, std):
    dg.manual_seed(1)
    x = getattr(dg.empty(20000), fill)(*args)
    assert abs(x.numpy().mean() - mean) < 4 * std / np.sqrt(20000)
    assert abs(x.numpy().std() - std) < 0.03 * std
    dg.manual_seed(1)
    np.testing.assert_array_equal(getattr(dg.empty(20000), fill)(*args).numpy(), x.numpy())


def test_random_fill_arguments_and_dtypes():
    x = dg.empty(3, 4).uniform_(2.0, 2.5)
    assert x.dtype == np.float32 and x.numpy().min() >= 2.0 and x.numpy().max() < 2.5
    p = dg.tensor([0.0, 1.0, 0.0])
    np.testing.assert_array_equal(dg.empty(2, 3).bernoulli_(p).numpy(), [[0, 1, 0]] * 2)
    with pytest.raises(TypeError, match="normal_: fills floating tensors; got int64"):
        dg.tensor([1, 2]).normal_()
    with pytest.raises(ValueError, match="normal_: std must be >= 0; got -1"):
        dg.empty(2).normal_(0, -1)
    with pytest.raises(ValueError, match="exponential_: lambd must be > 0; got 0"):
        dg.empty(2).exponential_(0)
    with pytest.raises(ValueError, match=re.escape("bernoulli_: p must be in [0, 1]")):
        dg.empty(2).bernoulli_(1.5)
