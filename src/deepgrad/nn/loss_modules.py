"""The losses as Modules (PyTorch's ``nn.MSELoss``, ``nn.CrossEntropyLoss``, ...).

A loss Module holds its settings and calls the function of :mod:`deepgrad.nn.losses` (or of
:mod:`deepgrad.nn.margin_losses` and :mod:`deepgrad.nn.likelihood_losses`) in ``forward``.
Class weights are buffers named as in PyTorch (``weight``, ``pos_weight``): they are in
``state_dict`` and ``.to(dtype)`` converts them. The deprecated
``size_average`` and ``reduce`` arguments of PyTorch do not exist here; the arguments that follow
them in PyTorch are keyword-only, so that a positional call written for PyTorch fails loudly
instead of meaning something else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from deepgrad.nn import likelihood_losses, losses, margin_losses
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



class MarginRankingLoss(_Loss):
    """Ranking hinge ``max(0, -target * (input1 - input2) + margin)``; see
    :func:`deepgrad.nn.functional.margin_ranking_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"margin": 0.0, "reduction": "mean"}

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction, margin=margin)

    def forward(self, input1: Tensor, input2: Tensor, target: Any) -> Tensor:
        """The loss of the score pairs (``input1``, ``input2``) ordered by ``target`` (1 or -1)."""
        return margin_losses.margin_ranking_loss(input1, input2, target, self.margin,
                                                 self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``input`` for similar pairs (target 1), ``max(0, margin - input)`` for dissimilar ones
    (-1); see :func:`deepgrad.nn.functional.hinge_embedding_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"margin": 1.0, "reduction": "mean"}

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction, margin=margin)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of distances ``input`` labelled 1 or -1 by ``target`` (same shapes)."""
        return margin_losses.hinge_embedding_loss(input, target, self.margin, self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-target * input))``; see
    :func:`deepgrad.nn.functional.soft_margin_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of scores ``input`` against labels 1 or -1 (same shapes)."""
        return margin_losses.soft_margin_loss(input, target, self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """Per-class binary cross-entropy of logits averaged over the classes, with optional class
    ``weight`` (a buffer); see :func:`deepgrad.nn.functional.multilabel_soft_margin_loss`."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of logits ``input`` (N, C) against 0/1 labels of the same shape."""
        return margin_losses.multilabel_soft_margin_loss(input, target, self.weight,
                                                         self.reduction)


class MultiMarginLoss(_Loss):
    """Multi-class hinge loss with ``p`` 1 or 2, ``margin`` and optional class ``weight`` (a
    buffer); see :func:`deepgrad.nn.functional.multi_margin_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"p": 1, "margin": 1.0, "reduction": "mean"}

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, *,
                 reduction: str = "mean") -> None:
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"MultiMarginLoss: p must be 1 or 2; got {p!r}")
        super().__init__(reduction, p=p, margin=margin)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        """The loss of scores ``input`` (N, C) against class indices ``target`` (N,)."""
        return margin_losses.multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                               self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with the p-norm distance;
    see :func:`deepgrad.nn.functional.triplet_margin_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False,
                                          "reduction": "mean"}

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, *, reduction: str = "mean") -> None:
        super().__init__(reduction, margin=losses.check_number(
            "TripletMarginLoss", "margin", margin, 0.0, low_open=True), p=p, eps=eps, swap=swap)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss of the triplets of embeddings (N, D)."""
        return margin_losses.triplet_margin_loss(anchor, positive, negative, self.margin, self.p,
                                                 self.eps, self.swap, self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with any
    ``distance_function`` (Euclidean by default); see
    :func:`deepgrad.nn.functional.triplet_margin_with_distance_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"distance_function": None, "margin": 1.0,
                                          "swap": False, "reduction": "mean"}

    def __init__(self, *, distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
                 margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction, distance_function=distance_function, margin=losses.check_number(
            "TripletMarginWithDistanceLoss", "margin", margin, 0.0, low_open=True), swap=swap)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss of the triplets of embeddings."""
        return margin_losses.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood of counts; see
    :func:`deepgrad.nn.functional.poisson_nll_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"log_input": True, "full": False, "eps": 1e-8,
                                          "reduction": "mean"}

    def __init__(self, log_input: bool = True, full: bool = False, *, eps: float = 1e-8,
                 reduction: str = "mean") -> None:
        super().__init__(reduction, log_input=bool(log_input), full=bool(full), eps=eps)

    def forward(self, log_input: Tensor, target: Any) -> Tensor:
        """The loss of the (log-)rates ``log_input`` against counts ``target`` (same shapes)."""
        return likelihood_losses.poisson_nll_loss(log_input, target, self.log_input, self.full,
                                                  self.eps, self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with predicted variances; see
    :func:`deepgrad.nn.functional.gaussian_nll_loss`."""

    defaults: ClassVar[dict[str, Any]] = {"full": False, "eps": 1e-6, "reduction": "mean"}

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction, full=bool(full), eps=eps)

    def forward(self, input: Tensor, target: Any, var: Any) -> Tensor:
        """The loss of means ``input`` and variances ``var`` against samples ``target``."""
        return likelihood_losses.gaussian_nll_loss(input, target, var, self.full, self.eps,
                                                   self.reduction)


__all__ = ["BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss",
           "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss",
           "MarginRankingLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "NLLLoss",
           "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss", "TripletMarginLoss",
           "TripletMarginWithDistanceLoss"]
