"""The model zoo: ``mlp``, ``cnn`` (the flagship Fashion-MNIST network), ``resnet`` and
``mobilenet``, built from ``dg.nn`` layers; each takes ``in_channels`` and ``num_classes``
(``mlp`` takes its layer sizes). ``CharLM`` is a character-level LSTM language model, with
``generate`` to sample text from it."""

from deepgrad.nn.models.charlm import CharLM, Vocabulary, generate, load_charlm, save_charlm
from deepgrad.nn.models.classic import cnn, mlp
from deepgrad.nn.models.mobilenet import mobilenet
from deepgrad.nn.models.resnet import resnet

__all__ = ["CharLM", "Vocabulary", "cnn", "generate", "load_charlm", "mlp", "mobilenet", "resnet",
           "save_charlm"]
