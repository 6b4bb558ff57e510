"""The losses as Modules (PyTorch's ``nn.MSELoss``, ``nn.CrossEntropyLoss``, ...).

A loss Module holds its settings and calls the function of :mod:`deepgrad.nn.losses` in
``forward(input, target)``. Class weights are buffers named as in PyTorch (``weight``,
``pos_weight``): they are in ``state_dict`` and ``.to(dtype)`` converts them. The deprecated
``size_average`` and ``reduce`` arguments of PyTorch do not exist here; the arguments that follow
them in PyTorch are keyword-only, so that a positional call written for PyTorch fails loudly
instead of meaning something else.
"""

from __future__ import annotations

from typing import Any, ClassVar

from deepgrad.nn import losses
from deepgrad.nn.module import Module
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, to_array


class _Loss(Module):
    """Base of the loss Modules: keeps ``reduction`` (checked once, here) and prints the
    settings that differ from the defaults."""

    defaults: ClassVar[dict[str, Any]] = {"reduction": "mean"}
    reductions: ClassVar[tuple[str, ...]] = ("mean", "sum", "none")

    def __init__(self, reduction: str = "mean", **settings: Any) -> None:
        super().__init__()
        losses.check_reduction(type(self).__name__, reduction, self.reductions)
        self.reduction = reduction
        for name, value in settings.items():
            setattr(self, name, value)

    def _buffer(self, name: str, value: Any) -> None:
        if value is not None:
            value = to_array(value)
            if value.dtype.kind != "f":
                value = value.astype(DEFAULT_FLOAT)
            value = Tensor(value)
        self.register_buffer(name, value)

    def extra_repr(self) -> str:
        """The settings that differ from PyTorch's defaults (``CrossEntropyLoss()`` when none)."""
        return ", ".join(f"{name}={getattr(self, name)!r}" for name, default in
                         self.defaults.items() if getattr(self, name) != default)


class MSELoss(_Loss):
    """Mean squared error; see :func:`deepgrad.nn.functional.mse_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of ``input`` against ``target`` (same shapes)."""
        return losses.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; see :func:`deepgrad.nn.functional.l1_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of ``input`` against ``target`` (same shapes)."""
        return losses.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Huber loss with threshold ``delta``; see :func:`deepgrad.nn.functional.huber_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"reduction": "mean", "delta": 1.0}

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction, delta=losses.check_number("HuberLoss", "delta", delta, 0.0,
                                                               low_open=True))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of ``input`` against ``target`` (same shapes)."""
        return losses.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss with threshold ``beta``; see :func:`deepgrad.nn.functional.smooth_l1_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"reduction": "mean", "beta": 1.0}

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction, beta=losses.check_number("SmoothL1Loss", "beta", beta, 0.0))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of ``input`` against ``target`` (same shapes)."""
        return losses.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities, with optional rescaling ``weight`` (a buffer); see
    :func:`deepgrad.nn.functional.binary_cross_entropy`."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of probabilities ``input`` against ``target`` (same shapes)."""
        return losses.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable op, with optional ``weight`` and
    ``pos_weight`` (buffers); see :func:`deepgrad.nn.functional.binary_cross_entropy_with_logits`.
    """

    def __init__(self, weight: Any = None, *, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of logits ``input`` against ``target`` (same shapes)."""
        return losses.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                       self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits against class indices or probabilities, with optional class
    ``weight`` (a buffer); see :func:`deepgrad.nn.functional.cross_entropy`."""

    defaults: ClassVar[dict[str, Any]] = {"ignore_index": -100, "reduction": "mean",
                                          "label_smoothing": 0.0}

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction, ignore_index=int(ignore_index),
                         label_smoothing=losses.check_number(
                             "CrossEntropyLoss", "label_smoothing", label_smoothing, 0.0, 1.0))
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of logits ``input`` (N, C, ...) against ``target``."""
        return losses.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                    reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices, with optional class ``weight`` (a buffer); see
    :func:`deepgrad.nn.functional.nll_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"ignore_index": -100, "reduction": "mean"}

    def __init__(self, weight: Any = None, *, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction, ignore_index=int(ignore_index))
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of log-probabilities ``input`` (N, C, ...) against class indices ``target``."""
        return losses.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence; see :func:`deepgrad.nn.functional.kl_div`."""

    defaults: ClassVar[dict[str, Any]] = {"reduction": "mean", "log_target": False}
    reductions: ClassVar[tuple[str, ...]] = ("mean", "batchmean", "sum", "none")

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, log_target=bool(log_target))

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The divergence of ``target`` from log-probabilities ``input`` (same shapes)."""
        return losses.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    """Cosine embedding loss with ``margin``; see
    :func:`deepgrad.nn.functional.cosine_embedding_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"margin": 0.0, "reduction": "mean"}

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction, margin=losses.check_number(
            "CosineEmbeddingLoss", "margin", margin, -float("inf")))

    def forward(self, input1: Tensor, input2: Tensor, target: Any) -> Tensor:
        """The loss of the pairs (``input1``, ``input2``) labelled 1 or -1 by ``target``."""
        return losses.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                            reduction=self.reduction)


__all__ = ["BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss",
           "KLDivLoss", "L1Loss", "MSELoss", "NLLLoss", "SmoothL1Loss"]
