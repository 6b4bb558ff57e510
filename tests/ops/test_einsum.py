"""Tests of deepgrad.ops.einsum: equations of every form, gradients, PyTorch parity, errors."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg

# (equation, operand shapes)
CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("i,i->", [(5,)]*2),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->j", [(2, 2, 3)]),
    ("iji->ij", [(3, 2, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ijk,k->ij", [(2, 3, 4), (4,)]),
    ("ij,ij,ij->i", [(2, 3)] * 3),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ik,jk", [(2, 4), (3, 4)]),
    ("bA,Ab", [(2, 3), (3, 2)]),
    ("ba,a", [(2, 3), (3,)]),
    ("...ij->...ji", [(2, 1, 3, 4)]),
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)]),
    ("...i,...i->...", [(2, 3), (3,)]),
    ("...i->i", [(2, 3, 4)]),
    ("i...->...", [(3, 2, 2)]),
    ("ij->...", [(2, 3)]),
    ("bij,bjk->bik", [(1, 2, 3), (4, 3, 2)]),
    ("i,i->i", [(1,), (4,)]),
    ("i j , j k -> i k", [(2, 3), (3, 4)]),
    ("", [()]),
    ("i,->i", [(3,), ()]),
]
IDS = [f"{eq or 'empty'}|{'x'.join(map(str, shapes[0]))}" for eq, shapes in CASES]


def _arrays(shapes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


@pytest.mark.parametrize(("equation", "shapes"), CASES, ids=IDS)
def test_gradcheck(equation, shapes):
    leaves = [dg.tensor(a, requires_grad=True) for a in _arrays(shapes)]
    assert dg.gradcheck(lambda *xs: dg.einsum(equation, *xs), leaves)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("equation", "shapes"), CASES, ids=IDS)
def test_parity(torch, equation, shapes, dtype):
    check_parity(torch, lambda *xs: dg.einsum(equation, *xs),
                 lambda *xs: torch.einsum(equation, *xs), _arrays(shapes, dtype, seed=1))


def test_gradcheck_noncontiguous_and_same_tensor_twice():
    x = dg.from_numpy(np.random.default_rng(2).standard_normal((4, 3)).T).requires_grad_()
    assert dg.gradcheck(lambda t: dg.einsum("ij,kj->ik", t, t), [x])
    assert dg.gradcheck(lambda t: dg.einsum("ij,ij", t, t), [x])


def test_only_some_operands_need_grad(torch):
    a, b = _arrays([(2, 3), (3, 4)], seed=3)
    check_parity(torch, lambda x, y: dg.einsum("ij,jk->ik", x, y),
                 lambda x, y: torch.einsum("ij,jk->ik", x, y), [a, b], requires_grad=[False, True])


def test_operands_as_a_list_and_integers(torch):
    a, b = _arrays([(2, 3), (3, 4)], seed=4)
    np.testing.assert_allclose(dg.einsum("ij,jk->ik", [dg.tensor(a), dg.tensor(b)]).numpy(),
                               a @ b, rtol=1e-12)
    ints = [np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)]
    out = dg.einsum("ij,jk", *map(dg.tensor, ints))
    assert out.dtype == dg.int64
    np.testing.assert_array_equal(out.numpy(), torch.einsum("ij,jk", *map(torch.tensor, ints)))


def test_result_never_shares_memory_with_an_operand():
    x = dg.randn(2, 3)
    for equation in ("ij->ji", "ij", "ii->i"):
        operand = x if equation != "ii->i" else dg.randn(3, 3)
        y = dg.einsum(equation, operand)
        assert not np.shares_memory(y.numpy(), operand.numpy())


def test_float32_stays_float32():
    a, b = dg.randn(2, 3, requires_grad=True), dg.randn(3, 3, requires_grad=True)
    y = dg.einsum("ij,jj->ij", a, b)
    assert y.dtype == dg.float32
    y.sum().backward()
    assert a.grad.dtype == b.grad.dtype == dg.float32


def test_exported_as_a_function_only():
    assert callable(dg.einsum)
    assert not hasattr(dg.Tensor, "einsum")


@pytest.mark.parametrize(("equation", "shapes", "error", "message"), [
    ("ij,jk->ik", [(2, 3)], ValueError,
     r"^einsum: the equation 'ij,jk->ik' has 2 operand terms, so it expects 2 operands; got 1$"),
    ("ij->ji", [(2, 3), (3, 4)], ValueError,
     r"^einsum: the equation 'ij->ji' has 1 operand term, so it expects 1 operand; got 2$"),
    ("ijk->", [(2, 3)], dg.ShapeError,
     r"^einsum: the subscripts 'ijk' of operand 0 name 3 dimensions, but it has 2 \(shape "
     r"\(2, 3\)\) and no \.\.\. for the rest$"),
    ("i->", [(2, 3)], dg.ShapeError, r"^einsum: the subscripts 'i' of operand 0 name 1 dimension,"),
    ("ij...->", [(2,)], dg.ShapeError,
     r"^einsum: the subscripts 'ij\.\.\.' of operand 0 name 2 dimensions, but it has 1 \(shape "
     r"\(2\)\)$"),
    ("ij,jk->ik", [(2, 3), (2, 4)], dg.ShapeError,
     r"^einsum: subscript 'j' has size 2 in operand 1 \(shape \(2, 4\)\) but size 3 in an "
     r"earlier operand; expected equal sizes, or 1 to broadcast$"),
    ("...i,...i", [(2, 3), (4, 3)], dg.ShapeError,
     r"^einsum: a dimension of '\.\.\.' has size 4 in operand 1"),
    ("ii->i", [(3, 2)], dg.ShapeError,
     r"^einsum: subscript 'i' is repeated in operand 0 \(shape \(3, 2\)\) with sizes 3 and 2; "
     r"expected equal sizes \(a diagonal\)$"),
    ("ij->ik", [(2, 3)], ValueError,
     r"^einsum: output subscript 'k' of 'ij->ik' does not appear in any operand's subscripts"),
    ("ij->ii", [(2, 3)], ValueError,
     r"^einsum: output subscript 'i' appears more than once in 'ij->ii'; expected each at most "
     r"once$"),
    ("i1->", [(2, 3)], ValueError,
     r"^einsum: invalid subscript '1' at index 1 of 'i1->'; expected letters a-z or A-Z, ',', "
     r"'\.\.\.' or '->'$"),
    ("ij->j->i", [(2, 3)], ValueError, r"^einsum: invalid subscript '-' at index 5 of"),
    ("i.j->", [(2, 3)], ValueError,
     r"^einsum: found '\.' at index 1 of 'i\.j->' that is not part of an ellipsis"),
    ("i...j...->", [(2, 3)], ValueError,
     r"^einsum: a second ellipsis at index 5 of 'i\.\.\.j\.\.\.->'; expected at most one"),
])
def test_equation_errors(equation, shapes, error, message):
    with pytest.raises(error, match=message):
        dg.einsum(equation, *[dg.randn(*shape) for shape in shapes])


def test_argument_errors():
    x = dg.randn(2, 3)
    with pytest.raises(TypeError, match=r"^einsum: operands must have one dtype; operand 0 is "
                                        r"float32 but operand 1 is float64$"):
        dg.einsum("ij,jk", x, dg.randn(3, 2, dtype=dg.float64))
    with pytest.raises(TypeError, match=r"^einsum: operand 1 must be a Tensor; got ndarray$"):
        dg.einsum("ij,jk", x, np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"^einsum: expected an equation string first; got "
                                        r"Tensor \(the sublist format is not supported\)$"):
        dg.einsum(x, [0, 1])
    with pytest.raises(ValueError, match=r"^einsum: expected at least one operand; got none$"):
        dg.einsum("ij")
