"""Weight initialization (PyTorch's ``torch.nn.init``): fill a tensor in place, without a graph.

Every initializer writes into the tensor it is given (also a parameter that requires grad, also a
non-contiguous view, also a NumPy array such as ``m.weight.data``) and returns it. Random values
come from deepgrad's generator, so ``dg.manual_seed`` makes them reproducible, and are drawn in
the tensor's dtype: a float32 weight never passes through float64.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from numbers import Real
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.tensor import Tensor, check_tensor, float64

_LINEAR_GAINS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid")
_NONLINEARITIES = (*_LINEAR_GAINS, "tanh", "relu", "leaky_relu", "selu")
_MODES = ("fan_in", "fan_out")
# Below this probability of a normal draw landing in [a, b], trunc_normal_ stops drawing normals
# and rejecting: the expected number of rounds would grow like 1 / probability.
_NORMAL_REJECTION_MIN_MASS = 0.3


def _random_dtype(tensor: Any, op: str) -> Any:
    """Check the argument and return the dtype to draw in (the generator knows float32/64 only;
    float16 draws float32 and is rounded on the copy)."""
    check_tensor(op, tensor, "tensor")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating point tensor; got dtype {tensor.dtype}")
    return float64 if tensor.dtype == float64 else xp.dtype("float32")


def _write(tensor: Tensor, values: Any) -> Tensor:
    with no_grad():
        return tensor.copy_(values)


def _fill(tensor: Tensor, value: float) -> Tensor:
    with no_grad():
        return tensor.fill_(value)


def _fans(tensor: Any, op: str) -> tuple[int, int]:
    check_tensor(op, tensor, "tensor")
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"{op}: needs a tensor with at least 2 dimensions to compute fan in and "
                         f"fan out; got shape {shape_str(shape)}")
    # A conv weight is (out_channels, in_channels / groups, *kernel_size): every input channel
    # reaches an output through the whole receptive field.
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _gain(nonlinearity: str, param: Any, op: str) -> float:
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, Real) and not isinstance(param, bool):
            negative_slope = float(param)
        else:
            raise ValueError(f"{op}: the negative slope of leaky_relu must be a number; "
                             f"got {param!r}")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        # Found empirically (pytorch#50664); self-normalizing networks want 'linear' instead.
        return 3.0 / 4
    raise ValueError(f"{op}: unknown nonlinearity {nonlinearity!r}; expected one of "
                     + ", ".join(repr(n) for n in _NONLINEARITIES))


def _fan(tensor: Any, mode: str, op: str) -> int:
    mode_name = mode.lower() if isinstance(mode, str) else mode
    if mode_name not in _MODES:
        raise ValueError(f"{op}: unknown mode {mode!r}; expected 'fan_in' or 'fan_out'")
    fan_in, fan_out = _fans(tensor, op)
    return fan_in if mode_name == "fan_in" else fan_out


def _uniform(tensor: Tensor, low: float, high: float, dtype: Any) -> Tensor:
    values = generator().random(tensor.shape, dtype=dtype)
    values *= high - low
    values += low
    return _write(tensor, values)


def _normal(tensor: Tensor, mean: float, std: float, dtype: Any) -> Tensor:
    values = generator().standard_normal(tensor.shape, dtype=dtype)
    values *= std
    values += mean
    return _write(tensor, values)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _truncated_standard_normal(size: int, alpha: float, beta: float, dtype: Any) -> Any:
    """``size`` draws of Z ~ N(0, 1) conditioned on alpha <= Z <= beta, by rejection.

    The proposal is chosen so that at least about a third of the draws are accepted wherever
    [alpha, beta] lies: N(0, 1) itself when it lands there often; otherwise, on a narrow interval,
    a uniform; on a wide interval in one tail, a shifted exponential (Robert, 1995).
    """
    rng = generator()
    sign = 1.0
    if beta <= 0:  # by symmetry, sample the mirrored interval in the upper tail
        alpha, beta, sign = -beta, -alpha, -1.0
    width = beta - alpha
    if _normal_cdf(beta) - _normal_cdf(alpha) > _NORMAL_REJECTION_MIN_MASS:
        def propose(n: int) -> tuple[Any, Any]:
            z = rng.standard_normal(n, dtype=dtype)
            return z, (z >= alpha) & (z <= beta)
    elif alpha <= 0 or width * max(alpha, 1.0) < 1:
        mode = max(alpha, 0.0)  # where the density peaks on [alpha, beta]

        def propose(n: int) -> tuple[Any, Any]:
            z = rng.random(n, dtype=dtype)
            z *= width
            z += alpha
            xp.clip(z, alpha, beta, out=z)  # float32 rounding of z * width + alpha
            return z, rng.random(n, dtype=dtype) < xp.exp(-0.5 * (z * z - mode * mode))
    else:
        rate = 0.5 * (alpha + math.sqrt(alpha * alpha + 4.0))

        def propose(n: int) -> tuple[Any, Any]:
            z = rng.standard_exponential(n, dtype=dtype)
            z /= rate
            z += alpha
            shifted = z - rate
            accept = rng.random(n, dtype=dtype) < xp.exp(-0.5 * shifted * shifted)
            return z, accept & (z <= beta)
    out = xp.empty(size, dtype=dtype)
    pending = xp.arange(size)
    while pending.size:
        z, accept = propose(pending.size)
        out[pending[accept]] = z[accept]
        pending = pending[~accept]
    if sign < 0:
        xp.negative(out, out=out)
    return out


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for weights followed by ``nonlinearity`` (PyTorch's values).

    Args:
        nonlinearity: 'linear', 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d/2d/3d' and
            'sigmoid' (1), 'tanh' (5/3), 'relu' (sqrt(2)), 'leaky_relu'
            (sqrt(2 / (1 + negative_slope**2))) or 'selu' (3/4).
        param: the negative slope of 'leaky_relu' (default 0.01); ignored otherwise.
    """
    return _gain(nonlinearity, param, "calculate_gain")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: (in, out) features of a Linear weight (out, in); for a
    conv weight (out, in, *kernel), each times the kernel's number of elements."""
    return _fans(tensor, "calculate_fan_in_and_fan_out")


# PyTorch's private name, which code ported from PyTorch calls.
_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out


def _fills_arrays(init: Callable[..., Tensor]) -> Callable[..., Any]:
    """``init`` also for a NumPy array, filled in place and returned: PyTorch code initializes
    ``m.weight.data``, which in deepgrad is the array itself."""

    @functools.wraps(init)
    def initialize(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(tensor, xp.ndarray):
            init(Tensor._make(tensor), *args, **kwargs)
            return tensor
        return init(tensor, *args, **kwargs)

    return initialize


@_fills_arrays
def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0 in place; returns it."""
    check_tensor("zeros_", tensor, "tensor")
    return _fill(tensor, 0)


@_fills_arrays
def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1 in place; returns it."""
    check_tensor("ones_", tensor, "tensor")
    return _fill(tensor, 1)


@_fills_arrays
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val`` in place; returns it."""
    check_tensor("constant_", tensor, "tensor")
    return _fill(tensor, val)


@_fills_arrays
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``tensor`` in place with draws from U(a, b); returns it."""
    dtype = _random_dtype(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: needs a <= b; got a={a}, b={b}")
    return _uniform(tensor, a, b, dtype)


@_fills_arrays
def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``tensor`` in place with draws from N(mean, std**2); returns it."""
    dtype = _random_dtype(tensor, "normal_")
    if not std >= 0:
        raise ValueError(f"normal_: needs std >= 0; got std={std}")
    return _normal(tensor, mean, std, dtype)


@_fills_arrays
def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:
    """Fill ``tensor`` in place with draws from N(mean, std**2) restricted to [a, b]; returns it.

    ``a`` and ``b`` are values, not multiples of ``std`` (as in PyTorch). Any interval works,
    also one far in a tail of the distribution.
    """
    dtype = _random_dtype(tensor, "trunc_normal_")
    if not std > 0:
        raise ValueError(f"trunc_normal_: needs std > 0; got std={std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: needs a < b; got a={a}, b={b}")
    if tensor.data.size == 0:
        return tensor
    values = _truncated_standard_normal(tensor.data.size, (a - mean) / std, (b - mean) / std,
                                        dtype)
    values *= std
    values += mean
    # mean + std * z can round just past a bound in float32
    xp.clip(values, a, b, out=values)
    return _write(tensor, values.reshape(tensor.shape))


@_fills_arrays
def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialization: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).

    Returns ``tensor``, filled in place.
    """
    dtype = _random_dtype(tensor, "xavier_uniform_")
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    if tensor.data.size == 0:
        return tensor
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _uniform(tensor, -bound, bound, dtype)


@_fills_arrays
def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialization: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)).

    Returns ``tensor``, filled in place.
    """
    dtype = _random_dtype(tensor, "xavier_normal_")
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    if tensor.data.size == 0:
        return tensor
    return _normal(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


@_fills_arrays
def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialization: U(-bound, bound), bound = gain * sqrt(3 / fan).

    Args:
        tensor: the weight, (out, in) or (out, in, *kernel); filled in place and returned.
        a: the negative slope of the leaky_relu after this layer (used only with 'leaky_relu').
        mode: 'fan_in' keeps the variance of activations, 'fan_out' that of gradients.
        nonlinearity: the function after this layer, a name accepted by :func:`calculate_gain`.
    """
    dtype = _random_dtype(tensor, "kaiming_uniform_")
    fan = _fan(tensor, mode, "kaiming_uniform_")
    gain = _gain(nonlinearity, a, "kaiming_uniform_")
    if tensor.data.size == 0:
        return tensor
    bound = gain * math.sqrt(3.0 / fan)
    return _uniform(tensor, -bound, bound, dtype)


@_fills_arrays
def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialization: N(0, std**2), std = gain / sqrt(fan).

    Args:
        tensor: the weight, (out, in) or (out, in, *kernel); filled in place and returned.
        a: the negative slope of the leaky_relu after this layer (used only with 'leaky_relu').
        mode: 'fan_in' keeps the variance of activations, 'fan_out' that of gradients.
        nonlinearity: the function after this layer, a name accepted by :func:`calculate_gain`.
    """
    dtype = _random_dtype(tensor, "kaiming_normal_")
    fan = _fan(tensor, mode, "kaiming_normal_")
    gain = _gain(nonlinearity, a, "kaiming_normal_")
    if tensor.data.size == 0:
        return tensor
    return _normal(tensor, 0.0, gain / math.sqrt(fan), dtype)


@_fills_arrays
def lecun_normal_(tensor: Tensor) -> Tensor:
    """LeCun initialization: N(0, 1 / fan_in), the initialization SELU networks assume.

    A plain normal, as in the SELU paper and equal to ``kaiming_normal_(tensor,
    nonlinearity='linear')``. Keras' ``lecun_normal`` instead draws a normal truncated at 2 std
    and rescaled to the same variance; for that, use :func:`trunc_normal_` with
    ``std = sqrt(1 / fan_in) / 0.87962566103423978`` and bounds at +-2 of that std.
    Returns ``tensor``, filled in place.
    """
    dtype = _random_dtype(tensor, "lecun_normal_")
    fan_in, _ = _fans(tensor, "lecun_normal_")
    if tensor.data.size == 0:
        return tensor
    return _normal(tensor, 0.0, math.sqrt(1.0 / fan_in), dtype)


@_fills_arrays
def orthogonal_(tensor: Tensor, gain: float = 1) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain``, with dimensions after the first flattened.

    The Q of a QR factorization of a Gaussian matrix, with each column's sign set by the diagonal
    of R so that Q is uniformly (Haar) distributed, as in PyTorch. Rows are orthonormal when
    rows <= columns, columns otherwise. Returns ``tensor``, filled in place.
    """
    dtype = _random_dtype(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dimensions; got shape "
                         f"{shape_str(tensor.shape)}")
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flattened = generator().standard_normal((rows, cols), dtype=dtype)
    if rows < cols:
        flattened = flattened.T
    q, r = xp.linalg.qr(flattened)
    q *= xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    if gain != 1:
        q *= gain
    return _write(tensor, q.reshape(tensor.shape))


__all__ = ["calculate_fan_in_and_fan_out", "calculate_gain", "constant_", "kaiming_normal_",
           "kaiming_uniform_", "lecun_normal_", "normal_", "ones_", "orthogonal_",
           "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]
