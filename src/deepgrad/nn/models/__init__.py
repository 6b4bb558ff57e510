"""The model zoo: ``mlp``, ``cnn`` (the flagship Fashion-MNIST network), ``resnet`` and
``mobilenet``, built from ``dg.nn`` layers; each takes ``in_channels`` and ``num_classes``
(``mlp`` takes its layer sizes)."""

from deepgrad.nn.models.classic import cnn, mlp
from deepgrad.nn.models.mobilenet import mobilenet
from deepgrad.nn.models.resnet import resnet

__all__ = ["cnn", "mlp", "mobilenet", "resnet"]
