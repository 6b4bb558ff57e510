"""Neural network building blocks: ``Module`` and its containers; ``dg.nn.functional`` holds the
layers' math as functions."""

from deepgrad.nn import functional
from deepgrad.nn.containers import ModuleDict, ModuleList, Residual, Sequential
from deepgrad.nn.module import IncompatibleKeys, Module, Parameter

__all__ = ["IncompatibleKeys", "Module", "ModuleDict", "ModuleList", "Parameter", "Residual",
           "Sequential", "functional"]
