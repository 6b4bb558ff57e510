"""deepgrad: a deep learning system in Python, built from the neuron up.

Tensors with reverse-mode automatic differentiation over NumPy arrays::

    import deepgrad as dg
    w = dg.randn(3, 2, requires_grad=True)
    y = (dg.tensor([[1.0, 2.0, 3.0]]) @ w).relu().sum()
    y.backward()
    w.grad.numpy()
"""

import importlib
from typing import Any

from deepgrad import data, datasets, nn, optim
from deepgrad import ops as _ops  # noqa: F401 - attaches the Tensor methods
from deepgrad.anomaly import detect_anomaly, is_anomaly_enabled
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
from deepgrad.errors import (
    BackwardError,
    CheckpointError,
    FileFormatError,
    GradcheckError,
    ShapeError,
    StateDictError,
)
from deepgrad.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from deepgrad.gradcheck import gradcheck
from deepgrad.nn import models
from deepgrad.ops.activations import (
    clamp,
    clip,
    elu,
    gelu,
    leaky_relu,
    relu,
    sigmoid,
    silu,
    softplus,
)
from deepgrad.ops.arithmetic import (
    add,
    div,
    matmul,
    mul,
    neg,
    pow,
    sub,
)
from deepgrad.ops.compare import (
    all,
    allclose,
    any,
    eq,
    equal,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    ne,
)
from deepgrad.ops.einsum import einsum
from deepgrad.ops.elementwise import (
    abs,
    cos,
    erf,
    exp,
    log,
    sin,
    sqrt,
    tanh,
)
from deepgrad.ops.indexing import (
    gather,
    masked_fill,
    maximum,
    minimum,
    where,
)
from deepgrad.ops.join import (
    cat,
    chunk,
    concatenate,
    pad,
    split,
    stack,
)
from deepgrad.ops.piecewise import prelu
from deepgrad.ops.reductions import (
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    softmax,
    std,
    sum,
    var,
)
from deepgrad.ops.scan import cumprod, cumsum
from deepgrad.ops.shape import (
    broadcast_to,
    clone,
    contiguous,
    expand,
    flatten,
    permute,
    reshape,
    squeeze,
    tile,
    transpose,
    unsqueeze,
    view,
)
from deepgrad.ops.sorting import argsort, sort, topk
from deepgrad.ops.vector_norm import norm
from deepgrad.parallel import get_num_threads, limit_threads, set_num_threads
from deepgrad.serialization import load_into, save
from deepgrad.tensor import Tensor, bool_, float32, float64, int32, int64
from deepgrad.train import callbacks, metrics
from deepgrad.train.history import History
from deepgrad.train.trainer import Trainer

__all__ = [
    "BackwardError",
    "CheckpointError",
    "FileFormatError",
    "Function",
    "GradcheckError",
    "History",
    "ShapeError",
    "StateDictError",
    "Tensor",
    "Trainer",
    "abs",
    "add",
    "all",
    "allclose",
    "amax",
    "amin",
    "any",
    "arange",
    "argmax",
    "argmin",
    "argsort",
    "bool_",
    "broadcast_to",
    "callbacks",
    "cat",
    "chunk",
    "clamp",
    "clip",
    "clone",
    "concatenate",
    "contiguous",
    "cos",
    "cumprod",
    "cumsum",
    "data",
    "datasets",
    "detect_anomaly",
    "div",
    "einsum",
    "elu",
    "empty",
    "enable_grad",
    "eq",
    "equal",
    "erf",
    "exp",
    "expand",
    "eye",
    "flatten",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "gather",
    "ge",
    "gelu",
    "generator",
    "get_num_threads",
    "get_rng_state",
    "gradcheck",
    "gt",
    "inference_mode",
    "int32",
    "int64",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "isfinite",
    "isinf",
    "isnan",
    "le",
    "leaky_relu",
    "limit_threads",
    "linspace",
    "load_into",
    "log",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "lt",
    "manual_seed",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "metrics",
    "min",
    "minimum",
    "models",
    "mul",
    "ne",
    "neg",
    "nn",
    "no_grad",
    "norm",
    "ones",
    "ones_like",
    "optim",
    "pad",
    "permute",
    "pow",
    "prelu",
    "rand",
    "randint",
    "randn",
    "randperm",
    "relu",
    "reshape",
    "save",
    "set_grad_enabled",
    "set_num_threads",
    "set_rng_state",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "softplus",
    "sort",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "tanh",
    "tensor",
    "tile",
    "topk",
    "transpose",
    "unsqueeze",
    "var",
    "view",
    "where",
    "zeros",
    "zeros_like",
]

__version__ = "0.1.0"

# Subpackages imported on first use (``dg.export.to_onnx``, ``dg.rl.DQN``), as ``torch.onnx``:
# ``import deepgrad`` stays quick, and they import their extras' libraries only when called.
_LAZY = ("export", "rl")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"deepgrad.{name}")
    raise AttributeError(f"module 'deepgrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
