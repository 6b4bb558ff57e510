"""Transfer learning: reuse a trained network's features for new classes.

::

    model = dg.models.cnn(num_classes=5, pretrained="runs/pretrain/model.safetensors")
    model.requires_grad_(False)              # freeze the body (its BatchNorm runs in eval mode)
    head = replace_head(model, num_classes=5)  # a new, trainable classifier on the features
    optimizer = dg.optim.Adam(head.parameters(), lr=1e-3)

    hidden = feature_extractor(model, "features.6")  # the activations of one named layer

Fine-tuning the whole network instead gives the body a lower learning rate than the new head
with two parameter groups (``[{"params": body, "lr": 1e-4}, {"params": head.parameters()}]``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from deepgrad.errors import StateDictError
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import Module
from deepgrad.serialization import load_file

# The metadata entry that ``deepgrad pretrain`` writes into its weights file: the architecture
# and classes the weights were trained with, quoted when they do not fit a model.
PRETRAIN_KEY = "deepgrad.pretrain"
_LISTED_NAMES = 30


class _Reached(Exception):
    """Raised by the hook of a FeatureExtractor to skip the rest of the model's forward."""

    def __init__(self, output: Any) -> None:
        super().__init__()
        self.output = output


class FeatureExtractor(Module):
    """The activations of one named layer of ``model``: ``extractor(x)`` runs ``model`` on ``x``
    up to the first call of that layer and returns its output (the rest is not computed).

    The extractor shares the model's parameters (its ``state_dict`` keys are prefixed with
    ``model.``); gradients flow through it to whatever parameters still require grad.
    """

    def __init__(self, model: Module, layer_name: str) -> None:
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"feature_extractor: model must be a dg.nn.Module; got "
                            f"{type(model).__name__}")
        layers = dict(model.named_modules())
        if not isinstance(layer_name, str) or not layer_name or layer_name not in layers:
            names = [name for name in layers if name]
            shown = ", ".join(names[:_LISTED_NAMES])
            more = f", ... ({len(names)} in all)" if len(names) > _LISTED_NAMES else ""
            raise ValueError(f"feature_extractor: {type(model).__name__} has no layer named "
                             f"{layer_name!r}; its layers are: {shown}{more}")
        self.model = model
        self.layer_name = layer_name

    def forward(self, x: Any) -> Any:
        layer = dict(self.model.named_modules())[self.layer_name]

        def stop(module: Module, inputs: tuple, output: Any) -> None:
            raise _Reached(output)

        handle = layer.register_forward_hook(stop)
        try:
            self.model(x)
        except _Reached as reached:
            return reached.output
        finally:
            handle.remove()
        raise RuntimeError(f"feature_extractor: layer {self.layer_name!r} of "
                           f"{type(self.model).__name__} was not called by its forward")

    def extra_repr(self) -> str:
        return f"layer_name={self.layer_name!r}"


def feature_extractor(model: Module, layer_name: str) -> FeatureExtractor:
    """A module returning the activations of the layer named ``layer_name`` (its path in
    ``model.named_modules()``, such as ``"features"`` or ``"classifier.3"``).

    Args:
        model: the trained network (not copied: the extractor uses its parameters).
        layer_name: the dotted path of a sub-module of ``model``.

    Returns:
        A :class:`FeatureExtractor`; the zoo models also have ``model.embed(x)`` for their
        penultimate features.
    """
    return FeatureExtractor(model, layer_name)


def replace_head(model: Module, num_classes: int) -> Module:
    """Give ``model`` a new, freshly initialized and trainable head with ``num_classes``
    outputs, in place: the part that turns the body's features into class scores.

    The head is the sub-module that the model's class names in ``head_name`` (``classifier``
    of ``cnn``, ``head`` of ``resnet`` and ``mobilenet``), else the model's last ``Linear``
    layer. Its last ``Linear`` layer is replaced by one with ``num_classes`` outputs (same input
    size, bias and dtype); its other layers with ``reset_parameters`` are re-initialized. The
    head then requires grad even when the rest is frozen: call ``model.requires_grad_(False)``
    before, not after.

    Returns:
        The head, whose parameters are those to train (or to train faster).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"replace_head: num_classes must be a positive integer; got "
                         f"{num_classes!r}")
    modules = dict(model.named_modules())
    head_name = getattr(type(model), "head_name", None)
    if head_name is not None and head_name not in modules:
        raise ValueError(f"replace_head: {type(model).__name__}.head_name is {head_name!r}, "
                         "which is not one of its sub-modules")
    linears = [path for path, module in modules.items()
               if isinstance(module, Linear) and path and
               (head_name is None or path.startswith(head_name + "."))]
    if not linears:
        where = f"its head {head_name!r}" if head_name else type(model).__name__
        raise ValueError(f"replace_head: {where} has no Linear sub-module to replace")
    path = linears[-1]
    old = modules[path]
    parent_path, _, name = path.rpartition(".")
    layer = Linear(old.in_features, num_classes, bias=old.bias is not None)
    layer.to(old.weight.data.dtype)
    # Assigned in the registry, not with setattr, so that a Sequential keeps its order.
    modules[parent_path]._modules[name] = layer
    if head_name is None:
        return layer
    head = modules[head_name]
    for module in head.modules():
        if module is not layer and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return head.requires_grad_(True)


def _architecture_arguments(config: dict[str, Any]) -> list[str]:
    """The ``dg.models`` keyword arguments, as ``name=value`` strings, that build the
    architecture a ``deepgrad pretrain`` config records: the class count, and the input channels
    and (for the cnn, whose head depends on it) the image size where they are not the
    defaults (1 and 28)."""
    arguments = [f"num_classes={config.get('num_classes')}"]
    if config.get("in_channels", 1) != 1:
        arguments.append(f"in_channels={config['in_channels']}")
    if config.get("model") == "cnn" and config.get("image_size", 28) != 28:
        arguments.append(f"image_size={config['image_size']}")
    return arguments


def load_pretrained(model: Module, path: str | os.PathLike) -> Module:
    """Load a weights file (``dg.save``, ``deepgrad pretrain``, or a torch ``state_dict`` saved
    with ``safetensors``) into ``model``, which must have the same architecture.

    Raises:
        StateDictError: listing every missing, unexpected or wrongly shaped key, with the
            architecture recorded in the file by ``deepgrad pretrain``, if any.
        FileNotFoundError: no such file.
    """
    arrays, metadata = load_file(path)
    try:
        model.load_state_dict(arrays)
    except StateDictError as error:
        recorded = ""
        try:
            config = json.loads(metadata.get(PRETRAIN_KEY, "{}"))
        except json.JSONDecodeError:
            config = {}
        if isinstance(config, dict) and config:
            recorded = (f"; the file holds a {config.get('model')} with "
                        f"{', '.join(_architecture_arguments(config))}")
        raise StateDictError(f"{os.fspath(path)}: {error}\n  build the model with the "
                             f"architecture the weights were trained with{recorded}") from None
    return model


__all__ = ["FeatureExtractor", "feature_extractor", "load_pretrained", "replace_head"]
