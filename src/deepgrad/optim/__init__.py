"""Optimizers (``SGD``, ``Adam``, ...) that update parameters from their gradients,
``lr_scheduler`` with the learning-rate schedules, and ``swa_utils`` for averaged weights;
PyTorch's interfaces and numbers."""

from deepgrad._lazy import lazy_names
from deepgrad.optim import lr_scheduler
from deepgrad.optim.adafactor import Adafactor
from deepgrad.optim.adagrad import Adadelta, Adagrad
from deepgrad.optim.adam import Adam, AdamW
from deepgrad.optim.adam_variants import Adamax, NAdam, RAdam
from deepgrad.optim.asgd import ASGD
from deepgrad.optim.optimizer import Optimizer
from deepgrad.optim.rmsprop import RMSprop
from deepgrad.optim.rprop import Rprop
from deepgrad.optim.sgd import SGD

__all__ = ["ASGD", "LBFGS", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax",
           "NAdam", "Optimizer", "RAdam", "RMSprop", "Rprop", "lr_scheduler", "swa_utils"]

# Read on first use: import deepgrad stays quick.
__getattr__, __dir__ = lazy_names(globals(), {"LBFGS": ("deepgrad.optim.lbfgs", "LBFGS"),
                                              "swa_utils": ("deepgrad.optim.swa_utils", None)})
