"""Probability distributions with gradients, PyTorch's ``torch.distributions`` for the three that
deep learning code reaches for: :class:`Normal` (VAEs' latent codes, Gaussian policies),
:class:`Categorical` (policy gradients over discrete actions, sampling from a language model) and
:class:`Bernoulli`, with :func:`kl_divergence` between two of a kind.

Each is built from deepgrad's differentiable ops, so ``log_prob``, ``entropy`` and
``kl_divergence`` backpropagate into the parameters, and ``Normal.rsample`` into ``loc`` and
``scale`` (the reparameterization trick). Samples come from deepgrad's generator
(``dg.manual_seed``), and parameters broadcast against each other as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import generator
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.ops.activations import softplus
from deepgrad.ops.indexing import gather
from deepgrad.ops.reductions import logsumexp
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, int64


def _param(value: Any, name: str, owner: str) -> Tensor:
    if isinstance(value, Tensor):
        if value.dtype.kind != "f":
            raise TypeError(f"{owner}: {name} must be floating point; got dtype {value.dtype}")
        return value
    data = xp.asarray(value, dtype=DEFAULT_FLOAT if not isinstance(value, xp.ndarray)
                      or value.dtype.kind != "f" else value.dtype)
    return Tensor._make(data)


def _sample_shape(sample_shape: Any) -> tuple[int, ...]:
    if isinstance(sample_shape, int):
        return (sample_shape,)
    return tuple(int(s) for s in sample_shape)


class Distribution:
    """The base of deepgrad's distributions: ``batch_shape`` is the shape of one draw,
    ``sample(sample_shape)`` draws ``sample_shape + batch_shape`` values without a graph."""

    batch_shape: tuple[int, ...] = ()

    def _value(self, value: Any) -> Tensor:
        value = value if isinstance(value, Tensor) else Tensor._make(xp.asarray(value))
        try:
            xp.broadcast_shapes(value.shape, self.batch_shape)
        except ValueError:
            raise ShapeError(f"{type(self).__name__}.log_prob: a value of shape "
                             f"{shape_str(value.shape)} does not broadcast with the batch shape "
                             f"{shape_str(self.batch_shape)}") from None
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_shape={self.batch_shape})"


class Normal(Distribution):
    """The normal distribution N(loc, scale**2); ``rsample`` is differentiable in both."""

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = _param(loc, "loc", "Normal"), _param(scale, "scale", "Normal")
        if validate_args is not False and not bool(xp.all(self.scale.data > 0)):
            raise ValueError("Normal: scale must be > 0 everywhere")
        self.batch_shape = xp.broadcast_shapes(self.loc.shape, self.scale.shape)

    @property
    def mean(self) -> Tensor:
        """The mean, ``loc`` (broadcast to the batch shape)."""
        return self.loc.expand(*self.batch_shape)

    @property
    def stddev(self) -> Tensor:
        """The standard deviation, ``scale``."""
        return self.scale.expand(*self.batch_shape)

    @property
    def variance(self) -> Tensor:
        """The variance, ``scale ** 2``."""
        return self.stddev ** 2

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``loc + scale * eps`` with standard normal ``eps``: a sample that gradients flow
        through (the reparameterization trick)."""
        shape = _sample_shape(sample_shape) + self.batch_shape
        eps = generator().standard_normal(shape).astype(self.loc.dtype)
        return self.loc + self.scale * Tensor._make(eps)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Values drawn from N(loc, scale**2), without a graph."""
        with no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: Any) -> Tensor:
        """``-((value - loc)**2) / (2 scale**2) - log(scale) - log(sqrt(2 pi))``."""
        value = self._value(value)
        return (-((value - self.loc) ** 2) / (2 * self.scale ** 2) - self.scale.log()
                - 0.5 * math.log(2 * math.pi))

    def entropy(self) -> Tensor:
        """``0.5 + 0.5 log(2 pi) + log(scale)`` per element."""
        return (0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()).expand(*self.batch_shape)

    def cdf(self, value: Any) -> Tensor:
        """P(X <= value)."""
        value = self._value(value)
        return 0.5 * (1 + ((value - self.loc) / (self.scale * math.sqrt(2))).erf())


class Categorical(Distribution):
    """A distribution over ``K`` categories, given ``probs`` (non-negative weights, normalized
    over the last dimension) or ``logits`` (unnormalized log probabilities), not both. The
    batch shape is the parameters' shape without the last dimension."""

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: give either probs or logits, not both")
        if probs is not None:
            probs = _param(probs, "probs", "Categorical")
            if validate_args is not False and not bool(xp.all(probs.data >= 0)):
                raise ValueError("Categorical: probs must be >= 0")
            self.probs = probs / probs.sum(-1, keepdim=True)
            eps = float(xp.finfo(probs.dtype).eps)  # PyTorch's clamp, so that log(0) is finite
            self.logits = self.probs.clamp(eps, 1 - eps).log()
        else:
            logits = _param(logits, "logits", "Categorical")
            self.logits = logits - logsumexp(logits, -1, keepdim=True)
            self.probs = self.logits.exp()
        if self.logits.ndim == 0:
            raise ShapeError("Categorical: the parameters need a last dimension of categories")
        self.batch_shape = tuple(self.logits.shape[:-1])
        self.num_categories = self.logits.shape[-1]

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Category indices (int64) of shape ``sample_shape + batch_shape``."""
        shape = _sample_shape(sample_shape) + self.batch_shape
        probs = self.probs.data.reshape(-1, self.num_categories).astype(xp.float64)
        cumulative = xp.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        n = math.prod(_sample_shape(sample_shape))
        u = generator().random((n, len(cumulative), 1))
        draws = (u > cumulative[None]).sum(axis=2).clip(max=self.num_categories - 1)
        return Tensor._make(draws.reshape(shape).astype(int64))

    def log_prob(self, value: Any) -> Tensor:
        """The log probability of the category indices ``value``."""
        value = self._value(value)
        if value.dtype.kind not in "iu":
            raise TypeError(f"Categorical.log_prob: expects integer category indices; got "
                            f"dtype {value.dtype}")
        if value.data.size and (value.data.min() < 0
                                or value.data.max() >= self.num_categories):
            raise ValueError(f"Categorical.log_prob: indices must be in [0, "
                             f"{self.num_categories}); got values in [{value.data.min()}, "
                             f"{value.data.max()}]")
        shape = xp.broadcast_shapes(value.shape, self.batch_shape)
        logits = self.logits.expand(*shape, self.num_categories)
        index = xp.broadcast_to(value.data, shape)[..., None]
        return gather(logits, -1, index).squeeze(-1)

    def entropy(self) -> Tensor:
        """``-sum(p log p)`` over the categories (0 log 0 counted as 0)."""
        return -(self.probs * self.logits.clamp(min=float(xp.finfo(self.logits.dtype).min))
                 ).sum(-1)


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0; given one of them."""

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: give either probs or logits, not both")
        if probs is not None:
            self.probs = _param(probs, "probs", "Bernoulli")
            if validate_args is not False and not bool(
                    xp.all((self.probs.data >= 0) & (self.probs.data <= 1))):
                raise ValueError("Bernoulli: probs must be in [0, 1]")
            eps = float(xp.finfo(self.probs.dtype).eps)
            clipped = self.probs.clamp(eps, 1 - eps)
            self.logits = clipped.log() - (1 - clipped).log()
        else:
            self.logits = _param(logits, "logits", "Bernoulli")
            self.probs = self.logits.sigmoid()
        self.batch_shape = tuple(self.logits.shape)

    @property
    def mean(self) -> Tensor:
        """The mean, ``probs``."""
        return self.probs

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """0.0 / 1.0 values of shape ``sample_shape + batch_shape`` (in the parameters' dtype)."""
        shape = _sample_shape(sample_shape) + self.batch_shape
        draws = generator().random(shape) < self.probs.data
        return Tensor._make(draws.astype(self.probs.dtype))

    def log_prob(self, value: Any) -> Tensor:
        """``value log p + (1 - value) log(1 - p)``, computed from the logits without log(0)."""
        value = self._value(value)
        return -(softplus(self.logits) - self.logits * value)

    def entropy(self) -> Tensor:
        """``-(p log p + (1 - p) log(1 - p))``."""
        return softplus(self.logits) - self.logits * self.probs


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q), per element of the batch, for two distributions of the same kind."""
    if type(p) is not type(q) or type(p) not in (Normal, Categorical, Bernoulli):
        raise NotImplementedError(f"kl_divergence: available between two Normal, two "
                                  f"Categorical or two Bernoulli distributions; got "
                                  f"{type(p).__name__} and {type(q).__name__}")
    if isinstance(p, Normal):
        ratio = (p.scale / q.scale) ** 2
        return 0.5 * (ratio + ((p.loc - q.loc) / q.scale) ** 2 - 1 - ratio.log())
    if isinstance(p, Categorical):
        return (p.probs * (p.logits - q.logits)).sum(-1)
    # Bernoulli, from the logits: p (log p - log q) + (1 - p) (log(1-p) - log(1-q)).
    return (p.probs * (softplus(q.logits) - softplus(p.logits) + p.logits - q.logits)
            + (1 - p.probs) * (softplus(q.logits) - softplus(p.logits)))


__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "kl_divergence"]
