"""The math of the layers and losses as functions (PyTorch's ``torch.nn.functional``)."""

from deepgrad.nn.attention import scaled_dot_product_attention
from deepgrad.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from deepgrad.nn.norm import rms_norm
from deepgrad.ops.activations import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus
from deepgrad.ops.adaptive_pool import adaptive_max_pool2d
from deepgrad.ops.bilinear import bilinear
from deepgrad.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from deepgrad.ops.distance import cosine_similarity, normalize, pairwise_distance
from deepgrad.ops.dropout import dropout, dropout1d, dropout2d
from deepgrad.ops.elementwise import tanh
from deepgrad.ops.embedding import embedding
from deepgrad.ops.instance_norm import instance_norm
from deepgrad.ops.join import pad
from deepgrad.ops.linear import linear
from deepgrad.ops.norm import batch_norm, group_norm, layer_norm
from deepgrad.ops.one_hot import one_hot
from deepgrad.ops.piecewise import hardsigmoid, hardswish, hardtanh, prelu, relu6
from deepgrad.ops.pixel import channel_shuffle, fold, pixel_shuffle, pixel_unshuffle, unfold
from deepgrad.ops.pool import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from deepgrad.ops.pool_variants import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    lp_pool1d,
    lp_pool2d,
)
from deepgrad.ops.reductions import log_softmax, softmax
from deepgrad.ops.resample import interpolate
from deepgrad.ops.smooth import celu, glu, logsigmoid, mish, selu, softmin, softsign
from deepgrad.ops.thresholding import hardshrink, rrelu, softshrink, tanhshrink, threshold

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "dropout1d",
    "dropout2d",
    "elu",
    "embedding",
    "fold",
    "gaussian_nll_loss",
    "gelu",
    "glu",
    "group_norm",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hinge_embedding_loss",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "lp_pool1d",
    "lp_pool2d",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool2d",
    "mish",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "relu",
    "relu6",
    "rms_norm",
    "rrelu",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
    "threshold",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "unfold",
]
