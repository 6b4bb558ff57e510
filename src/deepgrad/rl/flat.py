"""Parameters in one contiguous array, so that whole-network updates are a few NumPy calls.

A DQN gradient step on a small network is dominated by per-array overhead: Adam runs about a
dozen NumPy calls per parameter, gradient clipping one norm per parameter, Polyak averaging two
per parameter. With every parameter's ``data`` a view into one flat array (and the gradients
gathered into a second), each of these is a handful of calls on one array, the way PyTorch's
fused optimizers and FSDP's flat parameters do it.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.tensor import Tensor


class FlatParameters:
    """The parameters' values moved into ``flat.data`` (each parameter's ``data`` becomes a view
    of it); :meth:`gather_grads` copies their gradients into ``flat.grad``.

    Args:
        parameters: tensors of one floating dtype.

    If code outside replaces a parameter's ``data`` array (rather than writing into it), the next
    :meth:`gather_grads` notices and moves the new values in, so the flat array never goes stale.
    """

    def __init__(self, parameters: list[Tensor]) -> None:
        dtypes = {p.data.dtype for p in parameters}
        if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
            raise TypeError(f"FlatParameters: needs parameters of one floating dtype; got "
                            f"{sorted(map(str, dtypes))}")
        self.parameters = list(parameters)
        total = sum(p.data.size for p in self.parameters)
        dtype = next(iter(dtypes))
        self.flat = Tensor._make(xp.empty(total, dtype=dtype), requires_grad=True)
        self._grad = xp.zeros(total, dtype=dtype)
        self._views: list[Any] = []
        self._grad_views: list[Any] = []
        offset = 0
        for p in self.parameters:
            size = p.data.size
            self._views.append(self.flat.data[offset:offset + size].reshape(p.data.shape))
            self._grad_views.append(self._grad[offset:offset + size].reshape(p.data.shape))
            offset += size
        self.rebind()

    def rebind(self) -> None:
        """Copy each parameter's current values into the flat array and make it a view again."""
        for p, view in zip(self.parameters, self._views):
            if p.data is not view:
                xp.copyto(view, p.data)
                p.data = view

    def gather_grads(self) -> Tensor:
        """``flat`` with ``flat.grad`` holding every parameter's gradient (zero where None)."""
        if any(p.data is not view for p, view in zip(self.parameters, self._views)):
            self.rebind()
        for p, view in zip(self.parameters, self._grad_views):
            if p.grad is None:
                view.fill(0)
            else:
                xp.copyto(view, p.grad.data)
        self.flat.grad = Tensor._make(self._grad)
        return self.flat

    def changed(self) -> None:
        """Record that the values changed in place (after an optimizer step), so that a graph
        still holding a parameter sees it, as it would after a per-parameter step."""
        for p in self.parameters:
            p._version += 1


__all__ = ["FlatParameters"]
