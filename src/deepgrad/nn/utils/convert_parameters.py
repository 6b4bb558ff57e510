"""A model's parameters as one flat vector and back, as ``torch.nn.utils``: for methods that see
the weights as a single point (line searches, evolution strategies, weight averaging)::

    theta = parameters_to_vector(model.parameters())   # (n,): all weights, in order
    vector_to_parameters(theta + step, model.parameters())
"""

from __future__ import annotations

from collections.abc import Iterable

from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.ops.join import cat
from deepgrad.tensor import Tensor


def _tensors(parameters: Tensor | Iterable[Tensor], caller: str) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        raise ValueError(f"{caller}: got no parameters")
    for position, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{caller}: parameters must be Tensors; got {type(p).__name__} at "
                            f"position {position}")
    return params


def parameters_to_vector(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """All ``parameters`` flattened and joined, in order, into one new 1-D Tensor (of their
    widest float dtype when they differ). Like PyTorch's, it is part of the graph: gradients
    flow back from the vector to the parameters.

    Args:
        parameters: a Tensor or Tensors (e.g. ``model.parameters()``).
    """
    return cat([p.reshape(-1) for p in _tensors(parameters, "parameters_to_vector")])


def vector_to_parameters(vec: Tensor, parameters: Tensor | Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` in place, in order (the
    inverse of :func:`parameters_to_vector`), cast to each parameter's dtype. The parameters keep
    their arrays, so an optimizer holding them sees the new values. PyTorch instead points each
    parameter at a slice of ``vec``.

    Args:
        vec: a 1-D Tensor with exactly as many elements as the parameters hold in total.
        parameters: a Tensor or Tensors (e.g. ``model.parameters()``).
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: vec must be a Tensor; got {type(vec).__name__}")
    params = _tensors(parameters, "vector_to_parameters")
    if vec.ndim != 1:
        raise ShapeError(f"vector_to_parameters: vec must be 1-D; got shape "
                         f"{shape_str(vec.shape)}")
    total = sum(p.data.size for p in params)
    if vec.shape[0] != total:
        raise ShapeError(f"vector_to_parameters: vec has {vec.shape[0]} elements, but the "
                         f"{len(params)} parameters hold {total} in total")
    offset = 0
    with no_grad():
        for p in params:
            size = p.data.size
            p.copy_(vec.data[offset:offset + size].reshape(p.shape))
            offset += size


__all__ = ["parameters_to_vector", "vector_to_parameters"]
