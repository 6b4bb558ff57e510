"""``gradcheck``: compare backpropagated gradients with central finite differences in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deepgrad.autograd import grad
from deepgrad.backend import xp
from deepgrad.errors import GradcheckError
from deepgrad.grad_mode import no_grad
from deepgrad.tensor import Tensor, float64


def _as_float64_leaf(t: Any) -> Any:
    if not isinstance(t, Tensor) or t.data.dtype.kind != "f":
        return t
    data = t.data
    if data.dtype != float64:
        data = data.astype(float64)
    elif not data.flags.writeable:
        data = data.copy()
    # The same array (strides included) when already float64, so that non-contiguous inputs
    # stay non-contiguous; elements are perturbed in place and restored.
    leaf = Tensor._make(data)
    leaf.requires_grad = t.requires_grad
    return leaf


def _outputs(result: Any) -> tuple[Tensor, ...]:
    outs = result if isinstance(result, (tuple, list)) else (result,)
    return tuple(o for o in outs if isinstance(o, Tensor) and o.data.dtype.kind == "f")


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any] | Tensor, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check the gradients of ``fn`` at ``inputs`` against central finite differences.

    Every floating input with ``requires_grad=True`` is checked, element by element, in float64.
    For outputs with several elements, the check runs on ``sum(output * v)`` with a fixed random
    ``v``, which exercises every path of the backward pass.

    Args:
        fn: a function of the inputs returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a sequence of Tensors (and other arguments passed as they are).
        eps: the finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance, against the numerical value.
        seed: seeds the random output weighting ``v``.

    Returns:
        True when every element agrees.

    Raises:
        GradcheckError: naming the input index, the element, and both values.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    xs = tuple(_as_float64_leaf(t) for t in inputs)
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")

    outs = _outputs(fn(*xs))
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point Tensor")
    rng = xp.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in outs]

    def objective() -> float:
        with no_grad():
            return float(sum((o.data.astype(float64) * w).sum()
                             for o, w in zip(_outputs(fn(*xs)), weights)))

    # As torch's gradcheck: the gradients of the checked inputs alone, with no .grad written
    # (a module's parameters that fn closes over keep theirs).
    graph_outs = [(o, w) for o, w in zip(outs, weights) if o.requires_grad]
    grads = (grad([o for o, _ in graph_outs], [xs[i] for i in checked],
                  [w.astype(o.data.dtype) for o, w in graph_outs], allow_unused=True)
             if graph_outs else (None,) * len(checked))

    for i, g in zip(checked, grads):
        x = xs[i]
        analytical = g.data if g is not None else xp.zeros_like(x.data)
        for index in xp.ndindex(x.shape):
            original = x.data[index]
            x.data[index] = original + eps
            plus = objective()
            x.data[index] = original - eps
            minus = objective()
            x.data[index] = original
            numerical = (plus - minus) / (2 * eps)
            value = float(analytical[index])
            if not abs(value - numerical) <= atol + rtol * abs(numerical):
                raise GradcheckError(
                    f"gradcheck: input {i} (shape {tuple(x.shape)}), element {index}: "
                    f"analytical gradient {value:.10g} but numerical {numerical:.10g} "
                    f"(difference {abs(value - numerical):.3g} > atol {atol:g} + rtol {rtol:g} "
                    "* |numerical|)")
    return True


__all__ = ["gradcheck"]
