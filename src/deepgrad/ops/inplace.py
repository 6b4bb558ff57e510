"""In-place variants of the elementwise ops, by PyTorch's names (``x.clamp_(0, 1)``,
``w.normal_(0, 0.02)``, ``mask.logical_not_()``), the random fills, the in-place activations of
``inplace=True`` (:func:`activate_in_place`), and how a graph records them all and ``x += y``
(:func:`graph_in_place`).

Outside a graph (weights under ``no_grad``, buffers, data) each op is its out-of-place form
computed without a graph and stored back into the tensor's memory, so a view writes through to
its base. In a graph the out-of-place form is recorded and the tensor then stands for its result,
as in PyTorch. Either way, a tensor that an earlier operation saved for its backward and that is
then changed in place makes that backward fail (the version check), as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deepgrad.autograd import _Trace
from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import BackwardError, ShapeError, shape_str
from deepgrad.grad_mode import _State, no_grad
from deepgrad.tensor import Tensor

# The ops whose result has the input's shape, so that it can be stored back in place.
_NAMES = """abs neg sign floor ceil round trunc reciprocal square sqrt rsqrt exp expm1 log log1p
log2 log10 sin cos sinh cosh asin acos atan tanh sigmoid relu erf logit nan_to_num
clamp clamp_min clamp_max clip pow fmod remainder floor_divide atan2 hypot xlogy lerp
eq ne lt le gt ge logical_and logical_or logical_xor logical_not
bitwise_and bitwise_or bitwise_xor bitwise_not
tril triu cumsum cumprod masked_fill scatter scatter_add index_add index_copy index_fill addmm
baddbmm tan asinh acosh atanh exp2 addcmul addcdiv absolute negative multiply subtract divide
true_divide greater greater_equal less less_equal not_equal arcsin arccos arctan arctan2 arcsinh
arccosh arctanh fix sgn""".split()


def store(tensor: Tensor, op: str, value: Any, operands: tuple = ()) -> Tensor:
    """Write ``value`` into ``tensor``'s memory as the in-place op ``op``, after checking that
    the update is allowed (no graph to record it in, no operand that requires grad) and that the
    value keeps the tensor's shape and fits its dtype."""
    if xp.shape(value) != tensor.shape:
        raise ShapeError(f"{op}: the result has shape {shape_str(xp.shape(value))}, which cannot "
                         f"be stored in this tensor of shape {shape_str(tensor.shape)} (an "
                         f"in-place op keeps the tensor's shape)")
    if not xp.can_cast(xp.result_type(value), tensor.dtype, casting="same_kind"):
        raise TypeError(f"{op}: the result has dtype {xp.result_type(value)}, which cannot be "
                        f"stored in this {tensor.dtype} tensor; use the out-of-place "
                        f"{op.rstrip('_')}")
    for operand in operands or (None,):
        tensor._prepare_inplace(operand)
    xp.copyto(tensor.data, value, casting="same_kind")
    return tensor


def _in_place(name: str) -> Callable:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        operands = tuple(a for a in (*args, *kwargs.values()) if isinstance(a, Tensor))
        result = graph_in_place(self, lambda t: getattr(t, name)(*args, **kwargs), f"{name}_",
                                operands)
        if result is not None:
            return result
        with no_grad():
            value = getattr(self, name)(*args, **kwargs).data
        return store(self, f"{name}_", value, operands)

    method.__name__ = f"{name}_"
    method.__doc__ = f"In place: ``self = self.{name}(...)``, recorded in a graph as PyTorch's."
    return method


def _fill(tensor: Tensor, op: str, draw: Callable[[Any], Any]) -> Tensor:
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: fills floating tensors; got {tensor.dtype}")
    return store(tensor, op, draw(generator()).astype(tensor.dtype, copy=False))


def uniform_(self: Tensor, from_: float = 0.0, to: float = 1.0) -> Tensor:
    """In place: numbers drawn uniformly from [from_, to) (deepgrad's generator)."""
    return _fill(self, "uniform_", lambda g: g.uniform(from_, to, self.shape))


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """In place: numbers drawn from the normal distribution N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0; got {std}")
    return _fill(self, "normal_", lambda g: g.normal(mean, std, self.shape))


def exponential_(self: Tensor, lambd: float = 1.0) -> Tensor:
    """In place: numbers drawn from the exponential distribution of rate ``lambd``."""
    if not lambd > 0:
        raise ValueError(f"exponential_: lambd must be > 0; got {lambd}")
    return _fill(self, "exponential_", lambda g: g.exponential(1.0 / lambd, self.shape))


def bernoulli_(self: Tensor, p: Any = 0.5) -> Tensor:
    """In place: 1 with probability ``p`` (a number, or a tensor broadcast to this shape),
    else 0. (``x.bernoulli()`` draws with x's own values as the probabilities.)"""
    probabilities = xp.asarray(p.data if isinstance(p, Tensor) else p)
    if probabilities.size and (not xp.all(xp.isfinite(probabilities))
                               or probabilities.min() < 0 or probabilities.max() > 1):
        raise ValueError("bernoulli_: p must be in [0, 1]")
    return store(self, "bernoulli_", generator().random(self.shape) < probabilities)


def graph_in_place(x: Tensor, compute: Callable[[Tensor], Tensor], op: str,
                   operands: tuple = (), reads_input: bool = True) -> Tensor | None:
    """``x = compute(x)`` where a graph must record it or an export trace follows it: the tensor
    that then holds the result; None where neither is the case, for the caller to write the
    values into x's memory as it does outside a graph.

    Recorded (gradients are recorded and x or an operand requires grad), ``compute`` runs as
    usual, out of place, as a node on x's history; its result is copied into x's memory and x
    then stands for it, as PyTorch's in-place ops do. A node that saved x's old values for its
    backward fails there (the version check). Refused, saying why: a leaf that requires grad
    (its gradient is of the values it holds), a view and a tensor with views in the graph (their
    gradients would miss the change; PyTorch follows views, deepgrad does not). Where the
    result's backward ``reads_input``, ``compute`` runs on a copy of x, which its node keeps.

    Under an export trace, x computed from the input keeps its values and the result is
    returned (``x += y`` rebinds the name): the trace records operations, not writes to memory,
    and refuses a later use of x.
    """
    trace_in_place = getattr(_Trace.observer, "in_place", None)
    if trace_in_place is not None:
        y = trace_in_place(x, compute)
        if y is not None:
            return y
    if not (_State.enabled and (x.requires_grad or any(
            isinstance(o, Tensor) and o.requires_grad for o in operands))):
        return None
    if x.requires_grad and x._node is None:
        raise BackwardError(f"{op}: in-place operation on a leaf that requires grad: wrap "
                            f"parameter updates in `with dg.no_grad():`, or use the out-of-place "
                            f"form")
    if x._base is not None:
        raise BackwardError(f"{op}: in-place operation on a view, in a graph: the graph of the "
                            f"tensor it views would not see the change; use the out-of-place "
                            f"form")
    views = getattr(x, "_views", None)
    if views and any(v.requires_grad for v in views):
        raise BackwardError(f"{op}: in-place operation on a tensor whose views the graph uses: "
                            f"their gradients would miss the change; use the out-of-place form")
    if not x.data.flags.writeable:
        raise ValueError(f"{op}: in-place operation on a read-only tensor (an expand or "
                         f"broadcast_to view); use .clone() first")
    source = (Tensor._make(x.data.copy(), x.requires_grad, x._node, x._out_index)
              if reads_input else x)
    y = compute(source)
    if y.shape != x.shape or y.dtype != x.dtype:
        raise TypeError(f"{op}: the result ({y.dtype}, shape {shape_str(y.shape)}) does not fit "
                        f"this {x.dtype} tensor of shape {shape_str(x.shape)}, in a graph; use "
                        f"the out-of-place form")
    xp.copyto(x.data, y.data)
    x._version += 1
    x.requires_grad, x._node, x._out_index = True, y._node, y._out_index
    return x


def activate_in_place(x: Any, activation: Callable[[Tensor], Tensor], op: str,
                      reads_input: bool = False) -> Tensor:
    """``x = activation(x)`` in x's memory, PyTorch's ``inplace=True``; returns ``x`` (see
    :func:`graph_in_place`; an activation whose backward ``reads_input``, as SiLU's, computes
    from a copy of x in a graph)."""
    if isinstance(x, xp.ndarray):
        x = Tensor(x)  # shares the array, which is then written, as torch.from_numpy's
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(inplace=True): expects a Tensor or a NumPy array; got "
                        f"{type(x).__name__}")
    op = f"{op}(inplace=True)"
    result = graph_in_place(x, activation, op, (), reads_input)
    if result is not None:
        return result
    with no_grad():
        y = activation(x)
    return store(x, op, y.data)


METHODS = {f"{name}_": _in_place(name) for name in _NAMES}
METHODS.update(uniform_=uniform_, normal_=normal_, exponential_=exponential_,
               bernoulli_=bernoulli_)
__all__ = ["activate_in_place", "graph_in_place"]
