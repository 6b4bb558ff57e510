"""Normalization layers: BatchNorm1d/2d (with running statistics), InstanceNorm1d/2d, LayerNorm,
GroupNorm, RMSNorm (and its function ``rms_norm``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import ones, zeros
from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn.module import Module, Parameter, layer_error
from deepgrad.ops import norm
from deepgrad.ops.instance_norm import instance_norm
from deepgrad.tensor import Tensor, check_tensor, int64


class _NormBase(Module):
    """The parameters and buffers that batch and instance normalization share: per-channel
    ``weight`` and ``bias`` when ``affine``, and the running statistics when
    ``track_running_stats`` (PyTorch's names, so state dicts match)."""

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features)) if affine else None
        self.bias = Parameter(zeros(num_features)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features))
            self.register_buffer("running_var", ones(num_features))
            self.register_buffer("num_batches_tracked", zeros((), dtype=int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1 and no batches tracked, as when constructed."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Normalizes each channel by the batch's statistics while training (updating running
    averages), by the running averages in eval mode.

    ``momentum=None`` makes the running statistics the plain average of every batch's so far
    (PyTorch's cumulative average; ``optim.swa_utils.update_bn`` uses it).

    A frozen layer, one whose parameters all have ``requires_grad=False`` (as after
    ``model.requires_grad_(False)``), runs in inference mode even while the model trains, as in
    Keras: it normalizes by its running statistics and leaves them unchanged. Fine-tuning on a
    few examples then cannot overwrite statistics learned on a large dataset, and a frozen body
    computes the same features in train and eval mode. A layer without parameters
    (``affine=False``) cannot be frozen this way: call ``.eval()`` on it. A frozen layer without
    running statistics (``track_running_stats=False``) still normalizes by the batch's.
    """

    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            raise layer_error(self, self._layout.format(c=self.num_features), x.shape)
        updating = self.training and not self.frozen
        use_batch_stats = updating or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if updating and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # the n-th batch weighs 1/n: a plain average
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return norm.batch_norm(x, self.running_mean if self.track_running_stats else None,
                               self.running_var if self.track_running_stats else None,
                               self.weight, self.bias, use_batch_stats, momentum, self.eps)

    @property
    def frozen(self) -> bool:
        """Whether the layer has parameters and none of them requires grad (it then runs in
        inference mode whatever ``training`` says)."""
        params = [p for p in (self.weight, self.bias) if p is not None]
        return bool(params) and not any(p.requires_grad for p in params)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C.

    Frozen (every parameter with ``requires_grad=False``), it runs in inference mode even in
    train mode, as in Keras: see ``frozen``.
    """

    _ranks = (2, 3)
    _layout = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C.

    Frozen (every parameter with ``requires_grad=False``), it runs in inference mode even in
    train mode, as in Keras: see ``frozen``.
    """

    _ranks = (4,)
    _layout = "(N, {c}, H, W)"


class _InstanceNorm(_NormBase):
    """What InstanceNorm1d and InstanceNorm2d share: PyTorch's defaults, the input check, and
    the unbatched form run as a batch of one."""

    _spatial = 2
    _dims = "H, W"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        c, rank = self.num_features, self._spatial + 2
        if x.ndim not in (rank - 1, rank) or x.shape[-self._spatial - 1] != c:
            raise layer_error(self, f"(N, {c}, {self._dims}) or ({c}, {self._dims})", x.shape)
        batched = x if x.ndim == rank else x.unsqueeze(0)
        y = instance_norm(batched, self.running_mean, self.running_var, self.weight, self.bias,
                          self.training or not self.track_running_stats, self.momentum, self.eps)
        return y if x.ndim == rank else y.squeeze(0)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) or (C, L) inputs: each channel of each sample
    normalized over its L positions; see ``InstanceNorm2d`` for the options."""

    _spatial = 1
    _dims = "L"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) or (C, H, W) inputs: each channel of each sample
    normalized over its H x W positions (PyTorch's defaults: no affine parameters, no running
    statistics).

    With ``track_running_stats``, training updates running averages of the instances'
    statistics and eval mode normalizes by them; ``num_batches_tracked`` stays 0, as in PyTorch.
    """


class LayerNorm(Module):
    """Normalizes over the last dimensions (``normalized_shape``) of each example."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(ones(*shape)) if elementwise_affine else None
        self.bias = Parameter(zeros(*shape)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - n:]) != self.normalized_shape or x.ndim < n:
            raise layer_error(self, "(..., " + ", ".join(map(str, self.normalized_shape)) + ")",
                              x.shape)
        return norm.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, affine={self.weight is not None}"


class GroupNorm(Module):
    """Normalizes each group of ``num_channels / num_groups`` channels of each example."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = Parameter(ones(num_channels)) if affine else None
        self.bias = Parameter(zeros(num_channels)) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise layer_error(self, f"(N, {self.num_channels}, ...)", x.shape)
        return norm.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x**2) + eps) * weight over the trailing dims (PyTorch's ``F.rms_norm``).

    Composed of differentiable primitives (square, mean, rsqrt, mul), so its backward is
    theirs: unlike layer norm there is no mean to subtract, and the graph stays short.

    Args:
        input: shape (*, *normalized_shape), floating point.
        normalized_shape: the trailing dims to normalize over (an int for the last one).
        weight: the scale, shape ``normalized_shape``, or None.
        eps: added to the mean square; None for the machine epsilon of the input's dtype.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = check_tensor("rms_norm", input)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ShapeError(f"rms_norm: expects input (*, {', '.join(map(str, shape))}) for "
                         f"normalized_shape {shape_str(shape)}; got {shape_str(x.shape)}")
    if x.data.dtype.kind != "f":
        raise TypeError(f"rms_norm: expects a floating point input; got {x.dtype}")
    if weight is not None and tuple(weight.shape) != shape:
        raise ShapeError(f"rms_norm: weight must have the normalized shape {shape_str(shape)}; "
                         f"got {shape_str(weight.shape)}")
    eps = float(xp.finfo(x.dtype).eps) if eps is None else float(eps)
    dims = tuple(range(-k, 0))
    y = x * (x.square().mean(dim=dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


class RMSNorm(Module):
    """Root-mean-square normalization over the last dims (``normalized_shape``) of each example:
    y = x / sqrt(mean(x**2) + eps) * weight, without centering or bias (PyTorch's ``RMSNorm``).

    Args:
        normalized_shape: the trailing dims to normalize over (an int for the last one).
        eps: added to the mean square; None for the machine epsilon of the input's dtype.
        elementwise_affine: learn ``weight`` (ones at first).
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        self.register_parameter("weight", Parameter(ones(*shape)) if elementwise_affine
                                else None)

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if x.ndim < n or tuple(x.shape[x.ndim - n:]) != self.normalized_shape:
            raise layer_error(self, "(..., " + ", ".join(map(str, self.normalized_shape)) + ")",
                              x.shape)
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
           "LayerNorm", "RMSNorm", "rms_norm"]
