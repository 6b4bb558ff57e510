"""The differentiable primitives, one family per module, and the Tensor methods they provide.

Each family module defines ``METHODS`` (the functions that are also Tensor methods, by name) and
``__all__`` (the functions exported as ``dg.name``). Importing this package attaches the methods
and the Python operators to :class:`deepgrad.Tensor`.
"""

from __future__ import annotations

from typing import Any

from deepgrad import creation
from deepgrad.ops import (
    activations,
    aliases,
    arithmetic,
    compare,
    composite,
    einsum,
    elementwise,
    indexing,
    inplace,
    join,
    piecewise,
    rearrange,
    reductions,
    scan,
    scatter,
    shape,
    sorting,
    unary,
    vector_norm,
)
from deepgrad.tensor import Tensor

FAMILIES = (arithmetic, elementwise, unary, activations, piecewise, reductions, shape, join,
            indexing, rearrange, scatter, compare, sorting, scan, vector_norm, einsum,
            composite, aliases, inplace)

for _family in (*FAMILIES, creation):
    for _name, _fn in _family.METHODS.items():
        setattr(Tensor, _name, _fn)


def _reflected(fn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return fn(other, self)

    method.__name__ = f"r{fn.__name__}"
    method.__doc__ = f"``other {fn.__name__} self`` (reflected operand)."
    return method


# Binary operators, each with its reflected form (``2 - x`` calls ``x.__rsub__(2)``).
_BINARY = {"add": arithmetic.add, "sub": arithmetic.sub, "mul": arithmetic.mul,
           "truediv": arithmetic.div, "pow": arithmetic.pow, "matmul": arithmetic.matmul,
           "mod": arithmetic.remainder, "floordiv": arithmetic.floor_divide,
           "and": compare.bitwise_and, "or": compare.bitwise_or, "xor": compare.bitwise_xor}
for _name, _fn in _BINARY.items():
    setattr(Tensor, f"__{_name}__", _fn)
    setattr(Tensor, f"__r{_name}__", _reflected(_fn))
Tensor.__neg__ = arithmetic.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = elementwise.abs
Tensor.__invert__ = compare.bitwise_not
Tensor.__getitem__ = indexing.getitem
Tensor.__eq__ = compare.eq  # type: ignore[assignment]
Tensor.__ne__ = compare.ne  # type: ignore[assignment]
Tensor.__lt__ = compare.lt
Tensor.__le__ = compare.le
Tensor.__gt__ = compare.gt
Tensor.__ge__ = compare.ge

__all__ = [name for family in FAMILIES for name in family.__all__]
