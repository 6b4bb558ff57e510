"""Neural network building blocks: ``Module`` and its containers, layers, and
``dg.nn.functional`` with the layers' math as functions."""

from deepgrad.nn import functional, init
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
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import IncompatibleKeys, Module, Parameter
from deepgrad.nn.summary import ModelSummary, summary

__all__ = [
    "ELU",
    "GELU",
    "Flatten",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ModelSummary",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Residual",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
    "summary",
]
