"""flip roll tril triu index_select prod narrow unbind movedim t expand_as view_as reshape_as
type_as repeat_interleave diag outer dot mm bmm mv masked_select: gradcheck, torch parity of
values and gradients, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4, 5))
M = rng.standard_normal((4, 5))
V = rng.standard_normal(4)
MASK = rng.standard_normal((4, 5)) > 0
INDEX = np.array([4, 0, 4, 2])

# name -> (deepgrad function of the inputs, torch's, inputs)
CASES = {
    "flip": (lambda x: dg.flip(x, (0, 2)), lambda t: t.flip((0, 2)), [A]),
    "flip_method_one_dim": (lambda x: x.flip(-1), lambda t: t.flip(-1), [A]),
    "roll": (lambda x: dg.roll(x, (1, -2), (0, 2)), lambda t: t.roll((1, -2), (0, 2)), [A]),
    "roll_flat": (lambda x: x.roll(3), lambda t: t.roll(3), [A]),
    "tril": (lambda x: dg.tril(x, -1), lambda t: t.tril(-1), [A]),
    "triu": (lambda x: x.triu(2), lambda t: t.triu(2), [M]),
    "index_select": (lambda x: x.index_select(2, dg.tensor(INDEX)),
                     lambda t: t.index_select(2, t.new_tensor(INDEX).long()), [A]),
    "prod_all": (lambda x: x.prod(), lambda t: t.prod(), [M]),
    "prod_dim": (lambda x: dg.prod(x, 1, keepdim=True), lambda t: t.prod(1, keepdim=True), [A]),
    "narrow": (lambda x: x.narrow(2, 1, 3), lambda t: t.narrow(2, 1, 3), [A]),
    "narrow_negative": (lambda x: dg.narrow(x, 0, -2, 2), lambda t: t.narrow(0, -2, 2), [A]),
    "unbind": (lambda x: dg.unbind(x, 1), lambda t: t.unbind(1), [A]),
    "movedim": (lambda x: x.movedim((0, 2), (2, 0)), lambda t: t.movedim((0, 2), (2, 0)), [A]),
    "movedim_one": (lambda x: dg.movedim(x, 0, -1), lambda t: t.movedim(0, -1), [A]),
    "t": (lambda x: x.t(), lambda t: t.t(), [M]),
    "expand_as": (lambda x, y: x[:, :1].expand_as(y), lambda t, u: t[:, :1].expand_as(u),
                  [M, M]),
    "view_as": (lambda x, y: x.view_as(y), lambda t, u: t.view_as(u), [M, M.reshape(20)]),
    "reshape_as": (lambda x, y: x.T.reshape_as(y), lambda t, u: t.T.reshape_as(u),
                   [M, M.reshape(2, 10)]),
    "repeat_interleave": (lambda x: x.repeat_interleave(3, dim=1),
                          lambda t: t.repeat_interleave(3, dim=1), [A]),
    "repeat_interleave_flat": (lambda x: dg.repeat_interleave(x, 2),
                               lambda t: t.repeat_interleave(2), [M]),
    "diag_of_vector": (lambda x: dg.diag(x, 1), lambda t: t.diag(1), [V]),
    "diag_of_matrix": (lambda x: x.diag(-1), lambda t: t.diag(-1), [M]),
    "outer": (dg.outer, lambda t, u: t.outer(u), [V, V[:3]]),
    "dot": (dg.dot, lambda t, u: t.dot(u), [V, V[::-1].copy()]),
    "mm": (dg.mm, lambda t, u: t.mm(u), [M, M.T.copy()]),
    "bmm": (dg.bmm, lambda t, u: t.bmm(u), [A, A.transpose(0, 2, 1).copy()]),
    "mv": (dg.mv, lambda t, u: t.mv(u), [M, rng.standard_normal(5)]),
    "masked_select": (lambda x: x.masked_select(dg.tensor(MASK)),
                      lambda t: t.masked_select(t.new_tensor(MASK).bool()), [A]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, _, arrays = CASES[name]
    inputs = [dg.tensor(a, requires_grad=True) for a in arrays]
    assert dg.gradcheck(fn, inputs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_parity(torch, name, dtype):
    fn, torch_fn, arrays = CASES[name]
    check_parity(torch, fn, torch_fn, [a.astype(dtype) for a in arrays])


def test_prod_gradient_with_zeros_matches_torch(torch):
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 5.0]])
    check_parity(torch, lambda t: t.prod(1), lambda t: t.prod(1), [x])
    check_parity(torch, lambda t: t.prod(), lambda t: t.prod(), [x[2:]])


def test_type_as_and_index_select_repeats():
    assert dg.ones(2).type_as(dg.zeros(1, dtype=dg.float64)).dtype == dg.float64
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.index_select(0, [2, 2, 0]).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 2.0]  # a position picked twice gets both


def test_errors_say_what_is_wrong():
    with pytest.raises(IndexError, match="index_select: index 5 is out of range for dimension "
                                         "0 of size 3"):
        dg.ones(3).index_select(0, [5])
    with pytest.raises(TypeError, match="index_select: index must be a 1-D integer"):
        dg.ones(3).index_select(0, [0.5])
    with pytest.raises(dg.ShapeError, match="tril: needs a matrix"):
        dg.ones(3).tril()
    with pytest.raises(IndexError, match="narrow: start 2 and length 3 do not fit"):
        dg.ones(4).narrow(0, 2, 3)
    with pytest.raises(ValueError, match="roll: shifts and dims must have the same length"):
        dg.ones(2, 2).roll((1, 1), 0)
    with pytest.raises(dg.ShapeError, match=r"mm: expects matrices; got shapes \(3\), \(3\)"):
        dg.mm(dg.ones(3), dg.ones(3))
    with pytest.raises(dg.ShapeError, match="bmm: the batches differ in size"):
        dg.bmm(dg.ones(2, 3, 4), dg.ones(3, 4, 5))
    with pytest.raises(dg.ShapeError, match="t: expects a tensor of at most 2 dimensions"):
        dg.ones(2, 2, 2).t()
    with pytest.raises(ValueError, match="repeat_interleave: repeats must be an int"):
        dg.ones(2).repeat_interleave(-1)
    with pytest.raises(ValueError, match="movedim: source and destination"):
        dg.ones(2, 2).movedim((0, 1), 0)
    with pytest.raises(dg.ShapeError, match="masked_select: the mask's shape"):
        dg.ones(2, 3).masked_select(dg.ones(4) > 0)
