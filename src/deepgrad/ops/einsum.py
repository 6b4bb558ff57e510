"""``einsum``: sums of products of tensors' elements, written in Einstein notation.

The equation is parsed once, at the public boundary, into explicit subscripts: ``...`` becomes
letters the equation does not use, the implicit output (no ``->``) becomes the ellipsis dimensions
followed by the letters that occur once, sorted (uppercase first), and operands whose size-1
dimensions broadcast are expanded (differentiably). The op itself then sees equal sizes only.

The gradient of operand i is the einsum of the output gradient with the other operands, to
operand i's subscripts: letters found nowhere else were summed over alone, so their gradient is
broadcast; a letter repeated within operand i (a diagonal, as in ``"ii->i"``) receives its
gradient on that diagonal and 0 elsewhere.
"""

from __future__ import annotations

import string
from typing import Any

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops.shape import Expand
from deepgrad.tensor import Tensor

# In ASCII order, so that an implicit output sorts uppercase letters first, as PyTorch does.
_LETTERS = string.ascii_uppercase + string.ascii_lowercase
_ELLIPSIS = "..."


def _contract(equation: str, *arrays: Any) -> Any:
    # optimize=True picks a pairwise order and hands matrix-product-like pairs to BLAS; for one
    # operand it has nothing to choose and only costs time.
    return xp.einsum(equation, *arrays, optimize=len(arrays) > 1)


class Einsum(Function):
    """y = einsum(inputs -> output, *operands);  gx_i = einsum(output, the other operands ->
    operand i's distinct letters), broadcast over its letters found nowhere else and placed on
    the diagonal of its repeated letters."""

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        equation = ",".join(inputs) + "->" + output
        y = _contract(equation, *operands)
        # With one operand and nothing summed NumPy returns a view of it, which must not be
        # shared with the result.
        if any(xp.may_share_memory(y, a) for a in operands):
            y = y.copy()
        ctx.save(inputs=inputs, output=output,
                 **{f"operand{i}": a for i, a in enumerate(operands)})
        return y

    @staticmethod
    def backward(ctx, gy):
        inputs, output = ctx.inputs, ctx.output
        operands = [getattr(ctx, f"operand{i}") for i in range(len(inputs))]
        return tuple(_operand_grad(gy, i, inputs, output, operands) if needed else None
                     for i, needed in enumerate(ctx.needs_input_grad))


def _operand_grad(gy: Any, i: int, inputs: tuple, output: str, operands: list) -> Any:
    labels, shape = inputs[i], operands[i].shape
    size = dict(zip(labels, shape))
    distinct = "".join(dict.fromkeys(labels))
    others = [j for j in range(len(inputs)) if j != i]
    elsewhere = set(output).union(*(inputs[j] for j in others))
    kept = "".join(c for c in distinct if c in elsewhere)
    equation = ",".join([output, *(inputs[j] for j in others)]) + "->" + kept
    g = _contract(equation, gy, *(operands[j] for j in others))
    if len(kept) < len(distinct):
        g = xp.broadcast_to(g.reshape([size[c] if c in elsewhere else 1 for c in distinct]),
                            [size[c] for c in distinct])
    if len(distinct) == len(labels):
        return g
    gx = xp.zeros(shape, dtype=gy.dtype)
    # einsum of one operand without summation returns a writable view: here, the diagonal.
    xp.einsum(f"{labels}->{distinct}", gx)[...] = g
    return gx


def _subscripts(text: str, offset: int, equation: str) -> list[str]:
    """The letters of one term, with ``"..."`` as one item; ``offset`` is where it starts."""
    items: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == ".":
            if text[i:i + 3] != _ELLIPSIS:
                raise ValueError(f"einsum: found '.' at index {offset + i} of {equation!r} that "
                                 "is not part of an ellipsis; expected '...'")
            if _ELLIPSIS in items:
                raise ValueError(f"einsum: a second ellipsis at index {offset + i} of "
                                 f"{equation!r}; expected at most one per operand")
            items.append(_ELLIPSIS)
            i += 3
            continue
        if c not in _LETTERS and c != " ":
            raise ValueError(f"einsum: invalid subscript {c!r} at index {offset + i} of "
                             f"{equation!r}; expected letters a-z or A-Z, ',', '...' or '->'")
        if c != " ":
            items.append(c)
        i += 1
    return items


def _parse(equation: str, shapes: list[tuple]) -> tuple[list[str], str, dict[str, int]]:
    """Explicit subscripts of each operand and of the output, and the size of each letter."""
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand term"
                         f"{'s' if len(terms) != 1 else ''}, so it expects {len(terms)} "
                         f"operand{'s' if len(terms) != 1 else ''}; got {len(shapes)}")
    parsed, ellipsis_dims, offset = [], [], 0
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        items = _subscripts(term, offset, equation)
        offset += len(term) + 1
        named = len(items) - (_ELLIPSIS in items)
        if named > len(shape) or (_ELLIPSIS not in items and named != len(shape)):
            raise ShapeError(f"einsum: the subscripts {term.strip()!r} of operand {i} name "
                             f"{named} dimension{'s' if named != 1 else ''}, but it has "
                             f"{len(shape)} (shape {shape_str(shape)})"
                             f"{'' if _ELLIPSIS in items else ' and no ... for the rest'}")
        parsed.append(items)
        ellipsis_dims.append(len(shape) - named)
    out_items = _subscripts(rhs, len(lhs) + 2, equation) if arrow else None
    used = set(equation)
    spare = [c for c in _LETTERS if c not in used]
    if max(ellipsis_dims) > len(spare):
        raise ValueError(f"einsum: the equation needs more than the {len(_LETTERS)} letters "
                         "a-z, A-Z for its subscripts and the dimensions of its '...'")
    # The dimensions of every '...' line up from the right, as in broadcasting.
    batch = "".join(spare[:max(ellipsis_dims)])

    def explicit(items: list[str], dims: int) -> str:
        return "".join(batch[len(batch) - dims:] if c == _ELLIPSIS else c for c in items)

    inputs = [explicit(items, dims) for items, dims in zip(parsed, ellipsis_dims)]
    if out_items is None:
        counts = "".join(c for items in parsed for c in items if c != _ELLIPSIS)
        output = batch + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    else:
        for c in out_items:
            if c != _ELLIPSIS and c not in lhs:
                raise ValueError(f"einsum: output subscript {c!r} of {equation!r} does not "
                                 "appear in any operand's subscripts; expected only letters "
                                 "of the operands")
            if out_items.count(c) > 1:
                raise ValueError(f"einsum: output subscript {c!r} appears more than once in "
                                 f"{equation!r}; expected each at most once")
        output = explicit(out_items, len(batch))
    return inputs, output, _sizes(inputs, shapes, batch)


def _sizes(inputs: list[str], shapes: list[tuple], batch: str) -> dict[str, int]:
    """The size of each letter: equal wherever it occurs, except that 1 broadcasts; ``batch``
    holds the letters standing for dimensions of '...'."""
    sizes: dict[str, int] = {}
    for i, (labels, shape) in enumerate(zip(inputs, shapes)):
        seen: dict[str, int] = {}
        for c, n in zip(labels, shape):
            if c in seen and seen[c] != n:
                raise ShapeError(f"einsum: subscript {c!r} is repeated in operand {i} (shape "
                                 f"{shape_str(shape)}) with sizes {seen[c]} and {n}; expected "
                                 "equal sizes (a diagonal)")
            seen[c] = n
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                name = "a dimension of '...'" if c in batch else f"subscript {c!r}"
                raise ShapeError(f"einsum: {name} has size {n} in operand {i} (shape "
                                 f"{shape_str(shape)}) but size {sizes[c]} in an earlier operand; "
                                 "expected equal sizes, or 1 to broadcast")
    return sizes


def einsum(equation: str, *operands: Any) -> Tensor:
    """Sum of products of the operands' elements over the subscripts that the output omits.

    ``equation`` names each operand's dimensions with letters, as in ``"ij,jk->ik"`` (matrix
    product), ``"bij,bjk->bik"`` (batched), ``"ii->i"`` (diagonal) or ``"...ij->...ji"``; without
    ``->`` the output is the ``...`` dimensions and the letters that occur once, sorted. Size-1
    dimensions broadcast. The operands may also come as one list.
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: expected an equation string first; got "
                        f"{type(equation).__name__} (the sublist format is not supported)")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: expected at least one operand; got none")
    for i, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum: operand {i} must be a Tensor; got {type(x).__name__}")
        if x.data.dtype != operands[0].data.dtype:
            raise TypeError(f"einsum: operands must have one dtype; operand 0 is "
                            f"{operands[0].data.dtype} but operand {i} is {x.data.dtype}")
    inputs, output, sizes = _parse(equation, [x.shape for x in operands])
    expanded = []
    for labels, x in zip(inputs, operands):
        shape = tuple(sizes[c] for c in labels)
        expanded.append(x if shape == x.shape else Expand.apply(x, shape=shape))
    return Einsum.apply(*expanded, inputs=tuple(inputs), output=output)


METHODS: dict[str, Any] = {}
__all__ = ["einsum"]
