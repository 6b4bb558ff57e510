"""Helpers shared by the op families: reducing broadcast gradients, normalizing dims."""

from __future__ import annotations

from typing import Any

from deepgrad.autograd import _Trace
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops.elementwise import Cast
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, to_array

_ndarray = xp.ndarray


def unbroadcast(g: Any, shape: tuple) -> Any:
    """Sum a gradient over the dims that broadcasting added or stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes)
    return g.reshape(shape)


def operand(x: Any) -> Any:
    """Make ``x`` usable by an op: Tensors stay, Python scalars stay (NumPy treats them as weakly
    typed, so ``float32 * 2.0`` stays float32), NumPy scalars become Python scalars for the same
    reason, anything else becomes a Tensor that needs no grad."""
    if isinstance(x, xp.generic):  # checked first: np.float64 is a subclass of float
        return x.item()
    if isinstance(x, (Tensor, int, float)):
        return x
    return Tensor._make(to_array(x))


def binary_operands(a: Any, b: Any) -> tuple[Any, Any]:
    """Both operands of a binary op, with PyTorch's promotion where NumPy's differs: an integer
    tensor meeting a float (a Python float or a float tensor) takes the float's dtype (float32
    for a Python float), where NumPy would make float64."""
    if isinstance(a, Tensor):
        # The common cases first, cheaply: two tensors of one dtype, a float tensor and a float.
        kind = a.data.dtype.kind
        if (isinstance(b, Tensor) and b.data.dtype == a.data.dtype) or (
                kind == "f" and type(b) in (float, int)):
            return a, b
    a, b = operand(a), operand(b)
    a_int = isinstance(a, Tensor) and a.data.dtype.kind in "iub"
    b_int = isinstance(b, Tensor) and b.data.dtype.kind in "iub"
    if a_int and not b_int:
        a = _as_float_like(a, b)
    elif b_int and not a_int:
        b = _as_float_like(b, a)
    elif (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype != b.data.dtype
          and (a.data.ndim == 0) != (b.data.ndim == 0)):
        # Like a Python number, a 0-d tensor does not widen a tensor of the same kind.
        if a.data.dtype.kind == b.data.dtype.kind:
            if a.data.ndim == 0:
                a = a.to(b.data.dtype)
            else:
                b = b.to(a.data.dtype)
    return a, b


def _as_float_like(t: Tensor, other: Any) -> Tensor:
    if isinstance(other, float):
        dtype = DEFAULT_FLOAT
    elif isinstance(other, Tensor) and other.data.dtype.kind == "f":
        dtype = other.data.dtype
    else:
        return t
    if _Trace.observer is not None:  # an export records the promotion (x * (x > 0)) as a Cast
        return Cast.apply(t, dtype)
    return Tensor._make(t.data.astype(dtype))


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """A dimension index in ``[0, ndim)``, from a possibly negative one, or a clear error."""
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''} (expected {-max(ndim, 1)} to "
                         f"{max(ndim, 1) - 1})")
    return dim % ndim if ndim else 0


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """A sorted tuple of dimension indices from an int, a sequence or None (all dims)."""
    if dim is None:
        return None
    if isinstance(dim, (int, xp.integer)):
        return (normalize_dim(int(dim), ndim, op),)
    dims = tuple(sorted(normalize_dim(int(d), ndim, op) for d in dim))
    if len(set(dims)) != len(dims):
        raise ValueError(f"{op}: dimension {list(dim)} lists a dimension twice")
    return dims


def broadcast_error(op: str, a: Any, b: Any) -> ShapeError:
    """The error for operands whose shapes do not broadcast together."""
    return ShapeError(f"{op}: shapes {shape_str(xp.shape(a))} and {shape_str(xp.shape(b))} do "
                      "not broadcast together (each dimension, counted from the last, must be "
                      "equal or 1)")
