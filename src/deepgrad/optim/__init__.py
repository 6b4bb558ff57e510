"""Optimizers (``SGD``, ``Adam``, ...) that update parameters from their gradients,
``lr_scheduler`` with the learning-rate schedules, and ``swa_utils`` for averaged weights;
PyTorch's interfaces and numbers."""

from deepgrad.optim import lr_scheduler, swa_utils
from deepgrad.optim.adagrad import Adadelta, Adagrad
from deepgrad.optim.adam import Adam, AdamW
from deepgrad.optim.adam_variants import Adamax, NAdam, RAdam
from deepgrad.optim.lbfgs import LBFGS
from deepgrad.optim.optimizer import Optimizer
from deepgrad.optim.rmsprop import RMSprop
from deepgrad.optim.sgd import SGD

__all__ = ["LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam", "Optimizer",
           "RAdam", "RMSprop", "lr_scheduler", "swa_utils"]
