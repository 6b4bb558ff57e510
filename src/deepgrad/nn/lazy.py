"""Lazy layers, PyTorch's ``LazyConv1d``, ``LazyConv2d``, ``LazyBatchNorm1d`` and
``LazyBatchNorm2d``: the number of input channels is read from the first input (Keras' way of
building layers), the parameters are then created with the layer's own initialization and in
the input's floating dtype, and the module becomes the plain layer. Loading a state dict into a
lazy layer first creates the parameters from the saved shapes.

Build the optimizer after the first forward (or after loading a state dict): before it a lazy
layer has no parameters to give it. (``LazyLinear`` lives with ``Linear``.)
"""

from __future__ import annotations

import inspect
from typing import Any

from deepgrad.errors import shape_str
from deepgrad.nn.conv import Conv1d, Conv2d
from deepgrad.nn.module import Module, layer_error
from deepgrad.nn.norm import BatchNorm1d, BatchNorm2d
from deepgrad.tensor import Tensor, as_array

# The registries and state of a Module itself, which becoming the built layer must keep.
_MODULE_STATE = {"_parameters", "_buffers", "_non_persistent", "_modules", "_forward_hooks",
                 "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks", "training"}


class _Lazy(Module):
    """What the lazy layers share: the saved arguments, and becoming the built layer. Each
    defines ``_saved_channels(state_dict, prefix)``, the channels a state dict implies."""

    _built: type[Module]
    _channel_axis = 1    # where the first input's channel count is
    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_lazy_arguments", (args, kwargs))
        for name in self._parameter_names:
            self.register_parameter(name, None)

    _parameter_names = ("weight", "bias")

    def initialize(self, channels: int, dtype: Any = None) -> None:
        """Create the parameters for ``channels`` input channels and become the plain layer."""
        args, kwargs = self._lazy_arguments
        built = self._built(channels, *args, **kwargs)
        if dtype is not None:
            built.to(dtype)
        for name in ("_parameters", "_buffers"):
            self.__dict__[name].update(built.__dict__[name])
        self._non_persistent.update(built._non_persistent)
        for name, value in built.__dict__.items():
            if name not in _MODULE_STATE:
                object.__setattr__(self, name, value)
        del self.__dict__["_lazy_arguments"]
        self.__class__ = self._built

    def _materialize_from_state(self, state_dict: dict, prefix: str) -> None:
        """Called by ``load_state_dict`` before copying: the saved shapes give the channels."""
        channels = self._saved_channels(state_dict, prefix)
        if channels is None:
            return
        dtype = next((as_array(state_dict[prefix + n]).dtype for n in self._parameter_names
                      if prefix + n in state_dict), None)
        self.initialize(channels, dtype if dtype is not None and dtype.kind == "f" else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._ranks:
            raise layer_error(self, self._layout, x.shape)
        axis = self._channel_axis if x.ndim == max(self._ranks) else self._channel_axis - 1
        self.initialize(x.shape[axis], x.dtype if x.data.dtype.kind == "f" else None)
        return self.forward(x)

    def extra_repr(self) -> str:
        args, kwargs = self._lazy_arguments
        bound = inspect.signature(type(self).__init__).bind(self, *args, **kwargs).arguments
        return ", ".join(["0", *(f"{k}={v!r}" for k, v in list(bound.items())[1:])])


class _LazyConv(_Lazy):
    """The lazy convolutions: Conv's arguments but ``in_channels``."""

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__(out_channels, kernel_size, stride, padding, dilation, groups, bias)

    def _saved_channels(self, state_dict: dict, prefix: str) -> int | None:
        if prefix + "weight" not in state_dict:
            return None
        weight = as_array(state_dict[prefix + "weight"])
        groups = self._lazy_arguments[0][5]  # (out_channels, kernel_size, ..., groups, bias)
        if weight.ndim != self._built._spatial + 2:
            raise ValueError(f"{type(self).__name__}: the state dict's {prefix}weight has shape "
                             f"{shape_str(weight.shape)}; expected (out_channels, in_channels / "
                             f"groups, *kernel_size)")
        return int(weight.shape[1]) * groups


class LazyConv2d(_LazyConv):
    """A :class:`Conv2d` (same arguments but ``in_channels``) whose ``in_channels`` is the
    channel count of its first (N, C, H, W) or (C, H, W) input."""

    _built = Conv2d
    _ranks = (3, 4)
    _layout = "(N, C, H, W) or (C, H, W)"


class LazyConv1d(_LazyConv):
    """A :class:`Conv1d` whose ``in_channels`` is the channel count of its first (N, C, L)
    or (C, L) input."""

    _built = Conv1d
    _ranks = (2, 3)
    _layout = "(N, C, L) or (C, L)"


class _LazyBatchNorm(_Lazy):
    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(eps, momentum, affine, track_running_stats)

    def _saved_channels(self, state_dict: dict, prefix: str) -> int | None:
        for name in ("weight", "running_mean"):
            if prefix + name in state_dict:
                return int(as_array(state_dict[prefix + name]).shape[0])
        return None


class LazyBatchNorm2d(_LazyBatchNorm):
    """A :class:`BatchNorm2d` whose ``num_features`` is the channel count of its first input."""

    _built = BatchNorm2d
    _ranks = (4,)
    _layout = "(N, C, H, W)"


class LazyBatchNorm1d(_LazyBatchNorm):
    """A :class:`BatchNorm1d` whose ``num_features`` is dimension 1 of its first (N, C) or
    (N, C, L) input."""

    _built = BatchNorm1d
    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._ranks:
            raise layer_error(self, self._layout, x.shape)
        self.initialize(x.shape[1], x.dtype if x.data.dtype.kind == "f" else None)
        return self.forward(x)


__all__ = ["LazyBatchNorm1d", "LazyBatchNorm2d", "LazyConv1d", "LazyConv2d"]
