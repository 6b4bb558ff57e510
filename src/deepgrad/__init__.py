"""deepgrad: a deep learning system in Python, built from the neuron up.

Tensors with reverse-mode automatic differentiation over NumPy arrays::

    import deepgrad as dg
    w = dg.randn(3, 2, requires_grad=True)
    y = (dg.tensor([[1.0, 2.0, 3.0]]) @ w).relu().sum()
    y.backward()
    w.grad.numpy()
"""

from deepgrad import ops as _ops
from deepgrad.autograd import Function
from deepgrad.creation import (
    arange,
    empty,
    eye,
    from_numpy,
    full,
    generator,
    get_rng_state,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from deepgrad.errors import BackwardError, GradcheckError, ShapeError
from deepgrad.grad_mode import enable_grad, is_grad_enabled, no_grad
from deepgrad.gradcheck import gradcheck
from deepgrad.tensor import Tensor, bool_, float32, float64, int32, int64

for _family in _ops.FAMILIES:
    for _name in _family.__all__:
        globals()[_name] = getattr(_family, _name)

__version__ = "0.1.0"
