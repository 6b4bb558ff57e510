"""tan asinh acosh atanh exp2, nansum addcmul addcdiv take_along_dim, ``div(rounding_mode=)``,
``add``/``sub`` with ``alpha``, PyTorch's alias names and the Tensor's memory facts: parity with
torch (values and gradients), gradcheck, in-place forms."""

import numpy as np
import pytest
from helpers import check_parity, gradcheck_of, parity_of

import deepgrad as dg

RNG = np.random.default_rng(0)
DOMAINS = {"tan": (-1.2, 1.2), "asinh": (-3.0, 3.0), "acosh": (1.2, 4.0),
           "atanh": (-0.9, 0.9), "exp2": (-3.0, 3.0)}
A, B, C = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4)), RNG.uniform(0.5, 2, (1, 4))


def _x(name):
    return RNG.uniform(*DOMAINS[name], (3, 4))


@pytest.mark.parametrize("name", list(DOMAINS))
def test_unary_match_torch_and_gradcheck(torch, name):
    x = _x(name)
    check_parity(torch, getattr(dg, name), getattr(torch, name), [x])
    check_parity(torch, lambda t: getattr(t, name)(), lambda t: getattr(t, name)(),
                 [x.astype(np.float32)])
    assert dg.gradcheck(getattr(dg, name), [dg.tensor(x, requires_grad=True)])


CASES = {
    "nansum": (lambda m, a: m.nansum(m.where(a > 1.0, m.tensor(float("nan")), a), dim=1), [A]),
    "addcmul": (lambda m, a, b, c: m.addcmul(a, b, c, value=0.5), [A, B, C]),
    "addcdiv": (lambda m, a, b, c: a.addcdiv(b, c, value=-2.0), [A, B, C]),
    "take_along_dim": (lambda m, a: m.take_along_dim(a, m.argsort(a, dim=1), dim=1), [A]),
    "take_along_dim flat": (lambda m, a: m.take_along_dim(a, m.tensor([[0, 5], [11, 2]])), [A]),
    "take_along_dim broadcast": (lambda m, a: m.take_along_dim(
        a, m.tensor([[0], [2], [1]]), dim=1), [A]),
    "add alpha": (lambda m, a, b: m.add(a, b, alpha=3.0), [A, B]),
    "sub alpha": (lambda m, a, b: a.sub(b, alpha=-0.5), [A, B]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_composites_match_torch(torch, name):
    parity_of(torch, *CASES[name])


@pytest.mark.parametrize("name", [n for n in CASES if n != "nansum"])
def test_composites_gradcheck(name):
    gradcheck_of(*CASES[name])


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_division_with_a_rounding_mode_matches_torch(torch, mode):
    ints = (np.array([7, -7, 7, -7, 0, 9]), np.array([2, 2, -2, -2, 3, 3]))
    floats = (np.array([7.5, -7.5, 2.0, -0.5]), np.array([2.0, 2.0, -0.5, 3.0]))
    for a, b in (ints, floats):
        ours = dg.div(dg.tensor(a), dg.tensor(b), rounding_mode=mode)
        theirs = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
        assert ours.tolist() == theirs.tolist() and str(ours.dtype) == str(theirs.dtype)[6:]
    assert dg.div(dg.tensor([7.5]), 2.0, rounding_mode=mode).dtype == np.float32
    with pytest.raises(ZeroDivisionError):
        dg.div(dg.tensor([1]), dg.tensor([0]), rounding_mode=mode)
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        dg.div(dg.tensor([1]), 2, rounding_mode="round")


ALIASES = {"absolute": "abs", "negative": "neg", "multiply": "mul", "subtract": "sub",
           "divide": "div", "true_divide": "div", "greater": "gt", "greater_equal": "ge",
           "less": "lt", "less_equal": "le", "not_equal": "ne", "arcsin": "asin",
           "arccos": "acos", "arctan": "atan", "arctan2": "atan2", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "fix": "trunc", "sgn": "sign",
           "moveaxis": "movedim", "swapdims": "transpose"}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_aliases_are_pytorchs_names_for_the_same_op(torch, alias):
    assert getattr(dg, alias) is getattr(dg, ALIASES[alias], None) or getattr(
        dg.Tensor, alias) is getattr(dg.Tensor, ALIASES[alias])
    x = RNG.uniform(0.1, 0.9, (2, 3)) if alias.startswith("arc") and "cosh" not in alias \
        else RNG.uniform(1.1, 2.0, (2, 3))
    args = {"moveaxis": (0, 1), "swapdims": (0, 1)}.get(alias, ())
    binary = alias in ("multiply", "subtract", "divide", "true_divide", "greater",
                       "greater_equal", "less", "less_equal", "not_equal", "arctan2")
    other = RNG.uniform(0.5, 2.0, (2, 3))
    ours = getattr(dg.tensor(x), alias)(*((dg.tensor(other),) if binary else args))
    theirs = getattr(torch.tensor(x), alias)(*((torch.tensor(other),) if binary else args))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_in_place_forms_match_torch(torch):
    for name, args in (("tan_", ()), ("exp2_", ()), ("multiply_", (2.0,)),
                       ("addcmul_", (B, C)), ("arctan_", ())):
        x, xt = dg.tensor(A * 0.5), torch.tensor(A * 0.5)
        getattr(x, name)(*(dg.tensor(a) if isinstance(a, np.ndarray) else a for a in args))
        getattr(xt, name)(*(torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args))
        np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-12, err_msg=name)


def test_memory_facts_as_torch(torch):
    for make in (lambda m: m.zeros(2, 3, 4), lambda m: m.zeros(2, 3, 4).transpose(0, 2),
                 lambda m: m.zeros(5, dtype=m.int64)[::2], lambda m: m.zeros(3, dtype=m.bool)):
        ours, theirs = make(dg), make(torch)
        assert ours.stride() == theirs.stride() and ours.stride(-1) == theirs.stride(-1)
        assert ours.nelement() == theirs.nelement() and ours.ndimension() == theirs.ndimension()
        assert ours.is_floating_point() == theirs.is_floating_point()
        assert ours.is_signed() == theirs.is_signed() and not ours.is_complex()
        assert (ours.is_cuda, ours.is_cpu) == (theirs.is_cuda, theirs.is_cpu)


D3 = RNG.standard_normal((3, 10, 4))
WINDOWS = {
    "unfold": (lambda m, x: x.unfold(1, 3, 2), [D3]),
    "unfold overlapping": (lambda m, x: x.unfold(1, 4, 1), [D3]),
    "unfold last dim": (lambda m, x: x.unfold(-1, 2, 2), [D3]),
    "unfold gaps": (lambda m, x: x.unfold(1, 2, 3), [D3]),
    "diagonal": (lambda m, x: m.diagonal(x), [D3]),
    "diagonal offset dims": (lambda m, x: m.diagonal(x, 1, 0, 2), [D3]),
    "diagonal negative offset": (lambda m, x: x.diagonal(-2, 2, 1), [D3]),
    "trace": (lambda m, x: m.trace(x), [D3[0]]),
}


@pytest.mark.parametrize("name", list(WINDOWS))
def test_windows_and_diagonals_match_torch_and_gradcheck(torch, name):
    fn, arrays = WINDOWS[name]
    parity_of(torch, fn, arrays)
    gradcheck_of(fn, [a[:, :7] if a.ndim == 3 else a for a in arrays])


def test_window_and_diagonal_errors():
    x = dg.tensor(D3)
    with pytest.raises(dg.ShapeError, match=r"unfold: size 11 is larger than dimension 1 \(10\)"):
        x.unfold(1, 11, 1)
    with pytest.raises(ValueError, match="step must be an int >= 1"):
        x.unfold(1, 2, 0)
    with pytest.raises(ValueError, match="dim1 and dim2 must differ"):
        dg.diagonal(x, 0, 1, 1)
    with pytest.raises(dg.ShapeError, match="trace: expects a matrix"):
        dg.trace(x)
