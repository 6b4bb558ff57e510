"""Learning-rate schedules: each ``step()`` sets ``group["lr"]`` of every parameter group of an
optimizer, as PyTorch's schedulers do, value for value.

Most schedules update the current lr recursively (``lr *= gamma``), as PyTorch does, so that
they compose with other changes of the lr (``ChainedScheduler``); a closed form is used where
PyTorch uses one (the first step of a schedule inside ``SequentialLR``). ``last_epoch`` counts
the ``step()`` calls, starting at 0 after construction. State dicts hold only numbers,
strings, bools and lists: the user's functions (``LambdaLR``, ``MultiplicativeLR``,
``CyclicLR``'s ``scale_fn``) are not saved, so a schedule is rebuilt with them before loading.
"""

from deepgrad.optim.lr_scheduler._base import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from deepgrad.optim.lr_scheduler._cyclic import CosineAnnealingWarmRestarts, CyclicLR
from deepgrad.optim.lr_scheduler._lambda import LambdaLR, MultiplicativeLR
from deepgrad.optim.lr_scheduler._one_cycle import OneCycleLR
from deepgrad.optim.lr_scheduler._plateau import ReduceLROnPlateau
from deepgrad.optim.lr_scheduler._sequential import ChainedScheduler, SequentialLR

__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR",
           "MultiplicativeLR", "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau",
           "SequentialLR", "StepLR"]
