"""``summary(model, input_shape)``: each layer's output shape and parameter count, with totals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import zeros
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.nn.module import Module
from deepgrad.tensor import DEFAULT_FLOAT, Tensor


@dataclass
class ModelSummary:
    """What ``summary`` measured; ``str(summary)`` is the table."""

    rows: list[tuple[str, str, str, int]] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    frozen_params: int = 0
    activation_bytes: int = 0
    input_shape: tuple = ()

    def __str__(self) -> str:
        headers = ("Layer", "Type", "Output shape", "Params")
        cells = [headers] + [(name, kind, out, f"{count:,}") for name, kind, out, count in
                             self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(4)]
        rule = "-" * (sum(widths) + 6)

        def line(row: tuple) -> str:
            return "  ".join((row[i].rjust(widths[i]) if i == 3 else row[i].ljust(widths[i]))
                             for i in range(4))

        body = [line(headers), rule, *(line(row) for row in cells[1:]), rule]
        body += [f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Frozen params: {self.frozen_params:,}",
                 f"Activations for one batch of {_shape(self.input_shape)}: "
                 f"{self.activation_bytes / 2**20:.2f} MiB"]
        return "\n".join(body)

    def __repr__(self) -> str:
        return str(self)


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def summary(model: Module, input_shape: tuple[int, ...], dtype: Any = None,
            verbose: bool = True) -> ModelSummary:
    """Run one batch of zeros of ``input_shape`` (batch dimension included) through ``model``
    and tabulate every sub-module: path, type, output shape, own parameter count; with the total,
    trainable and frozen parameter counts and the memory of every layer's output.

    The model runs in eval mode under ``no_grad`` and is returned to its previous mode. Prints the
    table when ``verbose``; returns it as a :class:`ModelSummary` either way.
    """
    if dtype is None:
        first = next(model.parameters(), None)
        dtype = DEFAULT_FLOAT if first is None else first.dtype
    outputs: dict[int, Any] = {}
    handles = [module.register_forward_hook(
        lambda m, _inputs, out: outputs.__setitem__(id(m), out)) for module in model.modules()]
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            try:
                model(zeros(*input_shape, dtype=dtype))
            except ShapeError as error:
                # The usual cause: a Keras-style shape without the batch dimension.
                raise ShapeError(f"summary: a batch of shape {shape_str(input_shape)} does not "
                                  f"fit the model (input_shape includes the batch dimension, "
                                  f"e.g. (1, 1, 28, 28) for one 28x28 image): {error}") from error
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    result = ModelSummary(input_shape=tuple(input_shape))
    for path, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        out = outputs.get(id(module))
        shapes = [o.shape for o in (out if isinstance(out, (tuple, list)) else (out,))
                  if isinstance(o, Tensor)]
        if path:  # the model itself is the total, not a row
            result.rows.append((path, type(module).__name__,
                                ", ".join(_shape(s) for s in shapes) or "-", own))
            if not module._modules:  # count each leaf layer's output once
                result.activation_bytes += sum(
                    math.prod(s) * xp.dtype(dtype).itemsize for s in shapes)
    for param in model.parameters():
        result.total_params += param.numel()
        if param.requires_grad:
            result.trainable_params += param.numel()
        else:
            result.frozen_params += param.numel()
    if verbose:
        print(result)
    return result


__all__ = ["ModelSummary", "summary"]
