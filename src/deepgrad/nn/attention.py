"""Attention: ``scaled_dot_product_attention`` and ``MultiheadAttention``, as PyTorch's.

Both are compositions of existing differentiable ops (matmul, softmax, masked_fill, dropout,
linear): no backward is written here, every gradient is the one of the ops used. Masks become one
additive float mask, 0 where a query may attend to a key and -inf where it may not, added to the
scores before the softmax.

Mask conventions differ between the two, as in PyTorch: a bool ``attn_mask`` of
``scaled_dot_product_attention`` is True where attention is *allowed*; a bool ``attn_mask`` or
``key_padding_mask`` of ``MultiheadAttention`` is True where it is *not*.
"""

from __future__ import annotations

import math
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import empty, zeros
from deepgrad.errors import ShapeError, shape_str
from deepgrad.nn import init
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import LayerShapeError, Module, Parameter
from deepgrad.ops.dropout import dropout
from deepgrad.ops.indexing import where
from deepgrad.ops.join import cat, pad
from deepgrad.ops.linear import linear
from deepgrad.ops.reductions import softmax
from deepgrad.tensor import Tensor, check_tensor, to_array


def _as_tensor(mask: Any) -> Tensor:
    """A mask as a Tensor: a Tensor as it is (so that a traced mask stays traced for export),
    an array or nested list wrapped."""
    return mask if isinstance(mask, Tensor) else Tensor._make(to_array(mask))


def _additive(mask: Any, attend_when: bool, dtype: Any) -> Tensor:
    """``mask`` as an additive float tensor of ``dtype``: a bool mask gives 0 where it equals
    ``attend_when`` and -inf elsewhere; a float mask is added as it is (a Tensor keeps its
    graph)."""
    mask = _as_tensor(mask)
    if mask.data.dtype.kind != "b":
        return mask if mask.dtype == dtype else mask.to(dtype)
    zero, blocked = (Tensor._make(xp.asarray(v, dtype=dtype)) for v in (0.0, -xp.inf))
    return where(mask, zero, blocked) if attend_when else where(mask, blocked, zero)


def _check_mask_dtype(owner: str, name: str, mask: Any) -> None:
    dtype = to_array(mask).dtype
    if dtype.kind not in "bf":
        raise TypeError(f"{owner}: {name} must be a bool or floating point mask; got dtype "
                        f"{dtype}")


def _attend(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, dropout_p: float,
            scale: float) -> tuple[Tensor, Tensor]:
    """softmax(query @ key^T * scale + mask) @ value, and the attention weights.

    query (..., L, E), key (..., S, E), value (..., S, Ev), mask broadcastable to (..., L, S);
    returns the output (..., L, Ev) and the weights (..., L, S) (after dropout).
    """
    scores = (query * scale) @ key.transpose(-2, -1)        # (..., L, S)
    if mask is not None:
        # A query whose every key is masked would get 0/0 = NaN weights: PyTorch's SDPA gives
        # it zero weights (so a zero output and zero gradients), and so do we. Its scores are
        # set to 0 first so that the softmax, and thus its backward, stays finite. Done without
        # a data-dependent branch, so that an exported model handles such rows too.
        cut_off = (mask == -math.inf).all(dim=-1, keepdim=True)
        scores = (scores + mask).masked_fill(cut_off, 0.0)
        weights = softmax(scores, dim=-1).masked_fill(cut_off, 0.0)
    else:
        weights = softmax(scores, dim=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return weights @ value, weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(query @ key^T * scale + bias) @ value (PyTorch's ``F.scaled_dot_product_attention``).

    Args:
        query: (..., L, E).
        key: (..., S, E); its leading dims broadcast with the query's.
        value: (..., S, Ev).
        attn_mask: None; a bool mask, True where a query may attend to a key; or a float mask
            added to the scores (-inf blocks). Broadcastable to (..., L, S).
        dropout_p: dropout on the attention weights. Applied whenever > 0 (this function has
            no training flag, as PyTorch's): pass 0.0 in evaluation.
        is_causal: query i attends to keys 0..i only (the top-left causal mask of an L x S
            matrix); not together with ``attn_mask``.
        scale: the factor of the scores; 1 / sqrt(E) when None.

    Returns:
        (..., L, Ev). A query whose every key is masked gets a zero output (PyTorch's
        convention), not NaN.
    """
    op = "scaled_dot_product_attention"
    q, k, v = (check_tensor(op, t, name) for t, name in
               ((query, "query"), (key, "key"), (value, "value")))
    if any(t.ndim < 2 for t in (q, k, v)):
        raise ShapeError(f"{op}: query, key and value need at least 2 dims (..., L, E); got "
                         f"{shape_str(q.shape)}, {shape_str(k.shape)} and {shape_str(v.shape)}")
    if q.data.dtype.kind != "f" or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"{op}: query, key and value must have the same floating dtype; got "
                        f"{q.dtype}, {k.dtype} and {v.dtype}")
    if k.shape[-1] != q.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"{op}: expects query (..., L, E), key (..., S, E) and value "
                         f"(..., S, Ev); got query {shape_str(q.shape)}, key "
                         f"{shape_str(k.shape)} and value {shape_str(v.shape)}")
    try:
        batch = xp.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ShapeError(f"{op}: the leading dims of query {shape_str(q.shape)}, key "
                         f"{shape_str(k.shape)} and value {shape_str(v.shape)} do not "
                         "broadcast") from None
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float)) \
            or not 0 <= dropout_p <= 1:
        raise ValueError(f"{op}: dropout_p must be a probability between 0 and 1; got "
                         f"{dropout_p!r}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: give either attn_mask or is_causal=True, not both (PyTorch "
                         "refuses both too); fold the causal mask into attn_mask")
    length, source = q.shape[-2], k.shape[-2]
    mask = None
    if attn_mask is not None:
        _check_mask_dtype(op, "attn_mask", attn_mask)
        scores_shape = (*batch, length, source)
        mask_shape = tuple(to_array(attn_mask).shape)
        if _broadcast_to(mask_shape, scores_shape) != scores_shape:
            raise ShapeError(f"{op}: attn_mask must broadcast to the scores' shape (..., L, S) "
                             f"= {shape_str(scores_shape)}; got {shape_str(mask_shape)}")
        mask = _additive(attn_mask, True, q.dtype)
    elif is_causal:
        mask = _additive(xp.tri(length, source, dtype=bool), True, q.dtype)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return _attend(q, k, v, mask, float(dropout_p), scale)[0]


def _broadcast_to(shape: tuple, target: tuple) -> tuple | None:
    """The broadcast of ``shape`` with ``target``, None when they do not broadcast."""
    try:
        return tuple(xp.broadcast_shapes(shape, target))
    except ValueError:
        return None


class MultiheadAttention(Module):
    """Attention with ``num_heads`` heads, each on embed_dim / num_heads features (PyTorch's).

    query (L, N, E) (or (N, L, E) with ``batch_first``, or unbatched (L, E)), key (S, N, kdim),
    value (S, N, vdim) -> output (L, N, E) and, when asked, the attention weights (N, L, S).

    Parameters have PyTorch's names and layout, so that a torch state dict loads: one
    ``in_proj_weight`` (3E, E) stacking the query, key and value projections when
    kdim == vdim == E, else ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim) and
    ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E); ``out_proj`` a Linear(E, E);
    ``bias_k`` and ``bias_v`` (1, 1, E) with ``add_bias_kv``.

    Args:
        embed_dim: E, the query's and output's features.
        num_heads: heads; must divide embed_dim.
        dropout: dropout on the attention weights while training.
        bias: biases of the input and output projections.
        add_bias_kv: learn one extra key and value appended to every sequence.
        add_zero_attn: append a zero key and value to every sequence.
        kdim: the key's features (E when None).
        vdim: the value's features (E when None).
        batch_first: inputs and output are (N, L, E) rather than (L, N, E).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None,
                 batch_first: bool = False) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive; got "
                             f"embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads}): each head gets embed_dim / num_heads "
                             "features")
        if not 0 <= dropout <= 1:
            raise ValueError(f"MultiheadAttention: dropout must be between 0 and 1; got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.batch_first, self.add_zero_attn = batch_first, add_zero_attn
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        self.register_parameter("in_proj_bias",
                                Parameter(empty(3 * embed_dim)) if bias else None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        for name in ("bias_k", "bias_v"):
            self.register_parameter(name, Parameter(empty(1, 1, embed_dim)) if add_bias_kv
                                    else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialization: Xavier-uniform projections, zero biases, Xavier-normal
        bias_k and bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key`` and ``value``.

        Args:
            query: (L, N, E), (N, L, E) with ``batch_first``, or (L, E).
            key: (S, N, kdim), (N, S, kdim) or (S, kdim).
            value: (S, N, vdim), (N, S, vdim) or (S, vdim).
            key_padding_mask: (N, S) or (S,); bool True marks a key to ignore (padding), a
                float mask is added to the scores.
            need_weights: also return the attention weights.
            attn_mask: (L, S) or (N * num_heads, L, S); bool True blocks, float is added.
            average_attn_weights: return the weights averaged over the heads (N, L, S) rather
                than per head (N, num_heads, L, S).
            is_causal: a hint that ``attn_mask`` is the causal mask; it needs ``attn_mask``
                (PyTorch's rule), which is what is applied.

        Returns:
            (output, weights or None). A query whose every key is masked gets a zero attention
            output and zero weights (PyTorch's SDPA gives the zero output, its
            ``need_weights=True`` path NaN).
        """
        batched = self._check_inputs(query, key, value)
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint that attn_mask is "
                             "causal and needs attn_mask (PyTorch's rule); make one with "
                             "nn.Transformer.generate_square_subsequent_mask(L)")
        if not batched:  # one sequence: a batch of 1, batch-first
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = _as_tensor(key_padding_mask).unsqueeze(0)
        batch_first = self.batch_first or not batched
        seq_dim = 1 if batch_first else 0
        length, source, batch = query.shape[seq_dim], key.shape[seq_dim], query.shape[1 - seq_dim]
        mask = self._merged_mask(attn_mask, key_padding_mask, batch, length, source, batched,
                                 query.dtype)

        q, k, v = self._in_projection(query, key, value)
        if self.bias_k is not None:  # one learned key and value more in every sequence
            k = cat([k, self._along_batch(self.bias_k, batch, batch_first)], dim=seq_dim)
            v = cat([v, self._along_batch(self.bias_v, batch, batch_first)], dim=seq_dim)
            mask = None if mask is None else pad(mask, (0, 1))
        q, k, v = (self._split_heads(t, batch_first) for t in (q, k, v))   # (N, H, *, D)
        if self.add_zero_attn:
            k = cat([k, zeros(*k.shape[:2], 1, self.head_dim, dtype=k.dtype)], dim=2)
            v = cat([v, zeros(*v.shape[:2], 1, self.head_dim, dtype=v.dtype)], dim=2)
            mask = None if mask is None else pad(mask, (0, 1))
        output, weights = _attend(q, k, v, mask, self.dropout if self.training else 0.0,
                                  1 / math.sqrt(self.head_dim))
        output = self.out_proj(self._merge_heads(output, batch_first))
        if not batched:
            output = output.squeeze(0)
        if not need_weights:
            return output, None
        if average_attn_weights:
            weights = weights.mean(dim=1)                                   # (N, L, S)
        return output, weights if batched else weights.squeeze(0)

    def _in_projection(self, query: Tensor, key: Tensor,
                       value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The query, key and value projections, each (..., E)."""
        if self._qkv_same_embed_dim and query is key and key is value:
            # Self-attention: one matrix product with the stacked weights, not three.
            q, k, v = linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
            return q, k, v
        weights = self.in_proj_weight.chunk(3) if self._qkv_same_embed_dim else \
            (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        biases = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        q, k, v = (linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))
        return q, k, v

    def _split_heads(self, x: Tensor, batch_first: bool) -> Tensor:
        """(N, T, E) or (T, N, E) -> (N, num_heads, T, head_dim)."""
        x = x.reshape(*x.shape[:2], self.num_heads, self.head_dim)
        return x.transpose(1, 2) if batch_first else x.permute(1, 2, 0, 3)

    def _merge_heads(self, x: Tensor, batch_first: bool) -> Tensor:
        """(N, num_heads, L, head_dim) -> (N, L, E) or (L, N, E)."""
        x = x.transpose(1, 2) if batch_first else x.permute(2, 0, 1, 3)
        return x.reshape(*x.shape[:2], self.embed_dim)

    @staticmethod
    def _along_batch(bias: Tensor, batch: int, batch_first: bool) -> Tensor:
        """bias_k or bias_v (1, 1, E) as one step of every sequence: (N, 1, E) or (1, N, E)."""
        return bias.expand(batch, 1, -1) if batch_first else bias.expand(1, batch, -1)

    def _merged_mask(self, attn_mask: Any, key_padding_mask: Any, batch: int, length: int,
                     source: int, batched: bool, dtype: Any) -> Tensor | None:
        """attn_mask and key_padding_mask as one additive mask broadcastable to
        (N, num_heads, L, S), or None."""
        mask = None
        if attn_mask is not None:
            _check_mask_dtype(type(self).__name__, "attn_mask", attn_mask)
            shape = tuple(to_array(attn_mask).shape)
            heads = (batch * self.num_heads, length, source)
            if shape not in ((length, source), heads):
                expected = f"(L, S) = {shape_str((length, source))} or " + (
                    f"(N * num_heads, L, S) = {shape_str(heads)}" if batched else
                    f"(num_heads, L, S) = {shape_str(heads)}")
                raise self._mask_error("attn_mask", expected, shape, batch, source)
            mask = _additive(attn_mask, False, dtype)
            if len(shape) == 3:
                mask = mask.reshape(batch, self.num_heads, length, source)
        if key_padding_mask is not None:
            _check_mask_dtype(type(self).__name__, "key_padding_mask", key_padding_mask)
            shape = tuple(to_array(key_padding_mask).shape)
            if shape != (batch, source):
                expected = f"(N, S) = {shape_str((batch, source))}" if batched else \
                    f"(S,) = ({source},)"
                got = shape if batched else shape[1:]
                raise self._mask_error("key_padding_mask", expected, got, batch, source)
            padding = _additive(key_padding_mask, False, dtype).reshape(batch, 1, 1, source)
            mask = padding if mask is None else mask + padding
        return mask

    def _mask_error(self, name: str, expected: str, got: tuple, batch: int,
                    source: int) -> LayerShapeError:
        # A mask made for the other layout: the layer took the sequence length for the batch
        # size, so a padding mask (N, S) looks swapped and an (L, L) attention mask looks like
        # (N, N).
        other = "(L, N, E)" if self.batch_first else "(N, L, E)"
        hint = ""
        if name == "key_padding_mask" and got == (source, batch):
            hint = (f". The sizes are swapped: the mask is transposed, or the input is {other} "
                    f"and this layer has batch_first={self.batch_first}")
        elif name == "attn_mask" and got == (batch, batch):
            hint = (f". Is the input {other}? This layer has batch_first={self.batch_first}, so "
                    "it took the batch size for the sequence length")
        return LayerShapeError(self, f"{type(self).__name__} expects {name} {expected}; got "
                                     f"{shape_str(got)}{hint}")

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> bool:
        """Check the ranks, feature sizes and batch sizes of query, key and value (with a hint
        when the batch and sequence dims look swapped); returns whether they are batched."""
        name = type(self).__name__
        for t, what in ((query, "query"), (key, "key"), (value, "value")):
            check_tensor(name, t, what)
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise LayerShapeError(self, f"{name} expects query, key and value all 3-D "
                                        f"({self._layout('L')}) or all 2-D (L, E); got "
                                        f"{shape_str(query.shape)}, {shape_str(key.shape)} and "
                                        f"{shape_str(value.shape)}")
        batched = query.ndim == 3
        for t, what, features in ((query, "query", self.embed_dim), (key, "key", self.kdim),
                                  (value, "value", self.vdim)):
            if t.shape[-1] != features:
                layout = self._layout("L" if what == "query" else "S", features) if batched \
                    else f"({'L' if what == 'query' else 'S'}, {features})"
                raise LayerShapeError(self, f"{name} expects {what} {layout}; got "
                                            f"{shape_str(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise LayerShapeError(self, f"{name} expects key and value of the same batch and "
                                        f"sequence sizes; got {shape_str(key.shape)} and "
                                        f"{shape_str(value.shape)}")
        batch_dim = 0 if self.batch_first else 1
        if batched and query.shape[batch_dim] != key.shape[batch_dim]:
            hint = ""
            if query.shape[1 - batch_dim] == key.shape[1 - batch_dim]:
                hint = (f". The sizes match along dim {1 - batch_dim} instead: is the input "
                        f"{'(L, N, E)' if self.batch_first else '(N, L, E)'}? This layer has "
                        f"batch_first={self.batch_first}")
            raise LayerShapeError(self, f"{name} expects query and key of the same batch size "
                                        f"(dim {batch_dim} with batch_first={self.batch_first});"
                                        f" got {shape_str(query.shape)} and "
                                        f"{shape_str(key.shape)}{hint}")
        return batched

    def _layout(self, seq: str, features: int | str = "E") -> str:
        return f"(N, {seq}, {features})" if self.batch_first else f"({seq}, N, {features})"

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


__all__ = ["MultiheadAttention", "scaled_dot_product_attention"]
