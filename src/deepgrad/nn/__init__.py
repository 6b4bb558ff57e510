"""Neural network building blocks: ``Module`` and its containers, layers, and
``dg.nn.functional`` with the layers' math as functions."""

from deepgrad.nn import functional, init, utils
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
from deepgrad.nn.conv import Conv1d, Conv2d, ConvTranspose2d, SeparableConv2d
from deepgrad.nn.dropout import Dropout, Dropout2d
from deepgrad.nn.embedding import Embedding
from deepgrad.nn.flatten import Flatten, Identity, Unflatten
from deepgrad.nn.linear import Linear
from deepgrad.nn.loss_modules import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from deepgrad.nn.module import IncompatibleKeys, Module, Parameter
from deepgrad.nn.norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from deepgrad.nn.pool import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from deepgrad.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from deepgrad.nn.summary import ModelSummary, summary

__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "LSTM",
    "RNN",
    "AdaptiveAvgPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "Dropout",
    "Dropout2d",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GroupNorm",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "KLDivLoss",
    "L1Loss",
    "LSTMCell",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool1d",
    "MaxPool2d",
    "ModelSummary",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "RNNCell",
    "ReLU",
    "Residual",
    "SeparableConv2d",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
    "summary",
    "utils",
]
