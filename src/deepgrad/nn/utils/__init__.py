"""Utilities that work on a model's parameters and gradients, and on trained models for transfer
learning (feature extractors, new heads, pretrained weights)."""

from deepgrad.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from deepgrad.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from deepgrad.nn.utils.transfer import (
    FeatureExtractor,
    feature_extractor,
    load_pretrained,
    replace_head,
)

__all__ = ["FeatureExtractor", "clip_grad_norm_", "clip_grad_value_", "feature_extractor",
           "load_pretrained", "parameters_to_vector", "replace_head", "vector_to_parameters"]
