"""PyTorch's second names for deepgrad's ops, as functions and Tensor methods: ``absolute``
(``abs``), ``negative``, ``multiply``, ``subtract``, ``divide``, ``true_divide``, ``greater``,
``greater_equal``, ``less``, ``less_equal``, ``not_equal``, the NumPy-style ``arcsin`` ... and
``arctan2``, ``fix`` (``trunc``), ``sgn`` (``sign``, for real numbers), ``moveaxis``
(``movedim``) and ``swapdims`` (``transpose``)."""

from __future__ import annotations

from deepgrad.ops import arithmetic, compare, elementwise, rearrange, shape, unary

absolute = elementwise.abs
negative = arithmetic.neg
multiply = arithmetic.mul
subtract = arithmetic.sub
divide = true_divide = arithmetic.div
greater, greater_equal = compare.gt, compare.ge
less, less_equal, not_equal = compare.lt, compare.le, compare.ne
arcsin, arccos, arctan, arctan2 = unary.asin, unary.acos, unary.atan, unary.atan2
arcsinh, arccosh, arctanh = unary.asinh, unary.acosh, unary.atanh
fix, sgn = unary.trunc, unary.sign
moveaxis, swapdims = rearrange.movedim, shape.transpose

METHODS = {
    "absolute": absolute, "negative": negative, "multiply": multiply, "subtract": subtract,
    "divide": divide, "true_divide": true_divide, "greater": greater,
    "greater_equal": greater_equal, "less": less, "less_equal": less_equal,
    "not_equal": not_equal, "arcsin": arcsin, "arccos": arccos, "arctan": arctan,
    "arctan2": arctan2, "arcsinh": arcsinh, "arccosh": arccosh, "arctanh": arctanh, "fix": fix,
    "sgn": sgn, "moveaxis": moveaxis, "swapdims": swapdims,
}
__all__ = list(METHODS)
