"""Neural network building blocks: ``Module`` and its containers, layers, and
``dg.nn.functional`` with the layers' math as functions."""

from deepgrad.nn import functional
from deepgrad.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from deepgrad.nn.containers import ModuleDict, ModuleList, Residual, Sequential
from deepgrad.nn.flatten import Flatten, Identity, Unflatten
from deepgrad.nn.module import IncompatibleKeys, Module, Parameter

__all__ = ["ELU", "GELU", "Flatten", "Identity", "IncompatibleKeys", "LeakyReLU", "LogSoftmax",
           "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU", "Residual", "Sequential",
           "SiLU", "Sigmoid", "Softmax", "Tanh", "Unflatten", "functional"]
