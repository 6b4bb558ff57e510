"""Batches of sequences of different lengths, with PyTorch's functions (``torch.nn.utils.rnn``):
``pad_sequence``, ``pack_padded_sequence``, ``pack_sequence``, ``pad_packed_sequence``.

deepgrad's recurrent layers take a padded batch and its ``lengths`` directly
(``lstm(x, lengths=lengths)``); these functions let PyTorch code that packs its batches run
unchanged. A :class:`PackedSequence` here holds the padded batch (time-major) and the lengths,
not PyTorch's interleaved ``data``/``batch_sizes`` layout: code that reads those fields needs
``padded`` and ``lengths`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.ops.indexing import masked_fill
from deepgrad.ops.join import pad, stack
from deepgrad.ops.recurrent import check_lengths
from deepgrad.tensor import Tensor, check_tensor


class PackedSequence(NamedTuple):
    """A batch of sequences for a recurrent layer: ``padded`` (T, N, *) time-major, positions
    past a sequence's end ignored, and ``lengths`` (N,) int64, in the batch's order."""

    padded: Tensor
    lengths: Any


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack tensors of shapes (L_i, *) into one (T, N, *) tensor, T the longest L_i
    ((N, T, *) with ``batch_first``), the shorter ones padded with ``padding_value`` on
    ``padding_side`` ("right" or "left"). Differentiable."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left'; got "
                         f"{padding_side!r}")
    if len(sequences) == 0:
        raise ValueError("pad_sequence: needs at least one sequence")
    for i, s in enumerate(sequences):
        check_tensor("pad_sequence", s, f"sequence {i}")
        if s.ndim == 0 or s.shape[1:] != sequences[0].shape[1:]:
            raise ShapeError(f"pad_sequence: every sequence must be (L, *) with the same "
                             f"trailing shape; sequence 0 is {shape_str(sequences[0].shape)}, "
                             f"sequence {i} {shape_str(s.shape)}")
    longest = max(s.shape[0] for s in sequences)
    trailing = [0, 0] * (sequences[0].ndim - 1)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        widths = (0, missing) if padding_side == "right" else (missing, 0)
        # F.pad's widths run from the last dimension back: the time dimension's pair is last.
        padded.append(pad(s, [*trailing, *widths], value=padding_value) if missing else s)
    return stack(padded, dim=0 if batch_first else 1)


def _lengths(op: str, lengths: Any, steps: int, batch: int, enforce_sorted: bool) -> Any:
    array = check_lengths(op, lengths, steps, batch)
    if enforce_sorted and xp.any(array[1:] > array[:-1]):
        raise ValueError(f"{op}: lengths must be in decreasing order with enforce_sorted=True "
                         f"(got {array.tolist()}); pass enforce_sorted=False for any order")
    return array


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """A padded batch (T, N, *) ((N, T, *) with ``batch_first``) and the length of each
    sequence (N integers in [1, T]) as a :class:`PackedSequence` for a recurrent layer.
    ``enforce_sorted`` requires decreasing lengths, as PyTorch does; any order works without."""
    check_tensor("pack_padded_sequence", input, "input")
    if input.ndim < 2:
        raise ShapeError(f"pack_padded_sequence: input must be (T, N, *) or (N, T, *); got "
                         f"{shape_str(input.shape)}")
    x = input.transpose(0, 1) if batch_first else input
    array = _lengths("pack_padded_sequence", lengths, x.shape[0], x.shape[1], enforce_sorted)
    return PackedSequence(x, array)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Tensors of shapes (L_i, *) as one :class:`PackedSequence` (``pad_sequence``, then
    ``pack_padded_sequence``)."""
    lengths = [s.shape[0] if isinstance(s, Tensor) else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The padded batch of a :class:`PackedSequence` and its lengths (an int64 Tensor): (T, N,
    *) or (N, T, *) with ``batch_first``, every position past a sequence's end set to
    ``padding_value``, and T extended to ``total_length`` if given."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expects a PackedSequence; got "
                        f"{type(sequence).__name__}")
    x, lengths = sequence
    steps = x.shape[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than "
                             f"the longest sequence ({steps} steps)")
        x = pad(x, [0, 0] * (x.ndim - 1) + [0, total_length - steps])
        steps = total_length
    past_end = xp.arange(steps)[:, None] >= lengths[None, :]  # (T, N)
    if past_end.any():
        x = masked_fill(x, past_end.reshape(past_end.shape + (1,) * (x.ndim - 2)),
                        padding_value)
    return (x.transpose(0, 1) if batch_first else x), Tensor(lengths.copy())


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence"]
