"""Transformer layers as PyTorch's: ``TransformerEncoderLayer``, ``TransformerEncoder``,
``TransformerDecoderLayer``, ``TransformerDecoder`` and ``Transformer``.

Same arguments, sub-module names (``self_attn``, ``linear1``, ``norm1``, ``layers.0``, ...) and
computation order as PyTorch's, so that a torch state dict loads and gives the same outputs.
Everything is composed of existing layers; masks follow ``MultiheadAttention``'s convention
(bool True blocks, float is added). PyTorch's inference fast path and nested tensors have no
counterpart: the ``is_causal`` hints are accepted and the masks given are what is applied.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import shape_str
from deepgrad.nn import init
from deepgrad.nn.attention import MultiheadAttention
from deepgrad.nn.containers import ModuleList
from deepgrad.nn.dropout import Dropout
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import LayerShapeError, Module, layer_error
from deepgrad.nn.norm import LayerNorm
from deepgrad.ops.activations import gelu, relu
from deepgrad.tensor import DEFAULT_FLOAT, Tensor

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": relu, "gelu": gelu}


def _activation(owner: str, activation: str | Callable[[Tensor], Tensor]) -> Callable:
    """``"relu"`` or ``"gelu"`` as their functions; a callable (function or Module) as it is."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{owner}: activation must be 'relu', 'gelu' or a callable; got "
                             f"{activation!r}")
        return _ACTIVATIONS[activation]
    if not callable(activation):
        raise TypeError(f"{owner}: activation must be 'relu', 'gelu' or a callable; got "
                        f"{type(activation).__name__}")
    return activation


def _check_heads(owner: str, d_model: int, nhead: int) -> None:
    if nhead <= 0 or d_model % nhead:
        raise ValueError(f"{owner}: d_model ({d_model}) must be divisible by nhead ({nhead}): "
                         "each attention head gets d_model / nhead features")


def _check_input(layer: Module, x: Tensor, d_model: int, batch_first: bool) -> None:
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        layout = f"(N, S, {d_model}) (batch_first=True)" if batch_first else \
            f"(S, N, {d_model}) (batch_first=False)"
        raise layer_error(layer, f"{layout} or unbatched (S, {d_model})", x.shape)


def _clones(layer: Module, num_layers: int) -> ModuleList:
    """``num_layers`` deep copies of ``layer``: equal at first, trained independently."""
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward network, each in a residual block with layer norm.

    Post-norm (``norm_first=False``, the original Transformer's):
    x = norm1(x + self_attn(x)); x = norm2(x + ff(x)). Pre-norm (``norm_first=True``):
    x = x + self_attn(norm1(x)); x = x + ff(norm2(x)). ff(x) = linear2(activation(linear1(x))),
    with dropout after the attention, the activation and the feed-forward network.

    Args:
        d_model: the features of each position.
        nhead: attention heads; must divide d_model.
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: the dropout probability everywhere in the layer.
        activation: "relu", "gelu" or a callable.
        layer_norm_eps: the layer norms' eps.
        batch_first: inputs are (N, S, E) rather than (S, N, E).
        norm_first: pre-norm rather than post-norm.
        bias: biases in the linear layers and layer norms.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        _check_heads(name, d_model, nhead)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(name, activation)

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """src (S, N, E), (N, S, E) with ``batch_first``, or (S, E) -> the same shape.

        ``src_mask`` (S, S) or (N * nhead, S, S) and ``src_key_padding_mask`` (N, S) as in
        ``MultiheadAttention``; ``is_causal`` is a hint that ``src_mask`` is causal.
        """
        attn = self.self_attn
        _check_input(self, src, attn.embed_dim, attn.batch_first)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention, attention to the encoder's output (``memory``), then a feed-forward
    network, each in a residual block with layer norm (``norm1``, ``norm2``, ``norm3``), post-
    or pre-norm as ``TransformerEncoderLayer``. Same arguments as it."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        _check_heads(name, d_model, nhead)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(name, activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        """tgt (T, N, E) and memory (S, N, E) ((N, T, E), (N, S, E) with ``batch_first``;
        unbatched (T, E), (S, E)) -> (T, N, E).

        ``tgt_mask`` (T, T) and ``tgt_key_padding_mask`` (N, T) mask the self-attention,
        ``memory_mask`` (T, S) and ``memory_key_padding_mask`` (N, S) the attention to memory.
        """
        attn = self.self_attn
        _check_input(self, tgt, attn.embed_dim, attn.batch_first)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, memory: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (deep copies, as PyTorch's: the same initial
    weights, trained independently) applied in turn, then ``norm`` if given.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch code that passes them:
    they choose PyTorch's inference fast path, which changes no result, and deepgrad has one
    path.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        """src (S, N, E) (or as the layers' ``batch_first`` says) -> the same shape; the masks
        go to every layer (see ``TransformerEncoderLayer.forward``)."""
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        return output if self.norm is None else self.norm(output)


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` applied in turn to the target, each
    attending to the same ``memory``, then ``norm`` if given."""

    def __init__(self, decoder_layer: Module, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        """tgt (T, N, E) and memory (S, N, E) -> (T, N, E); the masks go to every layer (see
        ``TransformerDecoderLayer.forward``)."""
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask,
                           tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return output if self.norm is None else self.norm(output)


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need" (PyTorch's): an encoder of
    ``num_encoder_layers`` and a decoder of ``num_decoder_layers``, each ending in a layer norm.
    Weight matrices are Xavier-uniform initialized, as PyTorch does.

    ``custom_encoder`` and ``custom_decoder`` replace the built ones; the other arguments are
    the layers' (see ``TransformerEncoderLayer``).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True) -> None:
        super().__init__()
        options = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                       layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                       norm_first=norm_first, bias=bias)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **options), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **options), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for param in self.parameters():
            if param.ndim > 1:
                init.xavier_uniform_(param)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None,
                memory_mask: Any = None, src_key_padding_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        """src (S, N, E) and tgt (T, N, E) ((N, S, E), (N, T, E) with ``batch_first``) ->
        (T, N, E): the decoder's output for the target, attending to the encoded source."""
        name, batch_dim = type(self).__name__, 0 if self.batch_first else 1
        for what, x in (("src", src), ("tgt", tgt)):
            if x.shape[-1] != self.d_model:
                raise LayerShapeError(self, f"{name} expects {what} (..., {self.d_model}); got "
                                            f"{shape_str(x.shape)}")
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise LayerShapeError(self, f"{name} expects src and tgt of the same batch size "
                                        f"(dim {batch_dim} with batch_first="
                                        f"{self.batch_first}); got {shape_str(src.shape)} and "
                                        f"{shape_str(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, dtype: Any = None) -> Tensor:
        """The causal mask of a sequence of ``sz`` steps: a (sz, sz) float tensor with -inf
        above the diagonal (step i may not attend to later steps) and 0 elsewhere."""
        dtype = DEFAULT_FLOAT if dtype is None else xp.dtype(dtype)
        return Tensor._make(xp.triu(xp.full((sz, sz), -xp.inf, dtype=dtype), 1))


__all__ = ["Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer"]
