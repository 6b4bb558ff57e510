"""Learning-rate schedules: each ``step()`` sets ``group["lr"]`` of every parameter group of an
optimizer, as PyTorch's schedulers do, value for value.

Most schedules update the current lr recursively (``lr *= gamma``), as PyTorch does, so that
they compose with other changes of the lr; a closed form is used where PyTorch uses one (the
first step of a schedule inside ``SequentialLR``). ``last_epoch`` counts the ``step()`` calls,
starting at 0 after construction. State dicts hold only numbers, strings, bools and lists.
"""

from deepgrad.optim.lr_scheduler._base import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    StepLR,
)
from deepgrad.optim.lr_scheduler._one_cycle import OneCycleLR
from deepgrad.optim.lr_scheduler._plateau import ReduceLROnPlateau
from deepgrad.optim.lr_scheduler._sequential import SequentialLR

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR", "MultiStepLR",
           "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR"]
