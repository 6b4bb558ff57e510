"""Normalization at inference: BatchNormalization (running statistics, folded into one scale
and shift per channel), LayerNormalization (opset 17, with its optional Mean and InvStdDev
outputs) and InstanceNormalization."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepgrad_runtime.graph import Node
from deepgrad_runtime.kernels.base import Attributes, Consts, Kernel, Workspace, arity, register


def batch_norm_affine(scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
                      epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Batch normalization with running statistics as ``y = x * a + b`` per channel:
    ``(a, b)``, computed in float64 and returned in the scale's dtype."""
    shapes = {p.shape for p in (scale, bias, mean, var)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"scale, B, mean and var must be 1-d of one length; got shapes "
                         f"{[p.shape for p in (scale, bias, mean, var)]}")
    a = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    b = bias.astype(np.float64) - mean.astype(np.float64) * a
    return a.astype(scale.dtype), b.astype(scale.dtype)


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    if x.ndim < 2:
        raise ValueError(f"the input must be (N, C, ...); got shape {x.shape}")
    return (-1,) + (1,) * (x.ndim - 2)


@register("BatchNormalization")
def _batch_norm(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    arity(node, (5, 5), (1, 3))
    if any(node.outputs[1:]):
        raise ValueError("the running mean and variance outputs exist only in training mode; "
                         "this runtime only runs inference")
    attrs = Attributes(node)
    epsilon = attrs.float("epsilon", 1e-5)
    attrs.float("momentum", 0.9)
    fixed = (batch_norm_affine(*consts[1:], epsilon)  # type: ignore[misc]
             if all(c is not None for c in consts[1:]) else None)
    extra = (None,) * (len(node.outputs) - 1)

    def batch_norm(x: np.ndarray, *params: np.ndarray) -> Any:
        a, b = fixed if fixed is not None else batch_norm_affine(*params, epsilon)
        shape = _channel_shape(x)
        y = x * a.reshape(shape)
        y += b.reshape(shape)
        return (y, *extra) if extra else y

    return batch_norm


@register("LayerNormalization")
def _layer_norm(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """Normalize over the axes from ``axis`` on, then scale and shift."""
    arity(node, (2, 3), (1, 3))
    attrs = Attributes(node)
    axis, epsilon = attrs.int("axis", -1), attrs.float("epsilon", 1e-5)
    outputs = len(node.outputs)

    def layer_norm(x: np.ndarray, scale: np.ndarray, bias: Any = None) -> Any:
        a = axis + x.ndim if axis < 0 else axis
        if not 0 <= a < x.ndim:
            raise ValueError(f"axis {axis} is out of range for an input of rank {x.ndim}")
        axes = tuple(range(a, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        inv_std = 1 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + epsilon)
        y = centered * inv_std
        y *= scale
        if bias is not None:
            y += bias
        return (y, mean, inv_std)[:outputs] if outputs > 1 else y

    return layer_norm


@register("InstanceNormalization")
def _instance_norm(node: Node, consts: Consts, workspace: Workspace) -> Kernel:
    """Normalize each (sample, channel) over its spatial axes, then scale and shift."""
    arity(node, (3, 3))
    epsilon = Attributes(node).float("epsilon", 1e-5)

    def instance_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
        if x.ndim < 3:
            raise ValueError(f"the input must be (N, C, D1, ...); got shape {x.shape}")
        axes = tuple(range(2, x.ndim))
        centered = x - x.mean(axis=axes, keepdims=True)
        y = centered / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True)
                               + epsilon)
        shape = _channel_shape(x)
        y *= scale.reshape(shape)
        y += bias.reshape(shape)
        return y

    return instance_norm


__all__ = ["batch_norm_affine"]
