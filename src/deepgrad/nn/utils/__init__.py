"""Utilities that work on a model's parameters and gradients, on trained models for transfer
learning (feature extractors, new heads, pretrained weights), and (``rnn``) on batches of
sequences of different lengths."""

from deepgrad.nn.utils import rnn
from deepgrad.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from deepgrad.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from deepgrad.nn.utils.transfer import (
    FeatureExtractor,
    feature_extractor,
    load_pretrained,
    replace_head,
)

__all__ = ["FeatureExtractor", "clip_grad_norm_", "clip_grad_value_", "feature_extractor",
           "load_pretrained", "parameters_to_vector", "replace_head", "rnn", "vector_to_parameters"]
